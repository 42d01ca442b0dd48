"""AdaGradBNG: [Yu et al. 2017, Appendix, Algorithm 2 and Theorem 1]."""

import numpy as np
import pytest

from tinygrad_ngd import backend as B
from tinygrad_ngd.flat import FlatParameters
from tinygrad_ngd.optimizers import AdaGradBNG

SIZES = [3, 3]
SLICES = [slice(0, 3), slice(3, 6)]


def test_algorithm2_replay(rng):
    """τ_t^i = η‖F′_i‖(δ1 + s_t^i)^−1 with s_t,j = ‖g_{1:t,j}‖₂ over the stacked normalized
    gradients, x_{t+1} = x_t − τ_t ∘ g_t — replayed with the explicit matrix g_{1:t}."""
    eta, delta = [0.3, 0.05], 1e-3
    x = rng.normal(size=6)
    p = FlatParameters.from_array(x.copy(), block_sizes=SIZES)
    opt = AdaGradBNG(p, lr=eta, delta=delta)
    stacked = []                                                   # columns g_1 … g_t
    for t in range(30):
        F = rng.normal(size=6) * np.repeat([1e-3, 1e2], 3)
        if t == 4:
            F[3:] = 0                                              # a zero block: zero step
        opt.step(grad=F)
        g = np.zeros(6)
        for sl in SLICES:
            n = np.linalg.norm(F[sl])
            g[sl] = F[sl] / n if n > 0 else 0
        stacked.append(g)
        s = np.linalg.norm(np.array(stacked), axis=0)              # row norms of g_{1:t}
        tau = np.concatenate([eta[i] * np.linalg.norm(F[sl]) / (delta + s[sl])
                              for i, sl in enumerate(SLICES)])
        x = x - tau * g
        np.testing.assert_allclose(B.to_numpy(p.data), x, rtol=1e-13)


@pytest.mark.parametrize("kwargs,match", [({"lr": 0.0}, "lr"), ({"lr": 0.1, "delta": 0.0}, "delta"),
                                          ({"lr": 0.1, "delta": -1.0}, "delta")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AdaGradBNG(FlatParameters.from_array(np.zeros(6), block_sizes=SIZES), **kwargs)


# ---------------------------------------------------------------- Theorem 1: O(1/√T)
C = np.repeat([1.0, 100.0], 3)            # block 2 has 100× larger gradients (M₂ ≫ M₁)
MEDIAN = np.log(2.0)                       # argmin of E|x − ξ|, ξ ~ Exp(1)


def expected_abs_loss(x):
    """f(x) = E|x − ξ| for ξ ~ Exp(1), in closed form: x − 1 + 2e^{−x} (x ≥ 0), 1 − x (x < 0)."""
    return np.where(x >= 0, x - 1 + 2 * np.exp(-np.maximum(x, 0)), 1 - x)


def average_iterate_suboptimality(make, T=10_000, seed=0):
    """Run on F(x, ξ) = Σ_j c_j |x_j − ξ_j| (convex, ‖F′_i‖ ≤ M_i = c_i √3) and return
    T values, f(x̄_T) − f(x*) and the iterates."""
    rng = np.random.default_rng(seed)
    xi = rng.exponential(size=(T, 6))
    p = FlatParameters.from_array(np.full(6, 3.0), block_sizes=SIZES)
    opt = make(p)
    xs = np.empty((T, 6))
    for t in range(T):
        xs[t] = B.to_numpy(p.data)
        opt.step(grad=C * np.sign(xs[t] - xi[t]))
    Ts = np.unique(np.logspace(2, np.log10(T), 9).astype(int))
    x_bar = np.cumsum(xs, axis=0)[Ts - 1] / Ts[:, None]           # x̄_T = (1/T) Σ_{t≤T} x_t
    sub = (C * (expected_abs_loss(x_bar) - expected_abs_loss(MEDIAN))).sum(axis=1)
    return Ts, sub, xs


def test_average_iterate_suboptimality_falls_at_least_like_one_over_sqrt_T():
    eta, delta = 0.5, 1e-8
    Ts, sub, xs = average_iterate_suboptimality(lambda p: AdaGradBNG(p, lr=eta, delta=delta))
    slope = np.polyfit(np.log(Ts), np.log(sub), 1)[0]
    assert slope <= -0.5, f"log-log slope {slope:.3f} over T = {Ts[0]}…{Ts[-1]}"
    # and below Theorem 1's second bound (H₁ = δI + diag(s₁), s₁ = |g₁| = 1/√3)
    d, B = 6, 2
    D_inf = np.max(np.abs(xs - MEDIAN))
    M2 = (C[[0, 3]] * np.sqrt(3)) ** 2
    h1 = delta + 1 / np.sqrt(3)
    bound = (h1 * np.sum((3.0 - MEDIAN) ** 2 * np.ones(d)) / (2 * eta * Ts)
             + D_inf ** 2 * np.sqrt(B * d) / (2 * eta * np.sqrt(Ts))
             + np.sum(eta * M2 * np.sqrt(3)) / np.sqrt(Ts))
    assert np.all(sub <= bound)
