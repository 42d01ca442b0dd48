"""Gauss-Newton products G v = Jᵀ H_ℓ J v against explicitly built J and H_ℓ (float64)."""

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import curvature as C
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L


def rel(a, b):
    return np.linalg.norm(B.to_numpy(a) - B.to_numpy(b)) / np.linalg.norm(B.to_numpy(b))


def _net_problem(rng, n=5, sizes=(4, 3, 3)):
    tg.set_default_dtype("float64")
    model = L.Sequential(L.Dense(sizes[0], sizes[1]), L.Tanh(), L.Dense(sizes[1], sizes[2]))
    params = tg.FlatParameters(model)
    x = rng.standard_normal((n, sizes[0]))
    return model, params, x, (lambda: model(tg.Tensor(x)))


def jacobian_fd(output_fn, params, eps=1e-6):
    """∂z/∂θ by central differences (independent of the double-VJP trick)."""
    theta = params.data.copy()
    cols = []
    for j in range(params.numel):
        params.data[:] = theta
        params.data[j] += eps
        zp = output_fn().data.reshape(-1).copy()
        params.data[j] -= 2 * eps
        zm = output_fn().data.reshape(-1).copy()
        cols.append(B.to_numpy((zp - zm) / (2 * eps)))
    params.data[:] = theta
    return np.stack(cols, axis=1)


def jacobian_vjp(output_fn, params):
    """∂z/∂θ row by row from Jᵀ e_i (exact)."""
    jac = C.OutputJacobian(output_fn, params)
    z = jac.output.data
    rows = []
    for i in range(z.size):
        e = np.zeros(z.size)
        e[i] = 1
        rows.append(B.to_numpy(jac.vjp(e.reshape(z.shape))))
    return np.stack(rows)


def ce_output_hessian(z, reduction="mean"):
    """Block-diagonal H_ℓ = s (diag(p_n) − p_n p_nᵀ) for softmax cross-entropy."""
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    s = 1.0 / z.shape[0] if reduction == "mean" else 1.0
    blocks = [s * (np.diag(pn) - np.outer(pn, pn)) for pn in p]
    n, c = z.shape
    H = np.zeros((n * c, n * c))
    for i, b in enumerate(blocks):
        H[i * c:(i + 1) * c, i * c:(i + 1) * c] = b
    return H


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gnvp_cross_entropy_equals_explicit_JT_HL_J(rng, reduction):
    _model, params, x, output_fn = _net_problem(rng)
    J = jacobian_vjp(output_fn, params)
    np.testing.assert_allclose(J, jacobian_fd(output_fn, params), rtol=0, atol=1e-8)
    H_L = ce_output_hessian(output_fn().numpy(), reduction)
    G = J.T @ H_L @ J
    y = rng.integers(0, 3, size=x.shape[0])
    for _ in range(3):
        v = rng.standard_normal(params.numel)
        assert rel(C.gnvp(output_fn, params, v, loss="cross_entropy", reduction=reduction, targets=y),
                   G @ v) <= 1e-12
    assert np.linalg.eigvalsh(G).min() >= -1e-12  # G is positive semi-definite


def test_jvp_by_double_vjp_equals_explicit_J(rng):
    _model, params, _x, output_fn = _net_problem(rng)
    J = jacobian_vjp(output_fn, params)
    jac = C.OutputJacobian(output_fn, params)
    for _ in range(3):
        v = rng.standard_normal(params.numel)
        assert rel(jac.jvp(v).reshape(-1), J @ v) <= 1e-12


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gnvp_mse_equals_explicit(rng, reduction):
    _model, params, _x, output_fn = _net_problem(rng)
    J = jacobian_vjp(output_fn, params)
    s = 1.0 / J.shape[0] if reduction == "mean" else 1.0
    v = rng.standard_normal(params.numel)
    assert rel(C.gnvp(output_fn, params, v, loss="mse", reduction=reduction), 2 * s * J.T @ (J @ v)) <= 1e-12


def test_gauss_newton_equals_hessian_for_a_linear_model_with_squared_error(rng):
    tg.set_default_dtype("float64")
    model = L.Dense(4, 3)
    params = tg.FlatParameters(model)
    x, t = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    output_fn = lambda: model(tg.Tensor(x))
    H = C.hessian(lambda: F.mse_loss(output_fn(), tg.Tensor(t)), params)
    G = C.dense_matrix(C.gauss_newton_operator(output_fn, params, targets=t, loss="mse"))
    assert rel(G, H) <= 1e-13
    # and for a nonlinear net they differ (the test can fail)
    _model2, params2, x2, out2 = _net_problem(rng)
    t2 = rng.standard_normal((x2.shape[0], 3))
    H2 = C.hessian(lambda: F.mse_loss(out2(), tg.Tensor(t2)), params2)
    G2 = C.dense_matrix(C.gauss_newton_operator(out2, params2, targets=t2, loss="mse"))
    assert rel(G2, H2) > 1e-3


def test_gauss_newton_operator_damping_and_loss_value(rng):
    _model, params, x, output_fn = _net_problem(rng)
    y = rng.integers(0, 3, size=x.shape[0])
    op0 = C.gauss_newton_operator(output_fn, params, targets=y)
    op = C.gauss_newton_operator(output_fn, params, targets=y, damping=0.5)
    v = B.asarray(rng.standard_normal(params.numel))
    assert rel(B.to_numpy(op(v)), B.to_numpy(op0(v) + 0.5 * v)) <= 1e-14
    assert op.loss_value().item() == pytest.approx(F.cross_entropy(output_fn(), y).item(), rel=1e-15)


def test_products_move_a_host_vector_to_the_device_explicitly(rng):
    """A host NumPy v given to an operator (or hvp/jvp) is copied to the backend once, as
    conjugate_gradient's b is; the product equals the one of the placed vector exactly."""
    model, params, x, output_fn = _net_problem(rng)
    y = rng.integers(0, 3, size=x.shape[0])
    A = rng.standard_normal((params.numel, params.numel))
    jac = C.OutputJacobian(output_fn, params)
    products = {
        "matrix": C.LinearOperator.from_matrix(A),
        "damped gauss_newton": C.gauss_newton_operator(output_fn, params, targets=y, damping=0.5),
        "damped fisher": C.fisher_operator(output_fn, params, damping=0.3),
        "hvp": lambda v: C.hvp(lambda: F.cross_entropy(output_fn(), y), params, v),
        "jvp": jac.jvp,
    }
    v_host = rng.standard_normal(params.numel)
    v = B.asarray(v_host)
    one_copy = 0 if B.get_backend() == "numpy" else 1
    for name, product in products.items():
        with B.count_transfers() as placed:
            expected = product(v)
        with B.count_transfers() as c:
            got = product(v_host)
        assert B.is_placed(got), name
        assert c.host_to_device == placed.host_to_device + one_copy, (name, c, placed)
        assert c.device_to_host == placed.device_to_host, (name, c, placed)
        assert np.array_equal(B.to_numpy(got), B.to_numpy(expected)), name


def test_gauss_newton_bad_input(rng):
    _model, params, x, output_fn = _net_problem(rng)
    with pytest.raises(ValueError, match="loss must be one of"):
        C.gnvp(output_fn, params, np.ones(params.numel), loss="hinge")
    with pytest.raises(ValueError, match="integer labels"):
        C.gnvp(output_fn, params, np.ones(params.numel), targets=np.zeros(x.shape[0]))
    with pytest.raises(ValueError, match="targets shape"):
        C.gnvp(output_fn, params, np.ones(params.numel), loss="mse", targets=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=f"length {params.numel}"):
        C.gnvp(output_fn, params, np.ones(3))
    with pytest.raises(ValueError, match="damping"):
        C.gauss_newton_operator(output_fn, params, damping=-1.0)
