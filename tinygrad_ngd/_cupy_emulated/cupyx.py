"""The stand-in for ``cupyx``: ``scatter_add`` only (see manifest.txt)."""

from __future__ import annotations

import numpy as np

from . import _core


def scatter_add(a, slices, value):
    """``a[slices] += value`` with repeated indices accumulated (CuPy's ``cupyx.scatter_add``)."""
    if not isinstance(a, _core.ndarray):
        raise TypeError(f"scatter_add: a must be a cupy.ndarray, got {type(a)}")
    np.add.at(a._a, _core._index(slices), _core._operand(value))
