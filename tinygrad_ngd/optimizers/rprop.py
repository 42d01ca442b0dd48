"""Resilient propagation (Rprop): per-weight step sizes driven by gradient signs only.

[Misra, "Rprop Update"] (Riedmiller & Braun 1993):

    if f′_t·f′_{t−1} > 0:  v_t = η⁺·v_{t−1}
    elif f′_t·f′_{t−1} < 0:  v_t = η⁻·v_{t−1}
    else:  v_t = v_{t−1}
    θ_{t+1} = θ_t − sign(f′_t)·v_t,        0 < η⁻ < 1 < η⁺,  v₀ = δ

(the slide's "θ_{t+1} = θ_t − v_t" means the step of size v_t against the gradient's
sign: "you never update using the gradient itself, but by its sign").  Step sizes are
clipped to [step_size_min, step_size_max].  Three variants (names of Igel & Hüsken 2000):

* ``variant="irprop-"`` (default, ``torch.optim.Rprop``): after a sign change the
  gradient is set to 0, so that weight does not move this step and the next step
  counts as "no sign information".  Golden: lr 0.1, gradients 1, 1, 1, −1, 1 → steps
  0.1, 0.12, 0.144, 0, 0.072.
* ``variant="rprop-"``: [Misra]'s rule exactly as written: no zeroing, no backtracking.
* ``variant="rprop+"``: the original Riedmiller–Braun 1993 rule with weight backtracking:
  after a sign change the previous weight update is undone and the gradient is zeroed.

Symbols: lr = δ (the initial v₀); etas = (η⁻, η⁺); step_sizes = (v_min, v_max).
η⁻ = η⁺ = 1 is allowed: the "Manhattan update rule" of [Misra] (fixed steps of size δ).
"""

from __future__ import annotations

from .. import backend as B
from .base import Optimizer
from .checks import check_choice, check_pair, check_positive

_VARIANTS = ("irprop-", "rprop-", "rprop+")


def rprop_update(theta, g, g_prev, v, last_update, *, etas, step_sizes, variant, maximize) -> None:
    """One Rprop step in place [Misra, Rprop Update; Riedmiller & Braun 1993; PyTorch ``Rprop``].
    v = the per-weight step sizes, g_prev = f′_{t−1} as remembered (0 after a sign flip)."""
    xp = B.array_module(theta)
    eta_minus, eta_plus = etas
    if maximize:
        g = -g                                                  # maximize f: ascend along +g
    agreement = g * g_prev                                      # f′_t·f′_{t−1}
    factor = xp.where(agreement > 0, eta_plus,                  # same sign:  v_t = η⁺·v_{t−1}
                      xp.where(agreement < 0, eta_minus, 1.0))  # flip: η⁻·v_{t−1}; else v_{t−1}
    v[...] = xp.clip(v * factor, *step_sizes)                   # v_t in [v_min, v_max]
    flipped = agreement < 0
    if variant == "rprop+":                                     # flip: undo the last update
        last_update[...] = xp.where(flipped, -last_update, -xp.sign(g) * v)
        theta += last_update
    if variant != "rprop-":                                     # iRprop−, Rprop+: forget f′ on a flip
        g = xp.where(flipped, 0, g)
    if variant != "rprop+":
        theta -= xp.sign(g) * v                                 # θ_{t+1} = θ_t − sign(f′_t)·v_t
    g_prev[...] = g                                             # remembered as f′_{t−1}


class Rprop(Optimizer):
    """Rprop(params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False,
    variant="irprop-").  The update is :func:`rprop_update`."""

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), maximize=False,
                 variant="irprop-", skip_nonfinite=False):
        check_positive("lr", lr)
        check_pair("etas", etas, lambda lo, hi: 0.0 < lo <= 1.0 <= hi,
                   "(η⁻, η⁺) with 0 < η⁻ <= 1 <= η⁺")
        check_pair("step_sizes", step_sizes, lambda lo, hi: 0.0 <= lo <= hi,
                   "(min, max) with 0 <= min <= max")
        check_choice("variant", variant, _VARIANTS)
        super().__init__(params, lr, skip_nonfinite, etas=tuple(etas), step_sizes=tuple(step_sizes),
                         maximize=bool(maximize), variant=variant)

    def _update(self, g) -> None:
        h = self.hyper
        if "step_size" not in self.state:           # v₀ = δ = lr (per block if lr is)
            self.zeros_state("step_size")[...] = self.lr_vector()
        arrays = {"theta": self.params.data, "g": g, "g_prev": self.zeros_state("prev"),
                  "v": self.state["step_size"],
                  "last_update": self.zeros_state("last_update") if h["variant"] == "rprop+" else None}
        self.apply(rprop_update, arrays, etas=h["etas"], step_sizes=h["step_sizes"],
                   variant=h["variant"], maximize=h["maximize"])
