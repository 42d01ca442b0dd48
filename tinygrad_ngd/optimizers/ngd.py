"""Normalized gradient descent (NGD) with an optional momentum term.

[Kolasiński 2018, §2]:   θ^(k+1) = θ^(k) − λ^(k) G^(k)/‖G^(k)‖
[Kolasiński 2018, §5] (momentum):                   V^(k) = m V^(k−1) + G^(k)
                                          θ^(k+1) = θ^(k) − λ^(k) V^(k)/‖V^(k)‖
With ``scope="block"`` the division is done per block (per layer), which is [Yu et al. 2017]'s
Algorithm 1 with a constant step size.
"""

from __future__ import annotations

from .base import Optimizer
from .checks import check_momentum, check_norm, check_scope
from .norms import normalize_blocks, scope_slices


def velocity(v, g, m) -> None:
    """V^(k) = m V^(k−1) + G^(k) in place [Kolasiński 2018, §5] (m a number, or per coordinate).
    Shared with AdaptiveNGD, whose step uses the same V."""
    v *= m                                          # m V^(k−1)
    v += g                                          # + G^(k)


def ngd_update(theta, g, v, *, lr, momentum, norm, slices) -> None:
    """One NGD step in place [Kolasiński 2018, §2 and §5]; ``slices`` are the blocks each
    normalized by its own norm ([Yu et al. 2017, Alg. 1]) or one slice for the whole vector."""
    d = g
    if momentum:
        velocity(v, g, momentum)                    # V^(k) = m V^(k−1) + G^(k)
        d = v
    theta -= lr * normalize_blocks(d, slices, norm)  # θ^(k+1) = θ^(k) − λ^(k) D/‖D‖,  D = G or V


class NGD(Optimizer):
    """Normalized gradient descent, [Kolasiński 2018, §2] (and §5 with ``momentum > 0``);
    the update is :func:`ngd_update`.

    Arguments → the source's symbols:
      lr        λ (scalar, or one value per block)
      norm      ‖·‖: "linf", "l2", "rms" (= ‖G‖₂/√N) or "std" (see :mod:`.norms`)
      scope     "block": each block (layer) is normalized by its own norm ([Yu et al. 2017,
                Alg. 1]); "global": the whole vector by one norm ([Kolasiński 2018, §2])
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

    def _update(self, g) -> None:
        # not chunked: a norm reads a whole block
        h = self.hyper
        v = self.zeros_state("velocity") if h["momentum"] else None
        ngd_update(self.params.data, g, v, lr=self.lr_vector(), momentum=h["momentum"],
                   norm=h["norm"], slices=self.slices)
