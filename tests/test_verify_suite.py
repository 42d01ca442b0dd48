"""The conformance suite: the shipped catalog (complete, regenerable bit for bit), the
stepper protocol with outside plug-ins (a planted bug is caught and named), the torch and
optax targets, the layer fixtures, the command line's exit statuses and help."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_ngd import optimizers as O
from tinygrad_ngd import verify as V
from tinygrad_ngd.verify import catalog as K
from tinygrad_ngd.verify import layer_fixtures as LF
from tinygrad_ngd.verify.suite import Convention, run_case

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = Path(__file__).resolve().parent / "verify_plugins.py"
CI = os.environ.get("CI", "").lower() == "true"


def _cli(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "tinygrad_ngd", "verify", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def _rows(stdout):
    """{case: (status, first outside)} parsed from the printed table."""
    out = {}
    for line in stdout.splitlines()[1:-1]:
        parts = line.split()
        out[parts[0]] = (parts[4], parts[3])
    return out


def _reseal(root, rel):
    """Record a changed file's checksum in the copy's manifest."""
    manifest = json.loads((root / "manifest.json").read_text())
    for entry in manifest["cases"] + manifest["layers"]:
        if entry["file"] == rel:
            entry["sha256"] = K._sha256(root / rel)
    (root / "manifest.json").write_text(json.dumps(manifest))


# ---------------------------------------------------------------------------- the catalog
def _arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_catalog_regenerates_bit_for_bit(tmp_path):
    manifest = K.build_catalog(tmp_path / "a")
    shipped = sorted(p.relative_to(K.CATALOG_DIR) for p in K.CATALOG_DIR.rglob("*") if p.is_file())
    fresh = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert fresh == shipped
    for entry in manifest["cases"] + manifest["layers"] + list(manifest["problems"].values()):
        assert K._sha256(tmp_path / "a" / entry["file"]) == entry["sha256"], entry["file"]
    size = sum((K.CATALOG_DIR / rel).stat().st_size for rel in shipped)
    assert size < 4_000_000, size                 # a few MB at most
    if K.load_manifest()["platform"] == K.platform_fingerprint():
        for rel in shipped:                       # the platform that wrote it: the same bytes
            assert (tmp_path / "a" / rel).read_bytes() == (K.CATALOG_DIR / rel).read_bytes(), \
                f"{rel} is out of date: run 'python3 -m tinygrad_ngd verify regenerate' and commit the catalog"
        return
    # another NumPy/BLAS/CPU: deterministic here (twice the same bytes), and the shipped
    # arrays agree to a few ulps (tanh, reductions and BLAS kernels may round differently)
    K.build_catalog(tmp_path / "b")
    for rel in shipped:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
        if rel.suffix == ".npz":
            ours, theirs = _arrays(tmp_path / "a" / rel), _arrays(K.CATALOG_DIR / rel)
            assert ours.keys() == theirs.keys(), rel
            for key, value in ours.items():
                scale = max(np.abs(theirs[key]).max(initial=0.0), 1e-300)
                assert np.abs(value - theirs[key]).max(initial=0.0) <= 1e-12 * scale, (rel, key)


def test_catalog_covers_every_optimizer_option_and_schedule():
    manifest = K.load_manifest()
    cases = manifest["cases"]
    assert len(cases) >= 60
    for e in cases:
        assert {"name", "optimizer", "hyper", "schedule", "problem", "seed", "steps", "library",
                "sha256", "file"} <= set(e), e["name"]
        assert "lr" in e["hyper"] and 100 <= e["steps"] <= 200 and e["library"].startswith("tinygrad_ngd ")
    optimizers = {e["optimizer"] for e in cases} | {e["base"]["optimizer"] for e in cases if e["base"]}
    first_order = {"SGD", "Adam", "AdamW", "Adamax", "Adagrad", "RMSprop", "Adadelta", "Rprop", "ASGD",
                   "SGDHistory", "DeltaBarDelta"}
    normalized = {"NGD", "AdaptiveNGD", "AdaGradBNG", "SGDBB", "BlockNormalized", "NGAdap", "ClipGradNorm"}
    assert first_order | normalized <= optimizers
    schedules = {e["schedule"]["name"] for e in cases if e["schedule"]}
    assert schedules == {"StepLR", "MultiStepLR", "ExponentialLR", "LinearLR", "ReduceLROnPlateau",
                         "LinearDecayToConstant", "MomentumWarmup"}
    for name in schedules:
        assert hasattr(O, name)
    options = [("momentum", 0.9), ("nesterov", True), ("dampening", 0.5), ("amsgrad", True),
               ("centered", True), ("maximize", True), ("decoupled_weight_decay", True),
               ("eps_mode", "hat"), ("eps_mode", "inside_sqrt"), ("eps_mode", "none")]
    for key, value in options:
        assert any(e["hyper"].get(key) == value for e in cases), (key, value)
    assert any(isinstance(e["hyper"]["lr"], list) for e in cases)         # per-block lr
    assert any(e["hyper"].get("weight_decay") and not e["hyper"].get("decoupled_weight_decay")
               and e["optimizer"] == "Adam" for e in cases)              # coupled weight decay
    assert {e["problem"] for e in cases} == {"quad8", "grads_1e-8", "grads_1", "grads_1e8", "mlp"}
    scales = [np.abs(c.problem_data.grads).max() for c in V.load_cases("*") if c.problem.startswith("grads")]
    assert min(scales) < 1e-7 and max(scales) > 1e8


def test_catalog_files_load_without_pickle_and_match_the_problems():
    case = V.load_cases("sgd_plain")[0]
    with np.load(K.CATALOG_DIR / case.spec["file"], allow_pickle=False) as z:
        assert set(z.files) == {"trajectory", "lr"} and z["trajectory"].dtype == np.float64
    np.testing.assert_array_equal(case.trajectory[0], case.theta0)
    fresh = K.make_problem("quad8")
    np.testing.assert_array_equal(fresh.A, case.problem_data.A)
    # the MLP's gradient is the derivative of its loss (central differences)
    mlp = K.make_problem("mlp")
    theta, e = mlp.theta0 + 0.05, 1e-6
    unit = np.eye(theta.size)
    numeric = [(mlp._batch_loss(7, theta + e * u)[-1] - mlp._batch_loss(7, theta - e * u)[-1]) / (2 * e)
               for u in unit]
    np.testing.assert_allclose(mlp.gradient(7, theta), numeric, rtol=1e-7, atol=1e-9)


def test_our_implementation_replays_every_case_exactly():
    rows = V.run_suite("tinygrad", rtol=0.0)
    assert len(rows) >= 60 and all(r.status == "match" and r.max_rel_error == 0.0 for r in rows), \
        [r for r in rows if r.status != "match"]


# ---------------------------------------------------------------------------- plug-ins
def test_planted_bug_eps_inside_sqrt_is_caught_and_named():
    proc = _cli("suite", "--against", f"{PLUGINS}:factory_eps_in_sqrt")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = _rows(proc.stdout)
    assert rows["adam_scale_1e-8"] == ("differs", "1")          # ε matters where v is tiny
    assert rows["adam"][0] == "differs"
    assert rows["sgd_momentum"][0] == "match"                   # SGD has no ε: unaffected
    assert rows["rmsprop"][0] == "skipped"
    assert re.search(r"\d+ differs", proc.stdout.splitlines()[-1])


def test_correct_plugin_passes_with_unsupported_cases_skipped():
    proc = _cli("suite", "--against", f"{PLUGINS}:factory")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = _rows(proc.stdout)
    statuses = [s for s, _ in rows.values()]
    assert statuses.count("match") >= 25 and statuses.count("skipped") >= 40
    assert "differs" not in statuses and "convention" not in statuses
    assert rows["adam_per_block_lr_mlp"][0] == "match" and rows["sched_plateau"][0] == "match"


def test_plugin_by_module_name_from_the_current_directory(tmp_path):
    shutil.copy(PLUGINS, tmp_path / "my_optimizers.py")
    proc = _cli("suite", "--against", "my_optimizers:factory", "--cases", "adamw*", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _rows(proc.stdout) == {"adamw": ("match", "-"), "adamw_amsgrad_mlp": ("match", "-")}


def test_a_stepper_that_breaks_the_protocol_is_reported():
    import verify_plugins
    rows = V.run_suite(verify_plugins.factory_wrong_shape, "sgd_*")
    bad = [r for r in rows if r.status == "differs"]
    assert [r.case for r in bad] == ["sgd_plain"] and "shape (3,)" in bad[0].note
    assert V.exit_status(rows) == 1


def test_a_convention_is_shown_only_when_switching_our_flag_reproduces_the_target():
    case = V.load_cases("rmsprop")[0]
    optax_like = V.suite.ours_factory(case, {"eps_mode": "inside_sqrt"})
    right = run_case(case, lambda c: Convention("ε inside", {"eps_mode": "inside_sqrt"}, optax_like))
    assert right.status == "convention" and right.first_outside == 1 and "eps_mode='inside_sqrt'" in right.note
    optax_like = V.suite.ours_factory(case, {"eps_mode": "inside_sqrt"})
    wrong = run_case(case, lambda c: Convention("claimed", {"eps_mode": "none"}, optax_like))
    assert wrong.status == "differs" and "does not match it either" in wrong.note


# ---------------------------------------------------------------------------- torch
def test_against_torch_every_case_torch_has_matches(torch):
    rows = V.run_suite("torch")
    by = {r.case: r for r in rows}
    assert not [r for r in rows if r.status == "differs"]
    torch_classes = {"SGD", "Adam", "AdamW", "Adamax", "Adagrad", "RMSprop", "Adadelta", "Rprop", "ASGD"}
    for c in V.load_cases():
        if c.optimizer in torch_classes:
            assert by[c.name].status in ("match", "convention"), c.name
    for name in ("adam_eps_none", "adamax_eps_none", "adagrad_eps_none", "sched_momentum_warmup",
                 "sched_linear_decay_to_constant", "sched_plateau", "asgd_averaging_from_t0"):
        assert by[name].status == "match", by[name]
    assert sum(r.status == "match" for r in rows) >= 55
    conventions = {r.case for r in rows if r.status == "convention"}
    assert conventions == {"sgd_notes_form_steplr", "adam_eps_hat", "rmsprop_eps_inside_sqrt",
                           "rprop_plus", "rprop_minus", "clip_global_no_eps_adam"}
    assert all(r.max_rel_error <= 1e-10 for r in rows if r.status == "match")


def test_torch_target_catches_a_wrong_golden(torch, tmp_path):
    root = tmp_path / "catalog"
    shutil.copytree(K.CATALOG_DIR, root)
    case = V.load_cases("adam", root)[0]
    arrays = {"trajectory": case.trajectory.copy(), "lr": case.lrs}
    arrays["trajectory"][90:, 2] *= 1 + 1e-8
    K._write_npz(root / case.spec["file"], arrays)
    with pytest.raises(ValueError, match="adam.npz does not match its checksum"):
        V.run_suite("torch", "adam", catalog_dir=root)
    _reseal(root, case.spec["file"])                 # a consistent catalog with a wrong golden
    rows = V.run_suite("torch", "adam", catalog_dir=root)
    assert [(r.status, r.first_outside) for r in rows] == [("differs", 90)]


# ---------------------------------------------------------------------------- optax
@pytest.fixture
def optax():
    try:
        import jax  # noqa: F401
        import optax
    except ImportError:
        if CI:
            raise RuntimeError("CI=true but jax/optax are not installed (pip install '.[verify]')") from None
        pytest.skip("jax/optax not installed; the optax target is checked in CI")
    return optax


def test_against_optax_every_difference_is_a_convention_our_flag_removes(optax):
    rows = V.run_suite("optax")
    by = {r.case: r for r in rows}
    assert not [r for r in rows if r.status == "differs"], [r for r in rows if r.status == "differs"]
    assert sum(r.status == "match" for r in rows) >= 35
    conventions = {r.case for r in rows if r.status == "convention"}
    assert {"sgd_notes_form_steplr", "adam_eps_hat", "rmsprop", "rmsprop_centered",
            "clip_global_torch_eps_sgd_mlp"} <= conventions
    assert all("matches" in by[c].note for c in conventions)
    assert by["rmsprop_eps_inside_sqrt"].status == "match"    # our flag set to optax's convention
    # Adagrad: optax's ε inside the square root is eps_mode="inside_sqrt"; only lr_decay stays unmapped
    assert by["adagrad_scale_1e-8"].status == "convention" and "eps_mode='inside_sqrt'" in by["adagrad_scale_1e-8"].note
    assert [r.case for r in rows if r.case.startswith("adagrad_") and r.status == "skipped"] == \
        ["adagrad_lr_decay", "adagrad_bng_mlp"]
    for name in ("sgd_per_block_lr_mlp", "adam_per_block_lr_mlp", "sched_momentum_warmup", "sched_plateau",
                 "adam_l2_mlp", "adam_decoupled_mlp", "adagrad_eps_none", "clip_global_no_eps_adam"):
        assert by[name].status == "match", by[name]
    doc = (ROOT / "docs" / "verify.md").read_text()
    for flag in ("eps_mode", "form=", "eps_in_sqrt", "clip_by_global_norm", "decoupled_weight_decay"):
        assert flag in doc


def test_optax_rprop_one_step_late_is_still_true(optax):
    """The reason Rprop is not compared with optax (target_optax.RPROP_ONE_STEP_LATE);
    fails once optax changes, and then Rprop should be mapped."""
    import jax
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        tx, p = optax.rprop(0.1), jax.numpy.zeros(1)
        state, got = tx.init(p), []
        for g in (1.0, 1.0, 1.0, -1.0, 1.0):
            u, state = tx.update(jax.numpy.array([g]), state, p)
            p = p + u
            got.append(float(p[0]))
    finally:
        jax.config.update("jax_enable_x64", previous)
    np.testing.assert_allclose(got, [0.0, -0.1, -0.22, -0.22, -0.22], rtol=1e-12)


# ---------------------------------------------------------------------------- layers
def test_layer_fixtures_match_torch(torch):
    rows = LF.check_layers("torch")
    names = {r.fixture for r in rows}
    assert {"dense", "conv2d_stride_padding", "maxpool2d_stride_padding", "avgpool2d_stride_padding",
            "batchnorm2d_train", "batchnorm2d_eval", "lstm", "embedding", "cross_entropy",
            "hvp_mlp_cross_entropy"} <= names
    assert all(r.status == "match" and r.max_rel_error <= 1e-10 for r in rows), rows


def test_layer_check_names_the_array_that_differs(torch, tmp_path):
    root = tmp_path / "catalog"
    shutil.copytree(K.CATALOG_DIR, root)
    path = root / "layers" / "conv2d_stride_padding.npz"
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["grad.param.weight"][1, 0, 2, 2] += 1e-7
    K._write_npz(path, arrays)
    _reseal(root, "layers/conv2d_stride_padding.npz")
    rows = {r.fixture: r for r in LF.check_layers("torch", "conv2d*", catalog_dir=root)}
    assert rows["conv2d"].status == "match"
    bad = rows["conv2d_stride_padding"]
    assert bad.status == "differs" and bad.worst == "grad.param.weight" and "grad.param.weight" in bad.note
    proc = _cli("suite", "--kind", "layers", "--against", "torch", "--catalog", str(root))
    assert proc.returncode == 1 and "conv2d_stride_padding" in proc.stdout


def test_layer_fixture_format_is_documented():
    manifest = K.load_manifest()
    doc = (ROOT / "docs" / "verify.md").read_text()
    for key in ("input", "param.", "buffer.", "output", "upstream", "grad.input", "grad.param.",
                "buffer_after.", "`v`", "`hvp`"):
        assert key in doc, key
    for e in manifest["layers"]:
        with np.load(K.CATALOG_DIR / e["file"], allow_pickle=False) as z:
            assert "output" in z.files or "hvp" in z.files
            assert all(f"param.{p}" in z.files for p in e["params"])


# ---------------------------------------------------------------------------- command line
def test_cli_exit_status_0_on_match_and_2_on_usage_errors(tmp_path):
    ok = _cli("suite", "--against", "tinygrad", "--cases", "sgd_*")
    assert ok.returncode == 0 and ok.stdout.splitlines()[-1].startswith("11 cases against tinygrad")
    for args, message in [(("suite",), "--against"),
                          (("suite", "--against", "nope"), "invalid --against 'nope'"),
                          (("suite", "--against", "no_such_module:f"), "cannot import"),
                          (("suite", "--against", "tinygrad", "--cases", "zzz*"), "matches no case"),
                          (("suite", "--against", "tinygrad", "--rtol", "-1"), "invalid --rtol"),
                          (("suite", "--against", "optax", "--kind", "layers"), "only 'torch'"),
                          (("suite", "--against", "torch", "--catalog", str(tmp_path)), "manifest")]:
        proc = _cli(*args)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)


def test_verify_help_names_the_command_and_every_option():
    proc = _cli("--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: tinygrad-ngd verify") and "``" not in proc.stdout
    assert "python -m tinygrad_ngd.verify" not in proc.stdout
    export = _cli("export", "--help").stdout
    for flag in ("--n N", "--steps STEPS", "--seed SEED", "--out OUT"):
        line = next(ln for ln in export.splitlines() if ln.strip().startswith(flag))
        assert len(line.strip()) > len(flag) + 5, line           # a help text follows the flag
    assert "``" not in export
    suite = _cli("suite", "--help").stdout
    assert "MODULE:FACTORY" in suite and "--rtol" in suite and "``" not in suite


def test_regenerate_writes_a_catalog_the_suite_reads(tmp_path):
    proc = _cli("regenerate", "--out", str(tmp_path))
    assert proc.returncode == 0 and "79 optimizer cases" in proc.stdout
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest == K.load_manifest()
    rows = V.run_suite("tinygrad", "asgd*", rtol=0.0, catalog_dir=tmp_path)
    assert [r.status for r in rows] == ["match"] * 3


def test_docs_verify_snippets_run_as_pasted(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "verify.md").read_text(), re.S)
    assert len(blocks) >= 2
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    for i, block in enumerate(blocks):
        run_dir = tmp_path / f"block{i}"
        run_dir.mkdir()
        proc = subprocess.run([sys.executable, "-c", block], cwd=run_dir, env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert proc.returncode == 0, f"block {i}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"


def test_asgd_average_is_compared_and_a_wrong_average_is_caught():
    case = V.load_cases("asgd_averaging_from_t0")[0]
    assert case.average.shape == case.trajectory.shape
    assert np.abs(case.average[-1] - case.trajectory[-1]).max() > 1e-3     # ā really averages

    def wrong_average(c):
        step = V.suite.ours_factory(c)
        state = {}

        def stepper(g, lr):
            state["theta"] = step(g, lr)
            return state["theta"]
        stepper.average = lambda: state["theta"]           # forgot to average: ā = θ
        return stepper
    row = run_case(case, wrong_average)
    assert row.status == "differs" and row.note.startswith("ā first outside at step")
    assert 20 <= row.first_outside <= 25                   # t0 = 20: averaging starts there
    assert run_case(case, V.suite.ours_factory).note == "θ and ā compared"
