"""BlockNormalized ([Yu et al. 2017, Algorithm 1]), NGAdap ([Yu et al. 2017, §4.2]), ClipGradNorm (CLIP)."""

import itertools

import numpy as np
import pytest

from tinygrad_ngd import backend as B
from tinygrad_ngd import optimizers as O
from tinygrad_ngd.flat import FlatParameters
from tinygrad_ngd.optimizers import (
    BlockNormalized,
    ClipGradNorm,
    GradientWrapper,
    NGAdap,
)

SIZES = [6, 2, 9, 3]
EDGES = np.cumsum([0] + SIZES)
SLICES = [slice(a, b) for a, b in itertools.pairwise(EDGES)]
N = int(EDGES[-1])

# Every first-order step-size rule of tinygrad_ngd.optimizers: each takes a flat gradient
# through step(grad=...).  (Second-order methods — Newton, NewtonCG, HessianFree, ESGD,
# VSGD, NaturalGradient, PRONG, … — need a closure and are not step-size rules for g_t.)
FIRST_ORDER = ["SGD", "SGDHistory", "Rprop", "DeltaBarDelta", "Adagrad", "RMSprop", "Adadelta",
               "Adam", "AdamW", "Adamax", "ASGD"]
# Extra configurations worth checking beyond each optimizer's defaults.
EXTRA_CONFIGS = [("SGD", {"lr": 0.05, "momentum": 0.9}),                     # SGDMNG
                 ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
                 ("Adam", {"lr": 1e-3, "amsgrad": True}),
                 ("RMSprop", {"lr": 1e-3, "momentum": 0.5, "centered": True})]


def base_configs():
    return [(n, {"lr": 1e-2}) for n in FIRST_ORDER] + EXTRA_CONFIGS


def params_at(theta):
    return FlatParameters.from_array(np.array(theta, dtype=np.float64), block_sizes=SIZES)


def loss_grad(theta, k):
    """A smooth non-quadratic gradient with per-block scales 1e-4 … 1e3 (vanishing and exploding)."""
    scales = np.repeat([1e-4, 1.0, 1e3, 3e-2], SIZES)
    theta = B.to_numpy(theta)                                    # computed on the host
    return scales * (np.tanh(theta - 0.3) + 0.1 * np.sin(theta * (k + 1)))


def ref_block_normalize(g):
    out = np.zeros_like(g)
    for sl in SLICES:
        n = np.linalg.norm(g[sl])
        out[sl] = g[sl] / n if n > 0 else 0.0
    return out


def test_every_first_order_optimizer_is_exported():
    missing = [n for n in FIRST_ORDER if not hasattr(O, n)]
    assert not missing, missing


@pytest.mark.parametrize("name,kwargs", base_configs(), ids=lambda v: str(v))
def test_block_normalized_equals_base_fed_block_normalized_gradients(rng, name, kwargs):
    theta0 = rng.normal(size=N)
    p_wrapped, p_direct = params_at(theta0), params_at(theta0)
    wrapped = BlockNormalized(getattr(O, name)(p_wrapped, **kwargs))
    direct = getattr(O, name)(p_direct, **kwargs)
    for k in range(100):
        g = loss_grad(p_wrapped.data, k)
        g_copy = g.copy()
        g_hat = wrapped.transform(g)
        # the direction is [Yu et al. 2017]'s g_t (checked against an independent formula) ...
        np.testing.assert_allclose(g_hat, ref_block_normalize(g), rtol=1e-14, atol=1e-16)
        wrapped.step(grad=g)
        assert np.array_equal(g, g_copy)                       # the raw gradient is untouched
        # ... and the wrapped optimizer is exactly the base fed g_t (sign-based bases such as
        # Rprop amplify 1-ulp differences, hence the same g_t rather than a re-derived one)
        direct.step(grad=g_hat)
        np.testing.assert_array_equal(B.to_numpy(p_wrapped.data), B.to_numpy(p_direct.data))
    assert not np.allclose(B.to_numpy(p_wrapped.data), theta0)


def test_block_normalized_reads_params_grad_and_keeps_it(rng):
    p = params_at(rng.normal(size=N))
    opt = BlockNormalized(O.SGD(p, lr=0.1))
    g = rng.normal(size=N)
    p.grad[...] = g
    before = p.data.copy()
    opt.step()
    np.testing.assert_array_equal(B.to_numpy(p.grad), g)
    for sl in SLICES:
        np.testing.assert_allclose(np.linalg.norm(B.to_numpy(p.data[sl] - before[sl])), 0.1, rtol=1e-13)


def test_block_normalized_zero_block_takes_zero_step(rng):
    p = params_at(rng.normal(size=N))
    before = p.data.copy()
    g = rng.normal(size=N)
    g[SLICES[1]] = 0
    BlockNormalized(O.Adam(p, lr=1e-3)).step(grad=g)
    assert np.isfinite(p.data).all()
    np.testing.assert_array_equal(B.to_numpy(p.data[SLICES[1]]), B.to_numpy(before[SLICES[1]]))


def test_wrapper_refuses_other_params_and_non_optimizers(rng):
    p1, p2 = params_at(np.zeros(N)), params_at(np.zeros(N))
    base = O.SGD(p1, lr=0.1)
    for make in (lambda: BlockNormalized(base, params=p2), lambda: NGAdap(base, params=p2),
                 lambda: ClipGradNorm(base, params=p2)):
        with pytest.raises(ValueError, match="other parameters"):
            make()
    assert BlockNormalized(base, params=p1).params is p1
    with pytest.raises(TypeError, match="base_optimizer must be an Optimizer"):
        BlockNormalized(p1)
    with pytest.raises(ValueError, match=r"unknown norm 'l3'.*'linf', 'l2', 'rms', 'std'"):
        BlockNormalized(base, norm="l3")
    with pytest.raises(ValueError, match=r"unknown scope 'layers'.*'block', 'global'"):
        BlockNormalized(base, scope="layers")
    with pytest.raises(ValueError, match="grad must be a flat vector of length"):
        BlockNormalized(base).step(grad=np.zeros(N + 1))


@pytest.mark.parametrize("alpha", [0.0, -0.02, float("nan")])
def test_ng_adap_rejects_non_positive_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        NGAdap(O.SGD(params_at(np.zeros(N)), lr=0.1), alpha=alpha)


@pytest.mark.parametrize("max_norm", [0.0, -1.0])
def test_clip_rejects_non_positive_threshold(max_norm):
    with pytest.raises(ValueError, match="max_norm"):
        ClipGradNorm(O.SGD(params_at(np.zeros(N)), lr=0.1), max_norm=max_norm)


def test_ng_adap_is_grad_times_weight_norm_over_grad_norm_times_alpha(rng):
    """NG_adap = Grad × ‖w‖/‖g‖ × α per block ([Yu et al. 2017, §4.2]), then the base (SGDM) step."""
    alpha, lr, mu = 0.02, 0.1, 0.9
    theta = rng.normal(size=N)
    p = params_at(theta)
    opt = NGAdap(O.SGD(p, lr=lr, momentum=mu), alpha=alpha)
    buf = None
    for k in range(50):
        g = loss_grad(theta, k)
        opt.step(grad=loss_grad(p.data, k))
        d = np.zeros(N)
        for sl in SLICES:
            d[sl] = g[sl] * np.linalg.norm(theta[sl]) / np.linalg.norm(g[sl]) * alpha
        buf = d if buf is None else mu * buf + d                 # PyTorch SGD momentum buffer
        theta = theta - lr * buf
    np.testing.assert_allclose(B.to_numpy(p.data), theta, rtol=1e-12)


def test_ng_adap_step_norm_is_lr_alpha_weight_norm(rng):
    """With plain SGD each block moves by exactly lr·α·‖w‖ (the LARS trust ratio)."""
    theta0 = rng.normal(size=N)
    p = params_at(theta0)
    NGAdap(O.SGD(p, lr=0.5), alpha=0.05).step(grad=rng.normal(size=N) * 1e5)
    for sl in SLICES:
        np.testing.assert_allclose(np.linalg.norm(B.to_numpy(p.data)[sl] - theta0[sl]),
                                   0.5 * 0.05 * np.linalg.norm(theta0[sl]), rtol=1e-13)


def test_clip_rescales_large_gradients_to_the_threshold_and_keeps_small_ones(rng):
    p = params_at(np.zeros(N))
    clip = ClipGradNorm(O.SGD(p, lr=1.0), max_norm=0.1)
    big = rng.normal(size=N)
    np.testing.assert_allclose(np.linalg.norm(clip.transform(big)), 0.1, rtol=1e-14)
    small = big / np.linalg.norm(big) * 0.05
    np.testing.assert_array_equal(clip.transform(small), small)
    blockwise = ClipGradNorm(O.SGD(p, lr=1.0), max_norm=0.1, scope="block").transform(big)
    for sl in SLICES:
        np.testing.assert_allclose(np.linalg.norm(blockwise[sl]), min(0.1, np.linalg.norm(big[sl])),
                                   rtol=1e-14)


def test_clip_with_sgdm_matches_torch_clip_grad_norm_over_100_steps(torch, rng):
    theta0 = rng.normal(size=N)
    p = params_at(theta0)
    opt = ClipGradNorm(O.SGD(p, lr=0.05, momentum=0.9), max_norm=0.1, eps=1e-6)
    w = torch.nn.Parameter(torch.tensor(theta0))
    topt = torch.optim.SGD([w], lr=0.05, momentum=0.9)
    for k in range(100):
        opt.step(grad=loss_grad(p.data, k))
        w.grad = torch.tensor(loss_grad(w.detach().numpy(), k))
        torch.nn.utils.clip_grad_norm_([w], max_norm=0.1)
        topt.step()
    np.testing.assert_allclose(B.to_numpy(p.data), w.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_wrapper_delegates_lr_and_state_dict_round_trip(rng):
    theta0 = rng.normal(size=N)
    p = params_at(theta0)
    opt = BlockNormalized(O.Adam(p, lr=1e-2))
    assert isinstance(opt, GradientWrapper)
    for k in range(5):
        opt.step(grad=loss_grad(p.data, k))
    saved, data = opt.state_dict(), p.data.copy()
    opt.lr = 5e-3
    assert opt.base.lr == 5e-3 and opt.step_count == 5
    for k in range(5, 10):
        opt.step(grad=loss_grad(p.data, k))
    after = p.data.copy()
    p.data[...] = data
    opt.load_state_dict(saved)
    opt.lr = 5e-3
    for k in range(5, 10):
        opt.step(grad=loss_grad(p.data, k))
    np.testing.assert_array_equal(B.to_numpy(p.data), B.to_numpy(after))
    with pytest.raises(ValueError, match="expected a state_dict of a BlockNormalized"):
        opt.load_state_dict({"wrapper": "NGAdap", "base": saved["base"]})


def test_wrappers_nest_clip_over_block_normalized(rng):
    p = params_at(rng.normal(size=N))
    inner = BlockNormalized(O.SGD(p, lr=1.0))
    outer = ClipGradNorm(inner, max_norm=1e-3)            # clip, then normalize: clipping is undone
    before = p.data.copy()
    outer.step(grad=rng.normal(size=N))
    for sl in SLICES:
        np.testing.assert_allclose(np.linalg.norm(B.to_numpy(p.data[sl] - before[sl])), 1.0, rtol=1e-13)


@pytest.mark.parametrize("wrap", [BlockNormalized, NGAdap, ClipGradNorm])
@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_non_finite_gradient_is_reported_with_its_block(rng, wrap, bad):
    """A NaN/inf block is never masked as a zero step: the base optimizer reports it."""
    p = params_at(rng.normal(size=N))
    before = p.data.copy()
    g = rng.normal(size=N)
    g[SLICES[2].start] = bad
    with np.errstate(invalid="ignore"), pytest.raises(FloatingPointError, match="block2"):
        wrap(O.SGD(p, lr=0.1)).step(grad=g)
    np.testing.assert_array_equal(B.to_numpy(p.data), B.to_numpy(before))                # nothing half-done
