"""AdaMax (Kingma & Ba 2015, §7.1): [Misra, "AdaMax"].

    r_t = γ₁·r_{t−1} + (1 − γ₁)·f′(θ_t)
    p_t = max(γ₂·p_{t−1}, |f′(θ_t)|)              (exponentially weighted infinity norm)
    r̂_t = r_t/(1 − γ₁ᵗ)
    θ_{t+1} = θ_t − α·r̂_t/p_t

PyTorch (``torch.optim.Adamax``, implemented here) adds ε inside the max,
p_t = max(γ₂·p_{t−1}, |g| + ε), so p > 0 even where every gradient so far was 0;
[Misra] writes no ε (``eps_mode="none"``: then such a coordinate computes 0/0).

Symbols: lr = α; betas = (γ₁, γ₂); eps = ε; states ``exp_avg`` = r, ``exp_inf`` = p.
"""

from __future__ import annotations

from .. import backend as B
from .base import Optimizer
from .checks import check_betas, check_eps, check_eps_mode, check_nonnegative

_EPS_MODES = ("inside_max", "none")


def adamax_update(theta, g, r, p, *, lr, betas, eps, eps_mode, t, weight_decay, maximize) -> None:
    """One AdaMax step in place [Misra, AdaMax; Kingma & Ba 2015, §7.1; PyTorch ``Adamax``].

    r ← γ₁r + (1 − γ₁)g is written r + (1 − γ₁)(g − r) (expand: the same number), or for
    1 − γ₁ >= ½ as g − γ₁(g − r): PyTorch's two-branch ``lerp`` rounding.
    """
    xp = B.array_module(theta)
    beta1, beta2 = betas
    if maximize:
        g = -g                                          # maximize f: ascend along +g
    if weight_decay:
        g = g + weight_decay * theta                    # L2: g ← g + λθ
    if 1 - beta1 < 0.5:
        r += (1 - beta1) * (g - r)                      # r_t = γ₁r_{t−1} + (1 − γ₁)f′ (lerp, branch 1)
    else:
        r[...] = g - (1 - (1 - beta1)) * (g - r)        # same, lerp branch 2
    if eps_mode == "inside_max":
        p[...] = xp.maximum(beta2 * p, xp.abs(g) + eps)  # p_t = max(γ₂p_{t−1}, |f′| + ε)  (PyTorch)
    else:
        p[...] = xp.maximum(beta2 * p, xp.abs(g))       # p_t = max(γ₂p_{t−1}, |f′|)  [Misra]
    theta -= lr / (1 - beta1 ** t) * (r / p)            # θ ← θ − α·r̂_t/p_t,  r̂_t = r_t/(1 − γ₁ᵗ)


class Adamax(Optimizer):
    """Adamax(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, maximize=False,
    eps_mode="inside_max").  The update is :func:`adamax_update`."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 maximize=False, eps_mode="inside_max", skip_nonfinite=False):
        check_betas(betas)
        check_eps("eps", eps, params.dtype)
        check_nonnegative("weight_decay", weight_decay)
        check_eps_mode(eps_mode, _EPS_MODES)
        super().__init__(params, lr, skip_nonfinite, betas=tuple(betas), eps=eps,
                         weight_decay=weight_decay, maximize=bool(maximize), eps_mode=eps_mode)

    def _update(self, g) -> None:
        h = self.hyper
        arrays = {"theta": self.params.data, "g": g, "r": self.zeros_state("exp_avg"),
                  "p": self.zeros_state("exp_inf")}
        self.apply(adamax_update, arrays, lr=self.lr_vector(), betas=h["betas"], eps=h["eps"],
                   eps_mode=h["eps_mode"], t=self.step_count + 1, weight_decay=h["weight_decay"],
                   maximize=h["maximize"])
