"""Differentiable operations: ``tinygrad_ngd.functional`` (``F`` in examples).

One module per idea: ``core`` (math, shapes, reductions, activations, losses); layer
operations live beside it (conv/pooling, normalization, recurrent cells, embedding) and
are re-exported here, so ``F.conv2d`` and ``F.sigmoid`` are found in one place.
"""

from . import conv as _conv
from . import core as _core
from . import embedding as _embedding
from . import normalization as _normalization
from . import pooling as _pooling
from . import recurrent as _recurrent
from .conv import *  # noqa: F403
from .core import *  # noqa: F403
from .embedding import *  # noqa: F403
from .normalization import *  # noqa: F403
from .pooling import *  # noqa: F403
from .recurrent import *  # noqa: F403

# (module aliases: the star imports bring functions named `embedding`, ... into scope)
__all__ = [*_core.__all__, *_conv.__all__, *_pooling.__all__, *_normalization.__all__,
           *_recurrent.__all__, *_embedding.__all__]
