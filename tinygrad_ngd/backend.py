"""The NumPy/CuPy switch: the only module that computes on arrays through numpy by name.

Everything else asks this module for the array module (``xp``) of the arrays it holds,
so the same code runs on the host (NumPy) and on a GPU (CuPy).  A third backend,
``cupy-emulated``, takes the CuPy code path with a strict stand-in module (CuPy's API and
host/device rules, computed by NumPy on the CPU — for checking code without a GPU; its
speed means nothing; see tinygrad_ngd/_cupy_emulated), and :func:`count_transfers` counts
host <-> device copies.  Three rules keep the CuPy path right on a machine that has no GPU:

* arrays of both kinds never meet in one operation (:func:`array_module` raises);
* host <-> device moves happen only where code says so (:func:`asarray` to the device,
  :func:`to_numpy` / :func:`item` to the host), never inside an op;
* random numbers are drawn on the host from one NumPy ``Generator`` (:func:`host_rng`)
  and then moved, so one seed gives one model on both backends.

Checks of device values are deferred (:func:`check`, as CUDA's device-side asserts): their
flags stay on the device and travel with the next explicit transfer (:func:`item`,
:func:`to_numpy`, :func:`sync_checks`), which raises; on NumPy they are immediate.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np

BACKENDS = {
    "numpy": "NumPy on the CPU (default)",
    "cupy": "CuPy on an NVIDIA GPU (pip install 'tinygrad_ngd[cupy]'; needs CUDA 12 and a GPU)",
    "cupy-emulated": ("CuPy's API and host/device rules, computed by NumPy on the CPU — for "
                      "checking code without a GPU; its speed means nothing"),
}
_VALID_BACKENDS = tuple(BACKENDS)
_VALID_DTYPES = ("float32", "float64")

_state = {"backend": "numpy", "dtype": np.float32, "rng": np.random.default_rng(0), "seed": 0,
          "env_error": None, "immediate_checks": False}
_cupy = None   # the device array module in use (real cupy, or the stand-in of cupy-emulated)
_cupyx = None  # its cupyx
_device_modules = {}  # backend name -> (cupy, cupyx) once imported successfully
ARRAY_TYPES = (np.ndarray,)  # array classes of the loaded backends (the device class added on import)


def _import_cupy():
    """Import CuPy and check that a GPU is present; raise a message that says which is missing."""
    if "cupy" in _device_modules:
        return _device_modules["cupy"]
    try:
        import cupy  # noqa: PLC0415  (optional dependency)
        import cupyx  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError(
            "backend 'cupy' requested but CuPy is not installed "
            "(pip install 'tinygrad_ngd[cupy]' on a machine with CUDA 12)") from exc
    _check_device(cupy, "cupy")
    _device_modules["cupy"] = (cupy, cupyx)
    return cupy, cupyx


def _import_cupy_emulated():
    """The stand-in modules of ``cupy-emulated`` (see tinygrad_ngd/_cupy_emulated)."""
    if "cupy-emulated" not in _device_modules:
        from ._cupy_emulated import cupy, cupyx  # noqa: PLC0415

        _check_device(cupy, "cupy-emulated")
        _device_modules["cupy-emulated"] = (cupy, cupyx)
    return _device_modules["cupy-emulated"]


def _check_device(cupy, name) -> None:
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError(f"backend {name!r} requested but no usable GPU was found: {exc}") from exc
    if count < 1:  # pragma: no cover
        raise RuntimeError(f"backend {name!r} requested but no GPU was found (device count 0)")


def _activate_device(name: str):
    """Import the device modules of backend ``name`` and make them the ones in use."""
    global _cupy, _cupyx, ARRAY_TYPES
    cupy, cupyx = _import_cupy() if name == "cupy" else _import_cupy_emulated()
    _cupy, _cupyx = cupy, cupyx
    ARRAY_TYPES = (np.ndarray, cupy.ndarray)
    return cupy


def set_backend(name: str) -> None:
    """Select the array backend by name; one of :data:`BACKENDS`:

    * ``"numpy"`` (default) — NumPy on the CPU;
    * ``"cupy"`` — CuPy on an NVIDIA GPU (CuPy installed and a GPU present, else RuntimeError);
    * ``"cupy-emulated"`` — CuPy's API and host/device rules, computed by NumPy on the CPU —
      for checking code without a GPU; its speed means nothing.  It takes exactly the code
      path of ``"cupy"`` with a strict stand-in module (no implicit host conversion, only
      names real CuPy has, every transfer counted: :func:`count_transfers`).

    A switch is a synchronization: pending deferred checks (:func:`check`) are reported
    first (one transfer; a failed one raises and the backend stays as it was).
    """
    if name not in _VALID_BACKENDS:
        hint = ""
        if isinstance(name, str) and name.lower().strip() in _VALID_BACKENDS:
            hint = f" (names are lower-case: did you mean {name.lower().strip()!r}?)"
        raise ValueError(f"unknown backend {name!r}; expected one of {_VALID_BACKENDS}{hint}")
    sync_checks()   # a switch is a synchronization: pending device checks are reported first
    if name != "numpy":
        _activate_device(name)
    _state["backend"] = name


def get_backend() -> str:
    """Name of the active backend (``"numpy"``, ``"cupy"`` or ``"cupy-emulated"``)."""
    return _state["backend"]


def backend_problem():
    """Why ``TINYGRAD_NGD_BACKEND`` was refused at import (a one-line message), or None."""
    return _state["env_error"]


def xp():
    """The array module of the active backend (numpy, or cupy / its stand-in)."""
    return np if _state["backend"] == "numpy" else _activate_device(_state["backend"])


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
    """An array of a loaded backend (host NumPy or device), as opposed to lists and scalars."""
    return isinstance(a, ARRAY_TYPES)


def is_placed(a) -> bool:
    """True when ``a`` needs no move to be used on the active backend: a device array, or a
    NumPy array while the backend is NumPy.  (A NumPy array on a device backend is not placed:
    :func:`asarray` copies it to the device.)"""
    if _cupy is not None and isinstance(a, _cupy.ndarray):
        return True
    return isinstance(a, np.ndarray) and _state["backend"] == "numpy"


def asarray(data, dtype=None):
    """Explicitly place ``data`` (array, list or scalar) on the active backend."""
    mod = xp()
    if mod is np:
        if _cupy is not None and isinstance(data, _cupy.ndarray):
            raise TypeError("asarray: a CuPy array cannot be placed on the NumPy backend "
                            "implicitly; call to_numpy(a) first")
        return np.asarray(data, dtype=dtype)
    if _counts_explicitly() and not isinstance(data, mod.ndarray):
        _explicit_transfers["host_to_device"] += 1
    return mod.asarray(data, dtype=dtype)  # explicit host -> device copy


def to_numpy(a):
    """Explicit device -> host copy (identity for NumPy arrays).

    A device array's copy also carries the pending deferred checks (:func:`check`): one
    transfer for both, and a failed check raises here instead of returning the array."""
    if isinstance(a, np.ndarray):
        return a
    if _cupy is not None and isinstance(a, _cupy.ndarray):
        if _pending_checks:
            return _fetch_with_checks(a)
        return _device_to_host(a)
    return np.asarray(a)


def _device_to_host(a):
    """The one counted device -> host copy every explicit transfer point goes through."""
    if _counts_explicitly():
        _explicit_transfers["device_to_host"] += 1
    return _cupy.asnumpy(a)


# ---------------------------------------------------------------- transfer counting
# cupy-emulated counts every copy itself (explicit ones and float(a), a.item(), NumPy
# indices...); on real CuPy only the explicit points above are counted (asarray, to_numpy,
# item); NumPy has no transfers.
_explicit_transfers = {"device_to_host": 0, "host_to_device": 0}


def _counts_explicitly() -> bool:
    return _cupy is not None and "cupy" in _device_modules and _cupy is _device_modules["cupy"][0]


def _transfer_totals():
    d2h, h2d = _explicit_transfers["device_to_host"], _explicit_transfers["host_to_device"]
    if "cupy-emulated" in _device_modules:
        from ._cupy_emulated import TRANSFERS  # noqa: PLC0415

        d2h, h2d = d2h + TRANSFERS.device_to_host, h2d + TRANSFERS.host_to_device
    return d2h, h2d


class TransferCount:
    """Host <-> device copies made inside a :func:`count_transfers` block (live while open)."""

    def __init__(self):
        self._start = _transfer_totals()
        self._stop = None

    def _now(self):
        return self._stop if self._stop is not None else _transfer_totals()

    @property
    def device_to_host(self) -> int:
        return self._now()[0] - self._start[0]

    @property
    def host_to_device(self) -> int:
        return self._now()[1] - self._start[1]

    def __repr__(self):
        return f"TransferCount(device_to_host={self.device_to_host}, host_to_device={self.host_to_device})"


@contextlib.contextmanager
def count_transfers():
    """Count host <-> device copies of a block::

        with B.count_transfers() as c:
            opt.step()
        assert c.device_to_host == 0

    Complete on ``cupy-emulated`` (every copy, implicit ones such as ``float(a)``
    included); on ``cupy`` only the explicit points :func:`asarray`, :func:`to_numpy` and
    :func:`item`; always zero on ``numpy``.
    """
    c = TransferCount()
    try:
        yield c
    finally:
        c._stop = _transfer_totals()


def item(a) -> float:
    """Explicit transfer of a one-element array to a Python float (logging, line searches).

    On a device backend the pending deferred checks (:func:`check`) travel in the same
    transfer, so logging a loss costs one copy and still reports a failed check."""
    if isinstance(a, (int, float)):
        return float(a)
    if _cupy is not None and isinstance(a, _cupy.ndarray):
        a = a.reshape(-1)[:1]      # only the value travels (with the pending flags)
    return float(to_numpy(a).reshape(-1)[0])


# ---------------------------------------------------------------- deferred device checks
# Like CUDA's device-side asserts: on a device backend a check's flag stays on the device
# and is reported at the next synchronization (item, to_numpy, sync_checks), so a step makes
# no device -> host copy of its own.  Each check site keeps ONE device flag (AND-combined
# over the checks since the last synchronization) and the index (e.g. the step) of its first
# failure, so the queue never grows with the number of steps.
_pending_checks = {}   # site -> _PendingCheck, in the order the sites were first queued


class _PendingCheck:
    __slots__ = ("ok", "first_bad", "message", "error", "count")

    def __init__(self, ok, first_bad, message, error):
        self.ok, self.first_bad, self.message, self.error, self.count = ok, first_bad, message, error, 1

    def exception(self, first_bad):
        index = None if first_bad < 0 else first_bad
        text = self.message(index) if callable(self.message) else self.message
        return self.error(text)


def check(ok, message, error=ValueError, *, site=None, index=None) -> None:
    """Raise ``error(message)`` unless ``ok`` — now on the host, at the next synchronization
    on a device.

    ``ok`` is a host bool (NumPy backend, or a value already on the host): the check is
    immediate.  ``ok`` a 0-d device bool: the check is *deferred* (as CUDA reports a
    device-side assert at the next synchronization): nothing is copied now; the flag is
    queued and fetched by the next :func:`item`, :func:`to_numpy` (in the same transfer as
    the value) or :func:`sync_checks`, which raises the first failed check's error.  Code
    that wants the answer at once calls :func:`sync_checks` after the work, or selects
    immediate checks for everything with :func:`set_immediate_checks` (as
    ``CUDA_LAUNCH_BLOCKING=1`` does for CUDA; one transfer per check).

    ``message``: a str, or a callable ``index -> str`` (``index``: the ``index`` argument of
    the first failed check, e.g. a step number; None when not given).  ``site``: checks with
    the same site share one device flag (AND) until the next synchronization, so the queue
    stays bounded however many steps run between transfers; default ``(error, message)``
    (a callable message needs an explicit site).
    """
    if not (_cupy is not None and isinstance(ok, _cupy.ndarray)):
        if not bool(ok):
            raise error(message(index) if callable(message) else message)
        return
    if site is None:
        if callable(message):
            raise TypeError("check: a callable message needs a site= (the key its flags combine under)")
        site = (error, message)
    xp = _cupy
    bad_at = -1 if index is None else int(index)
    entry = _pending_checks.get(site)
    if entry is None:
        _pending_checks[site] = _PendingCheck(ok, xp.where(ok, -1, bad_at), message, error)
    else:
        # first failure: the earliest check of this site whose flag was false
        entry.first_bad = xp.where(xp.logical_and(entry.ok, xp.logical_not(ok)), bad_at, entry.first_bad)
        entry.ok = xp.logical_and(entry.ok, ok)
        entry.count += 1
    if _state["immediate_checks"]:
        sync_checks()


def pending_checks() -> int:
    """How many check sites wait for the next synchronization (0 on NumPy)."""
    return len(_pending_checks)


def sync_checks() -> None:
    """Fetch every pending deferred check in ONE device -> host transfer (none if nothing
    is pending) and raise the first failed one's error; afterwards nothing is pending."""
    if _pending_checks:
        _fetch_with_checks(None)


def discard_checks() -> int:
    """Drop the pending checks unreported (e.g. when a test or a session starts afresh);
    returns how many sites were dropped.  Prefer :func:`sync_checks`."""
    n = len(_pending_checks)
    _pending_checks.clear()
    return n


def set_immediate_checks(immediate: bool) -> None:
    """``True``: every device check syncs at once (one transfer per check; the error is
    raised where the check is made — for debugging, as ``CUDA_LAUNCH_BLOCKING=1``);
    ``False`` (default): deferred to the next synchronization."""
    _state["immediate_checks"] = bool(immediate)
    if immediate:
        sync_checks()


def immediate_checks() -> bool:
    """Whether device checks sync at once (:func:`set_immediate_checks`)."""
    return _state["immediate_checks"]


def _fetch_with_checks(a):
    """Copy ``a`` (a device array, or None) and the pending flags to the host in one
    transfer (as raw bytes: exact for every dtype), clear the queue and raise the first
    failed check; return the host copy of ``a``."""
    xp = _cupy
    entries = list(_pending_checks.values())
    _pending_checks.clear()
    parts = []
    if a is not None:
        parts.append(xp.ascontiguousarray(a).reshape(-1).view(xp.uint8))
    for e in entries:   # 9 bytes per site: the flag, then the first failing index (int64)
        parts.append(e.ok.astype(xp.uint8).reshape(1))
        parts.append(e.first_bad.astype(xp.int64).reshape(1).view(xp.uint8))
    raw = _device_to_host(xp.concatenate(parts))
    n = 0 if a is None else a.nbytes
    tail = raw[n:].reshape(-1, 9)
    failed = [(e, int(t[1:].view(np.int64)[0])) for e, t in zip(entries, tail) if not t[0]]
    if failed:
        entry, first_bad = failed[0]
        exc = entry.exception(first_bad)
        for other, other_bad in failed[1:]:
            exc.add_note(f"also failed since the last synchronization: {other.exception(other_bad)}")
        raise exc
    if a is None:
        return None
    return raw[:n].view(a.dtype).reshape(a.shape)


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
    else:  # cupy and cupy-emulated
        _cupyx.scatter_add(target, indices, values)
    return target


def sliding_window_view(a, window_shape, axis):
    """Strided windows (a view) on either backend, for im2col."""
    mod = array_module(a)
    if mod is np:
        return np.lib.stride_tricks.sliding_window_view(a, window_shape, axis=axis)
    return mod.lib.stride_tricks.sliding_window_view(a, window_shape, axis=axis)


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
    """Select the backend named by ``TINYGRAD_NGD_BACKEND``.  A name that cannot be used
    (unknown, wrong case, ``cupy`` without CuPy or a GPU) never makes ``import tinygrad_ngd``
    fail: the import warns, stays on NumPy, and ``tinygrad-ngd info`` shows the problem
    (:func:`backend_problem`)."""
    name = os.environ.get("TINYGRAD_NGD_BACKEND")
    if not name:
        return
    try:
        set_backend(name)
    except (ValueError, RuntimeError) as exc:
        _state["env_error"] = f"TINYGRAD_NGD_BACKEND={name!r} refused: {str(exc).splitlines()[0]}"
        warnings.warn(f"{_state['env_error']}; using the numpy backend", RuntimeWarning, stacklevel=2)


_init_from_env()
