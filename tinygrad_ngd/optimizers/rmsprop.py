"""RMSprop (Tieleman & Hinton 2012): note 004 (004_afb8093925c778b0.txt, "RMSProp"),
note 002 ("RMSProp = Rprop + SGD"), note 003 ("RMSprop").

Note 004:
    r_{i+1} = ρ·r_i + (1 − ρ)·g·g
    Δθ = −α / (δ + √r_{i+1}) · g,          δ = 1e-6 in the note

PyTorch (``torch.optim.RMSprop``; default here) has the same rule with ρ = alpha = 0.99
and δ = eps = 1e-8, plus:

* ``centered=True``: divide by the estimated standard deviation √(r − ḡ²), where
  ḡ ← ρ·ḡ + (1 − ρ)·g (Graves 2013);
* ``momentum`` μ > 0: b ← μ·b + g/(√r + ε), θ ← θ − α·b;
* coupled ``weight_decay``.

``eps_mode`` says where ε goes (who uses which):

* ``"outside_sqrt"`` (default): g/(√r + ε) — PyTorch, note 004 (δ);
* ``"inside_sqrt"``: g/√(r + ε) — TensorFlow 1 ``RMSPropOptimizer``, Keras 3 and optax
  ``scale_by_rms``;
* ``"none"``: g/√r — notes 002 and 003 write no ε.

Symbols: lr = α (notes 002, 004) = η (note 003); alpha = ρ (note 004) = γ (notes 002,
003); eps = δ; state ``square_avg`` = r.  (PyTorch's name "alpha" is the decay, not a
learning rate.)
"""

from __future__ import annotations

from .. import backend as B
from .adagrad import check_eps_mode
from .base import Optimizer, check_eps, check_nonnegative, lerp_
from .clipping import regularized_gradient

_EPS_MODES = ("outside_sqrt", "inside_sqrt", "none")


def check_decay(name, value):
    """A decay rate (β, ρ) must lie in [0, 1)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise ValueError(f"invalid {name}: {value!r} (expected a number in [0, 1))")


class RMSprop(Optimizer):
    """RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False, maximize=False, eps_mode="outside_sqrt")."""

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
        rho, eps, mu = h["alpha"], h["eps"], h["momentum"]
        lr = self.lr_vector()
        theta = self.params.data
        xp = B.array_module(theta)
        r = self.zeros_state("square_avg")
        g_avg = self.zeros_state("grad_avg") if h["centered"] else None
        buf = self.zeros_state("momentum_buffer") if mu > 0 else None
        for s in self.chunks():
            d = regularized_gradient(g[s], theta[s], h["weight_decay"], h["maximize"],
                                     out=self.scratch("d", g[s]))
            r[s] = rho * r[s] + (1 - rho) * d * d               # r ← ρr + (1 − ρ)g²
            second = r[s]
            if h["centered"]:
                lerp_(g_avg[s], d, 1 - rho, self.scratch("tmp", d))  # ḡ ← ρḡ + (1 − ρ)g
                second = r[s] - g_avg[s] * g_avg[s]             # variance estimate
            if h["eps_mode"] == "outside_sqrt":
                denom = xp.sqrt(second) + eps
            elif h["eps_mode"] == "inside_sqrt":
                denom = xp.sqrt(second + eps)
            else:
                denom = xp.sqrt(second)
            if mu > 0:
                buf[s] = mu * buf[s] + d / denom
                theta[s] -= self.at(lr, s) * buf[s]
            else:
                theta[s] -= self.at(lr, s) * (d / denom)
