"""NewtonCG: truncated Newton on HVPs; negative curvature stops CG and is reported."""

import itertools

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd import optimizers as O
from tinygrad_ngd.datasets import load_mnist_subset


def deep_autoencoder(sizes=(784, 32, 8, 32, 784)):
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(L.Dense(a, b))
        layers.append(L.Tanh() if i < len(sizes) - 2 else L.Sigmoid())
    return L.Sequential(*layers)


def mnist_batch(n=64):
    (x, _), _ = load_mnist_subset(test_size=0, dtype="float64", flatten=True)
    return x[:n]


def test_newton_cg_solves_a_strongly_convex_problem_like_newton(rng):
    tg.set_default_dtype("float64")
    X, y = rng.standard_normal((30, 4)), np.sign(rng.standard_normal(30))
    params = tg.FlatParameters.from_array(np.zeros(4))
    th = params.parameters[0]
    loss_fn = lambda: F.softplus(-(tg.Tensor(X * y[:, None]) @ th)).mean() + 0.05 * (th * th).sum()
    opt = O.NewtonCG(params, cg_tol=1e-12)
    for _ in range(8):
        opt.step(closure=loss_fn)
    ref = tg.FlatParameters.from_array(np.zeros(4))
    th_ref = ref.parameters[0]
    newton = O.Newton(ref)
    for _ in range(8):
        newton.step(closure=lambda: F.softplus(-(tg.Tensor(X * y[:, None]) @ th_ref)).mean()
                    + 0.05 * (th_ref * th_ref).sum())
    np.testing.assert_allclose(B.to_numpy(params.data), B.to_numpy(ref.data), rtol=1e-10, atol=1e-12)
    assert opt.last_result.direction_kind == "newton" and not opt.last_result.negative_curvature
    assert opt.last_result.cg.iterations <= 4


def test_negative_curvature_stops_cg_and_is_reported():
    tg.set_default_dtype("float64")
    params = tg.FlatParameters.from_array(np.array([0.0, 0.1]))  # saddle region of x² − y² + y⁴/4
    th = params.parameters[0]
    loss_fn = lambda: th[0] * th[0] - th[1] * th[1] + 0.25 * th[1] ** 4
    opt = O.NewtonCG(params)
    f0 = loss_fn().item()
    opt.step(closure=loss_fn)
    r = opt.last_result
    assert r.negative_curvature and r.direction_kind == "steepest descent"
    assert "negative curvature" in r.message and r.cg.curvature < 0
    assert loss_fn().item() < f0  # the fallback −g with line search still descends


def test_newton_cg_reduces_a_deep_autoencoder_loss_on_mnist():
    tg.set_default_dtype("float64")
    tg.manual_seed(0)
    x = tg.Tensor(mnist_batch(32))
    model = deep_autoencoder((784, 16, 4, 16, 784))
    params = tg.FlatParameters(model)
    loss_fn = lambda: F.mse_loss(model(x), x)
    opt = O.NewtonCG(params, cg_maxiter=8, damping=1e-3)
    losses = [opt.step(closure=loss_fn).item() for _ in range(3)]
    final = loss_fn().item()
    assert final < 0.9 * losses[0], (losses, final)
    assert all(b <= a for a, b in zip(losses + [final], (losses + [final])[1:]))  # Armijo: monotone


def test_newton_cg_bad_input():
    tg.set_default_dtype("float64")
    params = tg.FlatParameters.from_array(np.zeros(2))
    with pytest.raises(ValueError, match="closure=loss_fn"):
        O.NewtonCG(params).step()
    with pytest.raises(ValueError, match="cg_maxiter"):
        O.NewtonCG(params, cg_maxiter=0)
    with pytest.raises(ValueError, match="damping"):
        O.NewtonCG(params, damping=-1)
