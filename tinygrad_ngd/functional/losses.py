"""Losses: fused softmax cross-entropy (cross_entropy averages over the batch, as PyTorch)
and mean squared error.
"""

from __future__ import annotations

from .. import backend as B
from ..tensor import Function, Tensor
from .base import _pair, _xp, as_tensor
from .elementwise import neg
from .fused import CrossEntropyGrad
from .reduce import mean, sum
from .shape import getitem
from .softmax import log_softmax

__all__ = ["cross_entropy", "mse_loss"]


class CrossEntropy(Function):
    """Softmax cross-entropy of logits (N, C) against integer labels (N,), fused.

    loss = -Σ_n log softmax(x_n)[y_n] · scale, scale = 1/N for 'mean', 1 for 'sum'.
    Its backward (softmax(x) − onehot(y))·gy·scale is the CrossEntropyGrad primitive,
    whose own backward uses the softmax primitive, so the second derivative
    (diag(p) − ppᵀ per row) and higher ones follow.
    """

    def __init__(self, labels, scale):
        self.labels, self.scale = labels, scale

    def forward(self, x):
        xp = _xp(x)
        rows = xp.arange(x.shape[0])
        z = x - x.max(axis=1, keepdims=True)
        e = xp.exp(z)
        s = e.sum(axis=1, keepdims=True)
        # kept for the backward: softmax(x) = e / s without a second exp pass
        self.exp_shifted, self.exp_sum = e, s
        logp_label = z[rows, self.labels] - xp.log(s[:, 0])
        return -logp_label.sum() * x.dtype.type(self.scale)

    def backward(self, gy):
        grad_fn = CrossEntropyGrad(self.labels, self.scale, (self.exp_shifted, self.exp_sum))
        return grad_fn(self.inputs[0], gy)

    def jvp(self, t):
        """ℓ̇ = scale·Σ (softmax(x) − onehot(y)) ⊙ ẋ: the backward node with gy = 1, dotted with ẋ."""
        x = self.inputs[0]
        one = Tensor(_xp(x.data).ones((), dtype=x.dtype))
        g = CrossEntropyGrad(self.labels, self.scale, (self.exp_shifted, self.exp_sum))(x, one)
        return sum(g * t)


def _checked_labels(lab, num_classes):
    """The labels, checked to lie in [0, C).  On NumPy an out-of-range label raises now.  On
    a device the check is deferred (``backend.check``: no transfer; raised at the next
    synchronization, as CUDA reports device-side asserts) and the labels used for indexing
    are clipped into range, so a bad label never reads out of bounds before it is reported."""
    if B.is_numpy_array(lab):
        lo, hi = int(lab.min()), int(lab.max())
        B.check(lo >= 0 and hi < num_classes,
                f"cross_entropy: labels must lie in [0, {num_classes}), found [{lo}, {hi}]")
        return lab
    xp = _xp(lab)
    B.check(xp.logical_and(lab.min() >= 0, lab.max() < num_classes),
            f"cross_entropy: labels must lie in [0, {num_classes}), found one outside that range, "
            f"reported at this synchronization: on a device backend the check is deferred to the "
            f"next host transfer (as CUDA reports device-side asserts), and the losses computed "
            f"since then used labels clipped into range; call tinygrad_ngd.backend.sync_checks() "
            f"after cross_entropy for an immediate check")
    return xp.clip(lab, 0, num_classes - 1)


def cross_entropy(logits, labels, reduction="mean"):
    """PyTorch's F.cross_entropy for logits (N, C) and integer class labels (N,).

    A label outside [0, C) raises ValueError: at once on NumPy; on a device backend at
    the next synchronization (``backend.item`` / ``to_numpy`` / ``sync_checks``: the check
    makes no transfer of its own; the index is clipped meanwhile, never out of bounds)."""
    logits = as_tensor(logits)
    lab = labels.data if isinstance(labels, Tensor) else labels
    if not B.is_placed(lab):  # lists and host arrays move to the active backend
        lab = B.asarray(lab)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must be (N, C), got shape {logits.shape}")
    if lab.shape != (logits.shape[0],) or lab.dtype.kind not in "iu":
        raise ValueError(f"cross_entropy: labels must be integers of shape ({logits.shape[0]},), "
                         f"got {lab.dtype} of shape {lab.shape}")
    if lab.size:
        lab = _checked_labels(lab, logits.shape[1])
    if reduction == "none":
        logp = log_softmax(logits, axis=1)
        return neg(getitem(logp, (_xp(lab).arange(lab.shape[0]), lab)))
    if reduction not in ("mean", "sum"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if reduction == "mean" and logits.shape[0] == 0:
        raise ValueError(f"cross_entropy: the batch is empty (batch size 0, logits of shape "
                         f"{logits.shape}): the mean over no examples is undefined; pass a "
                         f"non-empty batch or reduction='sum'")
    scale = 1.0 / logits.shape[0] if reduction == "mean" else 1.0
    return CrossEntropy(lab, scale)(logits)


def mse_loss(input, target, reduction="mean"):  # noqa: A002 - torch's argument name
    """PyTorch's F.mse_loss: mean (or sum) of squared differences."""
    input, target = _pair(input, target)
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} differs from target shape {target.shape}")
    d = input - target
    sq = d * d
    if reduction == "mean":
        return mean(sq)
    if reduction == "sum":
        return sum(sq)
    if reduction == "none":
        return sq
    raise ValueError(f"mse_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
