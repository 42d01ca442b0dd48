"""Fused speed nodes: one primitive where the composed formula would be several nodes.

* :class:`Gemm` — op(A) op(B), closed under differentiation (matrix-product gradients are
  Gemms again); :class:`Linear` — x Wᵀ + b in one node.
* :class:`SigmoidGrad` / :class:`SigmoidGradBackward`, :class:`TanhGrad` /
  :class:`TanhGradBackward` — the backward of σ and tanh, and its backward, as single
  nodes (HVPs through sigmoid nets pay one node per layer instead of seven).
* :class:`CrossEntropyGrad` — the backward of the fused softmax cross-entropy.

Each is tested against the composition it replaces (tests/test_primitives.py).
"""

from __future__ import annotations

from ..tensor import Function, Tensor
from .base import _xp, add_terms, as_tensor
from .reduce import sum
from .shape import broadcast_to, reshape
from .softmax import softmax

__all__ = ["gemm", "linear"]


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
        return _gemm_grads(a, b, gc, self.trans_a, self.trans_b, *self.needs_grad)

    def jvp(self, ta, tb):  # Ċ = op(Ȧ) op(B) + op(A) op(Ḃ)
        a, b = self.inputs
        if ta is not None and tb is not None:
            return GemmTangent(self.trans_a, self.trans_b)(a, b, ta, tb)  # the same sum, one node
        return add_terms(None if ta is None else gemm(ta, b, self.trans_a, self.trans_b),
                         None if tb is None else gemm(a, tb, self.trans_a, self.trans_b))


def _gemm_grads(a, b, gc, ta, tb, need_a=True, need_b=True):
    """(dA, dB) of C = op(A) op(B) for the upstream gC (None where not needed)."""
    ga = gb = None
    if need_a:
        ga = gemm(b, gc, tb, True) if ta else gemm(gc, b, False, not tb)
    if need_b:
        gb = gemm(gc, a, True, ta) if tb else gemm(a, gc, not ta, False)
    return ga, gb


class GemmTangent(Function):
    """Ċ = op(Ȧ) op(B) + op(A) op(Ḃ): Gemm's forward-mode rule when both factors carry a
    tangent, as one node (the R-operator pays it for every matrix product of a backward
    pass).  Inputs (A, B, Ȧ, Ḃ).  Two Gemm products, so its backward is Gemm's rule applied
    to each: (dA, dḂ) from the pair (A, Ḃ), (dȦ, dB) from the pair (Ȧ, B)."""

    def __init__(self, trans_a=False, trans_b=False):
        self.trans_a, self.trans_b = trans_a, trans_b

    def forward(self, a, b, ta, tb):
        op_b = b.T if self.trans_b else b
        out = (ta.T if self.trans_a else ta) @ op_b
        out += (a.T if self.trans_a else a) @ (tb.T if self.trans_b else tb)
        return out

    def backward(self, gc):
        a, b, ta, tb = self.inputs
        need = self.needs_grad
        g_a, g_tb = _gemm_grads(a, tb, gc, self.trans_a, self.trans_b, need[0], need[3])
        g_ta, g_b = _gemm_grads(ta, b, gc, self.trans_a, self.trans_b, need[2], need[1])
        return g_a, g_b, g_ta, g_tb

    def jvp(self, da, db, dta, dtb):  # the product rule on both products
        a, b, ta, tb = self.inputs
        ta_, tb_ = self.trans_a, self.trans_b
        return add_terms(None if dta is None else gemm(dta, b, ta_, tb_),
                         None if db is None else gemm(ta, db, ta_, tb_),
                         None if da is None else gemm(da, tb, ta_, tb_),
                         None if dtb is None else gemm(a, dtb, ta_, tb_))


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

    def jvp(self, tx, tw, tb=None):
        """ẏ = ẋ Wᵀ + x Ẇᵀ + ḃ (one LinearTangent node when x and W both carry tangents)."""
        x, w = self.inputs[0], self.inputs[1]
        y = self.output()
        if tx is not None and tw is not None:
            return LinearTangent()(x, w, tx, tw) if tb is None else LinearTangent()(x, w, tx, tw, tb)
        from_x = None if tx is None else Linear()(tx, w)
        if tw is not None:  # x Ẇᵀ (+ ḃ): the same fused node with the tangent weights
            from_w = Linear()(x, tw) if tb is None else Linear()(x, tw, tb)
        else:
            from_w = None if tb is None else broadcast_to(tb, y.shape)
        return add_terms(from_x, from_w)


class LinearTangent(Function):
    """ẏ = ẋ Wᵀ + x Ẇᵀ + ḃ as one node: Linear's forward-mode rule when both x and W carry
    tangents.  Inputs (x, W, ẋ, Ẇ[, ḃ]); bilinear, so its derivatives are products again:
    backward  dx = gy Ẇ, dW = gyᵀ ẋ, dẋ = gy W, dẆ = gyᵀ x, dḃ = Σ_rows gy."""

    def forward(self, x, w, tx, tw, tb=None):
        out = tx @ w.T
        out += x @ tw.T
        if tb is not None:
            out += tb
        return out

    def backward(self, gy):
        x, w, tx, tw = self.inputs[:4]
        need = self.needs_grad
        grads = (gemm(gy, tw) if need[0] else None, gemm(gy, tx, True, False) if need[1] else None,
                 gemm(gy, w) if need[2] else None, gemm(gy, x, True, False) if need[3] else None)
        if len(self.inputs) == 5:
            return grads + (sum(gy, axis=0) if need[4] else None,)
        return grads

    def jvp(self, dx, dw, dtx, dtw, dtb=None):  # the product rule on both products
        x, w, tx, tw = self.inputs[:4]
        return add_terms(None if dtx is None else gemm(dtx, w, False, True),
                         None if dw is None else gemm(tx, dw, False, True),
                         None if dx is None else gemm(dx, tw, False, True),
                         None if dtw is None else gemm(x, dtw, False, True),
                         None if dtb is None else broadcast_to(dtb, self.output().shape))


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


def _full(t, like):
    """A tangent broadcast to ``like``'s shape (an operand may have been broadcast)."""
    return t if t.shape == like.shape else broadcast_to(t, like.shape)


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

    def jvp(self, ty, tgy):
        """ġ = ẏ·gy(1−2y) + ġy·y(1−y) (one SigmoidGradTangent node when both carry tangents)."""
        y, gy = self.inputs
        if ty is not None and tgy is not None:
            return SigmoidGradTangent()(y, gy, ty, tgy)
        return add_terms(None if ty is None else SigmoidGradBackward()(y, gy, ty)[0],
                         None if tgy is None else SigmoidGrad()(y, tgy))


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

    def jvp(self, ty, tgy, tgg):
        """ȧ = ġg·gy(1−2y) + gg·ġy(1−2y) − 2·gg·gy·ẏ,  ḃ = ġg·y(1−y) + gg(1−2y)·ẏ."""
        y, gy, gg = self.inputs
        one_minus_2y = 1.0 - 2.0 * y
        da = add_terms(None if tgg is None else tgg * gy * one_minus_2y,
                       None if tgy is None else gg * tgy * one_minus_2y,
                       None if ty is None else gg * gy * ty * -2.0)
        db = add_terms(None if tgg is None else tgg * (y * (1.0 - y)),
                       None if ty is None else gg * one_minus_2y * ty)
        return _full(da, y), _full(db, y)


class SigmoidGradTangent(Function):
    """ġ = ẏ·gy(1−2y) + ġy·y(1−y): SigmoidGrad's forward-mode rule as one node, inputs
    (y, gy, ẏ, ġy).  Backward with upstream u:
    dy = u(ġy(1−2y) − 2·gy·ẏ), dgy = u·ẏ(1−2y), dẏ = u·gy(1−2y), dġy = u·y(1−y)."""

    def forward(self, y, gy, ty, tgy):
        out = y * -2.0  # ẏ·gy(1−2y) + ġy·y(1−y) in two buffers
        out += 1.0
        out *= gy
        out *= ty
        second = 1.0 - y
        second *= y
        second *= tgy
        out += second
        return out

    def backward(self, u):
        y, gy, ty, tgy = self.inputs
        one_minus_2y = 1.0 - 2.0 * y
        return (u * (tgy * one_minus_2y - gy * ty * 2.0), u * ty * one_minus_2y, u * gy * one_minus_2y,
                u * (y * (1.0 - y)))

    def jvp(self, dy, dgy, dty, dtgy):
        y, gy, ty, tgy = self.inputs
        one_minus_2y = 1.0 - 2.0 * y
        return _full(add_terms(None if dy is None else dy * (tgy * one_minus_2y - gy * ty * 2.0),
                               None if dgy is None else dgy * ty * one_minus_2y,
                               None if dty is None else dty * gy * one_minus_2y,
                               None if dtgy is None else dtgy * (y * (1.0 - y))), y)


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

    def jvp(self, ty, tgy):
        """ġ = −2·gy·y·ẏ + ġy(1−y²) (one TanhGradTangent node when both carry tangents)."""
        y, gy = self.inputs
        if ty is not None and tgy is not None:
            return TanhGradTangent()(y, gy, ty, tgy)
        return add_terms(None if ty is None else TanhGradBackward()(y, gy, ty)[0],
                         None if tgy is None else TanhGrad()(y, tgy))


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

    def jvp(self, ty, tgy, tgg):
        """ȧ = −2(ġg·gy·y + gg·ġy·y + gg·gy·ẏ),  ḃ = ġg(1−y²) − 2·gg·y·ẏ."""
        y, gy, gg = self.inputs
        da = add_terms(None if tgg is None else tgg * gy * y,
                       None if tgy is None else gg * tgy * y,
                       None if ty is None else gg * gy * ty) * -2.0
        db = add_terms(None if tgg is None else tgg * (1.0 - y * y),
                       None if ty is None else gg * y * ty * -2.0)
        return _full(da, y), _full(db, y)


class TanhGradTangent(Function):
    """ġ = ġy(1−y²) − 2·gy·y·ẏ: TanhGrad's forward-mode rule as one node, inputs
    (y, gy, ẏ, ġy).  Backward with upstream u:
    dy = −2u(ġy·y + gy·ẏ), dgy = −2u·y·ẏ, dẏ = −2u·gy·y, dġy = u(1−y²)."""

    def forward(self, y, gy, ty, tgy):
        out = y * y  # ġy(1−y²) − 2·gy·y·ẏ in two buffers
        out -= 1.0
        out *= tgy
        second = gy * y
        second *= ty
        second *= 2.0
        out += second
        out *= -1.0
        return out

    def backward(self, u):
        y, gy, ty, tgy = self.inputs
        return (u * (tgy * y + gy * ty) * -2.0, u * y * ty * -2.0, u * gy * y * -2.0, u * (1.0 - y * y))

    def jvp(self, dy, dgy, dty, dtgy):
        y, gy, ty, tgy = self.inputs
        return _full(add_terms(None if dy is None else dy * (tgy * y + gy * ty) * -2.0,
                               None if dgy is None else dgy * y * ty * -2.0,
                               None if dty is None else dty * gy * y * -2.0,
                               None if dtgy is None else dtgy * (1.0 - y * y)), y)


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

    def jvp(self, tx, tgy):
        """ġ = p ⊙ (ẋ − Σ_c p ẋ)·gy·scale + (p − onehot)·ġy·scale (softmax's Jacobian, then
        this node again with the tangent in place of gy)."""
        x, gy = self.inputs
        from_x = None
        if tx is not None:
            p = softmax(x, axis=1)
            from_x = p * (tx - sum(p * tx, axis=1, keepdims=True)) * (gy * self.scale)
        from_gy = None if tgy is None else CrossEntropyGrad(self.labels, self.scale, self.cache)(x, tgy)
        return add_terms(from_x, from_gy)
