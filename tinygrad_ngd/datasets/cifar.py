"""CIFAR-10 / CIFAR-100 from the *binary* distribution (never the Python pickle one).

Binary layout (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html):

* CIFAR-10 (``cifar-10-batches-bin/``): ``data_batch_1.bin`` ... ``data_batch_5.bin``
  and ``test_batch.bin``; each record is 1 label byte (0..9) + 3072 pixel bytes.
* CIFAR-100 (``cifar-100-binary/``): ``train.bin`` and ``test.bin``; each record is
  1 coarse-label byte (0..19), 1 fine-label byte (0..99) + 3072 pixel bytes.

The 3072 bytes are the red, green and blue 32×32 planes, row-major, so a record
reshapes directly to channel-first ``(3, 32, 32)`` — the layout of ``Conv2d``.
[Yu et al. 2017, §4.2] trains ResNets on both; see :mod:`.augment` for its augmentation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import DatasetError, DatasetNotFoundError, candidate_dirs, read_bytes

IMAGE_BYTES = 3 * 32 * 32
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch.bin"
CIFAR100_TRAIN_FILE = "train.bin"
CIFAR100_TEST_FILE = "test.bin"


def parse_cifar_binary(data: bytes, n_label_bytes: int, label_limits, name="<bytes>"):
    """Records of ``n_label_bytes`` label bytes + 3072 pixel bytes -> (uint8 images (n, 3, 32, 32),
    int64 labels (n, n_label_bytes)); every label column ``j`` must be < ``label_limits[j]``."""
    rec = n_label_bytes + IMAGE_BYTES
    if len(data) == 0 or len(data) % rec:
        raise DatasetError(f"{name}: size {len(data)} bytes is not a positive multiple of the "
                           f"{rec}-byte record ({n_label_bytes} label byte(s) + {IMAGE_BYTES} pixels): truncated "
                           "or not a CIFAR binary file")
    table = np.frombuffer(data, dtype=np.uint8).reshape(-1, rec)
    labels = table[:, :n_label_bytes].astype(np.int64)
    for j, limit in enumerate(label_limits):
        bad = labels[:, j] >= limit
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DatasetError(f"{name}: record {i} has label byte {j} = {labels[i, j]}, expected 0..{limit - 1}")
    images = table[:, n_label_bytes:].reshape(-1, 3, 32, 32).copy()
    return images, labels


def _read(path: Path, n_label_bytes, label_limits):
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: missing CIFAR binary file")
    return parse_cifar_binary(read_bytes(path), n_label_bytes, label_limits, name=str(path))


def _find_dir(title, path, names, subdirs, how):
    """The directory holding all ``names`` (``path`` itself or its standard subdirectory)."""
    if path is not None:
        base = Path(path).expanduser()
        dirs = [base] + [base / s for s in subdirs]
    else:
        dirs = candidate_dirs(subdirs)
    for d in dirs:
        if all((d / n).is_file() for n in names):
            return d
    for d in dirs:  # a partial set: name what is missing rather than loading half a data set
        present = [n for n in names if (d / n).is_file()]
        if present:
            missing = [n for n in names if n not in present]
            raise DatasetNotFoundError(f"{title}: {d} lacks {', '.join(missing)}. {how}")
    looked = ", ".join(str(d) for d in dirs) or "(nowhere: no path given and $TINYGRAD_NGD_DATA is unset)"
    raise DatasetNotFoundError(f"{title} binary files ({', '.join(names)}) not found; looked in: {looked}. {how}")


def _convert(images, dtype):
    dt = np.dtype(dtype)
    if dt == np.uint8:
        return images
    if dt.kind != "f":
        raise ValueError(f"dtype must be uint8 or a float dtype, got {dt}")
    return images.astype(dt) / dt.type(255)


def load_cifar10(path=None, dtype="float32"):
    """CIFAR-10, binary version.  ``path``: ``cifar-10-batches-bin/`` or its parent
    (default: ``$TINYGRAD_NGD_DATA/cifar-10-batches-bin``).

    Returns ``(x_train, y_train), (x_test, y_test)``: images ``(n, 3, 32, 32)`` as
    ``dtype`` (float in [0, 1] or ``"uint8"``), int64 labels 0..9 (:data:`CIFAR10_CLASSES`).
    All five training batches must be present.
    """
    how = ("Download the binary version cifar-10-binary.tar.gz from "
           "https://www.cs.toronto.edu/~kriz/cifar.html, unpack it, and pass the directory as path= "
           "or unpack it under $TINYGRAD_NGD_DATA.")
    names = CIFAR10_TRAIN_FILES + (CIFAR10_TEST_FILE,)
    d = _find_dir("CIFAR-10", path, names, ("cifar-10-batches-bin", "cifar-10", "cifar10"), how)
    parts = [_read(d / n, 1, (10,)) for n in CIFAR10_TRAIN_FILES]
    x_te, y_te = _read(d / CIFAR10_TEST_FILE, 1, (10,))
    x_tr = np.concatenate([p[0] for p in parts])
    y_tr = np.concatenate([p[1] for p in parts])
    return (_convert(x_tr, dtype), y_tr[:, 0].copy()), (_convert(x_te, dtype), y_te[:, 0].copy())


def load_cifar100(path=None, dtype="float32", label_mode="fine"):
    """CIFAR-100, binary version.  ``path``: ``cifar-100-binary/`` or its parent
    (default: ``$TINYGRAD_NGD_DATA/cifar-100-binary``).

    ``label_mode``: ``"fine"`` (0..99, default), ``"coarse"`` (0..19) or ``"both"``
    (an ``(n, 2)`` array of columns coarse, fine — the order of the file's bytes).
    """
    if label_mode not in ("fine", "coarse", "both"):
        raise ValueError(f"label_mode must be 'fine', 'coarse' or 'both', got {label_mode!r}")
    how = ("Download the binary version cifar-100-binary.tar.gz from "
           "https://www.cs.toronto.edu/~kriz/cifar.html, unpack it, and pass the directory as path= "
           "or unpack it under $TINYGRAD_NGD_DATA.")
    d = _find_dir("CIFAR-100", path, (CIFAR100_TRAIN_FILE, CIFAR100_TEST_FILE),
                  ("cifar-100-binary", "cifar-100", "cifar100"), how)
    x_tr, y_tr = _read(d / CIFAR100_TRAIN_FILE, 2, (20, 100))
    x_te, y_te = _read(d / CIFAR100_TEST_FILE, 2, (20, 100))
    cols = {"coarse": 0, "fine": 1, "both": slice(None)}[label_mode]

    def pick(y):
        return np.ascontiguousarray(y[:, cols])

    return (_convert(x_tr, dtype), pick(y_tr)), (_convert(x_te, dtype), pick(y_te))
