"""Embedding layer (PyTorch's nn.Embedding): a (num_embeddings, embedding_dim) table.

The randomly initialized word embeddings of [Yu et al. 2017]: 200
dimensions in the PTB language model (§4.4), 128 in the sentence CNN (§4.5).  The weight
is drawn N(0, 1) on the host, as PyTorch; ``padding_idx`` (optional) names a row that is
initialized to zero and receives no gradient.
"""

from __future__ import annotations

from .. import functional as F
from . import init
from .module import Module, Parameter


class Embedding(Module):
    """ids (any shape, integers in [0, num_embeddings)) → ids.shape + (embedding_dim,)."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=None):
        super().__init__()
        for name, v in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"Embedding: {name} must be a positive integer, got {v!r}")
        if padding_idx is not None:
            if not isinstance(padding_idx, int) or not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be an int in [-{num_embeddings}, "
                                 f"{num_embeddings}), got {padding_idx!r}")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.weight = Parameter(init.normal((num_embeddings, embedding_dim), 0.0, 1.0, dtype))
        if padding_idx is not None:
            self.weight.data[padding_idx] = 0

    def forward(self, ids):
        try:
            return F.embedding(ids, self.weight, self.padding_idx)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{self.layer_name()}: {exc}") from None

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
