"""Errors and file helpers shared by the dataset loaders (host NumPy only).

Every loader reads a whole file, validates it, and only then builds its arrays, so
on bad input an exception naming the file and what was expected is raised and
nothing half-loaded is returned.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

DATA_ENV = "TINYGRAD_NGD_DATA"


class DatasetError(ValueError):
    """A dataset file exists but is not what it should be (bad magic, size, checksum...)."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset (or one of its files) is missing; the message says where we looked."""


_CHUNK = 1 << 20


def read_bytes(path, expected_size=None, peek: int = 1024) -> bytes:
    """All bytes of ``path``, gunzipped when the file starts with the gzip magic 1f 8b.

    ``expected_size(head) -> int``, when given, is called with the first ``peek`` bytes of
    the (decompressed) content before anything else is read: it checks the header (raising
    :class:`DatasetError`) and returns the size the whole content must have.  Then at most
    that many bytes plus one are read — a gzipped file with a wrong magic number is refused
    after decompressing ``peek`` bytes, not all of it, and an uncompressed file shorter than
    its header says is refused from its size on disk without being read.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            gz = f.read(2) == b"\x1f\x8b"
            f.seek(0)
            stream = gzip.GzipFile(fileobj=f, mode="rb") if gz else f
            if expected_size is None:
                return stream.read()
            head = stream.read(peek)
            expected = int(expected_size(head))
            size = path.stat().st_size
            if not gz and expected != size:  # refused from the size on disk, nothing more read
                what = "truncated" if size < expected else "has trailing bytes"
                raise DatasetError(f"{path}: file size {size} bytes does not match its header, "
                                   f"which needs {expected} bytes: {what}")
            chunks, total = [head], len(head)
            while total <= expected:  # read up to expected + 1 bytes: one more tells "trailing bytes"
                chunk = stream.read(min(_CHUNK, expected + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            if total > expected:
                raise DatasetError(f"{path}: the decompressed content is longer than the {expected} bytes "
                                   "its header needs: has trailing bytes")
            return b"".join(chunks)
    except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt gzip stream
        if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise DatasetNotFoundError(f"{path}: cannot read ({exc.strerror or exc})") from None
        raise DatasetError(f"{path}: corrupt or truncated gzip data ({exc})") from None


def decode_text(data: bytes, path, encoding: str, what: str) -> str:
    """``data`` as text: a UTF-16/32 or UTF-8 byte-order mark picks that encoding (and is
    dropped, so it never sticks to the first word); otherwise ``encoding``.  NUL bytes
    without a mark (UTF-16 without BOM, a binary file) are refused, never split into letters."""
    marks = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
             (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"), (b"\xef\xbb\xbf", "utf-8-sig"))
    enc = next((e for bom, e in marks if data.startswith(bom)), None)
    if enc is None and b"\x00" in data:
        raise DatasetError(f"{path}: contains NUL bytes (UTF-16 text without a byte-order mark, or not "
                           f"a text file); expected {what} in {encoding}")
    try:
        text = data.decode(enc or encoding)
    except UnicodeDecodeError as exc:
        label = (enc or encoding).upper().replace("-SIG", "")
        raise DatasetError(f"{path}: not {label} text ({exc}); expected {what}") from None
    if "\x00" in text:
        raise DatasetError(f"{path}: NUL characters in the text; expected {what}")
    return text


def check_int(where: str, name: str, value, minimum: int | None = None) -> int:
    """``value`` as an int (Python or NumPy integer, not bool, not a float) ≥ ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {name} must be an integer, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value}")
    return int(value)


def check_seed(where: str, seed) -> int:
    """A seed for ``numpy.random.default_rng``: a non-negative integer."""
    return check_int(where, "seed", seed, 0)


def rng_from_seed(where: str, seed) -> np.random.Generator:
    """``numpy.random.default_rng(seed)`` for a non-negative integer seed (or a Generator,
    BitGenerator or SeedSequence, used as is); anything else is refused naming ``seed``."""
    if isinstance(seed, (np.random.Generator, np.random.BitGenerator, np.random.SeedSequence)):
        return np.random.default_rng(seed)
    return np.random.default_rng(check_seed(where, seed))


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
