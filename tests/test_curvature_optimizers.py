"""ScaledConjugateGradient (Møller 1993), VSGD (Schaul et al. 2013), ESGD (Dauphin et al. 2015)."""

import itertools

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import optimizers as O


def quadratic(rng, h=None, n=8, rotate=True):
    """f(θ) = ½(θ − θ*)ᵀA(θ − θ*) with the eigenvalues h."""
    tg.set_default_dtype("float64")
    h = np.geomspace(1.0, 100.0, n) if h is None else np.asarray(h, dtype=float)
    n = len(h)
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0] if rotate else np.eye(n)
    A = Q @ np.diag(h) @ Q.T
    star = rng.standard_normal(n)
    params = tg.FlatParameters.from_array(np.zeros(n))
    th = params.parameters[0]

    def loss_fn():
        d = th - tg.Tensor(star)
        return 0.5 * (d @ tg.Tensor(A) @ d)

    return params, loss_fn, A, star


# ---------------------------------------------------------------- SCG
@pytest.mark.parametrize("curvature", ["hvp", "finite_difference"])
def test_scg_on_a_quadratic_behaves_like_linear_cg(rng, curvature):
    params, loss_fn, _A, star = quadratic(rng)
    opt = O.ScaledConjugateGradient(params, curvature=curvature)
    f0 = loss_fn().item()
    comparisons = []
    for _ in range(20):
        opt.step(closure=loss_fn)
        if opt.last_result.loss_after > 1e-8 * f0:  # above round-off in E(w) − E(w + αp)
            comparisons.append(opt.last_result.comparison)
    assert np.linalg.norm(B.to_numpy(params.data) - star) <= 1e-6 * np.linalg.norm(star)
    assert loss_fn().item() <= 1e-12 * f0
    if curvature == "hvp":
        # exact curvature on a quadratic: the model's prediction is exact, Δ_k = 1 (λ → 0)
        assert len(comparisons) >= 4
        np.testing.assert_allclose(comparisons, 1.0, atol=1e-6)


def test_scg_first_step_matches_moller_formulas(rng):
    params, loss_fn, A, star = quadratic(rng, n=5)
    lam1 = 1e-3
    opt = O.ScaledConjugateGradient(params, lambda_init=lam1)
    opt.step(closure=loss_fn)
    g = A @ (0 - star)
    p = -g
    delta = p @ A @ p + lam1 * (p @ p)           # steps 2-3
    alpha = (p @ -g) / delta                      # step 5
    np.testing.assert_allclose(B.to_numpy(params.data), alpha * p, rtol=1e-12)
    r = opt.last_result
    E0, E1 = 0.5 * star @ A @ star, 0.5 * (alpha * p - star) @ A @ (alpha * p - star)
    assert r.comparison == pytest.approx(2 * delta * (E0 - E1) / (p @ -g) ** 2, rel=1e-10)
    assert r.lam == pytest.approx(lam1 / 4, rel=1e-12)  # Δ ≥ 0.75: λ ← λ/4


def test_scg_makes_an_indefinite_curvature_positive_and_never_increases_the_loss():
    tg.set_default_dtype("float64")
    params = tg.FlatParameters.from_array(np.array([0.5, 0.05]))
    th = params.parameters[0]
    loss_fn = lambda: th[0] ** 4 - th[1] * th[1] + 0.25 * th[1] ** 4 + 0.1 * th[0] * th[0]
    opt = O.ScaledConjugateGradient(params)
    losses = []
    for _ in range(40):
        opt.step(closure=loss_fn)
        r = opt.last_result
        assert r.delta > 0          # step 4 made δ_k positive
        losses.append(r.loss_after)
    assert all(b <= a + 1e-15 for a, b in itertools.pairwise(losses))
    assert abs(abs(params.data[1]) - np.sqrt(2.0)) < 1e-4 and abs(params.data[0]) < 1e-2


# ---------------------------------------------------------------- VSGD
def test_vsgd_matches_the_paper_recursions(rng):
    params, loss_fn, A, star = quadratic(rng, n=4)
    theta = rng.standard_normal(4)
    params.data[:] = theta
    opt = O.VSGD(params, init_steps=2, slow_start=2.0, rng=np.random.default_rng(7))
    probe = np.random.default_rng(7)
    th = theta.copy()
    gs, hs = [], []
    for k in range(6):
        opt.step(closure=loss_fn)
        v = probe.integers(0, 2, size=4) * 2.0 - 1.0
        g = A @ (th - star)
        h = np.abs(v * (A @ v))
        if k < 2:
            gs.append(g), hs.append(h)
            if k == 1:
                gb, vb, hb, tau = np.mean(gs, 0), 2.0 * np.mean(np.square(gs), 0), 2.0 * np.mean(hs, 0), 2.0
        else:
            gb = (1 - 1 / tau) * gb + g / tau
            vb = (1 - 1 / tau) * vb + g * g / tau
            hb = (1 - 1 / tau) * hb + h / tau
            eta = gb ** 2 / (hb * vb)
            tau = (1 - gb ** 2 / vb) * tau + 1
            th = th - eta * g
        np.testing.assert_allclose(B.to_numpy(params.data), th, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(B.to_numpy(opt.state["tau"]), tau, rtol=1e-12)


def test_vsgd_without_a_learning_rate_beats_the_best_sgd_on_an_ill_conditioned_quadratic(rng):
    h = np.geomspace(1.0, 100.0, 6)
    params, loss_fn, _A, _star = quadratic(rng, h=h, rotate=False)  # diagonal: v⊙Hv = diag H exactly
    opt = O.VSGD(params, init_steps=1, rng=np.random.default_rng(0))
    f0 = loss_fn().item()
    for _ in range(60):
        opt.step(closure=loss_fn)
    sgd_params, sgd_loss, _, _ = quadratic(np.random.default_rng(12345), h=h, rotate=False)
    sgd = O.SGD(sgd_params, lr=1.0 / h.max())  # the largest stable-ish rate, 1/λ_max
    for _ in range(61):
        sgd.zero_grad()
        sgd_loss().backward()
        sgd.step()
    assert loss_fn().item() < 1e-6 * f0 < sgd_loss().item()


# ---------------------------------------------------------------- ESGD
def test_esgd_matches_algorithm_1_and_amortizes(rng):
    params, loss_fn, A, star = quadratic(rng, n=4)
    theta = rng.standard_normal(4)
    params.data[:] = theta
    opt = O.ESGD(params, lr=0.05, damping=1e-4, update_every=3, rng=np.random.default_rng(3))
    probe = np.random.default_rng(3)
    th, D, i = theta.copy(), np.zeros(4), 0
    for k in range(7):
        opt.step(closure=loss_fn)
        if k % 3 == 0:
            v = probe.standard_normal(4)
            D += (A @ v) ** 2
            i += 1
        th = th - 0.05 * (A @ (th - star)) / (np.sqrt(D / i) + 1e-4)
        np.testing.assert_allclose(B.to_numpy(params.data), th, rtol=1e-12, atol=1e-15)
    assert opt.scalars["estimates"] == 3


def test_esgd_preconditioner_tends_to_the_hessian_row_norms(rng):
    params, loss_fn, A, _star = quadratic(rng, n=5)
    opt = O.ESGD(params, lr=0.0 + 1e-12, rng=np.random.default_rng(1))
    S = 500
    for _ in range(S):
        opt.step(closure=loss_fn)
    est = np.sqrt(B.to_numpy(opt.state["D"]) / S)
    rows = np.linalg.norm(A, axis=1)
    # D/S averages (Hv)_i², whose mean is ‖A_i‖² and variance 2‖A_i‖⁴: 4 standard errors
    assert np.all(np.abs(est ** 2 - rows ** 2) <= 4 * np.sqrt(2.0 / S) * rows ** 2)


def test_curvature_optimizers_bad_input():
    tg.set_default_dtype("float64")
    params = tg.FlatParameters.from_array(np.zeros(2))
    for opt in (O.ScaledConjugateGradient(params), O.VSGD(params), O.ESGD(params)):
        with pytest.raises(ValueError, match="closure=loss_fn"):
            opt.step()
    with pytest.raises(ValueError, match="curvature"):
        O.ScaledConjugateGradient(params, curvature="exact")
    with pytest.raises(ValueError, match="init_steps"):
        O.VSGD(params, init_steps=0)
    with pytest.raises(ValueError, match="update_every"):
        O.ESGD(params, update_every=0)
    with pytest.raises(ValueError, match="damping"):
        O.ESGD(params, damping=0.0)


def test_scg_checkpoint_round_trip_continues_identically(rng):
    params, loss_fn, _A, _star = quadratic(rng, n=6)
    opt = O.ScaledConjugateGradient(params)
    for _ in range(3):
        opt.step(closure=loss_fn)
    saved_theta, state = params.data.copy(), opt.state_dict()
    for _ in range(3):
        opt.step(closure=loss_fn)
    after = params.data.copy()
    params.data[...] = saved_theta
    fresh = O.ScaledConjugateGradient(params)
    fresh.load_state_dict(state)
    for _ in range(3):
        fresh.step(closure=loss_fn)
    np.testing.assert_array_equal(B.to_numpy(params.data), B.to_numpy(after))
