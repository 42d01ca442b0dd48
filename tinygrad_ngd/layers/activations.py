"""Activation modules: thin layers over the functional primitives, PyTorch's names and
arguments (nn.Sigmoid, nn.Tanh, nn.ReLU, nn.Softplus, nn.Softmax, nn.LogSoftmax,
nn.Identity).  [Yu et al. 2017, §4.1] trains deep MLPs of sigmoid
layers; the derivative rules live in ``functional/activations.py``.
"""

from __future__ import annotations

from .. import functional as F
from ..functional.activations import Softplus as _Softplus
from .module import Module


class Sigmoid(Module):
    """σ(x) = 1 / (1 + e^−x)."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class ReLU(Module):
    """max(x, 0), with relu'(0) = 0 as PyTorch."""

    def forward(self, x):
        return F.relu(x)


class Softplus(Module):
    """(1/β)·log(1 + e^{βx}), and x itself where βx > threshold (PyTorch's nn.Softplus)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        for name, v in (("beta", beta), ("threshold", threshold)):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"Softplus: {name} must be a number, got {v!r}")
        if not beta > 0:
            raise ValueError(f"Softplus: beta must be > 0, got {beta}")
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x):
        x = F.as_tensor(x)
        if self.beta == 1.0 and self.threshold == _Softplus.threshold:
            return F.softplus(x)
        fn = _Softplus()
        fn.threshold = self.threshold  # the primitive's rule with this layer's threshold on βx
        return fn(x * self.beta) * (1.0 / self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """exp(x_i) / Σ_j exp(x_j) along ``dim`` (default the last)."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, axis=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """x_i − log Σ_j exp(x_j) along ``dim`` (default the last)."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.log_softmax(x, axis=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Identity(Module):
    """Returns its input unchanged (a placeholder layer)."""

    def forward(self, x):
        return x
