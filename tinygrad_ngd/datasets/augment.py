"""Image augmentation and standardization on host NumPy batches ``(n, C, H, W)``.

[Yu et al. 2017, §4.2] (after He et al. 2016): "4 pixels are padded on each side, and a 32×32
crop is randomly sampled from the padded image or its horizontal flip", and images
are standardized "by subtracting the means and dividing the variance for each
channel" (i.e. by the per-channel standard deviation).

Transforms are callables ``t(x, rng) -> x`` so a :class:`~.loader.DataLoader` can
apply them to the inputs of each batch with its own seeded generator; each draws its
random numbers from ``rng`` only, so a seed fixes every crop and flip.
"""

from __future__ import annotations

import numpy as np

from ._common import check_int


def _check_nchw(x, who):
    if x.ndim != 4:
        raise ValueError(f"{who}: expected a batch of shape (n, C, H, W), got {x.shape}")


def random_crop(x, padding: int, rng: np.random.Generator) -> np.ndarray:
    """Zero-pad ``padding`` pixels on each side, then crop back to H×W at a uniformly random
    offset per image (each offset in 0..2·padding)."""
    _check_nchw(x, "random_crop")
    n, c, h, w = x.shape
    p = check_int("random_crop", "padding", padding, 0)
    if p == 0:
        return x.copy()
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oy = rng.integers(0, 2 * p + 1, size=n)
    ox = rng.integers(0, 2 * p + 1, size=n)
    rows = (oy[:, None] + np.arange(h))[:, None, :, None]
    cols = (ox[:, None] + np.arange(w))[:, None, None, :]
    return xp[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols]


def random_hflip(x, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Mirror each image left-right with probability ``p``."""
    _check_nchw(x, "random_hflip")
    _check_probability(p)
    flip = rng.random(len(x)) < p
    out = x.copy()
    out[flip] = out[flip][..., ::-1]
    return out


def _check_probability(p) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) or not 0 <= p <= 1:
        raise ValueError(f"random_hflip: p must be a probability in [0, 1], got {p!r}")


def _check_std(std) -> None:
    std = np.asarray(std)
    if std.dtype.kind not in "biuf" or not np.all(np.isfinite(std)) or not np.all(std > 0):
        raise ValueError(f"standardize: std must hold finite numbers > 0 (one per channel), got {std!r}; "
                         f"a channel with std 0 would be divided by zero")


def channel_stats(x) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over (n, H, W) of a training set, float64."""
    _check_nchw(x, "channel_stats")
    x = np.asarray(x, dtype=np.float64)
    return x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3))


def standardize(x, mean, std) -> np.ndarray:
    """(x − mean_c) / std_c per channel c; keeps a float dtype, makes integers float32."""
    _check_nchw(x, "standardize")
    dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    mean = np.asarray(mean, dtype=dt).reshape(1, -1, 1, 1)
    _check_std(std)
    std = np.asarray(std, dtype=dt).reshape(1, -1, 1, 1)
    if mean.shape[1] != x.shape[1] or std.shape[1] != x.shape[1]:
        raise ValueError(f"standardize: {x.shape[1]} channels but mean/std have {mean.shape[1]}/{std.shape[1]}")
    return (x.astype(dt) - mean) / std


class RandomCrop:
    def __init__(self, padding: int = 4):
        self.padding = check_int("RandomCrop", "padding", padding, 0)

    def __call__(self, x, rng):
        return random_crop(x, self.padding, rng)


class RandomHorizontalFlip:
    def __init__(self, p: float = 0.5):
        _check_probability(p)
        self.p = p

    def __call__(self, x, rng):
        return random_hflip(x, rng, self.p)


class Standardize:
    def __init__(self, mean, std):
        _check_std(std)
        self.mean, self.std = np.asarray(mean), np.asarray(std)

    def __call__(self, x, rng=None):
        return standardize(x, self.mean, self.std)


class Compose:
    """Apply transforms in order, all drawing from the same generator."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng):
        for t in self.transforms:
            x = t(x, rng)
        return x


def cifar_augmentation(mean=None, std=None, padding: int = 4) -> Compose:
    """[Yu et al. 2017, §4.2]'s training transform: pad-4 random crop, random horizontal flip, then
    (if ``mean``/``std`` are given) per-channel standardization."""
    ts = [RandomCrop(padding), RandomHorizontalFlip(0.5)]
    if mean is not None:
        ts.append(Standardize(mean, std))
    return Compose(ts)
