"""The stand-in for the ``cupy`` module: exactly the names of ``manifest.txt``.

Functions run NumPy's namesake on the wrapped arrays; NumPy array arguments are refused
(``TypeError``, as CuPy refuses them), except in the explicit transfer functions
``asarray``/``array`` (host -> device, counted) and ``asnumpy`` (device -> host, counted).
"""

from __future__ import annotations

import builtins
import types

import numpy as np

from . import _core, _manifest
from ._core import ndarray

_NAMES = _manifest.read()


def _function(name, impl):
    def f(*args, **kwargs):
        out = kwargs.get("out")
        res = impl(*_core.unwrap(args), **{k: _core.unwrap(v) for k, v in kwargs.items()})
        if isinstance(out, ndarray) and res is out._a:
            return out
        return _core.wrap(res)
    f.__name__ = name
    f.__qualname__ = name
    f.__doc__ = f"cupy.{name} of the stand-in (numpy.{name} underneath)."
    return f


def _to_device(obj, dtype, copy):
    if isinstance(obj, ndarray):
        a = obj._a
        return ndarray._from(a.astype(dtype, copy=True) if copy else
                             (a if dtype is None else a.astype(dtype, copy=False)))
    # builtins.any: this module's own ``any`` is cupy.any (a device reduction, and a counted
    # device -> host copy when bool() is taken of it)
    if isinstance(obj, (list, tuple)) and builtins.any(isinstance(v, ndarray) for v in obj):
        return ndarray._from(np.array([_core.unwrap(v) for v in obj], dtype=dtype))
    _core._h2d()
    return ndarray._from(np.array(obj, dtype=dtype, copy=True))


def asarray(a, dtype=None, order=None, *, blocking=False):
    """Host data -> a device array (counted); a device array is returned as is."""
    return _to_device(a, dtype, copy=False)


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    return _to_device(obj, dtype, copy=copy)


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    """Device -> host copy (counted); host data is returned as a NumPy array."""
    if isinstance(a, ndarray):
        _core._d2h()
        return a._a.copy(order=order)
    return np.asarray(a, order=order)


_SPECIAL = {"asarray": asarray, "array": array, "asnumpy": asnumpy}

for _name in _NAMES["cupy"]:
    globals()[_name] = _SPECIAL.get(_name) or _function(_name, getattr(np, _name))
for _name in _NAMES["cupy:as-is"]:
    globals()[_name] = getattr(np, _name)
globals()["ndarray"] = ndarray
_core.install_methods(_NAMES["cupy.ndarray"])


def _namespace(qualname, source, names):
    mod = types.ModuleType(qualname)
    for n in names:
        obj = getattr(source, n)
        mod.__dict__[n] = obj if isinstance(obj, type) else _function(n, obj)
    return mod


linalg = _namespace("cupy.linalg", np.linalg, _NAMES["cupy.linalg"])
lib = types.ModuleType("cupy.lib")
lib.stride_tricks = _namespace("cupy.lib.stride_tricks", np.lib.stride_tricks,
                               _NAMES["cupy.lib.stride_tricks"])


class _Runtime:
    @staticmethod
    def getDeviceCount():  # noqa: N802 - CuPy's name
        return 1


class _NullStream:
    @staticmethod
    def synchronize():
        return None


class _Stream:
    null = _NullStream()


cuda = types.ModuleType("cupy.cuda")
cuda.runtime = _Runtime
cuda.Stream = _Stream
__version__ = "14.2.0-emulated"

del _name
