"""Normalized gradient descent (NGD) with an optional momentum term.

Note 000 (000_ddbaaaf39d5fc69e.txt) §2:   θ^(k+1) = θ^(k) − λ^(k) G^(k)/‖G^(k)‖
Note 000 §5 (momentum):                   V^(k) = m V^(k−1) + G^(k)
                                          θ^(k+1) = θ^(k) − λ^(k) V^(k)/‖V^(k)‖
With ``scope="block"`` the division is done per block (per layer), which is note 001's
Algorithm 1 (001_98c6ef706a98c477.txt) with a constant step size.
"""

from __future__ import annotations

from .base import Optimizer, check_nonnegative
from .norms import check_norm, check_scope, normalize_blocks, scope_slices


def check_momentum(name: str, value) -> None:
    """ValueError naming the argument unless 0 <= value < 1."""
    check_nonnegative(name, value)
    if value >= 1:
        raise ValueError(f"invalid {name}: {value!r} (expected 0 <= {name} < 1)")


class NGD(Optimizer):
    """Normalized gradient descent, note 000 §2 (and §5 with ``momentum > 0``).

    Arguments → the note's symbols:
      lr        λ (scalar, or one value per block)
      norm      ‖·‖: "linf", "l2", "rms" (= ‖G‖₂/√N) or "std" (see :mod:`.norms`)
      scope     "block": each block (layer) is normalized by its own norm (note 001,
                Algorithm 1); "global": the whole vector by one norm (note 000 §2)
      momentum  m of §5; the step uses V/‖V‖ with V = mV + G (0 = plain NGD)

    A block whose gradient (or velocity) is zero takes a zero step.
    """

    def __init__(self, params, lr, norm: str = "l2", scope: str = "block", momentum: float = 0.0,
                 skip_nonfinite: bool = False):
        check_norm(norm, "NGD")
        check_scope(scope, "NGD")
        check_momentum("momentum", momentum)
        super().__init__(params, lr, skip_nonfinite=skip_nonfinite, norm=norm, scope=scope,
                         momentum=momentum)
        self.slices = scope_slices(params, scope)

    def direction(self, g):
        """The vector that is normalized: G, or V^(k) = m V^(k−1) + G^(k) (note 000 §5)."""
        m = self.hyper["momentum"]
        if m == 0:
            return g
        v = self.zeros_state("velocity")
        v *= m
        v += g
        return v

    def _update(self, g) -> None:
        d_hat = normalize_blocks(self.direction(g), self.slices, self.hyper["norm"])
        self.params.data -= self.lr_vector() * d_hat      # θ −= λ · D/‖D‖
