"""Pooling layers: MaxPool2d, AvgPool2d (PyTorch's) and GlobalAvgPool2d.

Thin wrappers over ``functional.pooling``; see there for the max-pool gather/scatter
pair.  GlobalAvgPool2d is the head of the CIFAR ResNets of [Yu et al. 2017]
(§4.2): (N, C, H, W) → (N, C).
"""

from __future__ import annotations

from .. import functional as F
from .conv import _int_pair
from .module import Module


def _pair_or_none(layer, name, v, minimum):
    return None if v is None else _int_pair(layer, name, v, minimum)


class _Pool2d(Module):
    _fn = None

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = _pair_or_none(name, "kernel_size", kernel_size, 1)
        self.stride = _pair_or_none(name, "stride", stride, 1) or self.kernel_size
        self.padding = _pair_or_none(name, "padding", padding, 0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{name}: padding {self.padding} must be at most half the kernel size "
                             f"{self.kernel_size}")

    def forward(self, x):
        x = F.as_tensor(x)
        if x.ndim != 4:
            raise ValueError(f"{self.layer_name()}: expected a 4-D input (N, C, H, W), found shape "
                             f"{tuple(x.shape)}")
        for d, what in ((0, "height"), (1, "width")):
            if x.shape[2 + d] + 2 * self.padding[d] < self.kernel_size[d]:
                raise ValueError(f"{self.layer_name()}: kernel {what} {self.kernel_size[d]} is larger "
                                 f"than the padded input {what} {x.shape[2 + d]} + 2·{self.padding[d]}")
        return type(self)._fn(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Maximum of each window (stride defaults to the kernel size; padding ≤ kernel/2)."""

    _fn = staticmethod(F.max_pool2d)


class AvgPool2d(_Pool2d):
    """Mean of each window of the zero-padded input (count_include_pad=True, as PyTorch)."""

    _fn = staticmethod(F.avg_pool2d)


class GlobalAvgPool2d(Module):
    """Mean over H and W: (N, C, H, W) → (N, C)."""

    def forward(self, x):
        x = F.as_tensor(x)
        if x.ndim != 4:
            raise ValueError(f"{self.layer_name()}: expected a 4-D input (N, C, H, W), found shape "
                             f"{tuple(x.shape)}")
        return F.global_avg_pool2d(x)
