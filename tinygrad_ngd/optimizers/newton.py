"""Newton's method with a dense Hessian: [Kolasiński 2018, §1], [Soto] (Newton-Raphson in n-D).

[Kolasiński 2018, §1] writes the second-order update as
    θ^(k+1) = θ^(k) − λ H(L^(k))⁻¹ G^(k)
and shows its normalizing property on L(x) = e^{−γx}: G = −γe^{−γx}, H = γ²e^{−γx}, so
the step −λ G/H = λ/γ whatever x is, where gradient descent's step λγe^{−γx} explodes
for x ≪ 0 and vanishes for x ≫ 0.  [Soto], "Second order
gradient descent based methods": x_{n+1} = x_n − γ Hf(x_n)⁻¹ ∇f(x_n), and "matrix
inversion is not trivial" — so this class solves (H + μI) d = −g once per step (never
forms H⁻¹), and is meant for small problems: the Hessian is dense (``max_params``).

Symbols: ``lr`` = λ ([Kolasiński 2018]) = γ ([Soto]); ``damping`` = μ ≥ 0 (Levenberg-Marquardt
damping, μI added to H); ``line_search=True`` backtracks t ∈ {1, ½, ¼, …} on
θ + t·lr·d until Armijo's condition holds (Nocedal & Wright, Algorithm 3.1).
"""

from __future__ import annotations

from .. import backend as B
from ..curvature.dense import DEFAULT_MAX_PARAMS, dense_matrix
from ..curvature.dense import check_size as _check_size
from ..curvature.hvp import HessianOperator
from .base import Optimizer, check_nonnegative, check_positive
from .second_order_common import LOSS_CLOSURE, armijo_backtracking, require_closure


class Newton(Optimizer):
    """Newton(params, lr=1.0, damping=0.0, line_search=False, c=1e-4, shrink=0.5,
    max_backtracks=30, max_params=2000).

    ``opt.step(closure=loss_fn)``: one Newton step θ ← θ + t·lr·d with (H + damping·I) d = −g
    (t = 1 without line search).  Returns the loss Tensor at the start of the step.
    ``opt.last_step`` records the direction, whether it was a descent direction
    (gᵀd < 0 — not so where H + μI is indefinite: then the pure Newton step heads for a
    saddle or maximum, which is reported, not hidden; with ``line_search=True`` the step
    falls back to d = −g), the step length t and the number of loss evaluations.

    On a device backend a step makes 3 device→host transfers: the finiteness test of d, gᵀd
    and f(θ) (the deferred non-finite-gradient check travels with gᵀd, before the update);
    with ``line_search=True`` one more per Armijo trial (and gᵀg when it falls back to −g).
    """

    closure_contract = LOSS_CLOSURE   # step(closure=loss_fn): the closure must not call backward

    def __init__(self, params, lr=1.0, damping=0.0, line_search=False, c=1e-4, shrink=0.5,
                 max_backtracks=30, max_params=DEFAULT_MAX_PARAMS):
        check_nonnegative("damping", damping)
        check_positive("c", c)
        check_positive("shrink", shrink)
        if not (c < 1 and shrink < 1):
            raise ValueError(f"invalid line search constants c={c}, shrink={shrink} (both must be < 1)")
        super().__init__(params, lr, damping=damping, line_search=bool(line_search), c=c, shrink=shrink,
                         max_backtracks=int(max_backtracks))
        _check_size(params.numel, params.data.dtype.itemsize, max_params, False, "Newton")
        self.max_params = max_params       # kept: load_state_dict re-runs these checks
        self.last_step = {}

    def direction(self, H, g):
        """d solving (H + μI) d = −g."""
        xp = B.array_module(H)
        mu = self.hyper["damping"]
        A = H + mu * xp.eye(H.shape[0], dtype=H.dtype) if mu else H
        try:
            d = xp.linalg.solve(A, -g)
        except ValueError as err:  # NumPy's LinAlgError is a ValueError
            raise ValueError(f"Newton: H + {mu}·I is singular at step {self.step_count + 1} ({err}); "
                             f"use damping > 0") from None
        if not bool(xp.isfinite(d).all()):  # CuPy returns non-finite values instead of raising
            raise ValueError(f"Newton: H + {mu}·I is singular at step {self.step_count + 1}; use damping > 0")
        return d

    def step(self, grad=None, closure=None):
        if grad is not None:
            raise ValueError("Newton.step takes closure=loss_fn only: it computes g and H itself")
        loss_fn = require_closure(self, closure)
        op = HessianOperator(loss_fn, self.params)
        g = op.gradient
        if not self._check_finite(g):
            self.skipped_steps += 1
            return op.loss
        H = dense_matrix(op, force=True)
        d = self.direction(H, g)
        slope = B.item(g @ d)  # gᵀd: descent test and Armijo's slope (control flow)
        h = self.hyper
        info = {"loss": B.item(op.loss.data), "descent": slope < 0, "direction": d, "t": 1.0,
                "evaluations": 1, "message": "newton step"}
        theta = self.params.data.copy()
        if h["line_search"]:
            if slope >= 0:  # not a descent direction: Armijo cannot hold along d
                d, slope = -g, -B.item(g @ g)
                info["message"] = "H + μI not positive definite along d; fell back to −g"
            t, f_new, evals = armijo_backtracking(loss_fn, self.params, theta, info["loss"], h["lr"] * slope,
                                                  h["lr"] * d, c=h["c"], shrink=h["shrink"],
                                                  max_steps=h["max_backtracks"])
            info.update(t=t, evaluations=1 + evals, loss_after=f_new)
            if t == 0.0:
                info["message"] = "line search failed: no step taken"
        else:
            self.params.data[...] += h["lr"] * d
        info["direction"] = d
        self.last_step = info
        self.step_count += 1
        return op.loss
