"""DataLoader: mini-batches of host NumPy arrays, moved to the active backend as Tensors.

The only module of :mod:`tinygrad_ngd.datasets` that touches the backend.  Dtype rule:

* floating arrays are cast to :func:`tinygrad_ngd.get_default_dtype` (float32 unless
  ``set_default_dtype("float64")``), so batches match the parameters' dtype;
* integer and boolean arrays (labels, token ids, uint8 images) keep their dtype — load
  images as float (``dtype="float32"`` in the loaders) if the model wants floats.

Shuffling and augmentation draw from one NumPy ``Generator``: ``np.random.default_rng(seed)``,
created once, so epoch e of a loader built with ``seed`` is the same on every run and
every backend (each epoch draws a fresh permutation); with ``seed=None`` the shared
:func:`tinygrad_ngd.backend.host_rng` (set by ``tg.manual_seed``) is used.

Resuming: :meth:`DataLoader.state_dict` holds the generator's state (JSON-able), and
``save_checkpoint(..., loader=loader)`` stores it, so a run resumed at an epoch boundary
draws the same permutations as the uninterrupted run, bit for bit.
"""

from __future__ import annotations

import numpy as np

from .. import backend as B
from ..tensor import Tensor
from ._common import rng_from_seed


class DataLoader:
    """Iterate over ``arrays`` (one array or a tuple/list of arrays with the same first
    dimension) in batches of ``batch_size``.

    Each iteration (epoch) visits every example exactly once — in order, or in a fresh
    random permutation with ``shuffle`` — and yields a tuple of Tensors (a single Tensor
    when a single array was given).  ``drop_last`` drops a final batch smaller than
    ``batch_size``.  ``transform(x, rng) -> x`` (see :mod:`.augment`) is applied on the
    host to the first array of each batch before it is moved.
    """

    def __init__(self, arrays, batch_size: int, shuffle: bool = False, seed: int | None = None,
                 drop_last: bool = False, transform=None):
        self._single = not isinstance(arrays, (tuple, list))
        arrays = (arrays,) if self._single else tuple(arrays)
        if not arrays:
            raise ValueError("DataLoader: no arrays given")
        arrays = tuple(np.asarray(a) if not isinstance(a, np.ndarray) else a for a in arrays)
        n = len(arrays[0]) if arrays[0].ndim else 0
        for i, a in enumerate(arrays):
            if a.ndim == 0 or len(a) != n:
                raise ValueError(f"DataLoader: array {i} has first dimension "
                                 f"{a.shape[0] if a.ndim else 'none'}, expected {n} like array 0")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got "
                             f"{type(batch_size).__name__} {batch_size!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be a callable transform(x, rng) -> x or None, "
                            f"got {type(transform).__name__}")
        if seed is not None:
            rng_from_seed("DataLoader", seed)  # a negative or non-integer seed is refused, naming it
        self.arrays, self.n = arrays, n
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), bool(shuffle), bool(drop_last)
        self.transform, self.seed = transform, seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    # ------------------------------------------------------------ resuming
    def state_dict(self) -> dict:
        """The loader's generator state and the settings it is tied to, as a JSON-able dict.

        With ``seed=None`` the loader draws from the shared host generator, which a
        checkpoint restores by itself: the dict then says so and holds no generator state.
        Only an epoch boundary is a resume point (an epoch's permutation is drawn when its
        iteration starts)."""
        own = self._rng is not None
        return {"n": self.n, "batch_size": self.batch_size, "shuffle": self.shuffle,
                "drop_last": self.drop_last, "own_generator": own,
                "generator": self._rng.bit_generator.state if own else None}

    def load_state_dict(self, state) -> None:
        """Restore :meth:`state_dict`; everything is checked first and a refusal changes nothing."""
        if not isinstance(state, dict):
            raise TypeError(f"DataLoader.load_state_dict: expected the dict that DataLoader.state_dict() "
                            f"returns, got {type(state).__name__}")
        mine = self.state_dict()
        missing = sorted(set(mine) - set(state))
        if missing:
            raise ValueError(f"DataLoader.load_state_dict: the state lacks key(s) {missing}")
        for key in ("n", "batch_size", "shuffle", "drop_last", "own_generator"):
            if state[key] != mine[key] or type(state[key]) is not type(mine[key]):
                raise ValueError(f"DataLoader.load_state_dict: {key!r} is {state[key]!r} in the state but "
                                 f"{mine[key]!r} in this loader (the state belongs to another loader: "
                                 f"{'give the loader a seed' if key == 'own_generator' else 'build it alike'})")
        if not mine["own_generator"]:
            return
        generator = state["generator"]
        kind = type(self._rng.bit_generator).__name__
        if not isinstance(generator, dict) or generator.get("bit_generator") != kind:
            raise ValueError(f"DataLoader.load_state_dict: 'generator' must be the state of a {kind} "
                             f"bit generator, got {generator!r:.80}")
        trial = type(self._rng.bit_generator)()
        try:                                     # a dry run on a scratch generator
            trial.state = generator
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"DataLoader.load_state_dict: invalid generator state: {exc}") from None
        self._rng.bit_generator.state = generator

    @property
    def rng(self) -> np.random.Generator:
        return self._rng if self._rng is not None else B.host_rng()

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def batch_indices(self):
        """The index arrays of one epoch's batches (draws the permutation when shuffling)."""
        order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        stop = self.n - self.n % self.batch_size if self.drop_last else self.n
        return [order[i:i + self.batch_size] for i in range(0, stop, self.batch_size)]

    @staticmethod
    def _to_tensor(a: np.ndarray) -> Tensor:
        if a.dtype.kind == "f":
            a = a.astype(B.get_default_dtype(), copy=False)
        return Tensor(B.asarray(np.ascontiguousarray(a)))

    def __iter__(self):
        for idx in self.batch_indices():
            batch = [a[idx] for a in self.arrays]
            if self.transform is not None:
                batch[0] = self.transform(batch[0], self.rng)
            tensors = tuple(self._to_tensor(b) for b in batch)
            yield tensors[0] if self._single else tensors
