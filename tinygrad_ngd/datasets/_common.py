"""Errors and file helpers shared by the dataset loaders (host NumPy only).

Every loader reads a whole file, validates it, and only then builds its arrays, so
on bad input an exception naming the file and what was expected is raised and
nothing half-loaded is returned.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

DATA_ENV = "TINYGRAD_NGD_DATA"


class DatasetError(ValueError):
    """A dataset file exists but is not what it should be (bad magic, size, checksum...)."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset (or one of its files) is missing; the message says where we looked."""


def read_bytes(path) -> bytes:
    """All bytes of ``path``, gunzipped when the file starts with the gzip magic 1f 8b."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: no such file")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, ValueError) as exc:  # truncated or corrupt gzip stream
            raise DatasetError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    return raw


def find_file(directory, names) -> Path | None:
    """The first of ``names`` (tried as is and with ``.gz``) that exists in ``directory``."""
    directory = Path(directory)
    for name in names:
        for cand in (name, name + ".gz"):
            p = directory / cand
            if p.is_file():
                return p
    return None


def env_roots() -> list[Path]:
    """Directories named by ``$TINYGRAD_NGD_DATA`` (``os.pathsep``-separated), in order."""
    value = os.environ.get(DATA_ENV, "")
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p]


def candidate_dirs(subdirs, extra=()) -> list[Path]:
    """Search order when no path is given: each ``$TINYGRAD_NGD_DATA`` root joined with
    each of ``subdirs``, then the ``extra`` system locations.  (Not the root itself:
    MNIST and Fashion-MNIST share file names, so each needs its own directory.)"""
    out = []
    for root in env_roots():
        out.extend(root / s for s in subdirs)
    out.extend(Path(e) for e in extra)
    return out
