"""Elementwise arithmetic (+, −, ×, ÷, negation, powers) and math (exp, log, sqrt, abs,
maximum, minimum, where, clip).

Binary operations broadcast as NumPy does; their backward sums the gradient back to each
operand's shape (``sum_to``).  Conventions follow PyTorch: maximum/minimum split the
gradient equally on ties; clip passes the gradient on the closed interval.
"""

from __future__ import annotations

from .. import backend as B
from ..tensor import Function, Tensor
from .base import _check_broadcast, _pair, _xp, add_terms, as_tensor, tangent_or_zeros
from .shape import broadcast_to, sum_to

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "maximum",
           "minimum", "where", "clip"]


class Add(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, gy):
        return sum_to(gy, self.shapes[0]), sum_to(gy, self.shapes[1])

    def jvp(self, ta, tb):  # ṫ = ȧ + ḃ
        return _full(add_terms(ta, tb), self)


class Sub(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, gy):
        return sum_to(gy, self.shapes[0]), sum_to(neg(gy), self.shapes[1])

    def jvp(self, ta, tb):  # ȧ − ḃ
        return _full(add_terms(ta, None if tb is None else neg(tb)), self)


class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(gy * b, a.shape) if self.needs_grad[0] else None
        gb = sum_to(gy * a, b.shape) if self.needs_grad[1] else None
        return ga, gb

    def jvp(self, ta, tb):  # ȧ b + a ḃ
        a, b = self.inputs
        return _full(add_terms(None if ta is None else ta * b, None if tb is None else a * tb), self)


class Div(Function):
    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(gy / b, a.shape) if self.needs_grad[0] else None
        gb = sum_to(neg(gy * a / (b * b)), b.shape) if self.needs_grad[1] else None
        return ga, gb

    def jvp(self, ta, tb):  # (ȧ − y ḃ) / b with y = a / b
        b = self.inputs[1]
        return _full(add_terms(ta, None if tb is None else neg(self.output() * tb)) / b, self)


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return neg(gy)

    def jvp(self, t):
        return neg(t)


class Pow(Function):
    """a ** b, both tensors: d/da = b a^(b-1), d/db = a^b log a (needs a > 0 where used)."""

    def forward(self, a, b):
        return a ** b

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(gy * b * a ** (b - 1.0), a.shape) if self.needs_grad[0] else None
        gb = sum_to(gy * self.output() * log(a), b.shape) if self.needs_grad[1] else None
        return ga, gb

    def jvp(self, ta, tb):  # ȧ b a^(b−1) + ḃ aᵇ log a
        a, b = self.inputs
        return _full(add_terms(None if ta is None else ta * b * a ** (b - 1.0),
                               None if tb is None else tb * self.output() * log(a)), self)


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

    def jvp(self, t):  # c x^(c−1) ẋ
        (x,) = self.inputs
        c = self.c
        if c == 1:
            return t
        if c == 2:
            return t * (x * 2.0)
        return t * (c * x ** (c - 1))


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

    def jvp(self, t):  # ẏ = y ẋ
        return t * self.output()


class Log(Function):
    def forward(self, x):
        return _xp(x).log(x)

    def backward(self, gy):
        return gy / self.inputs[0]

    def jvp(self, t):  # ẋ / x
        return t / self.inputs[0]


class Sqrt(Function):
    def forward(self, x):
        return _xp(x).sqrt(x)

    def backward(self, gy):
        return gy / (self.output() * 2.0)

    def jvp(self, t):  # ẋ / 2y
        return t / (self.output() * 2.0)


class Abs(Function):
    def forward(self, x):
        return _xp(x).abs(x)

    def backward(self, gy):
        x = self.inputs[0]
        return gy * Tensor(_xp(x.data).sign(x.data))  # sign(0) = 0, as PyTorch

    def jvp(self, t):  # sign(x) ẋ
        x = self.inputs[0]
        return t * Tensor(_xp(x.data).sign(x.data))


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

    def jvp(self, ta, tb):  # the winner's tangent; the mean of both on ties
        a, b = self.inputs
        return _select_jvp(self, ta, tb, _tie_weights(a.data > b.data, a.data == b.data, a.dtype))


class Minimum(Function):
    def forward(self, a, b):
        return _xp(a, b).minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        wa = _tie_weights(a.data < b.data, a.data == b.data, gy.dtype)
        ga = sum_to(gy * wa, a.shape) if self.needs_grad[0] else None
        gb = sum_to(gy * (1.0 - wa), b.shape) if self.needs_grad[1] else None
        return ga, gb

    def jvp(self, ta, tb):
        a, b = self.inputs
        return _select_jvp(self, ta, tb, _tie_weights(a.data < b.data, a.data == b.data, a.dtype))


def _tie_weights(wins, ties, dtype):
    return Tensor(wins.astype(dtype) + 0.5 * ties.astype(dtype))


def _select_jvp(f, ta, tb, wa):
    """wa ȧ + (1 − wa) ḃ for maximum/minimum (wa: 1 where a wins, ½ on ties)."""
    return _full(add_terms(None if ta is None else ta * wa, None if tb is None else tb * (1.0 - wa)), f)


def _full(t, f):
    """A tangent broadcast to the output's shape (an operand may have been broadcast)."""
    shape = f.output().shape
    return t if t.shape == shape else broadcast_to(t, shape)


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

    def jvp(self, ta, tb):  # where(cond, ȧ, ḃ)
        a, b = self.inputs
        return _full(Where(self.cond)(tangent_or_zeros(ta, a), tangent_or_zeros(tb, b)), self)


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

    def jvp(self, t):  # ẋ where lo <= x <= hi, else 0
        x = self.inputs[0].data
        xp = _xp(x)
        lo = -xp.inf if self.lo is None else self.lo
        hi = xp.inf if self.hi is None else self.hi
        return t * Tensor(((x >= lo) & (x <= hi)).astype(t.dtype))


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
    if not B.is_placed(cond):  # a host mask moves to the active backend
        cond = B.asarray(cond)
    return Where(cond)(a, b)


def clip(x, lo=None, hi=None):
    if lo is None and hi is None:
        raise ValueError("clip: at least one of lo, hi must be given")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"clip: lo={lo} is larger than hi={hi}")
    return Clip(lo, hi)(as_tensor(x))


clamp = clip
