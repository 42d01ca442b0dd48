"""The general, broadcasting matrix product (NumPy's matmul rules).
"""

from __future__ import annotations

from ..tensor import Function
from .base import _pair, _xp, add_terms
from .shape import broadcast_to, reshape, sum_to, swapaxes

__all__ = ["matmul"]


class MatMul(Function):
    """Batched, broadcasting a @ b for a.ndim, b.ndim >= 2."""

    def forward(self, a, b):
        return a @ b

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(matmul(gy, swapaxes(b, -1, -2)), a.shape) if self.needs_grad[0] else None
        gb = sum_to(matmul(swapaxes(a, -1, -2), gy), b.shape) if self.needs_grad[1] else None
        return ga, gb

    def jvp(self, ta, tb):  # ȧ b + a ḃ (broadcast to the output's batch shape)
        a, b = self.inputs
        t = add_terms(None if ta is None else matmul(ta, b), None if tb is None else matmul(a, tb))
        shape = self.output().shape
        return t if t.shape == shape else broadcast_to(t, shape)


def matmul(a, b):
    """Matrix product with NumPy's rules (1-D operands promoted, batch dims broadcast)."""
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                         f"({a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else 0]})")
    if a.ndim == 1 or b.ndim == 1:
        a2 = reshape(a, (1,) + a.shape) if a.ndim == 1 else a
        b2 = reshape(b, b.shape + (1,)) if b.ndim == 1 else b
        y = matmul(a2, b2)
        if a.ndim == 1:
            y = reshape(y, y.shape[:-2] + y.shape[-1:])
        if b.ndim == 1:
            y = reshape(y, y.shape[:-1])
        return y
    if a.ndim > 2 or b.ndim > 2:
        try:
            _xp(a.data).broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch dimensions of {a.shape} and {b.shape} cannot be "
                             f"broadcast") from None
    return MatMul()(a, b)
