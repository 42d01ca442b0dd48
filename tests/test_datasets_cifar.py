"""CIFAR-10/100 binary parsers on small files written in the real record layout."""

import numpy as np
import pytest

from tinygrad_ngd import datasets as D


def _records(labels, images):
    """Bytes of records: label byte(s) then the 3072 pixel bytes (R plane, G plane, B plane)."""
    labels = np.asarray(labels, np.uint8).reshape(len(images), -1)
    return b"".join(bytes(l.tolist()) + im.tobytes() for l, im in zip(labels, images))


def _cifar10_dir(tmp_path, sizes=(3, 2, 4, 1, 2), n_test=3, seed=0):
    rng = np.random.default_rng(seed)
    d = tmp_path / "cifar-10-batches-bin"
    d.mkdir()
    train = []
    for i, n in enumerate(sizes, start=1):
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        y = rng.integers(0, 10, n)
        (d / f"data_batch_{i}.bin").write_bytes(_records(y, x))
        train.append((x, y))
    xt = rng.integers(0, 256, (n_test, 3, 32, 32), dtype=np.uint8)
    yt = rng.integers(0, 10, n_test)
    (d / "test_batch.bin").write_bytes(_records(yt, xt))
    return d, train, (xt, yt)


def test_cifar10_returns_what_was_written(tmp_path):
    d, train, (xt, yt) = _cifar10_dir(tmp_path)
    for path in (d, tmp_path):  # the batches directory or its parent
        (xtr, ytr), (xte, yte) = D.load_cifar10(path, dtype="uint8")
        np.testing.assert_array_equal(xtr, np.concatenate([x for x, _ in train]))  # batches 1..5 in order
        np.testing.assert_array_equal(ytr, np.concatenate([y for _, y in train]))
        np.testing.assert_array_equal(xte, xt)
        np.testing.assert_array_equal(yte, yt)
    assert ytr.dtype == np.int64 and xtr.shape == (12, 3, 32, 32)
    (f, _), _ = D.load_cifar10(d)
    assert f.dtype == np.float32
    np.testing.assert_array_equal(f, xtr / np.float32(255))


def test_cifar10_channel_layout():
    # record: label 7, then a red plane of 10s, a green plane of 20s, a blue plane of 30s
    rec = bytes([7]) + bytes([10]) * 1024 + bytes([20]) * 1024 + bytes([30]) * 1024
    x, y = D.parse_cifar_binary(rec, 1, (10,), name="one.bin")
    assert y.tolist() == [[7]]
    assert x.shape == (1, 3, 32, 32)
    assert [int(x[0, c].min()) for c in range(3)] == [10, 20, 30]
    assert [int(x[0, c].max()) for c in range(3)] == [10, 20, 30]
    # pixel (row 1, col 2) of the red plane is byte 1 + 1*32 + 2
    rec2 = bytearray(rec)
    rec2[1 + 32 + 2] = 99
    x2, _ = D.parse_cifar_binary(bytes(rec2), 1, (10,))
    assert x2[0, 0, 1, 2] == 99 and x2[0, 0, 2, 1] == 10


def test_cifar100_coarse_and_fine(tmp_path):
    rng = np.random.default_rng(1)
    d = tmp_path / "cifar-100-binary"
    d.mkdir()
    ref = {}
    for name, n in (("train.bin", 5), ("test.bin", 2)):
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        coarse, fine = rng.integers(0, 20, n), rng.integers(0, 100, n)
        (d / name).write_bytes(_records(np.stack([coarse, fine], 1), x))
        ref[name] = (x, coarse, fine)
    (xtr, ytr), (xte, yte) = D.load_cifar100(tmp_path, dtype="uint8")
    np.testing.assert_array_equal(xte, ref["test.bin"][0])
    np.testing.assert_array_equal(xtr, ref["train.bin"][0])
    np.testing.assert_array_equal(ytr, ref["train.bin"][2])
    np.testing.assert_array_equal(yte, ref["test.bin"][2])
    (_, ctr), (_, cte) = D.load_cifar100(d, label_mode="coarse")
    np.testing.assert_array_equal(ctr, ref["train.bin"][1])
    np.testing.assert_array_equal(cte, ref["test.bin"][1])
    (_, both), _ = D.load_cifar100(d, label_mode="both")
    np.testing.assert_array_equal(both, np.stack([ref["train.bin"][1], ref["train.bin"][2]], 1))
    with pytest.raises(ValueError):
        D.load_cifar100(d, label_mode="medium")


def test_truncated_record(tmp_path):
    d, _, _ = _cifar10_dir(tmp_path)
    p = d / "data_batch_3.bin"
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(D.DatasetError, match=r"data_batch_3\.bin: size \d+ bytes is not a positive multiple of the 3073-byte record"):
        D.load_cifar10(d)


def test_label_out_of_range(tmp_path):
    d, _, _ = _cifar10_dir(tmp_path)
    x = np.zeros((2, 3, 32, 32), np.uint8)
    (d / "test_batch.bin").write_bytes(_records([4, 12], x))
    with pytest.raises(D.DatasetError, match=r"test_batch\.bin: record 1 has label byte 0 = 12, expected 0\.\.9"):
        D.load_cifar10(d)
    with pytest.raises(D.DatasetError, match=r"label byte 1 = 100, expected 0\.\.99"):
        D.parse_cifar_binary(bytes([3, 100]) + bytes(3072), 2, (20, 100), name="train.bin")


def test_missing_batch_is_named(tmp_path):
    d, _, _ = _cifar10_dir(tmp_path)
    (d / "data_batch_4.bin").unlink()
    with pytest.raises(D.DatasetNotFoundError, match=r"cifar-10-batches-bin lacks data_batch_4\.bin"):
        D.load_cifar10(d)


def test_missing_dataset_says_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGRAD_NGD_DATA", str(tmp_path))
    with pytest.raises(D.DatasetNotFoundError, match=r"looked in: .*cifar-100-binary.*cifar-100-binary\.tar\.gz"):
        D.load_cifar100()
    monkeypatch.delenv("TINYGRAD_NGD_DATA")
    with pytest.raises(D.DatasetNotFoundError, match="TINYGRAD_NGD_DATA is unset"):
        D.load_cifar10()
