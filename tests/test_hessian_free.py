"""HessianFree (Martens 2010): Gauss-Newton CG with LM damping, warm starts, backtracking."""

import math

import numpy as np
import pytest
from test_newton_cg import deep_autoencoder, mnist_batch

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import curvature as C
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd import optimizers as O


def linear_least_squares(rng):
    tg.set_default_dtype("float64")
    model = L.Dense(5, 2)
    params = tg.FlatParameters(model)
    X, T = rng.standard_normal((20, 5)), rng.standard_normal((20, 2))
    return model, params, X, T, (lambda: model(tg.Tensor(X)))


def test_on_least_squares_gauss_newton_is_exact_and_damping_drops(rng):
    _model, params, X, T, output_fn = linear_least_squares(rng)
    opt = O.HessianFree(params, damping=1e-8, loss="mse", cg_maxiter=50)
    f = lambda: F.mse_loss(output_fn(), tg.Tensor(T)).item()
    opt.step(closure=output_fn, targets=T)
    r = opt.last_result
    # G = H for a linear model with squared error, so ρ ≈ 1 and λ shrinks by 2/3
    assert r.rho == pytest.approx(1.0, abs=1e-6) and opt.damping == pytest.approx(1e-8 * 2 / 3)
    assert r.rate == 1.0 and not r.negative_curvature
    Xb = np.hstack([X, np.ones((20, 1))])
    W = np.linalg.lstsq(Xb, T, rcond=None)[0]
    best = np.mean((Xb @ W - T) ** 2)
    assert f() == pytest.approx(best, rel=1e-8)  # one step reaches the least-squares minimum


def test_damping_rises_when_the_model_overpredicts(rng):
    """A tiny λ on a curved problem: the first step overshoots, ρ < 1/4 and λ grows by 3/2."""
    tg.set_default_dtype("float64")
    model = L.Sequential(L.Dense(3, 8), L.Tanh(), L.Dense(8, 3))
    params = tg.FlatParameters(model)
    x, y = rng.standard_normal((10, 3)) * 3, rng.integers(0, 3, size=10)
    opt = O.HessianFree(params, damping=1e-6, cg_maxiter=200)
    lam = [opt.damping]
    for _ in range(6):
        opt.step(closure=lambda: model(tg.Tensor(x)), targets=y)
        r = opt.last_result
        expected = lam[-1] * (1.5 if (r.rho < 0.25 or math.isnan(r.rho)) else (2 / 3 if r.rho > 0.75 else 1.0))
        assert opt.damping == pytest.approx(expected, rel=1e-15)
        lam.append(opt.damping)
    assert r.loss_after <= r.loss


def test_martens_pieces():
    tg.set_default_dtype("float64")
    params = tg.FlatParameters.from_array(np.zeros(3))
    opt = O.HessianFree(params)
    pts = sorted(opt._save_points(30))
    assert pts == sorted({math.ceil(1.3 ** j) for j in range(20) if math.ceil(1.3 ** j) <= 30})
    assert pts[:6] == [1, 2, 3, 4, 5, 7]
    # progress test: k = max(10, ⌈0.1 i⌉); stop when (φ_i − φ_{i−k})/φ_i < k·ε
    phis = {i: -1.0 + 0.5 ** i for i in range(1, 40)}
    assert not opt._progress_stop(phis, 10)               # i must exceed k
    assert opt._progress_stop(phis, 25)                   # converged: relative progress tiny
    slow = {i: -float(i) for i in range(1, 40)}           # still improving by ~k/i per k steps
    assert not opt._progress_stop(slow, 25)


def test_warm_start_and_cg_iterate_backtracking(rng):
    tg.set_default_dtype("float64")
    model = L.Sequential(L.Dense(4, 6), L.Tanh(), L.Dense(6, 3))
    params = tg.FlatParameters(model)
    x, y = rng.standard_normal((12, 4)), rng.integers(0, 3, size=12)
    opt = O.HessianFree(params, damping=0.1)
    opt.step(closure=lambda: model(tg.Tensor(x)), targets=y)
    r = opt.last_result
    np.testing.assert_array_equal(B.to_numpy(opt.state["cg_direction"]), B.to_numpy(r.cg.x))   # kept for the next warm start
    assert r.cg_iterate in r.saved_iterates and r.saved_iterates[-1] == r.cg.iterations
    x_prev = opt.state["cg_direction"].copy()
    calls = []
    orig = C.conjugate_gradient

    def spy(*a, **k):
        calls.append(k.get("x0"))
        return orig(*a, **k)

    import tinygrad_ngd.optimizers.hessian_free as hf
    hf.conjugate_gradient = spy
    try:
        opt.step(closure=lambda: model(tg.Tensor(x)), targets=y)
    finally:
        hf.conjugate_gradient = orig
    np.testing.assert_allclose(B.to_numpy(calls[0]), 0.95 * B.to_numpy(x_prev), rtol=1e-15)


def test_hessian_free_reduces_a_deep_autoencoder_loss_on_mnist():
    tg.set_default_dtype("float64")
    tg.manual_seed(0)
    xb = mnist_batch(32)
    x = tg.Tensor(xb)
    model = deep_autoencoder((784, 16, 4, 16, 784))
    params = tg.FlatParameters(model)
    opt = O.HessianFree(params, damping=1e-3, loss="mse", cg_maxiter=8)
    losses = [opt.step(closure=lambda: model(x), targets=xb).item() for _ in range(3)]
    final = F.mse_loss(model(x), x).item()
    assert final < 0.6 * losses[0], (losses, final)
    assert all(b <= a for a, b in zip(losses + [final], (losses + [final])[1:]))


def test_hessian_free_bad_input(rng):
    tg.set_default_dtype("float64")
    params = tg.FlatParameters.from_array(np.zeros(3))
    opt = O.HessianFree(params)
    with pytest.raises(ValueError, match="targets="):
        opt.step(closure=lambda: params.parameters[0])
    with pytest.raises(ValueError, match="invalid loss"):
        O.HessianFree(params, loss="hinge")
    with pytest.raises(ValueError, match="invalid curvature"):
        O.HessianFree(params, curvature="fisher")
    with pytest.raises(ValueError, match="damping"):
        O.HessianFree(params, damping=0.0)


def test_hessian_curvature_option_matches_gauss_newton_on_a_linear_model(rng):
    """For a linear model with squared error H = G, so both curvature choices take the same step."""
    steps = {}
    for curvature in ("gauss_newton", "hessian"):
        tg.manual_seed(0)
        _model, params, _X, T, output_fn = linear_least_squares(np.random.default_rng(3))
        opt = O.HessianFree(params, damping=0.1, loss="mse", curvature=curvature, cg_maxiter=5)
        opt.step(closure=output_fn, targets=T)
        steps[curvature] = params.data.copy()
        assert not opt.last_result.negative_curvature
    np.testing.assert_allclose(B.to_numpy(steps["hessian"]), B.to_numpy(steps["gauss_newton"]), rtol=1e-10, atol=1e-13)
