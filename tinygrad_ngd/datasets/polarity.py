"""Sentence polarity (Pang & Lee 2005, "rt-polarity": 5,331 positive + 5,331 negative
movie-review snippets), the sentiment task of [Yu et al. 2017, §4.5] (Kim's 2014 one-layer CNN).

* Tokenization: Kim's ``clean_str`` from ``CNN_sentence/process_data.py``, verbatim —
  including its quirk that ``(``, ``)`` and ``?`` become the tokens ``\\(``, ``\\)``,
  ``\\?`` (the backslash of the replacement string survives ``re.sub``).  Files are
  read as Latin-1 (the original's encoding), one snippet per ``\\n``-terminated line.
* Split: [Yu et al. 2017, §4.5] "randomly select around 90% for training and 10% for
  validation" — made deterministic and stratified: a seeded permutation of each class
  sends ``round(valid_fraction · n_class)`` snippets to validation.
* Vocabulary from the training split: ``<pad>`` = 0, ``<unk>`` = 1, then words by
  decreasing count.
* Padding as Kim's ``get_idx_from_sent``: ``pad`` zeros (filter height − 1 = 4 for
  his widest filter, 5) before each sentence, zeros after it up to
  ``max_len + 2·pad``, so every word is seen at every filter position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._common import DatasetError, DatasetNotFoundError, candidate_dirs, check_int, check_seed, decode_text
from .vocab import Vocabulary

PAD, UNK = "<pad>", "<unk>"
POS_FILE, NEG_FILE = "rt-polarity.pos", "rt-polarity.neg"


def clean_str(string: str) -> str:
    """Kim (2014) tokenization/cleaning, as in his process_data.py (lower-cased).

    His replacement strings are ordinary literals: ``" \\'s"`` is ``" 's"`` (Python drops
    the backslash), while ``" \\( "`` keeps it and ``re.sub`` passes it through."""
    string = re.sub(r"[^A-Za-z0-9(),!?\'\`]", " ", string)
    string = re.sub(r"\'s", " 's", string)
    string = re.sub(r"\'ve", " 've", string)
    string = re.sub(r"n\'t", " n't", string)
    string = re.sub(r"\'re", " 're", string)
    string = re.sub(r"\'d", " 'd", string)
    string = re.sub(r"\'ll", " 'll", string)
    string = re.sub(r",", " , ", string)
    string = re.sub(r"!", " ! ", string)
    string = re.sub(r"\(", r" \( ", string)
    string = re.sub(r"\)", r" \) ", string)
    string = re.sub(r"\?", r" \? ", string)
    string = re.sub(r"\s{2,}", " ", string)
    return string.strip().lower()


def tokenize(line: str) -> list[str]:
    return clean_str(line.strip()).split()


def read_snippets(path) -> list[str]:
    """The lines of an rt-polarity file (Latin-1, ``\\n``-separated; a final newline ends the last).

    A byte-order mark selects UTF-8/16/32 instead (and is dropped); NUL bytes without one
    (UTF-16 without a mark) are refused rather than read as letters between NULs."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: no such file")
    text = decode_text(path.read_bytes(), path, "latin-1", "one review snippet per line")
    if not text.strip():
        raise DatasetError(f"{path}: empty file; expected one review snippet per line")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def pad_sequences(seqs, length: int, left: int = 0, pad_id: int = 0) -> np.ndarray:
    """``(n, length)`` int64: ``left`` pads, the ids, then pads; ids past ``length`` are cut."""
    check_int("pad_sequences", "length", length, 0)
    check_int("pad_sequences", "left", left, 0)
    out = np.full((len(seqs), length), pad_id, dtype=np.int64)
    for i, s in enumerate(seqs):
        s = np.asarray(s, dtype=np.int64)[: max(length - left, 0)]
        out[i, left:left + len(s)] = s
    return out


@dataclass
class PolarityData:
    vocab: Vocabulary
    x_train: np.ndarray          # (n_train, max_len + 2*pad) int64 word ids, 0 = <pad>
    y_train: np.ndarray          # (n_train,) int64, 1 = positive, 0 = negative
    x_valid: np.ndarray
    y_valid: np.ndarray
    train_tokens: list = field(repr=False)   # the tokens of each training snippet, same order
    valid_tokens: list = field(repr=False)


def _find_dir(path):
    if path is not None:
        base = Path(path).expanduser()
        dirs = [base, base / "rt-polaritydata"]
    else:
        dirs = candidate_dirs(("rt-polaritydata", "rt-polarity", "polarity"))
    for d in dirs:
        if (d / POS_FILE).is_file() and (d / NEG_FILE).is_file():
            return d
        if (d / POS_FILE).is_file() or (d / NEG_FILE).is_file():
            missing = NEG_FILE if (d / POS_FILE).is_file() else POS_FILE
            raise DatasetNotFoundError(f"sentence polarity: {d} lacks {missing}")
    looked = ", ".join(str(d) for d in dirs) or "(nowhere: no path given and $TINYGRAD_NGD_DATA is unset)"
    raise DatasetNotFoundError(
        f"sentence polarity ({POS_FILE}, {NEG_FILE}) not found; looked in: {looked}. Get "
        "rt-polaritydata.tar.gz (sentence polarity dataset v1.0, "
        "https://www.cs.cornell.edu/people/pabo/movie-review-data/), unpack it and pass the "
        "directory as path=, or unpack it under $TINYGRAD_NGD_DATA.")


def load_rt_polarity(path=None, valid_fraction: float = 0.1, seed: int = 0, pad: int = 4,
                     max_len: int | None = None, min_count: int = 1) -> PolarityData:
    """rt-polarity as padded id matrices with a deterministic stratified train/valid split.

    ``path``: the directory holding ``rt-polarity.pos`` and ``rt-polarity.neg`` (or its
    parent); default ``$TINYGRAD_NGD_DATA/rt-polaritydata``.  ``max_len`` defaults to
    the longest snippet (nothing is cut); rows have ``max_len + 2·pad`` entries.
    """
    where = "load_rt_polarity"
    if isinstance(valid_fraction, bool) or not isinstance(valid_fraction, (int, float, np.floating)) \
            or not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"{where}: valid_fraction must be a number in [0, 1), got {valid_fraction!r}")
    seed = check_seed(where, seed)
    pad = check_int(where, "pad", pad, 0)
    min_count = check_int(where, "min_count", min_count, 1)
    if max_len is not None:
        max_len = check_int(where, "max_len", max_len, 1)
    d = _find_dir(path)
    rng = np.random.default_rng(seed)
    train, valid = [], []
    for label, name in ((1, POS_FILE), (0, NEG_FILE)):
        toks = [tokenize(s) for s in read_snippets(d / name)]
        perm = rng.permutation(len(toks))
        k = round(valid_fraction * len(toks))
        valid += [(toks[i], label) for i in perm[:k]]
        train += [(toks[i], label) for i in perm[k:]]
    if not train or (valid_fraction > 0 and not valid):
        raise DatasetError(f"{where}: valid_fraction={valid_fraction} leaves {len(train)} training and "
                         f"{len(valid)} validation snippets (of {len(train) + len(valid)} in {d}); "
                         "both splits must be non-empty (valid_fraction=0 asks for no validation split)")
    train = [train[i] for i in rng.permutation(len(train))]
    valid = [valid[i] for i in rng.permutation(len(valid))]
    vocab = Vocabulary.build((t for t, _ in train), specials=(PAD, UNK), min_count=min_count, unk=UNK)
    if max_len is None:
        max_len = max(len(t) for t, _ in train + valid)
    length = max_len + 2 * pad

    def arrays(pairs):
        x = pad_sequences([vocab.encode(t) for t, _ in pairs], length, left=pad, pad_id=vocab[PAD])
        return x, np.array([y for _, y in pairs], dtype=np.int64)

    x_tr, y_tr = arrays(train)
    x_va, y_va = arrays(valid)
    return PolarityData(vocab, x_tr, y_tr, x_va, y_va, [t for t, _ in train], [t for t, _ in valid])
