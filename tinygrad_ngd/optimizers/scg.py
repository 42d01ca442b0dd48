"""Scaled conjugate gradient (Møller 1993), which [Misra,
"Conjugate Gradient Methods"], points to ("A scaled conjugate gradient algorithm for fast
supervised learning").

Nonlinear conjugate gradient without a line search: the step along p_k is set from the
curvature s_k ≈ E''(w_k) p_k, made positive by a Levenberg-Marquardt scale λ_k that is
raised or lowered from the comparison parameter Δ_k (how well the quadratic model
predicted the decrease).  Full batch.  One ``step`` is one iteration k of Møller's
algorithm (the numbers refer to his steps):

2. if success: σ_k = σ/|p_k|, s_k = (E'(w_k + σ_k p_k) − E'(w_k))/σ_k  (``curvature="finite_difference"``)
   or s_k = H p_k exactly (``curvature="hvp"``, one Hessian-vector product); δ_k = p_kᵀs_k
3. scale: δ_k ← δ_k + (λ_k − λ̄_k)|p_k|²
4. if δ_k ≤ 0 (make the Hessian positive definite): λ̄_k = 2(λ_k − δ_k/|p_k|²),
   δ_k ← −δ_k + λ_k|p_k|², λ_k = λ̄_k
5. μ_k = p_kᵀr_k, α_k = μ_k/δ_k
6. Δ_k = 2δ_k[E(w_k) − E(w_k + α_k p_k)]/μ_k²
7. if Δ_k ≥ 0 (a successful reduction): w_{k+1} = w_k + α_k p_k, r_{k+1} = −E'(w_{k+1}),
   λ̄_k = 0, success = true; every N steps restart p_{k+1} = r_{k+1}, else
   β_k = (|r_{k+1}|² − r_{k+1}ᵀr_k)/μ_k, p_{k+1} = r_{k+1} + β_k p_k; if Δ_k ≥ 0.75, λ_k ← λ_k/4.
   else: λ̄_k = λ_k, success = false (w, p, r kept; s_k and δ_k reused)
8. if Δ_k < 0.25: λ_k ← λ_k + δ_k(1 − Δ_k)/|p_k|²

Symbols: ``sigma`` = σ (10⁻⁴), ``lambda_init`` = λ_1 (10⁻⁶), N = ``restart`` (default the
number of weights).  ``lr`` is unused by the method (kept as 1 for the Optimizer base).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import backend as B
from ..curvature.hvp import gradient, hvp
from .base import Optimizer, check_positive
from .second_order_common import LOSS_CLOSURE, loss_at, require_closure

_CURVATURES = ("hvp", "finite_difference")


@dataclass
class SCGStep:
    loss: float          # E(w_k)
    loss_after: float    # E(w_{k+1}) (= E(w_k) after a failed step)
    success: bool        # Δ_k ≥ 0: the step was taken
    alpha: float         # α_k
    delta: float         # δ_k after scaling
    comparison: float    # Δ_k
    lam: float           # λ_{k+1}
    restarted: bool


class ScaledConjugateGradient(Optimizer):
    """ScaledConjugateGradient(params, sigma=1e-4, lambda_init=1e-6, curvature="hvp", restart=None).

    ``opt.step(closure=loss_fn)`` does one iteration on the full-batch loss; returns the
    loss Tensor at w_k; ``opt.last_result`` is an :class:`SCGStep`.

    On a device backend a step makes 7 device→host transfers when it and the step before
    succeed: E(w), |p|², δ = pᵀs, μ = pᵀr, E(w + αp), |r_new|² and r_newᵀr (for β); δ is
    reused after a failed step (one fewer), a failed or restarting step fetches no β (two
    fewer).  The deferred gradient check travels with E(w), before the update.
    """

    closure_contract = LOSS_CLOSURE   # step(closure=loss_fn): the closure must not call backward

    lr_schedulable = False      # SCG chooses its own step length; lr is unused

    def __init__(self, params, sigma=1e-4, lambda_init=1e-6, curvature="hvp", restart=None, lr=1.0):
        check_positive("sigma", sigma)
        check_positive("lambda_init", lambda_init)
        if curvature not in _CURVATURES:
            raise ValueError(f"invalid curvature {curvature!r}; expected one of {_CURVATURES}")
        if restart is not None and (int(restart) != restart or restart < 1):
            raise ValueError(f"invalid restart: {restart!r} (expected a positive integer)")
        super().__init__(params, lr, sigma=sigma, lambda_init=lambda_init, curvature=curvature,
                         restart=int(restart) if restart is not None else params.numel)
        self.scalars.update(lam=float(lambda_init), lam_bar=0.0, success=True, delta=0.0)
        self.last_result = None

    def _curvature(self, loss_fn, w, p, g, p2):
        """s_k ≈ E''(w_k) p_k (Møller's step 2)."""
        if self.hyper["curvature"] == "hvp":
            return hvp(loss_fn, self.params, p)
        sigma_k = self.hyper["sigma"] / p2 ** 0.5
        self.params.data[...] = w + sigma_k * p
        _, g_sigma = gradient(loss_fn, self.params)
        self.params.data[...] = w
        return (g_sigma - g) / sigma_k

    def step(self, grad=None, closure=None):
        if grad is not None:
            raise ValueError("ScaledConjugateGradient.step takes closure=loss_fn only (full batch)")
        loss_fn = require_closure(self, closure)
        sc, st = self.scalars, self.state
        w = self.params.data.copy()
        loss, g = gradient(loss_fn, self.params)
        if not self._check_finite(g):
            self.skipped_steps += 1
            return loss
        E = B.item(loss.data)  # control flow (Δ_k) on the host
        if "p" not in st:  # step 1: p_1 = r_1 = −E'(w_1)
            st["p"], st["r"] = -g, -g
        p, r = st["p"], st["r"]
        p2 = B.item(p @ p)
        if p2 == 0.0:  # r = 0: a stationary point, Møller's termination
            self.last_result = SCGStep(E, E, False, 0.0, 0.0, 0.0, sc["lam"], False)
            return loss
        if sc["success"]:
            s = self._curvature(loss_fn, w, p, g, p2)
            sc["delta"] = B.item(p @ s)
        delta = sc["delta"] + (sc["lam"] - sc["lam_bar"]) * p2                     # step 3
        if delta <= 0:                                                              # step 4
            sc["lam_bar"] = 2.0 * (sc["lam"] - delta / p2)
            delta = -delta + sc["lam"] * p2
            sc["lam"] = sc["lam_bar"]
        mu = B.item(p @ r)                                                          # step 5
        alpha = mu / delta
        E_new = loss_at(loss_fn, self.params, w + alpha * p)                        # step 6
        comparison = 2.0 * delta * (E - E_new) / (mu * mu)
        restarted = False
        if comparison >= 0:                                                         # step 7
            _, g_new = gradient(loss_fn, self.params)
            r_new = -g_new
            sc["lam_bar"], sc["success"] = 0.0, True
            if (self.step_count + 1) % self.hyper["restart"] == 0:  # k mod N = 0 (k counts iterations)
                st["p"], restarted = r_new, True
            else:
                beta = (B.item(r_new @ r_new) - B.item(r_new @ r)) / mu
                st["p"] = r_new + beta * p
            st["r"] = r_new
            if comparison >= 0.75:
                sc["lam"] = 0.25 * sc["lam"]
        else:
            self.params.data[...] = w
            E_new = E
            sc["lam_bar"], sc["success"] = sc["lam"], False
        if comparison < 0.25:                                                       # step 8
            sc["lam"] = sc["lam"] + delta * (1.0 - comparison) / p2
        sc["delta"] = delta if not sc["success"] else sc["delta"]
        self.last_result = SCGStep(E, E_new, comparison >= 0, alpha, delta, comparison, sc["lam"], restarted)
        self.step_count += 1
        return loss
