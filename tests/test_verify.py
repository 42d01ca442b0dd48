"""Golden trajectories: files (no pickle, deterministic bytes across processes), the
comparison report, the command line and the torch adapter."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_ngd import verify as V

ROOT = Path(__file__).resolve().parents[1]
EXPORT_ARGS = ["export", "--optimizer", "Adam", "--hyper", '{"lr": 0.03, "betas": [0.8, 0.99]}',
               "--schedule", '{"name": "StepLR", "step_size": 20, "gamma": 0.5}',
               "--problem", "noisy_quadratic", "--n", "6", "--steps", "100", "--seed", "4",
               "--dtype", "float32", "--block-sizes", "4,2"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tinygrad_ngd.verify", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_golden_written_by_another_process_is_reproduced_bit_for_bit(tmp_path):
    there = tmp_path / "there.npz"
    proc = _cli(*EXPORT_ARGS, "--out", str(there))
    assert proc.returncode == 0, proc.stderr
    here = tmp_path / "here.npz"
    prob = V.noisy_quadratic(n=6, steps=100, seed=4)
    V.export_golden(here, prob, "Adam", {"lr": 0.03, "betas": [0.8, 0.99]}, dtype="float32",
                    schedule={"name": "StepLR", "step_size": 20, "gamma": 0.5}, block_sizes=[4, 2])
    assert here.read_bytes() == there.read_bytes()             # the whole file, byte for byte
    golden = V.load_golden(there)
    assert golden.trajectory.dtype == np.float32 and golden.trajectory.shape == (101, 6)
    report = V.check_golden(there, rtol=0.0, atol=0.0)         # replay: exactly equal
    assert report["ok"] and report["max_abs_error"].max() == 0.0


def test_cli_check_passes_then_fails_on_a_tampered_file(tmp_path):
    path = tmp_path / "g.npz"
    assert _cli(*EXPORT_ARGS, "--out", str(path)).returncode == 0
    ok = _cli("check", str(path), "--rtol", "0")
    assert ok.returncode == 0 and "all steps within tolerance" in ok.stdout
    golden = V.load_golden(path)
    traj = golden.trajectory.copy()
    traj[57, 3] += 1e-3
    V.save_golden(path, traj, golden.problem, golden.manifest["optimizer"], golden.manifest["hyper"],
                  golden.manifest["dtype"], golden.manifest["schedule"], golden.manifest["block_sizes"])
    bad = _cli("check", str(path), "--rtol", "1e-6")
    assert bad.returncode == 1 and "first step outside tolerance: 57" in bad.stdout


def test_save_load_round_trip_without_pickle(tmp_path):
    prob = V.fixed_gradients(n=4, steps=20, seed=0)
    traj = V.run_tinygrad(prob, "Rprop", {"lr": 0.1, "etas": [0.5, 1.2]})
    path = tmp_path / "rprop.npz"
    manifest = V.save_golden(path, traj, prob, "Rprop", {"lr": 0.1, "etas": [0.5, 1.2]})
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) == {"trajectory", "manifest", "problem.theta0", "problem.grads"}
        assert json.loads(str(z["manifest"])) == manifest
    golden = V.load_golden(path)
    np.testing.assert_array_equal(golden.trajectory, traj)
    np.testing.assert_array_equal(golden.problem.grads, prob.grads)
    assert golden.manifest["optimizer"] == "Rprop" and golden.manifest["steps"] == 20
    assert golden.manifest["library"].startswith("tinygrad_ngd ")


def test_rprop_golden_on_a_fixed_gradient_sequence(tmp_path):
    prob = V.FixedGradients(theta0=np.zeros(1), grads=np.array([[1.0], [1.0], [1.0], [-1.0], [1.0]]))
    traj = V.run_tinygrad(prob, "Rprop", {"lr": 0.1})
    np.testing.assert_allclose(-np.diff(traj[:, 0]), [0.1, 0.12, 0.144, 0.0, 0.072], rtol=1e-14, atol=1e-16)


def test_compare_reports_per_step_errors_and_first_step_outside():
    prob = V.noisy_quadratic(n=5, steps=60, seed=1)
    ref = V.run_tinygrad(prob, "SGD", {"lr": 0.05, "momentum": 0.9})
    other = ref.copy()
    other[37:, 2] += 1e-7 * np.abs(ref[37:]).max(axis=1)
    report = V.compare(ref, other, rtol=1e-8)
    assert report["first_step_outside"] == 37 and not report["ok"]
    assert report["max_abs_error"].shape == (61,)
    assert report["max_abs_error"][:37].max() == 0
    np.testing.assert_allclose(report["max_rel_error"][37:], 1e-7, rtol=1e-6)
    assert V.compare(ref, other, rtol=1e-6)["ok"]
    nan = ref.copy()
    nan[5, 0] = np.nan
    assert V.compare(ref, nan)["first_step_outside"] == 5
    with pytest.raises(ValueError, match="shapes"):
        V.compare(ref, ref[:-1])


def test_golden_checked_against_torch(torch, tmp_path):
    prob = V.noisy_quadratic(n=8, steps=120, seed=9)
    path = tmp_path / "rms.npz"
    V.export_golden(path, prob, "RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.3})
    report = V.check_golden(path, against="torch", rtol=1e-10)
    assert report["ok"], report["max_rel_error"].max()


def test_torch_adapter_rejects_conventions_torch_lacks(torch):
    prob = V.noisy_quadratic(n=3, steps=5)
    with pytest.raises(ValueError, match="form"):
        V.run_torch(prob, "SGD", {"lr": 0.1, "momentum": 0.9, "form": "notes"})
    with pytest.raises(ValueError, match="eps_mode"):
        V.run_torch(prob, "Adam", {"eps_mode": "hat"})
    with pytest.raises(ValueError, match="no torch.optim equivalent"):
        V.run_torch(prob, "DeltaBarDelta", {})
    with pytest.raises(ValueError, match="no torch equivalent"):
        V.run_torch(prob, "SGD", {"lr": 0.1}, schedule={"name": "LinearDecayToConstant", "tau": 3})


def test_bad_files_and_arguments(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz"):
        V.load_golden(junk)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(ValueError, match="lacks"):
        V.load_golden(other)
    prob = V.noisy_quadratic(n=3, steps=5)
    with pytest.raises(ValueError, match="steps"):
        V.run_tinygrad(prob, "SGD", {"lr": 0.1}, steps=6)
    with pytest.raises(ValueError, match="unknown optimizer"):
        V.run_tinygrad(prob, "Nope", {})
    with pytest.raises(ValueError, match="dtype"):
        V.run_tinygrad(prob, "SGD", {}, dtype="float16")
    with pytest.raises(ValueError, match="shapes"):
        V.NoisyQuadratic(theta0=np.zeros(3), A=np.eye(2), theta_star=np.zeros(3), noise=np.zeros((4, 3)))
    bad = _cli("export", "--optimizer", "SGD", "--hyper", "{lr: 1}", "--out", str(tmp_path / "x.npz"))
    assert bad.returncode != 0 and "--hyper is not valid JSON" in bad.stderr


def test_cli_reports_errors_with_status_2(tmp_path):
    missing = _cli("check", str(tmp_path / "missing.npz"))
    assert missing.returncode == 2 and "missing.npz" in missing.stderr
    bad = _cli("export", "--optimizer", "Adam", "--hyper", '{"betas": [0.9, 1.0]}', "--out", str(tmp_path / "x.npz"))
    assert bad.returncode == 2 and "betas" in bad.stderr
