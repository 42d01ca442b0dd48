"""AdaGradBNG: AdaGrad with block-normalized gradient, [Yu et al. 2017, Appendix Algorithm 2].

[Yu et al. 2017, Appendix, Algorithm 2]:

  3: g_t^i = F′_i(x_t, ξ_t) / ‖F′_i(x_t, ξ_t)‖₂
  4: g_{1:t} = [g_1, …, g_t];  s_t = (‖g_{1:t,1}‖₂, …, ‖g_{1:t,d}‖₂)
  6: τ_t^i = η ‖F′_i(x_t, ξ_t)‖₂ (δ1_{d_i} + s_t^i)^{−1}
  7: x_{t+1} = x_t − τ_t ∘ g_t

s_{t,j} is the norm of row j of the stacked normalized gradients, i.e.
sqrt(Σ_{u≤t} g_{u,j}²), kept as a running sum of squares.  Note that τ_t ∘ g_t =
η F′/(δ + s_t): the block norm ‖F′_i‖ in τ puts the gradient's magnitude back, so unlike
the NG wrappers this method is *not* invariant to scaling the loss.  Theorem 1: for
convex F, E[f(x̄_T) − f(x*)] = O(1/√T) for the average iterate x̄_T = (1/T) Σ_t x_t.
"""

from __future__ import annotations

from .. import backend as B
from .base import Optimizer
from .checks import check_positive
from .norms import l2_norm, safe_divide, scope_slices


class AdaGradBNG(Optimizer):
    """AdaGrad with block-normalized gradient ([Yu et al. 2017, Appendix, Algorithm 2]).

    Arguments → the note's symbols:
      lr     η > 0 (scalar, or one value per block)
      delta  δ > 0
    State: ``sum_sq`` = Σ_{u≤t} g_u ∘ g_u (so s_t = sqrt(sum_sq)).
    """

    def __init__(self, params, lr, delta=1e-8, skip_nonfinite=False):
        check_positive("lr", lr)
        check_positive("delta", delta)
        super().__init__(params, lr, skip_nonfinite=skip_nonfinite, delta=delta)
        self.slices = scope_slices(params, "block")

    def _update(self, F) -> None:
        xp = B.array_module(F)
        g, F_norm = xp.empty_like(F), xp.empty_like(F)
        for sl in self.slices:
            n = l2_norm(F[sl])                                            # ‖F′_i(x_t, ξ_t)‖₂
            F_norm[sl] = n
            g[sl] = safe_divide(F[sl], n)                                 # line 3: g_t^i
        sum_sq = self.zeros_state("sum_sq")
        sum_sq += g * g
        s = xp.sqrt(sum_sq)                                               # line 4: s_t
        tau = self.lr_vector() * F_norm / (self.hyper["delta"] + s)       # line 6: τ_t
        self.params.data -= tau * g                                       # line 7
