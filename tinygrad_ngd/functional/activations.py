"""Activations: sigmoid, tanh, relu, softplus (each class's docstring gives its derivative).

Conventions follow PyTorch: relu'(0) = 0; softplus returns x above the threshold 20.
"""

from __future__ import annotations

from ..tensor import Function, Tensor
from .base import _xp, as_tensor
from .elementwise import where
from .fused import SigmoidGrad, TanhGrad

__all__ = ["sigmoid", "tanh", "relu", "softplus"]


class Sigmoid(Function):
    """σ'(x) = σ(1 − σ):  backward gy·σ(1−σ), jvp ẋ·σ(1−σ) (both the SigmoidGrad node)."""

    def forward(self, x):
        # σ(x) = ½ tanh(x/2) + ½: stable for large |x| and as exact as 1/(1+e^-x);
        # computed in one buffer (the in-place steps avoid three temporaries)
        xp = _xp(x)
        y = xp.multiply(x, 0.5, out=xp.empty_like(x))  # out=: an array even for 0-d x
        xp.tanh(y, out=y)
        y *= 0.5
        y += 0.5
        return y

    def backward(self, gy):
        return SigmoidGrad()(self.output(), gy)  # gy·σ(1−σ) as one node

    def jvp(self, t):
        return SigmoidGrad()(self.output(), t)  # ẋ·σ(1−σ): the same node


class Tanh(Function):
    """tanh'(x) = 1 − tanh²x:  backward gy(1−y²), jvp ẋ(1−y²) (both the TanhGrad node)."""

    def forward(self, x):
        return _xp(x).tanh(x)

    def backward(self, gy):
        return TanhGrad()(self.output(), gy)

    def jvp(self, t):
        return TanhGrad()(self.output(), t)


class ReLU(Function):
    """relu'(x) = 1 for x > 0, else 0 (relu'(0) = 0 as PyTorch)."""

    def forward(self, x):
        return _xp(x).maximum(x, 0)

    def backward(self, gy):
        x = self.inputs[0].data
        return gy * Tensor((x > 0).astype(gy.dtype))  # relu'(0) = 0 as PyTorch

    def jvp(self, t):
        return t * Tensor((self.inputs[0].data > 0).astype(t.dtype))


class Softplus(Function):
    """softplus'(x) = σ(x) (1 above the threshold).  log(1 + e^x); returns x where
    x > threshold (20), as torch.nn.functional.softplus."""

    threshold = 20.0

    def forward(self, x):
        xp = _xp(x)
        return xp.where(x > self.threshold, x, xp.logaddexp(0, x))

    def backward(self, gy):
        x = self.inputs[0]
        big = x.data > self.threshold
        one = Tensor(_xp(x.data).ones((), dtype=x.dtype))
        return gy * where(big, one, sigmoid(x))

    def jvp(self, t):
        x = self.inputs[0]
        one = Tensor(_xp(x.data).ones((), dtype=x.dtype))
        return t * where(x.data > self.threshold, one, sigmoid(x))


def sigmoid(x):
    return Sigmoid()(as_tensor(x))


def tanh(x):
    return Tanh()(as_tensor(x))


def relu(x):
    return ReLU()(as_tensor(x))


def softplus(x):
    return Softplus()(as_tensor(x))
