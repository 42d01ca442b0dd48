"""AdaDelta (Zeiler 2012): [Misra, "AdaDelta Update Rule"].

    r_t = γ₁·r_{t−1} + (1 − γ₁)·f′(θ_t)²          (decaying average of squared gradients)
    v_t = α·√(p_t) / √(r_t) · f′(θ_t)             (update in the units of θ)
    θ_{t+1} = θ_t − v_t
    p_{t+1} = γ₂·p_t + (1 − γ₂)·v_t²               (decaying average of squared updates)

Zeiler and PyTorch (``torch.optim.Adadelta``, implemented here) use one decay ρ for both
averages, put ε inside both roots — √(p + ε)/√(r + ε) — without which p₀ = 0 would
never move, and average the squared update *before* the learning rate is applied
(α = lr = 1.0 by default, so this matters only for lr ≠ 1):

    Δ = √(p + ε)/√(r + ε)·g;  p ← ρp + (1 − ρ)Δ²;  θ ← θ − lr·Δ

Symbols: lr = α; rho = γ₁ = γ₂ = ρ; eps = ε; states ``square_avg`` = r, ``acc_delta`` = p.
"""

from __future__ import annotations

from .. import backend as B
from .base import Optimizer
from .checks import check_decay, check_eps, check_nonnegative


def adadelta_update(theta, g, r, p, *, lr, rho, eps, weight_decay, maximize) -> None:
    """One AdaDelta step in place [Misra, AdaDelta; Zeiler 2012; PyTorch ``Adadelta``]."""
    xp = B.array_module(theta)
    if maximize:
        g = -g                                          # maximize f: ascend along +g
    if weight_decay:
        g = g + weight_decay * theta                    # L2: g ← g + λθ
    r *= rho
    r += (1 - rho) * g * g                              # r_t = ρr_{t−1} + (1 − ρ)f′²  ((1 − ρ)g first)
    delta = xp.sqrt(p + eps) / xp.sqrt(r + eps) * g     # Δ = √(p + ε)/√(r + ε)·f′  (units of θ)
    p *= rho
    p += (1 - rho) * delta * delta                      # p_{t+1} = ρp_t + (1 − ρ)Δ²
    theta -= lr * delta                                 # θ_{t+1} = θ_t − α·Δ


class Adadelta(Optimizer):
    """Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=False).
    The update is :func:`adadelta_update`."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False,
                 skip_nonfinite=False):
        check_decay("rho", rho)
        check_eps("eps", eps, params.dtype)
        check_nonnegative("weight_decay", weight_decay)
        super().__init__(params, lr, skip_nonfinite, rho=rho, eps=eps, weight_decay=weight_decay,
                         maximize=bool(maximize))

    def _update(self, g) -> None:
        h = self.hyper
        arrays = {"theta": self.params.data, "g": g, "r": self.zeros_state("square_avg"),
                  "p": self.zeros_state("acc_delta")}
        self.apply(adadelta_update, arrays, lr=self.lr_vector(), rho=h["rho"], eps=h["eps"],
                   weight_decay=h["weight_decay"], maximize=h["maximize"])
