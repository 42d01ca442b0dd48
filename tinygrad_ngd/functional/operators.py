"""Tensor's Python operators and methods (+, *, @, x[i], x.sum(), ...), installed on the
class when tinygrad_ngd.functional is imported."""

from __future__ import annotations

from ..tensor import Tensor
from .activations import relu, sigmoid, tanh
from .base import as_tensor
from .elementwise import abs, add, div, exp, log, mul, neg, pow, sqrt, sub
from .linalg import matmul
from .reduce import max, mean, min, sum, var
from .shape import broadcast_to, getitem, reshape, transpose


def _install_operators():
    T = Tensor
    T.__add__ = lambda a, b: add(a, b)
    T.__radd__ = lambda a, b: add(b, a)
    T.__sub__ = lambda a, b: sub(a, b)
    T.__rsub__ = lambda a, b: sub(b, a)
    T.__mul__ = lambda a, b: mul(a, b)
    T.__rmul__ = lambda a, b: mul(b, a)
    T.__truediv__ = lambda a, b: div(a, b)
    T.__rtruediv__ = lambda a, b: div(b, a)
    T.__neg__ = lambda a: neg(a)
    T.__pow__ = lambda a, b: pow(a, b)
    T.__rpow__ = lambda a, b: pow(as_tensor(b, a), a)
    T.__matmul__ = lambda a, b: matmul(a, b)
    T.__rmatmul__ = lambda a, b: matmul(b, a)
    T.__getitem__ = lambda a, i: getitem(a, i)
    T.reshape = lambda a, *s: reshape(a, *s)
    def _transpose_method(a, *axes):  # x.transpose(), x.transpose(1, 0), x.transpose((1, 0))
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = axes[0]
        return transpose(a, axes or None)

    T.transpose = _transpose_method
    T.permute = T.transpose
    T.T = property(lambda a: transpose(a))
    T.sum = lambda a, axis=None, keepdims=False: sum(a, axis, keepdims)
    T.mean = lambda a, axis=None, keepdims=False: mean(a, axis, keepdims)
    T.max = lambda a, axis=None, keepdims=False: max(a, axis, keepdims)
    T.min = lambda a, axis=None, keepdims=False: min(a, axis, keepdims)
    T.var = lambda a, axis=None, keepdims=False, correction=1: var(a, axis, keepdims, correction)
    T.exp = lambda a: exp(a)
    T.log = lambda a: log(a)
    T.sqrt = lambda a: sqrt(a)
    T.abs = lambda a: abs(a)
    T.sigmoid = lambda a: sigmoid(a)
    T.tanh = lambda a: tanh(a)
    T.relu = lambda a: relu(a)
    T.broadcast_to = lambda a, shape: broadcast_to(a, shape)
    T.flatten = lambda a, start_dim=0: reshape(a, a.shape[:start_dim] + (-1,))


_install_operators()
