"""Bad input (ValueErrors naming the argument), non-finite gradients (FloatingPointError
naming step and block, or counted skips), and checkpoints for every optimizer."""

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import optimizers as O
from tinygrad_ngd import verify as V
from tinygrad_ngd.flat import FlatParameters

ALL = [("SGD", {"lr": 0.05, "momentum": 0.9}), ("SGD", {"lr": 0.05, "momentum": 0.9, "form": "notes"}),
       ("SGDHistory", {"lr": 0.05, "tau": 0.02}), ("Rprop", {"lr": 0.05}),
       ("Rprop", {"lr": 0.05, "variant": "rprop+"}), ("DeltaBarDelta", {"lr": 0.02}),
       ("Adagrad", {"lr": 0.1}), ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
       ("Adadelta", {}), ("Adam", {"lr": 0.05, "amsgrad": True}), ("AdamW", {"lr": 0.05}),
       ("Adamax", {"lr": 0.05}), ("ASGD", {"lr": 0.05, "t0": 5})]


def _params(n=5, blocks=None, dtype=np.float64):
    return FlatParameters.from_array(np.linspace(-1, 1, n).astype(dtype), block_sizes=blocks,
                                     names=None if blocks is None else ["dense1", "dense2"])


@pytest.mark.parametrize("make,match", [
    (lambda p: O.SGD(p, lr=-0.1), "lr"),
    (lambda p: O.SGD(p, lr=0.1, momentum=-0.5), "momentum"),
    (lambda p: O.SGD(p, lr=0.1, weight_decay=-1e-4), "weight_decay"),
    (lambda p: O.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (lambda p: O.SGD(p, lr=0.1, nesterov=True), "nesterov"),
    (lambda p: O.SGD(p, lr=0.1, form="keras"), "form"),
    (lambda p: O.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, form="notes"), "dampening"),
    (lambda p: O.SGD(p, lr=[0.1, 0.2, 0.3]), "lr"),
    (lambda p: O.Adam(p, betas=(0.9, 1.0)), "betas"),
    (lambda p: O.Adam(p, betas=(-0.1, 0.999)), "betas"),
    (lambda p: O.Adam(p, betas=(0.9,)), "betas"),
    (lambda p: O.Adam(p, eps=0.0), "eps"),
    (lambda p: O.Adam(p, eps=-1e-8), "eps"),
    (lambda p: O.Adam(p, weight_decay=-0.1), "weight_decay"),
    (lambda p: O.Adam(p, eps_mode="inside_sqrt"), "eps_mode"),
    (lambda p: O.AdamW(p, lr=-1.0), "lr"),
    (lambda p: O.Adamax(p, betas=(0.9, 1.5)), "betas"),
    (lambda p: O.RMSprop(p, alpha=1.0), "alpha"),
    (lambda p: O.RMSprop(p, momentum=-0.1), "momentum"),
    (lambda p: O.RMSprop(p, eps=0), "eps"),
    (lambda p: O.Adagrad(p, lr_decay=-0.1), "lr_decay"),
    (lambda p: O.Adagrad(p, initial_accumulator_value=-1.0), "initial_accumulator_value"),
    (lambda p: O.Adadelta(p, rho=1.2), "rho"),
    (lambda p: O.Rprop(p, etas=(1.5, 1.2)), "etas"),
    (lambda p: O.Rprop(p, step_sizes=(1.0, 0.1)), "step_sizes"),
    (lambda p: O.Rprop(p, variant="rprop"), "variant"),
    (lambda p: O.Rprop(p, lr=0.0), "lr"),
    (lambda p: O.DeltaBarDelta(p, phi=1.0), "phi"),
    (lambda p: O.DeltaBarDelta(p, kappa=-1.0), "kappa"),
    (lambda p: O.SGDHistory(p, tau=-1.0), "tau"),
    (lambda p: O.ASGD(p, lambd=-1.0), "lambd"),
    (lambda p: O.ASGD(p, lr=[0.1, 0.1, 0.1]), "lr"),       # per block is allowed (issue 14); 3 for 2 blocks is not
])
def test_bad_hyper_parameters_name_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make(_params(6, blocks=[4, 2]))


def test_eps_that_rounds_to_zero_in_the_parameter_dtype():
    with pytest.raises(ValueError, match="eps.*rounds to 0 in float32"):
        O.Adam(_params(dtype=np.float32), eps=1e-50)
    O.Adam(_params(dtype=np.float64), eps=1e-50)          # representable in float64


def test_params_must_be_flat_parameters():
    with pytest.raises(TypeError, match="FlatParameters"):
        O.Adam(np.zeros(3))


@pytest.mark.parametrize("name,hyper", ALL, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ALL)])
def test_gradient_of_wrong_size(name, hyper):
    opt = V.trajectory.make_optimizer(_params(5), name, hyper)
    with pytest.raises(ValueError, match=r"grad has shape \(4,\).*expected \(5,\)"):
        opt.step(grad=np.ones(4))


@pytest.mark.parametrize("name,hyper", ALL, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ALL)])
def test_nonfinite_gradient_names_step_and_block_and_changes_nothing(name, hyper):
    params = _params(6, blocks=[4, 2])
    opt = V.trajectory.make_optimizer(params, name, hyper)
    opt.step(grad=np.full(6, 0.5))
    before = params.data.copy()
    state = {k: v.copy() for k, v in opt.state.items()}
    bad = np.full(6, 0.5)
    bad[5] = np.nan
    with pytest.raises(FloatingPointError, match=r"step 2 in block\(s\) \['dense2'\]"):
        opt.step(grad=bad)
    np.testing.assert_array_equal(B.to_numpy(params.data), B.to_numpy(before))
    for k, v in state.items():
        np.testing.assert_array_equal(B.to_numpy(opt.state[k]), B.to_numpy(v))
    assert opt.step_count == 1


def test_skip_nonfinite_counts_skipped_steps():
    params = _params(6, blocks=[4, 2])
    opt = O.Adam(params, lr=0.1, skip_nonfinite=True)
    opt.step(grad=np.full(6, 0.5))
    before = params.data.copy()
    opt.step(grad=np.array([np.inf, 0, 0, 0, 0, 0]))
    opt.step(grad=np.array([0, 0, 0, 0, 0, -np.inf]))
    assert opt.skipped_steps == 2 and opt.step_count == 1
    np.testing.assert_array_equal(B.to_numpy(params.data), B.to_numpy(before))
    opt.step(grad=np.full(6, 0.5))
    assert opt.step_count == 2


def test_large_finite_gradient_is_not_mistaken_for_nonfinite():
    # g·g overflows in float32 but every entry is finite: the exact test must accept it
    params = _params(3, dtype=np.float32)
    opt = O.SGD(params, lr=1e-30)
    opt.step(grad=np.full(3, 1e30, dtype=np.float32))
    assert opt.step_count == 1 and np.isfinite(params.data).all()


@pytest.mark.parametrize("name,hyper", ALL, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ALL)])
def test_state_dict_resume_is_bitwise(name, hyper):
    prob = V.noisy_quadratic(n=5, steps=30, seed=4)
    tg.set_default_dtype("float64")
    full = V.run_tinygrad(prob, name, hyper)
    params = FlatParameters.from_array(prob.theta0.copy())
    opt = V.trajectory.make_optimizer(params, name, hyper)
    for k in range(12):
        opt.step(grad=prob.gradient(k, params.data).copy())
    saved, theta = opt.state_dict(), params.data.copy()
    params2 = FlatParameters.from_array(theta)
    opt2 = V.trajectory.make_optimizer(params2, name, hyper)
    opt2.load_state_dict(saved)
    for k in range(12, 30):
        opt2.step(grad=prob.gradient(k, params2.data).copy())
    np.testing.assert_array_equal(B.to_numpy(params2.data), full[-1])


def test_load_state_dict_checks_shapes():
    opt = O.Adam(_params(5))
    opt.step(grad=np.ones(5))
    state = opt.state_dict()
    other = O.Adam(_params(4))
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict(state)


@pytest.mark.parametrize("name,hyper", ALL, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ALL)])
def test_float32_parameters_keep_float32_state_and_track_float64(name, hyper):
    prob = V.noisy_quadratic(n=6, steps=40, seed=1)
    ref = V.run_tinygrad(prob, name, hyper, dtype="float64")
    params = FlatParameters.from_array(prob.theta0.astype(np.float32))
    opt = V.trajectory.make_optimizer(params, name, hyper)
    for k in range(prob.steps):
        opt.step(grad=prob.gradient(k, params.data).astype(np.float32))
    assert params.data.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state.values())
    np.testing.assert_allclose(B.to_numpy(params.data), ref[-1], rtol=1e-4, atol=1e-5)
