"""Delta-bar-delta (Jacobs 1988): [Ravasi] ("Adaptive learning
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
from .base import Optimizer
from .checks import check_fraction, check_nonnegative


def delta_bar_delta_update(theta, g, rate, bar, *, kappa, phi, theta_bar) -> None:
    """One delta-bar-delta step in place [Ravasi, Adaptive learning rates; Jacobs 1988].
    rate = ε_j per weight, bar = δ̄_{t−1} (0 before the first step: no rate changes then)."""
    xp = B.array_module(theta)
    agreement = g * bar                                         # sign g_t^j vs sign δ̄_{t−1}^j
    rate[...] = xp.where(agreement > 0, rate + kappa,           # agree: ε_j ← ε_j + κ
                         xp.where(agreement < 0, (1 - phi) * rate, rate))  # disagree: (1 − φ)ε_j
    theta -= rate * g                                           # θ_j ← θ_j − ε_j·g_t^j
    bar[...] = (1 - theta_bar) * g + theta_bar * bar            # δ̄_t = (1 − θ̄)g_t + θ̄·δ̄_{t−1}


class DeltaBarDelta(Optimizer):
    """DeltaBarDelta(params, lr=1e-2, kappa=1e-3, phi=0.1, theta_bar=0.7);
    the update is :func:`delta_bar_delta_update`."""

    def __init__(self, params, lr=1e-2, kappa=1e-3, phi=0.1, theta_bar=0.7, skip_nonfinite=False):
        check_nonnegative("kappa", kappa)
        check_fraction("phi", phi, "0 <= φ < 1")
        check_fraction("theta_bar", theta_bar, "0 <= θ̄ < 1")
        super().__init__(params, lr, skip_nonfinite, kappa=kappa, phi=phi, theta_bar=theta_bar)

    def _update(self, g) -> None:
        h = self.hyper
        if "rate" not in self.state:                 # ε_j = ε₀ for every weight
            self.zeros_state("rate")[...] = self.lr_vector()
        arrays = {"theta": self.params.data, "g": g, "rate": self.state["rate"],
                  "bar": self.zeros_state("bar_delta")}
        self.apply(delta_bar_delta_update, arrays, kappa=h["kappa"], phi=h["phi"],
                   theta_bar=h["theta_bar"])
