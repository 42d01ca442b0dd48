"""AdaGrad (Duchi et al. 2011): [Ravasi, "AdaGrad"],
[Misra, "Adaptive Gradient (AdaGrad)"], [Soto, "AdaGrad"], [Yu et al. 2017] (AdaGrad
baseline of §4).

[Ravasi]:
    r_{i+1} = r_i + g_{i+1}·g_{i+1}                 (running sum of squared gradients)
    Δθ_{i+1} = −α / (δ + √r_{i+1}) · g_{i+1},        δ = 1e-6 in the note

PyTorch (``torch.optim.Adagrad``) is the same rule with δ = eps = 1e-10 by default, plus
``lr_decay`` (α_t = α / (1 + (t − 1)·lr_decay)), ``initial_accumulator_value`` (r₀) and
coupled ``weight_decay``.  ``eps_mode`` says where ε goes:

* ``"outside_sqrt"`` (default): α·g / (√r + ε) — PyTorch, Keras, [Ravasi] (pass
  ``eps=1e-6`` for the note's δ);
* ``"inside_sqrt"``: α·g / √(r + ε) — optax (``optax.adagrad`` scales g by rsqrt(r + ε); its
  defaults are ε = 1e-7 and r₀ = 0.1, so pass ``eps=1e-7, initial_accumulator_value=0.1`` to
  reproduce a default ``optax.adagrad``);
* ``"none"``: α·g / √r — [Misra] and [Soto] write no ε (a coordinate whose gradients
  have all been 0 then divides 0 by 0).

Symbols: lr = α ([Ravasi], [Misra]) = η ([Soto]); eps = δ; state ``sum`` = r.
"""

from __future__ import annotations

from .. import backend as B
from .base import Optimizer
from .checks import check_eps, check_eps_mode, check_nonnegative

_EPS_MODES = ("outside_sqrt", "inside_sqrt", "none")


def adagrad_update(theta, g, r, *, lr, lr_decay, t, eps, eps_mode, weight_decay, maximize) -> None:
    """One AdaGrad step in place [Ravasi, AdaGrad; Duchi et al. 2011; PyTorch ``Adagrad``].
    (r = Σg² itself is what overflows for |g| ≳ 1.8e19 in float32: no order avoids that.)"""
    xp = B.array_module(theta)
    if maximize:
        g = -g                                      # maximize f: ascend along +g
    if weight_decay:
        g = g + weight_decay * theta                # L2: g ← g + λθ
    clr = lr / (1 + (t - 1) * lr_decay)             # α_t = α/(1 + (t − 1)·lr_decay)  (PyTorch)
    r += g * g                                      # r_{i+1} = r_i + g·g
    if eps_mode == "outside_sqrt":
        theta -= clr * g / (xp.sqrt(r) + eps)       # Δθ = −α/(δ + √r)·g  ([Ravasi], PyTorch)
    elif eps_mode == "inside_sqrt":
        theta -= clr * g / xp.sqrt(r + eps)         # Δθ = −α/√(r + ε)·g  (optax.adagrad)
    else:
        theta -= clr * g / xp.sqrt(r)               # Δθ = −α/√r·g  ([Misra], [Soto]: no ε)


class Adagrad(Optimizer):
    """Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
    eps=1e-10, maximize=False, eps_mode="outside_sqrt").  The update is :func:`adagrad_update`."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, maximize=False, eps_mode="outside_sqrt", skip_nonfinite=False):
        check_nonnegative("lr_decay", lr_decay)
        check_nonnegative("weight_decay", weight_decay)
        check_nonnegative("initial_accumulator_value", initial_accumulator_value)
        check_eps("eps", eps, params.dtype)
        check_eps_mode(eps_mode, _EPS_MODES)
        super().__init__(params, lr, skip_nonfinite, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps,
                         maximize=bool(maximize), eps_mode=eps_mode)
        self.zeros_state("sum", fill=self.hyper["initial_accumulator_value"])    # r₀

    def _update(self, g) -> None:
        h = self.hyper
        self.apply(adagrad_update, {"theta": self.params.data, "g": g, "r": self.state["sum"]},
                   lr=self.lr_vector(), lr_decay=h["lr_decay"], t=self.step_count + 1, eps=h["eps"],
                   eps_mode=h["eps_mode"], weight_decay=h["weight_decay"], maximize=h["maximize"])
