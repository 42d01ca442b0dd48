"""Checkpoints: model parameters, buffers, optimizer state, RNG state and step count in
one ``.npz``, written atomically and read without pickle.

Resuming from a checkpoint reproduces the uninterrupted run bit for bit on NumPy: the
parameters and every optimizer state array are stored exactly, the optimizer's scalars and
hyper-parameters go through JSON (Python floats round-trip exactly), and the host
generator's state (initialization, dropout masks, shuffling) is restored.

Layout of the file (an uncompressed zip of .npy members):

* ``__meta__`` — one JSON string: format, version, step, RNG state, the model's keys,
  the optimizer's class and its ``state_dict`` with every array replaced by a reference,
  the data loader's generator state (``loader=``) and the caller's ``extra`` (JSON-able);
* ``model/<name>`` — ``model.state_dict()`` under PyTorch's names;
* ``optimizer/<i>`` — the arrays of the optimizer's state dict.

Writing goes to a temporary file ``.<name>.<pid>.<random>.tmp`` in the same directory
that is then renamed over the target (``os.replace`` is atomic), so a crash never leaves
a half-written checkpoint under the real name.  A process killed mid-save leaves its
temporary file behind; the next save of the same target removes such leftovers (only
files of exactly that name pattern whose process is gone).  Re-saving keeps the existing
file's permission bits (a new file gets 0644).  Loading validates everything
(readability, format, keys, shapes, the optimizer's class, hyper-parameters and state
arrays — a wrapper's and its base's —, the loader's and the RNG's state) before the
model, the optimizer, the loader or the RNG is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
import time

from . import backend as B

FORMAT = "tinygrad_ngd.checkpoint"
VERSION = 1
_META = "__meta__"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")   # a zip's first local header, or an empty archive


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, is not a checkpoint, or does not fit."""


def _as_path(path, where: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{where}: path must be a file name (str or os.PathLike), got {type(path).__name__}")
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"{where}: path must be a str file name, got {type(path).__name__}")
    return path


# ---------------------------------------------------------------- nested state <-> JSON + arrays
def _encode(obj, where: str, arrays: dict):
    """Replace every array in a nested dict/list/tuple by a reference into ``arrays``."""
    if B.is_backend_array(obj):
        key = f"optimizer/{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if hasattr(obj, "dtype") and hasattr(obj, "shape"):  # a NumPy scalar: keep its exact type
        key = f"optimizer/{len(arrays)}"
        arrays[key] = obj
        return {"__scalar__": key}
    if isinstance(obj, dict):
        bad = [k for k in obj if not isinstance(k, str)]
        if bad:
            raise TypeError(f"save_checkpoint: {where} has non-string keys {bad!r}")
        return {k: _encode(v, f"{where}[{k!r}]", arrays) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, f"{where}[{i}]", arrays) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, f"{where}[{i}]", arrays) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"save_checkpoint: {where} holds a {type(obj).__name__}, which a checkpoint "
                    f"cannot store (arrays, numbers, strings, lists, tuples and dicts only)")


def _decode(obj, arrays: dict, path):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"} or set(obj) == {"__scalar__"}:
            (kind, key), = obj.items()
            if key not in arrays:
                raise CheckpointError(f"checkpoint {path}: array {key!r} is referenced but missing")
            return arrays[key][()] if kind == "__scalar__" else arrays[key]
        if set(obj) == {"__tuple__"}:
            return tuple(_decode(v, arrays, path) for v in obj["__tuple__"])
        return {k: _decode(v, arrays, path) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays, path) for v in obj]
    return obj


# ---------------------------------------------------------------- saving
def save_checkpoint(path, model, optimizer=None, step=None, extra=None, loader=None) -> str:
    """Write a checkpoint of ``model`` (and ``optimizer``) to ``path`` atomically.

    ``step``: the step count to record (default ``optimizer.step_count``, or 0);
    ``extra``: any JSON-able value (e.g. the loss history) returned by
    :func:`load_checkpoint`; ``loader``: a :class:`~tinygrad_ngd.datasets.DataLoader`
    whose generator state to store (a shuffled run then resumes exactly at an epoch
    boundary).  The file name is used as given.  Returns ``path``.
    """
    path = _as_path(path, "save_checkpoint")
    if not callable(getattr(model, "state_dict", None)):
        raise TypeError(f"save_checkpoint: model must be a Module (with state_dict()), got "
                        f"{type(model).__name__}")
    if optimizer is not None and not (hasattr(optimizer, "step_count")
                                      and callable(getattr(optimizer, "state_dict", None))):
        raise TypeError(f"save_checkpoint: optimizer must be a tinygrad_ngd optimizer or gradient "
                        f"wrapper (or None), got {type(optimizer).__name__}")
    if loader is not None and not callable(getattr(loader, "state_dict", None)):
        raise TypeError(f"save_checkpoint: loader must be a DataLoader (or None), got {type(loader).__name__}")
    if step is None:
        step = optimizer.step_count if optimizer is not None else 0
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"save_checkpoint: step must be a non-negative integer, got {step!r}")
    arrays = {}
    model_state = model.state_dict()
    for k, v in model_state.items():
        arrays[f"model/{k}"] = v
    opt_arrays = {}
    opt_meta = None
    if optimizer is not None:
        opt_meta = _encode(optimizer.state_dict(), "optimizer.state_dict()", opt_arrays)
    arrays.update(opt_arrays)
    meta = {"format": FORMAT, "version": VERSION, "step": step,
            "rng": B.get_rng_state(), "backend": B.get_backend(),
            "model_class": type(model).__name__, "model_keys": list(model_state),
            "optimizer_class": type(optimizer).__name__ if optimizer is not None else None,
            "optimizer": opt_meta, "extra": extra,
            "loader": loader.state_dict() if loader is not None else None}
    try:
        arrays[_META] = json.dumps(meta, allow_nan=True)
    except TypeError as exc:
        raise TypeError(f"save_checkpoint: extra must be JSON-able: {exc}") from None
    _write_atomically(path, arrays)
    return path


def _temp_pattern(path: str):
    """The names our temporary files for ``path`` have: ``.<name>.<pid>.<8 random>.tmp``
    (earlier versions wrote ``.<name>.<8 random>.tmp``, without the pid)."""
    return re.compile(rf"\.{re.escape(os.path.basename(path))}\.(?:(\d+)\.)?[a-z0-9_]{{8}}\.tmp")


_LEGACY_TEMP_AGE_S = 3600   # a pid-less temp file this old is no save in progress


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True            # exists (someone else's), or cannot tell: keep its file
    return True


def _remove_stale_temps(path: str) -> None:
    """Delete temporary files of earlier saves of ``path`` whose process is gone (a SIGKILL
    mid-save); a live process's file (a concurrent save) is left alone, and so is every
    file not named exactly like ours."""
    directory = os.path.dirname(os.path.abspath(path))
    pattern = _temp_pattern(path)
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            m = pattern.fullmatch(name)
            if not m:
                continue
            full = os.path.join(directory, name)
            with contextlib.suppress(OSError):
                if m.group(1) is not None:
                    stale = not _process_alive(int(m.group(1)))
                else:
                    stale = time.time() - os.stat(full).st_mtime > _LEGACY_TEMP_AGE_S
                if stale:
                    os.unlink(full)


def _write_atomically(path: str, arrays: dict) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save_checkpoint: directory {directory!r} of {path!r} does not exist")
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)   # re-saving keeps the file's permissions
    except FileNotFoundError:
        mode = 0o644
    _remove_stale_temps(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.{os.getpid()}.",
                                   suffix=".tmp")
    except OSError as exc:  # a read-only or full directory: name the target, not a temp name
        raise type(exc)(exc.errno, f"save_checkpoint: cannot write {path!r}: cannot create a file in "
                                   f"{directory!r} ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            B.save_npz(f, arrays)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.chmod(tmp, mode)
        os.replace(tmp, path)  # atomic: readers see the old file or the new one, never half
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and getattr(exc, "filename", None) == tmp:
            raise type(exc)(exc.errno, f"save_checkpoint: cannot write {path!r} ({exc.strerror})") from None
        raise


# ---------------------------------------------------------------- loading
def read_checkpoint(path) -> dict:
    """Read and check a checkpoint file without applying it.

    Returns {"step", "rng", "extra", "model_state", "optimizer_class", "optimizer_state",
    "loader_state"}
    with host NumPy arrays (``load_state_dict`` methods move them to the backend).
    Raises FileNotFoundError, or CheckpointError (a ValueError) naming the file when it
    is truncated, corrupted or not a checkpoint.
    """
    path = _as_path(path, "read_checkpoint")
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {path!r} is a directory, not a tinygrad_ngd checkpoint (.npz)")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path!r} cannot be read: {exc.strerror}") from None
    if head not in _ZIP_MAGIC:  # a text file, an image, a bare .npy: NumPy would talk about pickles
        raise CheckpointError(f"checkpoint {path!r} is not a tinygrad_ngd checkpoint (.npz): it is not a zip "
                              f"archive (it starts with {head!r})")
    try:
        arrays = B.load_npz(path)
    except Exception as exc:  # zipfile.BadZipFile, EOFError, OSError, ValueError: all mean "damaged"
        raise CheckpointError(f"checkpoint {path!r} cannot be read (truncated or corrupted?): "
                              f"{type(exc).__name__}: {exc}") from exc
    if _META not in arrays:
        raise CheckpointError(f"checkpoint {path!r} has no {_META!r} entry: not a tinygrad_ngd checkpoint")
    raw = arrays.pop(_META)
    try:
        meta = json.loads(str(raw[()]))
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path!r}: metadata is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path!r}: not a {FORMAT} file")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path!r}: format version {meta.get('version')!r}, "
                              f"this code reads version {VERSION}")
    for field in ("step", "rng", "model_keys", "optimizer", "optimizer_class"):
        if field not in meta:
            raise CheckpointError(f"checkpoint {path!r}: metadata lacks {field!r}")
    step = meta["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"checkpoint {path!r}: 'step' must be a non-negative integer, got {step!r}")
    if not isinstance(meta["model_keys"], list) or not all(isinstance(k, str) for k in meta["model_keys"]):
        raise CheckpointError(f"checkpoint {path!r}: 'model_keys' must be a list of names")
    if meta["optimizer_class"] is not None and not isinstance(meta["optimizer_class"], str):
        raise CheckpointError(f"checkpoint {path!r}: 'optimizer_class' must be a class name")
    model_state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    if sorted(model_state) != sorted(meta["model_keys"]):
        missing = sorted(set(meta["model_keys"]) - set(model_state))
        raise CheckpointError(f"checkpoint {path!r}: model arrays {missing} are missing")
    opt_arrays = {k: v for k, v in arrays.items() if k.startswith("optimizer/")}
    opt_state = None if meta["optimizer"] is None else _decode(meta["optimizer"], opt_arrays, path)
    return {"step": meta["step"], "rng": meta["rng"], "extra": meta.get("extra"),
            "model_state": {k: model_state[k] for k in meta["model_keys"]},
            "optimizer_class": meta["optimizer_class"], "optimizer_state": opt_state,
            "loader_state": meta.get("loader")}


def _check_rng_state(state, path) -> None:
    """Try the RNG state on the live generator and put the old one back (a dry run)."""
    old = B.get_rng_state()
    try:
        B.set_rng_state(state)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path!r}: invalid RNG state: {exc}") from exc
    finally:
        B.set_rng_state(old)


def load_checkpoint(path, model, optimizer=None, restore_rng: bool = True, loader=None) -> dict:
    """Restore ``model`` (parameters and buffers, in place: FlatParameters views stay
    views), ``optimizer``, ``loader``'s generator and the host RNG from ``path``.

    The whole checkpoint is checked first — the model's keys and shapes; the optimizer's
    class, hyper-parameters, counters and arrays (a wrapper's and its base's, see
    :mod:`tinygrad_ngd.optimizers.state_checks`); the loader's settings and generator
    state; the RNG state — and on any error nothing is changed.  Returns
    {"step": int, "extra": the value given to save_checkpoint}.
    """
    from .optimizers.state_checks import check_state

    path = _as_path(path, "load_checkpoint")
    ck = read_checkpoint(path)
    try:
        model.check_state_dict(ck["model_state"], strict=True)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path!r} does not fit the model: {exc}") from None
    if optimizer is not None:
        if ck["optimizer_state"] is None:
            raise CheckpointError(f"checkpoint {path!r} holds no optimizer state, but an optimizer "
                                  f"({type(optimizer).__name__}) was given")
        if ck["optimizer_class"] != type(optimizer).__name__:
            raise CheckpointError(f"checkpoint {path!r} holds {ck['optimizer_class']} state, "
                                  f"the optimizer given is {type(optimizer).__name__}")
        try:
            check_state(optimizer, ck["optimizer_state"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"checkpoint {path!r}: optimizer state does not fit: {exc}") from None
    if loader is not None:
        if ck["loader_state"] is None:
            raise CheckpointError(f"checkpoint {path!r} holds no data loader state, but a loader was "
                                  f"given (save it with save_checkpoint(..., loader=loader))")
        _check_loader_state(loader, ck["loader_state"], path)
    if restore_rng:
        _check_rng_state(ck["rng"], path)
    # everything fits: apply (each load re-checks, and cannot fail now)
    if optimizer is not None:
        optimizer.load_state_dict(ck["optimizer_state"])
    model.load_state_dict(ck["model_state"], strict=True)
    if loader is not None:
        loader.load_state_dict(ck["loader_state"])
    if restore_rng:
        B.set_rng_state(ck["rng"])
    return {"step": int(ck["step"]), "extra": ck["extra"]}


def _check_loader_state(loader, state, path) -> None:
    """Dry run of ``loader.load_state_dict`` on a copy of its generator."""
    rng = getattr(loader, "_rng", None)
    saved = rng.bit_generator.state if rng is not None else None
    try:
        loader.load_state_dict(state)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path!r}: data loader state does not fit: {exc}") from None
    finally:
        if rng is not None:
            rng.bit_generator.state = saved
