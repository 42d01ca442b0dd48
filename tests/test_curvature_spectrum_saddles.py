"""Spectrum tools on saddles and near-symmetric spectra [Ravasi, "saddle points"]: the
values are right or the result says it did not converge.  Every result carries a flag."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import curvature as C


def _saddle_op():
    """f = x₀x₁ + 0.1x₂²: H has eigenvalues +1, −1 and 0.2."""
    tg.set_default_dtype("float64")
    H = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.2]])
    return C.LinearOperator.from_matrix(H), H


def _saddle_closure():
    """The issue's reproducer through HVPs of a loss closure: f = x₀x₁ + 0.1x₂²."""
    tg.set_default_dtype("float64")
    params = tg.FlatParameters.from_array(np.array([0.3, -0.2, 0.5]))
    th = params.parameters[0]
    return (lambda: th[0] * th[1] + 0.1 * th[2] * th[2]), params


@pytest.mark.parametrize("seed", range(6))
def test_issue_reproducer_through_a_loss_closure(seed):
    loss_fn, params = _saddle_closure()
    top = C.top_eigenvalues(loss_fn, params, k=2, rng=np.random.default_rng(seed))
    for lam, ok in zip(top.values, top.converged):  # main: [0.715, -1.143] with no flag
        assert not ok or min(abs(lam - 1), abs(lam + 1)) <= 1e-7
    assert not top.all_converged
    est = C.condition_number(loss_fn, params, m=3, rng=np.random.default_rng(seed))
    assert est.converged and est.positive_definite is False and math.isinf(est.kappa)  # main: κ = 5
    assert (est.lambda_min, est.lambda_max) == (pytest.approx(-1.0, abs=1e-12), pytest.approx(1.0, abs=1e-12))


@pytest.mark.parametrize("seed", range(6))
def test_top_eigenvalues_on_a_saddle_are_right_or_flagged(seed):
    op, H = _saddle_op()
    got = C.top_eigenvalues(op, k=2, rng=np.random.default_rng(seed))
    for lam, u, ok, res in zip(got.values, got.vectors, got.converged, got.residuals):
        assert isinstance(ok, bool)
        if ok:  # a converged pair is an eigenpair of H
            assert np.linalg.norm(H @ u - lam * u) <= 1e-7 * abs(lam)
            assert min(abs(lam - 1), abs(lam + 1)) <= 1e-7
        else:
            assert res > 1e-8 * abs(lam)
    # ±1 has no dominant eigenvalue: power iteration cannot converge and says so
    assert not got.converged[0] and not got.all_converged


def test_top_eigenvalue_with_a_near_tie_of_opposite_sign_is_flagged():
    tg.set_default_dtype("float64")
    op = C.LinearOperator.from_matrix(np.diag([1.0, -0.999, 0.5]))
    got = C.top_eigenvalues(op, k=1, maxiter=1000, rng=np.random.default_rng(0))
    assert got.converged == [False] and got.iterations == [1000]
    # with enough iterations it is right, and says so
    got = C.top_eigenvalues(op, k=1, maxiter=40000, rng=np.random.default_rng(0))
    assert got.converged == [True] and got.values[0] == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("seed", range(6))
def test_condition_number_with_m_equal_n_is_exact_on_a_saddle(seed):
    op, _H = _saddle_op()
    est = C.condition_number(op, m=3, rng=np.random.default_rng(seed))
    assert est.converged and est.positive_definite is False and math.isinf(est.kappa)
    assert est.lambda_min == pytest.approx(-1.0, abs=1e-12)
    assert est.lambda_max == pytest.approx(1.0, abs=1e-12)


def test_lanczos_start_orthogonal_to_an_eigenvector_restarts():
    """A start vector orthogonal to an eigenvector (what a ±1 vector can be) meets an
    invariant subspace early; Lanczos restarts and the full run still has every eigenvalue."""
    op, H = _saddle_op()
    v0 = np.array([1.0, 1.0, 0.0])  # lies in the eigenvector of +1 alone
    full = C.lanczos(op, m=3, v0=v0)
    assert full.restarts >= 1 and full.complete and full.converged
    np.testing.assert_allclose(np.sort(B.to_numpy(full.ritz_values)), [-1.0, 0.2, 1.0], atol=1e-12)
    cut = C.lanczos(op, m=3, v0=v0, restart=False)
    assert cut.steps == 1 and not cut.complete  # reported, not presented as the spectrum
    est = C.condition_number(op, m=1, rng=np.random.default_rng(0))
    assert not est.converged and est.positive_definite in (None, False)


def test_every_spectrum_and_solver_result_carries_a_convergence_flag():
    tg.set_default_dtype("float64")
    A = np.diag([3.0, 1.0, 2.0])
    op = C.LinearOperator.from_matrix(A)
    rng = np.random.default_rng(0)
    top = C.top_eigenvalues(op, k=2, rng=rng)
    assert [type(c) for c in top.converged] == [bool, bool] and len(top.residuals) == 2
    for res in (C.lanczos(op, m=2, rng=rng), C.lanczos(op, m=3, rng=rng)):
        assert isinstance(res.converged, bool) and isinstance(res.extremes_converged, bool)
        assert isinstance(res.complete, bool) and len(res.residuals) == res.steps
    assert isinstance(C.condition_number(op, m=3, rng=rng).converged, bool)
    cg = C.conjugate_gradient(op, np.ones(3))
    assert cg.converged is True
    assert C.conjugate_gradient(op, np.ones(3), maxiter=1).converged is False
    # Hutchinson's estimate does not iterate to a tolerance; it carries its standard error
    est = C.hutchinson_trace(op, n_samples=5, rng=rng)
    assert (est.trace, est.stderr) == (6.0, 0.0)  # diagonal A: every Rademacher sample is tr A
    # and the flags are honest on the easy case
    assert top.all_converged and top.values == pytest.approx([3.0, 2.0], abs=1e-12)


def _spectra():
    """Small symmetric spectra with ±λ pairs, near-equal magnitudes and repeats."""
    base = st.floats(0.1, 10.0, allow_nan=False)
    sign = st.sampled_from([-1.0, 1.0])
    single = st.tuples(base, sign).map(lambda t: [t[0] * t[1]])
    pair = base.map(lambda a: [a, -a])
    near = st.tuples(base, sign, st.sampled_from([1e-9, 1e-6, 1e-3])).map(
        lambda t: [t[0], t[1] * t[0] * (1 - t[2])])
    repeat = st.tuples(base, sign).map(lambda t: [t[0] * t[1]] * 2)
    return st.lists(st.one_of(single, pair, near, repeat), min_size=1, max_size=3).map(
        lambda groups: [x for g in groups for x in g])


@settings(max_examples=60, deadline=None)
@given(w=_spectra(), seed=st.integers(0, 2**32 - 1), maxiter=st.sampled_from([50, 500]))
def test_spectrum_tools_right_or_flagged_on_random_symmetric_matrices(w, seed, maxiter):
    tg.set_default_dtype("float64")
    rng = np.random.default_rng(seed)
    n = len(w)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    w = np.asarray(w)
    A = Q @ np.diag(w) @ Q.T
    A = 0.5 * (A + A.T)
    eig = np.linalg.eigvalsh(A)
    scale = np.abs(eig).max()
    mags = np.sort(np.abs(eig))[::-1]
    op = C.LinearOperator.from_matrix(A)

    k = min(2, n)
    top = C.top_eigenvalues(op, k=k, maxiter=maxiter, rng=rng)
    for i, (lam, u, ok) in enumerate(zip(top.values, top.vectors, top.converged)):
        if ok:
            assert np.min(np.abs(eig - lam)) <= 1e-7 * scale          # an eigenvalue
            assert abs(abs(lam) - mags[i]) <= 1e-7 * scale             # the i-th largest in magnitude
            assert np.linalg.norm(A @ B.to_numpy(u) - lam * B.to_numpy(u)) <= 1e-7 * scale

    full = C.lanczos(op, m=n, rng=rng)
    assert full.complete and full.converged
    np.testing.assert_allclose(np.sort(B.to_numpy(full.ritz_values)), eig, atol=1e-9 * scale)

    est = C.condition_number(op, m=n, rng=rng)
    assert est.converged and est.positive_definite == bool(eig[0] > 0)
    assert est.lambda_min == pytest.approx(eig[0], abs=1e-9 * scale)
    if eig[0] > 0:
        assert est.kappa == pytest.approx(eig[-1] / eig[0], rel=1e-7)
    else:
        assert math.isinf(est.kappa)

    if n > 1:
        part = C.lanczos(op, m=n - 1, rng=rng)
        if part.converged:  # then every Ritz value is an eigenvalue
            assert all(np.min(np.abs(eig - t)) <= 1e-7 * scale for t in B.to_numpy(part.ritz_values))
        pe = C.condition_number(op, m=n - 1, rng=rng)
        if pe.positive_definite is True:
            assert eig[0] > 0
        if pe.converged:
            assert pe.lambda_max == pytest.approx(eig[-1], abs=1e-7 * scale)
            assert pe.lambda_min == pytest.approx(eig[0], abs=1e-7 * scale)
