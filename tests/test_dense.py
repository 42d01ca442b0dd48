"""Dense, activations, Dropout, Flatten and the initializers.

PyTorch comparisons in float64 (Dense/MLP outputs and every parameter gradient to 1e-12
relative, a torch state_dict loads as is), float64 gradcheck and gradgradcheck for every
layer, and the initializers' distributions pinned to the host generator's draws.
"""

import math

import numpy as np
import pytest
from layer_checks import rel_err

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd.layers import init
from tinygrad_ngd.testing import gradcheck, gradgradcheck


def torch_state_as_numpy(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


# ---------------------------------------------------------------- Dense vs torch
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("lead", [(5,), (2, 3)])
def test_dense_matches_torch_linear(torch, rng, bias, lead):
    tg.set_default_dtype("float64")
    tl = torch.nn.Linear(4, 3, bias=bias)
    layer = L.Dense(4, 3, bias=bias)
    layer.load_state_dict(torch_state_as_numpy(tl))
    x_np = rng.standard_normal(lead + (4,))
    gy = rng.standard_normal(lead + (3,))  # a random upstream gradient, not all ones
    x = tg.Tensor(x_np, requires_grad=True)
    y = layer(x)
    y.backward(gy)
    xt = torch.tensor(x_np, requires_grad=True)
    yt = tl(xt)
    yt.backward(torch.tensor(gy))
    assert rel_err(y.numpy(), yt.detach().numpy()) <= 1e-12
    assert rel_err(x.grad.numpy(), xt.grad.numpy()) <= 1e-12
    assert rel_err(layer.weight.grad.numpy(), tl.weight.grad.numpy()) <= 1e-12
    if bias:
        assert rel_err(layer.bias.grad.numpy(), tl.bias.grad.numpy()) <= 1e-12
    assert list(layer.state_dict()) == list(tl.state_dict())


def _torch_mlp(torch):
    nn = torch.nn
    return nn.Sequential(nn.Linear(6, 8), nn.Sigmoid(), nn.Linear(8, 7), nn.Tanh(),
                         nn.Linear(7, 5), nn.ReLU(), nn.Linear(5, 5), nn.Softplus(beta=2.0, threshold=3.0),
                         nn.Linear(5, 4), nn.Identity(), nn.LogSoftmax(dim=1))


def _our_mlp():
    return L.Sequential(L.Dense(6, 8), L.Sigmoid(), L.Dense(8, 7), L.Tanh(),
                        L.Dense(7, 5), L.ReLU(), L.Dense(5, 5), L.Softplus(beta=2.0, threshold=3.0),
                        L.Dense(5, 4), L.Identity(), L.LogSoftmax(dim=1))


def test_mlp_matches_torch_outputs_and_every_parameter_gradient(torch, rng):
    tg.set_default_dtype("float64")
    torch.manual_seed(0)
    tm = _torch_mlp(torch)
    model = _our_mlp()
    model.load_state_dict(torch_state_as_numpy(tm))  # a torch state_dict converted to NumPy, as is
    x_np = rng.standard_normal((9, 6))
    labels = rng.integers(0, 4, size=9)
    out = model(tg.Tensor(x_np))
    loss = F.cross_entropy(out, labels)  # on log-probabilities: still a valid (shifted) loss
    loss.backward()
    out_t = tm(torch.tensor(x_np))
    loss_t = torch.nn.functional.cross_entropy(out_t, torch.tensor(labels))
    loss_t.backward()
    assert rel_err(out.numpy(), out_t.detach().numpy()) <= 1e-12
    assert abs(loss.item() - loss_t.item()) <= 1e-12 * abs(loss_t.item())
    torch_params = dict(tm.named_parameters())
    ours = model.named_parameters()
    assert [n for n, _ in ours] == list(torch_params)
    for name, p in ours:
        assert rel_err(p.grad.numpy(), torch_params[name].grad.numpy()) <= 1e-12, name


def test_torch_state_dict_gives_identical_outputs_also_in_float32(torch, rng):
    torch.manual_seed(1)
    tm = _torch_mlp(torch).float()
    model = _our_mlp()  # float32 default
    state = torch_state_as_numpy(tm)
    model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(B.to_numpy(v), state[k])
    x = rng.standard_normal((4, 6)).astype(np.float32)
    y = model(tg.Tensor(x)).numpy()
    yt = tm(torch.tensor(x)).detach().numpy()
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, yt, rtol=1e-5, atol=1e-6)


def test_dense_wrong_feature_count_names_layer_and_both_sizes():
    model = L.Sequential(L.Dense(4, 3), L.ReLU(), L.Dense(3, 2))
    with pytest.raises(ValueError, match=r"Dense '0'.*5 features.*expected 4"):
        model(tg.Tensor(np.zeros((2, 5), np.float32)))
    deep = L.Sequential(L.Dense(2, 2), L.Sequential(L.Tanh(), L.Dense(2, 3)))
    with pytest.raises(ValueError, match=r"Dense '1\.1'.*input has 4 features.*expected 2"):
        deep[1][1](tg.Tensor(np.zeros((1, 4), np.float32)))
    with pytest.raises(ValueError, match=r"Dense \(in_features=7.*6 features.*expected 7"):
        L.Dense(7, 1)(tg.Tensor(np.zeros((2, 6), np.float32)))
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        L.Dense(0, 3)
    with pytest.raises(ValueError, match="out_features"):
        L.Dense(3, 2.5)


def test_dense_dtype_follows_default_or_argument():
    assert L.Dense(3, 2).weight.dtype == np.float32
    assert L.Dense(3, 2, dtype="float64").bias.dtype == np.float64
    tg.set_default_dtype("float64")
    assert L.Dense(3, 2).weight.dtype == np.float64


# ---------------------------------------------------------------- derivative checks
def _layer_cases():
    return [
        ("dense", lambda: L.Dense(3, 4), (5, 3)),
        ("dense_nobias_3d", lambda: L.Dense(3, 2, bias=False), (2, 2, 3)),
        ("sigmoid", L.Sigmoid, (4, 3)),
        ("tanh", L.Tanh, (4, 3)),
        ("relu", L.ReLU, (4, 3)),
        ("softplus", L.Softplus, (4, 3)),
        ("softplus_beta", lambda: L.Softplus(beta=1.5, threshold=1.0), (4, 3)),
        ("softmax", lambda: L.Softmax(dim=0), (4, 3)),
        ("log_softmax", L.LogSoftmax, (4, 3)),
        ("identity", L.Identity, (4, 3)),
        ("flatten", L.Flatten, (2, 3, 2)),
        ("dropout", lambda: L.Dropout(0.4), (4, 5)),
    ]


@pytest.mark.parametrize("name,make,shape", _layer_cases(), ids=[c[0] for c in _layer_cases()])
def test_layers_pass_gradcheck_and_gradgradcheck(rng, name, make, shape):
    tg.set_default_dtype("float64")
    layer = make()
    x_np = rng.standard_normal(shape) * 2
    if name == "relu":
        x_np[np.abs(x_np) < 1e-3] = 0.5  # keep finite differences away from the kink
    x = tg.Tensor(x_np, requires_grad=True)
    params = [p for p in layer.parameters()]

    def fn(x, *ps):
        tg.manual_seed(3)  # dropout draws the same mask on every evaluation
        return layer(x)

    gradcheck(fn, [x] + params)
    gradgradcheck(fn, [x] + params)


@pytest.mark.parametrize("ours,theirs,shape", [
    (lambda: L.Sigmoid(), lambda nn: nn.Sigmoid(), (4, 5)),
    (lambda: L.Tanh(), lambda nn: nn.Tanh(), (4, 5)),
    (lambda: L.ReLU(), lambda nn: nn.ReLU(), (4, 5)),
    (lambda: L.Softplus(), lambda nn: nn.Softplus(), (4, 5)),
    (lambda: L.Softplus(beta=0.5, threshold=2.0), lambda nn: nn.Softplus(beta=0.5, threshold=2.0), (4, 5)),
    (lambda: L.Softmax(dim=0), lambda nn: nn.Softmax(dim=0), (4, 5)),
    (lambda: L.LogSoftmax(dim=-1), lambda nn: nn.LogSoftmax(dim=-1), (4, 5)),
    (lambda: L.Identity(), lambda nn: nn.Identity(), (4, 5)),
    (lambda: L.Flatten(), lambda nn: nn.Flatten(), (2, 3, 4)),
    (lambda: L.Flatten(0, 1), lambda nn: nn.Flatten(0, 1), (2, 3, 4)),
])
def test_activation_modules_match_torch(torch, rng, ours, theirs, shape):
    tg.set_default_dtype("float64")
    x_np = rng.standard_normal(shape) * 4
    x = tg.Tensor(x_np, requires_grad=True)
    y = ours()(x)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    xt = torch.tensor(x_np, requires_grad=True)
    yt = theirs(torch.nn)(xt)
    yt.backward(torch.tensor(gy))
    assert y.shape == tuple(yt.shape)
    assert rel_err(y.numpy(), yt.detach().numpy()) <= 1e-10
    assert rel_err(x.grad.numpy(), xt.grad.numpy()) <= 1e-10


def test_activation_argument_errors():
    with pytest.raises(ValueError, match="beta"):
        L.Softplus(beta=0)
    with pytest.raises(ValueError, match="start_dim=2, end_dim=1"):
        L.Flatten(2, 1)(tg.Tensor(np.zeros((2, 3, 4))))
    with pytest.raises(ValueError, match="Dropout: p"):
        L.Dropout(1.5)


# ---------------------------------------------------------------- Dropout
def test_dropout_mask_comes_from_the_host_generator_and_is_inverted():
    tg.set_default_dtype("float64")
    p = 0.3
    layer = L.Dropout(p)
    x = tg.Tensor(np.arange(1, 2001, dtype=np.float64).reshape(40, 50), requires_grad=True)
    tg.manual_seed(11)
    y = layer(x)
    u = np.random.default_rng(11).random((40, 50))
    expected = np.where(u >= p, x.numpy() / (1 - p), 0.0)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-15, atol=0)
    kept = (y.numpy() != 0).mean()
    assert abs(kept - (1 - p)) < 0.03
    gy = np.random.default_rng(0).standard_normal((40, 50))
    y.backward(gy)
    np.testing.assert_allclose(x.grad.numpy(), np.where(u >= p, gy / (1 - p), 0.0), rtol=1e-15)


def test_dropout_is_identity_in_eval_and_for_p0_and_zero_for_p1():
    x = tg.Tensor(np.ones((3, 4), np.float32))
    layer = L.Dropout(0.5).eval()
    assert layer(x) is x
    assert L.Dropout(0.0)(x) is x
    np.testing.assert_array_equal(L.Dropout(1.0)(x).numpy(), np.zeros((3, 4)))
    state = B.get_rng_state()
    L.Dropout(0.5).eval()(x)
    assert B.get_rng_state() == state  # eval draws nothing


# ---------------------------------------------------------------- initializers
def test_dense_default_init_is_pytorch_linear_distribution_drawn_on_the_host():
    tg.manual_seed(5)
    layer = L.Dense(50, 40)
    bound = 1 / math.sqrt(50)
    rng = np.random.default_rng(5)
    w = rng.uniform(-bound, bound, size=(40, 50)).astype(np.float32)
    b = rng.uniform(-bound, bound, size=(40,)).astype(np.float32)
    np.testing.assert_array_equal(layer.weight.numpy(), w)
    np.testing.assert_array_equal(layer.bias.numpy(), b)


def test_linear_default_bound_statistics():
    tg.manual_seed(0)
    w = init.linear_default_weight((300, 400), dtype="float64")
    bound = 1 / math.sqrt(400)
    assert w.max() <= bound and w.min() >= -bound
    assert w.max() > 0.999 * bound and w.min() < -0.999 * bound
    assert abs(w.var() - bound ** 2 / 3) < 0.01 * bound ** 2 / 3


@pytest.mark.parametrize("fn,kwargs,std_of", [
    (init.xavier_uniform, {"gain": 2.0}, lambda fi, fo: 2.0 * math.sqrt(2 / (fi + fo))),
    (init.xavier_normal, {"gain": 0.5}, lambda fi, fo: 0.5 * math.sqrt(2 / (fi + fo))),
    (init.kaiming_uniform, {"a": 0.0, "nonlinearity": "relu"}, lambda fi, fo: math.sqrt(2 / fi)),
    (init.kaiming_normal, {"mode": "fan_out", "nonlinearity": "relu"}, lambda fi, fo: math.sqrt(2 / fo)),
    (init.kaiming_uniform, {"a": math.sqrt(5)}, lambda fi, fo: 1 / math.sqrt(3 * fi)),
])
def test_initializer_standard_deviations(fn, kwargs, std_of):
    shape = (200, 30, 3, 3)  # conv-like: fans include the receptive field
    fan_in, fan_out = 30 * 9, 200 * 9
    tg.manual_seed(0)
    w = fn(shape, dtype="float64", **kwargs)
    std = std_of(fan_in, fan_out)
    assert w.shape == shape and w.dtype == np.float64
    assert abs(w.std() / std - 1) < 0.01
    assert abs(w.mean()) < 0.01 * std
    if fn in (init.xavier_uniform, init.kaiming_uniform):
        assert np.abs(w).max() <= math.sqrt(3) * std


def test_fans_and_gains_match_torch(torch):
    for shape in [(3, 4), (5, 2, 3, 3), (4, 1, 7)]:
        assert init.fan_in_and_fan_out(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    for nl, param in [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                      ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None)]:
        assert init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param), rel=1e-15)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.fan_in_and_fan_out((3,))
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 2, 2)])
def test_orthogonal_is_semi_orthogonal(shape):
    q = init.orthogonal(shape, gain=1.5, dtype="float64").reshape(shape[0], -1)
    rows, cols = q.shape
    if rows >= cols:
        np.testing.assert_allclose(B.to_numpy(q.T @ q), 2.25 * np.eye(cols), atol=1e-12)
    else:
        np.testing.assert_allclose(B.to_numpy(q @ q.T), 2.25 * np.eye(rows), atol=1e-12)


def test_initializers_take_dtype_and_are_reproducible_from_the_seed():
    for fn in (init.xavier_uniform, init.xavier_normal, init.kaiming_uniform, init.kaiming_normal,
               init.orthogonal, init.linear_default_weight):
        tg.manual_seed(4)
        a = fn((5, 3))
        tg.manual_seed(4)
        b = fn((5, 3), dtype="float64")
        assert a.dtype == np.float32 and b.dtype == np.float64
        np.testing.assert_array_equal(B.to_numpy(a), B.to_numpy(b.astype(np.float32)))  # drawn in float64, then cast
    assert init.zeros((2, 3)).dtype == np.float32 and not init.zeros((2, 3)).any()


def test_in_place_initializers_keep_flat_views():
    model = L.Sequential(L.Dense(4, 3), L.Tanh(), L.Dense(3, 2))
    params = tg.FlatParameters(model)
    w = model[0].weight
    init.orthogonal_(w)
    init.zeros_(model[2].bias)
    assert np.shares_memory(w.data, params.data)
    np.testing.assert_allclose(w.numpy() @ w.numpy().T, np.eye(3), atol=1e-6)
    np.testing.assert_array_equal(B.to_numpy(params.data[params.blocks[1].slice][-2:]), 0)
    init.xavier_uniform_(model[2].weight, gain=1.0)
    bound = math.sqrt(6 / 5)
    assert np.abs(model[2].weight.numpy()).max() <= bound


@pytest.mark.parametrize("x", [np.array([["a", "b", "c"]]), np.array([[1.0, 2.0, None]], dtype=object),
                               [["a", "b", "c"]], [[1, 2, "x"]], np.array([[1 + 2j, 0, 0]])])
def test_non_numeric_input_is_refused_naming_the_layer(x):
    """Issue 14: strings/objects reached NumPy's matmul (UFuncTypeError / a raw TypeError);
    complex input was multiplied silently."""
    layer = L.Dense(3, 2)
    with pytest.raises(TypeError, match=r"Dense.*real numeric.*dtype"):
        layer(x)
