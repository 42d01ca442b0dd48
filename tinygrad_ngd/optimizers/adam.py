"""Adam (Kingma & Ba 2015) with AMSGrad and decoupled weight decay (AdamW).

[Ravasi, "ADAM"]:

    v_{i+1} = ρ₁·v_i + (1 − ρ₁)·g              (velocity: first moment)
    r_{i+1} = ρ₂·r_i + (1 − ρ₂)·g·g            (scaling: second moment)
    v̂ = v/(1 − ρ₁^{i+1}),   r̂ = r/(1 − ρ₂^{i+1})   (bias corrections)
    Δθ = −α·v̂/(δ + √r̂),     δ = 1e-6 in the note

[Misra] and [Soto] write the same algorithm with (r, p) resp. (r, v) for the moments;
[Misra] writes no ε, and both print the bias corrections differently (1 − (1 − γ)^t,
resp. a constant 1 − γ) — read as the standard 1 − γ^t, which is what is implemented.

PyTorch (``torch.optim.Adam`` / ``AdamW``; the default here) uses δ = eps = 1e-8 in the
same place.  The update is computed in Kingma & Ba's "efficient" arrangement (end of
their §2), algebraically identical and one array pass cheaper:

    θ ← θ − α·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m / (√v + ε̂)

where ε̂ depends on ``eps_mode`` (who uses which):

* ``"outside_sqrt"`` (default): ε̂ = ε·√(1 − β₂ᵗ), i.e. ε added to √v̂ — PyTorch, optax,
  [Ravasi] (pass ``eps=1e-6`` for the note's δ);
* ``"hat"``: ε̂ = ε, added to the *uncorrected* √v — Keras / TensorFlow's Adam
  (``epsilon`` is "epsilon hat" in their docs);
* ``"none"``: ε̂ = 0 — [Misra] writes no ε.

Options as in PyTorch: ``amsgrad`` (divide by the running maximum of v — Reddi et al.
2018), ``weight_decay`` coupled (added to g, L2) or, with ``decoupled_weight_decay=True``
(= :class:`AdamW`), applied as θ ← θ·(1 − α·λ) before the step (Loshchilov & Hutter).

Symbols: lr = α ([Misra], [Ravasi]) = η ([Soto]); betas = (ρ₁, ρ₂) ([Ravasi]) = (γ₁, γ₂)
([Misra], [Soto]); eps = δ ([Ravasi]) = ε ([Soto]); states ``exp_avg`` = v ([Ravasi]'s
velocity) and ``exp_avg_sq`` = r.
"""

from __future__ import annotations

import math

from .. import backend as B
from .base import Optimizer
from .checks import check_betas, check_eps, check_eps_mode, check_nonnegative

_EPS_MODES = ("outside_sqrt", "hat", "none")


def adam_update(theta, g, m, v, v_max, *, lr, beta1, beta2, eps, eps_mode, t, weight_decay,
                decoupled_weight_decay, amsgrad, maximize) -> None:
    """One Adam step in place [Kingma & Ba 2015, Alg. 1; PyTorch ``Adam``/``AdamW``].
    Kingma & Ba's names: m = ``exp_avg`` = [Ravasi]'s v (velocity), v = ``exp_avg_sq`` =
    [Ravasi]'s r (scaling); β₁, β₂ = [Ravasi]'s ρ₁, ρ₂; ε = δ; t = i + 1.

    Printed:  m̂ = m/(1 − β₁ᵗ),  v̂ = v/(1 − β₂ᵗ),  θ ← θ − α·m̂/(√v̂ + ε).
    Code ("efficient" form, end of Kingma & Ba §2): multiply through by √(1 − β₂ᵗ):
              θ ← θ − [α·√(1 − β₂ᵗ)/(1 − β₁ᵗ)]·m/(√v + ε̂),   ε̂ = ε·√(1 − β₂ᵗ).
    m ← β₁m + (1 − β₁)g is written m + (1 − β₁)(g − m) (expand: the same number), or for
    1 − β₁ >= ½ as g − β₁(g − m): PyTorch's two-branch ``lerp`` rounding (with β₁ computed
    as 1 − (1 − β₁), as torch does).
    """
    xp = B.array_module(theta)
    if maximize:
        g = -g                                            # maximize f: ascend along +g
    if weight_decay and decoupled_weight_decay:
        theta *= 1 - lr * weight_decay                    # AdamW: θ ← θ(1 − αλ) [Loshchilov & Hutter]
    elif weight_decay:
        g = g + weight_decay * theta                      # L2: g ← g + λθ
    if 1 - beta1 < 0.5:
        m += (1 - beta1) * (g - m)                        # m ← β₁m + (1 − β₁)g  (lerp, branch 1)
    else:
        m[...] = g - (1 - (1 - beta1)) * (g - m)          # the same, lerp branch 2
    v *= beta2
    v += (1 - beta2) * g * g                              # v ← β₂v + (1 − β₂)g²  ((1 − β₂)g first: no overflow)
    if amsgrad:
        v_max[...] = xp.maximum(v_max, v)                 # AMSGrad: divide by max(v) so far [Reddi et al. 2018]
    root_bias2 = math.sqrt(1 - beta2 ** t)                # √(1 − β₂ᵗ)
    step = lr * (root_bias2 / (1 - beta1 ** t))           # α·√(1 − β₂ᵗ)/(1 − β₁ᵗ)
    if eps_mode == "outside_sqrt":
        eps_hat = eps * root_bias2                        # ε on √v̂ (PyTorch; [Ravasi]'s δ)
    elif eps_mode == "hat":
        eps_hat = eps                                     # Keras' ε̂, on the uncorrected √v
    else:
        eps_hat = 0.0                                     # [Misra] writes no ε
    theta -= step * m / (xp.sqrt(v_max if amsgrad else v) + eps_hat)   # θ ← θ − α·m̂/(√v̂ + ε)


class Adam(Optimizer):
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
    maximize=False, decoupled_weight_decay=False, eps_mode="outside_sqrt").
    The update is :func:`adam_update`."""

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
        arrays = {"theta": self.params.data, "g": g, "m": self.zeros_state("exp_avg"),
                  "v": self.zeros_state("exp_avg_sq"),
                  "v_max": self.zeros_state("max_exp_avg_sq") if h["amsgrad"] else None}
        self.apply(adam_update, arrays, lr=self.lr_vector(), beta1=h["betas"][0], beta2=h["betas"][1],
                   eps=h["eps"],
                   eps_mode=h["eps_mode"], t=self.step_count + 1, weight_decay=h["weight_decay"],
                   decoupled_weight_decay=h["decoupled_weight_decay"], amsgrad=h["amsgrad"],
                   maximize=h["maximize"])


class AdamW(Adam):
    """AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
    maximize=False): Adam with decoupled weight decay θ ← θ·(1 − α·λ) (``torch.optim.AdamW``)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False, eps_mode="outside_sqrt", skip_nonfinite=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize,
                         decoupled_weight_decay=True, eps_mode=eps_mode,
                         skip_nonfinite=skip_nonfinite)
