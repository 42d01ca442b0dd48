"""NGAdap: the normalized gradient rescaled by the weight norm ([Yu et al. 2017]'s NG_adap).

[Yu et al. 2017, §4.2]:

  NG_adap := NG × (norm of variable) × α = Grad × ‖w‖/‖g‖ × α

per block (layer), with α = 0.02 the best of {0.01, 0.02, 0.05} in the paper's search.
This is the layer-wise trust ratio of LARS (You, Gitman, Ginsburg 2017) and LAMB without
weight decay: LARS's local rate η‖w‖/(‖g‖ + β_wd‖w‖) with β_wd = 0 and trust
coefficient η = α.  The scaled gradient is handed to any base optimizer
(SGDM → SGDMNG_adap, Adam → AdamNG_adap).
"""

from __future__ import annotations

from .. import backend as B
from .checks import check_positive
from .norms import l2_norm, safe_divide, scope_slices
from .wrapper import GradientWrapper


def trust_ratio(w, g, alpha):
    """α ‖w‖₂/‖g‖₂ for one block (0 when ‖g‖ = 0; a zero-weight block gets 0, as the
    formula says — LARS implementations substitute 1 there, [Yu et al. 2017] does not)."""
    return alpha * safe_divide(l2_norm(w), l2_norm(g))


class NGAdap(GradientWrapper):
    """Feed ``base_optimizer`` g·α‖w‖/‖g‖ per block ([Yu et al. 2017, §4.2], NG_adap).

    Arguments → the note's symbols:
      base_optimizer  the step-size rule (SGD with momentum, Adam, …)
      alpha           α, the constant ratio (> 0; the paper's best is 0.02)
      scope           "block" (per layer, as in the paper) or "global"
      params          optional: checked to be the parameters the base optimizer updates

    Norms are L2.  Note the step scales with ‖w‖: a block whose weights are all zero does
    not move.
    """

    def __init__(self, base_optimizer, alpha: float = 0.02, scope: str = "block", params=None):
        check_positive("alpha", alpha)
        super().__init__(base_optimizer, params=params, alpha=alpha, scope=scope)
        self.slices = scope_slices(self.params, scope)

    def transform(self, g):
        xp = B.array_module(g)
        out = xp.empty_like(g)
        w = self.params.data
        for sl in self.slices:
            out[sl] = g[sl] * trust_ratio(w[sl], g[sl], self.hyper["alpha"])
        return out
