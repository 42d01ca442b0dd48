"""Differentiable operations: ``tinygrad_ngd.functional`` (``F`` in examples).

One module per idea, all re-exported here so ``F.conv2d`` and ``F.sigmoid`` are found in
one place:

* ``base`` (helpers, ``as_tensor``), ``shape`` (reshape, transpose, indexing, ...),
  ``elementwise`` (arithmetic and math), ``reduce`` (sum, mean, max, var), ``linalg``
  (matmul), ``softmax`` (logsumexp, softmax, log_softmax), ``activations`` (sigmoid, tanh,
  relu, softplus), ``losses`` (cross_entropy, mse_loss);
* ``fused`` — the speed nodes (Gemm, Linear, SigmoidGrad, TanhGrad, CrossEntropyGrad);
* layer operations: ``conv`` (im2col, conv2d), ``pooling``, ``normalization``,
  ``recurrent`` (LSTM), ``embedding``.

Each primitive is a :class:`~tinygrad_ngd.tensor.Function` whose ``forward`` works on
backend arrays and whose ``backward`` (reverse mode) and ``jvp`` (forward mode) are
derivative rules written with Tensor operations, so they can be differentiated again.
"""

from . import activations as _activations
from . import base as _base
from . import conv as _conv
from . import elementwise as _elementwise
from . import embedding as _embedding
from . import fused as _fused
from . import linalg as _linalg
from . import losses as _losses
from . import normalization as _normalization
from . import operators as _operators  # noqa: F401 - installs Tensor's operators
from . import pooling as _pooling
from . import recurrent as _recurrent
from . import reduce as _reduce
from . import shape as _shape
from . import softmax as _softmax
from .activations import *  # noqa: F403
from .base import *  # noqa: F403
from .conv import *  # noqa: F403
from .elementwise import *  # noqa: F403
from .embedding import *  # noqa: F403
from .fused import *  # noqa: F403
from .linalg import *  # noqa: F403
from .losses import *  # noqa: F403
from .normalization import *  # noqa: F403
from .pooling import *  # noqa: F403
from .recurrent import *  # noqa: F403
from .reduce import *  # noqa: F403
from .shape import *  # noqa: F403
from .softmax import *  # noqa: F403

# (module aliases: the star imports bring functions named `embedding`, ... into scope)
__all__ = [*_base.__all__, *_shape.__all__, *_elementwise.__all__, *_reduce.__all__,
           *_linalg.__all__, *_fused.__all__, *_softmax.__all__, *_activations.__all__,
           *_losses.__all__, *_conv.__all__, *_pooling.__all__, *_normalization.__all__,
           *_recurrent.__all__, *_embedding.__all__]
