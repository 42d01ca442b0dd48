"""The NumPy/CuPy switch: the only module that computes on arrays through numpy by name.

Everything else asks this module for the array module (``xp``) of the arrays it holds,
so the same code runs on the host (NumPy) and on a GPU (CuPy).  Three rules keep the
CuPy path right on a machine that has no GPU:

* arrays of both kinds never meet in one operation (:func:`array_module` raises);
* host <-> device moves happen only where code says so (:func:`asarray` to the device,
  :func:`to_numpy` / :func:`item` to the host), never inside an op;
* random numbers are drawn on the host from one NumPy ``Generator`` (:func:`host_rng`)
  and then moved, so one seed gives one model on both backends.
"""

from __future__ import annotations

import os

import numpy as np

_VALID_BACKENDS = ("numpy", "cupy")
_VALID_DTYPES = ("float32", "float64")

_state = {"backend": "numpy", "dtype": np.float32, "rng": np.random.default_rng(0), "seed": 0}
_cupy = None  # the cupy module once it has been imported successfully
ARRAY_TYPES = (np.ndarray,)  # array classes of the loaded backends (CuPy's added on import)


def _import_cupy():
    """Import CuPy and check that a GPU is present; raise a message that says which is missing."""
    global _cupy, ARRAY_TYPES
    if _cupy is not None:
        return _cupy
    try:
        import cupy  # noqa: PLC0415  (optional dependency)
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError(
            "backend 'cupy' requested but CuPy is not installed "
            "(pip install 'tinygrad_ngd[cupy]' on a machine with CUDA 12)") from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError(f"backend 'cupy' requested but no usable GPU was found: {exc}") from exc
    if count < 1:  # pragma: no cover
        raise RuntimeError("backend 'cupy' requested but no GPU was found (device count 0)")
    _cupy = cupy
    ARRAY_TYPES = (np.ndarray, cupy.ndarray)
    return cupy


def set_backend(name: str) -> None:
    """Select the array backend: ``"numpy"`` (default) or ``"cupy"``."""
    if name not in _VALID_BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {_VALID_BACKENDS}")
    if name == "cupy":
        _import_cupy()
    _state["backend"] = name


def get_backend() -> str:
    """Name of the active backend (``"numpy"`` or ``"cupy"``)."""
    return _state["backend"]


def xp():
    """The array module of the active backend (numpy or cupy)."""
    return np if _state["backend"] == "numpy" else _import_cupy()


def is_numpy_array(a) -> bool:
    return isinstance(a, np.ndarray)


def array_module(*arrays):
    """The array module of the given arrays; raise if NumPy and CuPy arrays are mixed.

    Non-array arguments (Python scalars, None) are ignored.  With no arrays at all the
    active backend's module is returned.
    """
    kind = None
    for a in arrays:
        if _cupy is not None and isinstance(a, _cupy.ndarray):
            k = "cupy"
        elif isinstance(a, (np.ndarray, np.generic)):
            k = "numpy"
        else:
            continue
        if kind is None:
            kind = k
        elif kind != k:
            raise TypeError("a NumPy (host) array and a CuPy (device) array met in one operation; "
                            "move one explicitly with tinygrad_ngd.backend.asarray or to_numpy")
    if kind is None:
        return xp()
    return np if kind == "numpy" else _cupy


def is_backend_array(a) -> bool:
    return isinstance(a, ARRAY_TYPES)


def asarray(data, dtype=None):
    """Explicitly place ``data`` (array, list or scalar) on the active backend."""
    mod = xp()
    if mod is np:
        if _cupy is not None and isinstance(data, _cupy.ndarray):
            raise TypeError("asarray: a CuPy array cannot be placed on the NumPy backend "
                            "implicitly; call to_numpy(a) first")
        return np.asarray(data, dtype=dtype)
    return mod.asarray(data, dtype=dtype)  # explicit host -> device copy


def to_numpy(a):
    """Explicit device -> host copy (identity for NumPy arrays)."""
    if isinstance(a, np.ndarray):
        return a
    if _cupy is not None and isinstance(a, _cupy.ndarray):
        return _cupy.asnumpy(a)
    return np.asarray(a)


def item(a) -> float:
    """Explicit transfer of a one-element array to a Python float (logging, line searches)."""
    return float(to_numpy(a).reshape(-1)[0]) if not isinstance(a, (int, float)) else float(a)


# ---------------------------------------------------------------- dtype and seeding
def set_default_dtype(name) -> None:
    """Default floating dtype for new tensors and parameters: ``"float32"`` or ``"float64"``."""
    key = np.dtype(name).name if not isinstance(name, str) else name
    if key not in _VALID_DTYPES:
        raise ValueError(f"unknown default dtype {name!r}; expected one of {_VALID_DTYPES}")
    _state["dtype"] = np.dtype(key).type


def get_default_dtype():
    """The default floating dtype (a NumPy scalar type, valid on both backends)."""
    return _state["dtype"]


def manual_seed(seed: int) -> None:
    """Seed the host generator used for initialization, dropout masks and shuffling."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    _state["rng"] = np.random.default_rng(int(seed))
    _state["seed"] = int(seed)


def host_rng() -> np.random.Generator:
    """The host NumPy Generator; draw here, then move with :func:`asarray`."""
    return _state["rng"]


def get_rng_state() -> dict:
    """The host generator's state as a JSON-able dict (for checkpoints)."""
    return _state["rng"].bit_generator.state


def set_rng_state(state: dict) -> None:
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    _state["rng"] = rng


# ---------------------------------------------------------------- backend-specific helpers
def scatter_add(target, indices, values):
    """In-place ``target[indices] += values`` with repeated indices accumulated.

    NumPy's fancy ``+=`` drops repeats, so NumPy uses ``np.add.at`` and CuPy its
    ``cupyx.scatter_add``.  For a 1-D integer index on the first axis, ``bincount``-free
    matrix accumulation via ``np.add.at`` is used on both.
    """
    mod = array_module(target, values)
    if mod is np:
        np.add.at(target, indices, values)
    else:  # pragma: no cover - needs a GPU
        import cupyx  # noqa: PLC0415
        cupyx.scatter_add(target, indices, values)
    return target


def sliding_window_view(a, window_shape, axis):
    """Strided windows (a view) on either backend, for im2col."""
    mod = array_module(a)
    if mod is np:
        return np.lib.stride_tricks.sliding_window_view(a, window_shape, axis=axis)
    return mod.lib.stride_tricks.sliding_window_view(a, window_shape, axis=axis)  # pragma: no cover


# ---------------------------------------------------------------- host files (checkpoints)
def save_npz(file, arrays: dict) -> None:
    """Write host copies of ``arrays`` (name -> array or scalar) to an open binary file
    as an uncompressed .npz (explicit device -> host copies via :func:`to_numpy`)."""
    np.savez(file, **{k: to_numpy(v) for k, v in arrays.items()})


def load_npz(path) -> dict:
    """Read every array of an .npz eagerly into host arrays; ``allow_pickle=False`` so a
    file can never run code.  Errors of a damaged file surface here, not later."""
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _init_from_env() -> None:
    name = os.environ.get("TINYGRAD_NGD_BACKEND")
    if name:
        set_backend(name)


_init_from_env()
