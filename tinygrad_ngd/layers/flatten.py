"""Flatten: merge dimensions start_dim … end_dim into one (PyTorch's nn.Flatten), e.g.
(N, C, H, W) -> (N, C·H·W) between a convolution and a Dense layer."""

from __future__ import annotations

from .. import functional as F
from .module import Module


class Flatten(Module):
    """Reshape (…, d_s, …, d_e, …) to (…, d_s·…·d_e, …); defaults keep the batch axis."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x):
        x = F.as_tensor(x)
        nd = x.ndim
        if not (-nd <= self.start_dim < nd and -nd <= self.end_dim < nd) \
                or self.start_dim % nd > self.end_dim % nd:
            raise ValueError(f"{self.layer_name()}: start_dim={self.start_dim}, end_dim={self.end_dim} "
                             f"are invalid for an input of shape {x.shape}")
        s, e = self.start_dim % nd, self.end_dim % nd
        merged = 1
        for d in x.shape[s:e + 1]:
            merged *= d
        return F.reshape(x, x.shape[:s] + (merged,) + x.shape[e + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
