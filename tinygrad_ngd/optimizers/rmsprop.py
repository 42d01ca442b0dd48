"""RMSprop (Tieleman & Hinton 2012): [Ravasi, "RMSProp"],
[Misra, "RMSProp = Rprop + SGD"], [Soto, "RMSprop"].

[Ravasi]:
    r_{i+1} = ρ·r_i + (1 − ρ)·g·g
    Δθ = −α / (δ + √r_{i+1}) · g,          δ = 1e-6 in the note

PyTorch (``torch.optim.RMSprop``; default here) has the same rule with ρ = alpha = 0.99
and δ = eps = 1e-8, plus:

* ``centered=True``: divide by the estimated standard deviation √(r − ḡ²), where
  ḡ ← ρ·ḡ + (1 − ρ)·g (Graves 2013);
* ``momentum`` μ > 0: b ← μ·b + g/(√r + ε), θ ← θ − α·b;
* coupled ``weight_decay``.

``eps_mode`` says where ε goes (who uses which):

* ``"outside_sqrt"`` (default): g/(√r + ε) — PyTorch, [Ravasi] (δ);
* ``"inside_sqrt"``: g/√(r + ε) — TensorFlow 1 ``RMSPropOptimizer``, Keras 3 and optax
  ``scale_by_rms``;
* ``"none"``: g/√r — [Misra] and [Soto] write no ε.

Symbols: lr = α ([Misra], [Ravasi]) = η ([Soto]); alpha = ρ ([Ravasi]) = γ ([Misra],
[Soto]); eps = δ; state ``square_avg`` = r.  (PyTorch's name "alpha" is the decay, not a
learning rate.)
"""

from __future__ import annotations

from .. import backend as B
from .base import Optimizer
from .checks import check_decay, check_eps, check_eps_mode, check_nonnegative

_EPS_MODES = ("outside_sqrt", "inside_sqrt", "none")


def rmsprop_update(theta, g, r, g_avg, b, *, lr, rho, eps, eps_mode, weight_decay, momentum,
                   centered, maximize) -> None:
    """One RMSprop step in place [Ravasi, RMSProp; Tieleman & Hinton 2012; PyTorch ``RMSprop``]
    (ρ = PyTorch's ``alpha``).

    ḡ ← ρḡ + (1 − ρ)g is written ḡ + (1 − ρ)(g − ḡ) (expand: the same number), or for
    1 − ρ >= ½ as g − ρ(g − ḡ): PyTorch's two-branch ``lerp`` rounding.
    """
    xp = B.array_module(theta)
    if maximize:
        g = -g                                          # maximize f: ascend along +g
    if weight_decay:
        g = g + weight_decay * theta                    # L2: g ← g + λθ
    r *= rho
    r += (1 - rho) * g * g                              # r ← ρr + (1 − ρ)g·g ((1 − ρ)g first: no overflow)
    second = r
    if centered:                                        # [Graves 2013]
        if 1 - rho < 0.5:
            g_avg += (1 - rho) * (g - g_avg)            # ḡ ← ρḡ + (1 − ρ)g  (lerp, branch 1)
        else:
            g_avg[...] = g - (1 - (1 - rho)) * (g - g_avg)  # same, lerp branch 2
        second = r - g_avg * g_avg                      # r − ḡ², the variance estimate
    if eps_mode == "outside_sqrt":
        denom = xp.sqrt(second) + eps                   # δ + √r   ([Ravasi], PyTorch)
    elif eps_mode == "inside_sqrt":
        denom = xp.sqrt(second + eps)                   # √(r + ε) (TF1, Keras 3, optax)
    else:
        denom = xp.sqrt(second)                         # √r       ([Misra], [Soto])
    if momentum > 0:
        b[...] = momentum * b + g / denom               # b ← μb + g/(δ + √r)
        theta -= lr * b                                 # θ ← θ − α·b
    else:
        theta -= lr * (g / denom)                       # Δθ = −α/(δ + √r)·g


class RMSprop(Optimizer):
    """RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False, maximize=False, eps_mode="outside_sqrt").
    The update is :func:`rmsprop_update`."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False, eps_mode="outside_sqrt", skip_nonfinite=False):
        check_decay("alpha", alpha)
        check_eps("eps", eps, params.dtype)
        check_nonnegative("weight_decay", weight_decay)
        check_nonnegative("momentum", momentum)
        check_eps_mode(eps_mode, _EPS_MODES)
        super().__init__(params, lr, skip_nonfinite, alpha=alpha, eps=eps, weight_decay=weight_decay,
                         momentum=momentum, centered=bool(centered), maximize=bool(maximize),
                         eps_mode=eps_mode)

    def _update(self, g) -> None:
        h = self.hyper
        arrays = {"theta": self.params.data, "g": g, "r": self.zeros_state("square_avg"),
                  "g_avg": self.zeros_state("grad_avg") if h["centered"] else None,
                  "b": self.zeros_state("momentum_buffer") if h["momentum"] > 0 else None}
        self.apply(rmsprop_update, arrays, lr=self.lr_vector(), rho=h["alpha"], eps=h["eps"],
                   eps_mode=h["eps_mode"], weight_decay=h["weight_decay"], momentum=h["momentum"],
                   centered=h["centered"], maximize=h["maximize"])
