"""A text corpus drawn from a known Markov chain, so a language model's loss has an exact floor.

Tokens x_0, x_1, ... follow a first-order chain with transition matrix P (row i: the
distribution of the word after word i), started from its stationary distribution π
(πP = π).  The chain is stationary, so the best possible expected loss per predicted
token, for any model that sees the whole past, is the entropy rate

    H = −Σ_i π_i Σ_j P_ij log P_ij   (nats; perplexity floor e^H).

A model's validation cross-entropy converges to H from above as it learns P.  Rows
of P are Dirichlet(``concentration``) mixed with a little uniform mass
(``smoothing``) so every transition is possible and the chain is ergodic.  The
corpus has the same fields as PTB's :class:`TextCorpus` — the LSTM tutorial's
default when PTB is absent ([Yu et al. 2017, §4.4]).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from ._common import rng_from_seed
from .ptb import TextCorpus
from .vocab import Vocabulary


def stationary_distribution(P) -> np.ndarray:
    """π with πP = π, Σπ = 1 (least squares on the stacked system, exact for ergodic P)."""
    P = np.asarray(P, dtype=np.float64)
    n = P.shape[0]
    m = np.vstack([P.T - np.eye(n), np.ones((1, n))])
    rhs = np.zeros(n + 1)
    rhs[-1] = 1.0
    pi = np.linalg.lstsq(m, rhs, rcond=None)[0]
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def entropy_rate(P, pi=None) -> float:
    """H = −Σ_i π_i Σ_j P_ij log P_ij in nats (0 log 0 = 0)."""
    P = np.asarray(P, dtype=np.float64)
    pi = stationary_distribution(P) if pi is None else np.asarray(pi, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(P > 0, P * np.log(P), 0.0)
    return float(-(pi @ plogp.sum(axis=1)))


def sample_chain(P, pi, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` states of the chain: x_0 ~ π, x_{t+1} ~ P[x_t] (inverse-CDF on one uniform each)."""
    cdf = np.cumsum(np.asarray(P, dtype=np.float64), axis=1)
    cdf[:, -1] = 1.0
    rows = [row.tolist() for row in cdf]
    start = np.cumsum(pi)
    start[-1] = 1.0
    u = rng.random(n).tolist()
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    s = min(bisect.bisect_right(start.tolist(), u[0]), len(rows) - 1)
    out[0] = s
    last = len(rows) - 1
    for t in range(1, n):
        s = min(bisect.bisect_right(rows[s], u[t]), last)
        out[t] = s
    return out


@dataclass
class MarkovCorpus(TextCorpus):
    """A :class:`TextCorpus` plus the chain that generated it."""
    transition: np.ndarray = None   # P, (V, V), rows sum to 1
    stationary: np.ndarray = None   # π, (V,)
    entropy_rate: float = None      # H in nats per token: the loss floor

    def nll(self, stream) -> float:
        """Mean −log P[x_t, x_{t+1}] of the true chain over ``stream`` (→ H for long streams)."""
        s = np.asarray(stream)
        return float(-np.mean(np.log(self.transition[s[:-1], s[1:]])))


def markov_corpus(vocab_size=50, n_train=100_000, n_valid=10_000, n_test=10_000,
                  concentration=0.1, smoothing=0.01, seed=0) -> MarkovCorpus:
    """Three independent stationary runs of a seeded random Markov chain over ``vocab_size``
    words named ``w0``, ``w1``, ... (id i is state i).  Smaller ``concentration`` gives
    peakier rows and a lower entropy rate."""
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be >= 2, got {vocab_size}")
    if not 0.0 < smoothing <= 1.0:
        raise ValueError(f"smoothing must be in (0, 1], got {smoothing}")
    rng = rng_from_seed("markov_corpus", seed)
    V = int(vocab_size)
    P = rng.dirichlet(np.full(V, float(concentration)), size=V)
    P = (1.0 - smoothing) * P + smoothing / V
    P /= P.sum(axis=1, keepdims=True)
    pi = stationary_distribution(P)
    vocab = Vocabulary([f"w{i}" for i in range(V)])
    streams = [sample_chain(P, pi, int(n), rng) for n in (n_train, n_valid, n_test)]
    return MarkovCorpus(vocab, *streams, transition=P, stationary=pi, entropy_rate=entropy_rate(P, pi))
