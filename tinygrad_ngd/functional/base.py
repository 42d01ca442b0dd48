"""Helpers shared by the functional modules: the array module of operands, scalars as
Tensors (weak scalar typing), broadcast and axis checks.
"""

from __future__ import annotations

from .. import backend as B
from ..tensor import Tensor

__all__ = ["as_tensor"]


def _xp(*arrays):
    return B.array_module(*arrays)


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """Wrap a scalar or array as a constant Tensor; Python scalars take ``like``'s dtype
    (weak scalars: ``float32_tensor * 0.5`` stays float32)."""
    if isinstance(x, Tensor):
        return x
    scalar = isinstance(x, (int, float)) or (getattr(x, "ndim", None) == 0 and not B.is_backend_array(x))
    if like is not None and scalar:
        dtype = like.dtype if like.dtype.kind in "fc" else None
        return Tensor(_xp(like.data).full((), x, dtype=dtype))  # filled on the device: no host copy
    return Tensor(x)


def _pair(a, b):
    """Two operands as Tensors, a Python scalar taking the other operand's dtype."""
    if not isinstance(a, Tensor):
        a = as_tensor(a, b)
    if not isinstance(b, Tensor):
        b = as_tensor(b, a)
    return a, b


def _check_broadcast(op, a, b):
    try:
        return _xp(a, b).broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None


def _norm_axis(axis, ndim):
    if axis is None:
        return None
    if isinstance(axis, int):
        axis = (axis,)
    bad = [a for a in axis if ndim and not -ndim <= a < ndim]
    if bad:   # as NumPy's AxisError; a wrap-around (a % ndim) would silently pick another axis
        raise ValueError(f"axis {bad[0]} is out of bounds for a Tensor of {ndim} dimension(s)")
    return tuple(a % ndim if ndim else a for a in axis)


def _prod(it):
    p = 1
    for v in it:
        p *= v
    return p


# ---------------------------------------------------------------- forward-mode helpers
def zeros_like(x: Tensor) -> Tensor:
    """A constant Tensor of zeros with x's shape and dtype."""
    return Tensor(_xp(x.data).zeros(x.shape, dtype=x.dtype))


def tangent_or_zeros(t, x: Tensor) -> Tensor:
    """The tangent t, or zeros of x's shape where x carries none."""
    return zeros_like(x) if t is None else t


def add_terms(*terms):
    """Σ of the terms that are not None (a JVP rule's contributions from the inputs that
    carry a tangent); None if all are."""
    out = None
    for t in terms:
        if t is not None:
            out = t if out is None else out + t
    return out
