"""Issue 14: data that cannot be right is refused with the library's own errors.

Reproducers of the audit (a fraction as test_size, negative padding, a split emptied by
valid_fraction, UTF-16 and BOM text, a float batch size, a gzip bomb with a wrong magic
number, IDX dimensions whose product overflows int64, negative seeds), and a
property-based test that feeds malformed headers and truncated files to every parser."""

import gzip
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinygrad_ngd import datasets as D
from tinygrad_ngd.datasets import idx as I
from tinygrad_ngd.datasets import mnist_subset as M
from tinygrad_ngd.datasets import polarity as P
from tinygrad_ngd.datasets import ptb as T

OWN_ERRORS = (D.DatasetError, D.DatasetNotFoundError)


# ------------------------------------------------------------------ MNIST subset
def test_mnist_subset_fraction_test_size_is_a_fraction():
    (x, y), (xt, yt) = D.load_mnist_subset(test_size=0.2, dtype="uint8")
    assert (len(x), len(xt)) == (8000, 2000)  # main gave 10,000 / 0
    (_, _), (xc, _) = D.load_mnist_subset(test_size=2000, dtype="uint8")
    np.testing.assert_array_equal(xc, xt)     # the fraction and the count are the same split


@pytest.mark.parametrize("bad,err,match", [
    (1e-5, ValueError, "rounds to an empty test set"),
    (1.5, ValueError, "fraction and must be in"),
    (10000, ValueError, "must leave training examples"),
    (-1, ValueError, "test_size"),
    ("0.2", TypeError, "test_size must be a count"),
    (True, TypeError, "test_size"),
])
def test_mnist_subset_bad_test_size(bad, err, match):
    with pytest.raises(err, match=match):
        D.load_mnist_subset(test_size=bad)


@pytest.mark.parametrize("seed,err", [(-1, ValueError), (1.5, TypeError), ("0", TypeError)])
def test_mnist_subset_bad_seed_names_the_argument(seed, err):
    with pytest.raises(err, match=r"load_mnist_subset: seed must be"):
        D.load_mnist_subset(seed=seed)


# ------------------------------------------------------------------ polarity
POS = ["a fine film", "the best thing this year", "lovely acting", "great fun", "wonderful"]
NEG = ["a dull film", "the worst thing", "bad acting", "no fun at all", "awful"]


def _polarity_dir(tmp_path, pos=POS, neg=NEG, encoding="latin-1", bom=b""):
    d = tmp_path / "rt"
    d.mkdir(exist_ok=True)
    for name, lines in ((P.POS_FILE, pos), (P.NEG_FILE, neg)):
        (d / name).write_bytes(bom + "".join(s + "\n" for s in lines).encode(encoding))
    return d


@pytest.mark.parametrize("kw,err,match", [
    (dict(pad=-1), ValueError, "pad must be >= 0"),
    (dict(pad=1.5), TypeError, "pad must be an integer"),
    (dict(max_len=0), ValueError, "max_len must be >= 1"),
    (dict(min_count=0), ValueError, "min_count"),
    (dict(seed=-1), ValueError, "seed must be >= 0"),
    (dict(valid_fraction=1.0), ValueError, "valid_fraction must be"),
    (dict(valid_fraction="0.1"), ValueError, "valid_fraction must be"),
])
def test_rt_polarity_bad_arguments(tmp_path, kw, err, match):
    d = _polarity_dir(tmp_path)
    with pytest.raises(err, match=match):
        D.load_rt_polarity(d, **kw)


def test_rt_polarity_valid_fraction_that_empties_a_split(tmp_path):
    d = _polarity_dir(tmp_path)
    with pytest.raises(D.DatasetError, match=r"valid_fraction=0\.05 leaves 10 training and 0 validation"):
        D.load_rt_polarity(d, valid_fraction=0.05)  # round(0.05 · 5) = 0 per class
    with pytest.raises(D.DatasetError, match=r"leaves 0 training"):
        D.load_rt_polarity(d, valid_fraction=0.95)
    data = D.load_rt_polarity(d, valid_fraction=0.0)   # asked for no validation split: fine
    assert len(data.y_valid) == 0 and len(data.y_train) == 10
    data = D.load_rt_polarity(d, valid_fraction=0.2)
    assert (len(data.y_train), len(data.y_valid)) == (8, 2)


@pytest.mark.parametrize("encoding,bom", [("utf-16", b""), ("utf-16-le", b"\xff\xfe"),
                                          ("utf-16-be", b"\xfe\xff"), ("utf-8", b"\xef\xbb\xbf")])
def test_rt_polarity_with_a_byte_order_mark_reads_the_same_words(tmp_path, encoding, bom):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ref = D.load_rt_polarity(_polarity_dir(tmp_path / "a"), seed=1, valid_fraction=0.2)
    got = D.load_rt_polarity(_polarity_dir(tmp_path / "b", encoding=encoding, bom=bom), seed=1,
                             valid_fraction=0.2)
    assert got.train_tokens == ref.train_tokens and got.valid_tokens == ref.valid_tokens
    assert got.vocab == ref.vocab
    assert max(len(w) for t in got.train_tokens for w in t) > 1  # words, not single letters


def test_rt_polarity_utf16_without_bom_is_refused(tmp_path):
    d = _polarity_dir(tmp_path, encoding="utf-16-le")
    with pytest.raises(D.DatasetError, match=r"rt-polarity\.(pos|neg): contains NUL bytes .*UTF-16"):
        D.load_rt_polarity(d)


# ------------------------------------------------------------------ PTB
def test_ptb_utf8_bom_is_not_part_of_the_first_word(tmp_path):
    d = tmp_path / "ptb"
    d.mkdir()
    for name in ("train", "valid", "test"):
        (d / f"ptb.{name}.txt").write_bytes(b"\xef\xbb\xbf the cat\n the dog\n")
    c = D.load_ptb(d)
    assert "\ufeff" not in "".join(c.vocab.itos) and c.vocab.decode(c.train)[0] == "the"
    (d / "ptb.train.txt").write_bytes("the cat\n".encode("utf-16-le"))
    with pytest.raises(D.DatasetError, match=r"ptb\.train\.txt: contains NUL bytes"):
        D.load_ptb(d)


@pytest.mark.parametrize("bad,err", [(2.5, TypeError), ("2", TypeError), (True, TypeError), (0, ValueError)])
def test_batchify_and_bptt_refuse_non_integers(bad, err):
    with pytest.raises(err, match="batchify: batch_size"):
        D.batchify(np.arange(10), bad)
    with pytest.raises(err, match="bptt_windows: bptt"):
        list(D.bptt_windows(np.zeros((5, 2)), bad))


# ------------------------------------------------------------------ DataLoader
@pytest.mark.parametrize("bad", [2.7, 2.0, "2", True, 0, -1, None])
def test_dataloader_batch_size_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match=r"DataLoader: batch_size must be a positive integer"):
        D.DataLoader(np.zeros((5, 2)), batch_size=bad)
    assert len(D.DataLoader(np.zeros((5, 2)), batch_size=np.int64(2))) == 3


# ------------------------------------------------------------------ IDX: gzip bomb, int64 overflow
def test_gzipped_idx_with_a_wrong_magic_is_refused_before_decompressing(tmp_path):
    p = tmp_path / "train-images-idx3-ubyte.gz"
    payload = b"\x12\x34\x56\x78" + bytes(64 << 20)  # 64 MB of zeros: ~64 KB gzipped
    p.write_bytes(gzip.compress(payload, compresslevel=9))
    del payload
    assert p.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(D.DatasetError, match=r"train-images-idx3-ubyte\.gz: wrong magic number 0x12345678"):
            I.read_idx(p, expect_magic=I.IMAGES_MAGIC)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"peak {peak / 1e6:.1f} MB while refusing a bad magic number"


def test_gzipped_idx_reads_no_more_than_its_header_says(tmp_path):
    p = tmp_path / "labels.gz"
    p.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + bytes(3) + bytes(32 << 20)))
    tracemalloc.start()
    try:
        with pytest.raises(D.DatasetError, match=r"labels\.gz: the decompressed content is longer than the 11 bytes .*trailing bytes"):
            I.read_idx(p)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


@pytest.mark.parametrize("gz", [False, True])
def test_idx_dimensions_whose_product_overflows_int64_name_the_file(tmp_path, gz):
    # 65536⁴ = 2⁶⁴ wraps to 0 in int64: main's size check passed on a header-only file
    p = tmp_path / "overflow.idx"
    data = b"\x00\x00\x08\x04" + (65536).to_bytes(4, "big") * 4
    p.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(D.DatasetError, match=r"overflow\.idx: .*needs 18446744073709551636 bytes: truncated"):
        I.read_idx(p)
    with pytest.raises(D.DatasetError, match=r"mem: file size 20 bytes .*truncated"):
        I.parse_idx(data, name="mem")


# ------------------------------------------------------------------ every parser, malformed input
def _idx_file(shape, magic=b"\x00\x00\x08"):
    return magic + bytes([len(shape)]) + b"".join(int(s).to_bytes(4, "big") for s in shape) + bytes(int(np.prod(shape)))


def _valid_files():
    """name -> (bytes of a valid small file of that kind)."""
    cifar10 = bytes([3]) + bytes(3072)
    cifar100 = bytes([3, 40]) + bytes(3072)
    return {
        "idx_images": _idx_file((2, 28, 28)),
        "idx_labels": _idx_file((2,)),
        "cifar10": cifar10 * 2,
        "cifar100": cifar100 * 2,
        "ptb": b" the cat <unk>\n a dog\n",
        "polarity": b"a fine film\nthe best\ngreat fun\n",
        "npz": M.MNIST_SUBSET_PATH.read_bytes()[:4096],
    }


DIMS = st.sampled_from([0, 1, 3, 28, 65536, 65536, 65536, 2**31, 2**32 - 1])


@st.composite
def _mutated(draw, valid: bytes, idx=False):
    kinds = ["truncate", "header", "random", "append", "same"] + (["idx_dims"] if idx else [])
    kind = draw(st.sampled_from(kinds))
    data = bytearray(valid)
    if kind == "idx_dims":  # a well-formed magic with arbitrary (possibly overflowing) dimensions
        dims = draw(st.lists(DIMS, min_size=1, max_size=4))
        data = bytearray(bytes([0, 0, draw(st.sampled_from([8, 9, 11, 12, 13, 14])), len(dims)])
                         + b"".join(d.to_bytes(4, "big") for d in dims)
                         + draw(st.one_of(st.just(b""), st.binary(max_size=16))))
    elif kind == "truncate":
        data = data[:draw(st.integers(0, max(len(data) - 1, 0)))]
    elif kind == "header":
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, min(len(data), 32) - 1))
            data[i] = draw(st.integers(0, 255))
    elif kind == "random":
        data = bytearray(draw(st.binary(min_size=0, max_size=64)))
    elif kind == "append":
        data += draw(st.binary(min_size=1, max_size=16))
    if draw(st.booleans()):
        data = bytearray(gzip.compress(bytes(data)))
        if draw(st.booleans()) and len(data) > 2:  # a truncated or corrupt gzip stream
            data = data[:draw(st.integers(2, len(data) - 1))]
    return bytes(data)


def _write(d: Path, files: dict):
    d.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (d / name).write_bytes(data)
    return d


def _parsers(tmp: Path, kind: str, data: bytes):
    """Each call that reads `data` as a file of `kind` (directly and through its loader)."""
    v = _valid_files()
    if kind in ("idx_images", "idx_labels"):
        f = {"train-images-idx3-ubyte": v["idx_images"], "train-labels-idx1-ubyte": v["idx_labels"],
             "t10k-images-idx3-ubyte": v["idx_images"], "t10k-labels-idx1-ubyte": v["idx_labels"]}
        f["train-images-idx3-ubyte" if kind == "idx_images" else "t10k-labels-idx1-ubyte"] = data
        d = _write(tmp / "mnist", f)
        return [lambda: I.parse_idx(data, name="x"), lambda: I.read_idx(d / "train-images-idx3-ubyte"),
                lambda: D.load_mnist(d), lambda: D.load_fashion_mnist(d)]
    if kind == "cifar10":
        f = {n: v["cifar10"] for n in D.cifar.CIFAR10_TRAIN_FILES + (D.cifar.CIFAR10_TEST_FILE,)}
        f["data_batch_2.bin"] = data
        d = _write(tmp / "c10", f)
        return [lambda: D.parse_cifar_binary(data, 1, (10,), name="x"), lambda: D.load_cifar10(d)]
    if kind == "cifar100":
        d = _write(tmp / "c100", {"train.bin": v["cifar100"], "test.bin": data})
        return [lambda: D.parse_cifar_binary(data, 2, (20, 100), name="x"), lambda: D.load_cifar100(d)]
    if kind == "ptb":
        d = _write(tmp / "ptb", {"ptb.train.txt": data, "ptb.valid.txt": v["ptb"], "ptb.test.txt": data})
        return [lambda: T.read_lines(d / "ptb.train.txt"), lambda: D.load_ptb(d)]
    if kind == "polarity":
        d = _write(tmp / "rt", {P.POS_FILE: data, P.NEG_FILE: v["polarity"]})
        return [lambda: P.read_snippets(d / P.POS_FILE), lambda: D.load_rt_polarity(d, valid_fraction=0.0),
                lambda: D.load_rt_polarity(d, valid_fraction=0.34)]
    if kind == "npz":
        p = _write(tmp, {"subset.npz": data}) / "subset.npz"
        return [lambda: D.load_mnist_subset(path=p)]
    raise AssertionError(kind)


KINDS = list(_valid_files())


@pytest.mark.parametrize("kind", KINDS)
def test_every_parser_accepts_its_valid_file(tmp_path, kind):
    if kind == "npz":  # the shipped subset is the only .npz whose SHA-256 matches
        (x, _), _ = D.load_mnist_subset(path=M.MNIST_SUBSET_PATH, dtype="uint8")
        assert x.shape == (8000, 28, 28)
        return
    for call in _parsers(tmp_path, kind, _valid_files()[kind]):
        call()


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_parser_raises_only_its_own_errors_on_malformed_files(tmp_path, kind, data):
    bad = data.draw(_mutated(_valid_files()[kind], idx=kind.startswith("idx")), label="file bytes")
    sub = tmp_path / f"case{data.draw(st.integers(0, 10**9), label='dir')}"
    for call in _parsers(sub, kind, bad):
        try:
            call()
        except OWN_ERRORS:
            pass
        # any other exception fails the test: only DatasetError / DatasetNotFoundError may come out


# ------------------------------------------------------------------ seeds everywhere in datasets/
@pytest.mark.parametrize("make", [
    lambda seed: D.DataLoader(np.zeros((4, 2)), 2, shuffle=True, seed=seed),
    lambda seed: D.QuadraticBowl(dim=3, rotation="random", seed=seed),
    lambda seed: D.NoisyQuadratic(dim=3, n_steps=2, seed=seed),
    lambda seed: D.LogisticRegression(n=5, dim=2, seed=seed),
    lambda seed: D.markov_corpus(seed=seed),
])
def test_a_negative_or_non_integer_seed_is_refused_naming_it(make):
    with pytest.raises(ValueError, match=r"seed must be >= 0, got -1"):
        make(-1)
    with pytest.raises(TypeError, match=r"seed must be an integer"):
        make(1.5)
    make(np.random.default_rng(0))  # a Generator is still accepted
