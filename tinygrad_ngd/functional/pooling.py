"""Pooling: max, average and global average over spatial windows.

Max pooling picks one input per window, so it is a gather through the flat index of the
window maxima:  y = x.ravel()[m],  m[n, c, oh, ow] = argmax over the window.  Its
backward is the scatter-add of gy to those positions (PyTorch's rule: the first maximum
of a window takes the whole gradient), and the backward of that scatter-add is the
gather again, so the second derivative (zero in x, the routing in gy) is exact.
Average pooling is linear: the mean of each im2col row.  Global average pooling is the
mean over H and W (the head of the CIFAR ResNets of [Yu et al. 2017, §4.2]).
"""

from __future__ import annotations

import functools

from .. import backend as B
from ..tensor import Function
from .base import as_tensor
from .conv import _pair, conv_output_size, im2col, scatter_add_flat, take_flat
from .reduce import mean, sum
from .shape import reshape

__all__ = ["avg_pool2d", "global_avg_pool2d", "max_pool2d"]


def _geometry(x, kernel_size, stride, padding, what):
    """(kernel, stride, padding, OH, OW) with PyTorch's checks (stride defaults to kernel)."""
    if x.ndim != 4:
        raise ValueError(f"{what}: expected a 4-D input (N, C, H, W), found shape {tuple(x.shape)}")
    k = _pair(kernel_size, "kernel_size", what)
    s = k if stride is None else _pair(stride, "stride", what)
    p = _pair(padding, "padding", what)
    for d in range(2):
        if p[d] * 2 > k[d]:
            raise ValueError(f"{what}: padding {p} must be at most half the kernel size {k}")
    OH = conv_output_size(x.shape[2], k[0], s[0], p[0], what)
    OW = conv_output_size(x.shape[3], k[1], s[1], p[1], what)
    return k, s, p, OH, OW


@functools.lru_cache(maxsize=64)
def _window_origins(shape, kernel, stride, padding, out_hw, backend):
    """Flat position in the *unpadded* x of each window's top-left corner, (N, C, OH, OW).

    ((n·C + c)·H + oh·sh − ph)·W + ow·sw − pw; adding i·W + j gives the window element
    (i, j).  Corners may lie in the padding, but a window maximum never does.
    """
    xp = B.xp()
    N, C, H, W = shape
    (sh, sw), (ph, pw), (OH, OW) = stride, padding, out_hw
    nc = xp.arange(N * C).reshape(N, C, 1, 1)
    rows = (xp.arange(OH) * sh - ph).reshape(1, 1, OH, 1)
    cols = (xp.arange(OW) * sw - pw).reshape(1, 1, 1, OW)
    return (nc * H + rows) * W + cols


class MaxPool2d(Function):
    """y = max over each window; remembers the flat index of the (first) maximum."""

    def __init__(self, kernel, stride, padding, out_hw):
        self.kernel, self.stride, self.padding, self.out_hw = kernel, stride, padding, out_hw

    def forward(self, x):
        xp = B.array_module(x)
        (kh, kw), (sh, sw), (ph, pw), (OH, OW) = self.kernel, self.stride, self.padding, self.out_hw
        self.in_shape = x.shape
        W = x.shape[3]
        if (ph, pw) != (0, 0):  # -inf padding never wins a window that holds a real value
            x = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-xp.inf)
        # running maximum over the kh·kw window offsets, each a strided view of x_pad;
        # a strict '>' keeps the first maximum in scan order, as PyTorch does
        best = x[:, :, 0:sh * (OH - 1) + 1:sh, 0:sw * (OW - 1) + 1:sw].copy()
        offset = xp.zeros(best.shape, dtype=xp.intp)          # i·W + j of the current maximum
        for i in range(kh):
            for j in range(kw):
                if i == 0 and j == 0:
                    continue
                v = x[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw]
                better = v > best
                xp.copyto(offset, i * W + j, where=better)
                xp.maximum(best, v, out=best)
        origins = _window_origins(self.in_shape, self.kernel, self.stride, self.padding, self.out_hw,
                                  B.get_backend())
        self.index = origins + offset                          # flat index of each maximum in x
        return best

    def backward(self, gy):
        return scatter_add_flat(gy, self.index, self.in_shape)

    def jvp(self, t):  # ẏ = ẋ.ravel()[m]: the tangent at each window's (first) maximum
        return take_flat(t, self.index)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """PyTorch's F.max_pool2d (dilation 1, floor mode): x (N, C, H, W) → (N, C, OH, OW)."""
    x = as_tensor(x)
    k, s, p, OH, OW = _geometry(x, kernel_size, stride, padding, "max_pool2d")
    return MaxPool2d(k, s, p, (OH, OW))(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """PyTorch's F.avg_pool2d (count_include_pad=True, floor mode): the mean of each window
    of the zero-padded input, i.e. the mean of each row of im2col over single channels."""
    x = as_tensor(x)
    k, s, p, OH, OW = _geometry(x, kernel_size, stride, padding, "avg_pool2d")
    N, C, H, W = x.shape
    cols = im2col(reshape(x, (N * C, 1, H, W)), k, s, p)       # (N·C·OH·OW, kh·kw)
    y = sum(cols, axis=1) * (1.0 / (k[0] * k[1]))
    return reshape(y, (N, C, OH, OW))


def global_avg_pool2d(x):
    """Mean over H and W: (N, C, H, W) → (N, C) (AdaptiveAvgPool2d(1) followed by flatten)."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"global_avg_pool2d: expected a 4-D input (N, C, H, W), found shape "
                         f"{tuple(x.shape)}")
    return mean(x, axis=(2, 3))
