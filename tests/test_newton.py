"""Newton (dense), [Kolasiński 2018, §1] and [Soto]: quadratic convergence, the λ/γ step, damping."""

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd import optimizers as O


def logistic_problem(rng, n=40, d=5, mu=0.1):
    """Strongly convex: L2-regularized logistic regression, f(θ) = mean log(1+e^{−y xᵀθ}) + μ/2‖θ‖²."""
    tg.set_default_dtype("float64")
    X = rng.standard_normal((n, d))
    y = np.sign(rng.standard_normal(n))
    params = tg.FlatParameters.from_array(np.zeros(d))
    th = params.parameters[0]
    loss_fn = lambda: F.softplus(-(tg.Tensor(X * y[:, None]) @ th)).mean() + 0.5 * mu * (th * th).sum()
    return params, loss_fn


def test_newton_converges_quadratically(rng):
    params, loss_fn = logistic_problem(rng)
    params.data[:] = 0.3 * rng.standard_normal(params.numel)
    opt = O.Newton(params)
    iterates = [params.data.copy()]
    for _ in range(12):
        opt.step(closure=loss_fn)
        iterates.append(params.data.copy())
    x_star = iterates[-1]
    e = np.array([np.linalg.norm(B.to_numpy(x - x_star)) for x in iterates[:-1]])
    # over the steps whose next error is still above round-off, e_{k+1}/e_k² stays bounded
    # (here ≈ 0.15 throughout, while e falls 1 → 1e-1 → 1e-3 → 1e-6 → 1e-13)
    ks = [k for k in range(len(e) - 1) if e[k + 1] > 1e-13]
    assert len(ks) >= 4
    ratios = [e[k + 1] / e[k] ** 2 for k in ks]
    assert max(ratios) < 1.0 and max(ratios[-2:]) <= 2 * min(ratios[-2:])
    assert e[ks[-1]] < 1e-5 and e[ks[-1] + 1] < 1e-11  # linear convergence would not get here
    assert opt.last_step["descent"]


@pytest.mark.parametrize("gamma", [0.5, 2.0])
@pytest.mark.parametrize("lr", [1.0, 0.3])
@pytest.mark.parametrize("x0", [-6.0, 0.0, 3.0, 12.0])
def test_exponential_loss_step_is_lambda_over_gamma_from_any_start(gamma, lr, x0):
    """[Kolasiński 2018, §1]: on L(x) = e^{−γx} the Newton step is λ/γ whatever x is."""
    tg.set_default_dtype("float64")
    params = tg.FlatParameters.from_array(np.array([x0]))
    th = params.parameters[0]
    opt = O.Newton(params, lr=lr)
    for _ in range(3):
        before = params.data[0]
        opt.step(closure=lambda: F.exp(-gamma * th).sum())
        assert float(params.data[0] - before) == pytest.approx(lr / gamma, rel=1e-14)


def test_damping_and_line_search_on_an_indefinite_hessian(rng):
    """f(x, y) = x² − y² + y⁴/4 at (0.01, 0.1): H is indefinite, the pure Newton step goes uphill."""
    tg.set_default_dtype("float64")
    params = tg.FlatParameters.from_array(np.array([0.01, 0.1]))
    th = params.parameters[0]
    loss_fn = lambda: th[0] * th[0] - th[1] * th[1] + 0.25 * th[1] ** 4
    pure = O.Newton(params)
    pure.step(closure=loss_fn)
    assert not pure.last_step["descent"]  # reported, not hidden
    assert float(params.data[1]) == pytest.approx(0.1 - (-0.2 + 0.001) / (-2 + 0.03), rel=1e-12)
    params.data[:] = [0.01, 0.1]
    ls = O.Newton(params, line_search=True)
    f0 = loss_fn().item()
    ls.step(closure=loss_fn)
    assert "fell back to −g" in ls.last_step["message"] and loss_fn().item() < f0
    params.data[:] = [0.01, 0.1]
    damped = O.Newton(params, damping=3.0)  # H + 3I = diag(5, 1.03) is positive definite
    damped.step(closure=loss_fn)
    assert damped.last_step["descent"]
    np.testing.assert_allclose(B.to_numpy(params.data), [0.01 - 0.02 / 5.0, 0.1 - (-0.2 + 0.001) / (-2 + 0.03 + 3.0)],
                               rtol=1e-12)


def test_newton_bad_input(rng):
    tg.set_default_dtype("float64")
    params = tg.FlatParameters.from_array(np.zeros(3000))
    with pytest.raises(ValueError, match="3000 × 3000.*force=True|max_params"):
        O.Newton(params)
    small = tg.FlatParameters.from_array(np.zeros(2))
    th = small.parameters[0]
    opt = O.Newton(small)
    with pytest.raises(ValueError, match="closure=loss_fn"):
        opt.step()
    with pytest.raises(ValueError, match="singular"):
        opt.step(closure=lambda: (th[0] * th[0]).sum() + th[1])  # H = diag(2, 0)
    with pytest.raises(ValueError, match="scalar loss"):
        opt.step(closure=lambda: th * th)
    with pytest.raises(ValueError, match="damping"):
        O.Newton(small, damping=-1.0)
