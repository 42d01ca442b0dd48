"""BatchNorm1d / BatchNorm2d.

Against PyTorch in float64 (train and eval; forward, input, weight and bias gradients
with random upstream gradients) to 1e-10 relative; running statistics after several
train steps equal PyTorch's (momentum 0.1 and None); gradcheck and gradgradcheck in
train and eval mode; an HVP through a train-mode batch-norm network matches central
differences of the gradient (1e-6) and PyTorch's double backward (1e-10); and a
batch-norm whose backward caches 1/σ as a constant is shown to pass gradcheck but fail
the HVP check, so that check can fail.
"""

import numpy as np
import pytest
from layer_checks import TOL, rel_err, torch_state

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd.tensor import Function, Tensor
from tinygrad_ngd.testing import GradcheckError, gradcheck, gradgradcheck, hvpcheck

SHAPES = {"1d_2": (L.BatchNorm1d, (7, 3)), "1d_3": (L.BatchNorm1d, (4, 3, 5)),
          "2d": (L.BatchNorm2d, (3, 3, 4, 2))}


def make_pair(torch, kind, momentum=0.1, affine=True, track=True):
    cls, shape = SHAPES[kind]
    tcls = torch.nn.BatchNorm1d if cls is L.BatchNorm1d else torch.nn.BatchNorm2d
    tl = tcls(shape[1], momentum=momentum, affine=affine, track_running_stats=track)
    layer = cls(shape[1], momentum=momentum, affine=affine, track_running_stats=track)
    if affine:  # non-trivial γ, β
        with torch.no_grad():
            tl.weight.uniform_(0.5, 1.5)
            tl.bias.uniform_(-0.5, 0.5)
    layer.load_state_dict(torch_state(tl))
    return layer, tl, shape


@pytest.mark.parametrize("kind", list(SHAPES))
@pytest.mark.parametrize("affine,track", [(True, True), (False, True), (True, False)])
def test_batchnorm_train_then_eval_matches_torch(torch, rng, kind, affine, track):
    tg.set_default_dtype("float64")
    layer, tl, shape = make_pair(torch, kind, affine=affine, track=track)
    for mode in ("train", "train", "train", "eval"):
        layer.train(mode == "train")
        tl.train(mode == "train")
        x_np = rng.standard_normal(shape) * 2.0 + 0.7
        x = tg.Tensor(x_np, requires_grad=True)
        xt = torch.tensor(x_np, requires_grad=True)
        layer.zero_grad()
        tl.zero_grad()
        y, yt = layer(x), tl(xt)
        gy = rng.standard_normal(shape)  # random: an all-ones gy would be annihilated
        y.backward(gy)
        yt.backward(torch.tensor(gy))
        assert rel_err(y.numpy(), yt.detach().numpy()) <= TOL, mode
        assert rel_err(x.grad.numpy(), xt.grad.numpy()) <= TOL, mode
        if affine:
            assert rel_err(layer.weight.grad.numpy(), tl.weight.grad.numpy()) <= TOL, mode
            assert rel_err(layer.bias.grad.numpy(), tl.bias.grad.numpy()) <= TOL, mode
    ours, theirs = {k: B.to_numpy(v) for k, v in layer.state_dict().items()}, torch_state(tl)
    assert list(ours) == list(theirs)
    for k in theirs:
        assert np.array_equal(ours[k], theirs[k]) if k == "num_batches_tracked" else \
            rel_err(ours[k], theirs[k]) <= TOL, k


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_running_stats_after_several_steps_equal_torch(torch, rng, momentum):
    tg.set_default_dtype("float64")
    layer, tl, shape = make_pair(torch, "2d", momentum=momentum)
    for _ in range(5):
        x_np = rng.standard_normal(shape) * 3.0 - 1.0
        with tg.no_grad():
            layer(tg.Tensor(x_np))
        with torch.no_grad():
            tl(torch.tensor(x_np))
    assert rel_err(layer.running_mean.numpy(), tl.running_mean.numpy()) <= TOL
    assert rel_err(layer.running_var.numpy(), tl.running_var.numpy()) <= TOL
    assert int(layer.num_batches_tracked.numpy()) == int(tl.num_batches_tracked) == 5


def test_running_stats_update_in_place_and_default_buffers():
    layer = L.BatchNorm2d(3)
    rm, rv = layer.running_mean.data, layer.running_var.data
    assert np.array_equal(B.to_numpy(rm), np.zeros(3)) and np.array_equal(B.to_numpy(rv), np.ones(3))
    assert layer.num_batches_tracked.numpy().dtype == np.int64
    assert np.array_equal(layer.weight.numpy(), np.ones(3)) and np.array_equal(layer.bias.numpy(), np.zeros(3))
    layer(tg.Tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)))
    assert layer.running_mean.data is rm and layer.running_var.data is rv
    assert not np.array_equal(B.to_numpy(rm), np.zeros(3))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck_and_gradgradcheck(rng, training):
    x = tg.Tensor(rng.standard_normal((4, 3, 2, 2)) * 1.5 + 0.5, requires_grad=True)
    w = tg.Tensor(rng.uniform(0.5, 1.5, 3), requires_grad=True)
    b = tg.Tensor(rng.standard_normal(3), requires_grad=True)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)

    def f(x, w, b):
        return F.batch_norm(x, None if training else rm, None if training else rv, w, b,
                            training=training)

    # atol: central-difference round-off of a 48-output map (~1e-9) — the values are O(1)
    assert gradcheck(f, [x, w, b], atol=1e-8)
    assert gradgradcheck(f, [x, w, b])


def test_batch_norm_without_affine_gradgradcheck(rng):
    """γ = 1, β = 0 (affine=False) and γ only: the fused primitive's other arities."""
    x = tg.Tensor(rng.standard_normal((5, 2, 3)) + 0.3, requires_grad=True)
    w = tg.Tensor(rng.uniform(0.5, 1.5, 2), requires_grad=True)
    assert gradgradcheck(lambda x: F.batch_norm(x, training=True), [x])
    assert gradgradcheck(lambda x, w: F.batch_norm(x, weight=w, training=True), [x, w])


def bn_net_loss_factory(x_np, labels):
    """θ ↦ loss of Dense(3→4) → BatchNorm1d(train) → tanh → Dense(4→2) → cross-entropy."""
    sizes = [("w1", (4, 3)), ("b1", (4,)), ("g", (4,)), ("beta", (4,)), ("w2", (2, 4)), ("b2", (2,))]

    def split(theta):
        out, start = {}, 0
        for name, shape in sizes:
            n = int(np.prod(shape))
            out[name] = F.reshape(theta[start:start + n], shape)
            start += n
        return out

    def loss(theta):
        p = split(theta)
        h = F.linear(tg.Tensor(x_np), p["w1"], p["b1"])
        h = F.tanh(F.batch_norm(h, None, None, p["g"], p["beta"], training=True))
        return F.cross_entropy(F.linear(h, p["w2"], p["b2"]), labels)

    n_params = sum(int(np.prod(s)) for _, s in sizes)
    return loss, n_params, sizes


def test_hvp_through_train_mode_batchnorm_matches_finite_differences(rng):
    x_np = rng.standard_normal((6, 3))
    labels = np.array([0, 1, 1, 0, 1, 0])
    loss, n, _ = bn_net_loss_factory(x_np, labels)
    theta0 = tg.Tensor(rng.standard_normal(n) * 0.7)
    assert hvpcheck(loss, theta0, rtol=1e-6)


def test_hvp_through_train_mode_batchnorm_matches_torch(torch, rng):
    x_np = rng.standard_normal((6, 3))
    labels = np.array([0, 1, 1, 0, 1, 0])
    loss, n, sizes = bn_net_loss_factory(x_np, labels)
    theta_np, v_np = rng.standard_normal(n) * 0.7, rng.standard_normal(n)
    theta = tg.Tensor(theta_np, requires_grad=True)
    (g,) = tg.grad(loss(theta), [theta], create_graph=True)
    (hv,) = tg.grad((g * tg.Tensor(v_np)).sum(), [theta])

    tn = torch.nn.functional

    def torch_loss(t):
        p, start = {}, 0
        for name, shape in sizes:
            k = int(np.prod(shape))
            p[name] = t[start:start + k].reshape(shape)
            start += k
        h = tn.linear(torch.tensor(x_np), p["w1"], p["b1"])
        h = torch.tanh(tn.batch_norm(h, None, None, p["g"], p["beta"], training=True))
        return tn.cross_entropy(tn.linear(h, p["w2"], p["b2"]), torch.tensor(labels))

    _, hvt = torch.autograd.functional.hvp(torch_loss, torch.tensor(theta_np), torch.tensor(v_np))
    assert rel_err(hv.numpy(), hvt.numpy()) <= TOL


class _CachedInvStdBatchNorm(Function):
    """DeZero's defect, reproduced on purpose: a right first derivative whose backward
    uses the cached x̂ and 1/σ as constants, so its second derivative is wrong."""

    def forward(self, x):
        mu = x.mean(axis=0, keepdims=True)
        self.inv_std = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=0, keepdims=True) + 1e-5)
        self.xhat = (x - mu) * self.inv_std
        return self.xhat

    def backward(self, gy):
        xhat, inv_std = Tensor(self.xhat), Tensor(self.inv_std)   # constants: the defect
        return inv_std * (gy - F.mean(gy, 0, keepdims=True) - xhat * F.mean(gy * xhat, 0, keepdims=True))


def test_cached_inv_std_backward_passes_gradcheck_but_fails_hvpcheck(rng):
    """The HVP check above can fail: it catches exactly the cached-1/σ defect."""
    x_np = rng.standard_normal((5, 2))
    w_out = rng.standard_normal((5, 2))

    def loss(theta, bn):
        h = F.reshape(theta, (5, 2))
        return (F.tanh(bn(h)) * tg.Tensor(w_out)).sum()

    theta0 = tg.Tensor(x_np.reshape(-1))
    assert gradcheck(lambda t: loss(t, lambda h: _CachedInvStdBatchNorm()(h)),
                     [tg.Tensor(x_np.reshape(-1), requires_grad=True)])
    assert hvpcheck(lambda t: loss(t, lambda h: F.batch_norm(h, training=True, eps=1e-5)), theta0)
    with pytest.raises(GradcheckError):
        hvpcheck(lambda t: loss(t, lambda h: _CachedInvStdBatchNorm()(h)), theta0)


# ---------------------------------------------------------------- bad input
def test_batchnorm_errors_name_layer_expected_and_found():
    with pytest.raises(ValueError, match=r"BatchNorm2d.*\(N, 3, H, W\).*\(2, 4, 5, 5\)"):
        L.BatchNorm2d(3)(tg.Tensor(np.zeros((2, 4, 5, 5), np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm2d.*\(N, 3, H, W\).*\(2, 3\)"):
        L.BatchNorm2d(3)(tg.Tensor(np.zeros((2, 3), np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm1d.*\(N, 3\) or \(N, 3, L\).*\(2, 5\)"):
        L.BatchNorm1d(3)(tg.Tensor(np.zeros((2, 5), np.float32)))
    layer = L.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"BatchNorm1d.*more than 1 value per channel.*\(1, 3\)"):
        layer(tg.Tensor(np.zeros((1, 3), np.float32)))
    assert int(layer.num_batches_tracked.numpy()) == 0  # nothing half-done
    with pytest.raises(ValueError, match="momentum"):
        L.BatchNorm1d(3, momentum=2.0)
    with pytest.raises(ValueError, match="num_features"):
        L.BatchNorm2d(0)


@pytest.mark.parametrize("kind", list(SHAPES))
@pytest.mark.parametrize("momentum", [0.1, None])
def test_non_finite_batch_leaves_running_statistics_unchanged(kind, momentum):
    """Issue 14: one NaN batch used to poison running_mean/var, so every later eval output
    was NaN even when the optimizer skipped that step.  Now the buffers keep their values
    (bit for bit) and a RuntimeWarning names the layer; the next finite batch updates them."""
    tg.set_default_dtype("float64")
    cls, shape = SHAPES[kind]
    rng = np.random.default_rng(0)
    layer = cls(shape[1], momentum=momentum)
    layer.train()
    layer(Tensor(rng.standard_normal(shape)))
    before = {k: v.copy() for k, v in layer.state_dict().items()}
    for bad in (np.nan, np.inf):
        x = rng.standard_normal(shape)
        x.flat[3] = bad
        with pytest.warns(RuntimeWarning, match=r"BatchNorm.*non-finite.*not updated"), \
                np.errstate(invalid="ignore"):
            out = layer(Tensor(x))
        assert not np.isfinite(out.data).all()  # the batch's own output is what it is
        for k, v in layer.state_dict().items():
            np.testing.assert_array_equal(B.to_numpy(v), B.to_numpy(before[k]))
    layer.eval()
    x = rng.standard_normal(shape)
    assert np.isfinite(layer(Tensor(x)).data).all()
    layer.train()
    layer(Tensor(x))
    assert int(layer.num_batches_tracked.data) == 2
    assert not np.array_equal(layer.running_mean.data, before["running_mean"])
