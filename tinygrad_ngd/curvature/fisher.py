"""Fisher-vector products: the true Fisher of softmax and Gaussian outputs, and the
empirical Fisher from per-example gradients.

[Misra, "Natural Gradients"]: the natural gradient is
f'_N = F_θ⁻¹ f' with F the Fisher information matrix, the metric tensor G of
"Gradients and orthonormal coordinates" that measures distance between the model's
predictive distributions instead of between raw parameter vectors.  For a model
p(y | x, θ) whose output z(x, θ) parametrizes the distribution,

    F = (1/N) Σₙ E_{y∼p(·|xₙ,θ)} [∇_θ log p(y|xₙ) ∇_θ log p(y|xₙ)ᵀ]
      = (1/N) Σₙ Jₙᵀ F_z(zₙ) Jₙ,            Jₙ = ∂zₙ/∂θ,

where F_z is the Fisher of the output distribution in its own parameters z:

* softmax (categorical) output, z = logits, p = softmax(z):  F_z = diag(p) − p pᵀ;
* Gaussian output N(z, σ² I), z = mean:                     F_z = I / σ².

Both equal the Hessian of the negative log-likelihood in z, so the true Fisher *is* the
Gauss-Newton matrix Jᵀ H_ℓ J for these losses (Martens 2014, "New insights and
perspectives on the natural gradient method", §9).  Hence the products here are
:class:`~.gauss_newton.GaussNewtonOperator` with the output metric F_z — nothing is
re-implemented.

The *empirical* Fisher replaces the expectation over the model's y by the observed
label: F_emp = (1/N) Σₙ gₙ gₙᵀ with gₙ = ∇_θ(−log p(yₙ|xₙ)) = Jₙᵀ rₙ and
rₙ = ∂(−log p(yₙ|xₙ))/∂zₙ.  It is the same product with the rank-one output metric
u ↦ rₙ (rₙᵀ uₙ) per example, so F_emp v costs one J v and one Jᵀ u (never the N×P
matrix of per-example gradients, which :func:`per_example_gradients` builds for checks).

Reductions: ``"mean"`` averages over the N examples (the definition above, which makes
F the curvature of the *mean* negative log-likelihood), ``"sum"`` sums them.
"""

from __future__ import annotations

from .. import backend as B
from .gauss_newton import GaussNewtonOperator, OutputJacobian, as_targets, loss_hessian_product
from .hvp import _check_params
from .operator import check_flat_vector

DISTRIBUTIONS = ("categorical", "gaussian")
REDUCTIONS = ("mean", "sum")


def _check_kind(distribution, reduction, sigma):
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS} (softmax logits or a "
                         f"Gaussian mean), got {distribution!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if not (isinstance(sigma, (int, float)) and sigma > 0):
        raise ValueError(f"sigma (the Gaussian output's standard deviation σ) must be > 0, got {sigma!r}")


def _example_scale(z, reduction):
    """1/N for 'mean' (N = number of examples, the leading dimension), 1 for 'sum'."""
    return 1.0 / z.shape[0] if reduction == "mean" else 1.0


def softmax_fisher_product(z_data, u, reduction: str = "mean"):
    """F_z u = s (diag(p) − p pᵀ) u per example for logits z (rows), s = 1/N or 1.

    The Fisher of a categorical distribution in its logits equals the Hessian of
    cross-entropy in the logits, so this *is* gauss_newton's closed form
    (``loss_hessian_product(..., 'cross_entropy')``), reused rather than restated."""
    return loss_hessian_product(z_data, u, "cross_entropy", reduction)


def gaussian_fisher_product(z_data, u, reduction: str = "mean", sigma: float = 1.0):
    """F_z u = s u / σ² for a Gaussian output N(z, σ²I), s = 1/N or 1."""
    if u.shape != z_data.shape:
        raise ValueError(f"gaussian_fisher_product: u has shape {u.shape}, expected the output "
                         f"shape {z_data.shape}")
    return (_example_scale(z_data, reduction) / sigma ** 2) * u


def nll_output_gradient(z_data, targets, distribution: str = "categorical", sigma: float = 1.0):
    """rₙ = ∂(−log p(yₙ | zₙ))/∂zₙ for every example (rows), unscaled.

    categorical: p − onehot(y);  gaussian: (z − t)/σ²."""
    xp = B.array_module(z_data)
    if distribution == "categorical":
        p = xp.exp(z_data - z_data.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[xp.arange(z_data.shape[0]), targets] -= 1.0
        return p
    return (z_data - targets.astype(z_data.dtype, copy=False)) / sigma ** 2


def _loss_kind(distribution):
    """gauss_newton's name for the loss whose targets match this distribution."""
    return "cross_entropy" if distribution == "categorical" else "mse"


class FisherOperator(GaussNewtonOperator):
    """v ↦ (F + λI) v at the parameters where it was built.

    ``output_fn()``: the network output z (logits (N, C) for ``distribution='categorical'``,
    the Gaussian mean for ``'gaussian'``); ``kind='true'`` is the Fisher of the model's own
    predictive distribution (needs no targets), ``kind='empirical'`` uses the observed
    ``targets`` (integer labels / regression targets).  ``sigma``: σ of the Gaussian;
    ``damping``: λ ≥ 0.  The forward pass is done once; each product is one J v and one
    Jᵀ u on its graph (see :class:`~.gauss_newton.OutputJacobian`).
    """

    def __init__(self, output_fn, params, distribution: str = "categorical", kind: str = "true",
                 targets=None, reduction: str = "mean", sigma: float = 1.0, damping: float = 0.0):
        _check_params(params)
        _check_kind(distribution, reduction, sigma)
        if kind not in ("true", "empirical"):
            raise ValueError(f"kind must be 'true' (expectation over the model's y) or 'empirical' "
                             f"(observed targets), got {kind!r}")
        if kind == "empirical" and targets is None:
            raise ValueError("the empirical Fisher needs targets= (the observed labels yₙ)")
        self.distribution, self.kind, self.sigma = distribution, kind, float(sigma)
        self._z = None

        def metric(u):
            z = self._z
            if kind == "true":
                if distribution == "categorical":
                    return softmax_fisher_product(z, u, reduction)
                return gaussian_fisher_product(z, u, reduction, sigma)
            return self._empirical_metric(u)

        super().__init__(output_fn, params, targets=targets, loss=_loss_kind(distribution),
                         reduction=reduction, damping=damping, output_metric=metric)
        z = self.jacobian.output
        self._z = z.data
        if targets is not None:
            t = as_targets(targets, z, _loss_kind(distribution))
            self._r = nll_output_gradient(z.data, t, distribution, sigma)
            self._scale = _example_scale(z.data, reduction)
        self.name = f"{kind}_fisher"

    def _empirical_metric(self, u):
        """u ↦ s rₙ (rₙᵀ uₙ) per example: the output-space form of (1/N) Σ gₙ gₙᵀ."""
        r = self._r.reshape(self._r.shape[0], -1)
        dots = (r * u.reshape(r.shape)).sum(axis=1, keepdims=True)
        return (self._scale * r * dots).reshape(u.shape)


def fisher_operator(output_fn, params, distribution="categorical", kind="true", targets=None,
                    reduction="mean", sigma=1.0, damping=0.0) -> FisherOperator:
    """The Fisher matrix F (+ λI) at the current ``params.data`` as a LinearOperator."""
    return FisherOperator(output_fn, params, distribution, kind, targets, reduction, sigma, damping)


def fvp(output_fn, params, v, distribution: str = "categorical", reduction: str = "mean",
        sigma: float = 1.0):
    """F v for the true Fisher of a softmax (``'categorical'``) or Gaussian output."""
    check_flat_vector(v, params.numel, "fvp: v")
    return FisherOperator(output_fn, params, distribution, "true", None, reduction, sigma)(v)


def empirical_fvp(output_fn, params, targets, v, distribution: str = "categorical",
                  reduction: str = "mean", sigma: float = 1.0):
    """F_emp v = s Σₙ gₙ (gₙᵀ v) with the per-example gradients gₙ of −log p(yₙ|xₙ)."""
    check_flat_vector(v, params.numel, "empirical_fvp: v")
    return FisherOperator(output_fn, params, distribution, "empirical", targets, reduction, sigma)(v)


def per_example_gradients(output_fn, params, targets, distribution: str = "categorical",
                          sigma: float = 1.0):
    """The (N, P) matrix whose row n is gₙ = ∇_θ(−log p(yₙ|xₙ)) = Jₙᵀ rₙ.

    N backward passes on one forward graph (one vjp with rₙ placed in row n); for checks
    and small models — :class:`FisherOperator` never forms this matrix."""
    _check_kind(distribution, "mean", sigma)
    jac = OutputJacobian(output_fn, params)
    z = jac.output
    t = as_targets(targets, z, _loss_kind(distribution))
    r = nll_output_gradient(z.data, t, distribution, sigma)
    xp = B.array_module(z.data)
    rows = []
    for n in range(z.shape[0]):
        u = xp.zeros_like(z.data)
        u[n] = r[n]
        rows.append(jac.vjp(u))
    return xp.stack(rows)


__all__ = ["FisherOperator", "fisher_operator", "fvp", "empirical_fvp", "per_example_gradients",
           "softmax_fisher_product", "gaussian_fisher_product", "nll_output_gradient"]
