"""Penn Treebank, word level (Mikolov's preprocessed ``ptb.{train,valid,test}.txt``).

[Yu et al. 2017, §4.4] trains a 2-layer LSTM language model on it (929k/73k/82k words,
vocabulary ~10k, batch 100, BPTT 40/400/1000).  Processing as in Zaremba et al.
(2014) and PyTorch's word_language_model: every line's whitespace-separated words
followed by ``<eos>``; the vocabulary is built from the training file (ids by
decreasing frequency, ties alphabetical); each file becomes one int64 stream.
:func:`batchify` cuts a stream into ``B`` contiguous columns, ``(T, B)``, and
:func:`bptt_windows` walks it in truncated-BPTT windows (inputs, next-word targets).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._common import DatasetError, DatasetNotFoundError, candidate_dirs, check_int, decode_text
from .vocab import Vocabulary

EOS = "<eos>"
UNK = "<unk>"
PTB_FILES = {"train": ("ptb.train.txt", "train.txt"),
             "valid": ("ptb.valid.txt", "valid.txt"),
             "test": ("ptb.test.txt", "test.txt")}


@dataclass
class TextCorpus:
    """A vocabulary and three int64 token streams."""
    vocab: Vocabulary
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def read_lines(path) -> list[list[str]]:
    """Each line's words plus ``<eos>``; the file must be UTF-8 (PTB is ASCII).  A byte-order
    mark is dropped (UTF-16/32 with a mark is decoded as such); NUL bytes are refused."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: no such file")
    text = decode_text(path.read_bytes(), path, "utf-8", "PTB word-level text")
    return [line.split() + [EOS] for line in text.splitlines()]


def _encode_file(vocab: Vocabulary, lines, path) -> np.ndarray:
    flat = [w for line in lines for w in line]
    if vocab.unk is None:
        for lineno, line in enumerate(lines, 1):
            for w in line:
                if w not in vocab:
                    raise DatasetError(f"{path}:{lineno}: word {w!r} is not in the training vocabulary "
                                       f"and the vocabulary has no {UNK!r} token")
    return vocab.encode(flat)


def _find_files(path):
    if path is not None:
        dirs = [Path(path).expanduser()]
    else:
        dirs = candidate_dirs(("ptb", "penn", "PTB", "simple-examples/data"))
    for d in dirs:
        for k in range(2):  # ptb.*.txt names, then the plain train/valid/test.txt names
            files = {split: d / names[k] for split, names in PTB_FILES.items()}
            if all(p.is_file() for p in files.values()):
                return files
        present = [d / n for names in PTB_FILES.values() for n in names if (d / n).is_file()]
        if present:
            raise DatasetNotFoundError(f"PTB: {d} holds {', '.join(p.name for p in present)} but not all of "
                                       "ptb.train.txt, ptb.valid.txt, ptb.test.txt")
    looked = ", ".join(str(d) for d in dirs) or "(nowhere: no path given and $TINYGRAD_NGD_DATA is unset)"
    raise DatasetNotFoundError(
        f"PTB not found; looked in: {looked}. Get ptb.train.txt, ptb.valid.txt and ptb.test.txt "
        "(data/ of Mikolov's simple-examples.tgz, http://www.fit.vutbr.cz/~imikolov/rnnlm/) and pass "
        "their directory as path=, or put them in $TINYGRAD_NGD_DATA/ptb/. Without PTB, "
        "tinygrad_ngd.datasets.markov_corpus() is a text corpus with a known entropy floor.")


def load_ptb(path=None) -> TextCorpus:
    """PTB word-level as a :class:`TextCorpus` (vocab, train, valid, test int64 streams).

    ``path`` is the directory holding ``ptb.train.txt``, ``ptb.valid.txt``,
    ``ptb.test.txt`` (or ``train.txt``/``valid.txt``/``test.txt``); default
    ``$TINYGRAD_NGD_DATA/ptb``.  Words of valid/test missing from the training
    vocabulary map to ``<unk>`` when the training text has it (PTB does), else raise.
    """
    files = _find_files(path)
    lines = {split: read_lines(p) for split, p in files.items()}
    train_tokens = [w for line in lines["train"] for w in line]
    if not train_tokens:
        raise DatasetError(f"{files['train']}: empty training file")
    has_unk = UNK in set(train_tokens)
    vocab = Vocabulary.build([train_tokens], unk=UNK if has_unk else None)
    streams = {split: _encode_file(vocab, lines[split], files[split]) for split in files}
    return TextCorpus(vocab, streams["train"], streams["valid"], streams["test"])


def batchify(stream, batch_size: int) -> np.ndarray:
    """``(T, B)`` array whose column ``b`` is the ``b``-th of ``B`` contiguous pieces of
    ``stream`` (the tail that does not fill a row is dropped), as in PyTorch's example."""
    stream = np.asarray(stream)
    if stream.ndim != 1:
        raise ValueError(f"batchify: expected a 1-D token stream, got shape {stream.shape}")
    batch_size = check_int("batchify", "batch_size", batch_size)
    if batch_size < 1 or len(stream) < batch_size:
        raise ValueError(f"batchify: batch_size must be in [1, {len(stream)}], got {batch_size}")
    T = len(stream) // batch_size
    return np.ascontiguousarray(stream[: T * batch_size].reshape(batch_size, T).T)


def bptt_windows(data, bptt: int):
    """Yield ``(x, y)`` windows over the time axis of a ``(T, B)`` array: ``x = data[i:i+L]``,
    ``y = data[i+1:i+1+L]`` (the next words), ``L = min(bptt, T-1-i)``, ``i = 0, bptt, ...``.
    Every position but the last is an input exactly once."""
    data = np.asarray(data)
    bptt = check_int("bptt_windows", "bptt", bptt)
    if bptt < 1:
        raise ValueError(f"bptt_windows: bptt must be >= 1, got {bptt}")
    T = data.shape[0]
    for i in range(0, T - 1, bptt):
        L = min(bptt, T - 1 - i)
        yield data[i:i + L], data[i + 1:i + 1 + L]
