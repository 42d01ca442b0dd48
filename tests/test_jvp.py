"""Forward mode: every primitive's jvp rule against finite differences (jvpcheck) and
torch.func.jvp at 1e-12 in float64 on hypothesis-drawn shapes; tg.jvp on whole models
(MLP, conv net with train-mode batch-norm, LSTM, embedding model) against torch.func.jvp;
and a planted wrong rule that the checks must catch."""

import importlib
import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_primitives import (
    BINARY,
    REDUCE,
    UNARY,
    broadcast_pair,
    draw_reduction_args,
    nonempty_shape_st,
    normal,
    shape_st,
)

import tinygrad_ngd as tg
from tinygrad_ngd import functional as F
from tinygrad_ngd.functional import elementwise, fused
from tinygrad_ngd.functional.conv import scatter_add_flat, take_flat
from tinygrad_ngd.functional.recurrent import LSTMLayer, LSTMPointwise, stack_steps, unstack
from tinygrad_ngd.tensor import Function
from tinygrad_ngd.testing import GradcheckError, jvpcheck


@pytest.fixture(scope="module")
def torch():
    """conftest's torch (float64 default; an error under CI=true when missing), module-scoped
    so that hypothesis-driven tests can use it."""
    from conftest import _import_torch
    return _import_torch()


FUNCTIONAL_MODULES = ["base", "shape", "elementwise", "reduce", "linalg", "softmax", "fused", "activations",
                      "losses", "conv", "pooling", "normalization", "recurrent", "embedding"]


def test_every_primitive_has_a_jvp_rule():
    missing = []
    for name in FUNCTIONAL_MODULES:
        mod = importlib.import_module(f"tinygrad_ngd.functional.{name}")
        for obj in vars(mod).values():
            if inspect.isclass(obj) and issubclass(obj, Function) and obj is not Function \
                    and obj.__module__ == mod.__name__ and "jvp" not in vars(obj):
                missing.append(f"{name}.{obj.__name__}")
    assert not missing, f"primitives without a forward-mode rule: {missing}"


# ---------------------------------------------------------------- the two checks
def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def assert_close(ours, theirs, what, rel=1e-12):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    scale = max(1.0, float(np.max(np.abs(theirs)))) if theirs.size else 1.0
    err = float(np.max(np.abs(ours - theirs))) if theirs.size else 0.0
    assert err <= rel * scale, f"{what}: max abs error {err:.3e} (scale {scale:.3e})"


def check_jvp(torch, ours, theirs, arrays, seed=0, fd=True):
    """jvpcheck (finite differences) and torch.func.jvp at 1e-12 for ``ours(*tensors)`` /
    ``theirs(torch, *tensors)`` at float64 ``arrays`` along random tangents."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    if fd:
        assert jvpcheck(ours, [tg.Tensor(a.copy(), requires_grad=True) for a in arrays], seed=seed)
    rng = np.random.default_rng(seed + 99)
    tangents = [rng.standard_normal(a.shape) for a in arrays]
    out, tout = tg.jvp(ours, tuple(tg.Tensor(a.copy()) for a in arrays), tuple(tg.Tensor(t) for t in tangents))
    ref, tref = torch.func.jvp(lambda *xs: theirs(torch, *xs), tuple(torch.tensor(a) for a in arrays),
                               tuple(torch.tensor(t) for t in tangents))
    for k, (o, r) in enumerate(zip(_as_tuple(out), _as_tuple(ref))):
        assert_close(o.numpy(), r.detach().numpy(), f"output {k}")
    for k, (t, r) in enumerate(zip(_as_tuple(tout), _as_tuple(tref))):
        assert_close(t.numpy(), r.detach().numpy(), f"tangent {k}")


# ---------------------------------------------------------------- elementwise, reductions, shapes
@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=6, deadline=None)
@given(shape=shape_st, seed=st.integers(0, 2**31))
def test_unary_jvp(torch, name, shape, seed):
    ours, theirs, dom = UNARY[name]
    check_jvp(torch, ours, theirs, [dom(np.random.default_rng(seed), shape)], seed=seed % 1000)


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=6, deadline=None)
@given(shapes=broadcast_pair(), seed=st.integers(0, 2**31))
def test_binary_broadcast_jvp(torch, name, shapes, seed):
    ours, theirs, doms = BINARY[name]
    rng = np.random.default_rng(seed)
    check_jvp(torch, ours, theirs, [d(rng, s) for d, s in zip(doms, shapes)], seed=seed % 1000)


def test_maximum_minimum_ties_take_the_mean_tangent_as_torch(torch):
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 1.0, 4.0])
    for ours, theirs in [(F.maximum, lambda t, x, y: t.maximum(x, y)), (F.minimum, lambda t, x, y: t.minimum(x, y))]:
        check_jvp(torch, ours, theirs, [a, b], fd=False)


@pytest.mark.parametrize("name", sorted(REDUCE))
@settings(max_examples=6, deadline=None)
@given(shape=nonempty_shape_st, data=st.data(), seed=st.integers(0, 2**31))
def test_reduction_jvp(torch, name, shape, data, seed):
    ours, theirs, dom = REDUCE[name]
    shape, axis, keepdims = draw_reduction_args(name, shape, data)
    if axis is None and name in ("max", "min", "logsumexp"):
        theirs_ = lambda t, x: theirs(t, x, tuple(range(x.ndim)), keepdims)  # noqa: E731
    else:
        theirs_ = lambda t, x: theirs(t, x, axis, keepdims)  # noqa: E731
    check_jvp(torch, lambda x: ours(x, axis, keepdims), theirs_, [dom(np.random.default_rng(seed), shape)])


@settings(max_examples=8, deadline=None)
@given(batch=st.lists(st.integers(1, 3), max_size=2).map(tuple), n=st.integers(1, 4), k=st.integers(1, 4),
       m=st.integers(1, 4), drop=st.booleans(), seed=st.integers(0, 2**31))
def test_matmul_gemm_linear_jvp(torch, batch, n, k, m, drop, seed):
    rng = np.random.default_rng(seed)
    b_shape = (k, m) if drop else tuple(1 for _ in batch) + (k, m)
    check_jvp(torch, lambda a, b: a @ b, lambda t, a, b: a @ b,
              [rng.standard_normal(batch + (n, k)), rng.standard_normal(b_shape)])
    for ta in (False, True):
        for tb in (False, True):
            a = rng.standard_normal((k, n) if ta else (n, k))
            b = rng.standard_normal((m, k) if tb else (k, m))
            check_jvp(torch, lambda x, y, ta=ta, tb=tb: F.gemm(x, y, ta, tb),
                      lambda t, x, y, ta=ta, tb=tb: (x.T if ta else x) @ (y.T if tb else y), [a, b])
    x, w, bias = rng.standard_normal((n, k)), rng.standard_normal((m, k)), rng.standard_normal(m)
    check_jvp(torch, F.linear, lambda t, *a: t.nn.functional.linear(*a), [x, w, bias])
    check_jvp(torch, F.linear, lambda t, *a: t.nn.functional.linear(*a), [x, w])
    # only some inputs carry a tangent (the others are constants of the function)
    check_jvp(torch, lambda wt, bt: F.linear(tg.Tensor(x), wt, bt),
              lambda t, wt, bt: t.nn.functional.linear(t.tensor(x), wt, bt), [w, bias])
    check_jvp(torch, lambda bt: F.linear(tg.Tensor(x), tg.Tensor(w), bt),
              lambda t, bt: t.nn.functional.linear(t.tensor(x), t.tensor(w), bt), [bias])


@settings(max_examples=8, deadline=None)
@given(shape=nonempty_shape_st, data=st.data(), seed=st.integers(0, 2**31))
def test_softmax_family_jvp(torch, shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = normal(np.random.default_rng(seed), shape)
    check_jvp(torch, lambda v: F.softmax(v, axis), lambda t, v: t.softmax(v, axis), [x])
    check_jvp(torch, lambda v: F.log_softmax(v, axis), lambda t, v: t.log_softmax(v, axis), [x])


@settings(max_examples=8, deadline=None)
@given(shape=nonempty_shape_st, seed=st.integers(0, 2**31), data=st.data())
def test_shape_ops_jvp(torch, shape, seed, data):
    rng = np.random.default_rng(seed)
    x = normal(rng, shape)
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    check_jvp(torch, lambda v: F.transpose(v, perm), lambda t, v: v.permute(perm), [x])
    check_jvp(torch, lambda v: F.reshape(v, (-1,)), lambda t, v: v.reshape(-1), [x])
    check_jvp(torch, lambda v: F.broadcast_to(v, (2,) + shape), lambda t, v: v.expand((2,) + shape), [x])
    check_jvp(torch, lambda v: F.sum_to(F.broadcast_to(v, (3,) + shape), shape),
              lambda t, v: v.expand((3,) + shape).sum(0), [x])
    pads = [(int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in shape]
    flat_pads = [p for pair in reversed(pads) for p in pair]
    check_jvp(torch, lambda v: F.pad(v, pads, value=0.5), lambda t, v: t.nn.functional.pad(v, flat_pads, value=0.5), [x])
    axis = data.draw(st.integers(0, len(shape) - 1))
    y = normal(rng, shape)
    check_jvp(torch, lambda a, b: F.concatenate([a, b, a], axis), lambda t, a, b: t.cat([a, b, a], axis), [x, y])
    check_jvp(torch, lambda a, b: F.stack([a, b], axis), lambda t, a, b: t.stack([a, b], axis), [x, y])
    check_jvp(torch, lambda b: F.concatenate([tg.Tensor(x), b], axis), lambda t, b: t.cat([t.tensor(x), b], axis), [y])
    cond = rng.random(shape) > 0.5
    check_jvp(torch, lambda a, b: F.where(cond, a, b), lambda t, a, b: t.where(t.tensor(cond), a, b), [x, y])
    check_jvp(torch, lambda b: F.where(cond, tg.Tensor(x), b), lambda t, b: t.where(t.tensor(cond), t.tensor(x), b), [y])
    check_jvp(torch, F.copy, lambda t, v: v.clone(), [x])


@settings(max_examples=8, deadline=None)
@given(shape=nonempty_shape_st, seed=st.integers(0, 2**31))
def test_getitem_and_its_adjoint_jvp(torch, shape, seed):
    rng = np.random.default_rng(seed)
    x = normal(rng, shape)
    idx = rng.integers(0, shape[0], size=5)
    check_jvp(torch, lambda v: v[idx], lambda t, v: v[t.tensor(idx)], [x])
    check_jvp(torch, lambda v: v[1:, ...] if shape[0] > 1 else v[None, 0],
              lambda t, v: v[1:, ...] if shape[0] > 1 else v[None, 0], [x])
    g = normal(rng, (5,) + shape[1:])  # GetItemGrad: scatter-add with repeated indices
    check_jvp(torch, lambda v: fused_getitem_grad(v, idx, shape),
              lambda t, v: t.zeros(shape, dtype=v.dtype).index_add(0, t.tensor(idx), v), [g])


def fused_getitem_grad(g, idx, shape):
    from tinygrad_ngd.functional.shape import GetItemGrad
    return GetItemGrad(idx, shape)(g)


def test_clip_abs_relu_piecewise_rules_match_torch_at_and_off_the_kinks(torch):
    x = np.array([-1.0, -0.5, 0.0, 0.3, 0.7, 2.0])
    check_jvp(torch, lambda v: F.clip(v, -0.5, 0.7), lambda t, v: t.clamp(v, -0.5, 0.7), [x], fd=False)
    check_jvp(torch, F.relu, lambda t, v: t.relu(v), [x], fd=False)
    check_jvp(torch, F.abs, lambda t, v: t.abs(v), [x], fd=False)


# ---------------------------------------------------------------- losses and fused nodes
@settings(max_examples=8, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(2, 5), seed=st.integers(0, 2**31))
def test_losses_jvp(torch, n, c, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    x, t_ = rng.standard_normal((n, c)), rng.standard_normal((n, c))
    for r in ("mean", "sum", "none"):
        check_jvp(torch, lambda v, r=r: F.cross_entropy(v, labels, r),
                  lambda t, v, r=r: t.nn.functional.cross_entropy(v, t.tensor(labels), reduction=r), [x])
        check_jvp(torch, lambda a, b, r=r: F.mse_loss(a, b, r),
                  lambda t, a, b, r=r: t.nn.functional.mse_loss(a, b, reduction=r), [x, t_])


@settings(max_examples=6, deadline=None)
@given(shape=nonempty_shape_st, seed=st.integers(0, 2**31))
def test_fused_gradient_nodes_jvp(torch, shape, seed):
    rng = np.random.default_rng(seed)
    y_sig, y_tanh = rng.uniform(0.1, 0.9, shape), rng.uniform(-0.9, 0.9, shape)
    gy, gg = rng.standard_normal(shape), rng.standard_normal(shape)
    check_jvp(torch, lambda y, g: fused.SigmoidGrad()(y, g), lambda t, y, g: g * y * (1 - y), [y_sig, gy])
    check_jvp(torch, lambda y, g: fused.TanhGrad()(y, g), lambda t, y, g: g * (1 - y * y), [y_tanh, gy])
    check_jvp(torch, lambda y, g, h: fused.SigmoidGradBackward()(y, g, h),
              lambda t, y, g, h: (h * g * (1 - 2 * y), h * y * (1 - y)), [y_sig, gy, gg])
    check_jvp(torch, lambda y, g, h: fused.TanhGradBackward()(y, g, h),
              lambda t, y, g, h: (-2 * h * g * y, h * (1 - y * y)), [y_tanh, gy, gg])
    # one input without a tangent
    check_jvp(torch, lambda g: fused.SigmoidGrad()(tg.Tensor(y_sig), g),
              lambda t, g: g * t.tensor(y_sig) * (1 - t.tensor(y_sig)), [gy])
    n, c = 3, 4
    labels = rng.integers(0, c, n)
    x = rng.standard_normal((n, c))

    def torch_ce_grad(t, v, g):
        onehot = t.nn.functional.one_hot(t.tensor(labels), c).to(v.dtype)
        return (t.softmax(v, 1) - onehot) * g / n

    check_jvp(torch, lambda v, g: fused.CrossEntropyGrad(labels, 1 / n)(v, g), torch_ce_grad, [x, np.array(0.7)])


# ---------------------------------------------------------------- conv, pooling, embedding
@settings(max_examples=5, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), hw=st.integers(3, 6), k=st.integers(1, 3),
       stride=st.integers(1, 2), pad=st.integers(0, 1), seed=st.integers(0, 2**31))
def test_conv_im2col_col2im_pooling_jvp(torch, n, c, hw, k, stride, pad, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, hw, hw))
    w, b = rng.standard_normal((2, c, k, k)), rng.standard_normal(2)
    tF = lambda t: t.nn.functional  # noqa: E731
    check_jvp(torch, lambda *a: F.conv2d(*a, stride=stride, padding=pad),
              lambda t, *a: tF(t).conv2d(*a, stride=stride, padding=pad), [x, w, b])
    check_jvp(torch, lambda v: F.im2col(v, k, stride, pad),
              lambda t, v: tF(t).unfold(v, k, padding=pad, stride=stride).transpose(1, 2).reshape(-1, c * k * k),
              [x])
    oh = (hw + 2 * pad - k) // stride + 1
    cols = rng.standard_normal((n * oh * oh, c * k * k))
    check_jvp(torch, lambda v: F.col2im(v, x.shape, k, stride, pad),
              lambda t, v: tF(t).fold(v.reshape(n, oh * oh, c * k * k).transpose(1, 2), (hw, hw), k,
                                      padding=pad, stride=stride), [cols])
    if 2 * pad <= k:
        check_jvp(torch, lambda v: F.max_pool2d(v, k, stride, pad),
                  lambda t, v: tF(t).max_pool2d(v, k, stride, pad), [x])
        check_jvp(torch, lambda v: F.avg_pool2d(v, k, stride, pad),
                  lambda t, v: tF(t).avg_pool2d(v, k, stride, pad), [x])
    check_jvp(torch, F.global_avg_pool2d, lambda t, v: v.mean((2, 3)), [x])
    idx = rng.integers(0, x.size, size=(4, 3))
    check_jvp(torch, lambda v: take_flat(v, idx), lambda t, v: v.reshape(-1)[t.tensor(idx)], [x])
    g = rng.standard_normal(idx.shape)
    check_jvp(torch, lambda v: scatter_add_flat(v, idx, x.shape),
              lambda t, v: t.zeros(x.size, dtype=v.dtype).index_add(0, t.tensor(idx.reshape(-1)),
                                                                     v.reshape(-1)).reshape(x.shape), [g])


@pytest.mark.parametrize("padding_idx", [None, 1])
def test_embedding_jvp(torch, padding_idx):
    rng = np.random.default_rng(4)
    ids = np.array([[1, 3, 3], [0, 1, 4]])
    w = rng.standard_normal((5, 3))
    check_jvp(torch, lambda v: F.embedding(ids, v, padding_idx=padding_idx),
              lambda t, v: t.nn.functional.embedding(t.tensor(ids), v, padding_idx=padding_idx), [w])


# ---------------------------------------------------------------- batch-norm and LSTM nodes
@settings(max_examples=5, deadline=None)
@given(n=st.integers(2, 4), c=st.integers(1, 3), spatial=st.lists(st.integers(1, 3), max_size=2).map(tuple),
       affine=st.sampled_from(["both", "weight", "none"]), seed=st.integers(0, 2**31))
def test_batch_norm_train_jvp(torch, n, c, spatial, affine, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c) + spatial)
    w, b = rng.uniform(0.5, 1.5, c), rng.standard_normal(c)
    if affine == "both":
        check_jvp(torch, lambda v, ww, bb: F.batch_norm(v, weight=ww, bias=bb, training=True),
                  lambda t, v, ww, bb: t.nn.functional.batch_norm(v, None, None, ww, bb, training=True), [x, w, b])
    elif affine == "weight":
        check_jvp(torch, lambda v, ww: F.batch_norm(v, weight=ww, training=True),
                  lambda t, v, ww: t.nn.functional.batch_norm(v, None, None, ww, None, training=True), [x, w])
    else:
        check_jvp(torch, lambda v: F.batch_norm(v, training=True),
                  lambda t, v: t.nn.functional.batch_norm(v, None, None, training=True), [x])


def _torch_lstm_layer(t, x, h0, c0, w_ih, w_hh, b):
    H = h0.shape[-1]
    hs, h, c = [], h0, c0
    for step in range(x.shape[0]):
        a = x[step] @ w_ih.T + h @ w_hh.T + b
        i, f, g, o = (t.sigmoid(a[:, :H]), t.sigmoid(a[:, H:2 * H]), t.tanh(a[:, 2 * H:3 * H]),
                      t.sigmoid(a[:, 3 * H:]))
        c = f * c + i * g
        h = o * t.tanh(c)
        hs.append(h)
    return t.stack(hs), h, c


@settings(max_examples=4, deadline=None)
@given(T=st.integers(1, 3), N=st.integers(1, 2), I=st.integers(1, 3), H=st.integers(1, 3),
       seed=st.integers(0, 2**31))
def test_lstm_layer_and_cell_jvp(torch, T, N, I, H, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) * 0.5 for s in [(T, N, I), (N, H), (N, H), (4 * H, I), (4 * H, H), (4 * H,)]]
    check_jvp(torch, lambda *a: LSTMLayer()(*a), _torch_lstm_layer, arrays)
    check_jvp(torch, lambda *a: LSTMLayer()(*a), lambda t, *a: _torch_lstm_layer(t, *a, 0.0), arrays[:5])
    x = arrays[0]  # some inputs constant: the input sequence and h0 without a tangent
    check_jvp(torch, lambda c0, wi, wh: LSTMLayer()(tg.Tensor(x), tg.Tensor(arrays[1]), c0, wi, wh),
              lambda t, c0, wi, wh: _torch_lstm_layer(t, t.tensor(x), t.tensor(arrays[1]), c0, wi, wh, 0.0),
              [arrays[2], arrays[3], arrays[4]])

    def torch_cell(t, a, c):
        H_ = c.shape[-1]
        i, f, g, o = (t.sigmoid(a[:, :H_]), t.sigmoid(a[:, H_:2 * H_]), t.tanh(a[:, 2 * H_:3 * H_]),
                      t.sigmoid(a[:, 3 * H_:]))
        c2 = f * c + i * g
        return o * t.tanh(c2), c2

    check_jvp(torch, lambda a, c: LSTMPointwise()(a, c), torch_cell,
              [rng.standard_normal((N, 4 * H)), rng.standard_normal((N, H))])
    xs = rng.standard_normal((T, N, H))
    check_jvp(torch, lambda v: unstack(v), lambda t, v: tuple(v[i] for i in range(T)), [xs])
    check_jvp(torch, lambda v: stack_steps([v, v * 2.0]), lambda t, v: t.stack([v, v * 2.0]), [xs[0]])


# ---------------------------------------------------------------- whole models against torch.func.jvp
def _mlp_params(rng, sizes):
    return [a for i, o in zip(sizes[:-1], sizes[1:]) for a in (rng.standard_normal((o, i)) * 0.5,
                                                                 rng.standard_normal(o) * 0.1)]


def test_jvp_of_a_sigmoid_tanh_mlp_matches_torch(torch):
    rng = np.random.default_rng(0)
    sizes = [5, 7, 6, 3]
    ps = _mlp_params(rng, sizes)
    x = rng.standard_normal((4, 5))
    labels = rng.integers(0, 3, 4)

    def ours(xi, *p):
        h = F.sigmoid(F.linear(xi, p[0], p[1]))
        h = F.tanh(F.linear(h, p[2], p[3]))
        return F.linear(h, p[4], p[5]), F.cross_entropy(F.linear(h, p[4], p[5]), labels)

    def theirs(t, xi, *p):
        fn = t.nn.functional
        h = t.sigmoid(fn.linear(xi, p[0], p[1]))
        h = t.tanh(fn.linear(h, p[2], p[3]))
        z = fn.linear(h, p[4], p[5])
        return z, fn.cross_entropy(z, t.tensor(labels))

    check_jvp(torch, ours, theirs, [x] + ps, fd=False)


def test_jvp_of_a_conv_net_with_train_mode_batch_norm_matches_torch(torch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 6, 6))
    w1, b1 = rng.standard_normal((4, 2, 3, 3)) * 0.4, rng.standard_normal(4) * 0.1
    g, beta = rng.uniform(0.5, 1.5, 4), rng.standard_normal(4) * 0.1
    w2, b2 = rng.standard_normal((5, 4)) * 0.4, rng.standard_normal(5) * 0.1

    def ours(xi, w1, b1, g, beta, w2, b2):
        h = F.conv2d(xi, w1, b1, padding=1)
        h = F.relu(F.batch_norm(h, weight=g, bias=beta, training=True))
        h = F.max_pool2d(h, 2)
        return F.linear(F.global_avg_pool2d(h), w2, b2)

    def theirs(t, xi, w1, b1, g, beta, w2, b2):
        fn = t.nn.functional
        h = fn.conv2d(xi, w1, b1, padding=1)
        h = t.relu(fn.batch_norm(h, None, None, g, beta, training=True))
        h = fn.max_pool2d(h, 2)
        return fn.linear(h.mean((2, 3)), w2, b2)

    check_jvp(torch, ours, theirs, [x, w1, b1, g, beta, w2, b2], fd=False)


def test_jvp_of_a_two_layer_lstm_with_embedding_matches_torch(torch):
    rng = np.random.default_rng(2)
    T, N, V, D, H = 3, 2, 6, 4, 3
    ids = rng.integers(0, V, (T, N))
    emb = rng.standard_normal((V, D))
    layers = [[rng.standard_normal(s) * 0.5 for s in [(4 * H, i), (4 * H, H), (4 * H,), (4 * H,)]] for i in (D, H)]
    h0, c0 = rng.standard_normal((2, N, H)) * 0.3, rng.standard_normal((2, N, H)) * 0.3
    w_out = rng.standard_normal((V, H)) * 0.5
    flat = [emb, h0, c0, w_out] + [a for layer in layers for a in layer]

    def ours(emb, h0, c0, w_out, *ws):
        x = F.embedding(ids, emb)
        out, (hn, cn) = F.lstm(x, (h0, c0), [tuple(ws[0:4]), tuple(ws[4:8])])
        return F.linear(out, w_out), hn, cn

    def theirs(t, emb, h0, c0, w_out, *ws):
        x = t.nn.functional.embedding(t.tensor(ids), emb)
        hs, cs = [], []
        for k in range(2):
            w_ih, w_hh, b_ih, b_hh = ws[4 * k:4 * k + 4]
            x, h, c = _torch_lstm_layer(t, x, h0[k], c0[k], w_ih, w_hh, b_ih + b_hh)
            hs.append(h)
            cs.append(c)
        return x @ w_out.T, t.stack(hs), t.stack(cs)

    check_jvp(torch, ours, theirs, flat, fd=False)
    assert jvpcheck(ours, [tg.Tensor(a.copy(), requires_grad=True) for a in flat])


# ---------------------------------------------------------------- the checks can fail
def test_jvpcheck_catches_a_planted_wrong_rule(monkeypatch, torch):
    x = np.random.default_rng(5).standard_normal((3, 4))
    assert jvpcheck(F.exp, [tg.Tensor(x.copy(), requires_grad=True)])
    right = elementwise.Exp.jvp
    monkeypatch.setattr(elementwise.Exp, "jvp", lambda self, t: right(self, t) * 1.001)
    with pytest.raises(GradcheckError, match="jvpcheck"):
        jvpcheck(F.exp, [tg.Tensor(x.copy(), requires_grad=True)])
    assert not jvpcheck(F.exp, [tg.Tensor(x.copy(), requires_grad=True)], raise_exception=False)
    with pytest.raises(AssertionError, match="tangent 0"):
        check_jvp(torch, F.exp, lambda t, v: t.exp(v), [x], fd=False)


def test_jvp_rule_of_the_wrong_shape_is_refused(monkeypatch):
    monkeypatch.setattr(elementwise.Exp, "jvp", lambda self, t: F.sum(t))
    with pytest.raises(RuntimeError, match="Exp.jvp returned a tangent of shape"):
        tg.jvp(F.exp, (tg.Tensor(np.ones(3)),), (tg.Tensor(np.ones(3)),))


def test_jvp_argument_errors_are_clear():
    with pytest.raises(TypeError, match="tuples"):
        tg.jvp(F.exp, [tg.Tensor(np.ones(3))], [tg.Tensor(np.ones(3))])
    with pytest.raises(ValueError, match="tangent 0 has shape"):
        tg.jvp(F.exp, (tg.Tensor(np.ones(3)),), (tg.Tensor(np.ones(2)),))
    with pytest.raises(ValueError, match="2 primals but 1 tangents"):
        tg.jvp(F.add, (tg.Tensor(np.ones(3)), tg.Tensor(np.ones(3))), (tg.Tensor(np.ones(3)),))
    for result in (3.0, None, np.ones(3)):      # fn must return Tensors (torch.func.jvp refuses the rest too)
        with pytest.raises(TypeError, match="fn must return a Tensor or a tuple of Tensors, got"):
            tg.jvp(lambda x, r=result: r, (tg.Tensor(np.ones(3)),), (tg.Tensor(np.ones(3)),))


def test_forward_mode_off_leaves_no_tangents_and_outputs_without_dependence_get_zero():
    x = tg.Tensor(np.ones(3))
    out, t = tg.jvp(lambda v: tg.Tensor(np.arange(3.0)), (x,), (tg.Tensor(np.ones(3)),))
    assert np.all(t.numpy() == 0)
    y = F.exp(x)  # outside the context no tangent is computed or kept
    assert y.tangent is None and x.tangent is None


def test_tangent_rules_are_differentiable_reverse_over_forward_gives_the_hessian():
    """With graph recording on, the tangent ⟨∇f, u⟩ = J u of a scalar f is a Tensor graph:
    its gradient is H u — the same numbers as grad-of-grad."""
    rng = np.random.default_rng(6)
    x0, u = rng.standard_normal(5), rng.standard_normal(5)
    f = lambda v: F.sum(F.tanh(F.sigmoid(v) * v) ** 2.0)  # noqa: E731
    x = tg.Tensor(x0.copy(), requires_grad=True)
    x.tangent = tg.Tensor(u)
    with tg.forward_mode(record_graph=True):
        y = f(x)
    (hu,) = tg.grad(y.tangent, [x])
    x2 = tg.Tensor(x0.copy(), requires_grad=True)
    (g,) = tg.grad(f(x2), [x2], create_graph=True)
    (hu_ref,) = tg.grad((g * tg.Tensor(u)).sum(), [x2])
    np.testing.assert_allclose(hu.numpy(), hu_ref.numpy(), rtol=1e-12, atol=1e-13)


@settings(max_examples=5, deadline=None)
@given(n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4), seed=st.integers(0, 2**31))
def test_fused_tangent_nodes_equal_their_formulas_and_are_differentiable(torch, n, k, m, seed):
    """GemmTangent, LinearTangent, SigmoidGradTangent, TanhGradTangent (the jvp rules' one-node
    forms): forward equal to the composed formula (torch), gradcheck + gradgradcheck, and
    their own jvp rules against finite differences and torch.func.jvp."""
    from tinygrad_ngd.testing import gradcheck, gradgradcheck
    rng = np.random.default_rng(seed)

    def check_all(ours, theirs, arrays):
        check_jvp(torch, ours, theirs, arrays)
        xs = [tg.Tensor(a.copy(), requires_grad=True) for a in arrays]
        assert gradcheck(ours, xs)
        assert gradgradcheck(ours, xs)

    for ta in (False, True):
        for tb in (False, True):
            sa, sb = ((k, n) if ta else (n, k)), ((m, k) if tb else (k, m))
            arrays = [rng.standard_normal(s) for s in (sa, sb, sa, sb)]
            op = lambda t_, x, f: x.T if f else x  # noqa: E731
            check_all(lambda a, b, da, db, ta=ta, tb=tb: fused.GemmTangent(ta, tb)(a, b, da, db),
                      lambda t, a, b, da, db, ta=ta, tb=tb: op(t, da, ta) @ op(t, b, tb) + op(t, a, ta) @ op(t, db, tb),
                      arrays)
    arrays = [rng.standard_normal(s) for s in ((n, k), (m, k), (n, k), (m, k), (m,))]
    check_all(lambda *a: fused.LinearTangent()(*a), lambda t, x, w, dx, dw, db: dx @ w.T + x @ dw.T + db, arrays)
    check_all(lambda *a: fused.LinearTangent()(*a), lambda t, x, w, dx, dw: dx @ w.T + x @ dw.T, arrays[:4])
    y_sig, y_tanh = rng.uniform(0.1, 0.9, (n, k)), rng.uniform(-0.9, 0.9, (n, k))
    rest = [rng.standard_normal((n, k)) for _ in range(3)]
    check_all(lambda *a: fused.SigmoidGradTangent()(*a),
              lambda t, y, gy, dy, dgy: dy * gy * (1 - 2 * y) + dgy * y * (1 - y), [y_sig] + rest)
    check_all(lambda *a: fused.TanhGradTangent()(*a),
              lambda t, y, gy, dy, dgy: dgy * (1 - y * y) - 2 * gy * y * dy, [y_tanh] + rest)



def test_graph_jvp_over_a_recorded_graph_equals_jvp_and_refuses_a_freed_graph():
    from tinygrad_ngd.tensor import graph_jvp
    rng = np.random.default_rng(7)
    x0, w0, t_x, t_w = (rng.standard_normal(s) for s in [(4, 3), (5, 3), (4, 3), (5, 3)])
    f = lambda x, w: F.softmax(F.tanh(F.linear(x, w)), axis=1) * F.sigmoid(x).sum()  # noqa: E731
    _, want = tg.jvp(f, (tg.Tensor(x0), tg.Tensor(w0)), (tg.Tensor(t_x), tg.Tensor(t_w)))
    x, w = tg.Tensor(x0, requires_grad=True), tg.Tensor(w0, requires_grad=True)
    y = f(x, w)
    (got,) = graph_jvp([y], [x, w], [tg.Tensor(t_x), tg.Tensor(t_w)])
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-13, atol=1e-15)
    (only_w,) = graph_jvp([y], [x, w], [None, tg.Tensor(t_w)])
    _, want_w = tg.jvp(lambda w_: f(tg.Tensor(x0), w_), (tg.Tensor(w0),), (tg.Tensor(t_w),))
    np.testing.assert_allclose(only_w.numpy(), want_w.numpy(), rtol=1e-13, atol=1e-15)
    y.backward(tg.Tensor(np.ones(y.shape)))  # frees the graph
    with pytest.raises(RuntimeError, match="second time"):
        graph_jvp([y], [x, w], [tg.Tensor(t_x), tg.Tensor(t_w)])
