"""NaturalGradient ([Misra, "Natural Gradients"]): θ ← θ − lr (F + λI)⁻¹ g, float64.

On softmax (and Gaussian) regression the Fisher and the gradient have closed forms,
built here with NumPy from the Jacobian Jₙ = [I ⊗ xₙᵀ, I] of z = W x + b; the
optimizer's CG solve must equal the dense solve over several steps.
"""

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import layers as L
from tinygrad_ngd import optimizers as O


def rel(a, b):
    return float(np.linalg.norm(B.to_numpy(a) - B.to_numpy(b)) / np.linalg.norm(B.to_numpy(b)))


def regression(rng, n=12, d=4, k=3):
    tg.set_default_dtype("float64")
    model = L.Dense(d, k)
    params = tg.FlatParameters(model)
    x = rng.standard_normal((n, d)) * np.array([0.2, 1.0, 3.0, 1.5]) + 0.5
    return model, params, x, (lambda: model(tg.Tensor(x)))


def jacobians(x, k):
    """Jₙ = ∂zₙ/∂θ for z = W x + b with θ = (vec(W) row-major, b): [I_k ⊗ xₙᵀ, I_k]."""
    return [np.concatenate([np.kron(np.eye(k), xn[None]), np.eye(k)], axis=1) for xn in x]


def softmax(z):
    p = np.exp(z - z.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def dense_softmax_step(theta, x, y, k, lr, damping, kind):
    W, b = theta[:-k].reshape(k, -1), theta[-k:]
    p = softmax(x @ W.T + b)
    Js = jacobians(x, k)
    r = p - np.eye(k)[y]                                       # ∂(−log p(y|z))/∂z
    g = sum(J.T @ rn for J, rn in zip(Js, r)) / len(x)
    if kind == "true":
        Fm = sum(J.T @ (np.diag(pn) - np.outer(pn, pn)) @ J for J, pn in zip(Js, p)) / len(x)
    else:
        Fm = sum(np.outer(J.T @ rn, J.T @ rn) for J, rn in zip(Js, r)) / len(x)
    return theta - lr * np.linalg.solve(Fm + damping * np.eye(theta.size), g)


@pytest.mark.parametrize("kind", ["true", "empirical"])
def test_softmax_regression_step_equals_dense_solve(rng, kind):
    model, params, x, output_fn = regression(rng)
    y = rng.integers(0, 3, x.shape[0])
    lr, damping = 0.7, 1e-2
    opt = O.NaturalGradient(params, lr=lr, damping=damping, fisher=kind, cg_tol=1e-14,
                            cg_maxiter=60)
    theta = B.to_numpy(params.data).copy()
    for _ in range(4):
        theta = dense_softmax_step(theta, x, y, 3, lr, damping, kind)
        loss = opt.step(output_fn, y)
        assert rel(params.data, theta) < 1e-10
        assert opt.last_cg.converged
    # the batch loss returned is the cross-entropy at the parameters before the step
    assert loss.item() > 0


def test_gaussian_regression_step_equals_dense_solve(rng):
    model, params, x, output_fn = regression(rng)
    t = rng.standard_normal((x.shape[0], 3))
    lr, damping, sigma = 0.5, 1e-3, 0.5
    opt = O.NaturalGradient(params, lr=lr, damping=damping, distribution="gaussian", sigma=sigma,
                            cg_tol=1e-14)
    theta = B.to_numpy(params.data).copy()
    Js = jacobians(x, 3)
    Fm = sum(J.T @ J for J in Js) / (sigma ** 2 * len(x))      # Jₙᵀ (I/σ²) Jₙ, averaged
    for _ in range(3):
        W, b = theta[:-3].reshape(3, -1), theta[-3:]
        g = sum(J.T @ (zn - tn) for J, zn, tn in zip(Js, x @ W.T + b, t)) / (sigma ** 2 * len(x))
        theta = theta - lr * np.linalg.solve(Fm + damping * np.eye(theta.size), g)
        opt.step(output_fn, t)
        assert rel(params.data, theta) < 1e-10


def test_natural_gradient_differs_from_the_plain_gradient(rng):
    """At λ → large the step tends to lr·g/λ; at small λ it is far from any multiple of g."""
    model, params, x, output_fn = regression(rng)
    y = rng.integers(0, 3, x.shape[0])
    theta0 = B.to_numpy(params.data).copy()
    big = O.NaturalGradient(params, lr=1.0, damping=1e6, cg_tol=1e-14)
    big.step(output_fn, y)
    step_big = theta0 - B.to_numpy(params.data)
    params.data[...] = theta0
    W, b = theta0[:-3].reshape(3, -1), theta0[-3:]
    g = sum(J.T @ rn for J, rn in zip(jacobians(x, 3), softmax(x @ W.T + b) - np.eye(3)[y])) / len(x)
    assert rel(step_big * 1e6, g) < 1e-5
    small = O.NaturalGradient(params, lr=1.0, damping=1e-4, cg_tol=1e-14)
    small.step(output_fn, y)
    d = theta0 - B.to_numpy(params.data)
    cos = d @ g / np.linalg.norm(d) / np.linalg.norm(g)
    assert cos < 0.9


def test_natural_gradient_bad_input(rng):
    model, params, x, output_fn = regression(rng)
    y = rng.integers(0, 3, x.shape[0])
    with pytest.raises(ValueError, match="damping"):
        O.NaturalGradient(params, lr=1.0, damping=-1.0)
    with pytest.raises(ValueError, match="fisher"):
        O.NaturalGradient(params, lr=1.0, fisher="sampled")
    with pytest.raises(ValueError, match="distribution"):
        O.NaturalGradient(params, lr=1.0, distribution="poisson")
    with pytest.raises(ValueError, match="cg_maxiter"):
        O.NaturalGradient(params, lr=1.0, cg_maxiter=0)
    opt = O.NaturalGradient(params, lr=1.0)
    with pytest.raises(ValueError, match="output_fn"):
        opt.step()
    with pytest.raises(ValueError, match="output_fn"):
        opt.step(closure=lambda: None)
    with pytest.raises(ValueError, match="integer labels"):
        opt.step(output_fn, np.zeros(x.shape[0]))
    with pytest.raises(ValueError, match="parameter count"):
        opt.step(output_fn, y, grad=np.ones(3))
    assert opt.step_count == 0


# ---------------------------------------------------------------- an unconverged solve is never silent
def ill_conditioned_mlp(seed=0):
    """A Fisher with damping 1e-5 on which n CG steps (the old default) end at ‖r‖/‖g‖ ≈ 1e-2."""
    tg.set_default_dtype("float64")
    rng = np.random.default_rng(seed)
    tg.manual_seed(seed)
    model = L.Sequential(L.Dense(8, 10), L.Tanh(), L.Dense(10, 5))
    params = tg.FlatParameters(model)
    x = rng.standard_normal((200, 8)) * np.geomspace(0.05, 5, 8) + 0.3
    return params, (lambda: model(tg.Tensor(x))), rng.integers(0, 5, 200)


def test_default_cg_budget_converges_on_an_ill_conditioned_fisher():
    """Issue 14: with the default cg_maxiter (n) this solve stopped unconverged and stepped silently."""
    params, output_fn, y = ill_conditioned_mlp()
    opt = O.NaturalGradient(params, lr=1.0, damping=1e-5)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")             # a warning would fail the test
        opt.step(output_fn, y)
    assert opt.last_cg.converged and opt.last_cg.iterations > params.numel
    assert opt.last_cg.residual_norms[-1] <= 1e-10 * opt.last_cg.residual_norms[0]


def test_unconverged_cg_warns_or_raises_and_raise_changes_nothing():
    params, output_fn, y = ill_conditioned_mlp()
    theta = B.to_numpy(params.data).copy()
    opt = O.NaturalGradient(params, lr=1.0, damping=1e-5, cg_maxiter=5, on_unconverged="raise")
    with pytest.raises(O.CGNotConverged, match=r"step 1: CG did not reach cg_tol=1e-10 in 5 iterations"):
        opt.step(output_fn, y)
    assert np.array_equal(B.to_numpy(params.data), theta) and opt.step_count == 0 and not opt.last_cg.converged
    opt = O.NaturalGradient(params, lr=1.0, damping=1e-5, cg_maxiter=5)      # default policy: warn
    with pytest.warns(RuntimeWarning, match="approximate solution"):
        opt.step(output_fn, y)
    assert opt.step_count == 1 and not np.array_equal(B.to_numpy(params.data), theta)
    with pytest.raises(ValueError, match="on_unconverged"):
        O.NaturalGradient(params, on_unconverged="ignore")


def test_default_cg_tol_follows_the_dtype(rng):
    model, params, x, output_fn = regression(rng)
    assert O.NaturalGradient(params).cg_settings() == (1e-10, 10 * params.numel)
    tg.set_default_dtype("float32")
    p32 = tg.FlatParameters(L.Dense(4, 3))
    tol, _ = O.NaturalGradient(p32).cg_settings()
    assert tol == pytest.approx(100 * np.finfo(np.float32).eps)


def test_newton_cg_and_hessian_free_report_their_solves(rng):
    """The other CG users report convergence on every step (they stop early by design)."""
    tg.set_default_dtype("float64")
    A = rng.standard_normal((5, 5))
    A = A @ A.T + np.eye(5)
    params = tg.FlatParameters.from_array(rng.standard_normal(5))
    At = tg.Tensor(A)

    def loss():
        theta = params.parameters[0]
        return (theta * (At @ theta)).sum() * 0.5
    opt = O.NewtonCG(params, line_search=False)
    opt.step(closure=loss)
    assert isinstance(opt.last_result.cg.converged, bool) and opt.last_result.cg.converged
    model = L.Dense(5, 2)
    hf_params = tg.FlatParameters(model)
    X, T = rng.standard_normal((20, 5)), rng.standard_normal((20, 2))
    hf = O.HessianFree(hf_params, damping=1e-8, loss="mse", cg_maxiter=3)
    hf.step(closure=lambda: model(tg.Tensor(X)), targets=T)
    cg = hf.last_result.cg                   # Martens' progress test stops CG early by design: reported
    assert cg.iterations <= 3 and not cg.converged and "maxiter" in cg.message
