"""hvp (grad-of-grad) against the dense Hessian and PyTorch's double-backward HVP, float64.

Done-when (issue 7): hvp equals H v and torch's double-backward HVP to 1e-10 relative.
"""

import itertools

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import curvature as C
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L

RTOL = 1e-10


def rel(a, b):
    return np.linalg.norm(B.to_numpy(a) - B.to_numpy(b)) / np.linalg.norm(B.to_numpy(b))


def _mlp(sizes, act):
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(L.Dense(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return L.Sequential(*layers)


@pytest.fixture
def mlp_problem(rng):
    tg.set_default_dtype("float64")
    model = _mlp([5, 4, 4, 3], L.Tanh)
    params = tg.FlatParameters(model)
    x = rng.standard_normal((7, 5))
    y = rng.integers(0, 3, size=7)
    loss_fn = lambda: F.cross_entropy(model(tg.Tensor(x)), y)
    return model, params, x, y, loss_fn


def torch_hvp(torch, model, x, y, v, act="tanh"):
    """H v by torch.autograd.grad twice on the same MLP (weights copied)."""
    ws = [torch.tensor(B.to_numpy(p.data), requires_grad=True) for p in model.parameters()]
    h = torch.tensor(x)
    n_layers = len(ws) // 2
    for i in range(n_layers):
        h = torch.nn.functional.linear(h, ws[2 * i], ws[2 * i + 1])
        if i < n_layers - 1:
            h = torch.tanh(h) if act == "tanh" else torch.sigmoid(h)
    loss = torch.nn.functional.cross_entropy(h, torch.tensor(y))
    gs = torch.autograd.grad(loss, ws, create_graph=True)
    vs, start = [], 0
    for w in ws:
        vs.append(torch.tensor(v[start:start + w.numel()]).reshape(w.shape))
        start += w.numel()
    hv = torch.autograd.grad(sum((g * vi).sum() for g, vi in zip(gs, vs)), ws)
    return np.concatenate([t.detach().numpy().reshape(-1) for t in hv])


def test_hvp_mlp_equals_dense_hessian_and_torch(mlp_problem, torch, rng):
    model, params, x, y, loss_fn = mlp_problem
    H = B.to_numpy(C.hessian(loss_fn, params))
    for _ in range(3):
        v = rng.standard_normal(params.numel)
        hv = C.hvp(loss_fn, params, v)
        assert rel(hv, H @ v) <= RTOL
        assert rel(hv, torch_hvp(torch, model, x, y, v)) <= RTOL
    assert rel(H, H.T) <= RTOL  # grad-of-grad columns give a symmetric matrix


def test_hessian_operator_reuses_one_graph_and_matches_hvp(mlp_problem, rng):
    _model, params, _x, _y, loss_fn = mlp_problem
    op = C.hessian_operator(loss_fn, params)
    _, g = C.gradient(loss_fn, params)
    np.testing.assert_allclose(B.to_numpy(op.gradient), B.to_numpy(g), rtol=1e-13, atol=0)
    for _ in range(3):  # many products from one graph (retain_graph)
        v = rng.standard_normal(params.numel)
        assert rel(op(v), C.hvp(loss_fn, params, v)) <= 1e-13
    assert op.n_products == 3


def test_hvp_against_finite_differences_of_the_gradient(mlp_problem, rng):
    """Independent of autodiff's second derivative: (g(θ+εv) − g(θ−εv)) / 2ε."""
    _model, params, _x, _y, loss_fn = mlp_problem
    v = rng.standard_normal(params.numel)
    theta, eps = B.to_numpy(params.data).copy(), 1e-5
    params.data[:] = theta + eps * v
    gp = C.gradient(loss_fn, params)[1]
    params.data[:] = theta - eps * v
    gm = C.gradient(loss_fn, params)[1]
    params.data[:] = theta
    assert rel(C.hvp(loss_fn, params, v), (gp - gm) / (2 * eps)) <= 1e-7


def test_hvp_at_functional_form_matches_closed_form(rng):
    tg.set_default_dtype("float64")
    A = rng.standard_normal((6, 6))
    a = rng.standard_normal(6)
    f = lambda x: (x @ tg.Tensor(A) @ x) + F.exp(x * tg.Tensor(a)).sum()
    x0, v = rng.standard_normal(6), rng.standard_normal(6)
    H = A + A.T + np.diag(a * a * np.exp(a * x0))
    assert rel(C.hvp_at(f, x0, v), H @ v) <= 1e-13
    assert rel(C.hessian_at(f, x0), H) <= 1e-13
    assert rel(C.gradient_at(f, x0), (A + A.T) @ x0 + a * np.exp(a * x0)) <= 1e-13


def test_hvp_of_a_linear_loss_is_zero_and_unused_parameters_get_zero_rows(rng):
    tg.set_default_dtype("float64")
    model = _mlp([3, 2], L.Tanh)
    params = tg.FlatParameters(model)
    x = rng.standard_normal((4, 3))
    loss_fn = lambda: model(tg.Tensor(x)).sum()  # linear in θ
    np.testing.assert_array_equal(B.to_numpy(C.hvp(loss_fn, params, rng.standard_normal(params.numel))), 0.0)
    only_w = lambda: (model[0].weight * model[0].weight).sum()  # bias unused
    H = C.hessian(only_w, params)
    np.testing.assert_allclose(B.to_numpy(H), np.diag([2.0] * 6 + [0.0] * 2), atol=0)


def test_hvp_bad_input(mlp_problem):
    model, params, x, _y, loss_fn = mlp_problem
    with pytest.raises(ValueError, match=f"length {params.numel}"):
        C.hvp(loss_fn, params, np.ones(params.numel + 1))
    with pytest.raises(ValueError, match="scalar loss"):
        C.hvp(lambda: model(tg.Tensor(x)), params, np.ones(params.numel))
    with pytest.raises(TypeError, match="must return a Tensor"):
        C.hvp(lambda: 1.0, params, np.ones(params.numel))
    with pytest.raises(ValueError, match="does not depend on the parameters"):
        C.hvp(lambda: tg.Tensor(np.array(1.0)), params, np.ones(params.numel))
    with pytest.raises(TypeError, match="FlatParameters"):
        C.hvp(loss_fn, model, np.ones(params.numel))


def test_hessian_refuses_a_large_model_with_size_and_memory():
    tg.set_default_dtype("float64")
    params = tg.FlatParameters.from_array(np.zeros(3000))
    theta = params.parameters[0]
    with pytest.raises(ValueError, match=r"3000 × 3000 = 9,000,000 entries \(0.072 GB.*force=True"):
        C.hessian(lambda: (theta * theta).sum(), params)
    small = tg.FlatParameters.from_array(np.zeros(30))
    t30 = small.parameters[0]
    np.testing.assert_array_equal(B.to_numpy(C.hessian(lambda: (t30 * t30).sum(), small, max_params=10, force=True)),
                                  2.0 * np.eye(30))
