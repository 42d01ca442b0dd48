"""Is a gradient step safe?  [Ravasi]'s second-order bound.

[Ravasi, "Ill-conditioning"]: the second-order Taylor
expansion at θ₀ evaluated at the gradient step θ = θ₀ − αg is

    J(θ₀ − αg) ≈ J(θ₀) − α gᵀg + ½ α² gᵀHg

(the note prints the first-order term as −gᵀg; substituting θ − θ₀ = −αg into its own
expansion J(θ₀) + (θ−θ₀)ᵀg + ½(θ−θ₀)ᵀH(θ−θ₀) gives −α gᵀg, which is used here).  The
step raises the cost when ½α²gᵀHg > αgᵀg, i.e. for α > 2 gᵀg / gᵀHg; the model's best
step is α* = gᵀg / gᵀHg.  With gᵀHg ≤ 0 the model decreases for every α > 0 (no bound).
For a quadratic J the prediction is exact.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .. import backend as B
from .hvp import gradient, hvp
from .operator import check_flat_vector


class StepSafety(NamedTuple):
    alpha: float
    gTg: float                 # gᵀg
    gTHg: float                # gᵀHg
    first_order: float         # −α gᵀg
    second_order: float        # ½ α² gᵀHg
    predicted_change: float    # −α gᵀg + ½ α² gᵀHg
    alpha_max: float           # 2 gᵀg / gᵀHg (inf when gᵀHg ≤ 0): largest α still decreasing the model
    alpha_best: float          # gᵀg / gᵀHg (inf when gᵀHg ≤ 0): minimizer of the model along −g
    safe: bool                 # predicted_change < 0


def step_safety(g=None, Hg=None, alpha: float | None = None, *, loss_fn=None, params=None) -> StepSafety:
    """[Ravasi]'s analysis of the step −αg.

    Give the flat gradient ``g`` and ``Hg`` = H g, or ``loss_fn`` and ``params`` to
    compute whichever is missing (g by backward, Hg by :func:`hvp`).  ``alpha`` > 0 is
    the step size α.
    """
    if alpha is None or not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"step_safety: alpha must be a finite number > 0, got {alpha!r}")
    if (g is None or Hg is None) and (loss_fn is None or params is None):
        raise ValueError("step_safety: give g and Hg, or loss_fn and params to compute them")
    if g is None:
        _, g = gradient(loss_fn, params)
    if Hg is None:
        Hg = hvp(loss_fn, params, g)
    if not B.is_backend_array(g) or g.ndim != 1:
        raise ValueError(f"step_safety: g must be a flat backend array, got {type(g).__name__} "
                         f"of shape {getattr(g, 'shape', None)}")
    if params is not None:
        check_flat_vector(g, params.numel, "step_safety: g")
    check_flat_vector(Hg, g.shape[0], "step_safety: Hg")
    # two scalars leave the device: the result is a report in Python numbers
    gTg = B.item(g @ g)
    gTHg = B.item(g @ Hg)
    first = -alpha * gTg
    second = 0.5 * alpha * alpha * gTHg
    if gTHg > 0:
        a_max, a_best = 2.0 * gTg / gTHg, gTg / gTHg
    else:
        a_max = a_best = math.inf
    change = first + second
    return StepSafety(float(alpha), gTg, gTHg, first, second, change, a_max, a_best, change < 0)
