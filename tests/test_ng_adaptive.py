"""AdaptiveNGD: [Kolasiński 2018, §3–5, Algorithm 1]."""

import itertools

import numpy as np
import pytest

from tinygrad_ngd import backend as B
from tinygrad_ngd.flat import FlatParameters
from tinygrad_ngd.optimizers import AdaptiveNGD

SIZES = [3, 5, 1]
EDGES = np.cumsum([0] + SIZES)
SLICES = [slice(a, b) for a, b in itertools.pairwise(EDGES)]
N = int(EDGES[-1])


def params(theta=None):
    theta = np.zeros(N) if theta is None else theta
    return FlatParameters.from_array(np.array(theta, dtype=np.float64), block_sizes=SIZES)


def cos(a, b):
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return 0.0 if na == 0 or nb == 0 else a @ b / (na * nb)


def test_algorithm1_replay(rng):
    """θ_l −= λ_l G_l/‖G_l‖ then λ_l = clip[λ_l(1 + β cos(G_l^(k), G_l^(k−1))), λmin, λmax]."""
    lam0, beta, lmin, lmax = [0.01, 0.02, 0.05], 0.4, 1e-3, 0.06
    theta = rng.normal(size=N)
    p = params(theta)
    opt = AdaptiveNGD(p, lam0, beta=beta, lr_min=lmin, lr_max=lmax, norm="linf")
    lam, g_prev = list(lam0), np.zeros(N)                     # G^(−1) = 0
    drift = rng.normal(size=N)
    for k in range(60):
        g = drift + 0.8 * rng.normal(size=N)
        opt.step(grad=g)
        for i, sl in enumerate(SLICES):
            theta[sl] -= lam[i] * g[sl] / np.max(np.abs(g[sl]))
            lam[i] = float(np.clip(lam[i] * (1 + beta * cos(g[sl], g_prev[sl])), lmin, lmax))
        g_prev = g
        np.testing.assert_allclose(opt.block_lrs(), lam, rtol=1e-13)
    np.testing.assert_allclose(B.to_numpy(p.data), theta, rtol=1e-12)


def test_lambda_stays_in_range_under_random_gradients(rng):
    lmin, lmax = 1e-4, 0.02
    opt = AdaptiveNGD(params(), 0.01, beta=0.99, lr_min=lmin, lr_max=lmax)
    seen = []
    for k in range(300):
        g = rng.normal(size=N) * (1 if k < 150 else -1) ** k    # correlated, then alternating
        opt.step(grad=g)
        seen += opt.block_lrs()
    seen = np.array(seen)
    assert seen.min() >= lmin and seen.max() <= lmax
    assert np.isclose(seen.min(), lmin) and np.isclose(seen.max(), lmax)   # both bounds reached


def test_repeated_gradient_grows_lambda_geometrically(rng):
    g = rng.normal(size=N)
    opt = AdaptiveNGD(params(), 1e-4, beta=0.5, lr_min=1e-6, lr_max=0.1)
    for k in range(8):
        opt.step(grad=g)
        # k = 0 sees G^(−1) = 0 (no change); then cos = 1 each step: λ = λ0 (1 + β)^k
        np.testing.assert_allclose(opt.block_lrs(), [1e-4 * 1.5 ** k] * 3, rtol=1e-13)


def test_alternating_gradient_shrinks_lambda_geometrically(rng):
    g = rng.normal(size=N)
    opt = AdaptiveNGD(params(), 0.05, beta=0.5)
    for k in range(8):
        opt.step(grad=g * (-1) ** k)
        np.testing.assert_allclose(opt.block_lrs(), [0.05 * 0.5 ** k] * 3, rtol=1e-13)


def test_with_momentum_lambda_follows_raw_gradient_cosine_not_velocity(rng):
    """G alternates +g, −0.5g: cos(G^(k), G^(k−1)) = −1, but V = 0.9V + G keeps pointing
    along +g (cos(V^(k), V^(k−1)) = +1).  λ must shrink ([Kolasiński 2018, §5]) while the step
    follows V."""
    g = np.abs(rng.normal(size=N)) + 0.1
    m, lam0, beta = 0.9, 0.05, 0.3
    theta = np.zeros(N)
    p = params(theta)
    opt = AdaptiveNGD(p, lam0, beta=beta, momentum=m, lr_min=1e-6, lr_max=0.1)
    v, lam = np.zeros(N), lam0
    for k in range(10):
        gk = g if k % 2 == 0 else -0.5 * g
        opt.step(grad=gk)
        v = m * v + gk
        assert np.all(v > 0)                                  # V and G disagree on odd steps
        for sl in SLICES:
            theta[sl] -= lam * v[sl] / np.linalg.norm(v[sl])
        lam = lam * (1 - beta) if k > 0 else lam              # cos(G^(k), G^(k−1)) = −1
        np.testing.assert_allclose(opt.block_lrs(), [lam] * 3, rtol=1e-13)
    np.testing.assert_allclose(B.to_numpy(p.data), theta, rtol=1e-13)
    assert np.all(p.data < 0)                                 # always moved against +g


def test_additive_form_note000_sec3(rng):
    """λ^(k+1) = clip(λ^(k) + β G^(k)ᵀ Ĝ^(k−1)) with Ĝ = G/‖G‖ in the chosen norm."""
    beta, lmin, lmax = 0.002, 1e-5, 0.08
    theta = rng.normal(size=N)
    p = params(theta)
    opt = AdaptiveNGD(p, 0.03, beta=beta, lr_min=lmin, lr_max=lmax, form="additive", norm="rms")
    lam, g_prev = [0.03] * 3, np.zeros(N)
    for k in range(40):
        g = rng.normal(size=N) + 0.5
        opt.step(grad=g)
        for i, sl in enumerate(SLICES):
            rms = lambda v: np.sqrt(np.mean(v * v))
            theta[sl] -= lam[i] * g[sl] / rms(g[sl])
            prev_hat = g_prev[sl] / rms(g_prev[sl]) if k > 0 else 0 * g_prev[sl]
            lam[i] = float(np.clip(lam[i] + beta * g[sl] @ prev_hat, lmin, lmax))
        g_prev = g
    np.testing.assert_allclose(opt.block_lrs(), lam, rtol=1e-12)
    np.testing.assert_allclose(B.to_numpy(p.data), theta, rtol=1e-12)


def test_adaptive_momentum_replay(rng):
    """m^(k+1) = clip[m^(k)(1 + β_m cos(G^(k), V^(k−2))), m_min, m_max] (module docstring)."""
    lam0, beta, bm, m0 = 0.02, 0.2, 0.3, 0.5
    theta = rng.normal(size=N)
    p = params(theta)
    opt = AdaptiveNGD(p, lam0, beta=beta, momentum=m0, adaptive_momentum=True, momentum_beta=bm,
                      momentum_min=0.1, momentum_max=0.95)
    lam, mom = [lam0] * 3, [m0] * 3
    v1, v2, g_prev = np.zeros(N), np.zeros(N), np.zeros(N)        # V^(k−1), V^(k−2), G^(k−1)
    drift = rng.normal(size=N)
    for k in range(40):
        g = drift + rng.normal(size=N)
        opt.step(grad=g)
        v = np.empty(N)
        for i, sl in enumerate(SLICES):
            v[sl] = mom[i] * v1[sl] + g[sl]
            theta[sl] -= lam[i] * v[sl] / np.linalg.norm(v[sl])
            lam[i] = float(np.clip(lam[i] * (1 + beta * cos(g[sl], g_prev[sl])), 1e-6, 0.1))
            mom[i] = float(np.clip(mom[i] * (1 + bm * cos(g[sl], v2[sl])), 0.1, 0.95))
        v2, v1, g_prev = v1, v, g
    np.testing.assert_allclose(opt.block_lrs(), lam, rtol=1e-12)
    np.testing.assert_allclose(opt.block_momenta(), mom, rtol=1e-12)
    np.testing.assert_allclose(B.to_numpy(p.data), theta, rtol=1e-12)
    assert max(mom) > m0                                       # a persistent drift raises m


def test_global_scope_has_one_lambda(rng):
    opt = AdaptiveNGD(params(), 0.01, beta=0.5, scope="global")
    g = rng.normal(size=N)
    opt.step(grad=g)
    opt.step(grad=g)
    assert opt.block_lrs() == pytest.approx([0.015], rel=1e-13)


@pytest.mark.parametrize("kwargs,match", [
    ({"lr_min": 0.2, "lr_max": 0.1}, "lr_min > lr_max"),
    ({"beta": 1.0}, "beta"),
    ({"beta": -1.0}, "beta"),
    ({"beta": float("nan"), "form": "additive"}, "beta"),
    ({"lr_min": 0.0}, "lr_min"),
    ({"lr": 0.5}, "lr"),
    ({"form": "exponential"}, r"unknown form 'exponential'.*'multiplicative', 'additive'"),
    ({"norm": "max"}, r"unknown norm 'max'.*'linf', 'l2', 'rms', 'std'"),
    ({"scope": "layer"}, r"unknown scope 'layer'.*'block', 'global'"),
    ({"momentum": 1.2}, "momentum"),
    ({"adaptive_momentum": True}, "momentum"),                       # m^(0) = 0 never moves
    ({"adaptive_momentum": True, "momentum": 0.5, "momentum_beta": 1.5}, "momentum_beta"),
    ({"adaptive_momentum": True, "momentum": 0.5, "momentum_min": 0.6}, "momentum"),
])
def test_bad_arguments_are_named(kwargs, match):
    args = {"lr": 0.01, "beta": 0.5, **kwargs}
    with pytest.raises(ValueError, match=match):
        AdaptiveNGD(params(), **args)


def test_additive_form_accepts_beta_beyond_one():
    AdaptiveNGD(params(), 0.01, beta=5.0, form="additive")


def test_state_dict_round_trip(rng):
    p = params(rng.normal(size=N))
    opt = AdaptiveNGD(p, 0.01, beta=0.5, momentum=0.5)
    gs = [rng.normal(size=N) + 1 for _ in range(10)]
    for g in gs[:5]:
        opt.step(grad=g)
    saved, data = opt.state_dict(), p.data.copy()
    for g in gs[5:]:
        opt.step(grad=g)
    after, lrs = p.data.copy(), opt.block_lrs()
    p.data[...] = data
    opt2 = AdaptiveNGD(p, 0.01, beta=0.5, momentum=0.5)
    opt2.load_state_dict(saved)
    for g in gs[5:]:
        opt2.step(grad=g)
    np.testing.assert_array_equal(B.to_numpy(p.data), B.to_numpy(after))
    assert opt2.block_lrs() == lrs
