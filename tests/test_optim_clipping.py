"""Gradient clipping (global norm à la clip_grad_norm_, [Ravasi]'s elementwise threshold)
and the weight-decay helpers, against PyTorch and their formulas."""

import math

import numpy as np
import pytest

from tinygrad_ngd import backend as B
from tinygrad_ngd import optimizers as O
from tinygrad_ngd.flat import FlatParameters


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(torch, rng, norm_type, max_norm):
    g = rng.standard_normal(13)
    parts = [torch.nn.Parameter(torch.zeros(n)) for n in (4, 6, 3)]
    for p, chunk in zip(parts, np.split(g, [4, 10])):
        p.grad = torch.tensor(chunk)
    want_norm = torch.nn.utils.clip_grad_norm_(parts, max_norm, norm_type=norm_type)
    want = torch.cat([p.grad for p in parts]).numpy()
    ours = g.copy()
    total = O.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    assert float(total) == pytest.approx(float(want_norm), rel=1e-13)
    np.testing.assert_allclose(ours, want, rtol=1e-13, atol=0)
    if max_norm < 1:
        assert float(O.grad_norm(ours, norm_type)) == pytest.approx(max_norm, rel=1e-5)
    else:
        np.testing.assert_array_equal(ours, g)         # below the bound: unchanged


def test_clip_grad_norm_accepts_flat_parameters_and_works_in_place():
    params = FlatParameters.from_array(np.zeros(4, dtype=np.float64))
    params.grad[...] = [3.0, 4.0, 0.0, 0.0]
    total = O.clip_grad_norm_(params, 1.0)
    assert float(total) == 5.0
    np.testing.assert_allclose(B.to_numpy(params.grad), np.array([3.0, 4.0, 0, 0]) / (5.0 + 1e-6), rtol=1e-15)


def test_clip_grad_norm_nonfinite():
    g = np.array([1.0, np.nan])
    with pytest.raises(FloatingPointError, match="non-finite"):
        O.clip_grad_norm_(g, 1.0, error_if_nonfinite=True)


def test_clip_grad_value_is_note_004_threshold_and_matches_torch(torch, rng):
    g = 3 * rng.standard_normal(20)
    p = torch.nn.Parameter(torch.zeros(20))
    p.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_value_([p], 1.5)
    ours = O.clip_grad_value_(g.copy(), 1.5)
    np.testing.assert_array_equal(ours, p.grad.numpy())
    np.testing.assert_array_equal(ours, np.where(np.abs(g) > 1.5, np.sign(g) * 1.5, g))


@pytest.mark.parametrize("call,match", [
    (lambda g: O.clip_grad_norm_(g, -1.0), "max_norm"),
    (lambda g: O.clip_grad_norm_(g, 1.0, norm_type=0), "norm_type"),
    (lambda g: O.clip_grad_value_(g, -0.1), "clip_value"),
])
def test_clipping_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.ones(3))


def test_clipping_rejects_non_flat_input():
    with pytest.raises(TypeError, match="flat"):
        O.clip_grad_norm_(np.ones((2, 2)), 1.0)


def test_weight_decay_helpers():
    g, theta = np.array([1.0, -2.0]), np.array([0.5, 4.0])
    np.testing.assert_array_equal(O.add_weight_decay(g, theta, 0.1), g + 0.1 * theta)
    np.testing.assert_array_equal(g, [1.0, -2.0])                      # input untouched
    t = theta.copy()
    O.decoupled_weight_decay_(t, 0.01, 0.5)
    np.testing.assert_array_equal(t, theta * (1 - 0.005))


def test_coupled_weight_decay_is_sgd_on_the_l2_regularized_loss():
    """[Soto]: L(W) = Σℒ + α·½‖W‖² has gradient g + αW, which weight_decay adds."""
    params = FlatParameters.from_array(np.array([1.0, -2.0]))
    O.SGD(params, lr=0.1, weight_decay=0.3).step(grad=np.array([0.5, 0.5]))
    np.testing.assert_allclose(B.to_numpy(params.data), np.array([1.0, -2.0]) - 0.1 * (0.5 + 0.3 * np.array([1.0, -2.0])),
                               rtol=1e-15)
