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
        np.testing.assert_array_equal(B.to_numpy(a[0][k]), B.to_numpy(b[0][k]))
    assert a[1].keys() == b[1].keys()
    for k in a[1]:
        np.testing.assert_array_equal(B.to_numpy(a[1][k]), B.to_numpy(b[1][k]))
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


# ---------------------------------------------------------------- issue 14: refuse what cannot be used
def model_snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_model_is(model, snap):
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(B.to_numpy(v), B.to_numpy(snap[k]))


def wrapped_setup(make_base, seed=0, **wrapper):
    tg.manual_seed(seed)
    model = L.Sequential(L.Dense(4, 6), L.Tanh(), L.Dense(6, 3))
    params = tg.FlatParameters(model)
    return model, params, O.BlockNormalized(make_base(params), **wrapper)


def test_block_normalized_adam_checkpoint_is_refused_by_block_normalized_sgd(tmp_path):
    """On main the model was overwritten, then the next step failed with KeyError 'form'."""
    model, _, opt = wrapped_setup(lambda p: O.Adam(p, lr=0.01))
    run_steps(model, opt, 3)
    save_checkpoint(tmp_path / "adam.npz", model, opt)
    model2, _, opt2 = wrapped_setup(lambda p: O.SGD(p, lr=0.1, momentum=0.9), seed=1)
    run_steps(model2, opt2, 2)
    snap, opt_before, rng_before = model_snapshot(model2), opt2.state_dict(), B.get_rng_state()
    with pytest.raises(CheckpointError, match="adam.npz.*saved by Adam, not by SGD"):
        load_checkpoint(tmp_path / "adam.npz", model2, opt2)
    assert_model_is(model2, snap)
    assert opt2.state_dict()["base"]["hyper"] == opt_before["base"]["hyper"]
    np.testing.assert_array_equal(B.to_numpy(opt2.state["momentum_buffer"]), B.to_numpy(opt_before["base"]["state"]["momentum_buffer"]))
    assert B.get_rng_state() == rng_before
    run_steps(model2, opt2, 1)                     # still steps


def test_ngd_global_checkpoint_is_refused_by_ngd_block(tmp_path):
    tg.manual_seed(0)
    model = L.Sequential(L.Dense(4, 6), L.Tanh(), L.Dense(6, 3))
    opt = O.NGD(tg.FlatParameters(model), lr=0.1, scope="global")
    run_steps(model, opt, 2)
    save_checkpoint(tmp_path / "g.npz", model, opt)
    opt_block = O.NGD(opt.params, lr=0.1, scope="block")
    snap = model_snapshot(model)
    with pytest.raises(CheckpointError, match="'scope' is 'global' in the state but 'block'"):
        load_checkpoint(tmp_path / "g.npz", model, opt_block)
    assert opt_block.hyper["scope"] == "block" and opt_block.step_count == 0
    assert_model_is(model, snap)


def test_checkpoint_with_a_nan_learning_rate_is_refused(tmp_path):
    model, params, opt = make_setup()
    run_steps(model, opt, 2)
    opt.hyper["lr"] = float("nan")                 # a crafted / corrupted state
    save_checkpoint(tmp_path / "nan.npz", model, opt)
    model2, _, opt2 = make_setup(seed=3)
    snap = model_snapshot(model2)
    with pytest.raises(CheckpointError, match="'lr' must be a finite number, got nan"):
        load_checkpoint(tmp_path / "nan.npz", model2, opt2)
    assert_model_is(model2, snap) and opt2.lr == 0.1


@pytest.mark.parametrize("content", [b"step,loss\n1,0.5\n", b"\x89PNG\r\n\x1a\n" + bytes(40), b""],
                         ids=["text", "png", "empty"])
def test_a_file_that_is_not_a_checkpoint_says_so(tmp_path, content):
    path = tmp_path / "run.npz"
    path.write_bytes(content)
    model, _, opt = make_setup()
    with pytest.raises(CheckpointError, match=r"run.npz' is not a tinygrad_ngd checkpoint \(\.npz\)") as info:
        load_checkpoint(path, model, opt)
    assert "pickle" not in str(info.value)


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {repo!r})
    import tinygrad_ngd as tg
    from tinygrad_ngd import backend as B, layers as L
    from tinygrad_ngd.checkpoint import save_checkpoint

    def dying_save(f, arrays):
        f.write(b"PK" + bytes(1000))
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)      # killed mid-save

    B.save_npz = dying_save
    save_checkpoint(sys.argv[1], L.Dense(3, 2))
""")


def test_temporary_files_of_killed_saves_are_cleaned_by_the_next_save(tmp_path):
    target = tmp_path / "ck.npz"
    model, _, opt = make_setup()
    save_checkpoint(target, model, opt)
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT.format(repo=REPO))
    for _ in range(3):               # each killed save first removes the one killed before it
        proc = subprocess.run([sys.executable, str(script), str(target)], capture_output=True)
        assert proc.returncode == -9, proc.stderr
        leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
        assert len(leftovers) == 1, leftovers
    # files that are not ours, or belong to a live save, must survive
    keep = [".ck.npz.tmp", "ck.npz.tmp", f".ck.npz.{os.getpid()}.abcd1234.tmp", ".other.npz.99999999.abcd1234.tmp",
            ".ck.npz.123.abcd12345.tmp", ".ck.npz.abcd1234.tmp"]       # the last: a recent pid-less temp
    for name in keep:
        (tmp_path / name).write_bytes(b"x")
    legacy = tmp_path / ".ck.npz.zzzz9999.tmp"                         # an old pid-less temp
    legacy.write_bytes(b"x")
    os.utime(legacy, (1e9, 1e9))
    save_checkpoint(target, model, opt)
    remaining = sorted(n for n in os.listdir(tmp_path) if n.endswith(".tmp"))
    assert remaining == sorted(keep)
    load_checkpoint(target, model, opt)


def test_resaving_keeps_the_file_mode(tmp_path):
    model, _, opt = make_setup()
    path = tmp_path / "private.npz"
    save_checkpoint(path, model, opt)
    assert os.stat(path).st_mode & 0o777 == 0o644
    os.chmod(path, 0o600)
    save_checkpoint(path, model, opt)
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_unwritable_directory_error_names_the_target(tmp_path, monkeypatch):
    import tinygrad_ngd.checkpoint as C
    model, _, opt = make_setup()

    def refuse(dir, prefix, suffix):
        name = os.path.join(dir, prefix + "x1y2z3w4" + suffix)
        raise PermissionError(13, "Permission denied", name)   # what mkstemp raises (root ignores chmod)
    monkeypatch.setattr(C.tempfile, "mkstemp", refuse)
    target = tmp_path / "ck.npz"
    with pytest.raises(PermissionError, match=rf"cannot write '{target}'.*Permission denied") as info:
        save_checkpoint(target, model, opt)
    assert ".tmp" not in str(info.value)


# ---------------------------------------------------------------- resume with a shuffling loader
def _loader_run(tmp_path, mode):
    from tinygrad_ngd.datasets import DataLoader
    data = np.random.default_rng(5)
    x = data.standard_normal((40, 4)).astype(np.float32)
    y = data.integers(0, 3, 40)
    tg.manual_seed(0 if mode != "resume" else 42)
    model = L.Sequential(L.Dense(4, 6), L.Tanh(), L.Dense(6, 3))
    opt = O.SGD(tg.FlatParameters(model), lr=0.1, momentum=0.9)
    loader = DataLoader((x, y), batch_size=8, shuffle=True, seed=0 if mode != "resume" else 7)
    path = tmp_path / "epoch.npz"
    epochs = range(3)
    if mode in ("resume", "resume_without_loader"):
        load_checkpoint(path, model, opt, loader=loader if mode == "resume" else None)
        epochs = range(1, 3)
    for epoch in epochs:
        for xb, yb in loader:
            train_step(model, opt, F.cross_entropy, xb, yb.data)
        if epoch == 0 and mode == "full":
            save_checkpoint(path, model, opt, loader=loader)
    return B.to_numpy(opt.params.data.copy())


def test_resume_at_an_epoch_boundary_with_shuffling_is_bit_for_bit(tmp_path):
    """Issue 14: the loader's generator was not in the checkpoint (0.12 away after resuming)."""
    full = _loader_run(tmp_path, "full")
    np.testing.assert_array_equal(_loader_run(tmp_path, "resume"), full)
    assert not np.array_equal(_loader_run(tmp_path, "resume_without_loader"), full)


def test_loader_state_is_validated_before_anything_changes(tmp_path):
    from tinygrad_ngd.datasets import DataLoader
    model, _, opt = make_setup()
    x = np.zeros((10, 4), np.float32)
    saved_loader = DataLoader(x, batch_size=2, shuffle=True, seed=1)
    save_checkpoint(tmp_path / "a.npz", model, opt, loader=saved_loader)
    save_checkpoint(tmp_path / "b.npz", model, opt)
    other = DataLoader(x, batch_size=5, shuffle=True, seed=2)
    model2, _, opt2 = make_setup(seed=4)
    snap, gen = model_snapshot(model2), other.rng.bit_generator.state
    with pytest.raises(CheckpointError, match="'batch_size' is 2 in the state but 5"):
        load_checkpoint(tmp_path / "a.npz", model2, opt2, loader=other)
    with pytest.raises(CheckpointError, match="holds no data loader state"):
        load_checkpoint(tmp_path / "b.npz", model2, opt2, loader=other)
    assert_model_is(model2, snap) and other.rng.bit_generator.state == gen and opt2.step_count == 0
    bad = saved_loader.state_dict()
    bad["generator"] = {"bit_generator": "MT19937", "state": 1}
    with pytest.raises(ValueError, match="state of a PCG64 bit generator"):
        saved_loader.load_state_dict(bad)
    bad["generator"] = {"bit_generator": "PCG64", "state": "x"}
    with pytest.raises(ValueError, match="invalid generator state"):
        saved_loader.load_state_dict(bad)
    with pytest.raises(TypeError, match="DataLoader.load_state_dict: expected the dict"):
        saved_loader.load_state_dict(None)
    assert json_roundtrips(saved_loader.state_dict())


def json_roundtrips(d):
    import json
    return json.loads(json.dumps(d)) == d


def _rewrite_meta(path, change):
    import json
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["__meta__"][()]))
    change(meta)
    arrays["__meta__"] = np.array(json.dumps(meta))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("change, match", [
    (lambda m: m.update(step="12"), "'step' must be a non-negative integer"),
    (lambda m: m.update(step=-1), "'step' must be a non-negative integer"),
    (lambda m: m.update(model_keys="0.weight"), "'model_keys' must be a list"),
    (lambda m: m["optimizer"]["hyper"].update(momentum=float("inf")), "'momentum' must be a finite number"),
    (lambda m: m["optimizer"].update(optimizer="Adam"), "saved by Adam, not by SGD"),
])
def test_crafted_metadata_is_refused_before_anything_changes(tmp_path, change, match):
    model, _, opt = make_setup()
    run_steps(model, opt, 2)
    path = tmp_path / "ck.npz"
    save_checkpoint(path, model, opt)
    _rewrite_meta(path, change)
    model2, _, opt2 = make_setup(seed=5)
    snap, rng = model_snapshot(model2), B.get_rng_state()
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path, model2, opt2)
    assert_model_is(model2, snap) and opt2.step_count == 0 and not opt2.state and B.get_rng_state() == rng


def test_bad_path_and_strict_arguments_are_clear_type_errors(tmp_path):
    model, _, opt = make_setup()
    for call in (lambda: load_checkpoint(None, model, opt), lambda: save_checkpoint(3, model, opt),
                 lambda: read_checkpoint(b"ck.npz")):
        with pytest.raises(TypeError, match="path must be a"):
            call()
    with pytest.raises(TypeError, match="strict must be True or False"):
        model.load_state_dict(model.state_dict(), strict="yes")


def test_save_checkpoint_refuses_what_is_not_a_model_optimizer_or_loader(tmp_path):
    """Audit: save_checkpoint(path, None) and optimizer=<a model> ended in AttributeError."""
    tg.set_default_dtype("float64")
    model = L.Sequential(L.Dense(2, 2))
    path = tmp_path / "ck.npz"
    with pytest.raises(TypeError, match="save_checkpoint: model must be a Module"):
        save_checkpoint(path, None)
    with pytest.raises(TypeError, match="save_checkpoint: optimizer must be a tinygrad_ngd optimizer"):
        save_checkpoint(path, model, optimizer=model)
    with pytest.raises(TypeError, match="save_checkpoint: loader must be a DataLoader"):
        save_checkpoint(path, model, loader=[1, 2])
    assert not path.exists() and not list(tmp_path.iterdir())
