"""DataLoader (epoch coverage, reproducibility, dtypes) and augmentation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import datasets as D


def _epoch(loader):
    """Host copies of one epoch's batches."""
    out = []
    for batch in loader:
        batch = batch if isinstance(batch, tuple) else (batch,)
        assert all(isinstance(t, tg.Tensor) for t in batch)
        out.append(tuple(B.to_numpy(t.data) for t in batch))
    return out


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), bs=st.integers(1, 12), shuffle=st.booleans(), drop_last=st.booleans(),
       seed=st.integers(0, 100))
def test_every_example_once_per_epoch(n, bs, shuffle, drop_last, seed):
    ids = np.arange(n)
    x = np.stack([ids, -ids], 1).astype(np.float32)
    loader = D.DataLoader((x, ids), bs, shuffle=shuffle, seed=seed, drop_last=drop_last)
    for _ in range(2):
        batches = _epoch(loader)
        assert len(batches) == len(loader)
        seen = np.concatenate([b[1] for b in batches]) if batches else np.array([], int)
        for xb, yb in batches:
            np.testing.assert_array_equal(xb[:, 0], yb)  # rows stay paired across arrays
        if drop_last:
            assert all(len(b[1]) == bs for b in batches)
            assert len(seen) == n - n % bs
            assert len(np.unique(seen)) == len(seen)  # no repeats; the dropped ones are the tail remainder
        else:
            assert sorted(seen.tolist()) == ids.tolist()  # each example exactly once
            assert all(len(b[1]) == bs for b in batches[:-1])
        if not shuffle:
            np.testing.assert_array_equal(seen, ids[: len(seen)])


def test_shuffle_reproducible_for_a_seed_and_fresh_each_epoch():
    y = np.arange(100)
    a = D.DataLoader(y, 10, shuffle=True, seed=7)
    b = D.DataLoader(y, 10, shuffle=True, seed=7)
    ea1, ea2 = [np.concatenate([t[0] for t in _epoch(a)]) for _ in range(2)]
    eb1, eb2 = [np.concatenate([t[0] for t in _epoch(b)]) for _ in range(2)]
    np.testing.assert_array_equal(ea1, eb1)
    np.testing.assert_array_equal(ea2, eb2)
    assert not np.array_equal(ea1, ea2)           # a new permutation each epoch
    assert not np.array_equal(ea1, y)
    c = np.concatenate([t[0] for t in _epoch(D.DataLoader(y, 10, shuffle=True, seed=8))])
    assert not np.array_equal(ea1, c)


def test_seed_none_uses_host_rng():
    y = np.arange(50)
    tg.manual_seed(123)
    e1 = np.concatenate([t[0] for t in _epoch(D.DataLoader(y, 8, shuffle=True))])
    tg.manual_seed(123)
    e2 = np.concatenate([t[0] for t in _epoch(D.DataLoader(y, 8, shuffle=True))])
    np.testing.assert_array_equal(e1, e2)
    tg.manual_seed(124)
    e3 = np.concatenate([t[0] for t in _epoch(D.DataLoader(y, 8, shuffle=True))])
    assert not np.array_equal(e1, e3)


def test_dtype_rules():
    x64 = np.random.default_rng(0).standard_normal((6, 3))
    y = np.arange(6, dtype=np.int64)
    u8 = np.arange(6, dtype=np.uint8)
    old = tg.get_default_dtype()
    try:
        tg.set_default_dtype("float32")
        xb, yb, ub = next(iter(D.DataLoader((x64, y, u8), 4)))
        assert xb.dtype == np.float32 and yb.dtype == np.int64 and ub.dtype == np.uint8
        np.testing.assert_array_equal(B.to_numpy(xb.data), x64[:4].astype(np.float32))
        tg.set_default_dtype("float64")
        xb, yb, _ = next(iter(D.DataLoader((x64.astype(np.float32), y, u8), 4)))
        assert xb.dtype == np.float64 and yb.dtype == np.int64
        assert not xb.requires_grad
    finally:
        tg.set_default_dtype(np.dtype(old).name)


def test_bad_arguments():
    with pytest.raises(ValueError, match="array 1 has first dimension 4, expected 5"):
        D.DataLoader((np.zeros(5), np.zeros(4)), 2)
    with pytest.raises(ValueError, match="batch_size"):
        D.DataLoader(np.zeros(5), 0)


# ------------------------------------------------------------------ augmentation
def _images(n=6, c=3, h=8, w=8, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(np.float32) + 1.0  # > 0: pads are visible


def test_random_crop_is_a_window_of_the_padded_image():
    x = _images()
    out = D.random_crop(x, 2, np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = set()
    for i in range(len(x)):
        hits = [(oy, ox) for oy in range(5) for ox in range(5)
                if np.array_equal(out[i], padded[i, :, oy:oy + 8, ox:ox + 8])]
        assert hits, "crop is not a window of the zero-padded image"
        offsets.add(hits[0])
    assert len(offsets) > 1  # offsets vary between images
    np.testing.assert_array_equal(D.random_crop(x, 2, np.random.default_rng(1)), out)  # seeded


def test_random_hflip():
    x = _images(n=40)
    out = D.random_hflip(x, np.random.default_rng(3))
    flipped = [np.array_equal(o, xi[..., ::-1]) for o, xi in zip(out, x)]
    kept = [np.array_equal(o, xi) for o, xi in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 5 < sum(flipped) < 35
    assert sum(D.random_hflip(x, np.random.default_rng(3), p=0.0)[i].tobytes() == x[i].tobytes()
               for i in range(40)) == 40


def test_standardize_per_channel():
    x = _images(n=50) * np.array([1.0, 5.0, 0.1], np.float32).reshape(1, 3, 1, 1)
    mean, std = D.channel_stats(x)
    z = D.standardize(x, mean, std)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, atol=1e-4)
    with pytest.raises(ValueError, match="channels"):
        D.standardize(x, mean[:2], std[:2])


def test_loader_applies_seeded_augmentation_to_inputs_only():
    x = _images(n=10)
    y = np.arange(10)
    aug = D.cifar_augmentation(padding=2)
    run = lambda: _epoch(D.DataLoader((x, y), 4, shuffle=True, seed=5, transform=aug))
    e1, e2 = run(), run()
    for (xa, ya), (xb, yb) in zip(e1, e2):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    xs = np.concatenate([b[0] for b in e1])
    ys = np.concatenate([b[1] for b in e1])
    assert sorted(ys.tolist()) == list(range(10))
    assert not np.array_equal(xs, x[ys])          # augmented
    assert np.any(xs == 0)                          # some zero padding came in through the crops


def test_bad_transform_and_augmentation_arguments_are_refused_by_name():
    """Audit (issue 14 probe): these ended in NumPy's/Python's own errors, or in inf."""
    x = np.ones((2, 1, 4, 4))
    with pytest.raises(TypeError, match="DataLoader: transform must be a callable"):
        D.DataLoader(np.zeros((4, 2)), batch_size=2, transform=3)
    with pytest.raises(ValueError, match="DataLoader: array 0 has first dimension none"):
        D.DataLoader((np.float64(3.0),), batch_size=1)
    with pytest.raises(ValueError, match="RandomCrop: padding must be >= 0"):
        D.RandomCrop(-1)
    with pytest.raises(TypeError, match="RandomCrop: padding must be an integer"):
        D.RandomCrop(2.5)
    with pytest.raises(ValueError, match="random_crop: padding must be >= 0"):
        D.random_crop(x, -1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="random_hflip: p must be a probability"):
        D.RandomHorizontalFlip(1.5)
    with pytest.raises(ValueError, match="standardize: std must hold finite numbers > 0"):
        D.Standardize([0.0], [0.0])
    with pytest.raises(ValueError, match="standardize: std must hold finite numbers > 0"):
        D.standardize(x, [0.0], [-1.0])
    with pytest.raises(ValueError, match="pad_sequences: length must be >= 0"):
        D.pad_sequences([[1, 2]], -1)
    with pytest.raises(TypeError, match="dtype must be uint8 or a float dtype, got 'bogus'"):
        D.load_mnist_subset(dtype="bogus")
