"""Adam (Kingma & Ba 2015) with AMSGrad and decoupled weight decay (AdamW).

Note 004 (004_afb8093925c778b0.txt, "ADAM"):

    v_{i+1} = ρ₁·v_i + (1 − ρ₁)·g              (velocity: first moment)
    r_{i+1} = ρ₂·r_i + (1 − ρ₂)·g·g            (scaling: second moment)
    v̂ = v/(1 − ρ₁^{i+1}),   r̂ = r/(1 − ρ₂^{i+1})   (bias corrections)
    Δθ = −α·v̂/(δ + √r̂),     δ = 1e-6 in the note

Notes 002 and 003 write the same algorithm with (r, p) resp. (r, v) for the moments;
note 002 writes no ε, and both print the bias corrections differently (1 − (1 − γ)^t,
resp. a constant 1 − γ) — read as the standard 1 − γ^t, which is what is implemented.

PyTorch (``torch.optim.Adam`` / ``AdamW``; the default here) uses δ = eps = 1e-8 in the
same place.  The update is computed in Kingma & Ba's "efficient" arrangement (end of
their §2), algebraically identical and one array pass cheaper:

    θ ← θ − α·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m / (√v + ε̂)

where ε̂ depends on ``eps_mode`` (who uses which):

* ``"outside_sqrt"`` (default): ε̂ = ε·√(1 − β₂ᵗ), i.e. ε added to √v̂ — PyTorch, optax,
  note 004 (pass ``eps=1e-6`` for the note's δ);
* ``"hat"``: ε̂ = ε, added to the *uncorrected* √v — Keras / TensorFlow's Adam
  (``epsilon`` is "epsilon hat" in their docs);
* ``"none"``: ε̂ = 0 — note 002 writes no ε.

Options as in PyTorch: ``amsgrad`` (divide by the running maximum of v — Reddi et al.
2018), ``weight_decay`` coupled (added to g, L2) or, with ``decoupled_weight_decay=True``
(= :class:`AdamW`), applied as θ ← θ·(1 − α·λ) before the step (Loshchilov & Hutter).

Symbols: lr = α (notes 002, 004) = η (note 003); betas = (ρ₁, ρ₂) (note 004) = (γ₁, γ₂)
(notes 002, 003); eps = δ (note 004) = ε (note 003); states ``exp_avg`` = v (note 004's
velocity) and ``exp_avg_sq`` = r.
"""

from __future__ import annotations

import math

from .. import backend as B
from .adagrad import check_eps_mode
from .base import Optimizer, check_eps, check_nonnegative, lerp_
from .clipping import decoupled_weight_decay_, regularized_gradient
from .rmsprop import check_decay

_EPS_MODES = ("outside_sqrt", "hat", "none")


def check_betas(betas):
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"invalid betas: {betas!r} (expected a pair (β₁, β₂))")
    check_decay("betas[0]", betas[0])
    check_decay("betas[1]", betas[1])


class Adam(Optimizer):
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
    maximize=False, decoupled_weight_decay=False, eps_mode="outside_sqrt")."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False, decoupled_weight_decay=False,
                 eps_mode="outside_sqrt", skip_nonfinite=False):
        check_betas(betas)
        check_eps("eps", eps, params.dtype)
        check_nonnegative("weight_decay", weight_decay)
        check_eps_mode(eps_mode, _EPS_MODES)
        super().__init__(params, lr, skip_nonfinite, betas=tuple(betas), eps=eps,
                         weight_decay=weight_decay, amsgrad=bool(amsgrad), maximize=bool(maximize),
                         decoupled_weight_decay=bool(decoupled_weight_decay), eps_mode=eps_mode)

    def _update(self, g) -> None:
        h = self.hyper
        beta1, beta2 = h["betas"]
        t = self.step_count + 1
        lr = self.lr_vector()
        bias1 = 1 - beta1 ** t                       # 1 − β₁ᵗ
        root_bias2 = math.sqrt(1 - beta2 ** t)       # √(1 − β₂ᵗ)
        step_size = lr * (root_bias2 / bias1)        # α·√(1 − β₂ᵗ)/(1 − β₁ᵗ)
        eps_hat = {"outside_sqrt": h["eps"] * root_bias2, "hat": h["eps"], "none": 0.0}[h["eps_mode"]]
        theta = self.params.data
        m = self.zeros_state("exp_avg")
        v = self.zeros_state("exp_avg_sq")
        v_max = self.zeros_state("max_exp_avg_sq") if h["amsgrad"] else None
        decoupled = h["decoupled_weight_decay"]
        for s in self.chunks():
            if decoupled and h["weight_decay"] != 0:
                decoupled_weight_decay_(theta[s], self.at(lr, s), h["weight_decay"])
            d = regularized_gradient(g[s], theta[s], 0.0 if decoupled else h["weight_decay"],
                                     h["maximize"], out=self.scratch("d", g[s]))
            tmp = self.scratch("tmp", g[s])
            _first_moment(m[s], d, beta1, tmp)
            _second_moment(v[s], d, beta2, tmp)
            if v_max is not None:
                B.array_module(theta).maximum(v_max[s], v[s], out=v_max[s])
            _adam_step(theta[s], m[s], v[s] if v_max is None else v_max[s],
                       self.at(step_size, s), eps_hat, tmp)


def _first_moment(m, g, beta1, tmp) -> None:
    """m ← β₁m + (1 − β₁)g, as PyTorch's lerp of m towards g with weight 1 − β₁."""
    lerp_(m, g, 1 - beta1, tmp)


def _second_moment(v, g, beta2, tmp) -> None:
    """v ← β₂v + (1 − β₂)g·g."""
    xp = B.array_module(v)
    xp.multiply(g, g, out=tmp)
    xp.multiply(tmp, 1 - beta2, out=tmp)
    xp.multiply(v, beta2, out=v)
    xp.add(v, tmp, out=v)


def _adam_step(theta, m, v, step_size, eps_hat, tmp) -> None:
    """θ ← θ − step_size·m/(√v + ε̂)."""
    xp = B.array_module(theta)
    xp.sqrt(v, out=tmp)
    if eps_hat:
        xp.add(tmp, eps_hat, out=tmp)
    xp.divide(m, tmp, out=tmp)
    xp.multiply(tmp, step_size, out=tmp)
    xp.subtract(theta, tmp, out=theta)


class AdamW(Adam):
    """AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
    maximize=False): Adam with decoupled weight decay θ ← θ·(1 − α·λ) (``torch.optim.AdamW``)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False, eps_mode="outside_sqrt", skip_nonfinite=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize,
                         decoupled_weight_decay=True, eps_mode=eps_mode,
                         skip_nonfinite=skip_nonfinite)
