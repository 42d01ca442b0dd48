"""PTB, sentence polarity, the vocabulary, and the Markov-chain corpus."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_ngd import datasets as D

PTB_TRAIN = " the cat sat on the mat \n the dog <unk> \n a cat \n"
PTB_VALID = " the dog sat \n zebra cat \n"
PTB_TEST = " a mat \n"


def _ptb_dir(tmp_path, train=PTB_TRAIN, valid=PTB_VALID, test=PTB_TEST):
    d = tmp_path / "ptb"
    d.mkdir()
    for name, text in (("train", train), ("valid", valid), ("test", test)):
        (d / f"ptb.{name}.txt").write_text(text)
    return d


# ------------------------------------------------------------------ PTB
def test_ptb_streams_are_what_was_written(tmp_path):
    c = D.load_ptb(_ptb_dir(tmp_path))
    assert c.vocab.decode(c.train) == ["the", "cat", "sat", "on", "the", "mat", "<eos>", "the", "dog", "<unk>", "<eos>", "a", "cat", "<eos>"]
    # 'zebra' is not in the training vocabulary -> <unk>
    assert c.vocab.decode(c.valid) == ["the", "dog", "sat", "<eos>", "<unk>", "cat", "<eos>"]
    assert c.vocab.decode(c.test) == ["a", "mat", "<eos>"]
    assert c.train.dtype == np.int64
    # ids by decreasing training count, ties alphabetical: <eos>=3, the=3, cat=2, then count-1 words
    assert c.vocab.itos == ["<eos>", "the", "cat", "<unk>", "a", "dog", "mat", "on", "sat"]


def test_ptb_env_and_plain_names(tmp_path, monkeypatch):
    d = tmp_path / "penn"
    d.mkdir()
    for name, text in (("train", PTB_TRAIN), ("valid", PTB_VALID), ("test", PTB_TEST)):
        (d / f"{name}.txt").write_text(text)
    monkeypatch.setenv("TINYGRAD_NGD_DATA", str(tmp_path))
    c = D.load_ptb()
    assert len(c.test) == 3


def test_ptb_unknown_word_without_unk_is_an_error(tmp_path):
    d = _ptb_dir(tmp_path, train="a b\n", valid="a c\n", test="b\n")
    with pytest.raises(D.DatasetError, match=r"ptb\.valid\.txt:1: word 'c' is not in the training vocabulary"):
        D.load_ptb(d)


def test_ptb_missing(tmp_path):
    d = _ptb_dir(tmp_path)
    (d / "ptb.test.txt").unlink()
    with pytest.raises(D.DatasetNotFoundError, match="holds ptb.train.txt, ptb.valid.txt but not all"):
        D.load_ptb(d)
    with pytest.raises(D.DatasetNotFoundError, match="looked in: .*nowhere.*markov_corpus"):
        D.load_ptb(tmp_path / "nowhere")


def test_ptb_not_utf8(tmp_path):
    d = _ptb_dir(tmp_path)
    (d / "ptb.train.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(D.DatasetError, match=r"ptb\.train\.txt: not UTF-8"):
        D.load_ptb(d)


def test_batchify_columns_are_contiguous_pieces():
    s = np.arange(23)
    b = D.batchify(s, 4)
    assert b.shape == (5, 4)
    for j in range(4):
        np.testing.assert_array_equal(b[:, j], np.arange(5 * j, 5 * j + 5))
    with pytest.raises(ValueError):
        D.batchify(s, 24)


@settings(max_examples=40, deadline=None)
@given(T=st.integers(2, 40), B=st.integers(1, 4), bptt=st.integers(1, 12))
def test_bptt_windows_cover_and_shift(T, B, bptt):
    data = np.arange(T * B).reshape(T, B)
    xs, ys = zip(*D.bptt_windows(data, bptt))
    assert all(1 <= len(x) <= bptt for x in xs)
    np.testing.assert_array_equal(np.concatenate(xs), data[:-1])  # every input position once, in order
    np.testing.assert_array_equal(np.concatenate(ys), data[1:])   # targets: the next token
    assert all(x.shape == y.shape for x, y in zip(xs, ys))


# ------------------------------------------------------------------ polarity
POS = ["the rock is destined to be the 21st century's new \" conan \" and that he's going to make a splash .",
       "simply , it's not a film ( but a feeling ) ! isn't it great ?",
       "a caf\xe9 with a view ; it'll do .",
       "good"]
NEG = ["you'd think they'd've tried harder .", "bad bad BAD", "boring -- and slow", "meh"]


def _polarity_dir(tmp_path, pos=POS, neg=NEG):
    d = tmp_path / "rt-polaritydata"
    d.mkdir()
    (d / "rt-polarity.pos").write_bytes(("\n".join(pos) + "\n").encode("latin-1"))
    (d / "rt-polarity.neg").write_bytes(("\n".join(neg) + "\n").encode("latin-1"))
    return d


def test_clean_str_matches_kim():
    assert D.clean_str(POS[0]) == ("the rock is destined to be the 21st century 's new conan and that he 's "
                                   "going to make a splash")
    # Kim's quirk: '(' ')' '?' come out with a backslash
    assert D.clean_str(POS[1]).split() == ["simply", ",", "it", "'s", "not", "a", "film", "\\(", "but", "a",
                                          "feeling", "\\)", "!", "is", "n't", "it", "great", "\\?"]
    # splitting happens before lower-casing, so upper-case "N'T" is not split (as in Kim's code)
    assert D.clean_str("You'd think they'd've; I'll   WON'T won't") == "you 'd think they 'd 've i 'll won't wo n't"
    assert D.clean_str(POS[2]) == "a caf with a view it 'll do"  # non-ASCII letters become spaces


def test_polarity_tokens_labels_and_padding(tmp_path):
    data = D.load_rt_polarity(_polarity_dir(tmp_path), valid_fraction=0.25, seed=0)
    written = {tuple(D.clean_str(s).split()): 1 for s in POS}
    written.update({tuple(D.clean_str(s).split()): 0 for s in NEG})
    got = list(zip(data.train_tokens, data.y_train)) + list(zip(data.valid_tokens, data.y_valid))
    assert len(got) == 8 and {tuple(t): int(y) for t, y in got} == written
    assert sorted(data.y_valid.tolist()) == [0, 1]  # stratified: one of each class out of 4
    L = max(len(t) for t in written) + 2 * 4
    assert data.x_train.shape == (6, L) and data.x_valid.shape == (2, L)
    v = data.vocab
    assert v.itos[:2] == ["<pad>", "<unk>"]
    for row, toks in zip(data.x_train, data.train_tokens):
        assert np.all(row[:4] == 0) and np.all(row[4 + len(toks):] == 0)
        assert v.decode(row[4:4 + len(toks)]) == toks
    for row, toks in zip(data.x_valid, data.valid_tokens):  # valid words unseen in training -> <unk>
        expect = [t if t in v else "<unk>" for t in toks]
        assert v.decode(row[4:4 + len(toks)]) == expect


def test_polarity_split_deterministic_90_10(tmp_path):
    pos = [f"good movie number {i}" for i in range(50)]
    neg = [f"bad film number {i}" for i in range(50)]
    d = _polarity_dir(tmp_path, pos, neg)
    a = D.load_rt_polarity(d, seed=1)
    b = D.load_rt_polarity(d, seed=1)
    c = D.load_rt_polarity(d, seed=2)
    assert len(a.y_train) == 90 and len(a.y_valid) == 10 and a.y_valid.sum() == 5
    assert np.array_equal(a.x_train, b.x_train) and a.valid_tokens == b.valid_tokens
    assert a.valid_tokens != c.valid_tokens
    assert set(map(tuple, a.valid_tokens)).isdisjoint(map(tuple, a.train_tokens))


def test_polarity_missing_file(tmp_path):
    d = _polarity_dir(tmp_path)
    (d / "rt-polarity.neg").unlink()
    with pytest.raises(D.DatasetNotFoundError, match=r"rt-polaritydata lacks rt-polarity\.neg"):
        D.load_rt_polarity(d)
    with pytest.raises(D.DatasetNotFoundError, match="looked in.*rt-polaritydata.tar.gz"):
        D.load_rt_polarity(tmp_path / "elsewhere")


def test_pad_sequences():
    x = D.pad_sequences([[5, 6, 7], [8]], length=6, left=2)
    np.testing.assert_array_equal(x, [[0, 0, 5, 6, 7, 0], [0, 0, 8, 0, 0, 0]])
    np.testing.assert_array_equal(D.pad_sequences([[1, 2, 3, 4]], length=3, left=1), [[0, 1, 2]])


def test_vocabulary():
    v = D.Vocabulary.build([["b", "a", "b"], ["c", "b", "a"]], specials=("<pad>",), min_count=2)
    assert v.itos == ["<pad>", "b", "a"] and len(v) == 3 and "c" not in v
    assert v.decode(v.encode(["a", "b"])) == ["a", "b"]
    with pytest.raises(KeyError):
        v.encode(["c"])
    with pytest.raises(ValueError, match="more than once"):
        D.Vocabulary(["x", "x"])


# ------------------------------------------------------------------ Markov corpus
def test_markov_chain_is_consistent():
    m = D.markov_corpus(vocab_size=8, n_train=20000, n_valid=100, n_test=100, concentration=1.0, seed=5)
    P, pi = m.transition, m.stationary
    np.testing.assert_allclose(P.sum(1), 1, atol=1e-12)
    assert np.all(P > 0)
    np.testing.assert_allclose(pi @ P, pi, atol=1e-12)
    H = -np.sum(pi[:, None] * P * np.log(P))
    assert m.entropy_rate == pytest.approx(H, rel=1e-12)
    assert 0 < m.entropy_rate < np.log(8)
    # the empirical frequencies and the true model's loss on the sample match the chain
    freq = np.bincount(m.train, minlength=8) / len(m.train)
    np.testing.assert_allclose(freq, pi, atol=0.02)
    assert abs(m.nll(m.train) - m.entropy_rate) < 0.03
    counts = np.zeros((8, 8))
    np.add.at(counts, (m.train[:-1], m.train[1:]), 1)
    seen = counts.sum(1) >= 1000  # rows visited often enough for a tight estimate
    assert seen.sum() >= 4
    np.testing.assert_allclose((counts / counts.sum(1, keepdims=True))[seen], P[seen], atol=0.05)
    assert m.vocab.decode([0, 7]) == ["w0", "w7"]


def test_markov_deterministic_and_floor_is_a_floor():
    a = D.markov_corpus(vocab_size=20, n_train=3000, seed=1)
    b = D.markov_corpus(vocab_size=20, n_train=3000, seed=1)
    assert np.array_equal(a.train, b.train) and np.array_equal(a.valid, b.valid)
    assert not np.array_equal(a.train, D.markov_corpus(vocab_size=20, n_train=3000, seed=2).train)
    # a model that ignores the previous word (unigram π) pays the marginal entropy, >= H
    marginal = -np.sum(a.stationary * np.log(a.stationary))
    assert marginal > a.entropy_rate
    # lower concentration -> peakier rows -> lower entropy rate
    assert D.markov_corpus(vocab_size=20, n_train=10, concentration=0.02, seed=1).entropy_rate < a.entropy_rate


def test_entropy_rate_known_chain():
    # a deterministic cycle has zero entropy rate; an i.i.d. uniform chain has log V
    cyc = np.roll(np.eye(4), 1, axis=1)
    assert D.entropy_rate(cyc) == 0.0
    np.testing.assert_allclose(D.stationary_distribution(cyc), 0.25)
    assert D.entropy_rate(np.full((5, 5), 0.2)) == pytest.approx(np.log(5))
