"""SGD (both forms, both Nesterovs) and SGD + history: PyTorch over 120 steps in float64
at 1e-10, the momentum witness, hand-computed steps and the NAG change of variables."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import optimizers as O
from tinygrad_ngd import verify as V
from tinygrad_ngd.flat import FlatParameters

PROBLEM = V.noisy_quadratic(n=9, steps=120, seed=3)


def assert_matches_torch(name, hyper, block_sizes=None, schedule=None, problem=PROBLEM):
    ours = V.run_tinygrad(problem, name, hyper, block_sizes=block_sizes, schedule=schedule)
    ref = V.run_torch(problem, name, hyper, block_sizes=block_sizes, schedule=schedule)
    report = V.compare(ref, ours, rtol=1e-10)
    assert report["ok"], (report["first_step_outside"], report["max_rel_error"].max())
    assert np.abs(ref[-1] - ref[0]).max() > 1e-2          # the run really moved


@pytest.mark.parametrize("hyper", [
    {"lr": 0.05},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.03, "momentum": 0.9, "nesterov": True},
    {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1},
    {"lr": 0.03, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05},
    {"lr": 0.01, "momentum": 0.8, "maximize": True},
    {"lr": [0.05, 0.01], "momentum": 0.9},
], ids=lambda h: ",".join(f"{k}={v}" for k, v in h.items()))
def test_sgd_matches_torch(torch, hyper):
    blocks = [6, 3] if isinstance(hyper["lr"], list) else None
    assert_matches_torch("SGD", hyper, block_sizes=blocks)


def _run_witness(form):
    tg.set_default_dtype("float64")
    p = FlatParameters.from_array(np.zeros(1))
    opt = O.SGD(p, lr=0.1, momentum=0.9, form=form)
    opt.step(grad=np.ones(1))
    opt.lr = 0.01
    opt.step(grad=np.ones(1))
    return float(p.data[0])


def test_momentum_witness_lr_inside_or_outside_the_velocity():
    # g = 1, μ = 0.9, lr 0.1 then 0.01 (the witness)
    assert _run_witness("pytorch") == pytest.approx(-0.119, abs=1e-15)
    assert _run_witness("notes") == pytest.approx(-0.200, abs=1e-15)


def test_notes_form_equals_pytorch_form_at_constant_lr():
    a = V.run_tinygrad(PROBLEM, "SGD", {"lr": 0.04, "momentum": 0.9})
    b = V.run_tinygrad(PROBLEM, "SGD", {"lr": 0.04, "momentum": 0.9, "form": "notes"})
    assert V.compare(a, b, rtol=1e-12)["ok"]
    c = V.run_tinygrad(PROBLEM, "SGD", {"lr": 0.04, "momentum": 0.9, "dampening": 0.5})
    assert not V.compare(a, c, rtol=1e-3)["ok"]          # and the comparison can fail


def _quadratic_closure(params, problem, k):
    def closure():
        params.grad[...] = problem.gradient(k, params.data)
        return problem.loss(params.data)
    return closure


def test_lookahead_nesterov_is_pytorch_nesterov_in_shifted_variables(torch):
    """θ̃ = θ − μv: the notes' look-ahead points are PyTorch's Nesterov iterates."""
    tg.set_default_dtype("float64")
    mu, lr = 0.9, 0.03
    params = FlatParameters.from_array(PROBLEM.theta0.copy())
    opt = O.SGD(params, lr=lr, momentum=mu, nesterov=True, form="notes")
    shifted, unshifted = [params.data.copy()], [params.data.copy()]
    for k in range(PROBLEM.steps):
        opt.step(closure=_quadratic_closure(params, PROBLEM, k))
        shifted.append(params.data - mu * opt.state["velocity"])
        unshifted.append(params.data.copy())
    ref = V.run_torch(PROBLEM, "SGD", {"lr": lr, "momentum": mu, "nesterov": True})
    report = V.compare(ref, np.array([B.to_numpy(t) for t in shifted]), rtol=1e-10)
    assert report["ok"], report["max_rel_error"].max()
    # without the change of variables the sequences differ from step 1 on
    assert V.compare(ref, np.array([B.to_numpy(t) for t in unshifted]), rtol=1e-6)["first_step_outside"] == 1


def test_lookahead_nesterov_hand_computed_steps():
    # f = ½θ², g = θ; θ₀ = 1, α = 0.1, μ = 0.9
    tg.set_default_dtype("float64")
    params = FlatParameters.from_array(np.array([1.0]))
    opt = O.SGD(params, lr=0.1, momentum=0.9, nesterov=True, form="notes")
    seen = []

    def closure():
        seen.append(float(params.data[0]))
        params.grad[...] = params.data

    opt.step(closure=closure)          # look-ahead 1.0, v = 0.1, θ = 0.9
    opt.step(closure=closure)          # look-ahead 0.81, v = 0.081 + 0.09 = 0.171, θ = 0.729
    assert seen == pytest.approx([1.0, 0.81], abs=1e-15)
    assert float(params.data[0]) == pytest.approx(0.729, abs=1e-15)
    assert float(opt.state["velocity"][0]) == pytest.approx(0.171, abs=1e-15)


def test_lookahead_nesterov_needs_a_closure():
    params = FlatParameters.from_array(np.zeros(3))
    opt = O.SGD(params, lr=0.1, momentum=0.9, nesterov=True, form="notes")
    with pytest.raises(ValueError, match="closure"):
        opt.step(grad=np.ones(3, dtype=np.float32))


def test_sgd_history_hand_computed():
    # w ← w − (η·Gᵗ + τ·Gᵗ⁻¹), η = 0.1, τ = 0.05, G = 1, 2, 3
    tg.set_default_dtype("float64")
    params = FlatParameters.from_array(np.zeros(2))
    opt = O.SGDHistory(params, lr=0.1, tau=0.05)
    expected = [-0.1, -0.35, -0.75]
    for g, want in zip((1.0, 2.0, 3.0), expected):
        opt.step(grad=np.full(2, g))
        assert B.to_numpy(params.data) == pytest.approx([want, want], abs=1e-15)


def test_sgd_history_with_tau_zero_is_sgd():
    a = V.run_tinygrad(PROBLEM, "SGDHistory", {"lr": 0.05, "tau": 0.0})
    b = V.run_tinygrad(PROBLEM, "SGD", {"lr": 0.05})
    assert np.array_equal(a, b)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lr=st.floats(1e-3, 0.08), momentum=st.sampled_from([0.0, 0.3, 0.9]),
       dampening=st.sampled_from([0.0, 0.4]), weight_decay=st.sampled_from([0.0, 0.02]),
       nesterov=st.booleans(), maximize=st.booleans())
def test_sgd_random_options_match_torch(torch, lr, momentum, dampening, weight_decay, nesterov, maximize):
    if nesterov and (momentum == 0 or dampening != 0):
        nesterov = False
    hyper = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
             "nesterov": nesterov, "maximize": maximize}
    prob = V.noisy_quadratic(n=5, steps=100, seed=8)
    report = V.compare(V.run_torch(prob, "SGD", hyper), V.run_tinygrad(prob, "SGD", hyper), rtol=1e-10)
    assert report["ok"], (hyper, report["max_rel_error"].max())
