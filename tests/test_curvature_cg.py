"""conjugate_gradient: exact solves, residual history, preconditioning, negative curvature."""

import numpy as np
import pytest

from tinygrad_ngd import backend as B
from tinygrad_ngd import curvature as C


def spd(rng, n, cond=100.0):
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return Q @ np.diag(np.geomspace(1.0, cond, n)) @ Q.T


def test_cg_solves_spd_system(rng):
    A, b = spd(rng, 20), rng.standard_normal(20)
    # in exact arithmetic n steps suffice; in floating point conjugacy is lost slowly
    # (scipy's cg needs the same 25 steps here), so allow 2n
    res = C.conjugate_gradient(C.LinearOperator.from_matrix(A), b, tol=1e-12, maxiter=40)
    assert res.converged and not res.negative_curvature and res.iterations <= 40
    x = np.linalg.solve(A, b)
    assert np.linalg.norm(B.to_numpy(res.x) - x) <= 1e-10 * np.linalg.norm(x)
    assert len(res.residual_norms) == res.iterations + 1
    assert res.residual_norms[0] == pytest.approx(np.linalg.norm(b), rel=1e-15)
    assert res.residual_norms[-1] <= 1e-12 * np.linalg.norm(b)
    phi = np.array(res.quadratic_values)  # CG decreases φ monotonically
    assert np.all(np.diff(phi) <= 1e-15)  # (equal only once converged to round-off)
    assert phi[-1] == pytest.approx(-0.5 * b @ x, rel=1e-12)  # φ(x*) = −½ bᵀx*


def test_cg_plain_callable_maxiter_and_warm_start(rng):
    A, b = spd(rng, 15), rng.standard_normal(15)
    Ad = B.asarray(A)                                     # the products run on the backend
    res = C.conjugate_gradient(lambda v: Ad @ v, b, maxiter=3)
    assert res.iterations == 3 and not res.converged and "maxiter=3" in res.message
    x = np.linalg.solve(A, b)
    res2 = C.conjugate_gradient(lambda v: Ad @ v, b, x0=x, tol=1e-8)
    assert res2.converged and res2.iterations == 0
    res3 = C.conjugate_gradient(lambda v: Ad @ v, b, x0=res.x, tol=1e-12, maxiter=60)  # restart from step 3
    assert res3.converged and np.linalg.norm(B.to_numpy(res3.x) - x) <= 1e-10 * np.linalg.norm(x)


def test_jacobi_preconditioner_cuts_iterations_and_array_equals_callable(rng):
    d = np.geomspace(1.0, 1e4, 40)
    A = np.diag(d) + 0.01 * spd(rng, 40, cond=2.0)
    b = rng.standard_normal(40)
    Ad = B.asarray(A)
    plain = C.conjugate_gradient(lambda v: Ad @ v, b, tol=1e-10, maxiter=400)
    pre = C.conjugate_gradient(lambda v: Ad @ v, b, tol=1e-10, M=np.diag(A).copy(), maxiter=400)
    pre_fn = C.conjugate_gradient(lambda v: Ad @ v, b, tol=1e-10, M=lambda r: r / B.asarray(np.diag(A)), maxiter=400)
    assert pre.converged and pre.iterations < plain.iterations / 2
    np.testing.assert_allclose(B.to_numpy(pre.x), B.to_numpy(pre_fn.x), rtol=1e-13)
    np.testing.assert_allclose(B.to_numpy(pre.x), np.linalg.solve(A, b), rtol=1e-8)


def test_negative_curvature_is_reported_not_hidden(rng):
    A = np.diag([2.0, 1.0, -1.0])
    Ad = B.asarray(A)
    b = np.array([0.0, 0.0, 1.0])  # the first direction p₀ = b has pᵀAp = −1
    res = C.conjugate_gradient(lambda v: Ad @ v, b)
    assert res.negative_curvature and res.iterations == 0 and res.curvature == pytest.approx(-1.0)
    np.testing.assert_array_equal(B.to_numpy(res.direction), b)
    np.testing.assert_array_equal(B.to_numpy(res.x), 0.0)
    assert "negative curvature" in res.message
    b2 = np.array([1.0, 1.0, 1.0])  # p₀ has pᵀAp = 2 > 0, a later direction is negative
    res2 = C.conjugate_gradient(lambda v: Ad @ v, b2)
    assert res2.negative_curvature and res2.iterations >= 1 and res2.curvature <= 0
    # asked to continue, CG still solves the indefinite nonsingular system
    res3 = C.conjugate_gradient(lambda v: Ad @ v, b2, stop_on_negative_curvature=False, tol=1e-12)
    assert res3.negative_curvature and res3.converged
    np.testing.assert_allclose(B.to_numpy(res3.x), np.linalg.solve(A, b2), rtol=1e-12)


def test_callback_can_stop(rng):
    A, b = spd(rng, 10), rng.standard_normal(10)
    Ad = B.asarray(A)
    seen = []
    res = C.conjugate_gradient(lambda v: Ad @ v, b, callback=lambda k, x, r, phi: seen.append(phi) or k == 2)
    assert res.iterations == 2 and seen == res.quadratic_values[1:] and "callback" in res.message


def test_cg_bad_input(rng):
    A = spd(rng, 4)
    with pytest.raises(ValueError, match="b must be a flat"):
        C.conjugate_gradient(lambda v: A @ v, np.ones((4, 1)))
    with pytest.raises(ValueError, match="operator of size 4"):
        C.conjugate_gradient(C.LinearOperator.from_matrix(A), np.ones(5))
    with pytest.raises(ValueError, match="x0 must be a flat vector of length 4"):
        C.conjugate_gradient(lambda v: A @ v, np.ones(4), x0=np.ones(3))
    with pytest.raises(ValueError, match="M .*length 4"):
        C.conjugate_gradient(lambda v: A @ v, np.ones(4), M=np.ones(2))
    with pytest.raises(TypeError, match="matvec"):
        C.conjugate_gradient("A", np.ones(4))


def test_matvec_of_the_wrong_shape_is_refused_by_name():
    """Audit: a matvec returning the wrong length ended in NumPy's matmul message."""
    b = B.asarray(np.ones(3))
    with pytest.raises(ValueError, match=r"conjugate_gradient: matvec returned ndarray of shape \(4,\), "
                                         r"expected a vector of shape \(3,\)"):
        C.conjugate_gradient(lambda v: B.asarray(np.ones(4)), b)
    with pytest.raises(ValueError, match="conjugate_gradient: matvec returned float"):
        C.conjugate_gradient(lambda v: 1.0, b, x0=B.asarray(np.zeros(3)))
