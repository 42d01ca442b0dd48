"""The user-facing runs on ``cupy-emulated`` give the NumPy numbers: ``tinygrad-ngd compare
--quick`` (backend chosen by TINYGRAD_NGD_BACKEND) and every tutorial with ``--quick
--backend cupy-emulated``.  Each runs in its own process on both backends; every CSV/JSON it
writes must agree to 1e-12 (relative) outside timing columns."""

import csv
import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
TUTORIALS = sorted((REPO / "tutorials").glob("[0-9][0-9]_*.py"))
TIME_WORDS = ("time", "second", "sec_", "_sec", "seconds", "ms", "wall")


def _env(backend=None):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg", TINYGRAD_NGD_PROGRESS="0",
               PYTHONPATH=str(REPO))
    env.pop("TINYGRAD_NGD_BACKEND", None)
    if backend:
        env["TINYGRAD_NGD_BACKEND"] = backend
    return env


def _run(args, cwd, env):
    res = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=600, check=False)
    assert res.returncode == 0, f"{args} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def _is_time(key: str) -> bool:
    k = key.lower()
    return any(w in k for w in TIME_WORDS)


def _same(a: str, b: str, where: str) -> None:
    try:
        x, y = float(a), float(b)
    except ValueError:
        assert a == b, f"{where}: {a!r} != {b!r}"
        return
    if math.isnan(x) or math.isnan(y) or math.isinf(x) or math.isinf(y):
        assert str(x) == str(y), f"{where}: {a} != {b}"
    else:
        assert abs(x - y) <= 1e-12 * max(abs(x), abs(y), 1e-300), f"{where}: {a} != {b}"


def _compare_outputs(out_np: pathlib.Path, out_em: pathlib.Path) -> int:
    files = sorted(p.relative_to(out_np) for p in out_np.rglob("*") if p.suffix in (".csv", ".json"))
    assert files, f"no CSV/JSON written under {out_np}"
    for rel in files:
        a, b = out_np / rel, out_em / rel
        assert b.exists(), f"{rel} written on numpy but not on cupy-emulated"
        if rel.suffix == ".csv":
            ra, rb = list(csv.DictReader(a.open())), list(csv.DictReader(b.open()))
            assert len(ra) == len(rb), f"{rel}: {len(ra)} rows vs {len(rb)}"
            for i, (x, y) in enumerate(zip(ra, rb)):
                assert x.keys() == y.keys()
                for k in x:
                    if not _is_time(k):
                        _same(x[k], y[k], f"{rel} row {i} column {k}")
        else:
            _same_json(json.loads(a.read_text()), json.loads(b.read_text()), str(rel))
    return len(files)


def _same_json(x, y, where):
    if isinstance(x, dict):
        assert isinstance(y, dict) and x.keys() == y.keys(), where
        for k in x:
            if not _is_time(k) and k != "backend":
                _same_json(x[k], y[k], f"{where}.{k}")
    elif isinstance(x, list):
        assert isinstance(y, list) and len(x) == len(y), where
        for i, (a, b) in enumerate(zip(x, y)):
            _same_json(a, b, f"{where}[{i}]")
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        _same(str(x), str(y), where)
    else:
        assert x == y or (isinstance(x, str) and x.replace("cupy-emulated", "numpy") == y.replace(
            "cupy-emulated", "numpy")), f"{where}: {x!r} != {y!r}"


def test_compare_quick_on_cupy_emulated_gives_the_numpy_numbers(tmp_path):
    _run(["-m", "tinygrad_ngd", "compare", "--quick", "--out", str(tmp_path / "np")], tmp_path, _env())
    res = _run(["-m", "tinygrad_ngd", "compare", "--quick", "--out", str(tmp_path / "em")], tmp_path,
               _env("cupy-emulated"))
    assert "backend cupy-emulated" in res.stdout
    assert _compare_outputs(tmp_path / "np", tmp_path / "em") >= 2


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_quick_on_cupy_emulated_gives_the_numpy_numbers(path, tmp_path):
    for backend in ("numpy", "cupy-emulated"):
        _run([str(path), "--quick", "--backend", backend, "--out", str(tmp_path / backend)], tmp_path, _env())
    _compare_outputs(tmp_path / "numpy", tmp_path / "cupy-emulated")


def test_gpu_check_runs_end_to_end_on_cupy_emulated(tmp_path):
    """benchmarks/gpu_check.py is meant for a GPU; on cupy-emulated it must at least run, and
    every parity check must pass (the stand-in computes with NumPy: differences are zero)."""
    res = _run([str(REPO / "benchmarks" / "gpu_check.py"), "--backend", "cupy-emulated", "--small",
                "--repeats", "1"], tmp_path, _env())
    lines = res.stdout.splitlines()
    summary = [ln for ln in lines if "parity checks pass" in ln]
    assert len(summary) == 1, res.stdout
    passed, total = summary[0].split()[0].split("/")
    assert passed == total and int(total) >= 40, summary[0]
    assert any(ln.strip().startswith("MLP step (Adam)") for ln in lines), res.stdout
