"""Differentiable primitives and composites.

Each primitive is a :class:`~tinygrad_ngd.tensor.Function` whose ``forward`` works on
backend arrays and whose ``backward`` is one derivative rule written with the Tensor
operations defined here, so it can be differentiated again (HVPs are grad of grad).
Composites (mean, var, stack, mse_loss, ...) are built from primitives and need no rule.

Conventions follow PyTorch where the two could differ: relu'(0) = 0; maximum/minimum
split the gradient equally on ties; clip passes the gradient on the closed interval;
softplus returns x above the threshold 20; cross_entropy averages over the batch.
"""

from __future__ import annotations

from .. import backend as B
from ..tensor import Function, Tensor

__all__ = [
    "as_tensor",
    "reshape",
    "transpose",
    "swapaxes",
    "broadcast_to",
    "sum_to",
    "copy",
    "getitem",
    "concatenate",
    "stack",
    "pad",
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "pow",
    "exp",
    "log",
    "sqrt",
    "abs",
    "maximum",
    "minimum",
    "where",
    "clip",
    "matmul",
    "gemm",
    "linear",
    "sum",
    "mean",
    "max",
    "min",
    "var",
    "sigmoid",
    "tanh",
    "relu",
    "softplus",
    "logsumexp",
    "softmax",
    "log_softmax",
    "cross_entropy",
    "mse_loss",
]

# ---------------------------------------------------------------- helpers


def _xp(*arrays):
    return B.array_module(*arrays)


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """Wrap a scalar or array as a constant Tensor; Python scalars take ``like``'s dtype
    (weak scalars: ``float32_tensor * 0.5`` stays float32)."""
    if isinstance(x, Tensor):
        return x
    scalar = isinstance(x, (int, float)) or (getattr(x, "ndim", None) == 0 and not B.is_backend_array(x))
    if like is not None and scalar:
        dtype = like.dtype if like.dtype.kind in "fc" else None
        return Tensor(_xp(like.data).asarray(x, dtype=dtype))
    return Tensor(x)


def _pair(a, b):
    """Two operands as Tensors, a Python scalar taking the other operand's dtype."""
    if not isinstance(a, Tensor):
        a = as_tensor(a, b)
    if not isinstance(b, Tensor):
        b = as_tensor(b, a)
    return a, b


def _check_broadcast(op, a, b):
    try:
        return _xp(a, b).broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None


def _norm_axis(axis, ndim):
    if axis is None:
        return None
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(a % ndim if ndim else a for a in axis)


# ---------------------------------------------------------------- shape primitives
class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return reshape(gy, self.in_shape)


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


def transpose(x, axes=None):
    """Permute axes (reverse them when ``axes`` is None), like ``numpy.transpose``."""
    x = as_tensor(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(a % x.ndim for a in axes)
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


def pad(x, pad_width, value=0.0):
    x = as_tensor(x)
    if isinstance(pad_width, int):
        pad_width = [(pad_width, pad_width)] * x.ndim
    pad_width = tuple((int(b), int(a)) for b, a in pad_width)
    if len(pad_width) != x.ndim or any(b < 0 or a < 0 for b, a in pad_width):
        raise ValueError(f"pad: pad_width {pad_width} must give non-negative (before, after) "
                         f"for each of the {x.ndim} axes")
    return Pad(pad_width, value)(x)


# ---------------------------------------------------------------- arithmetic
class Add(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, gy):
        return sum_to(gy, self.shapes[0]), sum_to(gy, self.shapes[1])


class Sub(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, gy):
        return sum_to(gy, self.shapes[0]), sum_to(neg(gy), self.shapes[1])


class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(gy * b, a.shape) if self.needs_grad[0] else None
        gb = sum_to(gy * a, b.shape) if self.needs_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(gy / b, a.shape) if self.needs_grad[0] else None
        gb = sum_to(neg(gy * a / (b * b)), b.shape) if self.needs_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return neg(gy)


class Pow(Function):
    """a ** b, both tensors: d/da = b a^(b-1), d/db = a^b log a (needs a > 0 where used)."""

    def forward(self, a, b):
        return a ** b

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(gy * b * a ** (b - 1.0), a.shape) if self.needs_grad[0] else None
        gb = sum_to(gy * self.output() * log(a), b.shape) if self.needs_grad[1] else None
        return ga, gb


class PowScalar(Function):
    """x ** c with a constant exponent c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x ** _xp(x).asarray(self.c, dtype=x.dtype)

    def backward(self, gy):
        (x,) = self.inputs
        c = self.c
        if c == 1:
            return gy
        if c == 2:
            return gy * (x * 2.0)
        return gy * (c * x ** (c - 1))


def add(a, b):
    a, b = _pair(a, b)
    if a.shape != b.shape:
        _check_broadcast("add", a, b)
    return Add()(a, b)


def sub(a, b):
    a, b = _pair(a, b)
    if a.shape != b.shape:
        _check_broadcast("sub", a, b)
    return Sub()(a, b)


def mul(a, b):
    a, b = _pair(a, b)
    if a.shape != b.shape:
        _check_broadcast("mul", a, b)
    return Mul()(a, b)


def div(a, b):
    a, b = _pair(a, b)
    if a.shape != b.shape:
        _check_broadcast("div", a, b)
    return Div()(a, b)


def neg(x):
    return Neg()(as_tensor(x))


def pow(a, b):  # noqa: A001 - mirrors torch.pow
    if isinstance(b, (int, float)) and isinstance(a, Tensor):
        return PowScalar(b)(a)
    a, b = _pair(a, b)
    if a.shape != b.shape:
        _check_broadcast("pow", a, b)
    return Pow()(a, b)


# ---------------------------------------------------------------- elementwise math
class Exp(Function):
    def forward(self, x):
        return _xp(x).exp(x)

    def backward(self, gy):
        return gy * self.output()


class Log(Function):
    def forward(self, x):
        return _xp(x).log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


class Sqrt(Function):
    def forward(self, x):
        return _xp(x).sqrt(x)

    def backward(self, gy):
        return gy / (self.output() * 2.0)


class Abs(Function):
    def forward(self, x):
        return _xp(x).abs(x)

    def backward(self, gy):
        x = self.inputs[0]
        return gy * Tensor(_xp(x.data).sign(x.data))  # sign(0) = 0, as PyTorch


class Maximum(Function):
    """Elementwise max; on ties each side gets half the gradient (PyTorch's rule)."""

    def forward(self, a, b):
        return _xp(a, b).maximum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        wa = _tie_weights(a.data > b.data, a.data == b.data, gy.dtype)
        ga = sum_to(gy * wa, a.shape) if self.needs_grad[0] else None
        gb = sum_to(gy * (1.0 - wa), b.shape) if self.needs_grad[1] else None
        return ga, gb


class Minimum(Function):
    def forward(self, a, b):
        return _xp(a, b).minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        wa = _tie_weights(a.data < b.data, a.data == b.data, gy.dtype)
        ga = sum_to(gy * wa, a.shape) if self.needs_grad[0] else None
        gb = sum_to(gy * (1.0 - wa), b.shape) if self.needs_grad[1] else None
        return ga, gb


def _tie_weights(wins, ties, dtype):
    return Tensor(wins.astype(dtype) + 0.5 * ties.astype(dtype))


class Where(Function):
    """where(cond, a, b) with a constant boolean condition."""

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        return _xp(a, b).where(self.cond, a, b)

    def backward(self, gy):
        a, b = self.inputs
        zero = Tensor(_xp(gy.data).zeros((), dtype=gy.dtype))
        ga = sum_to(where(self.cond, gy, zero), a.shape) if self.needs_grad[0] else None
        gb = sum_to(where(self.cond, zero, gy), b.shape) if self.needs_grad[1] else None
        return ga, gb


class Clip(Function):
    """clip(x, lo, hi); the gradient passes where lo <= x <= hi (PyTorch's clamp)."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        return _xp(x).clip(x, self.lo, self.hi)

    def backward(self, gy):
        x = self.inputs[0].data
        xp = _xp(x)
        lo = -xp.inf if self.lo is None else self.lo
        hi = xp.inf if self.hi is None else self.hi
        inside = (x >= lo) & (x <= hi)
        return gy * Tensor(inside.astype(gy.dtype))


def exp(x):
    return Exp()(as_tensor(x))


def log(x):
    return Log()(as_tensor(x))


def sqrt(x):
    return Sqrt()(as_tensor(x))


def abs(x):  # noqa: A001 - mirrors torch.abs
    return Abs()(as_tensor(x))


def maximum(a, b):
    a, b = _pair(a, b)
    return Maximum()(a, b)


def minimum(a, b):
    a, b = _pair(a, b)
    return Minimum()(a, b)


def where(cond, a, b):
    a, b = _pair(a, b)
    if isinstance(cond, Tensor):
        cond = cond.data
    return Where(cond)(a, b)


def clip(x, lo=None, hi=None):
    if lo is None and hi is None:
        raise ValueError("clip: at least one of lo, hi must be given")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"clip: lo={lo} is larger than hi={hi}")
    return Clip(lo, hi)(as_tensor(x))


clamp = clip


# ---------------------------------------------------------------- matmul and linear
class MatMul(Function):
    """Batched, broadcasting a @ b for a.ndim, b.ndim >= 2."""

    def forward(self, a, b):
        return a @ b

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(matmul(gy, swapaxes(b, -1, -2)), a.shape) if self.needs_grad[0] else None
        gb = sum_to(matmul(swapaxes(a, -1, -2), gy), b.shape) if self.needs_grad[1] else None
        return ga, gb


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


class Gemm(Function):
    """C = op(A) op(B) for 2-D A, B, where op transposes when its flag is set.

    Closed under differentiation, so matrix-product gradients cost one node each:
    with gC the upstream gradient,
        dA = gC op(B)ᵀ      (or op(B) gCᵀ when A is transposed),
        dB = op(A)ᵀ gC      (or gCᵀ op(A) when B is transposed).
    """

    def __init__(self, trans_a=False, trans_b=False):
        self.trans_a, self.trans_b = trans_a, trans_b

    def forward(self, a, b):
        return (a.T if self.trans_a else a) @ (b.T if self.trans_b else b)

    def backward(self, gc):
        a, b = self.inputs
        ta, tb = self.trans_a, self.trans_b
        ga = gb = None
        if self.needs_grad[0]:
            ga = gemm(b, gc, tb, True) if ta else gemm(gc, b, False, not tb)
        if self.needs_grad[1]:
            gb = gemm(gc, a, True, ta) if tb else gemm(a, gc, not ta, False)
        return ga, gb


def gemm(a, b, trans_a=False, trans_b=False):
    """op(a) @ op(b) for 2-D tensors (op = transpose when the flag is set)."""
    return Gemm(trans_a, trans_b)(a, b)


class Linear(Function):
    """y = x Wᵀ + b for 2-D x (a fused primitive: one node instead of three)."""

    def forward(self, x, w, b=None):
        y = x @ w.T
        if b is not None:
            y += b
        return y

    def backward(self, gy):
        x, w = self.inputs[0], self.inputs[1]
        gx = gemm(gy, w) if self.needs_grad[0] else None          # gy W
        gw = gemm(gy, x, True, False) if self.needs_grad[1] else None  # gyᵀ x
        if len(self.inputs) == 3:
            gb = sum(gy, axis=0) if self.needs_grad[2] else None
            return gx, gw, gb
        return gx, gw


def linear(x, weight, bias=None):
    """PyTorch's F.linear: x Wᵀ + b with W of shape (out, in); x may have leading dims."""
    x = as_tensor(x)
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input has {x.shape[-1]} features, weight expects "
                         f"{weight.shape[1]} (weight shape {weight.shape})")
    lead = x.shape[:-1]
    x2 = reshape(x, (-1, x.shape[-1])) if x.ndim != 2 else x
    y = Linear()(x2, weight) if bias is None else Linear()(x2, weight, bias)
    return reshape(y, lead + (weight.shape[0],)) if x.ndim != 2 else y


# ---------------------------------------------------------------- reductions
class Sum(Function):
    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.in_shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        return broadcast_to(_restore_dims(gy, self.in_shape, self.axis, self.keepdims), self.in_shape)


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


def _prod(it):
    p = 1
    for v in it:
        p *= v
    return p


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


# ---------------------------------------------------------------- activations
class Sigmoid(Function):
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


class SigmoidGrad(Function):
    """g(y, gy) = gy·y(1−y), the sigmoid's backward as one primitive (y = σ(x));
    its own backward: ∂g/∂y = gy(1−2y), ∂g/∂gy = y(1−y)."""

    def forward(self, y, gy):
        out = 1 - y  # gy·y(1−y) in one buffer
        out *= y
        out *= gy
        return out

    def backward(self, gg):
        y, gy = self.inputs
        return SigmoidGradBackward()(y, gy, gg)


class SigmoidGradBackward(Function):
    """(∂g/∂y·gg, ∂g/∂gy·gg) = (gg·gy·(1−2y), gg·y(1−y)) for g = gy·y(1−y), as one node
    with two outputs: HVPs through sigmoid nets pay one node here instead of seven.
    Its own backward (third derivatives) is written in Tensor ops."""

    def forward(self, y, gy, gg):
        return gg * gy * (1 - 2 * y), gg * y * (1 - y)

    def backward(self, ga, gb):
        y, gy, gg = self.inputs
        one_minus_2y = 1.0 - 2.0 * y
        d_y = ga * gg * gy * -2.0 + gb * gg * one_minus_2y
        d_gy = ga * gg * one_minus_2y
        d_gg = ga * gy * one_minus_2y + gb * (y * (1.0 - y))
        return d_y, d_gy, d_gg


class Tanh(Function):
    def forward(self, x):
        return _xp(x).tanh(x)

    def backward(self, gy):
        return TanhGrad()(self.output(), gy)


class TanhGrad(Function):
    """g(y, gy) = gy(1−y²), the tanh's backward as one primitive (y = tanh x);
    its own backward: ∂g/∂y = −2·gy·y, ∂g/∂gy = 1−y²."""

    def forward(self, y, gy):
        out = y * y  # gy(1−y²) in one buffer
        out -= 1
        out *= -gy
        return out

    def backward(self, gg):
        y, gy = self.inputs
        return TanhGradBackward()(y, gy, gg)


class TanhGradBackward(Function):
    """(∂g/∂y·gg, ∂g/∂gy·gg) = (−2·gg·gy·y, gg(1−y²)) for g = gy(1−y²), as one node with
    two outputs; its own backward (third derivatives) is written in Tensor ops."""

    def forward(self, y, gy, gg):
        return -2 * gg * gy * y, gg * (1 - y * y)

    def backward(self, ga, gb):
        y, gy, gg = self.inputs
        d_y = ga * gg * gy * -2.0 + gb * gg * y * -2.0
        d_gy = ga * gg * y * -2.0
        d_gg = ga * gy * y * -2.0 + gb * (1.0 - y * y)
        return d_y, d_gy, d_gg


class ReLU(Function):
    def forward(self, x):
        return _xp(x).maximum(x, 0)

    def backward(self, gy):
        x = self.inputs[0].data
        return gy * Tensor((x > 0).astype(gy.dtype))  # relu'(0) = 0 as PyTorch


class Softplus(Function):
    """log(1 + e^x); returns x where x > threshold (20), as torch.nn.functional.softplus."""

    threshold = 20.0

    def forward(self, x):
        xp = _xp(x)
        return xp.where(x > self.threshold, x, xp.logaddexp(0, x))

    def backward(self, gy):
        x = self.inputs[0]
        big = x.data > self.threshold
        one = Tensor(_xp(x.data).ones((), dtype=x.dtype))
        return gy * where(big, one, sigmoid(x))


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


def sigmoid(x):
    return Sigmoid()(as_tensor(x))


def tanh(x):
    return Tanh()(as_tensor(x))


def relu(x):
    return ReLU()(as_tensor(x))


def softplus(x):
    return Softplus()(as_tensor(x))


def logsumexp(x, axis=None, keepdims=False):
    x = as_tensor(x)
    return LogSumExp(_norm_axis(axis, x.ndim) if axis is not None else tuple(range(x.ndim)),
                     keepdims)(x)


def softmax(x, axis=-1):
    x = as_tensor(x)
    return Softmax(axis % x.ndim)(x)


def log_softmax(x, axis=-1):
    x = as_tensor(x)
    return LogSoftmax(axis % x.ndim)(x)


# ---------------------------------------------------------------- losses
class CrossEntropy(Function):
    """Softmax cross-entropy of logits (N, C) against integer labels (N,), fused.

    loss = -Σ_n log softmax(x_n)[y_n] · scale, scale = 1/N for 'mean', 1 for 'sum'.
    Its backward (softmax(x) − onehot(y))·gy·scale is the CrossEntropyGrad primitive,
    whose own backward uses the softmax primitive, so the second derivative
    (diag(p) − ppᵀ per row) and higher ones follow.
    """

    def __init__(self, labels, scale):
        self.labels, self.scale = labels, scale

    def forward(self, x):
        xp = _xp(x)
        rows = xp.arange(x.shape[0])
        z = x - x.max(axis=1, keepdims=True)
        e = xp.exp(z)
        s = e.sum(axis=1, keepdims=True)
        # kept for the backward: softmax(x) = e / s without a second exp pass
        self.exp_shifted, self.exp_sum = e, s
        logp_label = z[rows, self.labels] - xp.log(s[:, 0])
        return -logp_label.sum() * x.dtype.type(self.scale)

    def backward(self, gy):
        grad_fn = CrossEntropyGrad(self.labels, self.scale, (self.exp_shifted, self.exp_sum))
        return grad_fn(self.inputs[0], gy)


class CrossEntropyGrad(Function):
    """g(x, gy) = (softmax(x) − onehot(y))·gy·scale, cross-entropy's backward as one node.

    Its own backward, with p = softmax(x) and u = gg·gy·scale:
    ∂/∂x: p ⊙ (u − Σ_c u p) per row (softmax's Jacobian), ∂/∂gy: scale·Σ gg ⊙ (p − onehot).
    ``cache`` = (e^{x − max}, Σ e^{x − max}) from the forward saves recomputing the softmax.
    """

    def __init__(self, labels, scale, cache=None):
        self.labels, self.scale, self.cache = labels, scale, cache

    def forward(self, x, gy):
        xp = _xp(x)
        if self.cache is not None:
            e, s = self.cache
            p = e / s  # a new array: the cache is never written (retain_graph may reuse it)
        else:
            p = xp.exp(x - x.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
        p[xp.arange(x.shape[0]), self.labels] -= 1
        p *= gy * x.dtype.type(self.scale)
        return p

    def backward(self, gg):
        x, gy = self.inputs
        p = softmax(x, axis=1)
        gx = gy_ = None
        if self.needs_grad[0]:
            u = gg * (gy * self.scale)
            gx = p * (u - sum(u * p, axis=1, keepdims=True))
        if self.needs_grad[1]:
            xp = _xp(x.data)
            onehot = xp.zeros(x.shape, dtype=x.dtype)
            onehot[xp.arange(x.shape[0]), self.labels] = 1
            gy_ = sum(gg * (p - Tensor(onehot))) * self.scale
        return gx, gy_


def cross_entropy(logits, labels, reduction="mean"):
    """PyTorch's F.cross_entropy for logits (N, C) and integer class labels (N,)."""
    logits = as_tensor(logits)
    lab = labels.data if isinstance(labels, Tensor) else labels
    if not B.is_backend_array(lab):
        lab = B.asarray(lab)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must be (N, C), got shape {logits.shape}")
    if lab.shape != (logits.shape[0],) or lab.dtype.kind not in "iu":
        raise ValueError(f"cross_entropy: labels must be integers of shape ({logits.shape[0]},), "
                         f"got {lab.dtype} of shape {lab.shape}")
    if lab.size and (int(lab.min()) < 0 or int(lab.max()) >= logits.shape[1]):
        raise ValueError(f"cross_entropy: labels must lie in [0, {logits.shape[1]}), found "
                         f"[{int(lab.min())}, {int(lab.max())}]")
    if reduction == "none":
        logp = log_softmax(logits, axis=1)
        return neg(getitem(logp, (_xp(lab).arange(lab.shape[0]), lab)))
    if reduction not in ("mean", "sum"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    scale = 1.0 / logits.shape[0] if reduction == "mean" else 1.0
    return CrossEntropy(lab, scale)(logits)


def mse_loss(input, target, reduction="mean"):  # noqa: A002 - torch's argument name
    """PyTorch's F.mse_loss: mean (or sum) of squared differences."""
    input, target = _pair(input, target)
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} differs from target shape {target.shape}")
    d = input - target
    sq = d * d
    if reduction == "mean":
        return mean(sq)
    if reduction == "sum":
        return sum(sq)
    if reduction == "none":
        return sq
    raise ValueError(f"mse_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


# ---------------------------------------------------------------- Tensor operators
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
