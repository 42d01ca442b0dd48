"""Datasets on host NumPy arrays; the DataLoader moves batches to the backend.

* :func:`load_mnist_subset` — 10,000 real MNIST digits shipped in the package (the default).
* :func:`load_mnist`, :func:`load_fashion_mnist` — IDX files (Fashion-MNIST also from
  Debian's ``dataset-fashion-mnist`` in ``/usr/share/datasets/fashion-mnist/``).
* :func:`load_cifar10`, :func:`load_cifar100` — the binary distribution (never pickle).
* :func:`load_ptb` (+ :func:`batchify`, :func:`bptt_windows`), :func:`load_rt_polarity`.
* Synthetic problems: :class:`QuadraticBowl`, :class:`Rosenbrock`, :class:`Beale`,
  :class:`NoisyQuadratic`, :class:`LogisticRegression`, :class:`ExponentialLoss1D`,
  and :func:`markov_corpus` (a text corpus with a known entropy floor).
* :class:`DataLoader` and the transforms of :mod:`.augment`.

No network at run time; a missing data set raises :class:`DatasetNotFoundError`
saying where it looked and how to get it; a malformed file raises
:class:`DatasetError` naming the file and what was expected.
"""

from ._common import DATA_ENV, DatasetError, DatasetNotFoundError
from .augment import (
    Compose,
    RandomCrop,
    RandomHorizontalFlip,
    Standardize,
    channel_stats,
    cifar_augmentation,
    random_crop,
    random_hflip,
    standardize,
)
from .cifar import CIFAR10_CLASSES, load_cifar10, load_cifar100, parse_cifar_binary
from .idx import (
    FASHION_MNIST_CLASSES,
    idx_bytes,
    load_fashion_mnist,
    load_mnist,
    parse_idx,
    read_idx,
    write_idx,
)
from .loader import DataLoader
from .markov import MarkovCorpus, entropy_rate, markov_corpus, stationary_distribution
from .mnist_subset import MNIST_SUBSET_COUNTS, load_mnist_subset
from .polarity import PolarityData, clean_str, load_rt_polarity, pad_sequences
from .ptb import TextCorpus, batchify, bptt_windows, load_ptb
from .synthetic import (
    Beale,
    ExponentialLoss1D,
    LogisticRegression,
    NoisyQuadratic,
    Problem,
    QuadraticBowl,
    Rosenbrock,
)
from .vocab import Vocabulary

__all__ = [
    "CIFAR10_CLASSES",
    "DATA_ENV",
    "FASHION_MNIST_CLASSES",
    "MNIST_SUBSET_COUNTS",
    "Beale",
    "Compose",
    "DataLoader",
    "DatasetError",
    "DatasetNotFoundError",
    "ExponentialLoss1D",
    "LogisticRegression",
    "MarkovCorpus",
    "NoisyQuadratic",
    "PolarityData",
    "Problem",
    "QuadraticBowl",
    "RandomCrop",
    "RandomHorizontalFlip",
    "Rosenbrock",
    "Standardize",
    "TextCorpus",
    "Vocabulary",
    "batchify",
    "bptt_windows",
    "channel_stats",
    "cifar_augmentation",
    "clean_str",
    "entropy_rate",
    "idx_bytes",
    "load_cifar10",
    "load_cifar100",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist_subset",
    "load_ptb",
    "load_rt_polarity",
    "markov_corpus",
    "pad_sequences",
    "parse_cifar_binary",
    "parse_idx",
    "random_crop",
    "random_hflip",
    "read_idx",
    "standardize",
    "stationary_distribution",
    "write_idx",
]
