"""A word vocabulary: token <-> integer id, shared by the PTB, polarity and Markov corpora."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np


class Vocabulary:
    """An ordered list of distinct tokens; a token's id is its position.

    ``Vocabulary.build(token_lists, specials=("<pad>", "<unk>"))`` puts the specials
    first (ids 0, 1, ...), then the other tokens by decreasing count, ties in
    alphabetical order (the order of Zaremba et al.'s PTB reader), keeping those seen
    at least ``min_count`` times.
    """

    def __init__(self, tokens: Iterable[str], unk: str | None = None):
        self.itos = list(tokens)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            dup = next(t for t, c in Counter(self.itos).items() if c > 1)
            raise ValueError(f"Vocabulary: token {dup!r} appears more than once")
        if unk is not None and unk not in self.stoi:
            raise ValueError(f"Vocabulary: unknown-word token {unk!r} is not in the vocabulary")
        self.unk = unk

    @classmethod
    def build(cls, token_lists: Iterable[Iterable[str]], specials=(), min_count: int = 1,
              unk: str | None = None) -> Vocabulary:
        counts = Counter()
        for toks in token_lists:
            counts.update(toks)
        words = sorted((t for t, c in counts.items() if c >= min_count and t not in specials),
                       key=lambda t: (-counts[t], t))
        return cls(list(specials) + words, unk=unk)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.stoi[token]

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos and self.unk == other.unk

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens, unk={self.unk!r})"

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Ids (int64) of ``tokens``; unknown tokens map to ``unk`` or raise ``KeyError``."""
        if self.unk is None:
            return np.array([self.stoi[t] for t in tokens], dtype=np.int64)
        u = self.stoi[self.unk]
        return np.array([self.stoi.get(t, u) for t in tokens], dtype=np.int64)

    def decode(self, ids) -> list[str]:
        return [self.itos[int(i)] for i in np.asarray(ids).reshape(-1)]
