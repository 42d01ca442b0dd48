"""LSTM (Hochreiter & Schmidhuber 1997) with PyTorch's gate order i, f, g, o.

The 2-layer LSTM language model of [Yu et al. 2017, §4.4].  For one
time step, with pre-activations  a = x Wᵢₕᵀ + bᵢₕ + h Wₕₕᵀ + bₕₕ  split into four blocks:

    i = σ(aᵢ),  f = σ(a_f),  g = tanh(a_g),  o = σ(a_o)
    c' = f ⊙ c + i ⊙ g,      h' = o ⊙ tanh(c')

Two fused primitives, each with one backward formula written only with operators
(+, −, ⊙, @, indexing) and a concatenation/stack, so the same code runs on arrays or on
Tensors:

* :class:`LSTMPointwise` — one step's elementwise part (a, c) → (h', c') (used by
  :func:`lstm_cell`); backward :func:`_pointwise_backward`.
* :class:`LSTMLayer` — a whole layer over T steps (used by :func:`lstm`): the input
  projection x Wᵢₕᵀ of all steps is one product, the recurrence runs on arrays, and the
  backward is back-propagation through time (:func:`_bptt`) with the weight gradients
  as one product each over all steps, as a hand-written LSTM would do.

Under a plain backward both run on the cached arrays (fast).  When a graph of the
backward is requested (create_graph=True) the forward is recomputed with Tensor
operations from the inputs and the same formulas run on those Tensors, so second
derivatives differentiate through the gates — never through cached constants.
"""

from __future__ import annotations

from .. import backend as B
from ..tensor import Function, Tensor, tracks_derivatives
from .activations import sigmoid, tanh
from .base import add_terms, as_tensor, tangent_or_zeros
from .fused import linear
from .shape import broadcast_to, concatenate, getitem, reshape

__all__ = ["dropout_mask", "lstm", "lstm_cell", "lstm_layer", "stack_steps", "unstack"]


# ---------------------------------------------------------------- time-step split / join
class Unstack(Function):
    """x (T, …) → T tensors x[t]; backward: stack the T gradients (missing ones are zeros)."""

    def forward(self, x):
        return tuple(x[t] for t in range(x.shape[0]))

    def backward(self, *gys):
        return Stack()(*gys)

    def jvp(self, t):  # linear: the steps of ẋ
        out = Unstack()(t)
        return out if isinstance(out, tuple) else (out,)


class Stack(Function):
    """T tensors of equal shape → one (T, …); backward: unstack the gradient."""

    def forward(self, *xs):
        return B.array_module(*xs).stack(xs, axis=0)

    def backward(self, gy):
        return Unstack()(gy)

    def jvp(self, *ts):  # linear: the stacked tangents (zeros for inputs without one)
        return Stack()(*[tangent_or_zeros(t, x) for t, x in zip(ts, self.inputs)])


def unstack(x):
    """Split along axis 0 into a tuple of tensors (one node; its adjoint is stack_steps)."""
    x = as_tensor(x)
    out = Unstack()(x)
    return out if isinstance(out, tuple) else (out,)


def stack_steps(xs):
    """Join equal-shape tensors along a new axis 0 (one node; its adjoint is unstack)."""
    xs = [as_tensor(x) for x in xs]
    for t, x in enumerate(xs):
        if x.shape != xs[0].shape:
            raise ValueError(f"stack_steps: tensor {t} has shape {x.shape}, expected {xs[0].shape}")
    return Stack()(*xs)


# ---------------------------------------------------------------- the fused cell
def _gates(a, H, act_sigmoid, act_tanh, take):
    """i, f, g, o from the pre-activations a (N, 4H) in PyTorch's order."""
    i = act_sigmoid(take(a, slice(0, H)))
    f = act_sigmoid(take(a, slice(H, 2 * H)))
    g = act_tanh(take(a, slice(2 * H, 3 * H)))
    o = act_sigmoid(take(a, slice(3 * H, 4 * H)))
    return i, f, g, o


def _pointwise_backward(gh, gc, c_prev, i, f, g, o, tc, concat):
    """Gradients of (h', c') = cell(a, c) with respect to a and c.

    All operands are arrays (plain backward) or all Tensors (differentiable backward):
        ∂c'total = gc + gh ⊙ o ⊙ (1 − tanh²c')
        ∂aᵢ = ∂c' ⊙ g ⊙ i(1 − i),  ∂a_f = ∂c' ⊙ c ⊙ f(1 − f)
        ∂a_g = ∂c' ⊙ i ⊙ (1 − g²),  ∂a_o = gh ⊙ tanh c' ⊙ o(1 − o),  ∂c = ∂c' ⊙ f
    """
    gct = gc + gh * o * (1.0 - tc * tc)
    da_i = gct * g * (i * (1.0 - i))
    da_f = gct * c_prev * (f * (1.0 - f))
    da_g = gct * i * (1.0 - g * g)
    da_o = gh * tc * (o * (1.0 - o))
    return concat([da_i, da_f, da_g, da_o]), gct * f


def _pointwise_jvp(ta, tc_prev, c_prev, i, f, g, o, tc):
    """Tangents (ḣ', ċ') of (h', c') = cell(a, c) along (ȧ, ċ), all Tensors:
        i̇ = i(1 − i) ȧᵢ,  ḟ = f(1 − f) ȧ_f,  ġ = (1 − g²) ȧ_g,  ȯ = o(1 − o) ȧ_o
        ċ' = ḟ ⊙ c + f ⊙ ċ + i̇ ⊙ g + i ⊙ ġ,    ḣ' = ȯ ⊙ tanh c' + o ⊙ (1 − tanh²c') ⊙ ċ'
    """
    H = c_prev.shape[-1]

    def block(k):
        return getitem(ta, (slice(None), slice(k * H, (k + 1) * H)))

    di = i * (1.0 - i) * block(0)
    df = f * (1.0 - f) * block(1)
    dg = (1.0 - g * g) * block(2)
    do = o * (1.0 - o) * block(3)
    dc = df * c_prev + f * tc_prev + di * g + i * dg
    dh = do * tc + o * (1.0 - tc * tc) * dc
    return dh, dc


class LSTMPointwise(Function):
    """(a, c) → (h', c'): the elementwise part of an LSTM step (see module docstring)."""

    def forward(self, a, c_prev):
        xp = B.array_module(a, c_prev)
        H = c_prev.shape[-1]

        def sig(z):  # tanh form of the logistic function, as the core sigmoid
            return 0.5 * xp.tanh(0.5 * z) + 0.5

        i, f, g, o = _gates(a, H, sig, xp.tanh, lambda z, s: z[:, s])
        c = f * c_prev + i * g
        tc = xp.tanh(c)
        self.cache = (i, f, g, o, tc)
        return o * tc, c

    def backward(self, gh, gc):
        a, c_prev = self.inputs
        if tracks_derivatives(a, c_prev, gh, gc):  # create_graph / forward mode: gates of the inputs
            H = c_prev.shape[-1]
            i, f, g, o = _gates(a, H, sigmoid, tanh, lambda z, s: getitem(z, (slice(None), s)))
            tc = tanh(f * c_prev + i * g)
            return _pointwise_backward(gh, gc, c_prev, i, f, g, o, tc,
                                       lambda xs: concatenate(xs, axis=1))
        xp = B.array_module(gh.data)
        da, dc = _pointwise_backward(gh.data, gc.data, c_prev.data, *self.cache,
                                     lambda xs: xp.concatenate(xs, axis=1))
        return Tensor(da), Tensor(dc)

    def jvp(self, ta, tc):
        a, c_prev = self.inputs
        if tracks_derivatives(a, c_prev):  # recording: the gates as functions of the inputs
            i, f, g, o = _gates(a, c_prev.shape[-1], sigmoid, tanh, lambda z, s: getitem(z, (slice(None), s)))
            tcell = tanh(f * c_prev + i * g)
        else:
            i, f, g, o, tcell = (Tensor(v) for v in self.cache)
        return _pointwise_jvp(tangent_or_zeros(ta, a), tangent_or_zeros(tc, c_prev), c_prev,
                              i, f, g, o, tcell)


def lstm_cell(x, state, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step (PyTorch's LSTMCell): x (N, I), state (h, c) each (N, H) → (h', c')."""
    h, c = state
    a = linear(x, w_ih, b_ih) + linear(h, w_hh, b_hh)
    return LSTMPointwise()(a, as_tensor(c))


# ---------------------------------------------------------------- a whole sequence
def dropout_mask(shape, p, dtype):
    """Inverted-dropout mask: 0 with probability p, 1/(1 − p) otherwise (host draw, then moved)."""
    keep = B.host_rng().random(shape) >= p
    scale = 1.0 / (1.0 - p) if p < 1.0 else 0.0  # p = 1 drops everything
    return B.asarray((keep * scale).astype(dtype))


class _ArrayOps:
    """Array versions of the few operations the shared formulas need."""

    def __init__(self, xp):
        self.xp = xp
        self.tanh = xp.tanh

    def sigmoid(self, z):  # tanh form of the logistic function, as the core sigmoid
        return 0.5 * self.xp.tanh(0.5 * z) + 0.5

    def concat(self, xs):
        return self.xp.concatenate(xs, axis=1)

    def stack(self, xs):
        return self.xp.stack(xs, axis=0)


class _TensorOps:
    """Tensor versions (differentiable) of the same operations."""

    sigmoid = staticmethod(sigmoid)
    tanh = staticmethod(tanh)

    @staticmethod
    def concat(xs):
        return concatenate(xs, axis=1)

    @staticmethod
    def stack(xs):
        return stack_steps(xs)


def _layer_forward(x, h0, c0, w_ih, w_hh, bias, ops):
    """One LSTM layer over x (T, N, I); returns out (T, N, H) and the cache for BPTT."""
    T, N, I = x.shape
    H = h0.shape[-1]
    gx = x.reshape((T * N, I)) @ w_ih.T
    if bias is not None:
        gx = gx + bias
    gx = gx.reshape((T, N, 4 * H))
    w_hh_t = w_hh.T
    hs, cs, gates, tcs = [h0], [c0], [], []
    for t in range(T):
        a = gx[t] + hs[-1] @ w_hh_t
        i, f, g, o = _gates(a, H, ops.sigmoid, ops.tanh, lambda z, s: z[:, s])
        c = f * cs[-1] + i * g
        tc = ops.tanh(c)
        hs.append(o * tc)
        cs.append(c)
        gates.append((i, f, g, o))
        tcs.append(tc)
    return ops.stack(hs[1:]), (hs, cs, gates, tcs)


def _bptt(g_out, g_hT, g_cT, x, w_ih, w_hh, cache, ops):
    """Back-propagation through time for :func:`_layer_forward` (arrays or Tensors).

    Per step (reversed): ∂h_t += ∂out_t; (∂a_t, ∂c_{t−1}) from the pointwise rule;
    ∂h_{t−1} = ∂a_t Wₕₕ.  Then over all steps at once, with ∂A = [∂a_1; …; ∂a_T]:
    ∂Wₕₕ = ∂Aᵀ [h_0; …; h_{T−1}],  ∂Wᵢₕ = ∂Aᵀ X,  ∂b = Σ ∂A,  ∂X = ∂A Wᵢₕ.
    """
    hs, cs, gates, tcs = cache
    T, N, I = x.shape
    H = w_hh.shape[1]
    gh, gc = g_hT, g_cT
    das = [None] * T
    for t in reversed(range(T)):
        gh = gh + g_out[t]
        das[t], gc = _pointwise_backward(gh, gc, cs[t], *gates[t], tcs[t], ops.concat)
        gh = das[t] @ w_hh
    d_a = ops.stack(das).reshape((T * N, 4 * H))
    d_a_t = d_a.T
    g_w_hh = d_a_t @ ops.stack(hs[:-1]).reshape((T * N, H))
    g_w_ih = d_a_t @ x.reshape((T * N, I))
    g_x = (d_a @ w_ih).reshape((T, N, I))
    return g_x, gh, gc, g_w_ih, g_w_hh, d_a.sum(axis=0)


class LSTMLayer(Function):
    """(x, h0, c0, W_ih, W_hh[, b]) → (out, h_T, c_T): one fused LSTM layer (b = b_ih + b_hh)."""

    def forward(self, x, h0, c0, w_ih, w_hh, bias=None):
        ops = _ArrayOps(B.array_module(x, h0, w_ih))
        out, self.cache = _layer_forward(x, h0, c0, w_ih, w_hh, bias, ops)
        hs, cs = self.cache[0], self.cache[1]
        return out, hs[-1], cs[-1]

    def backward(self, g_out, g_hT, g_cT):
        x, h0, c0, w_ih, w_hh = self.inputs[:5]
        bias = self.inputs[5] if len(self.inputs) == 6 else None
        if tracks_derivatives(*self.inputs, g_out, g_hT, g_cT):  # create_graph / forward mode
            _, cache = _layer_forward(x, h0, c0, w_ih, w_hh, bias, _TensorOps)
            grads = _bptt(g_out, g_hT, g_cT, x, w_ih, w_hh, cache, _TensorOps)
        else:
            ops = _ArrayOps(B.array_module(g_out.data))
            grads = _bptt(g_out.data, g_hT.data, g_cT.data, x.data, w_ih.data, w_hh.data,
                          self.cache, ops)
            grads = tuple(Tensor(g) for g in grads)
        return grads if bias is not None else grads[:5]

    def jvp(self, tx, th0, tc0, tw_ih, tw_hh, tb=None):
        """Forward mode through the recurrence: per step
            ȧ_t = ẋ_t Wᵢₕᵀ + x_t Ẇᵢₕᵀ + ḃ + ḣ_{t−1} Wₕₕᵀ + h_{t−1} Ẇₕₕᵀ,
        then (ḣ_t, ċ_t) by the cell's rule (:func:`_pointwise_jvp`)."""
        x, h0, c0, w_ih, w_hh = self.inputs[:5]
        bias = self.inputs[5] if len(self.inputs) == 6 else None
        if tracks_derivatives(*self.inputs):  # recording: the states as functions of the inputs
            _, (hs, cs, gates, tcs) = _layer_forward(x, h0, c0, w_ih, w_hh, bias, _TensorOps)
        else:
            hs, cs, gates, tcs = self.cache
            hs, cs, tcs = ([Tensor(v) for v in seq] for seq in (hs, cs, tcs))
            gates = [tuple(Tensor(v) for v in gate) for gate in gates]
        T, N, I = x.shape
        H = h0.shape[-1]
        x2 = reshape(x, (T * N, I))
        ta_in = add_terms(None if tx is None else linear(reshape(tx, (T * N, I)), w_ih),
                          None if tw_ih is None else linear(x2, tw_ih),
                          None if tb is None else broadcast_to(tb, (T * N, 4 * H)))
        ta_steps = None if ta_in is None else unstack(reshape(ta_in, (T, N, 4 * H)))
        th, tc = th0, tc0
        outs = []
        for t in range(T):
            ta = add_terms(None if ta_steps is None else ta_steps[t],
                           None if th is None else linear(th, w_hh),
                           None if tw_hh is None else linear(hs[t], tw_hh))
            ta = Tensor(B.array_module(x.data).zeros((N, 4 * H), dtype=x.dtype)) if ta is None else ta
            th, tc = _pointwise_jvp(ta, tangent_or_zeros(tc, c0), cs[t], *gates[t], tcs[t])
            outs.append(th)
        return stack_steps(outs), th, tc


def lstm_layer(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM layer over a sequence x (T, N, I) from (h0, c0) (N, H) each.

    Returns (output (T, N, H), h_T, c_T), computed by the fused :class:`LSTMLayer`.
    """
    x, h0, c0 = as_tensor(x), as_tensor(h0), as_tensor(c0)
    bias = None
    if b_ih is not None and b_hh is not None:
        bias = b_ih + b_hh
    elif b_ih is not None or b_hh is not None:
        bias = b_ih if b_ih is not None else b_hh
    args = (x, h0, c0, w_ih, w_hh) + ((bias,) if bias is not None else ())
    return LSTMLayer()(*args)


def lstm(x, state, weights, dropout=0.0, training=False):
    """A stacked LSTM (PyTorch's nn.LSTM semantics, time-major).

    x: (T, N, I); state: (h0, c0) each (L, N, H); weights: per layer a tuple
    (w_ih, w_hh, b_ih, b_hh) (biases may be None).  Dropout with probability ``dropout``
    is applied to the outputs of every layer but the last, in training only.
    Returns (output (T, N, H), (h_n, c_n) each (L, N, H)).
    """
    h0, c0 = state
    h_last, c_last = [], []
    out = as_tensor(x)
    for layer, (w_ih, w_hh, b_ih, b_hh) in enumerate(weights):
        if layer > 0 and dropout > 0.0 and training:
            out = out * Tensor(dropout_mask(out.shape, dropout, out.dtype))
        out, h, c = lstm_layer(out, getitem(h0, layer), getitem(c0, layer), w_ih, w_hh, b_ih, b_hh)
        h_last.append(h)
        c_last.append(c)
    return out, (stack_steps(h_last), stack_steps(c_last))
