"""The first-order update rules: each is one function in its method's module, written as
whole-array expressions (no ``out=`` plumbing, no math helper from a sibling module); the
base class's chunking does not change a bit; the fast forms equal the printed ones."""

import ast
import inspect
import math
import pathlib

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import optimizers as O
from tinygrad_ngd import verify as V
from tinygrad_ngd.flat import FlatParameters
from tinygrad_ngd.optimizers import adam as adam_module
from tinygrad_ngd.optimizers import adaptive_ngd as adaptive_ngd_module

OPT_DIR = pathlib.Path(O.__file__).parent

# method -> (module, rule function); the lecture map points at the same file:function
RULES = {
    "SGD (PyTorch form)": ("sgd", "sgd_update"),
    "SGD (notes' velocity form)": ("sgd", "sgd_velocity_update"),
    "SGDHistory": ("sgd_history", "sgd_history_update"),
    "Rprop": ("rprop", "rprop_update"),
    "DeltaBarDelta": ("delta_bar_delta", "delta_bar_delta_update"),
    "Adagrad": ("adagrad", "adagrad_update"),
    "RMSprop": ("rmsprop", "rmsprop_update"),
    "Adadelta": ("adadelta", "adadelta_update"),
    "Adam/AdamW/AMSGrad": ("adam", "adam_update"),
    "Adamax": ("adamax", "adamax_update"),
    "ASGD": ("averaging", "asgd_update"),
    "NGD": ("ngd", "ngd_update"),
    "AdaptiveNGD's λ rule": ("adaptive_ngd", "lambda_update"),
}

# Sibling modules a rule's module may import from: validators, the base class.  The
# normalized-gradient family also uses the norms ‖·‖ of [Kolasiński 2018, §2] (their
# definitions, shared by every NG method) and AdaptiveNGD the one velocity V = mV + G
# that the issue asks NGD and AdaptiveNGD to share (defined in ngd.py).
ALLOWED_SIBLINGS = {"checks", "base"}
EXTRA_ALLOWED = {"ngd": {"norms"}, "adaptive_ngd": {"norms", "ngd"}}
ALLOWED_FROM_NGD = {"velocity"}


def _tree(module):
    return ast.parse((OPT_DIR / f"{module}.py").read_text(encoding="utf-8"))


def _function(tree, name):
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    assert found, f"no top-level function {name}"
    return found[0]


@pytest.mark.parametrize("method", list(RULES))
def test_rule_is_expressions_without_out_calls(method):
    module, name = RULES[method]
    fn = _function(_tree(module), name)
    out_calls = [ast.unparse(n) for n in ast.walk(fn)
                 if isinstance(n, ast.Call) and any(k.arg == "out" for k in n.keywords)]
    assert not out_calls, f"{module}.{name} uses out= calls: {out_calls}"
    body = fn.body[1:] if isinstance(fn.body[0], ast.Expr) and isinstance(fn.body[0].value, ast.Constant) else fn.body
    lines = body[-1].end_lineno - body[0].lineno + 1
    assert lines <= 25, f"{module}.{name}: {lines} lines of code (expected one screen, <= 25)"


@pytest.mark.parametrize("method", list(RULES))
def test_rule_module_imports_no_math_helper_from_a_sibling(method):
    module, _ = RULES[method]
    allowed = ALLOWED_SIBLINGS | EXTRA_ALLOWED.get(module, set())
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            assert node.module in allowed, f"{module}.py imports from sibling .{node.module}"
            if node.module == "ngd":
                assert {a.name for a in node.names} <= ALLOWED_FROM_NGD, node.names
            if node.module == "base":
                assert {a.name for a in node.names} == {"Optimizer"}, f"{module}.py: validators come from checks"


def test_rule_check_catches_an_out_call():
    # the check itself can fail: a rule written with out= is reported
    fn = ast.parse("def r(theta, g):\n    np.subtract(theta, g, out=theta)\n").body[0]
    assert any(isinstance(n, ast.Call) and any(k.arg == "out" for k in n.keywords) for n in ast.walk(fn))


# the first-order and normalized-gradient modules (the second-order ones have other owners)
FIRST_ORDER_MODULES = {m for m, _ in RULES.values()} | {"clipping", "norms", "adagrad_bng", "ng_adap", "sgd_bb",
                                                         "block_normalized", "base"}


def test_one_validator_module_and_one_clipping_module():
    assert not (OPT_DIR / "clip.py").exists()            # one norm-clipping module (clipping.clip_by_norm)
    for module in FIRST_ORDER_MODULES:
        checks = [n.name for n in _tree(module).body
                  if isinstance(n, ast.FunctionDef) and n.name.lstrip("_").startswith("check")]
        assert not checks, f"{module}.py defines validators {checks}: they belong in checks.py"


# --------------------------------------------------------------------- chunking
ELEMENTWISE = [("SGD", {"lr": [0.05, 0.01], "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
               ("SGD", {"lr": [0.05, 0.01], "momentum": 0.9, "form": "notes"}),
               ("SGDHistory", {"lr": [0.05, 0.01], "tau": 0.02}),
               ("Rprop", {"lr": [0.05, 0.01], "variant": "rprop+"}),
               ("DeltaBarDelta", {"lr": [0.02, 0.01]}),
               ("Adagrad", {"lr": [0.1, 0.05], "lr_decay": 0.01}),
               ("RMSprop", {"lr": [0.01, 0.02], "centered": True, "momentum": 0.5, "alpha": 0.4}),
               ("Adadelta", {"lr": [1.0, 0.5], "weight_decay": 0.1}),
               ("Adam", {"lr": [0.05, 0.01], "amsgrad": True, "betas": (0.3, 0.99)}),
               ("AdamW", {"lr": [0.05, 0.01]}),
               ("Adamax", {"lr": [0.05, 0.01], "betas": (0.4, 0.9), "maximize": True}),
               ("ASGD", {"lr": [0.05, 0.01], "t0": 3, "weight_decay": 0.1})]


@pytest.mark.parametrize("name,hyper", ELEMENTWISE, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ELEMENTWISE)])
def test_chunked_update_is_bit_identical_to_one_chunk(name, hyper):
    """The base class's chunk views (here 3 float64 per chunk, straddling the block border)
    give exactly the numbers of one whole-vector call, per-block lr included."""
    rng = np.random.default_rng(3)
    grads = rng.standard_normal((40, 11))
    runs = []
    for chunk_bytes in (24, 1 << 30):
        params = FlatParameters.from_array(np.linspace(-1, 1, 11), block_sizes=[7, 4])
        opt = V.trajectory.make_optimizer(params, name, hyper)
        opt.chunk_bytes = chunk_bytes
        assert len(opt.chunks()) == (4 if chunk_bytes == 24 else 1)
        for g in grads:
            opt.step(grad=g.copy())
        runs.append(params.data.copy())
    np.testing.assert_array_equal(runs[0], runs[1])


def test_chunk_is_64_kib_of_float32_or_float64():
    for dtype, elements in ((np.float32, 16384), (np.float64, 8192)):
        opt = O.SGD(FlatParameters.from_array(np.zeros(40000, dtype=dtype)), lr=0.1)
        assert [s.stop - s.start for s in opt.chunks()][:2] == [elements, elements]


# --------------------------------------------------------------------- printed vs fast forms
def test_adam_efficient_step_equals_the_printed_form_in_float64():
    """Kingma & Ba's "efficient" θ ← θ − α√(1−β₂ᵗ)/(1−β₁ᵗ)·m/(√v + ε√(1−β₂ᵗ)) against the
    printed m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ), θ ← θ − α·m̂/(√v̂ + ε), over 100 steps."""
    tg.set_default_dtype("float64")
    rng = np.random.default_rng(11)
    grads = rng.standard_normal((100, 9)) * rng.uniform(1e-3, 10, 9)
    lr, b1, b2, eps = 0.01, 0.8, 0.99, 1e-6
    params = FlatParameters.from_array(np.linspace(-2, 2, 9))
    opt = O.Adam(params, lr=lr, betas=(b1, b2), eps=eps)
    theta, m, v = np.linspace(-2, 2, 9), np.zeros(9), np.zeros(9)
    for t, g in enumerate(grads, start=1):
        opt.step(grad=g.copy())
        m = b1 * m + (1 - b1) * g                       # printed
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(B.to_numpy(params.data), theta, rtol=1e-12, atol=0)


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.5, 0.7, 0.9, 0.999])
def test_lerp_branches_equal_the_printed_running_average(beta):
    """β·m + (1 − β)·g (printed) against both of PyTorch's lerp roundings that the rules use:
    m + (1 − β)(g − m) for 1 − β < ½ and g − β(g − m) otherwise, over 100 steps in float64."""
    rng = np.random.default_rng(int(beta * 1000))
    params = FlatParameters.from_array(np.zeros(50))
    opt = O.Adamax(params, lr=0.0, betas=(beta, 0.9))        # lr 0: only the average moves
    m = np.zeros(50)
    for g in rng.standard_normal((100, 50)):
        opt.step(grad=g.copy())
        m = beta * m + (1 - beta) * g
        scale = np.abs(beta * m) + np.abs((1 - beta) * g) + np.abs(m)
        assert np.all(np.abs(B.to_numpy(opt.state["exp_avg"]) - m) <= 1e-12 * scale)


# --------------------------------------------------------------------- AdaptiveNGD's λ rule
def test_lambda_update_is_algorithm_1():
    lam, g, g_prev = np.array([0.05]), np.array([1.0, 2.0, 2.0]), np.array([2.0, 0.0, 0.0])
    cos = 2.0 / (3.0 * 2.0)
    out = adaptive_ngd_module.lambda_update(lam, g, g_prev, form="multiplicative", beta=0.5,
                                            lr_min=1e-6, lr_max=0.1)
    np.testing.assert_allclose(out, 0.05 * (1 + 0.5 * cos), rtol=1e-15)
    out = adaptive_ngd_module.lambda_update(lam, g, g_prev, form="additive", beta=0.01,
                                            lr_min=1e-6, lr_max=0.1)
    np.testing.assert_allclose(out, 0.05 + 0.01 * 1.0, rtol=1e-15)      # Gᵀ Ĝ_prev = 1
    zero = adaptive_ngd_module.lambda_update(lam, g, 0 * g_prev, form="multiplicative", beta=0.5,
                                             lr_min=1e-6, lr_max=0.1)
    np.testing.assert_array_equal(zero, lam)                             # G^(−1) = 0: λ stays


def test_rule_docstrings_show_the_printed_adam_form():
    doc = inspect.getdoc(adam_module.adam_update)
    assert "m̂ = m/(1 − β₁ᵗ)" in doc and "ε̂ = ε·√(1 − β₂ᵗ)" in doc


# --------------------------------------------------------------------- issue 14 (optimizer items)
def test_asgd_takes_eta_from_the_lr_at_the_first_step():
    """torch sets ASGD's η at the first step: LinearLR(start_factor=0.1) makes it 0.1."""
    tg.set_default_dtype("float64")
    params = FlatParameters.from_array(np.zeros(1))
    opt = O.ASGD(params, lr=1.0)
    O.LinearLR(opt, start_factor=0.1)
    opt.step(grad=np.ones(1))
    assert float(params.data[0]) == pytest.approx(-0.1, rel=1e-15)


@pytest.mark.parametrize("schedule,blocks,hyper", [
    ({"name": "LinearLR", "start_factor": 0.1, "total_iters": 30}, None, {"lr": 0.05, "lambd": 1e-2}),
    ({"name": "StepLR", "step_size": 20, "gamma": 0.5}, None, {"lr": 0.05, "t0": 10, "alpha": 0.5}),
    ({"name": "ExponentialLR", "gamma": 0.98}, [6, 3], {"lr": [0.05, 0.02], "t0": 10, "lambd": 1e-2}),
    (None, [6, 3], {"lr": [0.05, 0.01], "t0": 5, "weight_decay": 0.05}),
])
def test_asgd_matches_torch_under_schedules_and_per_block_lr(torch, schedule, blocks, hyper):
    prob = V.noisy_quadratic(n=9, steps=120, seed=8)
    ref = V.run_torch(prob, "ASGD", hyper, schedule=schedule, block_sizes=blocks)
    ours = V.run_tinygrad(prob, "ASGD", hyper, schedule=schedule, block_sizes=blocks)
    report = V.compare(ref, ours, rtol=1e-10)
    assert report["ok"], (report["first_step_outside"], report["max_rel_error"].max())
    assert np.abs(ref[-1] - ref[0]).max() > 1e-2


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adadelta"])
def test_float32_squares_of_huge_finite_gradients_stay_finite(torch, name):
    """One finite float32 gradient of 2e19: g·g = 4e38 overflows, (1 − β₂)·g·g does not;
    the coordinate keeps moving afterwards and the state equals PyTorch's."""
    g0 = np.array([2e19, 1.0, -2.0], dtype=np.float32)
    later = np.array([0.5, -0.5, 0.25], dtype=np.float32)
    hyper = {"lr": 0.01}
    params = FlatParameters.from_array(np.zeros(3, dtype=np.float32))
    opt = getattr(O, name)(params, **hyper)
    w = torch.nn.Parameter(torch.zeros(3, dtype=torch.float32))
    ref = getattr(torch.optim, name)([w], foreach=False, **hyper)
    for g in (g0, later, later, later):
        opt.step(grad=g.copy())
        w.grad = torch.from_numpy(g.copy())
        ref.step()
    key = {"Adam": "exp_avg_sq", "AdamW": "exp_avg_sq", "RMSprop": "square_avg", "Adadelta": "square_avg"}[name]
    assert np.all(np.isfinite(opt.state[key])) and np.all(np.isfinite(params.data))
    np.testing.assert_allclose(B.to_numpy(opt.state[key]), ref.state[w][key].numpy(), rtol=1e-6)
    np.testing.assert_allclose(B.to_numpy(params.data), w.detach().numpy(), rtol=1e-5, atol=1e-7)


def test_adam_float32_huge_gradient_then_the_coordinate_still_moves():
    params = FlatParameters.from_array(np.zeros(2, dtype=np.float32))
    opt = O.Adam(params, lr=0.01)
    opt.step(grad=np.array([2e19, 1.0], dtype=np.float32))
    assert np.isfinite(opt.state["exp_avg_sq"][0])
    before = params.data.copy()
    opt.step(grad=np.array([1.0, 1.0], dtype=np.float32))
    assert params.data[0] != before[0]


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Rprop", "ASGD", "NGD"])
def test_integer_gradient_is_a_clear_type_error_and_changes_nothing(name):
    params = FlatParameters.from_array(np.linspace(-1, 1, 4))
    opt = getattr(O, name)(params, lr=0.1)
    before = params.data.copy()
    with pytest.raises(TypeError, match=r"step: grad has dtype int64, expected a floating-point array"):
        opt.step(grad=np.arange(4, dtype=np.int64))
    np.testing.assert_array_equal(B.to_numpy(params.data), B.to_numpy(before))
    assert opt.step_count == 0 and not opt.state


NUMPY_SCALAR_CASES = [
    ("SGD", {"lr": np.float32(0.1), "momentum": np.float64(0.9), "weight_decay": np.float32(1e-4)}),
    ("SGDHistory", {"lr": np.float32(0.1), "tau": np.float16(0.01)}),
    ("Rprop", {"lr": np.float32(0.1), "etas": (np.float32(0.5), np.float32(1.2))}),
    ("DeltaBarDelta", {"lr": np.float32(0.1), "phi": np.float32(0.1)}),
    ("Adagrad", {"lr": np.float32(0.1), "eps": np.float32(1e-10)}),
    ("RMSprop", {"lr": np.float32(0.01), "alpha": np.float32(0.99)}),
    ("Adadelta", {"lr": np.int64(1), "rho": np.float32(0.9)}),
    ("Adam", {"lr": np.float32(0.001), "betas": (np.float32(0.9), np.float64(0.999))}),
    ("Adamax", {"lr": np.float32(0.002)}),
    ("ASGD", {"lr": np.float32(0.01), "t0": np.int64(10)}),
    ("NGD", {"lr": np.float32(0.01), "momentum": np.float32(0.5)}),
    ("AdaptiveNGD", {"lr": np.float32(0.01), "beta": np.float32(0.1)}),
]


@pytest.mark.parametrize("name,hyper", NUMPY_SCALAR_CASES, ids=[n for n, _ in NUMPY_SCALAR_CASES])
def test_numpy_scalar_hyper_parameters_are_accepted_and_stored_as_python_numbers(name, hyper):
    params = FlatParameters.from_array(np.linspace(-1, 1, 4))
    opt = getattr(O, name)(params, **hyper)
    opt.step(grad=np.array([0.3, -0.2, 0.1, 0.4]))
    assert type(opt.hyper["lr"]) in (int, float) and opt.hyper["lr"] == hyper["lr"].item()
    assert np.all(np.isfinite(params.data))
    opt.lr = np.float32(0.5)                              # a schedule or a user may set one too
    assert type(opt.lr) is float


@pytest.mark.parametrize("bad", [True, np.bool_(True), float("nan"), np.float32("inf"), "0.1", None])
def test_bools_non_finite_and_strings_are_refused_with_the_argument_named(bad):
    params = FlatParameters.from_array(np.zeros(3))
    with pytest.raises(ValueError, match="invalid lr"):
        O.SGD(params, lr=bad)
    with pytest.raises(ValueError, match=r"invalid betas\[0\]"):
        O.Adam(params, betas=(bad, 0.999))


def test_sgd_with_float32_lr_matches_python_float_of_it():
    a = FlatParameters.from_array(np.ones(3))
    b = FlatParameters.from_array(np.ones(3))
    O.SGD(a, lr=np.float32(0.1)).step(grad=np.ones(3))
    O.SGD(b, lr=float(np.float32(0.1))).step(grad=np.ones(3))
    np.testing.assert_array_equal(B.to_numpy(a.data), B.to_numpy(b.data))
    assert math.isclose(a.data[0], 0.9, rel_tol=1e-7)


def test_asgd_per_block_rates_resume_bit_for_bit_from_a_checkpoint(tmp_path):
    from tinygrad_ngd import layers as L
    from tinygrad_ngd.checkpoint import load_checkpoint, save_checkpoint
    tg.set_default_dtype("float64")
    rng = np.random.default_rng(4)

    def make():
        tg.manual_seed(0)
        model = L.Sequential(L.Dense(3, 2), L.Dense(2, 1))
        params = tg.FlatParameters(model)
        lr = [0.05 / (i + 1) for i in range(len(params.blocks))]
        return model, params, O.ASGD(params, lr=lr, t0=2, lambd=1e-2)

    grads = rng.standard_normal((10, make()[1].numel))
    model, params, opt = make()
    for g in grads[:5]:
        opt.step(grad=g.copy())
    save_checkpoint(tmp_path / "asgd.npz", model, opt)
    for g in grads[5:]:
        opt.step(grad=g.copy())
    model2, params2, opt2 = make()
    load_checkpoint(tmp_path / "asgd.npz", model2, opt2)
    assert isinstance(opt2.scalars["eta"], list) and len(opt2.scalars["eta"]) == len(params2.blocks)
    for g in grads[5:]:
        opt2.step(grad=g.copy())
    np.testing.assert_array_equal(B.to_numpy(params2.data), B.to_numpy(params.data))
    np.testing.assert_array_equal(B.to_numpy(opt2.averaged()), B.to_numpy(opt.averaged()))


def test_integer_counts_accept_numpy_integers_and_refuse_bools_and_floats():
    params = FlatParameters.from_array(np.zeros(3))
    assert O.PolyakAverage(params, window=np.int64(3)).window == 3
    for bad in (True, np.bool_(True), 2.5, "3", 0):
        with pytest.raises(ValueError, match="invalid window"):
            O.PolyakAverage(params, window=bad)
