"""Issue 14: ``compare`` writes a run's files as one set, never beside or over an earlier
run, and turns every bad input or Ctrl-C into one line (exit 2 / 130), never a traceback.

Policy (``tinygrad-ngd compare --help``): the files are staged in a hidden directory beside
--out and renamed into place; when --out already holds files the run goes to a fresh
OUT-2, OUT-3, …; --overwrite replaces the earlier run as a whole."""

import builtins
import configparser
import gzip
import os
import subprocess
import sys

import pytest

from tinygrad_ngd import cli, runs
from tinygrad_ngd.runs import SetupError, claim_run_dir, write_run_files

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["--quick", "--train-size", "200", "--test-size", "100", "--depth", "2", "--epochs", "1",
        "--optimizers", "adam", "--threads", "1"]


def _snapshot(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def _hidden_leftovers(parent):
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


@pytest.fixture
def earlier_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["compare", *FAST, "--out", str(out)]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == sorted(("compare.png", "history.csv", "summary.csv",
                                                              "history.json"))
    return out


def test_a_rerun_goes_to_a_fresh_directory_and_leaves_the_earlier_run(earlier_run, capsys):
    before = _snapshot(earlier_run)
    assert cli.main(["compare", *FAST, "--seed", "1", "--no-plot", "--out", str(earlier_run)]) == 0
    text = capsys.readouterr().out
    fresh = earlier_run.with_name("run-2")
    assert f"this run is written to {fresh}" in text
    assert _snapshot(earlier_run) == before                      # untouched, PNG and all
    assert sorted(p.name for p in fresh.iterdir()) == ["history.csv", "history.json", "summary.csv"]
    assert '"seed": 1' in (fresh / "history.json").read_text()
    assert _hidden_leftovers(earlier_run.parent) == []


def test_overwrite_replaces_the_whole_set_no_old_png_beside_new_csvs(earlier_run, capsys):
    old_json = (earlier_run / "history.json").read_text()
    assert cli.main(["compare", *FAST, "--seed", "2", "--no-plot", "--overwrite", "--out", str(earlier_run)]) == 0
    assert sorted(p.name for p in earlier_run.iterdir()) == ["history.csv", "history.json", "summary.csv"]
    new_json = (earlier_run / "history.json").read_text()
    assert new_json != old_json and '"seed": 2' in new_json
    assert not earlier_run.with_name("run-2").exists()
    assert _hidden_leftovers(earlier_run.parent) == []


def test_overwrite_refuses_a_directory_with_other_files(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    assert cli.main(["compare", *FAST, "--overwrite", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "thesis.tex" in err and "refusing to replace" in err
    assert _snapshot(out) == {"thesis.tex": b"precious"}


@pytest.mark.parametrize("interrupt_in", ["compare.png", "history.json"])
def test_ctrl_c_during_the_write_leaves_the_earlier_run_whole(earlier_run, capsys, monkeypatch, interrupt_in):
    """A simulated Ctrl-C half-way through writing one file of the set."""
    before = _snapshot(earlier_run)
    real_write_run_files = runs.write_run_files

    def interrupted(out, writers):
        def half_then_interrupt(path):
            path.write_bytes(b"\x89PNG\r\n\x1a\n half a file")
            raise KeyboardInterrupt
        writers = dict(writers, **{interrupt_in: half_then_interrupt})
        return real_write_run_files(out, writers)

    monkeypatch.setattr(cli, "write_run_files", interrupted)
    for extra in ([], ["--overwrite"]):
        rc = cli.main(["compare", *FAST, "--seed", "3", *extra, "--out", str(earlier_run)])
        err = capsys.readouterr().err
        assert rc == 130 and err == "interrupted\n"
        assert _snapshot(earlier_run) == before
        assert _hidden_leftovers(earlier_run.parent) == []
    assert not any(earlier_run.with_name("run-2").iterdir())  # claimed, empty, reused next time


def test_write_run_files_is_all_or_nothing(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "a.csv").write_text("old a")
    (out / "b.png").write_text("old b")

    def boom(path):
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_run_files(out, {"a.csv": lambda p: p.write_text("new a"), "b.png": boom})
    assert _snapshot(out) == {"a.csv": b"old a", "b.png": b"old b"}
    written = write_run_files(out, {"a.csv": lambda p: p.write_text("new a"), "b.png": lambda p: None})
    assert written == [out / "a.csv"] and _snapshot(out) == {"a.csv": b"new a"}
    assert _hidden_leftovers(tmp_path) == []


def test_a_killed_run_leaves_only_hidden_staging_that_the_next_run_removes(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "history.csv").write_text("x")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    stale = tmp_path / f".r.partial-{int(dead.stdout)}-abc"
    stale.mkdir()
    (stale / "compare.png").write_bytes(b"half")
    alive = tmp_path / f".r.partial-{os.getpid()}-xyz"  # a run in progress is left alone
    alive.mkdir()
    assert claim_run_dir(out) == tmp_path / "r-2"
    assert not stale.exists() and alive.exists()


def test_claim_run_dir_rules(tmp_path):
    assert claim_run_dir(tmp_path / "new") == tmp_path / "new"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert claim_run_dir(empty) == empty
    (empty / "history.csv").write_text("x")
    assert claim_run_dir(empty, overwrite=True, own_files=("history.csv",)) == empty
    with pytest.raises(SetupError, match="refusing to replace"):
        claim_run_dir(empty, overwrite=True, own_files=("summary.csv",))


# ---------------------------------------------------------------- tracebacks → one line
def _empty_mnist_dir(tmp_path):
    d = tmp_path / "mnist"
    d.mkdir()
    for prefix in ("train", "t10k"):
        (d / f"{prefix}-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + (0).to_bytes(4, "big")
                                                         + (28).to_bytes(4, "big") * 2)
        (d / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(4)))
    return d


@pytest.mark.parametrize("args,message", [
    (["--dataset", "mnist", "--data-dir", "{mnist}"], "--dataset mnist: no training examples in"),
    (["--model", "cnn", "--depth", "6"], "--model cnn --depth 6: each stage halves the 28×28 images, so at most 4"),
    (["--seed", "-1"], "--seed must be an integer >= 0, got -1"),
])
def test_bad_runs_end_in_one_line_and_status_2(tmp_path, capsys, args, message):
    mnist = _empty_mnist_dir(tmp_path)
    args = [a.format(mnist=mnist) for a in args]
    rc = cli.main(["compare", "--epochs", "1", "--optimizers", "adam", *args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err


def test_bad_runs_from_the_shell_print_no_traceback(tmp_path):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", TINYGRAD_NGD_PROGRESS="0")
    env.pop("TINYGRAD_NGD_BACKEND", None)
    for args in (["--seed", "-1"], ["--model", "cnn", "--depth", "6", "--epochs", "1"],
                 ["--dataset", "mnist", "--data-dir", str(_empty_mnist_dir(tmp_path))]):
        res = subprocess.run([sys.executable, "-m", "tinygrad_ngd", "compare", *args, "--out",
                              str(tmp_path / "o")], capture_output=True, text=True, cwd=REPO, env=env,
                             timeout=120, check=False)
        assert res.returncode == 2 and "Traceback" not in res.stderr and res.stderr.count("\n") == 1, res.stderr


def test_ctrl_c_during_the_lazy_imports_is_one_line_and_130(tmp_path, capsys, monkeypatch):
    real_import = builtins.__import__

    def interrupted_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 1 and name == "compare":
            raise KeyboardInterrupt
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", interrupted_import)
    assert cli.main(["compare", "--out", str(tmp_path / "o")]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_a_real_sigint_while_importing_matplotlib_ends_in_one_line(tmp_path):
    """A real SIGINT (a stand-in matplotlib that interrupts its own import) at the write
    phase, in a subprocess: exit 130, one line, no traceback, no files."""
    fake = tmp_path / "fake" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(30)\n")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", TINYGRAD_NGD_PROGRESS="0",
               PYTHONPATH=str(tmp_path / "fake") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("TINYGRAD_NGD_BACKEND", None)
    out = tmp_path / "o"
    res = subprocess.run([sys.executable, "-m", "tinygrad_ngd", "compare", *FAST, "--out", str(out)],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=120, check=False)
    assert res.returncode == 130 and res.stderr == "interrupted\n", res.stderr
    assert not out.exists() or not any(out.iterdir())
    assert _hidden_leftovers(tmp_path) == []


def _fake_numpy_that_interrupts_its_import(tmp_path):
    """A stand-in NumPy whose import sends this process a real SIGINT: the interrupt lands while
    ``tinygrad_ngd`` itself is being imported (its first import of NumPy)."""
    fake = tmp_path / "fake" / "numpy"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(30)\n")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", TINYGRAD_NGD_PROGRESS="0",
               PYTHONPATH=os.pathsep.join([str(tmp_path / "fake"), REPO, os.environ.get("PYTHONPATH", "")]))
    env.pop("TINYGRAD_NGD_BACKEND", None)
    return env


def test_a_real_sigint_while_the_console_script_imports_the_package_ends_in_one_line(tmp_path):
    """Ctrl-C in the first quarter second of ``tinygrad-ngd …`` — while the console script's
    entry point imports the package, before cli.main runs — is one line and status 130 too.
    Run the way the generated console script runs its entry point."""
    env = _fake_numpy_that_interrupts_its_import(tmp_path)
    script = "import sys; from tinygrad_ngd_entry import main; sys.exit(main())"
    for args in (["compare", *FAST, "--out", str(tmp_path / "o")], ["info"]):
        res = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                             cwd=tmp_path, env=env, timeout=60, check=False)
        assert res.returncode == 130 and res.stderr == "interrupted\n", res.stderr
    assert not (tmp_path / "o").exists()


def test_the_package_import_itself_still_raises_keyboardinterrupt(tmp_path):
    """Library semantics are unchanged: in a user's own ``import tinygrad_ngd`` a Ctrl-C is an
    ordinary KeyboardInterrupt (the handling lives only in the console script's entry)."""
    env = _fake_numpy_that_interrupts_its_import(tmp_path)
    script = ("import sys\ntry:\n    import tinygrad_ngd\nexcept KeyboardInterrupt:\n"
              "    print('KeyboardInterrupt reached the caller'); sys.exit(7)\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                         env=env, timeout=60, check=False)
    assert res.returncode == 7 and res.stdout == "KeyboardInterrupt reached the caller\n", res.stderr


def test_the_console_script_enters_through_the_handled_entry_module():
    """setup.cfg points ``tinygrad-ngd`` at the entry module outside the package (and ships it);
    naming ``tinygrad_ngd.cli:main`` there would import the package before any handler."""
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(REPO, "setup.cfg"))
    scripts = [line.split("=") for line in cfg["options.entry_points"]["console_scripts"].split("\n") if line.strip()]
    assert [(k.strip(), v.strip()) for k, v in scripts] == [("tinygrad-ngd", "tinygrad_ngd_entry:main")]
    assert cfg["options"]["py_modules"].split() == ["tinygrad_ngd_entry"]
