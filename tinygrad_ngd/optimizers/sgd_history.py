"""SGD + history: [Soto, "SGD + History"].

    w_i^t = w_i^{t−1} − { η·G^t + τ·G^{t−1} }

The previous gradient smooths the step so one spurious mini-batch gradient does not set
the direction alone.  G^0 (the "previous" gradient at the first step) is 0, so the first
step is plain SGD.  Momentum ([Soto]'s next slide) is the recursive version of this
idea; here exactly two gradients enter each step.

Symbols: lr = η, tau = τ.
"""

from __future__ import annotations

from .base import Optimizer
from .checks import check_nonnegative


def sgd_history_update(theta, g, g_prev, *, lr, tau) -> None:
    """One step in place [Soto, SGD + History]; g_prev = G^{t−1} (0 before the first step)."""
    theta -= lr * g + tau * g_prev                  # w^t = w^{t−1} − {η·G^t + τ·G^{t−1}}
    g_prev[...] = g                                 # G^{t−1} ← G^t


class SGDHistory(Optimizer):
    """SGDHistory(params, lr=1e-3, tau=0.0): w ← w − (η·Gᵗ + τ·Gᵗ⁻¹); :func:`sgd_history_update`."""

    def __init__(self, params, lr=1e-3, tau=0.0, skip_nonfinite=False):
        check_nonnegative("tau", tau)
        super().__init__(params, lr, skip_nonfinite, tau=tau)

    def _update(self, g) -> None:
        arrays = {"theta": self.params.data, "g": g, "g_prev": self.zeros_state("previous_grad")}
        self.apply(sgd_history_update, arrays, lr=self.lr_vector(), tau=self.hyper["tau"])
