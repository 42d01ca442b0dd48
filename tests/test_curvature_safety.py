"""step_safety: [Ravasi]'s −αgᵀg + ½α²gᵀHg is the exact loss change of a quadratic."""

import math

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import curvature as C
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L


@pytest.fixture
def quadratic(rng):
    tg.set_default_dtype("float64")
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    A = Q @ np.diag([0.1, 0.5, 1, 2, 10, 40.0]) @ Q.T
    b = rng.standard_normal(6)
    params = tg.FlatParameters.from_array(rng.standard_normal(6))
    th = params.parameters[0]
    loss_fn = lambda: 0.5 * (th @ tg.Tensor(A) @ th) + (th * tg.Tensor(b)).sum() + 3.0
    return params, loss_fn, A, b


def J(theta, A, b):
    return 0.5 * theta @ A @ theta + b @ theta + 3.0


@pytest.mark.parametrize("alpha", [1e-3, 0.01, 0.05, 0.2])
def test_prediction_equals_true_change_of_a_quadratic(quadratic, alpha):
    params, loss_fn, A, b = quadratic
    theta = B.to_numpy(params.data).copy()
    g = A @ theta + b
    s = C.step_safety(loss_fn=loss_fn, params=params, alpha=alpha)
    true_change = J(theta - alpha * g, A, b) - J(theta, A, b)
    assert s.predicted_change == pytest.approx(true_change, rel=1e-12)
    assert s.gTg == pytest.approx(g @ g, rel=1e-14) and s.gTHg == pytest.approx(g @ A @ g, rel=1e-13)
    assert s.safe == (true_change < 0) == (alpha < s.alpha_max)


def test_alpha_max_and_alpha_best(quadratic):
    params, _loss_fn, A, b = quadratic
    theta = B.to_numpy(params.data).copy()
    g = A @ theta + b
    s = C.step_safety(g, A @ g, alpha=1.0)
    assert s.alpha_max == pytest.approx(2 * (g @ g) / (g @ A @ g), rel=1e-14)
    # at α_max the quadratic returns to its starting value; α_best is the minimizer along −g
    assert J(theta - s.alpha_max * g, A, b) == pytest.approx(J(theta, A, b), rel=1e-12)
    d = 1e-4 * s.alpha_best
    f = [J(theta - a * g, A, b) for a in (s.alpha_best - d, s.alpha_best, s.alpha_best + d)]
    assert f[1] < f[0] and f[1] < f[2]
    s_big = C.step_safety(g, A @ g, alpha=1.01 * s.alpha_max)
    assert not s_big.safe and J(theta - s_big.alpha * g, A, b) > J(theta, A, b)


def test_negative_curvature_along_g_has_no_bound():
    g = np.array([1.0, 0.0])
    s = C.step_safety(g, np.array([-2.0, 0.0]), alpha=10.0)
    assert math.isinf(s.alpha_max) and s.safe and s.predicted_change == pytest.approx(-10 - 100)


def test_on_a_network_matches_hvp(rng):
    tg.set_default_dtype("float64")
    model = L.Sequential(L.Dense(3, 4), L.Sigmoid(), L.Dense(4, 2))
    params = tg.FlatParameters(model)
    x, y = rng.standard_normal((5, 3)), rng.integers(0, 2, size=5)
    loss_fn = lambda: F.cross_entropy(model(tg.Tensor(x)), y)
    _, g = C.gradient(loss_fn, params)
    s = C.step_safety(loss_fn=loss_fn, params=params, alpha=0.3)
    assert s.gTHg == pytest.approx(float(g @ C.hvp(loss_fn, params, g)), rel=1e-13)


def test_step_safety_bad_input(quadratic):
    _params, _loss_fn, _A, _b = quadratic
    with pytest.raises(ValueError, match="alpha must be"):
        C.step_safety(np.ones(6), np.ones(6), alpha=0.0)
    with pytest.raises(ValueError, match="give g and Hg"):
        C.step_safety(np.ones(6), alpha=0.1)
    with pytest.raises(ValueError, match="Hg must be a flat vector of length 6"):
        C.step_safety(np.ones(6), np.ones(5), alpha=0.1)
