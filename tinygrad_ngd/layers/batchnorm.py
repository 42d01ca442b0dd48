"""BatchNorm1d and BatchNorm2d with PyTorch's semantics and buffers.

[Misra, "Batch Normalization"] gives the transform
y = γ (x − μ)/σ + β with batch statistics; [Ravasi] ("Batch
Normalization") uses running statistics at test time.  As PyTorch: ε = 1e-5,
momentum = 0.1 (None: cumulative average), learnable ``weight`` γ = 1 and ``bias`` β = 0
(affine=True), buffers ``running_mean`` = 0, ``running_var`` = 1 and
``num_batches_tracked`` = 0 (track_running_stats=True).  Train mode normalizes with the
batch statistics (biased variance), differentiating through them, and updates the
buffers in place (unbiased variance); eval mode normalizes with the buffers.

Unlike PyTorch, a batch whose statistics are not finite (a NaN or inf anywhere in the
batch) leaves the running statistics and ``num_batches_tracked`` as they were and warns
(RuntimeWarning naming the layer): PyTorch writes the NaN into the buffers, and every
eval-mode output is NaN from then on, even when the optimizer skips that step.  The
train-mode output of such a batch is still its (non-finite) batch normalization.
"""

from __future__ import annotations

import warnings

from .. import backend as B
from .. import functional as F
from . import init
from .module import Module, Parameter


class _BatchNorm(Module):
    _input_dims = ()  # accepted input ranks
    _layout = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=None):
        super().__init__()
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features <= 0:
            raise ValueError(f"{name}: num_features must be a positive integer, got {num_features!r}")
        if not (isinstance(eps, (int, float)) and eps > 0):
            raise ValueError(f"{name}: eps must be a positive number, got {eps!r}")
        if momentum is not None and not (isinstance(momentum, (int, float)) and 0.0 <= momentum <= 1.0):
            raise ValueError(f"{name}: momentum must be in [0, 1] or None, got {momentum!r}")
        self.num_features, self.eps, self.momentum = num_features, float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        if self.affine:
            self.weight = Parameter(init.ones((num_features,), dtype))
            self.bias = Parameter(init.zeros((num_features,), dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", init.zeros((num_features,), dtype))
            self.register_buffer("running_var", init.ones((num_features,), dtype))
            xp = B.xp()
            self.register_buffer("num_batches_tracked", xp.zeros((), dtype=xp.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, x):
        x = F.as_tensor(x)
        if x.ndim not in self._input_dims or x.shape[1] != self.num_features:
            raise ValueError(f"{self.layer_name()}: expected input {self._layout.format(C=self.num_features)}, "
                             f"found shape {tuple(x.shape)}")
        use_batch_stats = self.training or not self.track_running_stats
        if use_batch_stats and x.size // x.shape[1] <= 1:  # checked before any buffer changes
            raise ValueError(f"{self.layer_name()}: expected more than 1 value per channel when "
                             f"training, found input shape {tuple(x.shape)}")
        nbt = None
        track = self.training and self.track_running_stats
        if track:
            saved = (self.running_mean.data.copy(), self.running_var.data.copy(),
                     self.num_batches_tracked.data.copy())
            self.num_batches_tracked.data += 1          # in place: the buffer array is kept
            if self.momentum is None:
                # B.item: the cumulative-average factor 1/num_batches_tracked is a host scalar
                nbt = int(B.item(self.num_batches_tracked.data))
        out = F.batch_norm(x, self.running_mean if track or not use_batch_stats else None,
                           self.running_var if track or not use_batch_stats else None,
                           self.weight, self.bias, training=use_batch_stats,
                           momentum=self.momentum, eps=self.eps, num_batches_tracked=nbt)
        if track:
            self._keep_finite_running_stats(saved)
        return out

    def _keep_finite_running_stats(self, saved):
        """Undo the buffer update of a batch with non-finite statistics (see the module doc)."""
        xp = B.array_module(self.running_mean.data)
        # B.item: one host boolean per training forward decides whether to roll back
        finite = B.item(xp.isfinite(self.running_mean.data).all() & xp.isfinite(self.running_var.data).all())
        if finite:
            return
        was_finite = B.item(xp.isfinite(saved[0]).all() & xp.isfinite(saved[1]).all())
        if not was_finite:
            return  # the buffers were already non-finite (loaded so): nothing to protect
        self.running_mean.data[...] = saved[0]
        self.running_var.data[...] = saved[1]
        self.num_batches_tracked.data[...] = saved[2]
        warnings.warn(f"{self.layer_name()}: the batch has non-finite values (NaN/inf); running_mean, "
                      f"running_var and num_batches_tracked were not updated from it", RuntimeWarning,
                      stacklevel=3)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch-norm over (N, C) or (N, C, L): statistics per channel over N (and L)."""

    _input_dims = (2, 3)
    _layout = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch-norm over (N, C, H, W): statistics per channel over N, H and W."""

    _input_dims = (4,)
    _layout = "(N, {C}, H, W)"
