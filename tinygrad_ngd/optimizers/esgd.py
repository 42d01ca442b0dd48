"""Equilibrated SGD (Dauphin, de Vries & Bengio 2015, "Equilibrated adaptive learning rates
for non-convex optimization", listed in [Misra]'s references).

The equilibration preconditioner D_i = ‖H_{i,·}‖ (the norm of the Hessian's i-th row)
is estimated without H from Hessian-vector products with Gaussian v:
E[(Hv)_i²] = Σ_j H_ij² = ‖H_{i,·}‖².  Algorithm 1 of the paper:

    D ← 0
    for i = 1 … K:  v ~ N(0, I);  D ← D + (Hv)²;  θ ← θ − ε ∇f(θ) / (√(D/i) + λ)

Unlike the Jacobi preconditioner |diag H|, equilibration is well defined at saddle points
(it never divides by a near-zero or negative curvature).  The HVP costs about one more
gradient; the paper amortizes it by refreshing D only every 20 iterations:
``update_every`` = that period (1 gives Algorithm 1 exactly), and i above counts the
estimates taken.  Symbols: ``lr`` = ε, ``damping`` = λ.
"""

from __future__ import annotations

from .. import backend as B
from ..curvature.hvp import HessianOperator, gradient
from .base import Optimizer, check_positive
from .second_order_common import LOSS_CLOSURE, require_closure


class ESGD(Optimizer):
    """ESGD(params, lr=1e-2, damping=1e-4, update_every=1, rng=None).

    ``opt.step(closure=loss_fn)``; ``rng`` is a NumPy Generator for the Gaussian probes
    (default: the package's host generator).  ``opt.state["D"]`` holds Σ (Hv)².
    """

    closure_contract = LOSS_CLOSURE   # step(closure=loss_fn): the closure must not call backward

    def __init__(self, params, lr=1e-2, damping=1e-4, update_every=1, rng=None):
        check_positive("damping", damping)
        if int(update_every) != update_every or update_every < 1:
            raise ValueError(f"invalid update_every: {update_every!r} (expected a positive integer)")
        super().__init__(params, lr, damping=damping, update_every=int(update_every))
        self.rng = rng
        self.scalars["estimates"] = 0

    def step(self, grad=None, closure=None):
        if grad is not None:
            raise ValueError("ESGD.step takes closure=loss_fn only: it needs Hessian-vector products")
        loss_fn = require_closure(self, closure)
        if self.step_count % self.hyper["update_every"] == 0:
            op = HessianOperator(loss_fn, self.params)   # gradient and HVP from one graph
            loss, g = op.loss, op.gradient
            rng = B.host_rng() if self.rng is None else self.rng
            v = B.asarray(rng.standard_normal(op.n)).astype(op.dtype)   # v ~ N(0, I)
            hv = op(v)
            if not self._check_finite(g):
                self.skipped_steps += 1
                return loss
            D = self.zeros_state("D")
            D += hv * hv                                  # D ← D + (Hv)²
            self.scalars["estimates"] += 1
        else:
            loss, g = gradient(loss_fn, self.params)
            if not self._check_finite(g):
                self.skipped_steps += 1
                return loss
        self._update(g)
        self.step_count += 1
        return loss

    def _update(self, g):
        xp = B.array_module(g)
        precond = xp.sqrt(self.state["D"] / self.scalars["estimates"]) + self.hyper["damping"]
        self.params.data[...] -= self.lr_vector() * g / precond   # θ ← θ − ε g / (√(D/i) + λ)
