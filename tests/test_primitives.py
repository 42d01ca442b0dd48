"""Every primitive: gradcheck + gradgradcheck on random shapes (hypothesis, broadcasting
included), and forward / first / second derivatives equal to PyTorch's in float64."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_ngd as tg
from tinygrad_ngd import functional as F
from tinygrad_ngd.testing import gradcheck, gradgradcheck

# ---------------------------------------------------------------- input domains
# Each input is drawn away from the points where a primitive is not differentiable
# (relu/abs at 0, max ties) or not defined (log at 0), so finite differences are valid.


def normal(rng, shape):
    return rng.standard_normal(shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def away_from_zero(rng, shape):
    return rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def distinct(rng, shape):
    """Values with gaps >= 0.05 so max/min have no ties and no near-ties."""
    n = int(np.prod(shape)) if shape else 1
    vals = rng.permutation(n) * 0.05 + rng.uniform(0, 0.01)
    return (vals - vals.mean()).reshape(shape)


def wide(rng, shape):
    return rng.uniform(-30, 30, shape)


shape_st = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)
nonempty_shape_st = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast: the second drops leading axes and sets some to 1."""
    a = draw(shape_st)
    drop = draw(st.integers(0, len(a)))
    b = list(a[drop:])
    for i in range(len(b)):
        if draw(st.booleans()):
            b[i] = 1
    if draw(st.booleans()):
        return a, tuple(b)
    return tuple(b), a


# name -> (ours, torch, domains); each fn takes the inputs as positional tensors
UNARY = {
    "neg": (lambda x: -x, lambda t, x: -x, normal),
    "exp": (F.exp, lambda t, x: t.exp(x), normal),
    "log": (F.log, lambda t, x: t.log(x), positive),
    "sqrt": (F.sqrt, lambda t, x: t.sqrt(x), positive),
    "abs": (F.abs, lambda t, x: t.abs(x), away_from_zero),
    "sigmoid": (F.sigmoid, lambda t, x: t.sigmoid(x), normal),
    "tanh": (F.tanh, lambda t, x: t.tanh(x), normal),
    "relu": (F.relu, lambda t, x: t.relu(x), away_from_zero),
    "softplus": (F.softplus, lambda t, x: t.nn.functional.softplus(x), wide),
    "pow_scalar": (lambda x: x ** 3.0, lambda t, x: x ** 3.0, normal),
    "pow_half": (lambda x: x ** 0.5, lambda t, x: x ** 0.5, positive),
    "clip": (lambda x: F.clip(x, -0.5, 0.7), lambda t, x: t.clamp(x, -0.5, 0.7), normal),
    "copy": (F.copy, lambda t, x: x.clone(), normal),
}

BINARY = {
    "add": (lambda a, b: a + b, lambda t, a, b: a + b, (normal, normal)),
    "sub": (lambda a, b: a - b, lambda t, a, b: a - b, (normal, normal)),
    "mul": (lambda a, b: a * b, lambda t, a, b: a * b, (normal, normal)),
    "div": (lambda a, b: a / b, lambda t, a, b: a / b, (normal, away_from_zero)),
    "pow": (F.pow, lambda t, a, b: t.pow(a, b), (positive, normal)),
    "maximum": (F.maximum, lambda t, a, b: t.maximum(a, b), (normal, normal)),
    "minimum": (F.minimum, lambda t, a, b: t.minimum(a, b), (normal, normal)),
}

REDUCE = {
    "sum": (lambda x, ax, kd: F.sum(x, ax, kd), lambda t, x, ax, kd: t.sum(x, ax, kd), normal),
    "mean": (lambda x, ax, kd: F.mean(x, ax, kd), lambda t, x, ax, kd: t.mean(x, ax, kd), normal),
    "max": (lambda x, ax, kd: F.max(x, ax, kd), lambda t, x, ax, kd: t.amax(x, ax, kd), distinct),
    "min": (lambda x, ax, kd: F.min(x, ax, kd), lambda t, x, ax, kd: t.amin(x, ax, kd), distinct),
    "var": (lambda x, ax, kd: F.var(x, ax, kd), lambda t, x, ax, kd: t.var(x, ax, keepdim=kd), normal),
    "logsumexp": (lambda x, ax, kd: F.logsumexp(x, ax, kd), lambda t, x, ax, kd: t.logsumexp(x, ax, kd),
                  normal),
}


def _tensors(rng, shapes, domains):
    return [tg.Tensor(d(rng, s).astype(np.float64), requires_grad=True) for s, d in zip(shapes, domains)]


def check_both(fn, xs):
    assert gradcheck(fn, xs)
    assert gradgradcheck(fn, xs)


# ---------------------------------------------------------------- gradcheck on random shapes
@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=8, deadline=None)
@given(shape=shape_st, seed=st.integers(0, 2**31))
def test_unary_gradcheck(name, shape, seed):
    fn, _, dom = UNARY[name]
    check_both(fn, _tensors(np.random.default_rng(seed), [shape], [dom]))


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=8, deadline=None)
@given(shapes=broadcast_pair(), seed=st.integers(0, 2**31))
def test_binary_broadcast_gradcheck(name, shapes, seed):
    fn, _, doms = BINARY[name]
    check_both(fn, _tensors(np.random.default_rng(seed), shapes, doms))


def draw_reduction_args(name, shape, data):
    """(shape, axis, keepdims) for a reduction test; var needs >= 2 elements along its axis."""
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    if name == "var" and (np.prod(shape) if axis is None else shape[axis]) < 2:
        axis = None
        if np.prod(shape) < 2:
            shape = shape + (2,)
    return shape, axis, data.draw(st.booleans())


@pytest.mark.parametrize("name", sorted(REDUCE))
@settings(max_examples=8, deadline=None)
@given(shape=nonempty_shape_st, data=st.data(), seed=st.integers(0, 2**31))
def test_reduction_gradcheck(name, shape, data, seed):
    fn, _, dom = REDUCE[name]
    shape, axis, keepdims = draw_reduction_args(name, shape, data)
    check_both(lambda x: fn(x, axis, keepdims), _tensors(np.random.default_rng(seed), [shape], [dom]))


@settings(max_examples=10, deadline=None)
@given(batch=st.lists(st.integers(1, 3), max_size=2).map(tuple), n=st.integers(1, 4), k=st.integers(1, 4),
       m=st.integers(1, 4), drop=st.booleans(), seed=st.integers(0, 2**31))
def test_matmul_batched_broadcast_gradcheck(batch, n, k, m, drop, seed):
    rng = np.random.default_rng(seed)
    b_shape = (k, m) if drop else tuple(1 for _ in batch) + (k, m)
    check_both(lambda a, b: a @ b, _tensors(rng, [batch + (n, k), b_shape], [normal, normal]))


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 2, 3), (3,))])
def test_matmul_vector_cases(shapes):
    check_both(lambda a, b: a @ b, _tensors(np.random.default_rng(0), shapes, [normal, normal]))


@settings(max_examples=10, deadline=None)
@given(shape=nonempty_shape_st, data=st.data(), seed=st.integers(0, 2**31))
def test_softmax_family_gradcheck(shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    xs = _tensors(np.random.default_rng(seed), [shape], [normal])
    check_both(lambda x: F.softmax(x, axis), xs)
    check_both(lambda x: F.log_softmax(x, axis), xs)


@settings(max_examples=10, deadline=None)
@given(shape=nonempty_shape_st, seed=st.integers(0, 2**31), data=st.data())
def test_shape_ops_gradcheck(shape, seed, data):
    rng = np.random.default_rng(seed)
    xs = _tensors(rng, [shape], [normal])
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    check_both(lambda x: F.transpose(x, perm), xs)
    check_both(lambda x: F.reshape(x, (-1,)), xs)
    check_both(lambda x: F.broadcast_to(x, (2,) + shape), xs)
    pads = [(int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in shape]
    check_both(lambda x: F.pad(x, pads), xs)
    axis = data.draw(st.integers(0, len(shape) - 1))
    ys = _tensors(rng, [shape, shape], [normal, normal])
    check_both(lambda a, b: F.concatenate([a, b, a], axis), ys)
    check_both(lambda a, b: F.stack([a, b], axis), ys)
    cond = rng.random(shape) > 0.5
    check_both(lambda a, b: F.where(cond, a, b), ys)


@settings(max_examples=10, deadline=None)
@given(shape=nonempty_shape_st, seed=st.integers(0, 2**31))
def test_getitem_gradcheck(shape, seed):
    rng = np.random.default_rng(seed)
    xs = _tensors(rng, [shape], [normal])
    idx = rng.integers(0, shape[0], size=5)  # repeats: the backward must scatter-add
    check_both(lambda x: x[idx], xs)
    check_both(lambda x: x[1:, ...] if shape[0] > 1 else x[None, 0], xs)
    if len(shape) >= 2:
        cols = rng.integers(0, shape[1], size=4)
        rows = rng.integers(0, shape[0], size=4)
        check_both(lambda x: x[rows, cols], xs)
        check_both(lambda x: x[:, ::2], xs)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(2, 5), seed=st.integers(0, 2**31))
def test_losses_gradcheck(n, c, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    xs = _tensors(rng, [(n, c)], [normal])
    for reduction in ("mean", "sum", "none"):
        check_both(lambda x, r=reduction: F.cross_entropy(x, labels, r), xs)
    ys = _tensors(rng, [(n, c), (n, c)], [normal, normal])
    for reduction in ("mean", "sum", "none"):
        check_both(lambda a, b, r=reduction: F.mse_loss(a, b, r), ys)


def test_linear_gradcheck():
    rng = np.random.default_rng(3)
    check_both(F.linear, _tensors(rng, [(4, 3), (5, 3), (5,)], [normal] * 3))
    check_both(F.linear, _tensors(rng, [(2, 4, 3), (5, 3)], [normal] * 2))


# ---------------------------------------------------------------- PyTorch comparisons
def _torch_derivatives(torch, fn, arrays, w, v):
    """Forward, Jᵀw and the derivative of ⟨Jᵀw, v⟩ (a second derivative) in torch."""
    xs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(torch, *xs)
    gs = torch.autograd.grad(y, xs, grad_outputs=torch.tensor(w), create_graph=True, allow_unused=True)
    s = sum((g * torch.tensor(vi)).sum() for g, vi in zip(gs, v) if g is not None)
    hs = torch.autograd.grad(s, xs, allow_unused=True) if s.requires_grad else [None] * len(xs)
    return (y.detach().numpy(), [g.detach().numpy() for g in gs],
            [None if h is None else h.numpy(force=True) for h in hs])


def _our_derivatives(fn, arrays, w, v):
    xs = [tg.Tensor(a.copy(), requires_grad=True) for a in arrays]
    y = fn(*xs)
    gs = tg.grad(y, xs, grad_outputs=tg.Tensor(w), create_graph=True, allow_unused=True)
    s = None
    for g, vi in zip(gs, v):
        if g is not None:
            term = (g * tg.Tensor(vi)).sum()
            s = term if s is None else s + term
    hs = tg.grad(s, xs, allow_unused=True) if s is not None and s.requires_grad else [None] * len(xs)
    return (y.numpy(), [g.numpy() for g in gs], [None if h is None else h.numpy() for h in hs])


def assert_close(ours, theirs, what, rel=1e-12):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    scale = max(1.0, float(np.max(np.abs(theirs)))) if theirs.size else 1.0
    err = float(np.max(np.abs(ours - theirs))) if theirs.size else 0.0
    assert err <= rel * scale, f"{what}: max abs error {err:.3e} (scale {scale:.3e})"


def compare_with_torch(torch, ours, theirs, arrays, seed=0):
    rng = np.random.default_rng(seed)
    with tg.no_grad():
        y_shape = ours(*[tg.Tensor(a) for a in arrays]).shape
    w = rng.standard_normal(y_shape)
    v = [rng.standard_normal(a.shape) for a in arrays]
    y1, g1, h1 = _our_derivatives(ours, arrays, w, v)
    y2, g2, h2 = _torch_derivatives(torch, theirs, arrays, w, v)
    assert_close(y1, y2, "forward")
    for i, (a, b) in enumerate(zip(g1, g2)):
        assert_close(a, b, f"first derivative, input {i}")
    for i, (a, b) in enumerate(zip(h1, h2)):
        if b is None:  # torch: the gradient does not depend on this input
            assert a is None or np.all(a == 0), f"second derivative, input {i}: torch has none"
        else:
            assert_close(np.zeros_like(b) if a is None else a, b, f"second derivative, input {i}")


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_torch(torch, name):
    ours, theirs, dom = UNARY[name]
    compare_with_torch(torch, ours, theirs, [dom(np.random.default_rng(1), (3, 4))])


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 4))])
def test_binary_matches_torch(torch, name, shapes):
    ours, theirs, doms = BINARY[name]
    rng = np.random.default_rng(2)
    compare_with_torch(torch, ours, theirs, [d(rng, s) for d, s in zip(doms, shapes)])


@pytest.mark.parametrize("name", sorted(REDUCE))
@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, False), (0, True), ((0, 2), False)])
def test_reductions_match_torch(torch, name, axis, keepdims):
    ours, theirs, dom = REDUCE[name]
    x = dom(np.random.default_rng(3), (3, 4, 2))
    t_axis = tuple(range(3)) if axis is None else axis
    compare_with_torch(torch, lambda a: ours(a, axis, keepdims), lambda t, a: theirs(t, a, t_axis, keepdims), [x])


def test_matmul_linear_softmax_losses_match_torch(torch):
    rng = np.random.default_rng(4)
    compare_with_torch(torch, lambda a, b: a @ b, lambda t, a, b: a @ b,
                       [rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))])
    compare_with_torch(torch, F.linear, lambda t, x, w, b: t.nn.functional.linear(x, w, b),
                       [rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)])
    for axis in (0, 1):
        compare_with_torch(torch, lambda a, ax=axis: F.softmax(a, ax), lambda t, a, ax=axis: t.softmax(a, ax),
                           [rng.standard_normal((3, 4))])
        compare_with_torch(torch, lambda a, ax=axis: F.log_softmax(a, ax), lambda t, a, ax=axis: t.log_softmax(a, ax),
                           [rng.standard_normal((3, 4))])
    labels = rng.integers(0, 4, 5)
    for red in ("mean", "sum", "none"):
        compare_with_torch(torch, lambda a, r=red: F.cross_entropy(a, labels, r),
                           lambda t, a, r=red: t.nn.functional.cross_entropy(a, t.tensor(labels), reduction=r),
                           [rng.standard_normal((5, 4))])
        compare_with_torch(torch, lambda a, b, r=red: F.mse_loss(a, b, r),
                           lambda t, a, b, r=red: t.nn.functional.mse_loss(a, b, reduction=r),
                           [rng.standard_normal((5, 4)), rng.standard_normal((5, 4))])


def test_shape_ops_match_torch(torch):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 2))
    idx = np.array([2, 0, 2, 1])
    cases = [
        (lambda a: F.transpose(a, (2, 0, 1)), lambda t, a: a.permute(2, 0, 1)),
        (lambda a: F.reshape(a, (4, 6)), lambda t, a: a.reshape(4, 6)),
        (lambda a: F.broadcast_to(a, (2, 3, 4, 2)), lambda t, a: a.expand(2, 3, 4, 2)),
        (lambda a: a[idx], lambda t, a: a[t.tensor(idx)]),
        (lambda a: a[1:, ::2, 0], lambda t, a: a[1:, ::2, 0]),
        (lambda a: F.pad(a, [(1, 0), (0, 2), (1, 1)]), lambda t, a: t.nn.functional.pad(a, (1, 1, 0, 2, 1, 0))),
        (lambda a: F.concatenate([a, a * a], 1), lambda t, a: t.cat([a, a * a], 1)),
        (lambda a: F.stack([a, a * a], 2), lambda t, a: t.stack([a, a * a], 2)),
        (lambda a: F.where(x > 0, a * a, -a), lambda t, a: t.where(t.tensor(x > 0), a * a, -a)),
    ]
    for ours, theirs in cases:
        compare_with_torch(torch, ours, theirs, [x])


def test_softplus_threshold_matches_torch(torch):
    # x = 20 exactly is left out: there torch itself is inconsistent (first derivative
    # sigmoid(20) from `x > 20`, second derivative 0 from `x < 20`).
    x = np.array([-40.0, -3.0, 0.0, 19.5, 19.999, 20.001, 20.5, 45.0])
    compare_with_torch(torch, F.softplus, lambda t, a: t.nn.functional.softplus(a), [x])


def test_conventions_at_kinks_match_torch(torch):
    """relu'(0) = 0, |x|'(0) = 0, max/min ties split equally, clamp passes at the bounds."""
    x = np.array([[0.0, 1.0, -1.0, 1.0]])
    y = np.array([[0.0, 1.0, 2.0, -1.0]])
    for ours, theirs in [(F.relu, lambda t, a: t.relu(a)), (F.abs, lambda t, a: t.abs(a)),
                         (lambda a: F.clip(a, -1.0, 1.0), lambda t, a: t.clamp(a, -1.0, 1.0))]:
        _, g1, _ = _our_derivatives(ours, [x], np.full(x.shape, 0.7), [x])
        _, g2, _ = _torch_derivatives(torch, theirs, [x], np.full(x.shape, 0.7), [x])
        np.testing.assert_array_equal(g1[0], g2[0])
    for ours, theirs in [(F.maximum, lambda t, a, b: t.maximum(a, b)), (F.minimum, lambda t, a, b: t.minimum(a, b))]:
        _, g1, _ = _our_derivatives(ours, [x, y], np.full(x.shape, 0.7), [x, y])
        _, g2, _ = _torch_derivatives(torch, theirs, [x, y], np.full(x.shape, 0.7), [x, y])
        for a, b in zip(g1, g2):
            np.testing.assert_array_equal(a, b)
    m = np.array([[1.0, 3.0, 3.0]])
    _, g1, _ = _our_derivatives(lambda a: F.max(a, 1), [m], np.array([0.6]), [m])
    _, g2, _ = _torch_derivatives(torch, lambda t, a: t.amax(a, 1), [m], np.array([0.6]), [m])
    np.testing.assert_array_equal(g1[0], g2[0])


# ---------------------------------------------------------------- fused backward primitives
# The backward rules of sigmoid, tanh, cross_entropy and linear are primitives themselves
# (one node instead of three); they are differentiable operations too and get the same checks.
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_all_transposes(torch, trans_a, trans_b):
    rng = np.random.default_rng(6)
    a = rng.standard_normal((4, 3) if trans_a else (3, 4))
    b = rng.standard_normal((5, 4) if trans_b else (4, 5))
    ours = lambda x, y: F.gemm(x, y, trans_a, trans_b)  # noqa: E731
    check_both(ours, _tensors(rng, [a.shape, b.shape], [normal, normal]))
    compare_with_torch(torch, ours, lambda t, x, y: (x.T if trans_a else x) @ (y.T if trans_b else y), [a, b])


def test_fused_gradient_primitives_gradcheck():
    from tinygrad_ngd.functional.fused import (
        CrossEntropyGrad,
        SigmoidGrad,
        SigmoidGradBackward,
        TanhGrad,
        TanhGradBackward,
    )
    rng = np.random.default_rng(7)
    y_sig = tg.Tensor(rng.uniform(0.1, 0.9, (3, 4)), requires_grad=True)
    y_tanh = tg.Tensor(rng.uniform(-0.9, 0.9, (3, 4)), requires_grad=True)
    gy = tg.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    check_both(lambda y, g: SigmoidGrad()(y, g), [y_sig, gy])
    check_both(lambda y, g: TanhGrad()(y, g), [y_tanh, gy])
    gg = tg.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    check_both(lambda y, g, h: SigmoidGradBackward()(y, g, h), [y_sig, gy, gg])
    check_both(lambda y, g, h: TanhGradBackward()(y, g, h), [y_tanh, gy, gg])
    labels = rng.integers(0, 4, 3)
    x = tg.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    g0 = tg.Tensor(np.array(0.7), requires_grad=True)
    check_both(lambda a, g: CrossEntropyGrad(labels, 1 / 3)(a, g), [x, g0])


def test_third_derivatives_of_fused_activations_match_torch(torch):
    """d³/dx³ and d⁴/dx⁴ through the fused backward primitives equal torch's."""
    x0 = np.random.default_rng(8).standard_normal(5)
    for ours, theirs in [(F.sigmoid, torch.sigmoid), (F.tanh, torch.tanh)]:
        x = tg.Tensor(x0.copy(), requires_grad=True)
        (g1,) = tg.grad(ours(x).sum(), [x], create_graph=True)
        (g2,) = tg.grad(g1.sum(), [x], create_graph=True)
        (g3,) = tg.grad(g2.sum(), [x], create_graph=True)
        (g4,) = tg.grad(g3.sum(), [x])
        tx = torch.tensor(x0, requires_grad=True)
        (t1,) = torch.autograd.grad(theirs(tx).sum(), tx, create_graph=True)
        (t2,) = torch.autograd.grad(t1.sum(), tx, create_graph=True)
        (t3,) = torch.autograd.grad(t2.sum(), tx, create_graph=True)
        (t4,) = torch.autograd.grad(t3.sum(), tx)
        assert_close(g3.numpy(), t3.detach().numpy(), "third derivative")
        assert_close(g4.numpy(), t4.numpy(), "fourth derivative")


def test_cross_entropy_of_an_empty_batch_is_a_clear_error():
    empty, labels = tg.Tensor(np.zeros((0, 3))), np.zeros(0, dtype=np.int64)
    with pytest.raises(ValueError, match="batch size 0"):
        F.cross_entropy(empty, labels)
    assert F.cross_entropy(empty, labels, "sum").item() == 0.0  # well defined: as PyTorch
    assert F.cross_entropy(empty, labels, "none").shape == (0,)


def test_an_axis_out_of_range_is_refused_not_wrapped_around():
    """Audit: softmax(x, axis=5) and sum(x, axis=5) on a 2-D Tensor silently used axis 1
    (5 % 2) and transpose(x, (0, 3)) took axes (0, 1); NumPy raises for all three."""
    x = tg.Tensor(np.arange(6.0).reshape(2, 3))
    for call in (lambda: F.softmax(x, axis=5), lambda: F.log_softmax(x, axis=-3),
                 lambda: F.sum(x, axis=2), lambda: F.max(x, axis=(0, 5)), lambda: F.mean(x, axis=-3),
                 lambda: F.transpose(x, (0, 3))):
        with pytest.raises(ValueError, match="out of bounds for a Tensor of 2 dimension"):
            call()
    assert np.array_equal(F.softmax(x, axis=-2).data, F.softmax(x, axis=0).data)   # in range: as before
