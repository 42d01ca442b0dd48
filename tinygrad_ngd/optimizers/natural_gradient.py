"""Natural gradient descent: θ ← θ − lr·(F + λI)⁻¹ ∇L, solved by conjugate gradient.

[Misra, "Natural Gradients"]: plain gradient descent is the
step that minimizes ⟨θ, f'⟩ + ‖θ − θ_t‖²/(2α) with distance measured in orthonormal
parameter coordinates; measuring it instead with the metric tensor G = F (the Fisher
information matrix) gives the natural gradient f'_N = F⁻¹ f' ("Relationship: Natural
Gradient vs. Gradient").  F is never formed: (F + λI) d = g is solved by conjugate
gradient on Fisher-vector products (:class:`tinygrad_ngd.curvature.FisherOperator`,
which reuses the Gauss-Newton machinery: for softmax and Gaussian outputs F = Jᵀ H_ℓ J).

Symbols: lr = α; damping = λ (Tikhonov damping, which also keeps CG on a positive
definite system: F is only semi-definite); g = f' = ∇L of the mean negative
log-likelihood L = (1/N) Σₙ −log p(yₙ|xₙ) on the batch.
"""

from __future__ import annotations

import warnings

from .. import backend as B
from .. import functional as F
from ..curvature.cg import conjugate_gradient
from ..curvature.fisher import FisherOperator, nll_output_gradient
from ..curvature.gauss_newton import as_targets as _as_targets
from .base import Optimizer, check_nonnegative, check_positive
from .second_order_common import OUTPUT_CLOSURE

_FISHERS = ("true", "empirical")
_POLICIES = ("warn", "raise")


class CGNotConverged(RuntimeError):
    """NaturalGradient(on_unconverged="raise"): the CG solve missed its tolerance; no step was taken."""


class NaturalGradient(Optimizer):
    """NaturalGradient(params, lr=1.0, damping=1e-3, distribution="categorical",
    fisher="true", sigma=1.0, cg_tol=None, cg_maxiter=None, on_unconverged="warn")

    ``step(output_fn, targets)``: ``output_fn()`` returns the network output z on the
    batch at the current parameters (logits for ``distribution='categorical'``, the
    Gaussian mean for ``'gaussian'`` with standard deviation ``sigma``), ``targets`` the
    labels / regression targets.  One forward pass gives z; the gradient g = Jᵀ∇_zL and
    every Fisher product reuse its graph.  ``grad=`` overrides g (e.g. with a
    regularizer added).  Returns the batch loss L (a Tensor).

    ``fisher='true'`` uses the model's Fisher (the expectation over its own predictive
    distribution), ``'empirical'`` the empirical Fisher (1/N) Σ gₙgₙᵀ of the observed
    labels.

    The solve never fails silently.  ``cg_tol`` is the relative residual ‖r‖/‖g‖ to reach
    (default ``max(1e-10, 100·ε)`` with ε the parameters' machine epsilon: 1e-10 in float64,
    1.2e-5 in float32, where round-off stops CG earlier); ``cg_maxiter`` caps the CG steps
    (default 10·n, SciPy's ``cg`` default: in exact arithmetic CG ends in n steps, round-off
    on an ill-conditioned F needs more).  ``last_cg`` keeps the report of the last solve
    (``converged``, ``iterations``, ``residual_norms``).  When the tolerance is missed,
    ``on_unconverged`` decides: ``"warn"`` (default) takes the step with the approximate
    solution and issues a RuntimeWarning naming the step and the residual reached, as NumPy
    warns on floating-point trouble; ``"raise"`` raises :class:`CGNotConverged` and takes no
    step (parameters and counters unchanged).

    On a device backend a step makes 4 + 4k device→host transfers, all of them CG's scalars
    (4, then 4 per iteration: pᵀAp, ‖r‖, φ, rᵀz; one more pᵀAp when it stops at negative
    curvature) over k iterations; the deferred gradient check travels with the first, before
    the update.
    """

    closure_contract = OUTPUT_CLOSURE   # step from the network output and targets, not a loss

    def __init__(self, params, lr=1.0, damping=1e-3, distribution="categorical", fisher="true",
                 sigma=1.0, cg_tol=None, cg_maxiter=None, on_unconverged="warn", skip_nonfinite=False):
        check_nonnegative("damping", damping)
        check_positive("sigma", sigma)
        if cg_tol is not None:
            check_nonnegative("cg_tol", cg_tol)
        if on_unconverged not in _POLICIES:
            raise ValueError(f"invalid on_unconverged: {on_unconverged!r} (expected one of {_POLICIES})")
        if fisher not in _FISHERS:
            raise ValueError(f"invalid fisher: {fisher!r} (expected one of {_FISHERS})")
        if distribution not in ("categorical", "gaussian"):
            raise ValueError(f"invalid distribution: {distribution!r} (expected 'categorical' for "
                             f"softmax logits or 'gaussian' for a Gaussian mean)")
        if cg_maxiter is not None and (isinstance(cg_maxiter, bool) or int(cg_maxiter) != cg_maxiter
                                       or cg_maxiter <= 0):
            raise ValueError(f"invalid cg_maxiter: {cg_maxiter!r} (expected a positive integer or None)")
        super().__init__(params, lr, skip_nonfinite, damping=damping, distribution=distribution,
                         fisher=fisher, sigma=sigma, cg_tol=cg_tol, cg_maxiter=cg_maxiter,
                         on_unconverged=on_unconverged)
        self.last_cg = None

    def batch_loss(self, z, targets):
        """L = (1/N) Σₙ −log p(yₙ|zₙ): cross-entropy, or ½‖zₙ − tₙ‖²/σ² averaged (no constant)"""
        h = self.hyper
        if h["distribution"] == "categorical":
            return F.cross_entropy(z, targets)
        t = F.as_tensor(targets.astype(z.dtype, copy=False))
        return ((z - t) ** 2).sum() * (0.5 / (h["sigma"] ** 2 * z.shape[0]))

    def fisher_operator(self, output_fn, targets) -> FisherOperator:
        """(F + λI) at the current parameters, on the batch of ``output_fn``."""
        h = self.hyper
        return FisherOperator(output_fn, self.params, h["distribution"], h["fisher"], targets,
                              "mean", h["sigma"], h["damping"])

    def step(self, output_fn=None, targets=None, grad=None, closure=None):
        if closure is not None or output_fn is None or targets is None:
            raise ValueError("NaturalGradient.step needs output_fn= (a callable returning the network "
                             "output on the batch) and targets=; the Fisher is built from the output, "
                             "so a loss closure is not enough")
        h = self.hyper
        op = self.fisher_operator(output_fn, targets)
        z = op.jacobian.output
        t = _as_targets(targets, z, "cross_entropy" if h["distribution"] == "categorical" else "mse")
        if grad is None:
            # g = Jᵀ ∇_z L with ∇_{zₙ} L = rₙ/N: one backward on the operator's graph
            r = nll_output_gradient(z.data, t, h["distribution"], h["sigma"])
            g = op.jacobian.vjp(r / z.shape[0])
        else:
            g = self._as_grad(grad)
        loss = self.batch_loss(z.detach(), t)
        if not self._check_finite(g):
            self.skipped_steps += 1
            return loss
        self._update_with(op, g)
        self.step_count += 1
        return loss

    def cg_settings(self):
        """(tol, maxiter) of the solve, the defaults resolved for these parameters."""
        h = self.hyper
        tol = h["cg_tol"] if h["cg_tol"] is not None else \
            max(1e-10, 100 * float(B.xp().finfo(self.params.dtype).eps))
        maxiter = h["cg_maxiter"] if h["cg_maxiter"] is not None else 10 * self.params.numel
        return tol, maxiter

    def natural_direction(self, op, g):
        """d solving (F + λI) d = g by conjugate gradient (the natural gradient F⁻¹f' at λ=0)."""
        h = self.hyper
        tol, maxiter = self.cg_settings()
        res = conjugate_gradient(op, g, tol=tol, maxiter=maxiter)
        self.last_cg = res
        if res.negative_curvature:
            raise FloatingPointError(f"NaturalGradient: CG met curvature pᵀ(F + λI)p = {res.curvature:.3g} "
                                     f"≤ 0 (F is only semi-definite); use damping > 0 "
                                     f"(got {h['damping']})")
        if not res.converged:
            msg = (f"NaturalGradient: step {self.step_count + 1}: CG did not reach cg_tol={tol:.3g} in "
                   f"{res.iterations} iterations ({res.message}); raise cg_maxiter, cg_tol or damping")
            if h["on_unconverged"] == "raise":
                raise CGNotConverged(msg + "; no step was taken")
            warnings.warn(msg + "; the step uses the approximate solution", RuntimeWarning, stacklevel=4)
        return res.x

    def _update_with(self, op, g) -> None:
        d = self.natural_direction(op, g)
        theta = self.params.data                     # in place: the layers hold views of it
        theta -= self.lr_vector() * d                # θ ← θ − α (F + λI)⁻¹ f'

    def _update(self, g) -> None:  # the base step() path is replaced by step(output_fn, targets)
        raise RuntimeError("NaturalGradient: call step(output_fn=..., targets=...)")


__all__ = ["NaturalGradient", "CGNotConverged"]
