"""Embedding lookup: rows of a weight matrix picked by integer ids.

The word embeddings of [Yu et al. 2017]: the 200-dimensional input
of the PTB language model (§4.4) and the 128-dimensional one of the sentence CNN (§4.5).
y[…, :] = W[ids[…], :] is linear in W; its backward is a scatter-add of the output
gradient into the rows named by ids (a word used twice gets both contributions), done
through one flat index so the backend's fast 1-D scatter-add path is used.  The adjoint
of that scatter-add is the gather again, so second derivatives are exact.
"""

from __future__ import annotations

from .. import backend as B
from ..tensor import Function, Tensor
from .conv import scatter_add_flat

__all__ = ["embedding"]


class EmbeddingLookup(Function):
    """W (V, D) → W[ids] of shape ids.shape + (D,), for a constant integer array ids."""

    def __init__(self, ids, padding_idx):
        self.ids, self.padding_idx = ids, padding_idx

    def forward(self, w):
        self.w_shape = w.shape
        return w.take(self.ids, axis=0)

    def backward(self, gy):
        xp = B.array_module(self.ids)
        D = self.w_shape[1]
        # flat position of y[…, d] in W: ids·D + d
        flat = self.ids[..., None] * D + xp.arange(D)
        if self.padding_idx is not None:  # PyTorch: the padding row receives no gradient
            keep = (self.ids != self.padding_idx)[..., None].astype(gy.dtype)
            gy = gy * Tensor(keep)
        return scatter_add_flat(gy, flat, self.w_shape)

    def jvp(self, t):
        """Linear in W: ẏ = Ẇ[ids] (the padding row's tangent included, as torch.func.jvp:
        padding_idx only withholds the gradient)."""
        return EmbeddingLookup(self.ids, self.padding_idx)(t)


def embedding(ids, weight, padding_idx=None):
    """PyTorch's F.embedding: integer ids of any shape, weight (V, D) → ids.shape + (D,)."""
    if isinstance(ids, Tensor):
        ids = ids.data
    if not B.is_placed(ids):  # lists and host arrays move to the active backend
        ids = B.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding: ids must be integers, found dtype {ids.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be (num_embeddings, embedding_dim), found shape "
                         f"{tuple(weight.shape)}")
    V = weight.shape[0]
    if ids.size:
        # B.item: one explicit device -> host transfer each, needed to report bad ids clearly
        lo, hi = int(B.item(ids.min())), int(B.item(ids.max()))
        if lo < 0 or hi >= V:
            raise ValueError(f"embedding: ids must lie in [0, {V}), found values in [{lo}, {hi}]")
    return EmbeddingLookup(ids, padding_idx)(weight)
