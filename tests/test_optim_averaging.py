"""Polyak averaging ([Ravasi]) and ASGD (torch.optim.ASGD), evaluated at the average."""

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import optimizers as O
from tinygrad_ngd import verify as V
from tinygrad_ngd.flat import FlatParameters

PROBLEM = V.noisy_quadratic(n=9, steps=120, seed=13)


@pytest.mark.parametrize("hyper", [
    {"lr": 0.05, "t0": 20},
    {"lr": 0.05, "t0": 30, "lambd": 1e-2, "alpha": 0.6, "weight_decay": 0.05},
    {"lr": 0.02, "t0": 10, "maximize": True},
], ids=str)
def test_asgd_iterates_and_average_match_torch(torch, hyper):
    ours = V.run_tinygrad(PROBLEM, "ASGD", hyper)
    ref = V.run_torch(PROBLEM, "ASGD", hyper)
    report = V.compare(ref, ours, rtol=1e-10)
    assert report["ok"], (report["first_step_outside"], report["max_rel_error"].max())
    # the running average ā against torch's state["ax"]
    tg.set_default_dtype("float64")
    params = FlatParameters.from_array(PROBLEM.theta0.copy())
    opt = O.ASGD(params, **hyper)
    p = torch.nn.Parameter(torch.tensor(PROBLEM.theta0.copy()))
    topt = torch.optim.ASGD([p], foreach=False, **hyper)
    for k in range(PROBLEM.steps):
        g = PROBLEM.gradient(k, params.data)
        opt.step(grad=g.copy())
        p.grad = torch.tensor(PROBLEM.gradient(k, p.detach().numpy()))
        topt.step()
    ax_torch = topt.state[p]["ax"].numpy()
    np.testing.assert_allclose(B.to_numpy(opt.averaged()), ax_torch, rtol=1e-10, atol=1e-12)
    assert np.abs(opt.averaged() - params.data).max() > 1e-4      # averaging did something


def test_polyak_average_of_last_n_iterates_and_swap():
    tg.set_default_dtype("float64")
    params = FlatParameters.from_array(np.zeros(3))
    opt = O.SGD(params, lr=1.0)
    avg = O.PolyakAverage(params, window=3)
    iterates = []
    for k in range(1, 6):
        opt.step(grad=np.full(3, -float(k)))        # θ_k = 1 + 2 + … + k
        avg.update()
        iterates.append(B.to_numpy(params.data.copy()))
    want = np.mean(iterates[-3:], axis=0)           # θ̄ = (θ₅ + θ₄ + θ₃)/3 = (15 + 10 + 6)/3
    np.testing.assert_allclose(B.to_numpy(avg.average()), want, rtol=1e-15)
    assert float(avg.average()[0]) == pytest.approx(31 / 3)
    before = params.data.copy()
    with avg.swapped():
        np.testing.assert_array_equal(B.to_numpy(params.data), want)
    np.testing.assert_array_equal(B.to_numpy(params.data), B.to_numpy(before))   # restored exactly


def test_polyak_average_before_the_window_fills_and_errors():
    params = FlatParameters.from_array(np.arange(3.0))
    avg = O.PolyakAverage(params, window=4)
    with pytest.raises(ValueError, match="no iterate"):
        avg.average()
    avg.update()
    np.testing.assert_array_equal(B.to_numpy(avg.average()), np.arange(3.0))
    with pytest.raises(ValueError, match="window"):
        O.PolyakAverage(params, window=0)


def test_asgd_swapped_evaluates_at_the_average_and_restores():
    tg.set_default_dtype("float64")
    params = FlatParameters.from_array(PROBLEM.theta0.copy())
    opt = O.ASGD(params, lr=0.05, t0=5)
    for k in range(40):
        opt.step(grad=PROBLEM.gradient(k, params.data).copy())
    before = params.data.copy()
    with opt.swapped():
        at_average = params.data.copy()
        loss_avg = PROBLEM.loss(params.data)
    np.testing.assert_array_equal(B.to_numpy(at_average), B.to_numpy(opt.averaged()))
    np.testing.assert_array_equal(B.to_numpy(params.data), B.to_numpy(before))
    assert loss_avg != PROBLEM.loss(before)


def test_averaging_denoises_iterates_bouncing_around_the_minimum():
    """[Ravasi]: near a minimum the iterates bounce around the valley; their average is
    closer to it.  Start at θ* so only the gradient noise moves the iterates."""
    tg.set_default_dtype("float64")
    prob = V.noisy_quadratic(n=9, steps=200, seed=2, noise=1.0)
    prob.theta0 = prob.theta_star.copy()
    params = FlatParameters.from_array(prob.theta0.copy())
    opt = O.SGD(params, lr=0.1)
    avg = O.PolyakAverage(params, window=100)
    for k in range(prob.steps):
        opt.step(grad=prob.gradient(k, params.data).copy())
        avg.update()
    last = prob.loss(params.data)
    with avg.swapped():
        averaged = prob.loss(params.data)
    assert averaged < 0.2 * last
