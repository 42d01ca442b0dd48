"""Hessian-vector products, two exact ways (docs/curvature.md compares them).

For a scalar loss L(θ) with gradient g(θ) = ∇L, H v is the directional derivative of the
gradient:  H v = ∂/∂r g(θ + r v) |_{r=0} = R_v{g(θ)}.

* ``"forward-over-reverse"`` — Pearlmutter's R-operator [Pearlmutter 1994]: the gradient
  computation (one forward, one backward pass) is differentiated in forward mode along v:
  every primitive of both passes also carries its tangent (R{·}), and the tangents that
  arrive at the parameters' gradients are H v.  No graph of the backward is recorded.
* ``"reverse-over-reverse"`` — grad of grad: H v = ∇_θ ⟨g(θ), v⟩, one backward pass that
  records its own graph (create_graph=True) and one backward pass through that graph.

Both give H v exactly, at a small multiple of a gradient — never the n×n matrix.
[Misra], "Hessian updates" / "Conjugate Gradient Methods", and [Ravasi],
"Ill-conditioning", ask for H; this module is how the project touches it.

The closure contract (shared by every curvature tool and second-order optimizer):
``loss_fn()`` takes no argument and returns the scalar loss Tensor computed from the
model at the *current* ``params.data`` (the model's parameters are views into it, so
writing ``params.data`` moves the model).  It must not call ``backward`` itself.
"""

from __future__ import annotations

from .. import backend as B
from ..flat import FlatParameters
from ..tensor import Tensor, enable_grad, forward_mode, grad, graph_jvp
from .operator import LinearOperator, as_flat_vector


def evaluate_loss(loss_fn, what: str = "loss_fn") -> Tensor:
    """Call ``loss_fn()`` with graph recording on and check it returned a scalar loss."""
    if not callable(loss_fn):
        raise TypeError(f"{what} must be a callable returning the scalar loss Tensor, "
                        f"got {type(loss_fn).__name__}")
    with enable_grad():
        loss = loss_fn()
    if not isinstance(loss, Tensor):
        raise TypeError(f"{what}() must return a Tensor (the scalar loss), got {type(loss).__name__}")
    if loss.data.size != 1:
        raise ValueError(f"{what}() must return a scalar loss, got a Tensor of shape {loss.shape}; "
                         f"reduce it (e.g. .mean()) first")
    if not loss.requires_grad:
        raise ValueError(f"{what}() returned a loss that does not depend on the parameters "
                         f"(no graph): was it computed under no_grad or from detached data?")
    return loss


def _check_params(params):
    if not isinstance(params, FlatParameters):
        raise TypeError(f"params must be a FlatParameters, got {type(params).__name__}")


def _gradient_graph(loss, params):
    """g(θ) as Tensors that are themselves differentiable (None for unused parameters)."""
    return grad(loss, params.parameters, create_graph=True, allow_unused=True)


def _hv_from_graph(grads, params, v, retain_graph: bool):
    """H v = ∇_θ ⟨g(θ), v⟩, taken as the vector-Jacobian product of g(θ) with cotangent v.

    Seeding the backward pass of the gradient graph with v directly (rather than building
    the scalar ⟨g, v⟩ and differentiating it) gives the same numbers — ∂g/∂θ = H is
    symmetric, so vᵀ(∂g/∂θ) = (H v)ᵀ — without the extra multiply/sum/add nodes.
    """
    live = [(p, g, vi) for p, g, vi in zip(params.parameters, grads, params.unflatten(v))
            if g is not None and g.requires_grad]
    if not live:  # the gradient does not depend on θ (a linear loss): H = 0
        return B.array_module(params.data).zeros_like(params.data)
    hv_live = grad([g for _, g, _ in live], [p for p, _, _ in live],
                   grad_outputs=[Tensor(vi) for _, _, vi in live],
                   retain_graph=retain_graph, allow_unused=True)
    by_param = {id(p): h for (p, _, _), h in zip(live, hv_live)}
    return _flat(params, [by_param.get(id(p)) for p in params.parameters])


def _flat(params, tensors):
    """One flat array from per-parameter results (None → 0), each written straight into
    its slice: one copy, even for results laid out non-contiguously (transposed products)."""
    xp = B.array_module(params.data)
    out = xp.zeros_like(params.data) if any(t is None for t in tensors) else xp.empty_like(params.data)
    start = 0
    for p, t in zip(params.parameters, tensors):
        if t is not None:
            out[start:start + p.size].reshape(p.shape)[...] = t.data
        start += p.size
    return out


def gradient(loss_fn, params):
    """(loss, g): the loss Tensor and its flat gradient ∇L at the current ``params.data``.

    ``params.grad`` is left untouched."""
    _check_params(params)
    loss = evaluate_loss(loss_fn)
    grads = grad(loss, params.parameters, allow_unused=True)
    return loss, _flat(params, grads)


METHODS = ("forward-over-reverse", "reverse-over-reverse")
DEFAULT_METHOD = "forward-over-reverse"  # the faster one where measured (benchmarks/bench_hvp.py, docs/curvature.md)


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def hvp(loss_fn, params, v, method: str = DEFAULT_METHOD):
    """H v for the Hessian H = ∇²L(θ) of ``loss_fn`` at the current ``params.data``.

    ``v``: flat array of length ``params.numel`` (a host NumPy vector on a device backend is
    copied to the device explicitly); returns a flat backend array.
    ``method="forward-over-reverse"`` (default): one forward and one backward pass, each
    primitive also applying its forward-mode rule along v (the R-operator);
    ``"reverse-over-reverse"``: one forward, one backward with create_graph=True, one
    backward of the gradient graph seeded with v.  Both are exact.
    """
    _check_params(params)
    _check_method(method)
    v = as_flat_vector(v, params.numel, "hvp: v")
    if method == "forward-over-reverse":
        return _r_operator(loss_fn, params, v)
    loss = evaluate_loss(loss_fn)
    grads = _gradient_graph(loss, params)
    return _hv_from_graph(grads, params, v, retain_graph=False)


def _r_operator(loss_fn, params, v):
    """H v = R_v{∇L}: the gradient computation run with every parameter θᵢ carrying the
    tangent vᵢ, so that each gradient ∂L/∂θᵢ arrives with its tangent (H v)ᵢ [Pearlmutter 1994]."""
    for p, vi in zip(params.parameters, params.unflatten(v)):
        p.tangent = Tensor(vi)
    try:
        with forward_mode(record_graph=False):
            loss = evaluate_loss(loss_fn)
            grads = grad(loss, params.parameters, allow_unused=True)
    finally:
        for p in params.parameters:
            p.tangent = None
    return _flat(params, [None if g is None else g.tangent for g in grads])


class HessianOperator(LinearOperator):
    """v ↦ H v at the parameters where it was built, reusing one gradient graph.

    The forward pass and the create_graph backward are done once here; each product is
    then a single pass over that graph, which is what makes conjugate gradient, Lanczos
    and power iteration affordable: the forward-mode rules of the graph's nodes applied
    to v (``method="forward-over-reverse"``, the default, :func:`~tinygrad_ngd.tensor.graph_jvp`;
    about 15 % cheaper per product on the 6-layer sigmoid MLP) or a backward pass seeded
    with v (``"reverse-over-reverse"``).  ``loss`` (float) and ``gradient``
    (flat array) at those parameters come for free.  Changing ``params.data`` afterwards
    does not update the operator: build a new one.
    """

    def __init__(self, loss_fn, params, method: str = DEFAULT_METHOD):
        _check_params(params)
        _check_method(method)
        loss = evaluate_loss(loss_fn)
        self._grads = _gradient_graph(loss, params)
        self._params = params
        self.loss = loss
        self.method = method
        self.gradient = _flat(params, self._grads)
        if method == "reverse-over-reverse":
            product = lambda v: _hv_from_graph(self._grads, params, v, retain_graph=True)  # noqa: E731
        else:
            product = self._forward_over_reverse
        super().__init__(product, params.numel, dtype=params.dtype, name="hessian")

    def _forward_over_reverse(self, v):
        live = [(p, g) for p, g in zip(self._params.parameters, self._grads) if g is not None]
        tangents = graph_jvp([g for _, g in live], self._params.parameters,
                             [Tensor(vi) for vi in self._params.unflatten(v)])
        by_param = {id(p): t for (p, _), t in zip(live, tangents)}
        return _flat(self._params, [by_param.get(id(p)) for p in self._params.parameters])


def hessian_operator(loss_fn, params, method: str = DEFAULT_METHOD) -> HessianOperator:
    """The Hessian of ``loss_fn`` at the current ``params.data`` as a LinearOperator."""
    return HessianOperator(loss_fn, params, method)


# ---------------------------------------------------------------- functional form
def _check_point(x, what):
    if not B.is_backend_array(x):
        raise TypeError(f"{what}: x must be a 1-D backend array, got {type(x).__name__}")
    if x.ndim != 1:
        raise ValueError(f"{what}: x must be 1-D, got shape {x.shape}")


def _f_at(f, x_data, what):
    x = Tensor(x_data.copy(), requires_grad=True)
    return x, evaluate_loss(lambda: f(x), what=f"{what}: f")


def gradient_at(f, x):
    """∇f(x) for a scalar function ``f(x_tensor) -> Tensor`` of a 1-D vector x."""
    _check_point(x, "gradient_at")
    xt, y = _f_at(f, x, "gradient_at")
    (g,) = grad(y, [xt])
    return g.data


def hvp_at(f, x, v, method: str = DEFAULT_METHOD):
    """∇²f(x) v for a scalar function ``f(x_tensor) -> Tensor`` of a plain 1-D vector x.

    The functional form of :func:`hvp` (no model, no FlatParameters), by the same two
    methods: the R-operator (x carries the tangent v through f and its gradient) or
    grad-of-grad, H v = ∇_x ⟨∇f(x), v⟩.
    """
    _check_point(x, "hvp_at")
    _check_method(method)
    v = as_flat_vector(v, x.shape[0], "hvp_at: v")
    if method == "forward-over-reverse":
        xt = Tensor(x.copy(), requires_grad=True)
        xt.tangent = Tensor(v)
        with forward_mode(record_graph=False):
            y = evaluate_loss(lambda: f(xt), what="hvp_at: f")
            (g,) = grad(y, [xt])
        return B.array_module(x).zeros_like(x) if g.tangent is None else g.tangent.data.copy()
    xt, y = _f_at(f, x, "hvp_at")
    (g,) = grad(y, [xt], create_graph=True)
    if not g.requires_grad:  # ∇f does not depend on x (f is linear): H = 0
        return B.array_module(x).zeros_like(x)
    (hv,) = grad((g * Tensor(v)).sum(), [xt], allow_unused=True)
    return B.array_module(x).zeros_like(x) if hv is None else hv.data
