"""IDX parser, MNIST/Fashion-MNIST loaders, and the real Debian Fashion-MNIST."""

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_ngd import datasets as D
from tinygrad_ngd.datasets import idx as I

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _write_raw_idx(path, magic: bytes, dims, payload: bytes, gz=False):
    """Write an IDX file by hand from its parts (big-endian dims), independent of write_idx."""
    data = magic + b"".join(int(d).to_bytes(4, "big") for d in dims) + payload
    Path(path).write_bytes(gzip.compress(data) if gz else data)


def _mnist_dir(tmp_path, n_train=7, n_test=3, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    d = tmp_path / "mnist"
    d.mkdir()
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labs = rng.integers(0, 10, size=n, dtype=np.uint8)
        sfx = ".gz" if gz else ""
        _write_raw_idx(d / f"{prefix}-images-idx3-ubyte{sfx}", b"\x00\x00\x08\x03", (n, 28, 28), imgs.tobytes(), gz)
        _write_raw_idx(d / f"{prefix}-labels-idx1-ubyte{sfx}", b"\x00\x00\x08\x01", (n,), labs.tobytes(), gz)
        out[prefix] = (imgs, labs)
    return d, out


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_returns_what_was_written(tmp_path, gz):
    d, ref = _mnist_dir(tmp_path, gz=gz)
    (xtr, ytr), (xte, yte) = D.load_mnist(d, dtype="uint8")
    assert xtr.dtype == np.uint8 and ytr.dtype == np.int64
    np.testing.assert_array_equal(xtr, ref["train"][0])
    np.testing.assert_array_equal(ytr, ref["train"][1])
    np.testing.assert_array_equal(xte, ref["t10k"][0])
    np.testing.assert_array_equal(yte, ref["t10k"][1])
    (f, _), _ = D.load_mnist(d, flatten=True)
    assert f.dtype == np.float32 and f.shape == (7, 784)
    np.testing.assert_array_equal(f, ref["train"][0].reshape(7, 784) / np.float32(255))


def test_load_mnist_from_env(tmp_path, monkeypatch):
    _, ref = _mnist_dir(tmp_path)
    monkeypatch.setenv("TINYGRAD_NGD_DATA", str(tmp_path))
    (xtr, _), _ = D.load_mnist(dtype="uint8")
    np.testing.assert_array_equal(xtr, ref["train"][0])


@settings(max_examples=30, deadline=None)
@given(dtype=st.sampled_from(["u1", "i1", ">i2", ">i4", ">f4", ">f8"]),
       shape=st.lists(st.integers(0, 4), min_size=1, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_idx_roundtrip_any_type(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal(shape) * 100).astype(np.dtype(dtype).newbyteorder("="))
    b = I.parse_idx(I.idx_bytes(a))
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_idx_big_endian_by_hand(tmp_path):
    p = tmp_path / "x.idx"
    _write_raw_idx(p, b"\x00\x00\x0b\x02", (2, 2), b"\x01\x02\xff\xfe\x00\x05\x80\x00")  # int16 BE
    np.testing.assert_array_equal(D.read_idx(p), [[0x0102, -2], [5, -32768]])
    q = tmp_path / "y.idx.gz"
    D.write_idx(q, np.array([[1.5, -2.0]], np.float32))
    assert q.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(D.read_idx(q), [[1.5, -2.0]])


# ------------------------------------------------------------------ bad input
def test_wrong_magic(tmp_path):
    d, _ = _mnist_dir(tmp_path)
    p = d / "train-images-idx3-ubyte"
    data = bytearray(p.read_bytes())
    data[3] = 0x01  # says 1-D labels, not 3-D images
    p.write_bytes(bytes(data))
    with pytest.raises(D.DatasetError, match=r"train-images-idx3-ubyte: wrong magic number 0x00000801, expected 0x00000803"):
        D.load_mnist(d)
    with pytest.raises(D.DatasetError, match="not an IDX file"):
        I.parse_idx(b"\x12\x34\x08\x01\x00\x00\x00\x00", name="junk")


@pytest.mark.parametrize("gz", [False, True])
def test_truncated(tmp_path, gz):
    d, _ = _mnist_dir(tmp_path, gz=gz)
    p = d / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))
    raw = gzip.decompress(p.read_bytes()) if gz else p.read_bytes()
    cut = raw[:-100]
    p.write_bytes(gzip.compress(cut) if gz else cut)
    with pytest.raises(D.DatasetError, match=r"t10k-images-idx3-ubyte.*truncated"):
        D.load_mnist(d)
    # a cut gzip stream too
    if gz:
        p.write_bytes(gzip.compress(raw)[:-20])
        with pytest.raises(D.DatasetError, match=r"t10k-images-idx3-ubyte\.gz: corrupt or truncated gzip"):
            D.load_mnist(d)


def test_trailing_bytes_and_short_header():
    good = I.idx_bytes(np.zeros((2, 3), np.uint8))
    with pytest.raises(D.DatasetError, match="f.idx: file size .* trailing bytes"):
        I.parse_idx(good + b"\x00", name="f.idx")
    with pytest.raises(D.DatasetError, match="truncated IDX header"):
        I.parse_idx(good[:7], name="f.idx")
    with pytest.raises(D.DatasetError, match="shorter than the 4-byte magic"):
        I.parse_idx(b"\x00\x00", name="f.idx")


def test_count_mismatch(tmp_path):
    d, _ = _mnist_dir(tmp_path)
    _write_raw_idx(d / "train-labels-idx1-ubyte", b"\x00\x00\x08\x01", (6,), bytes(6))
    with pytest.raises(D.DatasetError, match=r"train-images-idx3-ubyte holds 7 images but .*train-labels-idx1-ubyte holds 6 labels"):
        D.load_mnist(d)


def test_wrong_dimensions_and_label_range(tmp_path):
    d, _ = _mnist_dir(tmp_path)
    _write_raw_idx(d / "train-images-idx3-ubyte", b"\x00\x00\x08\x03", (7, 28, 27), bytes(7 * 28 * 27))
    with pytest.raises(D.DatasetError, match=r"images are 28x27, expected 28x28"):
        D.load_mnist(d)
    (x, _), _ = D.load_mnist(d, image_shape=None)
    assert x.shape == (7, 28, 27)
    _write_raw_idx(d / "t10k-labels-idx1-ubyte", b"\x00\x00\x08\x01", (3,), bytes([1, 10, 2]))
    with pytest.raises(D.DatasetError, match=r"t10k-labels-idx1-ubyte: label 10 out of range"):
        D.load_mnist(d, image_shape=None)


def test_missing_file_names_it(tmp_path):
    d, _ = _mnist_dir(tmp_path)
    (d / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(D.DatasetNotFoundError, match=r"lacks t10k-labels-idx1-ubyte\[\.gz\]"):
        D.load_mnist(d)


def test_fashion_missing_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGRAD_NGD_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(I, "FASHION_MNIST_DEBIAN_DIR", tmp_path / "not-installed")
    with pytest.raises(D.DatasetNotFoundError) as e:
        D.load_fashion_mnist()
    msg = str(e.value)
    assert str(tmp_path / "data" / "fashion-mnist") in msg and str(tmp_path / "not-installed") in msg
    assert "apt-get install dataset-fashion-mnist" in msg


# ------------------------------------------------------------------ the real thing
@pytest.fixture(scope="module")
def debian_fashion():
    if not all((DEBIAN / (n + ".gz")).is_file() for n in NAMES):
        if os.environ.get("TINYGRAD_NGD_REQUIRE_DATA") or os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{DEBIAN} lacks Fashion-MNIST: apt-get install dataset-fashion-mnist")
        pytest.skip(f"Fashion-MNIST not installed in {DEBIAN} (apt-get install dataset-fashion-mnist)")
    return D.load_fashion_mnist(DEBIAN, dtype="uint8")


def test_fashion_mnist_default_search_finds_debian(debian_fashion, monkeypatch):
    monkeypatch.delenv("TINYGRAD_NGD_DATA", raising=False)
    (_, ytr), (xte, _) = D.load_fashion_mnist(dtype="uint8")
    np.testing.assert_array_equal(ytr, debian_fashion[0][1])
    np.testing.assert_array_equal(xte, debian_fashion[1][0])


def test_fashion_mnist_debian(debian_fashion):
    (xtr, ytr), (xte, yte) = debian_fashion
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28)
    assert xtr.dtype == np.uint8 and ytr.dtype == np.int64
    assert np.all(np.bincount(ytr, minlength=10) == 6000)
    assert np.all(np.bincount(yte, minlength=10) == 1000)
    assert xtr.max() == 255 and xtr.min() == 0
    # trousers (class 1) are tall and narrow: more ink in the centre columns than at the sides
    trousers = xtr[ytr == 1].astype(np.float64).mean(axis=0)
    assert trousers[:, 12:16].mean() > trousers[:, :4].mean()
    assert len(D.FASHION_MNIST_CLASSES) == 10 and D.FASHION_MNIST_CLASSES[1] == "Trouser"
