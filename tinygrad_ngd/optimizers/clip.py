"""ClipGradNorm: gradient clipping by norm, the CLIP baseline of note 001.

Note 001 (001_98c6ef706a98c477.txt) §2 and §4.2: clipping "rescales the gradient norm
to a certain value if it is larger than that threshold" (Pascanu, Mikolov, Bengio 2013);
it does nothing when the gradient is small, which is the difference from normalization.
The paper searched thresholds {0.05, 0.1, 0.5, 1, 5} and used 0.1 (AdamCLIP, SGDMCLIP).

  g ← g · min(1, c / (‖g‖₂ + ε))        c = ``max_norm``, ε = ``eps`` (default 0)

``eps=1e-6`` reproduces ``torch.nn.utils.clip_grad_norm_`` exactly.  (Note 004's
element-wise clipping is a different rule and lives elsewhere.)
"""

from __future__ import annotations

from .. import backend as B
from .base import check_nonnegative, check_positive
from .norms import check_scope, l2_norm, scope_slices
from .wrapper import GradientWrapper


def clip_by_norm(g, max_norm, eps=0.0):
    """g · min(1, max_norm/(‖g‖₂ + eps)) for one vector (a new array; zero stays zero)."""
    xp = B.array_module(g)
    n = l2_norm(g) + eps
    scale = xp.where(n > max_norm, max_norm / xp.where(n > 0, n, 1), 1)
    return g * scale.astype(g.dtype, copy=False)


class ClipGradNorm(GradientWrapper):
    """Feed ``base_optimizer`` the norm-clipped gradient (note 001's CLIP baseline).

    Arguments:
      base_optimizer  any optimizer (SGD with momentum → SGDMCLIP, Adam → AdamCLIP)
      max_norm        the threshold c (> 0; 0.1 in the paper)
      scope           "global": one norm over all parameters (PyTorch's clip_grad_norm_,
                      the usual CLIP); "block": each layer clipped separately
      eps             ε added to the norm (0; 1e-6 matches PyTorch)
    """

    def __init__(self, base_optimizer, max_norm: float = 0.1, scope: str = "global",
                 eps: float = 0.0, params=None):
        check_positive("max_norm", max_norm)
        check_scope(scope, "ClipGradNorm")
        check_nonnegative("eps", eps)
        super().__init__(base_optimizer, params=params, max_norm=max_norm, scope=scope, eps=eps)
        self.slices = scope_slices(self.params, scope)

    def transform(self, g):
        xp = B.array_module(g)
        out = xp.empty_like(g)
        for sl in self.slices:
            out[sl] = clip_by_norm(g[sl], self.hyper["max_norm"], self.hyper["eps"])
        return out
