"""Conv2d / Conv1d and im2col / col2im.

Against PyTorch in float64 (forward, input gradient, weight and bias gradients, random
upstream gradients, randomized geometry) to 1e-10 relative; float64 gradcheck and
gradgradcheck; im2col and col2im are each other's adjoint; initialization bounds; errors.
"""

import math

import numpy as np
import pytest
from layer_checks import TOL, rel_err, torch_state

import tinygrad_ngd as tg
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd.testing import gradcheck, gradgradcheck


def random_conv2d_config(rng):
    """Random geometry with a valid output (kernel ≤ padded input)."""
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    ph, pw = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    H = int(rng.integers(max(1, kh - 2 * ph), 8))
    W = int(rng.integers(max(1, kw - 2 * pw), 8))
    return {"N": int(rng.integers(1, 4)), "C": int(rng.integers(1, 4)), "O": int(rng.integers(1, 5)),
                "H": H, "W": W, "kernel": (kh, kw), "stride": (sh, sw), "padding": (ph, pw), "bias": bool(rng.integers(2))}


@pytest.mark.parametrize("seed", range(8))
def test_conv2d_matches_torch_randomized(torch, seed):
    tg.set_default_dtype("float64")
    rng = np.random.default_rng(seed)
    c = random_conv2d_config(rng)
    tl = torch.nn.Conv2d(c["C"], c["O"], c["kernel"], stride=c["stride"], padding=c["padding"], bias=c["bias"])
    layer = L.Conv2d(c["C"], c["O"], c["kernel"], stride=c["stride"], padding=c["padding"], bias=c["bias"])
    layer.load_state_dict(torch_state(tl))
    x_np = rng.standard_normal((c["N"], c["C"], c["H"], c["W"]))
    x = tg.Tensor(x_np, requires_grad=True)
    y = layer(x)
    xt = torch.tensor(x_np, requires_grad=True)
    yt = tl(xt)
    assert y.shape == tuple(yt.shape), c
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    yt.backward(torch.tensor(gy))
    assert rel_err(y.numpy(), yt.detach().numpy()) <= TOL, c
    assert rel_err(x.grad.numpy(), xt.grad.numpy()) <= TOL, c
    assert rel_err(layer.weight.grad.numpy(), tl.weight.grad.numpy()) <= TOL, c
    if c["bias"]:
        assert rel_err(layer.bias.grad.numpy(), tl.bias.grad.numpy()) <= TOL, c


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), (3, 2)])
def test_conv1d_matches_torch(torch, rng, stride, padding):
    tg.set_default_dtype("float64")
    tl = torch.nn.Conv1d(3, 4, 3, stride=stride, padding=padding)
    layer = L.Conv1d(3, 4, 3, stride=stride, padding=padding)
    layer.load_state_dict(torch_state(tl))
    x_np = rng.standard_normal((2, 3, 9))
    x = tg.Tensor(x_np, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    y, yt = layer(x), tl(xt)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    yt.backward(torch.tensor(gy))
    assert rel_err(y.numpy(), yt.detach().numpy()) <= TOL
    assert rel_err(x.grad.numpy(), xt.grad.numpy()) <= TOL
    assert rel_err(layer.weight.grad.numpy(), tl.weight.grad.numpy()) <= TOL
    assert rel_err(layer.bias.grad.numpy(), tl.bias.grad.numpy()) <= TOL


def test_conv2d_float32_step_matches_torch_float32(torch, rng):
    """The default dtype (float32) keeps float32 end to end and agrees with torch's float32."""
    tl = torch.nn.Conv2d(2, 3, 3, padding=1).float()
    layer = L.Conv2d(2, 3, 3, padding=1)
    layer.load_state_dict(torch_state(tl))
    x_np = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    y = layer(tg.Tensor(x_np))
    assert y.dtype == np.float32
    assert rel_err(y.numpy(), tl(torch.tensor(x_np)).detach().numpy()) <= 1e-5


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), ((1, 2), (2, 0))])
def test_conv2d_gradcheck_and_gradgradcheck(rng, stride, padding):
    x = tg.Tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True)
    w = tg.Tensor(rng.standard_normal((3, 2, 3, 2)), requires_grad=True)
    b = tg.Tensor(rng.standard_normal(3), requires_grad=True)

    def f(x, w, b):
        return F.conv2d(x, w, b, stride=stride, padding=padding)

    assert gradcheck(f, [x, w, b])
    assert gradgradcheck(f, [x, w, b])


def test_conv2d_hvp_through_relu_free_net_matches_torch(torch, rng):
    """Grad-of-grad through a conv–tanh–conv net agrees with torch's double backward."""
    x_np = rng.standard_normal((2, 2, 6, 6))
    w1_np, w2_np = rng.standard_normal((3, 2, 3, 3)) * 0.4, rng.standard_normal((2, 3, 2, 2)) * 0.4
    v1_np, v2_np = rng.standard_normal(w1_np.shape), rng.standard_normal(w2_np.shape)

    w1, w2 = tg.Tensor(w1_np, requires_grad=True), tg.Tensor(w2_np, requires_grad=True)
    loss = (F.conv2d(F.tanh(F.conv2d(tg.Tensor(x_np), w1, padding=1)), w2, stride=2) ** 2).sum()
    g1, g2 = tg.grad(loss, [w1, w2], create_graph=True)
    hv = tg.grad((g1 * tg.Tensor(v1_np)).sum() + (g2 * tg.Tensor(v2_np)).sum(), [w1, w2])

    t1, t2 = torch.tensor(w1_np, requires_grad=True), torch.tensor(w2_np, requires_grad=True)
    tn = torch.nn.functional
    lt = (tn.conv2d(torch.tanh(tn.conv2d(torch.tensor(x_np), t1, padding=1)), t2, stride=2) ** 2).sum()
    h1, h2 = torch.autograd.grad(lt, [t1, t2], create_graph=True)
    hvt = torch.autograd.grad((h1 * torch.tensor(v1_np)).sum() + (h2 * torch.tensor(v2_np)).sum(), [t1, t2])
    for a, b in zip(hv, hvt):
        assert rel_err(a.numpy(), b.numpy()) <= TOL


def test_im2col_and_col2im_are_adjoint_and_twice_differentiable(rng):
    x_np = rng.standard_normal((2, 3, 5, 6))
    cols = F.im2col(tg.Tensor(x_np), (3, 2), stride=(2, 1), padding=(1, 1))
    c_np = rng.standard_normal(cols.shape)
    back = F.col2im(tg.Tensor(c_np), x_np.shape, (3, 2), stride=(2, 1), padding=(1, 1))
    lhs = float((cols.numpy() * c_np).sum())
    rhs = float((x_np * back.numpy()).sum())
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)
    x = tg.Tensor(x_np, requires_grad=True)
    c = tg.Tensor(c_np, requires_grad=True)
    assert gradgradcheck(lambda x: F.im2col(x, 3, 1, 1) ** 2, [x])
    assert gradgradcheck(lambda c: F.col2im(c, x_np.shape, (3, 2), (2, 1), (1, 1)) ** 2, [c])


def test_im2col_columns_follow_channel_row_col_order(torch, rng):
    """Rows are windows in (n, oh, ow) order, columns (c, i, j) — torch's unfold transposed."""
    x_np = rng.standard_normal((2, 3, 5, 4))
    cols = F.im2col(tg.Tensor(x_np), (2, 3), stride=1, padding=(1, 0)).numpy()
    unf = torch.nn.functional.unfold(torch.tensor(x_np), (2, 3), padding=(1, 0)).numpy()  # (N, C·k, L)
    assert np.array_equal(cols, unf.transpose(0, 2, 1).reshape(-1, unf.shape[1]))


def test_conv2d_default_init_is_pytorch_uniform_bound():
    tg.set_default_dtype("float64")
    layer = L.Conv2d(4, 50, 3)
    bound = 1.0 / math.sqrt(4 * 9)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.shape == (50, 4, 3, 3) and b.shape == (50,)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # uniform on [−bound, bound]: std bound/√3 (1800 draws: within 5 %)
    assert abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.05
    tg.manual_seed(0)
    again = L.Conv2d(4, 50, 3)
    assert np.array_equal(again.weight.numpy(), w)


def test_conv2d_parameter_names_match_torch(torch):
    tl = torch.nn.Conv2d(2, 3, 3, bias=False)
    layer = L.Conv2d(2, 3, 3, bias=False)
    assert list(layer.state_dict()) == list(tl.state_dict()) == ["weight"]


# ---------------------------------------------------------------- bad input
def test_conv2d_rejects_wrong_rank_and_channels():
    layer = L.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"Conv2d.*\(N, 3, H, W\).*\(2, 3, 5\)"):
        layer(tg.Tensor(np.zeros((2, 3, 5), np.float32)))
    with pytest.raises(ValueError, match=r"Conv2d.*\(N, 3, H, W\).*\(2, 2, 5, 5\)"):
        layer(tg.Tensor(np.zeros((2, 2, 5, 5), np.float32)))


def test_conv2d_rejects_stride_zero_and_too_large_kernel():
    with pytest.raises(ValueError, match="stride"):
        L.Conv2d(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match="kernel_size"):
        L.Conv2d(1, 1, 0)
    layer = L.Conv2d(1, 1, 5, padding=1)
    with pytest.raises(ValueError, match=r"kernel height 5 is larger than the padded input height 2"):
        layer(tg.Tensor(np.zeros((1, 1, 2, 9), np.float32)))
    with pytest.raises(ValueError, match="stride must be positive"):
        F.conv2d(tg.Tensor(np.zeros((1, 1, 4, 4))), tg.Tensor(np.zeros((1, 1, 2, 2))), stride=0)
    with pytest.raises(ValueError, match="larger than the padded input"):
        F.conv2d(tg.Tensor(np.zeros((1, 1, 2, 2))), tg.Tensor(np.zeros((1, 1, 3, 3))))


def test_conv1d_rejects_wrong_input():
    layer = L.Conv1d(3, 4, 3)
    with pytest.raises(ValueError, match=r"Conv1d.*\(N, 3, L\).*\(2, 4, 7\)"):
        layer(tg.Tensor(np.zeros((2, 4, 7), np.float32)))
    with pytest.raises(ValueError, match="larger than the padded input"):
        layer(tg.Tensor(np.zeros((2, 3, 2), np.float32)))


def test_index_cache_can_be_cleared_and_is_rebuilt(rng):
    x = tg.Tensor(rng.standard_normal((2, 2, 5, 5)))
    before = F.im2col(x, 3, 2, 1).numpy()
    F.clear_index_cache()
    assert F.conv._cached_index.cache_info().currsize == 0
    assert np.array_equal(F.im2col(x, 3, 2, 1).numpy(), before)
