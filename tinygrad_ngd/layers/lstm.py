"""LSTM layer with PyTorch's nn.LSTM interface, parameter names and gate order.

The 2-layer, 200-unit LSTM language model of [Yu et al. 2017, §4.4].
Parameters per layer k, in PyTorch's order: ``weight_ih_l{k}`` (4H, I_k),
``weight_hh_l{k}`` (4H, H), ``bias_ih_l{k}`` (4H,), ``bias_hh_l{k}`` (4H,), rows in gate
order i, f, g, o; all initialized U(−1/√H, 1/√H) as PyTorch (host draw, in that order).

Truncated back-propagation through time (the "BPTT length" of [Yu et al. 2017, §4.4]): run a
long sequence in windows and carry the state across windows *detached*, so each
backward stops at the window's start while the forward state still flows on::

    state = None
    for x_win, y_win in windows:
        out, state = lstm(x_win, state)
        loss = ...; loss.backward(); opt.step()
        state = detach_state(state)      # cut the graph: gradients stop here
"""

from __future__ import annotations

import math

from .. import backend as B
from .. import functional as F
from ..tensor import Tensor
from . import init
from .module import Module, Parameter


def detach_state(state):
    """(h, c) cut from the graph (same values): the truncation point of truncated BPTT."""
    if state is None:
        return None
    h, c = state
    return h.detach(), c.detach()


def _positive_int(name, v):
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ValueError(f"LSTM: {name} must be a positive integer, got {v!r}")
    return v


class LSTM(Module):
    """LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0).

    ``forward(x, state=None)``: x is (T, N, I) — (N, T, I) with batch_first — or (T, I)
    unbatched; state is (h0, c0), each (num_layers, N, H) (or (num_layers, H) unbatched),
    zeros when omitted.  Returns (output, (h_n, c_n)): output holds the last layer's h_t
    for every t, (h_n, c_n) every layer's final state.  Dropout with probability
    ``dropout`` acts on the outputs of all layers but the last, in training mode.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, dtype=None):
        super().__init__()
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_size = _positive_int("hidden_size", hidden_size)
        self.num_layers = _positive_int("num_layers", num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout <= 1.0:
            raise ValueError(f"LSTM: dropout must be a probability in [0, 1], got {dropout!r}")
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        H = hidden_size
        bound = 1.0 / math.sqrt(H)
        for k in range(num_layers):
            in_k = input_size if k == 0 else H
            setattr(self, f"weight_ih_l{k}", Parameter(init.uniform((4 * H, in_k), -bound, bound, dtype)))
            setattr(self, f"weight_hh_l{k}", Parameter(init.uniform((4 * H, H), -bound, bound, dtype)))
            if self.bias:
                setattr(self, f"bias_ih_l{k}", Parameter(init.uniform((4 * H,), -bound, bound, dtype)))
                setattr(self, f"bias_hh_l{k}", Parameter(init.uniform((4 * H,), -bound, bound, dtype)))

    def parameter_blocks(self):
        """One FlatParameters block per stacked layer ("l0", "l1", …): [Yu et al. 2017, §4.4]
        normalizes the gradient of each LSTM layer separately."""
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        return [(f"l{k}", [f"{n}_l{k}" for n in names if getattr(self, f"{n}_l{k}", None) is not None])
                for k in range(self.num_layers)]

    def layer_weights(self):
        """Per layer (w_ih, w_hh, b_ih, b_hh) (biases None when bias=False)."""
        return [(getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}"),
                 getattr(self, f"bias_ih_l{k}", None), getattr(self, f"bias_hh_l{k}", None))
                for k in range(self.num_layers)]

    def _check_state(self, state, N, batched, dtype):
        L, H = self.num_layers, self.hidden_size
        expected = (L, N, H) if batched else (L, H)
        if state is None:
            zeros = Tensor(B.array_module(self.weight_hh_l0.data).zeros((L, N, H), dtype=dtype))
            return zeros, zeros
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError(f"{self.layer_name()}: state must be a pair (h0, c0), got {type(state).__name__}")
        out = []
        for name, s in zip(("h0", "c0"), state):
            s = F.as_tensor(s)
            if tuple(s.shape) != expected:
                raise ValueError(f"{self.layer_name()}: {name} must have shape {expected} "
                                 f"(num_layers, {'batch, ' if batched else ''}hidden_size), found "
                                 f"{tuple(s.shape)}")
            out.append(s if batched else F.reshape(s, (L, 1, H)))
        return tuple(out)

    def forward(self, x, state=None):
        x = F.as_tensor(x)
        if x.ndim not in (2, 3):
            raise ValueError(f"{self.layer_name()}: expected input (T, N, {self.input_size}) "
                             f"{'[batch_first: (N, T, ' + str(self.input_size) + ')] ' if self.batch_first else ''}"
                             f"or unbatched (T, {self.input_size}), found shape {tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{self.layer_name()}: input has {x.shape[-1]} features (shape "
                             f"{tuple(x.shape)}), expected input_size={self.input_size}")
        batched = x.ndim == 3
        if not batched:
            x = F.reshape(x, (x.shape[0], 1, x.shape[1]))
        elif self.batch_first:
            x = F.transpose(x, (1, 0, 2))
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"{self.layer_name()}: the sequence length and the batch must be at "
                             f"least 1, found input shape {tuple(x.shape)}")
        N = x.shape[1]
        h0, c0 = self._check_state(state, N, batched, x.dtype)
        out, (h_n, c_n) = F.lstm(x, (h0, c0), self.layer_weights(), dropout=self.dropout,
                                 training=self.training)
        if not batched:
            L, H = self.num_layers, self.hidden_size
            return F.reshape(out, (out.shape[0], H)), (F.reshape(h_n, (L, H)), F.reshape(c_n, (L, H)))
        if self.batch_first:
            out = F.transpose(out, (1, 0, 2))
        return out, (h_n, c_n)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, bias={self.bias}, "
                f"batch_first={self.batch_first}, dropout={self.dropout}")
