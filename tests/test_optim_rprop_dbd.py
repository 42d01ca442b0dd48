"""Rprop (PyTorch's iRprop−, [Misra]'s rule, Riedmiller–Braun's backtracking) and
delta-bar-delta ([Ravasi]): torch over 120 steps, goldens and hand-computed steps."""

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import optimizers as O
from tinygrad_ngd import verify as V
from tinygrad_ngd.flat import FlatParameters

PROBLEM = V.noisy_quadratic(n=9, steps=120, seed=11)


@pytest.mark.parametrize("hyper", [
    {"lr": 0.05},
    {"lr": 0.02, "etas": (0.3, 1.5), "step_sizes": (1e-4, 0.2)},
    {"lr": 0.05, "maximize": True},
    {"lr": [0.05, 0.01]},
], ids=str)
def test_rprop_matches_torch(torch, hyper):
    blocks = [6, 3] if isinstance(hyper["lr"], list) else None
    ours = V.run_tinygrad(PROBLEM, "Rprop", hyper, block_sizes=blocks)
    ref = V.run_torch(PROBLEM, "Rprop", hyper, block_sizes=blocks)
    report = V.compare(ref, ours, rtol=1e-10)
    assert report["ok"], (report["first_step_outside"], report["max_rel_error"].max())
    assert np.abs(ref[-1] - ref[0]).max() > 1e-2


def _steps(variant, grads, **kw):
    tg.set_default_dtype("float64")
    p = FlatParameters.from_array(np.zeros(1))
    opt = O.Rprop(p, lr=0.1, variant=variant, **kw)
    theta = [0.0]
    for g in grads:
        opt.step(grad=np.array([float(g)]))
        theta.append(float(p.data[0]))
    return -np.diff(theta)              # the step taken against the gradient direction


def test_rprop_golden_irprop_minus():
    # lr 0.1, gradients 1, 1, 1, −1, 1 → steps 0.1, 0.12, 0.144, 0, 0.072
    np.testing.assert_allclose(_steps("irprop-", [1, 1, 1, -1, 1]), [0.1, 0.12, 0.144, 0.0, 0.072],
                               rtol=1e-14, atol=1e-16)


def test_rprop_notes_rule_moves_by_sign_on_a_flip():
    # [Misra]: v_t = η⁻v_{t−1} on a flip and θ moves by −sign(f′)·v_t at once
    np.testing.assert_allclose(_steps("rprop-", [1, 1, 1, -1, 1]), [0.1, 0.12, 0.144, -0.072, 0.036],
                               rtol=1e-14)


def test_rprop_plus_backtracks_the_previous_update():
    # Riedmiller & Braun 1993: on a flip undo the last Δw (−0.144), then restart from "no sign"
    np.testing.assert_allclose(_steps("rprop+", [1, 1, 1, -1, 1]), [0.1, 0.12, 0.144, -0.144, 0.072],
                               rtol=1e-14)


def test_rprop_step_size_bounds_and_manhattan_rule():
    np.testing.assert_allclose(_steps("irprop-", [1] * 6, step_sizes=(1e-6, 0.15)),
                               [0.1, 0.12, 0.144, 0.15, 0.15, 0.15], rtol=1e-14)
    # η⁻ = η⁺ = 1: the Manhattan update rule ([Misra]): fixed steps of size δ
    np.testing.assert_allclose(_steps("rprop-", [3, -1, 2, 5, -7], etas=(1.0, 1.0)),
                               [0.1, -0.1, 0.1, 0.1, -0.1], rtol=1e-14)


def test_rprop_only_sees_signs():
    a = V.run_tinygrad(V.fixed_gradients(5, 40, seed=1), "Rprop", {"lr": 0.01})
    scaled = V.fixed_gradients(5, 40, seed=1)
    scaled.grads = scaled.grads * np.linspace(0.001, 1000, 5)
    b = V.run_tinygrad(scaled, "Rprop", {"lr": 0.01})
    assert np.array_equal(a, b)


def test_delta_bar_delta_hand_computed():
    # ε₀ = 0.1, κ = 0.05, φ = 0.5, θ̄ = 0.5; gradients 1, 1, −1, −1
    tg.set_default_dtype("float64")
    p = FlatParameters.from_array(np.zeros(1))
    opt = O.DeltaBarDelta(p, lr=0.1, kappa=0.05, phi=0.5, theta_bar=0.5)
    # step 1: δ̄₀ = 0 → rate 0.1, θ = −0.1, δ̄ = 0.5
    # step 2: δ̄·g > 0 → rate 0.15, θ = −0.25, δ̄ = 0.75
    # step 3: δ̄·g < 0 → rate 0.075, θ = −0.175, δ̄ = −0.125
    # step 4: δ̄·g > 0 → rate 0.125, θ = −0.05, δ̄ = −0.5625
    expected = [(-0.1, 0.1), (-0.25, 0.15), (-0.175, 0.075), (-0.05, 0.125)]
    for g, (theta, rate) in zip((1.0, 1.0, -1.0, -1.0), expected):
        opt.step(grad=np.array([g]))
        assert float(p.data[0]) == pytest.approx(theta, abs=1e-15)
        assert float(opt.state["rate"][0]) == pytest.approx(rate, abs=1e-15)
    assert float(opt.state["bar_delta"][0]) == pytest.approx(-0.5625, abs=1e-15)


def test_delta_bar_delta_rates_grow_on_consistent_sign_and_shrink_on_oscillation():
    tg.set_default_dtype("float64")
    p = FlatParameters.from_array(np.zeros(2))
    opt = O.DeltaBarDelta(p, lr=0.01, kappa=0.001, phi=0.2, theta_bar=0.0)
    for k in range(20):
        opt.step(grad=np.array([1.0, (-1.0) ** k]))
    steady, oscillating = B.to_numpy(opt.state["rate"])
    assert steady == pytest.approx(0.01 + 19 * 0.001, abs=1e-15)       # additive growth
    assert oscillating == pytest.approx(0.01 * 0.8 ** 19, rel=1e-13)    # multiplicative decay
