"""Inverted dropout (Srivastava et al. 2014), as PyTorch's nn.Dropout.

In training each element is kept with probability 1 − p and scaled by 1/(1 − p), so the
expected output equals the input and evaluation needs no rescaling (identity in eval).
[Yu et al. 2017, §4.4] uses dropout 0.5 in its LSTM language model.
The mask is drawn on the host from ``B.host_rng()`` and moved, so one seed gives the
same mask on NumPy and CuPy.
"""

from __future__ import annotations

from .. import backend as B
from .. import functional as F
from ..tensor import Tensor
from .module import Module


class Dropout(Module):
    """Zero each element with probability ``p`` in training, scale the rest by 1/(1−p)."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def mask(self, shape, dtype):
        """The scaled keep mask m with m = 1/(1−p) where u ≥ p (u ~ U[0, 1)), else 0."""
        u = B.host_rng().random(shape)
        scale = 1.0 / (1.0 - self.p) if self.p < 1.0 else 0.0  # p = 1 drops everything
        return B.asarray(((u >= self.p) * scale).astype(dtype))

    def forward(self, x):
        x = F.as_tensor(x)
        if not self.training or self.p == 0.0:
            return x
        return x * Tensor(self.mask(x.shape, x.dtype))

    def extra_repr(self) -> str:
        return f"p={self.p}"
