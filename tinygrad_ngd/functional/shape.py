"""Shape primitives: reshape, transpose, broadcast, sum_to, copy, indexing, concatenation, padding.

Each is linear in its input, so its backward is the adjoint shape operation (reshape back,
inverse permutation, sum over broadcast axes, scatter into zeros, split, crop).
"""

from __future__ import annotations

from .. import backend as B
from ..tensor import Function, Tensor
from .base import _norm_axis, _xp, as_tensor, tangent_or_zeros

__all__ = ["reshape", "transpose", "swapaxes", "broadcast_to", "sum_to", "copy", "getitem",
           "concatenate", "stack", "pad"]


class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return reshape(gy, self.in_shape)

    def jvp(self, t):  # linear: J t = reshape(t)
        return Reshape(self.shape)(t)


def reshape(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    x = as_tensor(x)
    if tuple(shape) == x.shape:
        return x
    return Reshape(tuple(shape))(x)


class Transpose(Function):
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return transpose(gy, tuple(inverse))

    def jvp(self, t):
        return Transpose(self.axes)(t)


def transpose(x, axes=None):
    """Permute axes (reverse them when ``axes`` is None), like ``numpy.transpose``."""
    x = as_tensor(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = _norm_axis(tuple(axes), x.ndim) if x.ndim else tuple(axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {x.ndim} axes")
    return Transpose(axes)(x)


permute = transpose


def swapaxes(x, a, b):
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, tuple(axes))


class BroadcastTo(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return _xp(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.in_shape)

    def jvp(self, t):
        return BroadcastTo(self.shape)(t)


def broadcast_to(x, shape):
    x = as_tensor(x)
    shape = tuple(shape)
    if x.shape == shape:
        return x
    try:
        _xp(x.data).broadcast_shapes(x.shape, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: shape {x.shape} cannot be broadcast to {shape}") from None
    return BroadcastTo(shape)(x)


def _sum_to_array(a, shape):
    """Sum a broadcast array back to ``shape`` (the reverse of broadcasting)."""
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and a.shape[i + lead] != 1)
    if axes:
        a = a.sum(axis=axes, keepdims=True)
    if lead:
        a = a.reshape(shape)
    return a


class SumTo(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return _sum_to_array(x, self.shape)

    def backward(self, gy):
        return broadcast_to(gy, self.in_shape)

    def jvp(self, t):
        return SumTo(self.shape)(t)


def sum_to(x, shape):
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return SumTo(shape)(x)


class Copy(Function):
    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy

    def jvp(self, t):
        return t


def copy(x):
    """A differentiable copy that owns its memory."""
    return Copy()(as_tensor(x))


class GetItem(Function):
    """x[index] for basic (slices, ints, None, Ellipsis) and integer-array indexing."""

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.in_shape = x.shape
        return x[self.index]

    def backward(self, gy):
        return GetItemGrad(self.index, self.in_shape)(gy)

    def jvp(self, t):
        return GetItem(self.index)(t)


def _index_has_arrays(index):
    items = index if isinstance(index, tuple) else (index,)
    return any(B.is_backend_array(i) or isinstance(i, (list,)) for i in items)


class GetItemGrad(Function):
    """The adjoint of getitem: zeros of the input's shape with gy added at ``index``
    (repeated integer indices accumulate: scatter-add through the backend)."""

    def __init__(self, index, in_shape):
        self.index = index
        self.in_shape = in_shape

    def forward(self, gy):
        xp = _xp(gy)
        gx = xp.zeros(self.in_shape, dtype=gy.dtype)
        if _index_has_arrays(self.index):
            B.scatter_add(gx, self.index, gy)
        else:
            gx[self.index] = gy
        return gx

    def backward(self, ggx):
        return getitem(ggx, self.index)

    def jvp(self, t):
        return GetItemGrad(self.index, self.in_shape)(t)


def _normalize_index(index):
    def conv(i):
        if isinstance(i, Tensor):
            return i.data
        if isinstance(i, list):
            return B.asarray(i)
        return i
    if isinstance(index, tuple):
        return tuple(conv(i) for i in index)
    return conv(index)


def getitem(x, index):
    return GetItem(_normalize_index(index))(as_tensor(x))


class Concatenate(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return _xp(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        out, start = [], 0
        for n in self.sizes:
            idx = [slice(None)] * gy.ndim
            idx[self.axis] = slice(start, start + n)
            out.append(getitem(gy, tuple(idx)))
            start += n
        return tuple(out)

    def jvp(self, *ts):
        return Concatenate(self.axis)(*[tangent_or_zeros(t, x) for t, x in zip(ts, self.inputs)])


def concatenate(xs, axis=0):
    xs = [as_tensor(x) for x in xs]
    if not xs:
        raise ValueError("concatenate: need at least one tensor")
    nd = xs[0].ndim
    axis = axis % nd
    for i, x in enumerate(xs):
        if x.ndim != nd or any(x.shape[d] != xs[0].shape[d] for d in range(nd) if d != axis):
            raise ValueError(f"concatenate: tensor {i} has shape {x.shape}, incompatible with "
                             f"{xs[0].shape} along axis {axis}")
    return Concatenate(axis)(*xs)


def stack(xs, axis=0):
    xs = [as_tensor(x) for x in xs]
    nd = xs[0].ndim + 1
    axis = axis % nd
    return concatenate([reshape(x, x.shape[:axis] + (1,) + x.shape[axis:]) for x in xs], axis=axis)


class Pad(Function):
    """Zero padding; ``pad_width`` as numpy.pad: one (before, after) pair per axis."""

    def __init__(self, pad_width, value=0.0):
        self.pad_width = pad_width
        self.value = value

    def forward(self, x):
        return _xp(x).pad(x, self.pad_width, mode="constant", constant_values=self.value)

    def backward(self, gy):
        idx = tuple(slice(b, gy.shape[i] - a) for i, (b, a) in enumerate(self.pad_width))
        return getitem(gy, idx)

    def jvp(self, t):  # the constant fill has no tangent
        return Pad(self.pad_width, 0.0)(t)


def pad(x, pad_width, value=0.0):
    x = as_tensor(x)
    if isinstance(pad_width, int):
        pad_width = [(pad_width, pad_width)] * x.ndim
    pad_width = tuple((int(b), int(a)) for b, a in pad_width)
    if len(pad_width) != x.ndim or any(b < 0 or a < 0 for b, a in pad_width):
        raise ValueError(f"pad: pad_width {pad_width} must give non-negative (before, after) "
                         f"for each of the {x.ndim} axes")
    return Pad(pad_width, value)(x)
