"""BlockNormalized: [Yu et al. 2017]'s generic Block-Normalized Gradient (BNG) method.

[Yu et al. 2017, §3, Algorithm 1]:

  3: g_t^i = F′_i(x_t, ξ_t) / ‖F′_i(x_t, ξ_t)‖₂      (each block i = one layer)
  4: g_t = (g_t^1, …, g_t^B); choose step sizes τ_t
  5: x_{t+1} = x_t − τ_t ∘ g_t

The step-size rule τ_t is any existing optimizer fed g_t instead of the gradient:
``BlockNormalized(SGD(...))`` is SGDNG, with momentum SGDMNG, ``BlockNormalized(Adagrad(...))``
AdaGradNG and ``BlockNormalized(Adam(...))`` AdamNG — the "NG" methods of §4.
"""

from __future__ import annotations

from .checks import check_norm, check_scope
from .norms import normalize_blocks, scope_slices
from .wrapper import GradientWrapper


class BlockNormalized(GradientWrapper):
    """Feed ``base_optimizer`` the block-normalized gradient ([Yu et al. 2017, Algorithm 1]).

    Arguments → the note's symbols:
      base_optimizer  the step-size rule τ_t (SGD, momentum SGD, Adagrad, Adam, RMSprop, …)
      norm            ‖·‖ per block: "l2" ([Yu et al. 2017]) or [Kolasiński 2018]'s "linf", "rms", "std"
      scope           "block" (x = (x¹, …, x^B), one block per layer) or "global" (B = 1)
      params          optional: checked to be the parameters the base optimizer updates

    A zero block gradient stays zero (never NaN); ``params.grad`` is not modified.
    """

    def __init__(self, base_optimizer, norm: str = "l2", scope: str = "block", params=None):
        check_norm(norm, "BlockNormalized")
        check_scope(scope, "BlockNormalized")
        super().__init__(base_optimizer, params=params, norm=norm, scope=scope)
        self.slices = scope_slices(self.params, scope)

    def transform(self, g):
        """g_t = (F′₁/‖F′₁‖, …, F′_B/‖F′_B‖) (Algorithm 1, line 3)."""
        return normalize_blocks(g, self.slices, self.hyper["norm"])
