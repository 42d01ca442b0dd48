"""Convolution as a matrix product: im2col / col2im and conv2d, conv1d.

A convolution with kernel W of shape (O, C, kh, kw) is a matrix product once every
kh×kw window of the (padded) input is laid out as one row ("im2col"):

    cols[(n, oh, ow), (c, i, j)] = x_pad[n, c, oh·sh + i, ow·sw + j]
    y[n, o, oh, ow] = Σ_(c,i,j) cols[(n, oh, ow), (c, i, j)] · W[o, c, i, j] + b[o]

im2col is a *gather* through one flat index into x_pad, so its adjoint col2im is the
*scatter-add* through the same index (overlapping windows accumulate).  Each is the
other's backward, so the conv is differentiable to any order with no further rule:
conv2d = transpose(reshape(linear(im2col(x), W₂, b))).  The flat index is built once per
geometry and cached (a scatter-add through it is faster than a loop over kernel offsets
and far faster than ``add.at`` with tuple indices).

The layers that use these ops implement the convolutional networks of [Yu et al. 2017]
(§4.2 ResNets on CIFAR, §4.5 the sentence CNN).
"""

from __future__ import annotations

import functools

from .. import backend as B
from ..tensor import Function
from .base import as_tensor
from .fused import linear
from .shape import reshape, transpose

__all__ = [
    "clear_index_cache",
    "col2im",
    "conv1d",
    "conv2d",
    "conv_output_size",
    "im2col",
    "scatter_add_flat",
    "take_flat",
]


def _xp(*arrays):
    return B.array_module(*arrays)


# ---------------------------------------------------------------- gather / scatter-add pair
class TakeFlat(Function):
    """y = x.ravel()[index]: a gather through a constant flat integer index.

    Linear in x; its backward is the adjoint scatter-add (ScatterAddFlat), whose own
    backward is this gather again, so every derivative order is exact.
    """

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(-1).take(self.index)

    def backward(self, gy):
        return ScatterAddFlat(self.index, self.in_shape)(gy)

    def jvp(self, t):  # linear: the same gather of ẋ
        return TakeFlat(self.index)(t)


class ScatterAddFlat(Function):
    """out = zeros(shape); out.ravel()[index] += g (repeated indices accumulate)."""

    def __init__(self, index, out_shape):
        self.index = index
        self.out_shape = out_shape

    def forward(self, g):
        xp = _xp(g)
        size = 1
        for s in self.out_shape:
            size *= s
        out = xp.zeros(size, dtype=g.dtype)
        # 1-D integer index on a 1-D target: the fast path of add.at / cupyx.scatter_add
        B.scatter_add(out, self.index.reshape(-1), g.reshape(-1))
        return out.reshape(self.out_shape)

    def backward(self, gout):
        return TakeFlat(self.index)(gout)

    def jvp(self, t):  # linear: the same scatter-add of ġ
        return ScatterAddFlat(self.index, self.out_shape)(t)


def take_flat(x, index):
    """Gather ``x.ravel()[index]`` (result has ``index``'s shape); differentiable in x."""
    return TakeFlat(index)(as_tensor(x))


def scatter_add_flat(g, index, out_shape):
    """Scatter-add ``g`` into zeros of ``out_shape`` at flat positions ``index`` (g's shape)."""
    g = as_tensor(g)
    if tuple(g.shape) != tuple(index.shape):
        raise ValueError(f"scatter_add_flat: values of shape {g.shape} do not match the index "
                         f"shape {tuple(index.shape)}")
    return ScatterAddFlat(index, tuple(out_shape))(g)


# ---------------------------------------------------------------- geometry
def _pair(v, name, what):
    if isinstance(v, int):
        v = (v, v)
    v = tuple(v)
    if len(v) != 2 or not all(isinstance(a, int) for a in v):
        raise ValueError(f"{what}: {name} must be an int or a pair of ints, got {v!r}")
    return v


def conv_output_size(size, kernel, stride, padding, what="conv2d"):
    """PyTorch's output length ⌊(size + 2p − k) / s⌋ + 1, rejecting impossible geometry."""
    if stride <= 0:
        raise ValueError(f"{what}: stride must be positive, got {stride}")
    if padding < 0:
        raise ValueError(f"{what}: padding must be non-negative, got {padding}")
    if kernel <= 0:
        raise ValueError(f"{what}: kernel_size must be positive, got {kernel}")
    if size + 2 * padding < kernel:
        raise ValueError(f"{what}: kernel size {kernel} is larger than the padded input "
                         f"({size} + 2·{padding} = {size + 2 * padding})")
    return (size + 2 * padding - kernel) // stride + 1


@functools.lru_cache(maxsize=32)
def _cached_index(padded_shape, kernel, stride, backend):
    """Flat positions in x_pad of every im2col entry, (N·OH·OW, C·kh·kw), built once per
    geometry on the active backend (``backend`` is part of the key so NumPy and CuPy
    arrays never mix).  Memory: one integer per im2col entry — :func:`clear_index_cache`
    frees them (e.g. after training a large network with a large batch).
    """
    xp = B.xp()
    N, C, Hp, Wp = padded_shape
    (kh, kw), (sh, sw) = kernel, stride
    OH, OW = (Hp - kh) // sh + 1, (Wp - kw) // sw + 1
    n = xp.arange(N).reshape(N, 1, 1, 1, 1, 1)
    c = xp.arange(C).reshape(1, 1, 1, C, 1, 1)
    rows = (xp.arange(OH) * sh).reshape(1, OH, 1, 1, 1, 1) + xp.arange(kh).reshape(1, 1, 1, 1, kh, 1)
    cols = (xp.arange(OW) * sw).reshape(1, 1, OW, 1, 1, 1) + xp.arange(kw).reshape(1, 1, 1, 1, 1, kw)
    idx = ((n * C + c) * Hp + rows) * Wp + cols                  # (N, OH, OW, C, kh, kw)
    return idx.reshape(N * OH * OW, C * kh * kw)


def window_index(padded_shape, kernel, stride):
    """Cached flat im2col index on the active backend (see :func:`_cached_index`)."""
    return _cached_index(tuple(padded_shape), tuple(kernel), tuple(stride), B.get_backend())


def clear_index_cache():
    """Free the cached im2col/col2im indices (they are rebuilt on the next call)."""
    _cached_index.cache_clear()


def _pad_widths(padding):
    ph, pw = padding
    return ((0, 0), (0, 0), (ph, ph), (pw, pw))


# ---------------------------------------------------------------- im2col / col2im
class Im2col(Function):
    """cols = gather(x_pad, index): (N, C, H, W) → (N·OH·OW, C·kh·kw)."""

    def __init__(self, kernel, stride, padding):
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x):
        self.x_shape = x.shape
        if self.padding != (0, 0):
            x = _xp(x).pad(x, _pad_widths(self.padding))
        index = window_index(x.shape, self.kernel, self.stride)
        return x.reshape(-1).take(index)

    def backward(self, gcols):
        return col2im(gcols, self.x_shape, self.kernel, self.stride, self.padding)

    def jvp(self, t):  # linear: im2col(ẋ)
        return Im2col(self.kernel, self.stride, self.padding)(t)


class Col2im(Function):
    """The adjoint of im2col: scatter-add the rows back into an image, then crop the padding."""

    def __init__(self, x_shape, kernel, stride, padding):
        self.x_shape, self.kernel, self.stride, self.padding = x_shape, kernel, stride, padding

    def forward(self, cols):
        N, C, H, W = self.x_shape
        (ph, pw) = self.padding
        padded = (N, C, H + 2 * ph, W + 2 * pw)
        index = window_index(padded, self.kernel, self.stride)
        out = _xp(cols).zeros(padded[0] * padded[1] * padded[2] * padded[3], dtype=cols.dtype)
        B.scatter_add(out, index.reshape(-1), cols.reshape(-1))
        out = out.reshape(padded)
        if (ph, pw) != (0, 0):
            out = out[:, :, ph:ph + H, pw:pw + W]
        return out

    def backward(self, gx):
        return Im2col(self.kernel, self.stride, self.padding)(gx)

    def jvp(self, t):  # linear: col2im(ċols)
        return Col2im(self.x_shape, self.kernel, self.stride, self.padding)(t)


def _check_image(x, what):
    if x.ndim != 4:
        raise ValueError(f"{what}: expected a 4-D input (N, C, H, W), found shape {tuple(x.shape)}")


def im2col(x, kernel_size, stride=1, padding=0):
    """Windows of a (N, C, H, W) tensor as rows: (N·OH·OW, C·kh·kw), columns ordered (c, i, j)."""
    x = as_tensor(x)
    _check_image(x, "im2col")
    k, s, p = (_pair(kernel_size, "kernel_size", "im2col"), _pair(stride, "stride", "im2col"),
               _pair(padding, "padding", "im2col"))
    for d in range(2):
        conv_output_size(x.shape[2 + d], k[d], s[d], p[d], "im2col")
    return Im2col(k, s, p)(x)


def col2im(cols, x_shape, kernel_size, stride=1, padding=0):
    """Adjoint of :func:`im2col`: rows (N·OH·OW, C·kh·kw) summed back into shape ``x_shape``."""
    cols = as_tensor(cols)
    k, s, p = (_pair(kernel_size, "kernel_size", "col2im"), _pair(stride, "stride", "col2im"),
               _pair(padding, "padding", "col2im"))
    N, C, H, W = x_shape
    OH = conv_output_size(H, k[0], s[0], p[0], "col2im")
    OW = conv_output_size(W, k[1], s[1], p[1], "col2im")
    if tuple(cols.shape) != (N * OH * OW, C * k[0] * k[1]):
        raise ValueError(f"col2im: cols of shape {cols.shape} do not fit x_shape {tuple(x_shape)} "
                         f"(expected {(N * OH * OW, C * k[0] * k[1])})")
    return Col2im(tuple(x_shape), k, s, p)(cols)


# ---------------------------------------------------------------- convolutions
def conv2d(x, weight, bias=None, stride=1, padding=0):
    """PyTorch's F.conv2d (no dilation, groups=1): x (N, C, H, W), weight (O, C, kh, kw).

    y = transpose(reshape(im2col(x) W₂ᵀ + b)), W₂ = weight.reshape(O, C·kh·kw): every piece
    is a primitive with a Tensor-op backward, so HVPs through conv nets are exact.
    """
    x = as_tensor(x)
    if weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be (out, in, kh, kw), found shape {tuple(weight.shape)}")
    _check_image(x, "conv2d")
    O, C, kh, kw = weight.shape
    if x.shape[1] != C:
        raise ValueError(f"conv2d: input has {x.shape[1]} channels, weight expects {C} "
                         f"(input shape {tuple(x.shape)}, weight shape {tuple(weight.shape)})")
    s, p = _pair(stride, "stride", "conv2d"), _pair(padding, "padding", "conv2d")
    N, _, H, W = x.shape
    OH = conv_output_size(H, kh, s[0], p[0], "conv2d")
    OW = conv_output_size(W, kw, s[1], p[1], "conv2d")
    if bias is not None and tuple(bias.shape) != (O,):
        raise ValueError(f"conv2d: bias must have shape ({O},), found {tuple(bias.shape)}")
    cols = Im2col((kh, kw), s, p)(x)                              # (N·OH·OW, C·kh·kw)
    y = linear(cols, reshape(weight, (O, C * kh * kw)), bias)      # (N·OH·OW, O)
    return transpose(reshape(y, (N, OH, OW, O)), (0, 3, 1, 2))    # (N, O, OH, OW)


def conv1d(x, weight, bias=None, stride=1, padding=0):
    """PyTorch's F.conv1d: x (N, C, L), weight (O, C, k) — conv2d over a height-1 image."""
    x = as_tensor(x)
    if x.ndim != 3:
        raise ValueError(f"conv1d: expected a 3-D input (N, C, L), found shape {tuple(x.shape)}")
    if weight.ndim != 3:
        raise ValueError(f"conv1d: weight must be (out, in, k), found shape {tuple(weight.shape)}")
    if not isinstance(stride, int) or not isinstance(padding, int):
        raise TypeError(f"conv1d: stride and padding must be ints, got {stride!r}, {padding!r}")
    N, C, L = x.shape
    O, _, k = weight.shape
    y = conv2d(reshape(x, (N, C, 1, L)), reshape(weight, (O, weight.shape[1], 1, k)), bias,
               stride=(1, stride), padding=(0, padding))
    return reshape(y, (N, O, y.shape[3]))
