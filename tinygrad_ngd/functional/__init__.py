"""Differentiable operations: ``tinygrad_ngd.functional`` (``F`` in examples).

One module per idea: ``core`` (math, shapes, reductions, activations, losses); layer
operations live beside it (conv/pooling, normalization, recurrent cells) and are
re-exported here, so ``F.conv2d`` and ``F.sigmoid`` are found in one place.
"""

from .core import *  # noqa: F401,F403
from .core import __all__ as _core_all

__all__ = list(_core_all)

from .conv import *  # noqa: F401,F403,E402
from .conv import __all__ as _conv_all  # noqa: E402
from .pooling import *  # noqa: F401,F403,E402
from .pooling import __all__ as _pooling_all  # noqa: E402
from .normalization import *  # noqa: F401,F403,E402
from .normalization import __all__ as _normalization_all  # noqa: E402
from .recurrent import *  # noqa: F401,F403,E402
from .recurrent import __all__ as _recurrent_all  # noqa: E402
from .embedding import *  # noqa: F401,F403,E402
from .embedding import __all__ as _embedding_all  # noqa: E402

__all__ += _conv_all + _pooling_all + _normalization_all + _recurrent_all + _embedding_all
