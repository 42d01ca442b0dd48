"""Tensor, the graph, backward and grad().

One :class:`Function` base: ``forward`` works on backend arrays, ``backward`` is written
with Tensor operations, so running it with graph recording on builds a graph of the
gradient itself (double backward, as in DeZero and Chainer).  Under a plain
``backward()`` recording is off and the backward rules cost only thin wrappers.

Functions are processed in generation order (a node's generation is one more than its
newest input's), so every gradient is complete before it is propagated.

Forward mode: while a :func:`forward_mode` context is open, a Tensor may carry a
``tangent`` (a Tensor of its shape), and every primitive whose inputs carry tangents
computes its outputs' tangents by its ``jvp`` rule (J·t, written with Tensor operations).
:func:`jvp` is the user-facing form (``torch.func.jvp``'s semantics).  Running a backward
pass while tangents are attached differentiates the backward itself in forward mode:
that is Pearlmutter's R-operator (forward-over-reverse Hessian-vector products).
"""

from __future__ import annotations

import contextlib
import heapq
import weakref

from . import backend as B


class _GradMode:
    enabled = True


@contextlib.contextmanager
def no_grad():
    """Context in which operations record no graph (inference, optimizer updates)."""
    old = _GradMode.enabled
    _GradMode.enabled = False
    try:
        yield
    finally:
        _GradMode.enabled = old


@contextlib.contextmanager
def enable_grad():
    old = _GradMode.enabled
    _GradMode.enabled = True
    try:
        yield
    finally:
        _GradMode.enabled = old


def is_grad_enabled() -> bool:
    return _GradMode.enabled


@contextlib.contextmanager
def _grad_mode(flag: bool):
    old = _GradMode.enabled
    _GradMode.enabled = flag
    try:
        yield
    finally:
        _GradMode.enabled = old


class _ForwardMode:
    active = 0      # open forward_mode contexts; 0: Function.__call__ skips tangents entirely
    record = True   # tangent rules record a graph (False: tangents are not differentiated)


@contextlib.contextmanager
def forward_mode(record_graph: bool = True):
    """Context in which tangents attached to Tensors (``x.tangent``) are propagated.

    ``record_graph=False`` computes the tangents without recording a graph of them (they
    need not be differentiated again: forward-over-reverse HVPs); the primal computation
    records as usual.
    """
    old = (_ForwardMode.active, _ForwardMode.record)
    _ForwardMode.active += 1
    _ForwardMode.record = bool(record_graph)
    try:
        yield
    finally:
        _ForwardMode.active, _ForwardMode.record = old


def tracks_derivatives(*tensors) -> bool:
    """True when derivatives must flow through Tensor operations on ``tensors``: graph
    recording is on, or forward mode is on and one of them carries a tangent.  Fused
    primitives whose backward has a fast array path take the Tensor path then."""
    if _GradMode.enabled:
        return True
    if _ForwardMode.active:
        for t in tensors:
            if t is not None and t.tangent is not None:
                return True
    return False


def _is_float_dtype(dtype) -> bool:
    return getattr(dtype, "kind", "") in "fc"


class Tensor:
    """An array on the active backend plus, when it requires grad, its place in the graph.

    ``Tensor(data, requires_grad=False)`` — ``data`` may be a backend array (kept, not
    copied), a NumPy array (moved explicitly on the CuPy backend), a list or a scalar
    (Python floats take the default dtype, see :func:`tinygrad_ngd.set_default_dtype`).
    """

    __slots__ = ("data", "grad", "requires_grad", "creator", "generation", "name",
                 "_pass_grad", "_retains_grad", "tangent", "__weakref__")
    __array_priority__ = 1000  # numpy scalars on the left defer to Tensor's operators

    def __init__(self, data, requires_grad=False, name=None):
        if isinstance(data, Tensor):
            raise TypeError("Tensor(data): data is already a Tensor; use .detach() or .data")
        if not B.is_placed(data):  # host arrays move to a device backend
            data = _to_backend_array(data)
        self.data = data
        self.grad = None
        self.creator = None
        self.generation = 0
        self.name = name
        self._pass_grad = None
        self._retains_grad = False
        self.tangent = None
        if requires_grad and not _is_float_dtype(data.dtype):
            raise TypeError(f"requires_grad=True needs a floating dtype, got {data.dtype}")
        self.requires_grad = bool(requires_grad)

    # ------------------------------------------------------------ array-like properties
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        rg = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}{rg})"

    def numpy(self):
        """Explicit copy to a host NumPy array (no-op view on the NumPy backend)."""
        return B.to_numpy(self.data)

    def item(self) -> float:
        """Explicit transfer of a one-element tensor to a Python float."""
        if self.data.size != 1:
            raise ValueError(f"item(): tensor has {self.data.size} elements, expected 1")
        return B.item(self.data)

    def detach(self) -> "Tensor":
        """A tensor sharing this one's data, cut from the graph."""
        return Tensor(self.data)

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after ``backward``."""
        self._retains_grad = True

    def requires_grad_(self, flag=True) -> "Tensor":
        if flag and not _is_float_dtype(self.data.dtype):
            raise TypeError(f"requires_grad=True needs a floating dtype, got {self.data.dtype}")
        self.requires_grad = bool(flag)
        return self

    def zero_grad(self) -> None:
        self.grad = None

    def backward(self, grad=None, retain_graph=None, create_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``grad`` is the upstream gradient (required unless self has one element);
        ``create_graph=True`` records the backward pass so the gradients can be
        differentiated again; ``retain_graph`` defaults to ``create_graph``.
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): tensor does not require grad and has no graph")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward(): grad can be implicitly created only for a scalar "
                                   f"output, but the tensor has shape {self.shape}; pass grad=")
            grad = Tensor(B.array_module(self.data).ones_like(self.data))
        grad = _as_grad_tensor(grad, self, "grad")
        if retain_graph is None:
            retain_graph = create_graph
        _run_backward([self], [grad], create_graph, retain_graph, targets=None)


_new_tensor = object.__new__


def _wrap(y) -> Tensor:
    """A Tensor around a primitive's output array, without Tensor.__init__'s checks
    (the hot path of every operation)."""
    if not isinstance(y, B.ARRAY_TYPES):  # NumPy reductions may return scalars
        y = B.array_module(y).asarray(y)
    t = _new_tensor(Tensor)
    t.data = y
    t.grad = t.creator = t.name = t._pass_grad = t.tangent = None
    t.generation = 0
    t.requires_grad = t._retains_grad = False
    return t


def _to_backend_array(data):
    arr = B.asarray(data)
    if not B.is_backend_array(arr):  # numpy scalar types
        arr = B.xp().asarray(arr)
    if arr.dtype.kind == "f" and not B.is_backend_array(data) and not hasattr(data, "dtype"):
        arr = arr.astype(B.get_default_dtype())  # Python floats / lists take the default dtype
    return arr


def _as_grad_tensor(g, like: Tensor, what: str) -> Tensor:
    if not isinstance(g, Tensor):
        g = Tensor(B.asarray(g, dtype=like.dtype))
    if g.shape != like.shape:
        raise ValueError(f"{what}: upstream gradient has shape {g.shape}, expected {like.shape}")
    return g


class Function:
    """One differentiable primitive.

    Subclasses implement ``forward(*arrays) -> array | tuple``,
    ``backward(*grad_tensors) -> Tensor | tuple`` (one gradient per input; None where
    ``self.needs_grad[i]`` is False or the input has no gradient) and
    ``jvp(*tangents) -> Tensor | tuple`` (forward mode: the outputs' tangents J·t, one per
    output, given one tangent per input, None for an input without one; at least one is
    not None).  Both rules see the inputs as ``self.inputs`` and outputs as ``self.output(i)``.  ``backward`` must use
    Tensor operations so it is differentiable again; a primitive whose backward works on
    raw arrays sets ``differentiable_backward = False`` and then asking for a graph of
    its backward (create_graph=True) raises instead of returning a wrong second derivative.
    """

    differentiable_backward = True
    inputs = None
    outputs = None

    def __call__(self, *inputs):
        ys = self.forward(*[x.data for x in inputs])
        multi = type(ys) is tuple
        outputs = [_wrap(y) for y in ys] if multi else [_wrap(ys)]
        if _GradMode.enabled:
            needs = [x.requires_grad for x in inputs]
            if True in needs:
                self.needs_grad = needs
                self.inputs = inputs
                gen = 0
                for x in inputs:
                    if x.generation > gen:
                        gen = x.generation
                self.generation = gen
                self.outputs = [weakref.ref(o) for o in outputs]
                if multi:  # an output may die unused; its zero gradient needs shape and dtype
                    self.out_meta = [(o.shape, o.dtype) for o in outputs]
                for o in outputs:
                    if o.data.dtype.kind in "fc":
                        o.requires_grad = True
                        o.creator = self
                        o.generation = gen + 1
        if _ForwardMode.active:
            _push_tangents(self, inputs, outputs)
        return tuple(outputs) if multi else outputs[0]

    def output(self, i=0) -> Tensor:
        """The i-th output tensor (for backward rules that reuse the forward's result)."""
        out = self.outputs[i]()
        if out is None:  # pragma: no cover - outputs in use are alive
            raise RuntimeError(f"{type(self).__name__}: output {i} was freed before backward")
        return out

    def forward(self, *xs):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, *gys):  # pragma: no cover - abstract
        raise NotImplementedError

    def jvp(self, *tangents):
        raise NotImplementedError(f"{type(self).__name__} has no forward-mode rule (jvp)")


def _push_tangents(f, inputs, outputs):
    """Attach J·t to ``outputs`` when an input carries a tangent (forward mode)."""
    tangents = [x.tangent for x in inputs]
    if tangents.count(None) == len(tangents):
        return
    if f.inputs is None:
        f.inputs = inputs
    if f.outputs is None:
        f.outputs = [weakref.ref(o) for o in outputs]
    old = (_ForwardMode.active, _GradMode.enabled)
    _ForwardMode.active = 0  # the rule's own operations carry no tangents (one level)
    _GradMode.enabled = _GradMode.enabled and _ForwardMode.record
    try:
        ts = f.jvp(*tangents)
    finally:
        _ForwardMode.active, _GradMode.enabled = old
    if type(ts) is not tuple:
        ts = (ts,)
    if len(ts) != len(outputs):
        raise RuntimeError(f"{type(f).__name__}.jvp returned {len(ts)} tangents for {len(outputs)} outputs")
    for o, t in zip(outputs, ts):
        if t is None or o.data.dtype.kind not in "fc":
            continue
        if t.data.shape != o.data.shape:  # a wrong rule must not pass silently
            raise RuntimeError(f"{type(f).__name__}.jvp returned a tangent of shape {t.shape} "
                               f"for an output of shape {o.shape}")
        o.tangent = t


_FREED_MSG = ("Trying to backward through the graph a second time (its saved tensors were "
              "freed by the first backward); pass retain_graph=True to the first backward/grad "
              "call if you need to do this")


def _run_backward(roots, root_grads, create_graph, retain_graph, targets):
    """Propagate gradients from ``roots``; return the gradients of ``targets`` (for grad())
    or, with targets=None, accumulate into leaves' ``.grad``."""
    touched = []
    heap = []
    seen = set()
    counter = 0
    heappush, heappop = heapq.heappush, heapq.heappop

    for r, g in zip(roots, root_grads):
        if r._pass_grad is None:
            r._pass_grad = g
            touched.append(r)
        else:
            with _grad_mode(create_graph):
                r._pass_grad = r._pass_grad + g
        c = r.creator
        if c is not None and id(c) not in seen:
            seen.add(id(c))
            counter += 1
            heappush(heap, (-c.generation, counter, c))

    old_mode = _GradMode.enabled
    _GradMode.enabled = create_graph  # the backward rules record a graph only if asked
    try:
        while heap:
            f = heappop(heap)[2]
            inputs = f.inputs
            if inputs is None:
                raise RuntimeError(_FREED_MSG)
            refs = f.outputs
            if len(refs) == 1:  # the common case, kept lean
                o = refs[0]()
                gy = None if o is None else o._pass_grad
                if gy is None:
                    continue
                gys = (gy,)
            else:
                outs = [ref() for ref in refs]
                gys = [None if o is None else o._pass_grad for o in outs]
                if gys.count(None) == len(gys):
                    continue
                for i, g in enumerate(gys):
                    if g is None:  # an unused output of a multi-output primitive: zero gradient
                        shape, dtype = f.out_meta[i]
                        gys[i] = Tensor(B.array_module(inputs[0].data).zeros(shape, dtype=dtype))
            if create_graph and not f.differentiable_backward:
                raise RuntimeError(f"{type(f).__name__} has no differentiable backward: its second "
                                   f"derivative is not available (create_graph=True)")
            gxs = f.backward(*gys)
            if type(gxs) is not tuple:
                gxs = (gxs,)
            needs = f.needs_grad
            for i, gx in enumerate(gxs):
                if gx is None or not needs[i]:
                    continue
                x = inputs[i]
                if gx.data.shape != x.data.shape:  # a wrong rule must not pass silently
                    raise RuntimeError(f"{type(f).__name__}.backward returned a gradient of shape "
                                       f"{gx.shape} for input {i} of shape {x.shape}")
                if x._pass_grad is None:
                    x._pass_grad = gx
                    touched.append(x)
                else:
                    x._pass_grad = x._pass_grad + gx
                c = x.creator
                if c is not None and id(c) not in seen:
                    seen.add(id(c))
                    counter += 1
                    heappush(heap, (-c.generation, counter, c))
            if not retain_graph:
                f.inputs = None
        if targets is not None:
            return [t._pass_grad for t in targets]
        _accumulate_leaf_grads(touched, root_grads, create_graph)
        return None
    finally:
        _GradMode.enabled = old_mode
        for t in touched:
            t._pass_grad = None


# ---------------------------------------------------------------- flat gradient buffers
# A leaf whose gradient lives in a slice of a larger array (FlatParameters' flat gradient:
# every layer parameter's slice of ∇f(x)) is registered here, weakly on the leaf: an entry
# goes away with its tensor, and a Tensor carries no field for this one client.
_GRAD_BUFFERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def attach_grad_buffer(leaf: Tensor, buffer) -> None:
    """From now on ``backward`` adds ``leaf``'s gradient into ``buffer`` (an array of the
    leaf's shape, typically a view of a flat gradient) and ``leaf.grad`` wraps ``buffer``."""
    if tuple(buffer.shape) != tuple(leaf.shape):
        raise ValueError(f"attach_grad_buffer: buffer shape {tuple(buffer.shape)} != leaf shape {tuple(leaf.shape)}")
    _GRAD_BUFFERS[leaf] = buffer


def grad_buffer(leaf: Tensor):
    """The array ``backward`` adds ``leaf``'s gradient into, or None (an ordinary leaf)."""
    return _GRAD_BUFFERS.get(leaf) if _GRAD_BUFFERS else None


def _owns_memory(g: Tensor, assigned: set) -> bool:
    return id(g) not in assigned and g.data.base is None


def _accumulate_leaf_grads(touched, root_grads, create_graph):
    """Write the pass's gradients into ``.grad`` of leaves (and retain_grad tensors).

    A gradient object handed to one leaf is never handed to another, and a gradient that
    is a view of another array is copied, so no two leaves share memory (an in-place
    update of one ``.grad`` can never change another's).  Leaves backed by a flat buffer
    (FlatParameters, registered by :func:`attach_grad_buffer`) add into their slice of the
    flat gradient instead.
    """
    from .functional import copy  # late import: functional builds on tensor

    assigned = {id(g) for g in root_grads}
    buffers = _GRAD_BUFFERS if _GRAD_BUFFERS else None     # none registered: no look-ups at all
    for t in touched:
        if not (t.creator is None and t.requires_grad) and not t._retains_grad:
            continue
        g = t._pass_grad
        buf = buffers.get(t) if buffers is not None else None
        if buf is not None and not create_graph:
            buf += g.data
            if t.grad is None or t.grad.data is not buf:
                t.grad = Tensor(buf)
            continue
        if t.grad is None:
            if not _owns_memory(g, assigned):
                g = copy(g) if create_graph else Tensor(g.data.copy())
            t.grad = g
        else:
            t.grad = t.grad + g  # a new tensor: the old .grad object is not written into
        assigned.add(id(t.grad))
        if buf is not None:  # create_graph: keep the flat buffer in step too
            buf += g.data


def grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None,
         allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs`` as a tuple of Tensors.

    Leaves' ``.grad`` are left untouched.  With ``create_graph=True`` the result is part of
    the graph and can be differentiated again (Hessian-vector products are grad of grad).
    An input that the outputs do not depend on raises unless ``allow_unused`` (then None).
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single_input = isinstance(inputs, Tensor)
    inputs = [inputs] if single_input else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad(): {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    seeds = []
    for i, (o, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(o, Tensor) or not o.requires_grad:
            raise RuntimeError(f"grad(): output {i} does not require grad and has no graph")
        if g is None:
            if o.data.size != 1:
                raise RuntimeError(f"grad(): grad_outputs[{i}] is needed for output {i} of shape "
                                   f"{o.shape} (only scalar outputs get an implicit 1)")
            g = Tensor(B.array_module(o.data).ones_like(o.data))
        seeds.append(_as_grad_tensor(g, o, f"grad_outputs[{i}]"))
    for j, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise RuntimeError(f"grad(): input {j} does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    result = _run_backward(outputs, seeds, create_graph, retain_graph, targets=inputs)
    out = []
    for j, g in enumerate(result):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad(): input {j} (shape {inputs[j].shape}) is not part of the "
                               f"graph of the outputs; pass allow_unused=True to get None")
        out.append(g)
    # never hand out one object (or memory) twice
    from .functional import copy as _copy
    assigned = {id(s) for s in seeds}
    for j, g in enumerate(out):
        if g is None:
            continue
        if not _owns_memory(g, assigned):
            keep = create_graph or (_ForwardMode.active and g.tangent is not None)
            out[j] = _copy(g) if keep else Tensor(g.data.copy())
        assigned.add(id(out[j]))
    return tuple(out)


# ---------------------------------------------------------------- forward mode
def jvp(fn, primals, tangents):
    """(outputs, output_tangents) of ``fn(*primals)`` and its Jacobian-vector product, with
    ``torch.func.jvp``'s semantics: ``fn`` takes Tensors and returns a Tensor or a tuple of
    Tensors; ``primals`` and ``tangents`` are tuples of Tensors (or arrays) of equal shapes.

    One forward pass computes both: every primitive applies its ``jvp`` rule as it runs.
    The outputs are cut from any graph (as torch.func.jvp's); an output that does not
    depend on the primals gets a zero tangent.
    """
    if not isinstance(primals, tuple) or not isinstance(tangents, tuple):
        raise TypeError(f"jvp: primals and tangents must be tuples, got {type(primals).__name__} "
                        f"and {type(tangents).__name__}")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    xs = []
    for i, (p, t) in enumerate(zip(primals, tangents)):
        p = p if isinstance(p, Tensor) else Tensor(p)
        t = t if isinstance(t, Tensor) else Tensor(t)
        if p.shape != t.shape:
            raise ValueError(f"jvp: tangent {i} has shape {t.shape}, primal {i} has shape {p.shape}")
        if not _is_float_dtype(p.dtype) or t.dtype != p.dtype:
            raise TypeError(f"jvp: primal {i} ({p.dtype}) and tangent {i} ({t.dtype}) must share "
                            f"a floating dtype")
        x = Tensor(p.data)  # a fresh leaf: the caller's tensors never carry a tangent
        x.tangent = Tensor(t.data)
        xs.append(x)
    with forward_mode(record_graph=False), _grad_mode(False):
        out = fn(*xs)
    single = isinstance(out, Tensor)
    if not single and not isinstance(out, (tuple, list)):
        raise TypeError(f"jvp: fn must return a Tensor or a tuple of Tensors, got {type(out).__name__}")
    outs = (out,) if single else tuple(out)
    values, out_tangents = [], []
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"jvp: fn must return Tensors, output {k} is {type(o).__name__}")
        t = o.tangent
        if t is None:
            t = Tensor(B.array_module(o.data).zeros_like(o.data))
        values.append(Tensor(o.data))
        out_tangents.append(Tensor(t.data))
    if single:
        return values[0], out_tangents[0]
    return tuple(values), tuple(out_tangents)


def graph_jvp(outputs, inputs, input_tangents):
    """J·t of already-computed ``outputs`` along tangents of ``inputs``, by forward mode over
    the recorded graph: every node between them applies its ``jvp`` rule, in generation
    order, to the tangents of its inputs.  Nothing is recomputed and ``fn`` is not called
    again (no side effects such as batch-norm's running statistics); the graph must still
    hold its inputs (built with grad recording on and not freed by a backward).

    Returns one tangent Tensor per output (None where an output does not depend on the
    inputs).  The tangents record no graph.
    """
    outputs = list(outputs)
    tangent = {id(x): t for x, t in zip(inputs, input_tangents) if t is not None}
    functions, seen = [], set()
    stack = [o.creator for o in outputs if o.creator is not None]
    while stack:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        if f.inputs is None:
            raise RuntimeError(_FREED_MSG)
        functions.append(f)
        for x in f.inputs:
            c = x.creator
            if c is not None and id(c) not in seen:
                stack.append(c)
    functions.sort(key=lambda f: f.generation)
    old = (_ForwardMode.active, _GradMode.enabled)
    _ForwardMode.active, _GradMode.enabled = 0, False
    try:
        for f in functions:
            ts = [tangent.get(id(x)) for x in f.inputs]
            if ts.count(None) == len(ts):
                continue
            out = f.jvp(*ts)
            if type(out) is not tuple:
                out = (out,)
            for ref, t in zip(f.outputs, out):
                o = ref()
                if o is not None and t is not None:
                    tangent[id(o)] = t
    finally:
        _ForwardMode.active, _GradMode.enabled = old
    return [tangent.get(id(o)) for o in outputs]
