"""Gradient clipping and weight decay on the flat gradient: one norm-clipping kernel.

* :func:`clip_by_norm` — the kernel: g·min(1, c/(‖g‖ + ε)) (Pascanu, Mikolov, Bengio 2013;
  the CLIP baselines of [Yu et al. 2017, §2, §4.2], which searched c ∈ {0.05, 0.1, 0.5, 1,
  5} and used 0.1).  It does nothing to a small gradient — the difference from
  normalization.  Used by both forms below.
* :func:`clip_grad_norm_` — PyTorch's ``torch.nn.utils.clip_grad_norm_`` in place
  (ε = 1e-6, any p-norm).
* :class:`ClipGradNorm` — the same kernel as a gradient wrapper around any optimizer
  (SGD with momentum → SGDMCLIP, Adam → AdamCLIP), per block or global.
* :func:`clip_grad_value_` — [Ravasi, Cliffs]: ∇J(θᵢ) = min(∇J(θᵢ), th) elementwise.  The
  source writes the one-sided min; the intended (and PyTorch's ``clip_grad_value_``) rule
  limits the magnitude, i.e. clips each entry to [−th, th].
* :func:`add_weight_decay` — coupled L2 decay: the gradient of [Soto]'s regularized loss
  L(W) = Σₙ ℒ + α Ω(W) with Ω(W) = ½‖W‖² adds α·W to the gradient (what PyTorch's
  ``weight_decay`` does in SGD, Adam, …; each rule writes it as ``g = g + weight_decay * theta``).
* :func:`decoupled_weight_decay_` — θ ← (1 − lr·λ) θ (Loshchilov & Hutter's AdamW).

All work on backend arrays and never move a value to the host (except the opt-in
``error_if_nonfinite`` check).
"""

from __future__ import annotations

import math

from .. import backend as B
from .checks import check_nonnegative, check_norm_type, check_positive, check_scope
from .norms import l2_norm, linf_norm, scope_slices
from .wrapper import GradientWrapper


def _flat_grad(grad):
    """Accept a flat backend array or a FlatParameters (then its ``.grad``)."""
    g = getattr(grad, "grad", grad) if not B.is_backend_array(grad) else grad
    if not B.is_backend_array(g) or g.ndim != 1:
        raise TypeError(f"grad must be a flat (1-D) backend array or a FlatParameters, "
                        f"got {type(grad).__name__}")
    return g


def grad_norm(grad, norm_type: float = 2.0):
    """‖g‖_p of the flat gradient as a 0-d backend array (p = 2 and ∞ are
    :func:`.norms.l2_norm` / :func:`.norms.linf_norm`; other p: (Σ|gᵢ|ᵖ)^(1/p))."""
    g = _flat_grad(grad)
    if norm_type == math.inf:
        return linf_norm(g)
    if norm_type == 2.0:
        return l2_norm(g)
    xp = B.array_module(g)
    return xp.sum(xp.abs(g) ** norm_type) ** (1.0 / norm_type)


def clip_by_norm(g, max_norm, eps=0.0, norm_type=2.0):
    """(g·min(1, c/(‖g‖_p + ε)), ‖g‖_p): the clipped vector (new) and the norm before.

    c = ``max_norm``.  A zero vector stays zero (no 0/0); a NaN norm propagates."""
    xp = B.array_module(g)
    total = grad_norm(g, norm_type)                            # ‖g‖_p
    n = total + eps                                            # ‖g‖ + ε
    factor = xp.minimum(max_norm / xp.where(n == 0, 1, n), 1)  # min(1, c/(‖g‖ + ε))
    return g * factor.astype(g.dtype, copy=False), total


def clip_grad_norm_(grad, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False):
    """Scale g in place by min(1, max_norm / (‖g‖ + 1e-6)); return ‖g‖ before clipping.

    PyTorch semantics (``torch.nn.utils.clip_grad_norm_``): the 1e-6 guards a zero norm,
    the factor is applied even when it is 1, and the returned total norm is the norm of
    the whole flat gradient (PyTorch's norm of per-tensor norms, equal up to round-off).
    The norm is returned as a 0-d backend array: use ``backend.item`` to log it.
    ``error_if_nonfinite=True`` raises FloatingPointError on a nan/inf norm (a host sync)
    and leaves g unchanged.
    """
    check_nonnegative("max_norm", max_norm)
    check_norm_type(norm_type)
    g = _flat_grad(grad)
    clipped, total = clip_by_norm(g, max_norm, 1e-6, float(norm_type))
    if error_if_nonfinite and not bool(B.array_module(g).isfinite(total)):  # explicit host check, opt-in
        raise FloatingPointError(f"clip_grad_norm_: the total norm of order {norm_type} is non-finite")
    g[...] = clipped
    return total


class ClipGradNorm(GradientWrapper):
    """Feed ``base_optimizer`` the norm-clipped gradient ([Yu et al. 2017]'s CLIP baseline).

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
            out[sl] = clip_by_norm(g[sl], self.hyper["max_norm"], self.hyper["eps"])[0]
        return out


def clip_grad_value_(grad, clip_value: float):
    """[Ravasi]'s elementwise threshold: gᵢ ← clip(gᵢ, −th, th) in place (th = clip_value)."""
    check_nonnegative("clip_value", clip_value)
    g = _flat_grad(grad)
    g[...] = B.array_module(g).clip(g, -clip_value, clip_value)
    return g


def add_weight_decay(grad, theta, weight_decay: float):
    """Coupled L2 decay: return a new g + λθ (``grad`` is not modified)."""
    return grad + weight_decay * theta               # g + λθ


def decoupled_weight_decay_(theta, lr, weight_decay: float):
    """Decoupled decay θ ← θ·(1 − lr·λ) in place (``lr`` a scalar or a per-coordinate array)."""
    theta *= 1 - lr * weight_decay
    return theta
