"""Helpers for scripts that write a run directory: the command line and the tutorials.

* :func:`prepare_out_dir` — create ``--out`` and prove it is writable *before* any
  training, so a bad path fails in a second, not after an hour;
* :func:`claim_run_dir`, :func:`write_run_files` — a run's files written as one set:
  staged in a hidden sibling directory and renamed into place, so an interrupted write
  leaves the earlier run whole, and a new run never mixes its files with an earlier one's;
* :func:`select_backend` — ``--backend``/``--dtype`` with a one-line error when CuPy or
  a GPU is missing (:class:`SetupError`, which the scripts turn into exit status 2);
* :func:`write_csv`, :func:`write_json` — the numbers behind every figure;
* :func:`set_blas_threads`, :func:`blas_threads` — the host BLAS's thread count, which
  matters for the small matrices of these models (see :func:`set_blas_threads`);
* :func:`tutorial_parser` — the arguments every tutorial takes.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import ctypes
import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path

from . import backend as B


class SetupError(RuntimeError):
    """A problem with the run's setup (backend, output directory, data, names) found
    before any work started; scripts print it as one line and exit with status 2."""


# ---------------------------------------------------------------- output directory
def prepare_out_dir(path) -> Path:
    """Create ``path`` (and parents) and check a file can be written there.

    Raises :class:`SetupError` naming the directory when it cannot be created or written.
    """
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise SetupError(f"--out {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SetupError(f"--out {out}: cannot create the output directory ({exc.strerror or exc})") from None
    try:
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-", delete=True) as f:
            f.write(b"ok")
    except OSError as exc:
        raise SetupError(f"--out {out}: the output directory is not writable ({exc.strerror or exc})") from None
    return out


# ---------------------------------------------------------------- a run's files as one set
_STAGING, _OLD = ".partial-", ".old-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_siblings(out: Path) -> None:
    """Staging/old directories of ``out`` left by a killed run (their process is gone)."""
    for marker in (_STAGING, _OLD):
        for p in out.parent.glob(f".{out.name}{marker}*"):
            pid = p.name[len(f".{out.name}{marker}"):].split("-")[0]
            if pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(p, ignore_errors=True)


def claim_run_dir(path, overwrite: bool = False, own_files=()) -> Path:
    """The directory a run will be written to, decided (and checked writable) before any work.

    * ``path`` missing or empty: ``path`` itself.
    * ``path`` holds an earlier run and ``overwrite`` is False: a fresh sibling
      ``path-2``, ``path-3``, … (the first that does not exist, created now), so an earlier
      run is never overwritten or mixed with this one.
    * ``overwrite``: ``path``, whose files :func:`write_run_files` replaces as a whole —
      refused when ``path`` also holds files not named in ``own_files`` (not a run directory).

    Raises :class:`SetupError` naming the directory.
    """
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise SetupError(f"--out {out}: exists and is not a directory")
    if out.name in ("", ".", ".."):
        out = out.resolve()
    if out.is_dir():
        _remove_stale_siblings(out)
    if out.is_dir() and any(out.iterdir()):
        if overwrite:
            others = sorted(p.name for p in out.iterdir() if p.name not in own_files)
            if others:
                raise SetupError(f"--out {out} --overwrite: the directory also holds {', '.join(others[:3])}"
                                 f"{' …' if len(others) > 3 else ''}, which this command did not write; "
                                 "refusing to replace it (choose another --out)")
        else:
            for k in range(2, 10000):
                cand = out.with_name(f"{out.name}-{k}")
                try:
                    cand.mkdir(parents=True)
                except FileExistsError:
                    if not (cand.is_dir() and not any(cand.iterdir())):
                        continue  # taken; an empty one (a run refused after claiming it) is reused
                except OSError as exc:
                    raise SetupError(f"--out {cand}: cannot create the output directory "
                                     f"({exc.strerror or exc})") from None
                out = cand
                break
    out = prepare_out_dir(out)
    try:  # the set is staged beside the directory: its parent must take new entries too
        Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}{_STAGING}{os.getpid()}-")).rmdir()
    except OSError as exc:
        raise SetupError(f"--out {out}: cannot write beside it in {out.parent} ({exc.strerror or exc})") from None
    return out


@contextlib.contextmanager
def _no_interrupt():
    """SIGINT held back (delivered right after) while two renames swap a run into place."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def write_run_files(out, writers) -> list:
    """Write a run's files into ``out`` as one set; returns the paths written.

    ``writers``: name → ``write(path)``; a writer may write nothing (then that file is
    absent from the set).  Every file is first written into a hidden staging directory
    beside ``out`` and flushed to disk; only then is the staging directory renamed to
    ``out`` (the earlier contents, if any, are moved aside first and deleted after).  An
    exception or Ctrl-C while writing leaves ``out`` exactly as it was and removes the
    staging directory; a killed process leaves only hidden ``.NAME.partial-PID-*``
    directories, removed by the next :func:`claim_run_dir`.
    """
    out = Path(out)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}{_STAGING}{os.getpid()}-"))
    try:
        mode = out.stat().st_mode & 0o7777 if out.is_dir() else None
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o777 & ~umask
        os.chmod(staging, mode)
        names = []
        for name, write in writers.items():
            target = staging / name
            write(target)
            if target.exists():
                with open(target, "rb") as f:
                    os.fsync(f.fileno())
                names.append(name)
        old = None
        with _no_interrupt():
            if out.exists() and any(out.iterdir()):
                old = out.parent / f".{out.name}{_OLD}{os.getpid()}"
                os.rename(out, old)
            elif out.exists():
                out.rmdir()  # the empty directory claimed before the run
            try:
                os.replace(staging, out)
            except OSError:
                if old is not None:
                    os.rename(old, out)
                raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [out / n for n in names]


def write_csv(path, rows, fieldnames=None) -> Path:
    """Write ``rows`` (a list of dicts) as CSV; columns: ``fieldnames`` or the first row's keys."""
    rows = list(rows)
    if fieldnames is None:
        fieldnames = list(rows[0].keys()) if rows else []
    path = Path(path)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_json(path, obj) -> Path:
    path = Path(path)
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    return path


# ---------------------------------------------------------------- backend and dtype
def select_backend(name: str, dtype: str | None = None) -> None:
    """``tg.set_backend(name)`` (and the default dtype), turning "no CuPy / no GPU" into
    a :class:`SetupError` whose message is one line."""
    try:
        B.set_backend(name)
    except (RuntimeError, ValueError) as exc:
        raise SetupError(f"--backend {name}: {str(exc).splitlines()[0]}") from None
    if dtype is not None:
        try:
            B.set_default_dtype(dtype)
        except ValueError as exc:
            raise SetupError(f"--dtype {dtype}: {exc}") from None


# ---------------------------------------------------------------- host BLAS threads
_OPENBLAS_SETTERS = ("openblas_set_num_threads", "openblas_set_num_threads64_",
                     "scipy_openblas_set_num_threads", "scipy_openblas_set_num_threads64_")
_OPENBLAS_GETTERS = ("openblas_get_num_threads", "openblas_get_num_threads64_",
                     "scipy_openblas_get_num_threads", "scipy_openblas_get_num_threads64_")


def _loaded_openblas():
    """The OpenBLAS libraries mapped into this process (Linux: from /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line}
    except OSError:
        return []
    libs = []
    for p in sorted(paths):
        try:
            libs.append(ctypes.CDLL(p))
        except OSError:
            continue
    return libs


def _first_symbol(lib, names):
    for n in names:
        fn = getattr(lib, n, None)
        if fn is not None:
            return fn
    return None


def set_blas_threads(n: int) -> bool:
    """Limit the host BLAS to ``n`` threads; returns whether it could be done.

    The models of the tutorials multiply matrices of a few hundred rows, where a second
    BLAS thread gains little and, on a busy machine, a spinning OpenBLAS thread pool can
    make each product tens of times slower.  Uses threadpoolctl when installed, else
    OpenBLAS's own setter found in the loaded library.
    """
    if int(n) < 1:
        raise ValueError(f"BLAS threads must be >= 1, got {n}")
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=int(n), user_api="blas")
        return True
    except ImportError:
        pass
    done = False
    for lib in _loaded_openblas():
        fn = _first_symbol(lib, _OPENBLAS_SETTERS)
        if fn is not None:
            fn(ctypes.c_int(int(n)))
            done = True
    return done


def blas_threads():
    """The host OpenBLAS thread count, or None when it cannot be read."""
    for lib in _loaded_openblas():
        fn = _first_symbol(lib, _OPENBLAS_GETTERS)
        if fn is not None:
            fn.restype = ctypes.c_int
            return int(fn())
    return None


def apply_thread_option(threads) -> None:
    """``--threads``: None leaves the BLAS default unless the environment already sets a
    count (``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``), in which case nothing is done."""
    if threads is None:
        return
    if threads > 0:
        set_blas_threads(threads)


# ---------------------------------------------------------------- tutorial arguments
def tutorial_parser(name: str, description: str) -> argparse.ArgumentParser:
    """The arguments every tutorial takes: ``--backend``, ``--dtype``, ``--quick``, ``--out``
    (default ``runs/<name>``), ``--seed`` and ``--threads``."""
    p = argparse.ArgumentParser(prog=f"tutorials/{name}.py", description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=tuple(B.BACKENDS), default=B.get_backend(),
                   help="array backend: numpy, cupy (needs CuPy and a GPU) or cupy-emulated "
                        "(CuPy's rules computed by NumPy on the CPU: checks the GPU path; its speed means nothing)")
    p.add_argument("--quick", action="store_true", help="a few seconds: tiny sizes (used by CI)")
    p.add_argument("--out", default=os.path.join("runs", name), help="output directory (PNG, CSV)")
    p.add_argument("--seed", type=int, default=0, help="seed of initialization and shuffling")
    p.add_argument("--threads", type=int, default=1,
                   help="host BLAS threads (default 1: fastest for these small matrices; 0 = leave as is)")
    return p


def exit_with_error(message: str, status: int = 2):
    """Print ``error: message`` (one line) to stderr and exit: for setup problems found in a script."""
    import sys

    print(f"error: {str(message).splitlines()[0]}", file=sys.stderr)
    raise SystemExit(status)


def start_tutorial(args, dtype: str | None = None) -> Path:
    """Apply the common arguments: backend (and ``dtype``), seed, BLAS threads, output
    directory (checked writable).  Returns the output directory.  A setup problem is
    printed as one line and the script exits with status 2."""
    import sys

    try:
        select_backend(args.backend, dtype)
        out = prepare_out_dir(args.out)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    B.manual_seed(args.seed)
    apply_thread_option(args.threads)
    return out
