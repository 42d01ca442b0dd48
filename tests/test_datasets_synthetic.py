"""Synthetic problems: gradients and Hessians against finite differences, known minima."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_ngd import datasets as D


def fd_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in range(len(x)):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def fd_hess(grad, x, h=1e-6):
    H = np.zeros((len(x), len(x)))
    for i in range(len(x)):
        e = np.zeros_like(x)
        e[i] = h
        H[:, i] = (grad(x + e) - grad(x - e)) / (2 * h)
    return H


PROBLEMS = [
    lambda: D.QuadraticBowl(dim=4, condition_number=50, rotation="random", seed=3, x_star=[1, -2, 0.5, 3]),
    lambda: D.QuadraticBowl(dim=2, condition_number=10, rotation=0.3),
    lambda: D.Rosenbrock(dim=2),
    lambda: D.Rosenbrock(dim=5, a=1.0, b=10.0),
    lambda: D.Beale(),
    lambda: D.NoisyQuadratic(dim=6, n_steps=5, seed=2),
    lambda: D.LogisticRegression(n=50, dim=3, l2=0.1, seed=1),
]


@pytest.mark.parametrize("make", PROBLEMS)
def test_grad_and_hessian_match_finite_differences(make):
    p = make()
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = p.x0 + 0.3 * rng.standard_normal(p.dim)
        g = p.grad(x)
        np.testing.assert_allclose(g, fd_grad(p.value, x), rtol=1e-6, atol=1e-6)
        H = p.hessian(x)
        np.testing.assert_allclose(H, H.T, atol=1e-12)
        np.testing.assert_allclose(H, fd_hess(p.grad, x), rtol=1e-5, atol=1e-5)
        v = rng.standard_normal(p.dim)
        np.testing.assert_allclose(p.hvp(x, v), H @ v, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make", PROBLEMS[:5])
def test_known_minimizer(make):
    p = make()
    assert p.value(p.x_star) == pytest.approx(p.f_star, abs=1e-12)
    np.testing.assert_allclose(p.grad(p.x_star), 0, atol=1e-10)
    assert np.all(np.linalg.eigvalsh(p.hessian(p.x_star)) > 0)  # a strict local minimum
    assert p.value(p.x0) > p.f_star


def test_rosenbrock_classic_values():
    r = D.Rosenbrock()
    np.testing.assert_array_equal(r.x0, [-1.2, 1.0])
    assert r.value(r.x0) == pytest.approx(24.2)
    assert D.Rosenbrock(dim=4, a=2.0).x_star is None
    np.testing.assert_array_equal(D.Rosenbrock(dim=2, a=2.0).x_star, [2.0, 4.0])


def test_beale_value():
    assert D.Beale().value([0.0, 0.0]) == pytest.approx(1.5 ** 2 + 2.25 ** 2 + 2.625 ** 2)


@settings(max_examples=25, deadline=None)
@given(dim=st.integers(1, 8), kappa=st.floats(1.0, 1e4), seed=st.integers(0, 1000))
def test_quadratic_condition_number_and_rotation(dim, kappa, seed):
    q = D.QuadraticBowl(dim=dim, condition_number=kappa, rotation="random", seed=seed, lambda_min=0.5)
    ev = np.linalg.eigvalsh(q.A)
    assert ev.min() == pytest.approx(0.5, rel=1e-9)
    assert ev.max() / ev.min() == pytest.approx(kappa if dim > 1 else 1.0, rel=1e-8)
    np.testing.assert_allclose(q.Q @ q.Q.T, np.eye(dim), atol=1e-12)


def test_quadratic_rotation_angle_and_axis_aligned():
    q = D.QuadraticBowl(dim=2, condition_number=4, rotation=np.pi / 4)
    # principal axes along the diagonals: the long (small-eigenvalue) direction is (1, 1)/√2 rotated
    u = np.array([np.cos(np.pi / 4), np.sin(np.pi / 4)])
    assert u @ q.A @ u == pytest.approx(1.0)
    a = D.QuadraticBowl(dim=3, condition_number=9)
    np.testing.assert_allclose(a.A, np.diag([1.0, 3.0, 9.0]))
    with pytest.raises(ValueError):
        D.QuadraticBowl(dim=3, rotation=0.5)


def test_noisy_quadratic_seeded_arrays():
    a, b = D.NoisyQuadratic(dim=5, n_steps=7, seed=11), D.NoisyQuadratic(dim=5, n_steps=7, seed=11)
    c = D.NoisyQuadratic(dim=5, n_steps=7, seed=12)
    for k, v in a.arrays().items():
        assert isinstance(v, np.ndarray)
        np.testing.assert_array_equal(v, b.arrays()[k])
        assert not np.array_equal(v, c.arrays()[k])
    assert a.xi.shape == (7, 5) and a.A.shape == (5, 5)
    th = np.arange(5.0)
    np.testing.assert_allclose(a.grad(th, k=3), a.A @ (th - a.theta_star) + a.xi[3], rtol=1e-14)
    np.testing.assert_allclose(a.grad(th), a.A @ (th - a.theta_star), rtol=1e-14)
    # grad(., k) is the exact gradient of value(., k)
    np.testing.assert_allclose(fd_grad(lambda x: a.value(x, k=2), th), a.grad(th, k=2), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(a.grad(a.theta_star, k=4), a.xi[4])
    with pytest.raises(IndexError):
        a.grad(th, k=7)
    # noise scale
    big = D.NoisyQuadratic(dim=50, n_steps=400, noise_std=0.3, seed=0)
    assert big.xi.std() == pytest.approx(0.3, rel=0.03)


def test_logistic_regression_data_and_solution():
    p = D.LogisticRegression(n=400, dim=3, l2=1e-2, seed=4)
    assert p.X.shape == (400, 4) and np.all(p.X[:, -1] == 1)
    assert p.y.dtype == np.int64 and set(np.unique(p.y)) <= {0, 1}
    w = p.solve()
    np.testing.assert_allclose(p.grad(w), 0, atol=1e-10)
    assert p.value(w) < p.value(p.x0)
    # the fit recovers the generating direction
    assert w @ p.w_true / (np.linalg.norm(w) * np.linalg.norm(p.w_true)) > 0.9
    # stable for huge logits
    assert np.isfinite(p.value(1e4 * np.ones(4)))


def test_exponential_loss_newton_step_is_constant():
    e = D.ExponentialLoss1D(scale=3.0, gamma=2.0)
    x = np.array([-5.0, 0.0, 7.0])
    np.testing.assert_allclose(e.value(x), 3.0 * np.exp(-2.0 * x))
    np.testing.assert_allclose(e.grad(x), -6.0 * np.exp(-2.0 * x))
    np.testing.assert_allclose(e.hessian(x), 12.0 * np.exp(-2.0 * x))
    np.testing.assert_allclose(e.newton_step(x, lr=0.5) - x, 0.5 / 2.0)  # λ/γ, independent of x
    steps = e.gd_step(x, lr=0.1) - x
    assert steps[0] > 1e4 * steps[2]  # gradient descent: huge for x << 0, tiny for x >> 0
    np.testing.assert_allclose(fd_grad(lambda z: float(e.value(z[0])), np.array([0.3])), [e.grad(0.3)], rtol=1e-7)
