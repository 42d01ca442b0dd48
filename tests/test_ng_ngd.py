"""Norms ([Kolasiński 2018, §2]) and NGD ([Kolasiński 2018, §2, §5]; [Yu et al. 2017, Algorithm 1] with constant τ)."""

import itertools

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd.flat import FlatParameters
from tinygrad_ngd.optimizers import NGD
from tinygrad_ngd.optimizers.norms import (
    NORMS,
    cosine,
    l2_norm,
    linf_norm,
    normalize,
    normalize_blocks,
    rms_norm,
    std_norm,
    vector_norm,
)

SIZES = [5, 1, 12, 3]


def flat(theta, sizes=SIZES):
    return FlatParameters.from_array(np.asarray(theta, dtype=np.float64), block_sizes=sizes)


def slices(sizes=SIZES):
    edges = np.cumsum([0] + list(sizes))
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


# ---------------------------------------------------------------- norms equal their formulas
@pytest.mark.parametrize("n", [1, 2, 7, 100])
@pytest.mark.parametrize("scale", [1e-30, 1e-3, 1.0, 1e20])
def test_norms_equal_their_formulas(rng, n, scale):
    g = rng.normal(size=n) * scale + rng.normal() * scale   # a non-zero mean for std
    np.testing.assert_allclose(linf_norm(g), np.max(np.abs(g)), rtol=0)
    np.testing.assert_allclose(l2_norm(g), np.sqrt(np.sum((g / scale) ** 2)) * scale, rtol=1e-14)
    np.testing.assert_allclose(rms_norm(g), np.sqrt(np.mean((g / scale) ** 2)) * scale, rtol=1e-14)
    np.testing.assert_allclose(std_norm(g), np.std(g / scale) * scale, rtol=1e-12, atol=1e-14 * scale)


def test_l2_of_a_vanishing_float32_gradient_does_not_underflow():
    # 1e-25² underflows float32; the scaled computation m·‖g/m‖ keeps the norm
    g = np.full(16, 1e-25, dtype=np.float32)
    assert l2_norm(g).dtype == np.float32
    np.testing.assert_allclose(float(l2_norm(g)), 4e-25, rtol=1e-6)
    np.testing.assert_allclose(normalize(g, "l2"), np.full(16, 0.25, np.float32), rtol=1e-6)


@pytest.mark.parametrize("norm", NORMS)
def test_zero_vector_normalizes_to_zero_never_nan(norm):
    z = np.zeros(6)
    assert float(vector_norm(z, norm)) == 0.0
    out = normalize(z, norm)
    assert np.all(out == 0) and not np.isnan(out).any()


def test_std_of_a_constant_block_gives_zero_direction():
    out = normalize(np.full(4, 2.5), "std")
    assert np.all(out == 0)


def test_cosine_is_zero_against_zero_and_exact_otherwise(rng):
    a, b = rng.normal(size=9), rng.normal(size=9)
    np.testing.assert_allclose(cosine(a, b), a @ b / np.linalg.norm(a) / np.linalg.norm(b), rtol=1e-14)
    assert float(cosine(a, np.zeros(9))) == 0.0


def test_unknown_norm_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"'l1'.*'linf', 'l2', 'rms', 'std'"):
        vector_norm(np.ones(3), "l1")
    with pytest.raises(ValueError, match=r"NGD: unknown norm 'L2'.*'linf', 'l2', 'rms', 'std'"):
        NGD(flat(np.zeros(21)), 0.1, norm="L2")
    with pytest.raises(ValueError, match=r"NGD: unknown scope 'layer'.*'block', 'global'"):
        NGD(flat(np.zeros(21)), 0.1, scope="layer")


def test_bad_momentum_and_lr_name_the_argument():
    with pytest.raises(ValueError, match="momentum"):
        NGD(flat(np.zeros(21)), 0.1, momentum=1.0)
    with pytest.raises(ValueError, match="lr"):
        NGD(flat(np.zeros(21)), -0.1)


# ---------------------------------------------------------------- the step
@pytest.mark.parametrize("scope", ["block", "global"])
def test_linf_ngd_moves_no_coordinate_more_than_lr_and_one_exactly_lr(rng, scope):
    lam = 0.037
    for _ in range(5):
        p = flat(np.zeros(21))            # θ = 0: the step is exactly −λ·Ĝ, no cancellation
        NGD(p, lam, norm="linf", scope=scope).step(grad=rng.normal(size=21))
        moves = np.abs(p.data)
        parts = slices() if scope == "block" else [slice(0, 21)]
        for sl in parts:
            assert moves[sl].max() == lam
            assert np.all(moves[sl] <= lam)


def test_block_l2_ngd_step_has_norm_exactly_lr_per_block(rng):
    lrs = [0.1, 0.02, 0.3, 1e-3]
    theta0 = rng.normal(size=21)
    p = flat(theta0)
    opt = NGD(p, lrs, norm="l2")
    for _ in range(3):
        before = p.data.copy()
        opt.step(grad=rng.normal(size=21) * rng.choice([1e-8, 1.0, 1e6]))
        for lr, sl in zip(lrs, slices()):
            np.testing.assert_allclose(np.linalg.norm(B.to_numpy(p.data[sl] - before[sl])), lr, rtol=1e-13)


@pytest.mark.parametrize("norm", NORMS)
def test_ngd_step_is_minus_lr_times_g_over_its_norm(rng, norm):
    def ref_norm(v):
        return {"linf": np.max(np.abs(v)), "l2": np.linalg.norm(v),
                "rms": np.sqrt(np.mean(v * v)), "std": np.std(v)}[norm]
    theta0, g = rng.normal(size=21), rng.normal(size=21)
    p = flat(theta0)
    NGD(p, 0.05, norm=norm).step(grad=g)
    expect = theta0.copy()
    for sl in slices():
        if ref_norm(g[sl]) > 0:
            expect[sl] -= 0.05 * g[sl] / ref_norm(g[sl])
    np.testing.assert_allclose(B.to_numpy(p.data), expect, rtol=1e-14, atol=1e-16)


def test_zero_block_takes_zero_step_and_others_move(rng):
    g = rng.normal(size=21)
    g[5] = 0.0                             # block 1 (size 1) has a zero gradient
    for norm in NORMS:
        theta0 = rng.normal(size=21)
        p = flat(theta0)
        NGD(p, 0.1, norm=norm, momentum=0.5).step(grad=g)
        theta = B.to_numpy(p.data)
        assert np.isfinite(theta).all()
        assert theta[5] == theta0[5]
        assert np.all(theta[:5] != theta0[:5])


def test_momentum_normalizes_the_velocity_note000_sec5(rng):
    m, lam = 0.8, 0.05
    theta = rng.normal(size=21)
    p = flat(theta)
    opt = NGD(p, lam, norm="rms", momentum=m)
    v = np.zeros(21)
    for _ in range(20):
        g = rng.normal(size=21)
        opt.step(grad=g)
        v = m * v + g                                    # V^(k) = m V^(k−1) + G^(k)
        for sl in slices():
            theta[sl] -= lam * v[sl] / np.sqrt(np.mean(v[sl] ** 2))
    np.testing.assert_allclose(B.to_numpy(p.data), theta, rtol=1e-13)


def test_ngd_on_model_blocks_are_layers():
    from tinygrad_ngd import layers as L
    tg.set_default_dtype("float64")
    model = L.Sequential(L.Dense(4, 3), L.Sigmoid(), L.Dense(3, 2))
    p = FlatParameters(model)
    before = p.data.copy()
    g = np.arange(1, p.numel + 1, dtype=np.float64)
    NGD(p, 0.01).step(grad=g)
    for blk in p.blocks:                                 # weight + bias of one layer = one block
        np.testing.assert_allclose(np.linalg.norm(B.to_numpy(p.data[blk.slice] - before[blk.slice])), 0.01, rtol=1e-13)
    assert [b.size for b in p.blocks] == [15, 8]


def test_normalize_blocks_leaves_input_untouched(rng):
    g = rng.normal(size=21)
    g0 = g.copy()
    out = normalize_blocks(g, slices(), "l2")
    assert np.array_equal(g, g0) and out is not g
