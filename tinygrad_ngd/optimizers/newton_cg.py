"""Truncated Newton (Newton-CG): the Newton step by conjugate gradient on HVPs.

[Soto] warns that the Newton step x − H⁻¹∇f needs a matrix
inverse "not trivial" to get; [Misra], "Conjugate Gradient
Methods", points to CG.  Newton-CG solves (H + μI) d = −g only approximately, by CG
whose products H p are Hessian-vector products (one backward pass each on one gradient
graph), stopping when ‖r‖ ≤ η‖g‖ with the forcing term η = min(½, √‖g‖) (superlinear
convergence; Nocedal & Wright, Algorithm 7.1, line-search Newton-CG).

Negative curvature: when CG meets pᵀ(H + μI)p ≤ 0 it stops there (the quadratic model
is unbounded along p).  The step then uses the CG iterate reached so far, or −g if that
happened on the very first CG step — and ``opt.last_result`` says so
(``negative_curvature=True`` with a message), never silently.

Symbols: ``lr`` scales the step; ``damping`` = μ; ``cg_tol`` overrides η; ``cg_maxiter``
caps CG (default: the parameter count); ``line_search`` backtracks as in Newton.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import backend as B
from ..curvature.cg import CGResult, conjugate_gradient
from ..curvature.hvp import HessianOperator
from .base import Optimizer, check_nonnegative, check_positive
from .second_order_common import LOSS_CLOSURE, armijo_backtracking, require_closure


@dataclass
class NewtonCGStep:
    loss: float                  # f(θ) at the start of the step
    cg: CGResult                 # the inner solve (residual history, iterations, flags)
    negative_curvature: bool     # CG stopped at pᵀ(H + μI)p ≤ 0
    direction_kind: str          # "newton" | "truncated at negative curvature" | "steepest descent"
    t: float                     # line-search step length (1.0 without line search)
    evaluations: int             # loss/gradient evaluations (HVPs are in cg.iterations)
    message: str


class NewtonCG(Optimizer):
    """NewtonCG(params, lr=1.0, damping=0.0, cg_tol=None, cg_maxiter=None, line_search=True,
    c=1e-4, shrink=0.5, max_backtracks=30).

    ``opt.step(closure=loss_fn)``; returns the loss Tensor at the start of the step;
    ``opt.last_result`` is a :class:`NewtonCGStep`.

    On a device backend a step makes 3 + (4 + 4k) + a device→host transfers: f(θ), ‖g‖ (for
    CG's tolerance), CG's scalars (4, then 4 per iteration: pᵀAp, ‖r‖, φ, rᵀz; one more pᵀAp
    when it stops at negative curvature) over k iterations, gᵀd and one per Armijo trial (a;
    with ``line_search=False`` neither gᵀd nor trials); the deferred gradient check travels
    with f(θ), before the update.
    """

    closure_contract = LOSS_CLOSURE   # step(closure=loss_fn): the closure must not call backward

    def __init__(self, params, lr=1.0, damping=0.0, cg_tol=None, cg_maxiter=None, line_search=True,
                 c=1e-4, shrink=0.5, max_backtracks=30):
        check_nonnegative("damping", damping)
        if cg_tol is not None:
            check_positive("cg_tol", cg_tol)
        if cg_maxiter is not None and (int(cg_maxiter) != cg_maxiter or cg_maxiter < 1):
            raise ValueError(f"invalid cg_maxiter: {cg_maxiter!r} (expected a positive integer)")
        check_positive("c", c)
        check_positive("shrink", shrink)
        super().__init__(params, lr, damping=damping, cg_tol=cg_tol, cg_maxiter=cg_maxiter,
                         line_search=bool(line_search), c=c, shrink=shrink, max_backtracks=int(max_backtracks))
        self.last_result = None

    def step(self, grad=None, closure=None):
        if grad is not None:
            raise ValueError("NewtonCG.step takes closure=loss_fn only: it computes g and Hv itself")
        loss_fn = require_closure(self, closure)
        h = self.hyper
        op = HessianOperator(loss_fn, self.params)
        g = op.gradient
        if not self._check_finite(g):
            self.skipped_steps += 1
            return op.loss
        f0 = B.item(op.loss.data)  # control flow (line search) needs the value on the host
        g_norm = B.item(B.array_module(g).sqrt(g @ g))
        eta = h["cg_tol"] if h["cg_tol"] is not None else min(0.5, math.sqrt(g_norm))
        mu = h["damping"]
        matvec = (lambda v: op(v) + mu * v) if mu else op
        res = conjugate_gradient(matvec, -g, tol=eta, maxiter=h["cg_maxiter"] or self.params.numel)
        if res.negative_curvature and res.iterations == 0:
            d, kind = -g, "steepest descent"
            msg = f"{res.message}: no CG progress, stepping along −g"
        elif res.negative_curvature:
            d, kind = res.x, "truncated at negative curvature"
            msg = f"{res.message}: using the CG iterate reached before it"
        else:
            d, kind, msg = res.x, "newton", res.message
        theta = self.params.data.copy()
        t, evals = 1.0, 1
        if h["line_search"]:
            slope = B.item(g @ d)
            t, _, n = armijo_backtracking(loss_fn, self.params, theta, f0, h["lr"] * slope, h["lr"] * d,
                                          c=h["c"], shrink=h["shrink"], max_steps=h["max_backtracks"])
            evals += n
            if t == 0.0:
                msg += "; line search failed: no step taken"
        else:
            self.params.data[...] += h["lr"] * d
        self.last_result = NewtonCGStep(f0, res, res.negative_curvature, kind, t, evals, msg)
        self.step_count += 1
        return op.loss
