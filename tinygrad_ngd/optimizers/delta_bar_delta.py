"""Delta-bar-delta (Jacobs 1988): note 004 (004_afb8093925c778b0.txt, "Adaptive learning
rates").  Each weight j has its own rate ε_j:

    if sign g_{t}^j = sign δ̄_{t−1}^j:  ε_j ← ε_j + κ          (grow additively)
    if sign g_{t}^j ≠ sign δ̄_{t−1}^j:  ε_j ← (1 − φ)·ε_j     (shrink multiplicatively)
    θ_j ← θ_j − ε_j·g_t^j
    δ̄_t^j = (1 − θ̄)·g_t^j + θ̄·δ̄_{t−1}^j                     (running average of gradients)

The note states the rule on consecutive gradients; Jacobs compares the current gradient
with the exponential average δ̄ ("bar delta") of past ones, which damps noise — that is
what is implemented (theta_bar = 0 gives the note's consecutive-gradient rule).  Rates
change before they are used, and no change happens where either factor is 0 (the first
step).

Symbols: lr = ε₀ (initial rate of every weight); kappa = κ; phi = φ; theta_bar = θ̄
(called θ by Jacobs; renamed to avoid a clash with the parameters θ).
"""

from __future__ import annotations

from .. import backend as B
from .base import Optimizer, check_nonnegative


class DeltaBarDelta(Optimizer):
    """DeltaBarDelta(params, lr=1e-2, kappa=1e-3, phi=0.1, theta_bar=0.7)."""

    def __init__(self, params, lr=1e-2, kappa=1e-3, phi=0.1, theta_bar=0.7, skip_nonfinite=False):
        check_nonnegative("kappa", kappa)
        if not isinstance(phi, (int, float)) or not 0.0 <= phi < 1.0:
            raise ValueError(f"invalid phi: {phi!r} (expected 0 <= φ < 1)")
        if not isinstance(theta_bar, (int, float)) or not 0.0 <= theta_bar < 1.0:
            raise ValueError(f"invalid theta_bar: {theta_bar!r} (expected 0 <= θ̄ < 1)")
        super().__init__(params, lr, skip_nonfinite, kappa=kappa, phi=phi, theta_bar=theta_bar)

    def _update(self, g) -> None:
        h = self.hyper
        theta = self.params.data
        xp = B.array_module(theta)
        if "rate" not in self.state:                 # ε_j = ε₀ for every weight
            self.state["rate"] = xp.full_like(theta, 0) + self.lr_vector()
        rate = self.state["rate"]
        bar = self.zeros_state("bar_delta")          # δ̄_{t−1}, zero before the first step
        for s in self.chunks():
            agreement = g[s] * bar[s]
            rate[s] = xp.where(agreement > 0, rate[s] + h["kappa"],
                               xp.where(agreement < 0, (1 - h["phi"]) * rate[s], rate[s]))
            theta[s] -= rate[s] * g[s]
            bar[s] = (1 - h["theta_bar"]) * g[s] + h["theta_bar"] * bar[s]
