"""The ``tinygrad-ngd`` command: compare end to end, bad input found before training, info,
verify pass-through, progress bars that stay quiet off a terminal."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import cli, compare
from tinygrad_ngd import functional as F
from tinygrad_ngd import optimizers as O
from tinygrad_ngd.progress import _SilentBar, bars_enabled, progress
from tinygrad_ngd.runs import (
    SetupError,
    blas_threads,
    prepare_out_dir,
    set_blas_threads,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ["--quick", "--train-size", "300", "--test-size", "200", "--depth", "3", "--threads", "1"]


def _env():
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", TINYGRAD_NGD_PROGRESS="0")
    env.pop("TINYGRAD_NGD_BACKEND", None)
    return env


def run_cli(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "tinygrad_ngd", *args], capture_output=True, text=True,
                          cwd=REPO, env=_env(), timeout=timeout, check=False)


# ---------------------------------------------------------------- compare end to end
def test_compare_quick_writes_table_png_csv_json(tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(["compare", *SMALL, "--optimizers", "adam,adam-ng,sgdm-ng", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    for name in ("adam", "adam-ng", "sgdm-ng"):
        assert f"\n{name} " in text                      # one table row per optimizer
    assert "test acc" in text and "s/epoch" in text
    png = (out / "compare.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["optimizer"] for r in rows] == ["adam", "adam", "adam-ng", "adam-ng", "sgdm-ng", "sgdm-ng"]
    assert [int(r["epoch"]) for r in rows] == [1, 2] * 3
    hist = json.loads((out / "history.json").read_text())
    assert hist["config"]["depth"] == 3 and hist["config"]["epochs"] == 2
    for h, s in zip(hist["histories"], hist["summary"]):
        # the table/summary is the last epoch of the history, and the numbers are sane
        assert s["test_acc"] == h["test_acc"][-1] and s["train_loss"] == h["train_loss"][-1]
        assert 0.0 <= s["test_acc"] <= 1.0 and 0.5 < s["train_loss"] < 5.0
        assert float(rows[2 * hist["histories"].index(h) + 1]["test_loss"]) == pytest.approx(h["test_loss"][-1])


def test_compare_run_equals_a_hand_written_loop():
    """Every optimizer starts from the weights of ``seed`` and sees the loader's batches in
    order: a hand-written Adam loop on the same model and batches gives the same numbers."""
    cfg = compare.check_config(compare.CompareConfig(depth=3, epochs=1, train_size=300, test_size=100,
                                                     optimizers=("adam",), seed=3))
    data = compare.load_data(cfg)
    hist = compare.train_one("adam", cfg, data, 10)

    from tinygrad_ngd.datasets import DataLoader
    (xtr, ytr), (xte, yte) = data
    model = compare.build_model(cfg, xtr.shape[1:], 10)
    params = tg.FlatParameters(model)
    opt = O.Adam(params, lr=1e-3)
    losses = []
    for x, y in DataLoader((xtr, ytr), 100, shuffle=True, seed=3):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item() * len(y))
    assert hist["train_loss"][0] == pytest.approx(sum(losses) / len(ytr), rel=1e-6)
    test_loss, test_acc = compare.evaluate_classifier(model, DataLoader((xte, yte), 1000))
    assert hist["test_loss"][0] == pytest.approx(test_loss, rel=1e-6)
    assert hist["test_acc"][0] == test_acc


def test_compare_is_reproducible_from_the_seed():
    cfg = compare.CompareConfig(depth=2, epochs=1, train_size=200, test_size=100, optimizers=("sgdm-ng",))
    a = compare.run_compare(cfg, log=lambda *_: None)[1][0]
    b = compare.run_compare(cfg, log=lambda *_: None)[1][0]
    assert a["train_loss"] == b["train_loss"] and a["test_acc"] == b["test_acc"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverging_optimizer_is_recorded_and_the_others_still_run():
    cfg = compare.CompareConfig(depth=2, epochs=2, train_size=200, test_size=100,
                                optimizers=("sgd", "adam"), lr={"sgd": 1e38})  # weights overflow float32
    _, hist = compare.run_compare(cfg, log=lambda *_: None)
    assert hist[0]["diverged_at_epoch"] == 1
    assert hist[1]["diverged_at_epoch"] is None and len(hist[1]["epoch"]) == 2
    table = compare.format_table(compare.summary_rows(hist))
    assert "sgd (diverged)" in table


def test_lr_milestones_drop_the_rate_tenfold(tmp_path, capsys):
    """[Yu et al. 2017, §4.2]'s step decay: lr ×0.1 after each milestone epoch (recorded per epoch in the CSV)."""
    out = tmp_path / "o"
    assert cli.main(["compare", *SMALL, "--epochs", "3", "--optimizers", "sgdm-ng", "--lr-milestones", "1,2",
                     "--out", str(out)]) == 0
    with open(out / "history.csv") as f:
        lrs = [float(r["lr"]) for r in csv.DictReader(f)]
    assert lrs == pytest.approx([0.01, 0.001, 0.0001], rel=1e-12)
    assert cli.main(["compare", "--lr-milestones", "0", "--out", str(out)]) == 2
    assert "--lr-milestones must be positive" in capsys.readouterr().err
    # audit: ngd-adaptive adapts λ itself, so the decay was recorded but never applied
    assert cli.main(["compare", "--optimizers", "sgdm,ngd-adaptive", "--lr-milestones", "1",
                     "--out", str(out)]) == 2
    assert "--lr-milestones: ngd-adaptive set(s) the step size itself" in capsys.readouterr().err


def _cifar_records(rng, n, n_label_bytes, n_classes):
    labels = rng.integers(0, n_classes, (n, n_label_bytes)).astype(np.uint8)
    images = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return b"".join(bytes(lab.tolist()) + img.tobytes() for lab, img in zip(labels, images))


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_compare_reads_cifar_from_data_dir(tmp_path, capsys, dataset):
    """[Yu et al. 2017, §4.2]'s data sets through the real binary parsers (tiny files in the real layout)."""
    rng = np.random.default_rng(0)
    if dataset == "cifar10":
        d = tmp_path / "cifar-10-batches-bin"
        d.mkdir()
        for i in range(1, 6):
            (d / f"data_batch_{i}.bin").write_bytes(_cifar_records(rng, 6, 1, 10))
        (d / "test_batch.bin").write_bytes(_cifar_records(rng, 5, 1, 10))
    else:
        d = tmp_path / "cifar-100-binary"
        d.mkdir()
        (d / "train.bin").write_bytes(_cifar_records(rng, 30, 2, 20))
        (d / "test.bin").write_bytes(_cifar_records(rng, 5, 2, 20))
    out = tmp_path / "o"
    assert cli.main(["compare", "--dataset", dataset, "--data-dir", str(d), "--model", "cnn", "--width", "2",
                     "--depth", "1", "--epochs", "1", "--batch-size", "10", "--optimizers", "sgdm",
                     "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"on {dataset} (30 train / 5 test)" in text
    hist = json.loads((out / "history.json").read_text())
    assert np.isfinite(hist["summary"][0]["train_loss"])
    missing = cli.main(["compare", "--dataset", dataset, "--data-dir", str(tmp_path / "nowhere"),
                        "--out", str(out)])
    assert missing == 2 and "--dataset " + dataset in capsys.readouterr().err


def test_lr_option_forms():
    assert cli._parse_lr("0.05") == {"*": 0.05}
    assert cli._parse_lr("adam=1e-3, sgdm=0.2") == {"adam": 1e-3, "sgdm": 0.2}
    cfg = compare.CompareConfig(optimizers=("adam", "sgdm"), lr={"*": 0.3, "adam": 0.01})
    assert cfg.lr_for("adam") == 0.01 and cfg.lr_for("sgdm") == 0.3
    assert compare.CompareConfig().lr_for("sgdm-ng") == compare.OPTIMIZERS["sgdm-ng"].lr


# ---------------------------------------------------------------- bad input, found before training
@pytest.mark.parametrize("flag, bad, kind, some_valid", [
    ("--optimizers", "adam,adamm", "optimizer", ["adam-ng", "sgdm", "rmsprop"]),
    ("--model", "transformer", "model", ["mlp", "cnn", "resnet"]),
    ("--dataset", "imagenet", "dataset", ["mnist-subset", "fashion-mnist", "cifar10"]),
])
def test_unknown_names_list_the_valid_ones(tmp_path, capsys, flag, bad, kind, some_valid):
    rc = cli.main(["compare", flag, bad, "--out", str(tmp_path / "o")])
    err = capsys.readouterr()
    assert rc == 2
    bad_name = bad.split(",")[-1]
    assert f"unknown {kind} {bad_name!r}" in err.err
    for name in some_valid:
        assert name in err.err
    assert "compare:" not in err.out          # nothing was trained
    assert not (tmp_path / "o").exists()      # nor written


def test_bad_numbers_are_reported(tmp_path, capsys):
    assert cli.main(["compare", "--lr", "adam=-1", "--out", str(tmp_path)]) == 2
    assert "learning rate of adam must be a number > 0" in capsys.readouterr().err
    assert cli.main(["compare", "--epochs", "0", "--out", str(tmp_path)]) == 2
    assert "--epochs must be an integer >= 1" in capsys.readouterr().err
    assert cli.main(["compare", "--model", "resnet", "--depth", "21", "--out", str(tmp_path)]) == 2
    assert "6n + 2" in capsys.readouterr().err


def test_unwritable_out_is_reported_before_training(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for out in (blocker, blocker / "sub"):
        rc = cli.main(["compare", *SMALL, "--out", str(out)])
        captured = capsys.readouterr()
        assert rc == 2
        assert captured.err.startswith("error: --out ") and str(out) in captured.err
        assert "compare:" not in captured.out       # failed before the first step
    with pytest.raises(SetupError, match="not a directory"):
        prepare_out_dir(blocker)


def test_cupy_backend_without_cupy_or_gpu_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    def no_gpu():
        raise RuntimeError("backend 'cupy' requested but no usable GPU was found: cudaErrorNoDevice\n(details)")
    monkeypatch.setattr(B, "_import_cupy", no_gpu)
    rc = cli.main(["compare", *SMALL, "--backend", "cupy", "--out", str(tmp_path / "o")])
    captured = capsys.readouterr()
    assert rc == 2
    assert captured.err.count("\n") == 1 and "--backend cupy" in captured.err and "GPU" in captured.err
    assert "compare:" not in captured.out and not (tmp_path / "o").exists()
    assert B.get_backend() == "numpy"


def test_cupy_backend_for_real_in_a_fresh_process(tmp_path):
    """Without CuPy (or a GPU) the real command fails in one line with a non-zero status;
    with both it runs the quick comparison on the GPU."""
    try:
        import cupy
        has_gpu = cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - ImportError or any CUDA error: no usable GPU
        has_gpu = False
    res = run_cli("compare", *SMALL, "--optimizers", "adam", "--backend", "cupy", "--out", str(tmp_path / "o"))
    if has_gpu:
        assert res.returncode == 0, res.stderr
        assert (tmp_path / "o" / "compare.png").exists()
    else:
        assert res.returncode == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: --backend cupy:") and "upy" in lines[0]
        assert "Traceback" not in res.stderr


# ---------------------------------------------------------------- the console script, info, verify
def test_python_dash_m_compare_and_no_progress_bar_off_a_terminal(tmp_path):
    env = _env()
    env.pop("TINYGRAD_NGD_PROGRESS")
    res = subprocess.run([sys.executable, "-m", "tinygrad_ngd", "compare", *SMALL, "--optimizers", "adam",
                          "--out", str(tmp_path)], capture_output=True, text=True, cwd=REPO, env=env, timeout=240, check=False)
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stdout + res.stderr and "it/s" not in res.stderr and "step/s" not in res.stderr
    assert (tmp_path / "compare.png").exists() and (tmp_path / "history.csv").exists()


def test_info_reports_backend_numpy_blas_and_gpu(capsys):
    assert cli.main(["info"]) == 0
    text = capsys.readouterr().out
    for needle in ("tinygrad_ngd 0.1.0", "backend      numpy", "dtype        float32", f"numpy        {np.__version__}",
                   "OPENBLAS_CORETYPE=", "BLAS threads now:", "cupy"):
        assert needle in text


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 0
    assert "compare" in capsys.readouterr().out


def test_verify_is_passed_through(tmp_path, capsys):
    path = tmp_path / "sgd.npz"
    assert cli.main(["verify", "export", "--optimizer", "SGD", "--hyper", '{"lr": 0.1}', "--steps", "5",
                     "--n", "3", "--out", str(path)]) == 0
    assert path.exists()
    assert cli.main(["verify", "check", str(path)]) == 0
    assert "within tolerance" in capsys.readouterr().out


# ---------------------------------------------------------------- progress bars and BLAS threads
def test_progress_bar_quiet_off_a_terminal_and_forced_by_env(monkeypatch):
    class FakeTTY:
        def isatty(self):
            return True

    monkeypatch.delenv("TINYGRAD_NGD_PROGRESS", raising=False)
    assert bars_enabled(FakeTTY()) is True
    with open(os.devnull, "w") as devnull:
        assert bars_enabled(devnull) is False
        monkeypatch.setenv("TINYGRAD_NGD_PROGRESS", "0")
        assert bars_enabled(FakeTTY()) is False
        monkeypatch.setenv("TINYGRAD_NGD_PROGRESS", "1")
        assert bars_enabled(devnull) is True
    silent = progress(range(3), enabled=False)
    assert isinstance(silent, _SilentBar) and list(silent) == [0, 1, 2]
    silent.set_postfix(loss=1.0)
    silent.update()
    silent.close()
    import tqdm
    bar = progress(total=2, enabled=True)
    assert isinstance(bar, tqdm.tqdm)
    bar.close()


def test_progress_without_tqdm_degrades_to_silent(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_tqdm(name, *a, **k):
        if name.startswith("tqdm"):
            raise ImportError("no tqdm")
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    assert isinstance(progress(range(2), enabled=True), _SilentBar)


def test_blas_threads_can_be_set():
    before = blas_threads()
    if before is None:  # a BLAS that is not OpenBLAS: nothing to read, and setting reports it
        assert set_blas_threads(1) in (True, False)
        return
    try:
        assert set_blas_threads(1) is True and blas_threads() == 1
    finally:
        set_blas_threads(before)
    with pytest.raises(ValueError, match="BLAS threads must be >= 1"):
        set_blas_threads(0)
