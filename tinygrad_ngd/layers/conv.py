"""Conv2d and Conv1d layers (PyTorch's nn.Conv2d / nn.Conv1d, no dilation, groups=1).

The convolutional networks of [Yu et al. 2017]: the CIFAR ResNets
(§4.2) and the one-layer sentence CNN of Kim (2014) (§4.5).  The weight has PyTorch's
layout (out_channels, in_channels, kh, kw) and default initialization
(kaiming_uniform with a = √5, i.e. U(−1/√fan_in, 1/√fan_in) with fan_in = in·kh·kw, for
the weight and the same interval for the bias), drawn on the host (weight, then bias).
The computation is ``functional.conv2d``: im2col, one matrix product, reshape.
"""

from __future__ import annotations

from .. import functional as F
from ..functional.conv import conv_output_size
from . import init
from .module import Module, Parameter


def _positive_int(layer, name, v):
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ValueError(f"{layer}: {name} must be a positive integer, got {v!r}")
    return v


def _int_pair(layer, name, v, minimum):
    """(v, v) for an int, the pair for a 2-sequence; a ValueError naming the layer and the
    argument unless both are ints >= minimum (shared by the conv and pooling layers)."""
    is_int = isinstance(v, int) and not isinstance(v, bool)
    pair = (v, v) if is_int else tuple(v) if isinstance(v, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(isinstance(a, int) and not isinstance(a, bool)
                                                 and a >= minimum for a in pair):
        raise ValueError(f"{layer}: {name} must be an int >= {minimum} or a pair of them, got {v!r}")
    return pair


class Conv2d(Module):
    """y = conv2d(x, W, b); x (N, C_in, H, W) → (N, C_out, OH, OW), OH = ⌊(H + 2p − kh)/s⌋ + 1.

    ``kernel_size``, ``stride`` and ``padding`` are ints or (h, w) pairs; a stride of 0
    and a kernel larger than the padded input are rejected (the latter at the call).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 dtype=None):
        super().__init__()
        name = type(self).__name__
        self.in_channels = _positive_int(name, "in_channels", in_channels)
        self.out_channels = _positive_int(name, "out_channels", out_channels)
        self.kernel_size = _int_pair(name, "kernel_size", kernel_size, 1)
        self.stride = _int_pair(name, "stride", stride, 1)
        self.padding = _int_pair(name, "padding", padding, 0)
        shape = (out_channels, in_channels) + self.kernel_size
        fan_in = in_channels * self.kernel_size[0] * self.kernel_size[1]
        self.weight = Parameter(init.linear_default_weight(shape, dtype=dtype))
        if bias:
            self.bias = Parameter(init.linear_default_bias((out_channels,), fan_in, dtype=dtype))
        else:
            self.register_parameter("bias", None)

    def _check_input(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self.layer_name()}: expected input (N, {self.in_channels}, H, W), "
                             f"found shape {tuple(x.shape)}")
        for d, what in ((0, "height"), (1, "width")):
            try:
                conv_output_size(x.shape[2 + d], self.kernel_size[d], self.stride[d], self.padding[d])
            except ValueError:
                raise ValueError(f"{self.layer_name()}: kernel {what} {self.kernel_size[d]} is larger "
                                 f"than the padded input {what} {x.shape[2 + d]} + 2·{self.padding[d]} "
                                 f"(input shape {tuple(x.shape)})") from None

    def forward(self, x):
        x = F.as_tensor(x)
        self._check_input(x)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class Conv1d(Module):
    """y = conv1d(x, W, b); x (N, C_in, L) → (N, C_out, ⌊(L + 2p − k)/s⌋ + 1), W (out, in, k)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 dtype=None):
        super().__init__()
        name = type(self).__name__
        self.in_channels = _positive_int(name, "in_channels", in_channels)
        self.out_channels = _positive_int(name, "out_channels", out_channels)
        self.kernel_size = _positive_int(name, "kernel_size", kernel_size)
        self.stride = _positive_int(name, "stride", stride)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"{name}: padding must be a non-negative integer, got {padding!r}")
        self.padding = padding
        shape = (out_channels, in_channels, kernel_size)
        self.weight = Parameter(init.linear_default_weight(shape, dtype=dtype))
        if bias:
            self.bias = Parameter(init.linear_default_bias((out_channels,), in_channels * kernel_size,
                                                           dtype=dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        x = F.as_tensor(x)
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self.layer_name()}: expected input (N, {self.in_channels}, L), "
                             f"found shape {tuple(x.shape)}")
        if x.shape[2] + 2 * self.padding < self.kernel_size:
            raise ValueError(f"{self.layer_name()}: kernel size {self.kernel_size} is larger than the "
                             f"padded input length {x.shape[2]} + 2·{self.padding}")
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")
