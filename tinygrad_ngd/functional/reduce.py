"""Reductions: sum, mean, max, min (amax/amin) and var over axes.
"""

from __future__ import annotations

from ..tensor import Function, Tensor
from .base import _norm_axis, _prod, as_tensor
from .shape import broadcast_to, reshape

__all__ = ["sum", "mean", "max", "min", "var"]


class Sum(Function):
    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.in_shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        return broadcast_to(_restore_dims(gy, self.in_shape, self.axis, self.keepdims), self.in_shape)

    def jvp(self, t):  # linear: Σ ẋ
        return Sum(self.axis, self.keepdims)(t)


def _restore_dims(gy, in_shape, axis, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input."""
    if keepdims or not in_shape:
        return gy
    axes = range(len(in_shape)) if axis is None else axis
    shape = list(gy.shape)
    for a in sorted(axes):
        shape.insert(a, 1)
    return reshape(gy, tuple(shape))


def sum(x, axis=None, keepdims=False):  # noqa: A001 - mirrors torch.sum
    x = as_tensor(x)
    return Sum(_norm_axis(axis, x.ndim), keepdims)(x)


def mean(x, axis=None, keepdims=False):
    x = as_tensor(x)
    ax = _norm_axis(axis, x.ndim)
    n = x.size if ax is None else _prod(x.shape[a] for a in ax)
    return sum(x, ax, keepdims) * (1.0 / n)


class _Extreme(Function):
    """max/min over axes; ties share the gradient equally (PyTorch's amax/amin rule)."""

    def __init__(self, axis, keepdims, largest):
        self.axis, self.keepdims, self.largest = axis, keepdims, largest

    def forward(self, x):
        f = x.max if self.largest else x.min
        return f(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        x = self.inputs[0]
        y = _restore_dims(self.output(), x.shape, self.axis, self.keepdims).data
        mask = (x.data == y).astype(gy.dtype)
        mask /= mask.sum(axis=self.axis, keepdims=True)
        g = _restore_dims(gy, x.shape, self.axis, self.keepdims)
        return broadcast_to(g, x.shape) * Tensor(mask)

    def jvp(self, t):  # the tangent at the extreme (the mean over tied extremes)
        x = self.inputs[0]
        y = _restore_dims(self.output(), x.shape, self.axis, self.keepdims).data
        mask = (x.data == y).astype(t.dtype)
        mask /= mask.sum(axis=self.axis, keepdims=True)
        return sum(t * Tensor(mask), self.axis, self.keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001 - mirrors torch.amax
    x = as_tensor(x)
    return _Extreme(_norm_axis(axis, x.ndim), keepdims, True)(x)


def min(x, axis=None, keepdims=False):  # noqa: A001 - mirrors torch.amin
    x = as_tensor(x)
    return _Extreme(_norm_axis(axis, x.ndim), keepdims, False)(x)


def var(x, axis=None, keepdims=False, correction=1):
    """Variance with PyTorch's default Bessel correction (``correction=0``: biased)."""
    x = as_tensor(x)
    ax = _norm_axis(axis, x.ndim)
    n = x.size if ax is None else _prod(x.shape[a] for a in ax)
    d = x - mean(x, ax, keepdims=True)
    return sum(d * d, ax, keepdims) * (1.0 / (n - correction))
