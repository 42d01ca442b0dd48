"""Checkpoints: exact round trip, bit-for-bit resume in a new process, atomic writes, and
damaged or mismatching files rejected before anything is changed."""

import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd import optimizers as O
from tinygrad_ngd.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from tinygrad_ngd.training import train_step

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_setup(seed=0):
    tg.manual_seed(seed)
    model = L.Sequential(L.Dense(4, 6), L.Tanh(), L.Dropout(0.2), L.Dense(6, 3))
    params = tg.FlatParameters(model)
    opt = O.SGD(params, lr=0.1, momentum=0.9)
    return model, params, opt


def run_steps(model, opt, n, data=None):
    rng = np.random.default_rng(7) if data is None else None
    x = rng.standard_normal((32, 4)).astype(np.float32) if data is None else data[0]
    y = rng.integers(0, 3, 32) if data is None else data[1]
    for _ in range(n):
        idx = B.host_rng().choice(32, size=8, replace=False)  # batches drawn from the host RNG
        train_step(model, opt, F.cross_entropy, tg.Tensor(x[idx]), y[idx])


def snapshot(model, opt):
    return ({k: v.copy() for k, v in model.state_dict().items()},
            {k: v.copy() for k, v in opt.state.items()}, opt.step_count, B.get_rng_state())


def assert_same(a, b):
    for k in a[0]:
        np.testing.assert_array_equal(a[0][k], b[0][k])
    assert a[1].keys() == b[1].keys()
    for k in a[1]:
        np.testing.assert_array_equal(a[1][k], b[1][k])
    assert a[2:] == b[2:]


def test_round_trip_restores_model_optimizer_rng_and_step(tmp_path):
    model, params, opt = make_setup()
    run_steps(model, opt, 5)
    path = tmp_path / "ck.npz"
    save_checkpoint(path, model, opt, extra={"losses": [1.5, 0.25], "note": "x"})
    saved = snapshot(model, opt)
    run_steps(model, opt, 3)  # move everything on
    info = load_checkpoint(path, model, opt)
    assert info == {"step": 5, "extra": {"losses": [1.5, 0.25], "note": "x"}}
    assert_same(snapshot(model, opt), saved)
    assert opt.hyper == {**opt.hyper, "lr": 0.1, "momentum": 0.9}
    for p in model.parameters():  # still views of the flat vector
        assert np.shares_memory(p.data, params.data)
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path))
    with zipfile.ZipFile(path) as z:  # plain .npy members, nothing pickled
        assert all(n.endswith(".npy") for n in z.namelist())


def test_numpy_scalars_and_tuples_keep_their_types(tmp_path):
    model, _, opt = make_setup()
    opt.scalars["gamma"] = np.float64(0.5)
    opt.scalars["pair"] = (1, 2.5)
    save_checkpoint(tmp_path / "c.npz", model, opt)
    opt.scalars.clear()
    load_checkpoint(tmp_path / "c.npz", model, opt)
    assert type(opt.scalars["gamma"]) is np.float64 and opt.scalars["gamma"] == 0.5
    assert opt.scalars["pair"] == (1, 2.5)


RESUME_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    import numpy as np
    import tinygrad_ngd as tg
    from tinygrad_ngd import backend as B, functional as F, layers as L, optimizers as O
    from tinygrad_ngd.checkpoint import save_checkpoint, load_checkpoint
    from tinygrad_ngd.training import train_step

    mode, ckpt, out = sys.argv[1], sys.argv[2], sys.argv[3]
    data_rng = np.random.default_rng(123)
    x = data_rng.standard_normal((64, 5)).astype(np.float32)
    y = data_rng.integers(0, 4, 64)
    # a different init seed when resuming: everything must come from the checkpoint
    tg.manual_seed(0 if mode in ("full", "first") else 99)
    model = L.Sequential(L.Dense(5, 16), L.Sigmoid(), L.Dropout(0.3), L.Dense(16, 4))
    params = tg.FlatParameters(model)
    opt = O.SGD(params, lr=0.05, momentum=0.9)
    start, stop = 0, 100
    if mode == "first":
        stop = 50
    elif mode.startswith("resume"):
        start = load_checkpoint(ckpt, model, opt, restore_rng=(mode == "resume"))["step"]
    for step in range(start, stop):
        idx = B.host_rng().choice(64, size=16, replace=False)
        train_step(model, opt, F.cross_entropy, tg.Tensor(x[idx]), y[idx])
    if mode == "first":
        save_checkpoint(ckpt, model, opt, step=stop)
    np.save(out, B.to_numpy(params.data))
""")


def test_resume_at_step_50_of_100_in_a_new_process_is_bit_for_bit(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(RESUME_SCRIPT.format(repo=REPO))
    ckpt = str(tmp_path / "step50.npz")

    def run(mode):
        out = str(tmp_path / f"{mode}.npy")
        subprocess.run([sys.executable, str(script), mode, ckpt, out], check=True, timeout=120,
                       capture_output=True)
        return np.load(out)

    full = run("full")
    half = run("first")
    resumed = run("resume")
    assert not np.array_equal(half, full)  # the second half of training did something
    assert resumed.tobytes() == full.tobytes()  # bit for bit
    # the RNG state matters: without it the dropout masks and batches differ
    assert not np.array_equal(run("resume_no_rng"), full)


def test_truncated_or_corrupted_checkpoint_raises_and_leaves_model_untouched(tmp_path):
    model, _, opt = make_setup()
    good = tmp_path / "good.npz"
    save_checkpoint(good, model, opt)
    raw = good.read_bytes()
    run_steps(model, opt, 2)
    before = snapshot(model, opt)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(raw[: len(raw) // 2])
    corrupted = tmp_path / "corrupted.npz"
    with zipfile.ZipFile(good) as z:  # flip bytes inside the data of one array member
        info = z.getinfo("model/0.weight.npy")
    data_start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 140
    flipped = bytearray(raw)
    for i in range(data_start, data_start + 16):
        flipped[i] ^= 0xFF
    corrupted.write_bytes(bytes(flipped))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    for path in (truncated, corrupted, garbage):
        with pytest.raises(CheckpointError, match=f"checkpoint '{path}'"):
            load_checkpoint(path, model, opt)
        assert_same(snapshot(model, opt), before)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_checkpoint(tmp_path / "missing.npz", model, opt)


def test_foreign_npz_files_are_rejected(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a tinygrad_ngd checkpoint"):
        read_checkpoint(plain)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, __meta__=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(CheckpointError, match="cannot be read"):  # allow_pickle=False refuses
        read_checkpoint(pickled)


def test_mismatching_model_or_optimizer_changes_nothing(tmp_path):
    model, params, opt = make_setup()
    run_steps(model, opt, 2)
    path = tmp_path / "ck.npz"
    save_checkpoint(path, model, opt)
    tg.manual_seed(5)
    other = L.Sequential(L.Dense(4, 7), L.Tanh(), L.Dropout(0.2), L.Dense(7, 3))
    other_params = tg.FlatParameters(other)
    other_opt = O.SGD(other_params, lr=0.1, momentum=0.9)
    before = snapshot(other, other_opt)
    with pytest.raises(CheckpointError, match=r"does not fit the model.*'0.weight': expected shape \(7, 4\), found \(6, 4\)"):
        load_checkpoint(path, other, other_opt)
    assert_same(snapshot(other, other_opt), before)
    wrong_kind = O.NGD(params, lr=0.1) if hasattr(O, "NGD") else None
    if wrong_kind is not None:
        model_before = snapshot(model, opt)
        with pytest.raises(CheckpointError, match="holds SGD state"):
            load_checkpoint(path, model, wrong_kind)
        assert_same(snapshot(model, opt), model_before)
    bare = tmp_path / "bare.npz"
    save_checkpoint(bare, model)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(bare, model, opt)
    assert load_checkpoint(bare, model)["step"] == 0


def test_failed_save_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    model, _, opt = make_setup()
    path = tmp_path / "ck.npz"
    save_checkpoint(path, model, opt, step=1)
    original = path.read_bytes()

    def broken_save(file, arrays):
        file.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(B, "save_npz", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, opt, step=2)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["ck.npz"]
    with pytest.raises(TypeError, match="JSON"):
        save_checkpoint(path, model, opt, extra={"f": object()})
    with pytest.raises(ValueError, match="step must be"):
        save_checkpoint(path, model, opt, step=-1)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_checkpoint(tmp_path / "nodir" / "ck.npz", model, opt)
    assert read_checkpoint(path)["step"] == 1
