"""Gauss-Newton products G v = Jᵀ H_L J v (and the pieces a Fisher product reuses).

Write the loss as L(θ) = ℓ(z(θ)) with z the network's output (logits or predictions).
Its Hessian splits into  ∇²L = Jᵀ H_ℓ J + Σ_k (∂ℓ/∂z_k) ∇²z_k ; dropping the second
term leaves the Gauss-Newton matrix G = Jᵀ H_ℓ J, positive semi-definite whenever H_ℓ
is — the curvature matrix of Hessian-free optimization (Martens 2010, which [Misra]
, "Conjugate Gradient Methods", points to).  For
softmax-cross-entropy G is also the Fisher matrix of the model's predictive
distribution, so natural-gradient code builds on :class:`OutputJacobian` and
:class:`GaussNewtonOperator` with its own output metric.

As in Martens' Hessian-free [Martens 2010, §4.2] (after [Schraudolph 2002]), G v is
three products: J v by forward mode, H_ℓ (J v) in closed form, Jᵀ(H_ℓ J v) by one
ordinary backward.  Both passes run over the graph of the one forward pass done when the
operator is built: J v applies every node's forward-mode rule to v
(:func:`~tinygrad_ngd.tensor.graph_jvp`; the model is not called again), Jᵀu is a backward
with retain_graph=True.  (``OutputJacobian(..., jvp_method="double-vjp")`` keeps the
reverse-mode-only alternative, J v = ∇_u ⟨Jᵀu, v⟩ for a dummy u, as a cross-check.)
H_ℓ is applied in closed form:

* cross-entropy of logits z_n with p_n = softmax(z_n):  H_ℓ u_n = s (p_n ⊙ u_n − p_n (p_nᵀu_n)),
  s = 1/N ('mean') or 1 ('sum');
* squared error Σ (z − t)² · s:  H_ℓ u = 2 s u, s = 1/(number of elements) ('mean') or 1.

The output closure contract: ``output_fn()`` returns the network output Tensor z at the
current ``params.data`` (for cross-entropy: logits of shape (N, C)).
"""

from __future__ import annotations

from .. import backend as B
from .. import functional as F
from ..tensor import Tensor, enable_grad, grad, graph_jvp
from .hvp import _check_params
from .operator import LinearOperator, as_flat_vector, check_flat_vector

LOSSES = ("cross_entropy", "mse")
REDUCTIONS = ("mean", "sum")


def _check_loss_kind(loss, reduction):
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def as_targets(targets, z, loss):
    """The targets as a backend array checked against the output z for ``loss``."""
    t = targets.data if isinstance(targets, Tensor) else targets
    if not B.is_placed(t):  # host targets move to the active backend
        t = B.asarray(t)
    if loss == "cross_entropy":
        if z.ndim != 2 or t.shape != (z.shape[0],) or t.dtype.kind not in "iu":
            raise ValueError(f"cross_entropy Gauss-Newton: need logits (N, C) and integer labels (N,); "
                             f"got output shape {z.shape} and targets {t.dtype} of shape {t.shape}")
    elif t.shape != z.shape:
        raise ValueError(f"mse Gauss-Newton: targets shape {t.shape} differs from output shape {z.shape}")
    return t


def loss_value(z: Tensor, targets, loss: str = "cross_entropy", reduction: str = "mean") -> Tensor:
    """ℓ(z): ``F.cross_entropy(z, labels)`` or ``F.mse_loss(z, targets)`` with the reduction."""
    _check_loss_kind(loss, reduction)
    t = as_targets(targets, z, loss)
    if loss == "cross_entropy":
        return F.cross_entropy(z, t, reduction=reduction)
    return F.mse_loss(z, Tensor(t.astype(z.dtype, copy=False)), reduction=reduction)


def loss_hessian_product(z_data, u, loss: str = "cross_entropy", reduction: str = "mean"):
    """H_ℓ u in closed form, for outputs ``z_data`` and an output-shaped array ``u``.

    H_ℓ does not depend on the targets for either loss (softmax-CE: diag(p) − ppᵀ per
    row; squared error: a multiple of I).
    """
    _check_loss_kind(loss, reduction)
    if u.shape != z_data.shape:
        raise ValueError(f"loss_hessian_product: u has shape {u.shape}, expected the output shape {z_data.shape}")
    if loss == "cross_entropy":
        xp = B.array_module(z_data)
        s = 1.0 / z_data.shape[0] if reduction == "mean" else 1.0
        p = xp.exp(z_data - z_data.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        pu = p * u
        return s * (pu - p * pu.sum(axis=1, keepdims=True))
    s = 1.0 / z_data.size if reduction == "mean" else 1.0
    return (2.0 * s) * u


class OutputJacobian:
    """The Jacobian J = ∂z/∂θ at the current ``params.data``, as products only.

    One forward pass of ``output_fn`` here; ``jvp(v)`` = J v (output-shaped; forward mode
    over the recorded graph, or ``jvp_method="double-vjp"``: reverse mode twice) and
    ``vjp(u)`` = Jᵀ u (flat) reuse its graph.  ``output`` is z.
    """

    JVP_METHODS = ("forward", "double-vjp")

    def __init__(self, output_fn, params, jvp_method: str = "forward"):
        _check_params(params)
        if jvp_method not in self.JVP_METHODS:
            raise ValueError(f"jvp_method must be one of {self.JVP_METHODS}, got {jvp_method!r}")
        self.jvp_method = jvp_method
        if not callable(output_fn):
            raise TypeError(f"output_fn must be a callable returning the output Tensor, "
                            f"got {type(output_fn).__name__}")
        with enable_grad():
            z = output_fn()
        if not isinstance(z, Tensor):
            raise TypeError(f"output_fn() must return a Tensor, got {type(z).__name__}")
        if not z.requires_grad:
            raise ValueError("output_fn() returned an output that does not depend on the parameters")
        self.params = params
        self.output = z
        self._jt_u = None  # Jᵀu for the dummy u, built on first jvp
        self._u = None

    def vjp(self, u):
        """Jᵀ u (flat, length ``params.numel``) for an output-shaped array u."""
        if getattr(u, "shape", None) != self.output.shape:
            raise ValueError(f"vjp: u must have the output shape {self.output.shape}, "
                             f"got {getattr(u, 'shape', None)}")
        gs = grad(self.output, self.params.parameters, grad_outputs=Tensor(u), retain_graph=True,
                  allow_unused=True)
        return self.params.flatten(gs)

    def jvp(self, v):
        """J v (output-shaped) for a flat v: forward mode, each node's rule applied to v (the
        parameters' tangents), or ∇_u ⟨Jᵀu, v⟩ with a dummy u (Jᵀu is linear in u)."""
        v = as_flat_vector(v, self.params.numel, "jvp: v")
        if self.jvp_method == "forward":
            (jv,) = graph_jvp([self.output], self.params.parameters,
                              [Tensor(vi) for vi in self.params.unflatten(v)])
            return B.array_module(self.output.data).zeros_like(self.output.data) if jv is None else jv.data
        if self._jt_u is None:
            xp = B.array_module(self.output.data)
            self._u = Tensor(xp.zeros_like(self.output.data), requires_grad=True)
            with enable_grad():
                self._jt_u = grad(self.output, self.params.parameters, grad_outputs=self._u,
                                  create_graph=True, retain_graph=True, allow_unused=True)
        # ∇_u ⟨Jᵀu, v⟩ is the vector-Jacobian product of u ↦ Jᵀu with cotangent v
        live = [(g, vi) for g, vi in zip(self._jt_u, self.params.unflatten(v))
                if g is not None and g.requires_grad]
        zeros = B.array_module(self.output.data).zeros_like(self.output.data)
        if not live:
            return zeros
        (jv,) = grad([g for g, _ in live], [self._u], grad_outputs=[Tensor(vi) for _, vi in live],
                     retain_graph=True, allow_unused=True)
        return zeros if jv is None else jv.data


class GaussNewtonOperator(LinearOperator):
    """v ↦ (Jᵀ M J + λ I) v at the parameters where it was built.

    ``output_metric(u)`` applies the output-space matrix M (default: H_ℓ of ``loss`` in
    closed form, which makes this the Gauss-Newton matrix; a Fisher operator passes its
    own M).  ``damping`` λ ≥ 0 adds λI (Levenberg-Marquardt / Tikhonov damping).
    ``loss_value()`` gives ℓ(z) at these parameters from the same forward pass.
    """

    def __init__(self, output_fn, params, targets=None, loss: str = "cross_entropy",
                 reduction: str = "mean", damping: float = 0.0, output_metric=None):
        self.jacobian = OutputJacobian(output_fn, params)
        z = self.jacobian.output
        if output_metric is None:
            _check_loss_kind(loss, reduction)
            if targets is not None:
                as_targets(targets, z, loss)
            output_metric = lambda u: loss_hessian_product(z.data, u, loss, reduction)
        if not damping >= 0:
            raise ValueError(f"damping must be >= 0, got {damping!r}")
        self.damping = float(damping)
        self.targets, self.loss_kind, self.reduction = targets, loss, reduction
        self._metric = output_metric
        super().__init__(self._product, params.numel, dtype=params.dtype, name="gauss_newton")

    def _product(self, v):
        gv = self.jacobian.vjp(self._metric(self.jacobian.jvp(v)))
        return gv + self.damping * v if self.damping else gv

    def loss_value(self) -> Tensor:
        if self.targets is None:
            raise ValueError("GaussNewtonOperator.loss_value: no targets were given")
        return loss_value(self.jacobian.output, self.targets, self.loss_kind, self.reduction)


def gauss_newton_operator(output_fn, params, targets=None, loss="cross_entropy", reduction="mean",
                          damping=0.0) -> GaussNewtonOperator:
    """The Gauss-Newton matrix G (+ λI) at the current ``params.data`` as a LinearOperator."""
    return GaussNewtonOperator(output_fn, params, targets, loss, reduction, damping)


def gnvp(output_fn, params, v, loss: str = "cross_entropy", reduction: str = "mean", targets=None):
    """G v = Jᵀ H_ℓ J v for the output closure ``output_fn`` at the current ``params.data``.

    ``loss``: 'cross_entropy' (z are logits) or 'mse' (squared error, as F.mse_loss);
    ``targets`` are only checked (H_ℓ does not depend on them).
    """
    check_flat_vector(v, params.numel, "gnvp: v")
    return GaussNewtonOperator(output_fn, params, targets, loss, reduction)(v)
