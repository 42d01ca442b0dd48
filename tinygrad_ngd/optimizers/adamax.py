"""AdaMax (Kingma & Ba 2015, §7.1): note 002 (002_3de7ef65372a02f2.txt, "AdaMax").

    r_t = γ₁·r_{t−1} + (1 − γ₁)·f′(θ_t)
    p_t = max(γ₂·p_{t−1}, |f′(θ_t)|)              (exponentially weighted infinity norm)
    r̂_t = r_t/(1 − γ₁ᵗ)
    θ_{t+1} = θ_t − α·r̂_t/p_t

PyTorch (``torch.optim.Adamax``, implemented here) adds ε inside the max,
p_t = max(γ₂·p_{t−1}, |g| + ε), so p > 0 even where every gradient so far was 0;
note 002 writes no ε (``eps_mode="none"``: then such a coordinate computes 0/0).

Symbols: lr = α; betas = (γ₁, γ₂); eps = ε; states ``exp_avg`` = r, ``exp_inf`` = p.
"""

from __future__ import annotations

from .. import backend as B
from .adagrad import check_eps_mode
from .adam import check_betas
from .base import Optimizer, check_eps, check_nonnegative, lerp_
from .clipping import regularized_gradient

_EPS_MODES = ("inside_max", "none")


class Adamax(Optimizer):
    """Adamax(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, maximize=False,
    eps_mode="inside_max")."""

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
        beta1, beta2 = h["betas"]
        t = self.step_count + 1
        clr = self.lr_vector() / (1 - beta1 ** t)            # α/(1 − γ₁ᵗ)
        eps = h["eps"] if h["eps_mode"] == "inside_max" else 0.0
        theta = self.params.data
        xp = B.array_module(theta)
        r = self.zeros_state("exp_avg")
        p = self.zeros_state("exp_inf")
        for s in self.chunks():
            d = regularized_gradient(g[s], theta[s], h["weight_decay"], h["maximize"],
                                     out=self.scratch("d", g[s]))
            lerp_(r[s], d, 1 - beta1, self.scratch("tmp", d))   # r ← γ₁r + (1 − γ₁)g
            xp.maximum(beta2 * p[s], xp.abs(d) + eps, out=p[s])  # p ← max(γ₂p, |g| + ε)
            theta[s] -= self.at(clr, s) * (r[s] / p[s])
