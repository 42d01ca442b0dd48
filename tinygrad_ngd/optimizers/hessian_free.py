"""Hessian-free optimization (Martens 2010), which [Misra,
"Conjugate Gradient Methods"], points to ("Deep Learning via Hessian Free optimization").

Each step minimizes the damped quadratic model of f around θ,
    q(p) = f(θ) + gᵀp + ½ pᵀ(G + λI)p,
by conjugate gradient on Gauss-Newton products G v = Jᵀ H_ℓ J v (positive semi-definite,
unlike H; ``curvature="hessian"`` uses H v instead, and then CG may meet negative
curvature, which is reported).  Martens' ingredients, each a short method below:

1. CG warm-started from ζ·p_prev (ζ = ``cg_decay`` = 0.95), the previous run's final iterate;
2. CG stopped by relative progress on φ(x) = q(x) − q(0): at iteration i with
   k = max(10, ⌈0.1 i⌉), stop when i > k, φ_i < 0 and (φ_i − φ_{i−k})/φ_i < k·ε (ε = 5e-4);
   at most ``cg_maxiter`` = 250 iterations;
3. CG-iterate backtracking: iterates are saved at i = ⌈γʲ⌉ (γ = 1.3) and at the end;
   starting from the last, step back to an earlier saved iterate while f gets lower;
4. Levenberg-Marquardt damping from the reduction ratio ρ = (f(θ+p) − f(θ)) / φ(p):
   λ ← (3/2)λ if ρ < 1/4, λ ← (2/3)λ if ρ > 3/4 (φ is the damped model that CG minimized,
   as in Martens' code);
5. an Armijo line search on the chosen p: the largest rate ∈ {1, 0.8, 0.8², …} (≤ 60
   tries) with f(θ + rate·p) ≤ f(θ) + c·rate·gᵀp, c = 10⁻²; none → no step.

The closure contract differs from Newton's because G needs the network output:
``opt.step(closure=output_fn, targets=y)`` where ``output_fn()`` returns the output Tensor z
(logits for ``loss="cross_entropy"``, predictions for ``loss="mse"``) at the current
``params.data``; the loss is ℓ(z, y) with ``reduction``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .. import backend as B
from ..curvature.cg import CGResult, conjugate_gradient
from ..curvature.gauss_newton import LOSSES, REDUCTIONS, GaussNewtonOperator, loss_value
from ..curvature.hvp import HessianOperator, gradient
from ..curvature.operator import LinearOperator
from .base import Optimizer, check_nonnegative, check_positive
from .second_order_common import OUTPUT_CLOSURE, armijo_backtracking, loss_at

_CURVATURES = ("gauss_newton", "hessian")


@dataclass
class HessianFreeStep:
    loss: float                    # f(θ) before the step
    loss_after: float              # f(θ + rate·p)
    damping: float                 # λ used in this step's CG (before its update)
    rho: float                     # reduction ratio of the backtracked p
    cg: CGResult
    cg_iterate: int                # which saved CG iterate was chosen by backtracking
    rate: float                    # line-search rate (0.0: step rejected)
    evaluations: int               # loss evaluations in backtracking + line search
    negative_curvature: bool
    saved_iterates: list = field(default_factory=list)


class HessianFree(Optimizer):
    """HessianFree(params, damping=1.0, loss="cross_entropy", reduction="mean",
    curvature="gauss_newton", cg_maxiter=250, cg_decay=0.95, progress_eps=5e-4,
    iterate_gamma=1.3, armijo_c=1e-2, rate_shrink=0.8, max_backtracks=60,
    damping_boost=1.5, damping_drop=2/3, lr=1.0).

    ``damping`` is Martens' λ (initial value; adapted every step and kept in
    ``opt.damping``); ``lr`` multiplies the final step (Martens: 1).
    ``opt.last_result`` is a :class:`HessianFreeStep`.

    On a device backend a step makes 2 + (4 + 4k) + e device→host transfers: f(θ), CG's
    scalars (4, then 4 per iteration: pᵀAp, ‖r‖, φ, rᵀz; one more pᵀAp when it stops at
    negative curvature) over k iterations, gᵀp, and the e loss evaluations of the
    backtracking over the CG iterates and the Armijo search (``last_result.evaluations``);
    the deferred gradient check travels with f(θ), before the update.
    """

    closure_contract = OUTPUT_CLOSURE   # step from the network output and targets, not a loss

    def __init__(self, params, damping=1.0, loss="cross_entropy", reduction="mean",
                 curvature="gauss_newton", cg_maxiter=250, cg_decay=0.95, progress_eps=5e-4,
                 iterate_gamma=1.3, armijo_c=1e-2, rate_shrink=0.8, max_backtracks=60,
                 damping_boost=1.5, damping_drop=2.0 / 3.0, lr=1.0):
        check_positive("damping", damping)
        if loss not in LOSSES or reduction not in REDUCTIONS:
            raise ValueError(f"invalid loss/reduction {loss!r}/{reduction!r}; expected loss in {LOSSES} "
                             f"and reduction in {REDUCTIONS}")
        if curvature not in _CURVATURES:
            raise ValueError(f"invalid curvature {curvature!r}; expected one of {_CURVATURES}")
        if int(cg_maxiter) != cg_maxiter or cg_maxiter < 1:
            raise ValueError(f"invalid cg_maxiter: {cg_maxiter!r}")
        check_nonnegative("cg_decay", cg_decay)
        for name, v in (("progress_eps", progress_eps), ("armijo_c", armijo_c), ("rate_shrink", rate_shrink)):
            check_positive(name, v)
        if not iterate_gamma > 1 or not damping_boost > 1 or not 0 < damping_drop < 1:
            raise ValueError("need iterate_gamma > 1, damping_boost > 1 and 0 < damping_drop < 1")
        super().__init__(params, lr, loss=loss, reduction=reduction, curvature=curvature,
                         cg_maxiter=int(cg_maxiter), cg_decay=cg_decay, progress_eps=progress_eps,
                         iterate_gamma=iterate_gamma, armijo_c=armijo_c, rate_shrink=rate_shrink,
                         max_backtracks=int(max_backtracks), damping_boost=damping_boost,
                         damping_drop=damping_drop)
        self.scalars["damping"] = float(damping)
        self.last_result = None

    @property
    def damping(self) -> float:
        return self.scalars["damping"]

    # ------------------------------------------------------------ Martens' pieces
    def _save_points(self, maxiter):
        """CG iterations at which iterates are kept: ⌈γʲ⌉ (Martens 2010, §4.6)."""
        pts, j = set(), 0
        while True:
            i = math.ceil(self.hyper["iterate_gamma"] ** j)
            if i > maxiter:
                return pts
            pts.add(i)
            j += 1

    def _progress_stop(self, phis, i):
        """Martens' CG termination: relative progress of φ over the last k iterations."""
        k = max(10, math.ceil(0.1 * i))
        if i <= k or phis[i] >= 0:
            return False
        return (phis[i] - phis[i - k]) / phis[i] < k * self.hyper["progress_eps"]

    def _curvature_operator(self, output_fn, targets, loss_fn):
        h = self.hyper
        if h["curvature"] == "gauss_newton":
            return GaussNewtonOperator(output_fn, self.params, targets, h["loss"], h["reduction"],
                                       damping=self.damping)
        op = HessianOperator(loss_fn, self.params)
        lam = self.damping
        return LinearOperator(lambda v: op(v) + lam * v, op.n, op.dtype, name="damped_hessian")

    def _backtrack_iterates(self, loss_fn, theta, saved):
        """Walk back over the saved CG iterates while f keeps decreasing (Martens §4.6)."""
        idx = len(saved) - 1
        f_best = loss_at(loss_fn, self.params, theta + saved[idx][1])
        evals = 1
        while idx > 0:
            f_prev = loss_at(loss_fn, self.params, theta + saved[idx - 1][1])
            evals += 1
            if f_prev < f_best:
                idx, f_best = idx - 1, f_prev
            else:
                break
        self.params.data[...] = theta
        return idx, f_best, evals

    def _update_damping(self, rho):
        h = self.hyper
        if rho < 0.25 or not math.isfinite(rho):
            self.scalars["damping"] *= h["damping_boost"]
        elif rho > 0.75:
            self.scalars["damping"] *= h["damping_drop"]

    # ------------------------------------------------------------ the step
    def step(self, grad=None, closure=None, targets=None):
        if grad is not None or closure is None or not callable(closure) or targets is None:
            raise ValueError("HessianFree.step needs closure=output_fn (returning the network output "
                             "Tensor at the current params.data) and targets=; it computes g itself")
        h = self.hyper
        output_fn = closure
        loss_fn = lambda: loss_value(output_fn(), targets, h["loss"], h["reduction"])
        loss, g = gradient(loss_fn, self.params)
        if not self._check_finite(g):
            self.skipped_steps += 1
            return loss
        f0 = B.item(loss.data)  # control flow (ratio, line search) on the host
        lam = self.damping
        op = self._curvature_operator(output_fn, targets, loss_fn)
        x0 = self.state.get("cg_direction")
        x0 = None if x0 is None or h["cg_decay"] == 0 else h["cg_decay"] * x0
        res, saved = self._run_cg(op, g, x0)
        self.state["cg_direction"] = res.x.copy()  # warm start of the next step (decayed by ζ)
        theta = self.params.data.copy()
        idx, f_p, evals = self._backtrack_iterates(loss_fn, theta, saved)
        _, p, phi_p = saved[idx]
        rho = (f_p - f0) / phi_p if phi_p < 0 else math.nan
        self._update_damping(rho)
        slope = B.item(g @ p)  # gᵀp, Armijo's slope (control flow)
        rate, f_after, n = 0.0, f0, 0
        if slope < 0:
            rate, f_after, n = armijo_backtracking(loss_fn, self.params, theta, f0, h["lr"] * slope,
                                                   h["lr"] * p, t0=1.0, c=h["armijo_c"],
                                                   shrink=h["rate_shrink"], max_steps=h["max_backtracks"])
        self.last_result = HessianFreeStep(f0, f_after, lam, rho, res, saved[idx][0], rate, evals + n,
                                           res.negative_curvature, [i for i, _, _ in saved])
        self.step_count += 1
        return loss

    def _run_cg(self, op, g, x0):
        """CG on (B + λI) p = −g with Martens' stopping rule and iterate saving."""
        h = self.hyper
        save_at = self._save_points(h["cg_maxiter"])
        saved, phis = [], {}

        def callback(i, x, r, phi):
            phis[i] = phi
            if i in save_at:
                saved.append((i, x.copy(), phi))
            return self._progress_stop(phis, i)

        res = conjugate_gradient(op, -g, x0=x0, tol=0.0, maxiter=h["cg_maxiter"], callback=callback)
        if not saved or saved[-1][0] != res.iterations:  # always keep the final iterate
            saved.append((res.iterations, res.x.copy(), res.quadratic_values[-1]))
        return res, saved
