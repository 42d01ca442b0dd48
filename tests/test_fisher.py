"""Fisher-vector products ([Misra, "Natural Gradients"]), float64.

The true Fisher of a softmax output is checked against its definition
(1/N) Σₙ E_{y∼p} [gₙ(y) gₙ(y)ᵀ] built from per-example gradients of every label, and
against the Gauss-Newton product it equals; the Gaussian Fisher against Jᵀ J/σ² and the
mse Gauss-Newton product; the empirical Fisher against per-example gradients from
separate backward passes and from torch.func.
"""

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import curvature as C
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L


def rel(a, b):
    return float(np.linalg.norm(B.to_numpy(a) - B.to_numpy(b)) / np.linalg.norm(B.to_numpy(b)))


def problem(rng, n=5, sizes=(4, 3, 3)):
    tg.set_default_dtype("float64")
    model = L.Sequential(L.Dense(sizes[0], sizes[1]), L.Tanh(), L.Dense(sizes[1], sizes[2]))
    params = tg.FlatParameters(model)
    x = rng.standard_normal((n, sizes[0]))
    return model, params, x, (lambda: model(tg.Tensor(x)))


def gradient_of(model, params, loss):
    params.zero_grad()
    loss.backward()
    return B.to_numpy(params.grad).copy()


def ce_example_gradient(model, params, xn, label):
    """∇_θ(−log p(label | xₙ)) from its own forward and backward pass."""
    return gradient_of(model, params, F.cross_entropy(model(tg.Tensor(xn[None])), np.array([label])))


def dense(op, n):
    return np.stack([B.to_numpy(op(e)) for e in np.eye(n)], axis=1)


def jacobian(output_fn, params):
    jac = C.OutputJacobian(output_fn, params)
    z = jac.output.data
    return np.stack([B.to_numpy(jac.vjp(e.reshape(z.shape))) for e in np.eye(z.size)])


# ---------------------------------------------------------------- true Fisher, softmax outputs
def test_true_fisher_softmax_equals_its_definition_and_gauss_newton(rng):
    model, params, x, output_fn = problem(rng)
    z = output_fn().numpy()
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    n, k = z.shape
    # definition: (1/N) Σₙ Σ_y p(y|xₙ) gₙ(y) gₙ(y)ᵀ, each gₙ(y) from a separate backward pass
    fisher = sum(p[i, y] * np.outer(g, g) for i in range(n) for y in range(k)
                 for g in [ce_example_gradient(model, params, x[i], y)]) / n
    op = C.fisher_operator(output_fn, params, "categorical")
    assert rel(dense(op, params.numel), fisher) < 1e-12
    labels = rng.integers(0, k, n)
    for _ in range(3):
        v = rng.standard_normal(params.numel)
        fv = C.fvp(output_fn, params, v)
        assert rel(fv, fisher @ v) < 1e-12
        assert rel(fv, C.gnvp(output_fn, params, v, loss="cross_entropy", targets=labels)) < 1e-14
    assert np.linalg.eigvalsh(fisher).min() > -1e-14     # positive semi-definite


def test_true_fisher_sum_reduction_and_damping(rng):
    model, params, x, output_fn = problem(rng)
    v = B.asarray(rng.standard_normal(params.numel))
    mean = C.fvp(output_fn, params, v)
    assert rel(B.to_numpy(C.fvp(output_fn, params, v, reduction="sum")), B.to_numpy(x.shape[0] * mean)) < 1e-14
    op = C.fisher_operator(output_fn, params, damping=0.3)
    assert rel(B.to_numpy(op(v)), B.to_numpy(mean + 0.3 * v)) < 1e-14


# ---------------------------------------------------------------- true Fisher, Gaussian outputs
@pytest.mark.parametrize("sigma", [1.0, 0.4])
def test_true_fisher_gaussian_equals_JTJ_over_sigma2_and_mse_gauss_newton(rng, sigma):
    model, params, x, output_fn = problem(rng)
    J = jacobian(output_fn, params)                # rows: output entries, example-major
    n = x.shape[0]
    fisher = J.T @ J / (sigma ** 2 * n)            # (1/N) Σₙ Jₙᵀ (I/σ²) Jₙ
    t = rng.standard_normal((n, 3))
    for _ in range(3):
        v = rng.standard_normal(params.numel)
        fv = C.fvp(output_fn, params, v, distribution="gaussian", sigma=sigma)
        assert rel(fv, fisher @ v) < 1e-12
        # Gauss-Newton of Σ‖z − t‖² is 2 JᵀJ: F = G_mse(sum) / (2σ²N)
        gn = C.gnvp(output_fn, params, v, loss="mse", reduction="sum", targets=t)
        assert rel(fv, gn / (2 * sigma ** 2 * n)) < 1e-14


# ---------------------------------------------------------------- empirical Fisher
def test_per_example_gradients_match_separate_backward_passes(rng):
    model, params, x, output_fn = problem(rng)
    y = rng.integers(0, 3, x.shape[0])
    G = C.per_example_gradients(output_fn, params, y)
    loop = np.stack([ce_example_gradient(model, params, x[i], y[i]) for i in range(x.shape[0])])
    assert rel(G, loop) < 1e-13
    mean_grad = gradient_of(model, params, F.cross_entropy(output_fn(), y))
    assert rel(G.mean(axis=0), mean_grad) < 1e-13


@pytest.mark.parametrize("distribution", ["categorical", "gaussian"])
def test_empirical_fisher_product_equals_mean_outer_product(rng, distribution):
    model, params, x, output_fn = problem(rng)
    n = x.shape[0]
    y = rng.integers(0, 3, n) if distribution == "categorical" else rng.standard_normal((n, 3))
    G = B.to_numpy(C.per_example_gradients(output_fn, params, y, distribution=distribution, sigma=0.7))
    fisher = G.T @ G / n
    for _ in range(3):
        v = rng.standard_normal(params.numel)
        got = C.empirical_fvp(output_fn, params, y, v, distribution=distribution, sigma=0.7)
        assert rel(got, fisher @ v) < 1e-12
    if distribution == "gaussian":                 # gₙ = Jₙᵀ (zₙ − tₙ)/σ²: check against the formula
        z = output_fn().numpy()
        J = jacobian(output_fn, params).reshape(n, 3, -1)
        expected = np.einsum("nkp,nk->np", J, (z - y) / 0.49)
        assert rel(G, expected) < 1e-12


def test_empirical_fisher_matches_torch_func_per_sample_gradients(torch, rng):
    model, params, x, output_fn = problem(rng)
    y = rng.integers(0, 3, x.shape[0])
    names = [n for n, _ in model.named_parameters()]
    tparams = {n: torch.tensor(B.to_numpy(p.data)) for n, p in model.named_parameters()}

    def loss_one(ps, xn, yn):
        h = torch.tanh(xn @ ps["0.weight"].T + ps["0.bias"])
        z = h @ ps["2.weight"].T + ps["2.bias"]
        return torch.nn.functional.cross_entropy(z[None], yn[None])

    per = torch.func.vmap(torch.func.grad(loss_one), in_dims=(None, 0, 0))(tparams, torch.tensor(x),
                                                                          torch.tensor(y))
    G_torch = np.concatenate([per[n].reshape(x.shape[0], -1).numpy() for n in names], axis=1)
    G = C.per_example_gradients(output_fn, params, y)
    assert rel(B.to_numpy(G), G_torch) < 1e-12
    v = rng.standard_normal(params.numel)
    assert rel(B.to_numpy(C.empirical_fvp(output_fn, params, y, B.asarray(v))),
               G_torch.T @ (G_torch @ v) / x.shape[0]) < 1e-12


def test_true_fisher_is_expected_empirical_fisher_not_the_empirical_one(rng):
    """The two differ at a given labelling (the test can tell them apart)."""
    model, params, x, output_fn = problem(rng)
    y = rng.integers(0, 3, x.shape[0])
    true = dense(C.fisher_operator(output_fn, params), params.numel)
    emp = dense(C.fisher_operator(output_fn, params, kind="empirical", targets=y), params.numel)
    assert rel(emp, true) > 1e-2


# ---------------------------------------------------------------- bad input
def test_fisher_bad_input(rng):
    model, params, x, output_fn = problem(rng)
    v = np.ones(params.numel)
    with pytest.raises(ValueError, match="distribution must be one of"):
        C.fvp(output_fn, params, v, distribution="poisson")
    with pytest.raises(ValueError, match="sigma"):
        C.fvp(output_fn, params, v, distribution="gaussian", sigma=0.0)
    with pytest.raises(ValueError, match="reduction"):
        C.fvp(output_fn, params, v, reduction="none")
    with pytest.raises(ValueError, match="needs targets"):
        C.fisher_operator(output_fn, params, kind="empirical")
    with pytest.raises(ValueError, match="kind must be"):
        C.fisher_operator(output_fn, params, kind="sampled")
    with pytest.raises(ValueError, match="integer labels"):
        C.empirical_fvp(output_fn, params, np.zeros(x.shape[0]), v)
    with pytest.raises(ValueError, match=f"length {params.numel}"):
        C.fvp(output_fn, params, np.ones(3))
    with pytest.raises(ValueError, match="damping"):
        C.fisher_operator(output_fn, params, damping=-1.0)
