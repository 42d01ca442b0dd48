"""FlatParameters: all parameters in one contiguous vector, split into per-layer blocks.

[Yu et al. 2017, eq. (1) and §4] write the parameters as
x = (x¹, …, x^B) ∈ ℝᵈ, one block xⁱ ∈ ℝ^{dᵢ} per layer "including the weight matrix and the
bias", and every block-normalized method acts on those blocks.  Here the blocks are
slices of one 1-D backend array ``data``; every layer parameter is a *view* into it, so
layers keep their natural shapes while optimizers, Hessian tools and PRONG see one flat
vector.  The gradient lives in a second contiguous array ``grad``: ``backward`` adds each
parameter's gradient into its slice (registered with ``tensor.attach_grad_buffer``, see
``tensor._accumulate_leaf_grads``), so after a backward ``grad`` *is* the flat gradient ∇f(x)
with no concatenation.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from . import backend as B
from .tensor import Tensor, attach_grad_buffer

_BLOCK_BY = ("layer", "tensor")


@dataclass(frozen=True)
class Block:
    """One block xᵇ of the flat vector: its name, its slice and the parameters in it
    (their qualified names and shapes, in order)."""

    name: str
    slice: slice
    param_names: tuple
    shapes: tuple

    @property
    def size(self) -> int:
        """dᵇ, the number of coordinates in the block."""
        return self.slice.stop - self.slice.start


def _layer_groups(model):
    """[(block name, [(param name, Parameter), ...])] with one group per module, in
    definition order (the order of ``model.named_parameters()``).

    A module may split its own parameters into several blocks by defining
    ``parameter_blocks() -> [(suffix, [local parameter names])]`` (e.g. one block per
    stacked LSTM layer).  The root module's block is named after its class.
    """
    groups, seen = [], set()
    for path, m in model.named_modules():
        local = [(n, p) for n, p in m._parameters.items() if p is not None and id(p) not in seen]
        if not local:
            continue
        seen.update(id(p) for _, p in local)
        hook = getattr(m, "parameter_blocks", None)
        parts = hook() if hook is not None else [("", [n for n, _ in local])]
        by_name = dict(local)
        covered = [n for _, names in parts for n in names]
        if sorted(covered) != sorted(by_name):
            raise ValueError(f"FlatParameters: {type(m).__name__}.parameter_blocks() must list each "
                             f"of its parameters {list(by_name)} exactly once, got {covered}")
        for suffix, names in parts:
            base = path if path else type(m).__name__
            name = f"{base}.{suffix}" if suffix else base
            groups.append((name, [(f"{path}.{n}" if path else n, by_name[n]) for n in names]))
    return groups


# parameter Tensor -> weak reference to the FlatParameters whose vector its data views; a
# later FlatParameters over the same parameters takes them over and marks the earlier one
# cut off, so that a step through it raises instead of silently not changing the model
_OWNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class FlatParameters:
    """One contiguous parameter vector ``data`` and gradient ``grad`` with named blocks.

    ``FlatParameters(model, block_by="layer")`` copies the model's parameters (in
    definition order) into ``data`` and rebinds each parameter to a view of it; by
    default one block per layer holds its weight and bias together ([Yu et al. 2017]'s
    convention, x = (x¹, …, x^B)); ``block_by="tensor"`` gives one block per tensor.
    ``model`` may also be a list of Tensors (one block per tensor).
    ``FlatParameters.from_array(theta0, block_sizes=[...])`` serves problems without a model.

    Attributes: ``data`` and ``grad`` (1-D backend arrays of length d), ``blocks``
    (list of :class:`Block`), ``parameters`` (the leaf Tensors, whose ``.data`` are views
    of ``data`` and whose gradients are added into views of ``grad``), ``names``.

    Write ``params.data[...] = ...`` (in place) to change the layers; rebinding
    ``params.data`` (or ``grad``) raises, since it would cut the views.  Build it once the
    model is complete: a parameter replaced afterwards is not part of the vector.
    """

    def __init__(self, model, block_by: str = "layer"):
        if block_by not in _BLOCK_BY:
            raise ValueError(f"FlatParameters: unknown block_by {block_by!r}; expected one of {_BLOCK_BY}")
        if isinstance(model, (list, tuple)):
            groups = self._tensor_list_groups(model)
            self.model = None
        elif hasattr(model, "named_parameters") and hasattr(model, "named_modules"):
            groups = _layer_groups(model)
            self.model = model
        else:
            raise TypeError(f"FlatParameters: model must be a Module or a list of Tensors, "
                            f"got {type(model).__name__}")
        named = [np_ for _, members in groups for np_ in members]
        if not named:
            raise ValueError("FlatParameters: the model has no parameters")
        if self.model is not None and [id(p) for _, p in named] != [id(p) for p in model.parameters()]:
            raise RuntimeError("FlatParameters: block grouping disagrees with model.parameters() order")
        for n, p in named:
            if not isinstance(p, Tensor) or getattr(p.dtype, "kind", "") != "f":
                raise TypeError(f"FlatParameters: parameter {n!r} must be a floating Tensor, "
                                f"got {type(p).__name__} {getattr(p, 'dtype', '')}")
        dtypes = sorted({str(p.dtype) for _, p in named})
        if len(dtypes) != 1:
            raise ValueError(f"FlatParameters: parameters have mixed dtypes {dtypes}; "
                             f"build the model under one tg.set_default_dtype")
        if block_by == "tensor":
            groups = [(n, [(n, p)]) for n, p in named]
        self._build(groups)

    @staticmethod
    def _tensor_list_groups(tensors):
        groups = []
        for i, t in enumerate(tensors):
            name, t = t if isinstance(t, tuple) else (f"t{i}", t)
            if not isinstance(t, Tensor) or not t.requires_grad:
                raise TypeError(f"FlatParameters: entry {i} must be a Tensor with requires_grad=True")
            groups.append((name, [(name, t)]))
        if len({g[0] for g in groups}) != len(groups):
            raise ValueError("FlatParameters: tensor names must be unique")
        if len({id(g[1][0][1]) for g in groups}) != len(groups):
            raise ValueError("FlatParameters: the same tensor was passed twice")
        return groups

    @classmethod
    def from_array(cls, theta0, block_sizes=None, names=None):
        """Flat parameters for a raw problem: one leaf tensor ``parameters[0]`` of shape (d,).

        ``theta0``: the starting point x₀ (copied); ``block_sizes`` = [d₁, …, d_B] splits it
        into blocks (default: one block); ``names`` names them (default block0, block1, …).
        """
        self = cls.__new__(cls)
        data = theta0.data if isinstance(theta0, Tensor) else theta0
        if not B.is_placed(data):  # lists and host arrays move to the active backend
            data = B.asarray(data)
        if data.dtype.kind not in "fiub":
            raise TypeError(f"from_array: theta0 must be numeric, got dtype {data.dtype}")
        if data.dtype.kind != "f":
            data = data.astype(B.get_default_dtype())
        if data.ndim != 1:
            raise ValueError(f"from_array: theta0 must be 1-D, got shape {data.shape}")
        n = data.shape[0]
        if n == 0:
            raise ValueError("from_array: theta0 is empty")
        if block_sizes is None:
            block_sizes = [n]
        if any(isinstance(s, bool) or int(s) != s for s in block_sizes):
            raise ValueError(f"from_array: block_sizes must be integers, got {list(block_sizes)}")
        block_sizes = [int(s) for s in block_sizes]
        if any(s <= 0 for s in block_sizes) or sum(block_sizes) != n:
            raise ValueError(f"from_array: block_sizes {block_sizes} must be positive and sum to "
                             f"len(theta0) = {n}")
        names = [f"block{i}" for i in range(len(block_sizes))] if names is None else list(names)
        if len(names) != len(block_sizes):
            raise ValueError(f"from_array: {len(names)} names for {len(block_sizes)} blocks")
        if len(set(names)) != len(names):
            raise ValueError(f"from_array: block names must be unique, got {names}")
        self.model = None
        self._data = data.copy()
        self._grad = B.array_module(data).zeros_like(self._data)
        leaf = Tensor(self.data, requires_grad=True, name="theta")
        attach_grad_buffer(leaf, self.grad)
        self.parameters = [leaf]
        self.names = ["theta"]
        blocks, start = [], 0
        for name, size in zip(names, block_sizes):
            blocks.append(Block(str(name), slice(start, start + size), ("theta",), ((size,),)))
            start += size
        self.blocks = blocks
        return self

    def _build(self, groups):
        """Copy each parameter into ``data`` and rebind it to its view; lay out blocks."""
        params = [p for _, members in groups for _, p in members]
        self.cut_off = []        # names of parameters a later FlatParameters took over
        for n, p in (np_ for _, members in groups for np_ in members):
            ref = _OWNERS.get(p)
            old = ref() if ref is not None else None
            if old is not None and old is not self:
                old.cut_off.append(n)
            _OWNERS[p] = weakref.ref(self)
        xp = B.array_module(*[p.data for p in params])
        total = sum(p.size for p in params)
        self._data = xp.empty(total, dtype=params[0].dtype)
        self._grad = xp.zeros(total, dtype=params[0].dtype)
        self.parameters = params
        self.names = [n for _, members in groups for n, _ in members]
        self.blocks = []
        start = 0
        for block_name, members in groups:
            block_start = start
            for _, p in members:
                n = p.size
                self.data[start:start + n] = p.data.reshape(-1)
                p.data = self.data[start:start + n].reshape(p.shape)  # a view: layers see updates
                attach_grad_buffer(p, self.grad[start:start + n].reshape(p.shape))  # backward adds here
                p.grad = None
                start += n
            self.blocks.append(Block(block_name, slice(block_start, start),
                                     tuple(n for n, _ in members), tuple(p.shape for _, p in members)))

    # ------------------------------------------------------------------ the two vectors
    @property
    def data(self):
        """x ∈ ℝᵈ: the flat parameter vector (every layer parameter is a view into it)."""
        return self._data

    @data.setter
    def data(self, value):
        if value is self._data:  # ``params.data -= step`` updates in place, then re-assigns
            return
        raise AttributeError("FlatParameters.data cannot be rebound (the layers' views would be cut "
                             "off); write in place: params.data[...] = value")

    @property
    def grad(self):
        """∇f(x) ∈ ℝᵈ: the flat gradient that backward adds into."""
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is self._grad:  # ``params.grad *= c`` works in place
            return
        raise AttributeError("FlatParameters.grad cannot be rebound (backward adds into the "
                             "parameters' views of it); write in place: params.grad[...] = value")

    def check_backs_the_model(self, who: str) -> None:
        """Raise unless every parameter's data is still a view of this vector (a later
        ``FlatParameters`` over the same model takes the parameters over)."""
        if getattr(self, "cut_off", None):
            raise RuntimeError(f"{who}: its FlatParameters no longer backs the model: a later "
                               f"FlatParameters over the same model took over parameter(s) "
                               f"{self.cut_off}, so a step here would not change the model. Build "
                               f"the optimizer on the newer FlatParameters")

    # ------------------------------------------------------------------ queries
    @property
    def numel(self) -> int:
        """d, the total number of parameters."""
        return int(self.data.shape[0])

    def __len__(self) -> int:
        return self.numel

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def block_sizes(self) -> list:
        """[d₁, …, d_B]."""
        return [b.size for b in self.blocks]

    def block(self, name: str) -> Block:
        """The block called ``name``."""
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(f"FlatParameters: no block {name!r}; blocks are {[b.name for b in self.blocks]}")

    def split(self, vector) -> list:
        """Views (x¹, …, x^B) of ``vector`` (flat, length d) for each block, in block order."""
        self.check_vector(vector, "vector")
        return [vector[b.slice] for b in self.blocks]

    def check_vector(self, vector, what: str = "vector"):
        """Raise ValueError unless ``vector`` is a flat array of length d."""
        shape = getattr(vector, "shape", None)
        if shape != (self.numel,):
            raise ValueError(f"{what} must be a flat vector of length {self.numel} "
                             f"(the parameter count), got shape {shape}")
        return vector

    def zero_grad(self) -> None:
        """Zero the flat gradient (every parameter's ``.grad`` view reads 0 again)."""
        self.grad[...] = 0
        for p in self.parameters:
            p.grad = None

    def flatten(self, tensors):
        """Concatenate per-parameter arrays/Tensors (in parameter order) into one flat array
        (a new array); a None entry (a parameter without gradient) contributes zeros."""
        tensors = list(tensors)
        if len(tensors) != len(self.parameters):
            raise ValueError(f"flatten: got {len(tensors)} arrays for {len(self.parameters)} parameters")
        xp = B.array_module(self.data)
        parts = []
        for name, p, t in zip(self.names, self.parameters, tensors):
            if t is None:
                parts.append(xp.zeros(p.size, dtype=self.dtype))
                continue
            arr = t.data if isinstance(t, Tensor) else t
            if not B.is_placed(arr):  # host arrays move to the parameters' backend
                arr = B.asarray(arr)
            if tuple(arr.shape) != tuple(p.shape):
                raise ValueError(f"flatten: entry for {name!r} has shape {tuple(arr.shape)}, "
                                 f"expected {tuple(p.shape)}")
            parts.append(arr.reshape(-1))
        return xp.concatenate(parts)

    def unflatten(self, vector) -> list:
        """Split a flat vector into arrays shaped like the parameters (views, no copy)."""
        self.check_vector(vector)
        out, start = [], 0
        for p in self.parameters:
            out.append(vector[start:start + p.size].reshape(p.shape))
            start += p.size
        return out

    def __repr__(self):
        blocks = ", ".join(f"{b.name}:{b.size}" for b in self.blocks)
        return f"FlatParameters(numel={self.numel}, dtype={self.dtype}, blocks=[{blocks}])"
