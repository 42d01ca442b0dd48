"""Resilient propagation (Rprop): per-weight step sizes driven by gradient signs only.

Note 002 (002_3de7ef65372a02f2.txt, "Rprop Update"; Riedmiller & Braun 1993):

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
* ``variant="rprop-"``: note 002's rule exactly as written: no zeroing, no backtracking.
* ``variant="rprop+"``: the original Riedmiller–Braun 1993 rule with weight backtracking:
  after a sign change the previous weight update is undone and the gradient is zeroed.

Symbols: lr = δ (the initial v₀); etas = (η⁻, η⁺); step_sizes = (v_min, v_max).
η⁻ = η⁺ = 1 is allowed: the "Manhattan update rule" of note 002 (fixed steps of size δ).
"""

from __future__ import annotations

from .. import backend as B
from .base import Optimizer, check_positive

_VARIANTS = ("irprop-", "rprop-", "rprop+")


class Rprop(Optimizer):
    """Rprop(params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False,
    variant="irprop-")."""

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), maximize=False,
                 variant="irprop-", skip_nonfinite=False):
        check_positive("lr", lr)
        if (not isinstance(etas, (tuple, list)) or len(etas) != 2
                or not all(isinstance(e, (int, float)) for e in etas)
                or not 0.0 < etas[0] <= 1.0 <= etas[1]):
            raise ValueError(f"invalid etas: {etas!r} (expected (η⁻, η⁺) with 0 < η⁻ <= 1 <= η⁺)")
        if (not isinstance(step_sizes, (tuple, list)) or len(step_sizes) != 2
                or not all(isinstance(e, (int, float)) for e in step_sizes)
                or not 0.0 <= step_sizes[0] <= step_sizes[1]):
            raise ValueError(f"invalid step_sizes: {step_sizes!r} (expected (min, max) with "
                             "0 <= min <= max)")
        if variant not in _VARIANTS:
            raise ValueError(f"invalid variant: {variant!r} (expected one of {_VARIANTS})")
        super().__init__(params, lr, skip_nonfinite, etas=tuple(etas), step_sizes=tuple(step_sizes),
                         maximize=bool(maximize), variant=variant)

    def _update(self, g) -> None:
        h = self.hyper
        eta_minus, eta_plus = h["etas"]
        step_min, step_max = h["step_sizes"]
        theta = self.params.data
        xp = B.array_module(theta)
        if "step_size" not in self.state:           # v₀ = δ = lr (per block if lr is)
            self.state["step_size"] = xp.full_like(theta, 0) + self.lr_vector()
        step_size = self.state["step_size"]
        previous = self.zeros_state("prev")          # f′_{t−1} (0 before the first step)
        last_update = self.zeros_state("last_update") if h["variant"] == "rprop+" else None
        for s in self.chunks():
            grad = -g[s] if h["maximize"] else g[s].copy()
            agreement = grad * previous[s]           # f′_t · f′_{t−1}
            factor = xp.where(agreement > 0, eta_plus, xp.where(agreement < 0, eta_minus, 1.0))
            xp.clip(step_size[s] * factor, step_min, step_max, out=step_size[s])
            flipped = agreement < 0
            if h["variant"] == "rprop-":
                theta[s] -= xp.sign(grad) * step_size[s]
            elif h["variant"] == "irprop-":
                grad[flipped] = 0                    # no move now, no sign memory next step
                theta[s] -= xp.sign(grad) * step_size[s]
            else:                                    # rprop+: undo the previous update on a flip
                update = xp.where(flipped, -last_update[s], -xp.sign(grad) * step_size[s])
                theta[s] += update
                last_update[s] = update
                grad[flipped] = 0
            previous[s] = grad
