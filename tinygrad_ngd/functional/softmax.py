"""logsumexp, softmax and log_softmax over one axis (numerically shifted by the maximum).
"""

from __future__ import annotations

from ..tensor import Function
from .base import _norm_axis, _xp, as_tensor
from .elementwise import exp
from .reduce import _restore_dims, sum

__all__ = ["logsumexp", "softmax", "log_softmax"]


class LogSumExp(Function):
    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        xp = _xp(x)
        m = x.max(axis=self.axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        y = xp.log(xp.exp(x - m).sum(axis=self.axis, keepdims=True)) + m
        return y if self.keepdims else y.squeeze(axis=self.axis)

    def backward(self, gy):
        x = self.inputs[0]
        y = _restore_dims(self.output(), x.shape, self.axis, self.keepdims)
        g = _restore_dims(gy, x.shape, self.axis, self.keepdims)
        return g * exp(x - y)

    def jvp(self, t):  # Σ softmax(x) ẋ over the axes
        x = self.inputs[0]
        y = _restore_dims(self.output(), x.shape, self.axis, self.keepdims)
        return sum(exp(x - y) * t, self.axis, self.keepdims)


class Softmax(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = _xp(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        e /= e.sum(axis=self.axis, keepdims=True)
        return e

    def backward(self, gy):
        y = self.output()
        gyy = gy * y
        return gyy - y * sum(gyy, self.axis, keepdims=True)

    def jvp(self, t):  # y ⊙ (ẋ − Σ y ẋ)
        y = self.output()
        return y * (t - sum(y * t, self.axis, keepdims=True))


class LogSoftmax(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = _xp(x)
        z = x - x.max(axis=self.axis, keepdims=True)
        return z - xp.log(xp.exp(z).sum(axis=self.axis, keepdims=True))

    def backward(self, gy):
        y = self.output()
        return gy - exp(y) * sum(gy, self.axis, keepdims=True)

    def jvp(self, t):  # ẋ − Σ softmax(x) ẋ
        return t - sum(exp(self.output()) * t, self.axis, keepdims=True)


def logsumexp(x, axis=None, keepdims=False):
    x = as_tensor(x)
    return LogSumExp(_norm_axis(axis, x.ndim) if axis is not None else tuple(range(x.ndim)),
                     keepdims)(x)


def softmax(x, axis=-1):
    x = as_tensor(x)
    return Softmax(_norm_axis(axis, x.ndim)[0])(x)


def log_softmax(x, axis=-1):
    x = as_tensor(x)
    return LogSoftmax(_norm_axis(axis, x.ndim)[0])(x)
