"""IDX files (the MNIST format) and the MNIST / Fashion-MNIST loaders.

IDX layout (LeCun et al., http://yann.lecun.com/exdb/mnist/): a 4-byte magic number
``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the data,
big-endian, row-major.  MNIST images are ``0x00000803`` (ubyte, 3-D: n × 28 × 28),
labels ``0x00000801`` (ubyte, 1-D: n).  Files may be gzipped (detected from the
content, not the name).  The file size must match the header exactly.

MNIST is the data set of [Yu et al. 2017, §4.1]; Fashion-MNIST (Xiao et al. 2017) has the
same format and sizes (60,000 train / 10,000 test, 10 balanced classes).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ._common import (
    DatasetError,
    DatasetNotFoundError,
    candidate_dirs,
    find_file,
    read_bytes,
)

# IDX type code -> big-endian dtype
IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

# standard names, then the variant with a dot that some mirrors use
_FILES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def _idx_header(data: bytes, name, expect_magic):
    """(shape, dtype, header length, total file size) from the first bytes of an IDX file.

    The size is computed with Python integers, so dimensions whose product overflows
    int64 give a huge size that no file matches, never a wrapped-around one."""
    if len(data) < 4:
        raise DatasetError(f"{name}: truncated IDX file: {len(data)} bytes, shorter than the 4-byte magic number")
    magic = int.from_bytes(data[:4], "big")
    zero, code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if expect_magic is not None and magic != expect_magic:
        raise DatasetError(f"{name}: wrong magic number 0x{magic:08x}, expected 0x{expect_magic:08x}")
    if zero != 0 or code not in IDX_DTYPES or ndim == 0:
        raise DatasetError(f"{name}: wrong magic number 0x{magic:08x}: not an IDX file "
                           "(expected 00 00 <type in 08,09,0b,0c,0d,0e> <ndim >= 1>)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{name}: truncated IDX header: {len(data)} bytes, expected at least {header}")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_DTYPES[code]
    return shape, dtype, header, header + math.prod(shape) * dtype.itemsize  # Python ints: no overflow


def parse_idx(data: bytes, name="<bytes>", expect_magic: int | None = None) -> np.ndarray:
    """Parse the bytes of one IDX file into a native-endian array; ``name`` is used in errors."""
    shape, dtype, header, expected = _idx_header(data, name, expect_magic)
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise DatasetError(f"{name}: file size {len(data)} bytes does not match its header "
                           f"(shape {shape}, {dtype.name}) which needs {expected} bytes: {what}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))  # a native-endian, writable copy


def read_idx(path, expect_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (gzipped or not) into a NumPy array, validating magic and size.

    The header is checked from the first bytes before the rest is read (a gzipped file
    is decompressed as a stream): a wrong magic number costs 1 KB, not the whole file."""
    name = str(path)

    def expected_size(head):
        return _idx_header(head, name, expect_magic)[3]

    return parse_idx(read_bytes(path, expected_size, peek=4 + 4 * 255), name=name, expect_magic=expect_magic)


def idx_bytes(array) -> bytes:
    """The IDX encoding of ``array`` (dtype one of uint8, int8, int16, int32, float32, float64)."""
    a = np.asarray(array)
    codes = {v.newbyteorder("=").str[1:]: k for k, v in IDX_DTYPES.items()}
    key = a.dtype.newbyteorder("=").str[1:]
    if key not in codes or a.ndim < 1 or a.ndim > 255:
        raise ValueError(f"idx_bytes: unsupported array dtype {a.dtype} / ndim {a.ndim}")
    code = codes[key]
    head = bytes([0, 0, code, a.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in a.shape)
    return head + np.ascontiguousarray(a, dtype=IDX_DTYPES[code]).tobytes()


def write_idx(path, array, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzipped when ``compress`` (default: name ends in .gz)."""
    import gzip
    path = Path(path)
    data = idx_bytes(array)
    if compress is None:
        compress = path.suffix == ".gz"
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)


def _load_pair(img_path: Path, lbl_path: Path, image_shape, n_classes: int):
    images = read_idx(img_path, expect_magic=IMAGES_MAGIC)
    labels = read_idx(lbl_path, expect_magic=LABELS_MAGIC)
    if image_shape is not None and images.shape[1:] != tuple(image_shape):
        raise DatasetError(f"{img_path}: images are {images.shape[1]}x{images.shape[2]}, "
                           f"expected {image_shape[0]}x{image_shape[1]}")
    if len(images) != len(labels):
        raise DatasetError(f"{img_path} holds {len(images)} images but {lbl_path} holds "
                           f"{len(labels)} labels; expected the same count")
    if labels.size and labels.max() >= n_classes:
        raise DatasetError(f"{lbl_path}: label {int(labels.max())} out of range, expected 0..{n_classes - 1}")
    return images, labels.astype(np.int64)


def _convert(images: np.ndarray, dtype, flatten: bool) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt == np.uint8:
        x = images
    elif dt.kind == "f":
        x = images.astype(dt) / dt.type(255)
    else:
        raise ValueError(f"dtype must be uint8 or a float dtype, got {dt}")
    return x.reshape(len(x), -1) if flatten else x


def _locate(directory: Path):
    """The four files in ``directory``, or the list of missing standard names."""
    found, missing = {}, []
    for key, names in _FILES.items():
        p = find_file(directory, names)
        if p is None:
            missing.append(names[0] + "[.gz]")
        found[key] = p
    return found, missing


def _load_idx_dataset(title, path, subdirs, extra, how_to_get, dtype, flatten, image_shape, n_classes):
    if path is not None:
        dirs, explicit = [Path(path).expanduser()], True
    else:
        dirs, explicit = candidate_dirs(subdirs, extra), False
    for d in dirs:
        if not d.is_dir():
            if explicit:
                raise DatasetNotFoundError(f"{title}: {d} is not a directory. {how_to_get}")
            continue
        files, missing = _locate(d)
        if missing:
            if explicit or any(files.values()):  # a named or partly populated directory: say what's missing
                raise DatasetNotFoundError(f"{title}: {d} lacks {', '.join(missing)}. {how_to_get}")
            continue
        x_tr, y_tr = _load_pair(files["train_images"], files["train_labels"], image_shape, n_classes)
        x_te, y_te = _load_pair(files["test_images"], files["test_labels"], image_shape, n_classes)
        return (_convert(x_tr, dtype, flatten), y_tr), (_convert(x_te, dtype, flatten), y_te)
    looked = ", ".join(str(d) for d in dirs) or "(nowhere: $TINYGRAD_NGD_DATA is unset)"
    raise DatasetNotFoundError(f"{title} not found; looked in: {looked}. {how_to_get}")


def load_mnist(path=None, dtype="float32", flatten: bool = False, image_shape=(28, 28)):
    """MNIST from the four IDX files (``train-images-idx3-ubyte`` etc., gzipped or not).

    ``path`` is the directory holding them; without it, ``$TINYGRAD_NGD_DATA/mnist``
    (or ``.../MNIST``) is searched.  Returns ``(x_train, y_train), (x_test,
    y_test)``: images ``(n, 28, 28)`` as ``dtype`` (float in [0, 1], or ``"uint8"``),
    int64 labels.  ``image_shape=None`` accepts any image size.  For the embedded
    10,000-digit subset that needs no files, see :func:`load_mnist_subset`.
    """
    how = ("Download the four IDX files of MNIST (http://yann.lecun.com/exdb/mnist/) into a directory "
           "and pass it as path=, or put them in $TINYGRAD_NGD_DATA/mnist/; without files, "
           "tinygrad_ngd.datasets.load_mnist_subset() gives the shipped 10,000-digit subset.")
    return _load_idx_dataset("MNIST", path, ("mnist", "MNIST"), (), how, dtype, flatten, image_shape, 10)


def load_fashion_mnist(path=None, dtype="float32", flatten: bool = False, image_shape=(28, 28)):
    """Fashion-MNIST from its four IDX files (same format and names as MNIST).

    Without ``path``: ``$TINYGRAD_NGD_DATA/fashion-mnist`` (or ``fashion_mnist``,
    ``FashionMNIST``), then ``/usr/share/datasets/fashion-mnist/`` where Debian's ``dataset-fashion-mnist``
    package installs the full 60,000/10,000 set.  Class names: :data:`FASHION_MNIST_CLASSES`.
    """
    how = ("Install it with `apt-get install dataset-fashion-mnist` (Debian package "
           f"dataset-fashion-mnist, installs into {FASHION_MNIST_DEBIAN_DIR}/), or put the four IDX "
           "files in a directory and pass it as path=, or put them in $TINYGRAD_NGD_DATA/fashion-mnist/.")
    return _load_idx_dataset("Fashion-MNIST", path, ("fashion-mnist", "fashion_mnist", "FashionMNIST"),
                             (FASHION_MNIST_DEBIAN_DIR,), how, dtype, flatten, image_shape, 10)
