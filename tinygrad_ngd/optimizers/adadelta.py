"""AdaDelta (Zeiler 2012): note 002 (002_3de7ef65372a02f2.txt, "AdaDelta Update Rule").

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
from .base import Optimizer, check_eps, check_nonnegative
from .clipping import regularized_gradient
from .rmsprop import check_decay


class Adadelta(Optimizer):
    """Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=False)."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False,
                 skip_nonfinite=False):
        check_decay("rho", rho)
        check_eps("eps", eps, params.dtype)
        check_nonnegative("weight_decay", weight_decay)
        super().__init__(params, lr, skip_nonfinite, rho=rho, eps=eps, weight_decay=weight_decay,
                         maximize=bool(maximize))

    def _update(self, g) -> None:
        h = self.hyper
        rho, eps = h["rho"], h["eps"]
        lr = self.lr_vector()
        theta = self.params.data
        xp = B.array_module(theta)
        r = self.zeros_state("square_avg")
        p = self.zeros_state("acc_delta")
        for s in self.chunks():
            d = regularized_gradient(g[s], theta[s], h["weight_decay"], h["maximize"],
                                     out=self.scratch("d", g[s]))
            r[s] = rho * r[s] + (1 - rho) * d * d                    # r_t
            delta = xp.sqrt(p[s] + eps) / xp.sqrt(r[s] + eps) * d     # RMS(updates)/RMS(g)·g
            p[s] = rho * p[s] + (1 - rho) * delta * delta             # p_{t+1}
            theta[s] -= self.at(lr, s) * delta
