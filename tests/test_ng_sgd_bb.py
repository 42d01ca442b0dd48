"""SGDBB: Barzilai–Borwein step size for SGD (Tan, Ma, Dai, Qian 2016; [Kolasiński 2018, §3.1])."""

import numpy as np
import pytest

from tinygrad_ngd import backend as B
from tinygrad_ngd.flat import FlatParameters
from tinygrad_ngd.optimizers import SGDBB


def run(opt, p, grad_fn, steps):
    for t in range(steps):
        opt.step(grad=grad_fn(B.to_numpy(p.data), t))


def test_isotropic_quadratic_closed_form():
    """f = ½a‖x − x*‖², m = 1, β = 1 (ĝ_{k+1} = ∇f(x̃_k)), no smoothing.  All vectors are
    parallel to x̃_0 − x*, and with r_k = 1 − aη_k:
        s = x̃_k − x̃_{k−1} = −aη_{k−1} e_{k−1},   y = ĝ_k − ĝ_{k−1} = a(e_{k−1} − e_{k−2})
          = −aη_{k−2}/r_{k−2} · a e_{k−1}
        η_k = ‖s‖²/|sᵀy| = η_{k−1} |r_{k−2}| / (a η_{k−2}),   so η_2 = |1 − aη_0| / a."""
    a, eta0 = 2.0, 0.1
    x_star = np.array([1.0, -2.0, 0.5])
    p = FlatParameters.from_array(np.array([3.0, 1.0, -1.0]))
    opt = SGDBB(p, lr=eta0, steps_per_epoch=1, beta=1.0, smoothing=False)
    run(opt, p, lambda x, t: a * (x - x_star), 8)
    etas = [eta0, eta0]
    for k in range(2, 8):
        etas.append(etas[k - 1] * abs(1 - a * etas[k - 2]) / (a * etas[k - 2]))
    assert etas[2] == pytest.approx(abs(1 - a * eta0) / a, rel=1e-15)
    np.testing.assert_allclose(opt.eta_history, etas, rtol=1e-12)


def reference_sgd_bb(x0, grad_fn, eta0, m, beta, epochs, phi=None):
    """Tan et al. 2016, SGD-BB (with the smoothing of §3.2 when phi is given), written out."""
    x = x0.copy()
    x_tildes, g_hats, etas = [], [], []
    eta, c, t = eta0, 1.0, 0
    g_hat = np.zeros_like(x)
    for k in range(epochs):
        x_tildes.append(x.copy())
        if k >= 1:
            g_hats.append(g_hat)                      # ĝ_k, averaged during epoch k−1
        if k >= 2:
            s = x_tildes[k] - x_tildes[k - 1]
            y = g_hats[-1] - g_hats[-2]
            eta = (s @ s) / abs(s @ y) / m
            if phi is not None:
                c = c ** ((k - 2) / (k - 1)) * (eta * phi(k)) ** (1 / (k - 1))
                eta = c / phi(k)
        etas.append(eta)
        g_hat = np.zeros_like(x)
        for _ in range(m):
            g = grad_fn(x, t)
            x = x - eta * g
            g_hat = beta * g + (1 - beta) * g_hat
            t += 1
    return x, etas


@pytest.mark.parametrize("smoothing", [False, True])
def test_matches_the_paper_on_a_stochastic_quadratic(rng, smoothing):
    d, m, beta = 5, 7, 0.3
    A = rng.normal(size=(d, d))
    H = A @ A.T / d + np.eye(d)
    b = rng.normal(size=d)
    noise = rng.normal(size=(m * 12, d)) * 0.1

    def grad_fn(x, t):
        return H @ x - b + noise[t]

    x0 = rng.normal(size=d)
    p = FlatParameters.from_array(x0.copy())
    opt = SGDBB(p, lr=0.05, steps_per_epoch=m, beta=beta, smoothing=smoothing)
    run(opt, p, grad_fn, m * 12)
    x_ref, etas = reference_sgd_bb(x0, grad_fn, 0.05, m, beta, 12, phi=(lambda k: k) if smoothing else None)
    np.testing.assert_allclose(opt.eta_history, etas, rtol=1e-12)
    np.testing.assert_allclose(B.to_numpy(p.data), x_ref, rtol=1e-12)
    assert len(set(np.round(etas, 12))) > 3                        # the step size really adapts


def test_default_beta_is_ten_over_m_and_state_round_trip(rng):
    p = FlatParameters.from_array(rng.normal(size=4))
    opt = SGDBB(p, lr=0.1, steps_per_epoch=20)
    assert opt.hyper["beta"] == 0.5
    assert SGDBB(p, lr=0.1, steps_per_epoch=5).hyper["beta"] == 1.0
    run(opt, p, lambda x, t: 2 * x + 0.01 * np.sin(t), 70)
    saved, data = opt.state_dict(), p.data.copy()
    run(opt, p, lambda x, t: 2 * x + 0.01 * np.sin(t + 70), 50)
    after = p.data.copy()
    p.data[...] = data
    opt2 = SGDBB(p, lr=0.1, steps_per_epoch=20)
    opt2.load_state_dict(saved)
    run(opt2, p, lambda x, t: 2 * x + 0.01 * np.sin(t + 70), 50)
    np.testing.assert_array_equal(B.to_numpy(p.data), B.to_numpy(after))


@pytest.mark.parametrize("kwargs,match", [
    ({"lr": 0.0, "steps_per_epoch": 5}, "lr"),
    ({"lr": 0.1, "steps_per_epoch": 0}, "steps_per_epoch"),
    ({"lr": 0.1, "steps_per_epoch": 2.5}, "steps_per_epoch"),
    ({"lr": 0.1, "steps_per_epoch": 5, "beta": 1.5}, "beta"),
    ({"lr": 0.1, "steps_per_epoch": 5, "beta": 0.0}, "beta"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SGDBB(FlatParameters.from_array(np.zeros(3)), **kwargs)


def test_per_block_lr_is_a_type_error():
    with pytest.raises(TypeError, match="lr"):
        SGDBB(FlatParameters.from_array(np.zeros(3)), lr=[0.1], steps_per_epoch=5)
