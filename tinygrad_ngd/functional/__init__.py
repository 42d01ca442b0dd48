"""Differentiable operations: ``tinygrad_ngd.functional`` (``F`` in examples).

One module per idea: ``core`` (math, shapes, reductions, activations, losses); layer
operations live beside it (conv/pooling, normalization, recurrent cells) and are
re-exported here, so ``F.conv2d`` and ``F.sigmoid`` are found in one place.
"""

from .core import *  # noqa: F401,F403
from .core import __all__ as _core_all

__all__ = list(_core_all)
