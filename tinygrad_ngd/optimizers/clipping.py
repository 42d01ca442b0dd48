"""Gradient clipping and weight decay on the flat gradient.

* :func:`clip_grad_norm_` — rescale the whole gradient when its norm exceeds a bound
  (Pascanu et al. 2013; note 001's "CLIP" baselines, 001_98c6ef706a98c477.txt §4.2),
  with PyTorch's ``torch.nn.utils.clip_grad_norm_`` semantics.
* :func:`clip_grad_value_` — note 004 (004_afb8093925c778b0.txt, "Cliffs"):
  ∇J(θᵢ) = min(∇J(θᵢ), th) elementwise.  The note writes the one-sided min; the
  intended (and PyTorch's ``clip_grad_value_``) rule limits the magnitude, i.e. clips
  each entry to [−th, th].
* :func:`add_weight_decay` — coupled L2 decay: the gradient of note 003's regularized
  loss L(W) = Σₙ ℒ + α Ω(W) with Ω(W) = ½‖W‖² adds α·W to the gradient (what PyTorch's
  ``weight_decay`` does in SGD, Adam, …).
* :func:`decoupled_weight_decay_` — θ ← (1 − lr·λ) θ before the update (Loshchilov &
  Hutter's AdamW; PyTorch ``AdamW`` / ``Adam(decoupled_weight_decay=True)``).

All work in place on backend arrays and never move a value to the host.
"""

from __future__ import annotations

import math

from .. import backend as B


def _flat_grad(grad):
    """Accept a flat backend array or a FlatParameters (then its ``.grad``)."""
    g = getattr(grad, "grad", grad) if not B.is_backend_array(grad) else grad
    if not B.is_backend_array(g) or g.ndim != 1:
        raise TypeError(f"grad must be a flat (1-D) backend array or a FlatParameters, "
                        f"got {type(grad).__name__}")
    return g


def grad_norm(grad, norm_type: float = 2.0):
    """‖g‖_p of the flat gradient as a 0-d backend array (p = inf: max |gᵢ|)."""
    g = _flat_grad(grad)
    xp = B.array_module(g)
    if norm_type == math.inf:
        return xp.max(xp.abs(g))
    if norm_type == 2.0:
        return xp.sqrt(xp.dot(g, g))
    return xp.sum(xp.abs(g) ** norm_type) ** (1.0 / norm_type)


def clip_grad_norm_(grad, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False):
    """Scale g in place by min(1, max_norm / (‖g‖ + 1e-6)); return ‖g‖ before clipping.

    PyTorch semantics (``torch.nn.utils.clip_grad_norm_``): the 1e-6 guards a zero norm,
    the factor is applied even when it is 1, and the returned total norm is the norm of
    the whole flat gradient (PyTorch's norm of per-tensor norms, equal up to round-off).
    The norm is returned as a 0-d backend array: use ``backend.item`` to log it.
    ``error_if_nonfinite=True`` raises FloatingPointError on a nan/inf norm (a host sync).
    """
    if not isinstance(max_norm, (int, float)) or isinstance(max_norm, bool) or not max_norm >= 0:
        raise ValueError(f"invalid max_norm: {max_norm!r} (expected a number >= 0)")
    if not isinstance(norm_type, (int, float)) or isinstance(norm_type, bool) or not norm_type > 0:
        raise ValueError(f"invalid norm_type: {norm_type!r} (expected a number > 0 or math.inf)")
    g = _flat_grad(grad)
    xp = B.array_module(g)
    total = grad_norm(g, float(norm_type))
    if error_if_nonfinite and not bool(xp.isfinite(total)):  # explicit host check, opt-in
        raise FloatingPointError(f"clip_grad_norm_: the total norm of order {norm_type} is non-finite")
    factor = xp.minimum(max_norm / (total + 1e-6), 1.0).astype(g.dtype)
    xp.multiply(g, factor, out=g)
    return total


def clip_grad_value_(grad, clip_value: float):
    """Note 004's elementwise threshold: gᵢ ← clip(gᵢ, −th, th) in place (th = clip_value)."""
    if not isinstance(clip_value, (int, float)) or isinstance(clip_value, bool) or not clip_value >= 0:
        raise ValueError(f"invalid clip_value: {clip_value!r} (expected a number >= 0)")
    g = _flat_grad(grad)
    xp = B.array_module(g)
    xp.clip(g, -clip_value, clip_value, out=g)
    return g


def add_weight_decay(grad, theta, weight_decay: float, out=None):
    """Coupled L2 decay: return g + λθ (into ``out`` when given; ``grad`` is not modified)."""
    xp = B.array_module(grad, theta)
    if out is None:
        out = xp.empty_like(grad)
    xp.multiply(theta, weight_decay, out=out)
    xp.add(grad, out, out=out)
    return out


def decoupled_weight_decay_(theta, lr, weight_decay: float):
    """Decoupled decay θ ← θ·(1 − lr·λ) in place (``lr`` a scalar or a per-coordinate array)."""
    xp = B.array_module(theta)
    xp.multiply(theta, 1 - lr * weight_decay, out=theta)
    return theta


def regularized_gradient(grad, theta, weight_decay: float, maximize: bool, out):
    """The gradient an update uses: (−g if maximize else g) + λθ, PyTorch's order.

    Returns ``grad`` itself when neither applies (no copy); otherwise writes into ``out``.
    """
    xp = B.array_module(grad, theta)
    if not maximize and weight_decay == 0:
        return grad
    if maximize:
        xp.negative(grad, out=out)
    else:
        out[...] = grad
    if weight_decay != 0:
        xp.add(out, xp.multiply(theta, weight_decay), out=out)
    return out
