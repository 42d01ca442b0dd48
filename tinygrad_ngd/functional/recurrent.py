"""LSTM (Hochreiter & Schmidhuber 1997) with PyTorch's gate order i, f, g, o.

The 2-layer LSTM language model of note 001 (001_98c6ef706a98c477.txt, §4.4).  For one
time step, with pre-activations  a = x Wᵢₕᵀ + bᵢₕ + h Wₕₕᵀ + bₕₕ  split into four blocks:

    i = σ(aᵢ),  f = σ(a_f),  g = tanh(a_g),  o = σ(a_o)
    c' = f ⊙ c + i ⊙ g,      h' = o ⊙ tanh(c')

The matrix products are ordinary primitives; the elementwise part is one fused primitive
(:class:`LSTMPointwise`) whose backward is one formula (:func:`_pointwise_backward`)
written only with operators (+, −, ⊙) and a concatenation.  Under a plain backward it
runs on the cached arrays (fast); when a graph of the backward is requested
(create_graph=True) the same formula runs on Tensors recomputed from the inputs, so the
second derivative differentiates through the gates — never through cached constants.
For speed the input projection x Wᵢₕᵀ of all T steps is one matrix product, and the
sequence is split into and joined from time steps by the adjoint pair unstack/stack.
"""

from __future__ import annotations

from .. import backend as B
from ..tensor import Function, Tensor, is_grad_enabled
from .core import as_tensor, concatenate, getitem, linear, matmul, reshape, sigmoid, tanh, transpose

__all__ = ["lstm_cell", "lstm", "unstack", "stack_steps", "dropout_mask"]


# ---------------------------------------------------------------- time-step split / join
class Unstack(Function):
    """x (T, …) → T tensors x[t]; backward: stack the T gradients (missing ones are zeros)."""

    def forward(self, x):
        return tuple(x[t] for t in range(x.shape[0]))

    def backward(self, *gys):
        return Stack()(*gys)


class Stack(Function):
    """T tensors of equal shape → one (T, …); backward: unstack the gradient."""

    def forward(self, *xs):
        return B.array_module(*xs).stack(xs, axis=0)

    def backward(self, gy):
        return Unstack()(gy)


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
        if is_grad_enabled():  # create_graph: rebuild the gates as functions of the inputs
            H = c_prev.shape[-1]
            i, f, g, o = _gates(a, H, sigmoid, tanh, lambda z, s: getitem(z, (slice(None), s)))
            tc = tanh(f * c_prev + i * g)
            return _pointwise_backward(gh, gc, c_prev, i, f, g, o, tc,
                                       lambda xs: concatenate(xs, axis=1))
        xp = B.array_module(gh.data)
        da, dc = _pointwise_backward(gh.data, gc.data, c_prev.data, *self.cache,
                                     lambda xs: xp.concatenate(xs, axis=1))
        return Tensor(da), Tensor(dc)


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


def lstm_layer(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM layer over a sequence x (T, N, I) from (h0, c0) (N, H) each.

    Returns (output (T, N, H), h_T, c_T).  All T input projections are one product.
    """
    T, N, I = x.shape
    bias = None
    if b_ih is not None and b_hh is not None:
        bias = b_ih + b_hh
    elif b_ih is not None or b_hh is not None:
        bias = b_ih if b_ih is not None else b_hh
    gx = reshape(linear(reshape(x, (T * N, I)), w_ih, bias), (T, N, w_ih.shape[0]))
    w_hh_t = transpose(w_hh)                                   # (H, 4H), once per sequence
    h, c = h0, c0
    hs = []
    for gx_t in unstack(gx):
        h, c = LSTMPointwise()(gx_t + matmul(h, w_hh_t), c)
        hs.append(h)
    return stack_steps(hs), h, c


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
