"""SGD + history: note 003 (003_705174833adbb24b.txt, "SGD + History").

    w_i^t = w_i^{t−1} − { η·G^t + τ·G^{t−1} }

The previous gradient smooths the step so one spurious mini-batch gradient does not set
the direction alone.  G^0 (the "previous" gradient at the first step) is 0, so the first
step is plain SGD.  Momentum (note 003's next slide) is the recursive version of this
idea; here exactly two gradients enter each step.

Symbols: lr = η, tau = τ.
"""

from __future__ import annotations

from .. import backend as B
from .base import Optimizer, check_nonnegative


class SGDHistory(Optimizer):
    """SGDHistory(params, lr=1e-3, tau=0.0): w ← w − (η·Gᵗ + τ·Gᵗ⁻¹)."""

    def __init__(self, params, lr=1e-3, tau=0.0, skip_nonfinite=False):
        check_nonnegative("tau", tau)
        super().__init__(params, lr, skip_nonfinite, tau=tau)

    def _update(self, g) -> None:
        lr = self.lr_vector()
        tau = self.hyper["tau"]
        theta = self.params.data
        previous = self.zeros_state("previous_grad")   # G^{t−1}, zero before the first step
        for s in self.chunks():
            xp = B.array_module(theta)
            lr_s = self.at(lr, s)
            step = self.scratch("step", g[s])
            xp.multiply(g[s], lr_s, out=step)                 # η·Gᵗ
            xp.add(step, xp.multiply(previous[s], tau), out=step)  # + τ·Gᵗ⁻¹
            xp.subtract(theta[s], step, out=theta[s])
            previous[s] = g[s]
