"""Spectrum tools against numpy.linalg.eigvalsh of the dense Hessian (float64)."""

import math

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import curvature as C
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L


@pytest.fixture
def problem(rng):
    tg.set_default_dtype("float64")
    model = L.Sequential(L.Dense(4, 5), L.Tanh(), L.Dense(5, 3))
    params = tg.FlatParameters(model)
    x = rng.standard_normal((8, 4)) * 2
    y = rng.integers(0, 3, size=8)
    loss_fn = lambda: F.cross_entropy(model(tg.Tensor(x)), y)
    H = B.to_numpy(C.hessian(loss_fn, params))
    return params, loss_fn, 0.5 * (H + H.T)


def test_top_eigenvalues_match_eigvalsh(problem):
    params, loss_fn, H = problem
    eig = np.linalg.eigvalsh(H)
    want = eig[np.argsort(-np.abs(eig))][:3]
    got = C.top_eigenvalues(loss_fn, params, k=3, maxiter=5000, tol=1e-14, rng=np.random.default_rng(0))
    np.testing.assert_allclose(got.values, want, rtol=1e-6, atol=0)
    for lam, u in zip(B.to_numpy(got.values), got.vectors):  # and they are eigenvectors
        u = B.to_numpy(u)
        assert np.linalg.norm(H @ u - lam * u) <= 1e-3 * abs(lam)


def test_hutchinson_trace_within_three_standard_errors(problem):
    params, loss_fn, H = problem
    est = C.hutchinson_trace(loss_fn, params, n_samples=300, rng=np.random.default_rng(1))
    assert abs(est.trace - np.trace(H)) <= 3 * est.stderr
    assert 0 < est.stderr < abs(np.trace(H))  # the bound is not vacuous
    # the estimator is unbiased: the sample variance matches the Rademacher formula 2 Σ_{i≠j} H_ij²
    var_exact = 2 * (np.sum(H * H) - np.sum(np.diag(H) ** 2))
    assert np.sqrt(var_exact / 300) == pytest.approx(est.stderr, rel=0.25)


def test_lanczos_extreme_ritz_values_match_extreme_eigenvalues(problem):
    params, loss_fn, H = problem
    eig = np.linalg.eigvalsh(H)
    n = params.numel
    op = C.hessian_operator(loss_fn, params)
    part = C.lanczos(op, m=n // 2, rng=np.random.default_rng(2))
    assert part.steps == n // 2
    assert float(part.ritz_values[-1]) == pytest.approx(eig[-1], rel=1e-6)
    assert float(part.ritz_values[0]) == pytest.approx(eig[0], rel=1e-6)
    # interlacing: every Ritz value lies inside the spectrum
    ritz = B.to_numpy(part.ritz_values)
    assert eig[0] - 1e-10 <= ritz.min() and ritz.max() <= eig[-1] + 1e-10
    # m = n steps: the Hessian has repeated (zero) eigenvalues, so the Krylov space of one
    # start vector is smaller than n; Lanczos meets an invariant subspace, restarts from a
    # fresh orthogonal vector, and T_n then holds the whole spectrum, multiplicities included
    full = C.lanczos(op, m=n, rng=np.random.default_rng(3))
    assert full.steps == n and full.restarts >= 1 and full.complete and full.converged
    np.testing.assert_allclose(np.sort(B.to_numpy(full.ritz_values)), eig, atol=1e-9 * abs(eig).max())
    assert float(full.weights.sum()) == pytest.approx(1.0, abs=1e-12)
    # without restarts it stops at the breakdown and says the spectrum is incomplete
    cut = C.lanczos(op, m=n, rng=np.random.default_rng(3), restart=False)
    assert cut.steps < n and not cut.complete and cut.restarts == 0
    assert all(np.min(np.abs(eig - t)) <= 1e-9 * abs(eig).max() for t in B.to_numpy(cut.ritz_values))


def test_lanczos_full_run_gives_the_spectrum_and_the_weights(rng):
    tg.set_default_dtype("float64")
    n = 12
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    w = np.linspace(-3, 7, n) ** 3
    A = Q @ np.diag(w) @ Q.T
    v0 = rng.standard_normal(n)
    full = C.lanczos(C.LinearOperator.from_matrix(A), m=n, v0=v0)
    np.testing.assert_allclose(B.to_numpy(full.ritz_values), w, atol=1e-10 * abs(w).max())
    # weights = (eigenvectorᵀ q₁)², the quadrature weights of the spectral density
    np.testing.assert_allclose(B.to_numpy(full.weights), (Q.T @ (v0 / np.linalg.norm(v0))) ** 2, atol=1e-10)


def test_spectral_density_integrates_to_one_and_peaks_at_ritz_values():
    tg.set_default_dtype("float64")
    A = np.diag([1.0, 1.0, 1.0, 5.0])
    runs = [C.lanczos(C.LinearOperator.from_matrix(A), m=4, rng=np.random.default_rng(s)) for s in range(20)]
    grid, dens = map(B.to_numpy, C.spectral_density(runs, n_grid=4001, sigma_squared=1e-4))
    assert np.sum(dens) * (grid[1] - grid[0]) == pytest.approx(1.0, rel=1e-12)
    mass_near_1 = dens[np.abs(grid - 1.0) < 0.2].sum() * (grid[1] - grid[0])
    assert mass_near_1 == pytest.approx(0.75, abs=0.15)  # three of four eigenvalues (random weights, 20 runs)
    assert grid[np.argmax(dens)] == pytest.approx(1.0, abs=1e-2)


def test_condition_number_and_indefinite_flag(problem):
    tg.set_default_dtype("float64")
    rng = np.random.default_rng(4)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    A = Q @ np.diag([0.5, 1, 2, 3, 4, 50.0]) @ Q.T
    est = C.condition_number(C.LinearOperator.from_matrix(A), m=6, rng=rng)
    assert est.kappa == pytest.approx(100.0, rel=1e-10) and est.positive_definite
    params, loss_fn, H = problem  # a network Hessian away from a minimum
    est2 = C.condition_number(loss_fn, params, m=params.numel, rng=rng)
    eig = np.linalg.eigvalsh(H)
    assert est2.lambda_max == pytest.approx(eig[-1], rel=1e-8)
    assert est2.positive_definite == (eig[0] > 0)
    if eig[0] <= 0:
        assert math.isinf(est2.kappa)


def test_hessian_diagonal_exact_and_rademacher(problem):
    params, loss_fn, H = problem
    np.testing.assert_allclose(B.to_numpy(C.hessian_diagonal(loss_fn, params, exact=True)), np.diag(H), rtol=1e-12,
                                           atol=1e-15)
    S = 400
    est = B.to_numpy(C.hessian_diagonal(loss_fn, params, n_samples=S, rng=np.random.default_rng(5)))
    # Var[v_i (Hv)_i] = Σ_{j≠i} H_ij² for Rademacher v
    sd = np.sqrt((np.sum(H * H, axis=1) - np.diag(H) ** 2) / S)
    assert np.all(np.abs(est - np.diag(H)) <= 4.5 * sd + 1e-14)
    assert np.abs(est - np.diag(H)).max() > 0  # it is an estimate, not the exact diagonal


def test_spectrum_bad_input(problem):
    params, loss_fn, _H = problem
    with pytest.raises(ValueError, match="k=.*exceeds"):
        C.top_eigenvalues(loss_fn, params, k=params.numel + 1)
    with pytest.raises(ValueError, match="params is required"):
        C.lanczos(loss_fn, m=3)
    with pytest.raises(ValueError, match="n_samples"):
        C.hutchinson_trace(loss_fn, params, n_samples=0)
    with pytest.raises(ValueError, match="length 3"):
        C.LinearOperator.from_matrix(np.eye(3))(np.ones(4))
