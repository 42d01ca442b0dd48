"""MaxPool2d, AvgPool2d, GlobalAvgPool2d.

Against PyTorch in float64 over randomized geometry (forward and input gradient with a
random upstream gradient) to 1e-10 relative, ties included (the first maximum of a
window takes the gradient); gradcheck and gradgradcheck; errors.
"""

import numpy as np
import pytest
from layer_checks import TOL, rel_err

import tinygrad_ngd as tg
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd.testing import gradcheck, gradgradcheck


def random_pool_config(rng):
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    ph, pw = int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))
    stride = None if rng.integers(3) == 0 else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    H = int(rng.integers(max(1, kh - 2 * ph), 9))
    W = int(rng.integers(max(1, kw - 2 * pw), 9))
    return {"shape": (int(rng.integers(1, 4)), int(rng.integers(1, 4)), H, W),
                "kernel": (kh, kw), "stride": stride, "padding": (ph, pw)}


def compare_with_torch(torch, layer, torch_layer, x_np, rng):
    x = tg.Tensor(x_np, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    y, yt = layer(x), torch_layer(xt)
    assert y.shape == tuple(yt.shape)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    yt.backward(torch.tensor(gy))
    assert rel_err(y.numpy(), yt.detach().numpy()) <= TOL
    assert rel_err(x.grad.numpy(), xt.grad.numpy()) <= TOL


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch_randomized(torch, seed, kind):
    rng = np.random.default_rng(seed)
    c = random_pool_config(rng)
    ours = (L.MaxPool2d if kind == "max" else L.AvgPool2d)(c["kernel"], c["stride"], c["padding"])
    theirs = (torch.nn.MaxPool2d if kind == "max" else torch.nn.AvgPool2d)(
        c["kernel"], c["stride"], c["padding"])
    compare_with_torch(torch, ours, theirs, rng.standard_normal(c["shape"]), rng)


@pytest.mark.parametrize("kernel,stride,padding", [(2, 2, 0), (3, 1, 1), (3, 2, 1)])
def test_max_pool_ties_route_to_the_first_maximum_as_torch(torch, rng, kernel, stride, padding):
    x_np = rng.integers(0, 3, (2, 2, 6, 6)).astype(np.float64)  # many ties
    compare_with_torch(torch, L.MaxPool2d(kernel, stride, padding),
                       torch.nn.MaxPool2d(kernel, stride, padding), x_np, rng)


def test_global_avg_pool_matches_torch(torch, rng):
    x_np = rng.standard_normal((3, 4, 5, 2))
    theirs = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    compare_with_torch(torch, L.GlobalAvgPool2d(), theirs, x_np, rng)


@pytest.mark.parametrize("fn", [F.max_pool2d, F.avg_pool2d])
@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 1))])
def test_pooling_gradcheck_and_gradgradcheck(rng, fn, kernel, stride, padding):
    x = tg.Tensor(rng.standard_normal((2, 2, 5, 6)), requires_grad=True)
    assert gradcheck(lambda x: fn(x, kernel, stride, padding), [x])
    # squared so the second derivative in x is not identically zero
    assert gradgradcheck(lambda x: fn(x, kernel, stride, padding) ** 2, [x])
    assert gradgradcheck(lambda x: fn(x, kernel, stride, padding), [x])


def test_global_avg_pool_gradgradcheck(rng):
    x = tg.Tensor(rng.standard_normal((2, 3, 3, 2)), requires_grad=True)
    assert gradgradcheck(lambda x: F.global_avg_pool2d(x) ** 2, [x])


def test_max_pool_keeps_float32():
    y = L.MaxPool2d(2)(tg.Tensor(np.ones((1, 1, 4, 4), np.float32)))
    assert y.dtype == np.float32 and y.shape == (1, 1, 2, 2)


def test_pooling_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"MaxPool2d.*4-D input.*\(3, 4, 4\)"):
        L.MaxPool2d(2)(tg.Tensor(np.zeros((3, 4, 4), np.float32)))
    with pytest.raises(ValueError, match=r"AvgPool2d.*kernel height 3 is larger"):
        L.AvgPool2d(3)(tg.Tensor(np.zeros((1, 1, 2, 5), np.float32)))
    with pytest.raises(ValueError, match=r"GlobalAvgPool2d.*\(2, 3\)"):
        L.GlobalAvgPool2d()(tg.Tensor(np.zeros((2, 3), np.float32)))
    with pytest.raises(ValueError, match="stride"):
        L.MaxPool2d(2, stride=0)
    with pytest.raises(ValueError, match="at most half the kernel"):
        L.MaxPool2d(2, padding=2)
    with pytest.raises(ValueError, match="stride must be positive"):
        F.max_pool2d(tg.Tensor(np.zeros((1, 1, 4, 4))), 2, stride=(0, 1))
