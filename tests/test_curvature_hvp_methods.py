"""The two exact HVP methods agree, and J v by forward mode equals J v by double VJP.

forward-over-reverse (Pearlmutter's R-operator: the gradient computation differentiated in
forward mode along v) and reverse-over-reverse (grad of grad) to 1e-11 relative in float64
on every model family of the suite: MLP, conv net with batch-norm in train mode, LSTM,
embedding model.  (Each method is also compared with the dense Hessian and torch in
test_curvature_hvp.py / test_curvature_hvp_layers.py, which use the default method.)
"""

import numpy as np
import pytest
from test_curvature_hvp_layers import _BagOfEmbeddings

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import curvature as C
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L

RTOL = 1e-11


def rel(a, b):
    return np.linalg.norm(B.to_numpy(a) - B.to_numpy(b)) / np.linalg.norm(B.to_numpy(b))


class _LSTMClassifier(L.Module):
    def __init__(self):
        super().__init__()
        self.lstm = L.LSTM(2, 3, num_layers=2)
        self.head = L.Dense(3, 3)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[-1])


def _problem(kind, rng):
    """(model, params, output_fn, labels) for one model family, float64."""
    tg.set_default_dtype("float64")
    if kind == "sigmoid_mlp":
        model = L.Sequential(L.Dense(6, 5), L.Sigmoid(), L.Dense(5, 5), L.Sigmoid(), L.Dense(5, 3))
        x = tg.Tensor(rng.standard_normal((7, 6)))
    elif kind == "tanh_relu_softplus_mlp":
        model = L.Sequential(L.Dense(4, 5), L.Tanh(), L.Dense(5, 5), L.Softplus(), L.Dense(5, 5), L.ReLU(),
                             L.Dense(5, 3))
        x = tg.Tensor(rng.standard_normal((7, 4)))
    elif kind == "bn_cnn_train":
        model = L.Sequential(L.Conv2d(1, 2, 3, padding=1), L.BatchNorm2d(2), L.Tanh(), L.MaxPool2d(2),
                             L.Conv2d(2, 2, 2), L.Flatten(), L.Dense(8, 3))
        model.train()
        x = tg.Tensor(rng.standard_normal((4, 1, 6, 6)))
    elif kind == "lstm":
        model = _LSTMClassifier()
        x = tg.Tensor(rng.standard_normal((4, 3, 2)))
    else:
        model = _BagOfEmbeddings()
        x = rng.integers(0, 10, size=(6, 3))
        x[0, :2] = 7
    n = 6 if kind == "embedding" else (3 if kind == "lstm" else x.shape[0])
    labels = rng.integers(0, 3, size=n)
    return model, tg.FlatParameters(model), (lambda: model(x)), labels


KINDS = ["sigmoid_mlp", "tanh_relu_softplus_mlp", "bn_cnn_train", "lstm", "embedding"]


@pytest.mark.parametrize("kind", KINDS)
def test_forward_over_reverse_equals_reverse_over_reverse(kind, rng):
    model, params, output_fn, labels = _problem(kind, rng)
    loss_fn = lambda: F.cross_entropy(output_fn(), labels)  # noqa: E731
    op_rr = C.hessian_operator(loss_fn, params)
    op_fr = C.hessian_operator(loss_fn, params, method="forward-over-reverse")
    for _ in range(2):
        v = rng.standard_normal(params.numel)
        fr = C.hvp(loss_fn, params, v, method="forward-over-reverse")
        rr = C.hvp(loss_fn, params, v, method="reverse-over-reverse")
        assert np.linalg.norm(rr) > 0
        assert rel(fr, rr) <= RTOL
        assert rel(C.hvp(loss_fn, params, v), rr) <= RTOL  # the default is one of the two
        assert rel(op_fr(v), rr) <= RTOL
        assert rel(op_rr(v), rr) <= RTOL


@pytest.mark.parametrize("kind", KINDS)
def test_gauss_newton_jv_by_forward_mode_equals_double_vjp(kind, rng):
    _model, params, output_fn, labels = _problem(kind, rng)
    fwd = C.OutputJacobian(output_fn, params)
    dbl = C.OutputJacobian(output_fn, params, jvp_method="double-vjp")
    for _ in range(2):
        v = rng.standard_normal(params.numel)
        jv = dbl.jvp(v)
        assert np.linalg.norm(jv) > 0
        assert rel(fwd.jvp(v), jv) <= RTOL
    G = C.gauss_newton_operator(output_fn, params, labels)
    v = rng.standard_normal(params.numel)
    z = fwd.output.data
    want = dbl.vjp(C.loss_hessian_product(z, dbl.jvp(v)))
    assert rel(G(v), want) <= RTOL


def test_gauss_newton_products_never_call_the_model_again(rng):
    """J v runs over the graph of the one forward pass: batch-norm's running statistics
    move once (when the operator is built), not once per product."""
    model, params, output_fn, labels = _problem("bn_cnn_train", rng)
    calls = []

    def counted():
        calls.append(1)
        return output_fn()

    G = C.gauss_newton_operator(counted, params, labels)
    bn = model[1]
    before = bn.running_mean.data.copy()
    for _ in range(3):
        G(rng.standard_normal(params.numel))
    assert len(calls) == 1
    np.testing.assert_array_equal(B.to_numpy(bn.running_mean.data), B.to_numpy(before))


def test_hvp_at_both_methods_match_the_closed_form(rng):
    tg.set_default_dtype("float64")
    A = rng.standard_normal((4, 4))
    A = A + A.T
    f = lambda x: (x * (tg.Tensor(A) @ x)).sum() * 0.5 + F.sum(F.exp(x))  # noqa: E731
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    want = A @ v + np.exp(x) * v
    for method in C.HVP_METHODS:
        assert rel(C.hvp_at(f, x, v, method=method), want) <= 1e-13
    assert np.all(C.hvp_at(lambda x: x.sum(), x, v, method="forward-over-reverse") == 0)


def test_forward_over_reverse_of_a_linear_loss_is_zero_and_unused_parameters_get_zero(rng):
    tg.set_default_dtype("float64")
    model = L.Sequential(L.Dense(3, 2))
    params = tg.FlatParameters(model)
    x = tg.Tensor(rng.standard_normal((4, 3)))
    v = rng.standard_normal(params.numel)
    assert np.all(C.hvp(lambda: model(x).sum(), params, v, method="forward-over-reverse") == 0)
    only_w = lambda: (model[0].weight * model[0].weight).sum()  # noqa: E731 - bias unused
    hv = C.hvp(only_w, params, v, method="forward-over-reverse")
    np.testing.assert_allclose(B.to_numpy(hv[:6]), 2 * v[:6], rtol=1e-14)
    assert np.all(hv[6:] == 0)
    assert all(p.tangent is None for p in params.parameters)  # nothing left attached


def test_bad_method_names_the_choices(rng):
    _model, params, output_fn, labels = _problem("sigmoid_mlp", rng)
    loss_fn = lambda: F.cross_entropy(output_fn(), labels)  # noqa: E731
    with pytest.raises(ValueError, match="forward-over-reverse"):
        C.hvp(loss_fn, params, np.ones(params.numel), method="forward")
    with pytest.raises(ValueError, match="reverse-over-reverse"):
        C.hessian_operator(loss_fn, params, method="rr")
    with pytest.raises(ValueError, match="jvp_method"):
        C.OutputJacobian(output_fn, params, jvp_method="fwd")
