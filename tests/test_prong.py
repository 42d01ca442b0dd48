"""WhitenedDense, whiten() and the PRONG driver ([Misra, "PRONG", Algorithm 1]), float64.

Re-whitening keeps the function and the canonical (W, b); after it the whitened inputs
U(h − c) of the sample set have mean 0 and covariance I; with U = I, c = 0 PRONG is SGD;
one PRONG step on a whitened layer is the canonical SGD step preconditioned by the
inverse second moment of the layer input; gradcheck/gradgradcheck and PyTorch for the
layer; bad input.
"""

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd import optimizers as O
from tinygrad_ngd.optimizers.prong import whitening_from_covariance
from tinygrad_ngd.testing import gradcheck, gradgradcheck


def rel(a, b):
    return float(np.max(np.abs(B.to_numpy(a) - B.to_numpy(b))) / max(np.max(np.abs(B.to_numpy(b))), 1e-300))


def mlp(sizes=(5, 8, 6, 3)):
    layers = []
    for i in range(len(sizes) - 1):
        layers += [L.Dense(sizes[i], sizes[i + 1]), L.Tanh()]
    return L.Sequential(*layers[:-1])


def correlated_inputs(rng, n=60, d=5):
    """Inputs with a non-zero mean and strongly unequal, correlated directions."""
    mix = rng.standard_normal((d, d)) * np.linspace(0.1, 3.0, d)
    return rng.standard_normal((n, d)) @ mix + rng.standard_normal(d)


def whitened_model(rng):
    tg.set_default_dtype("float64")
    model = L.whiten(mlp())
    return model, tg.FlatParameters(model)


def set_random_whitening(layer, rng):
    """A non-trivial (U, c) installed the PRONG way (function kept)."""
    n = layer.in_features
    U = rng.standard_normal((n, n)) + 2 * np.eye(n)
    layer.set_whitening(U, rng.standard_normal(n))


# ---------------------------------------------------------------- the layer
def test_whiten_keeps_function_order_and_starts_at_identity(rng):
    tg.set_default_dtype("float64")
    model = mlp()
    x = tg.Tensor(rng.standard_normal((7, 5)))
    before = model(x).data.copy()
    dense = [m for m in model if isinstance(m, L.Dense)]
    L.whiten(model)
    assert [type(m).__name__ for m in model] == ["WhitenedDense", "Tanh", "WhitenedDense", "Tanh",
                                                 "WhitenedDense"]
    assert np.array_equal(model(x).data, before)
    for d, (name, w) in zip(dense, L.whitened_layers(model)):
        assert np.array_equal(w.V.data, d.weight.data) and np.array_equal(w.d.data, d.bias.data)
        assert np.array_equal(B.to_numpy(w.U.data), np.eye(w.in_features)) and not w.c.data.any()
    assert [n for n, _ in model.named_parameters()] == ["0.V", "0.d", "2.V", "2.d", "4.V", "4.d"]
    assert {"0.U", "0.c", "4.U", "4.c"} <= set(model.state_dict())


def test_whitened_dense_matches_torch_and_canonical_form(torch, rng):
    tg.set_default_dtype("float64")
    layer = L.WhitenedDense(4, 3)
    U, c = rng.standard_normal((4, 4)), rng.standard_normal(4)
    layer.U.data[...] = U
    layer.c.data[...] = c
    x = rng.standard_normal((6, 4))
    gy = rng.standard_normal((6, 3))
    xt = tg.Tensor(x, requires_grad=True)
    y = layer(xt)
    y.backward(tg.Tensor(gy))
    tx = torch.tensor(x, requires_grad=True)
    tV = torch.tensor(B.to_numpy(layer.V.data), requires_grad=True)
    td = torch.tensor(B.to_numpy(layer.d.data), requires_grad=True)
    ty = torch.nn.functional.linear(torch.nn.functional.linear(tx - torch.tensor(c), torch.tensor(U)), tV, td)
    ty.backward(torch.tensor(gy))
    assert rel(y.numpy(), ty.detach().numpy()) < 1e-12
    assert rel(xt.grad.numpy(), tx.grad.numpy()) < 1e-12
    assert rel(layer.V.grad.numpy(), tV.grad.numpy()) < 1e-12
    assert rel(layer.d.grad.numpy(), td.grad.numpy()) < 1e-12
    W, b = layer.canonical()                      # W = V U, b = d − W c
    assert rel(y.numpy(), x @ B.to_numpy(W).T + B.to_numpy(b)) < 1e-12


def test_whitened_dense_gradcheck_and_gradgradcheck(rng):
    tg.set_default_dtype("float64")
    layer = L.WhitenedDense(4, 3)
    U = tg.Tensor(rng.standard_normal((4, 4)), requires_grad=True)
    c = tg.Tensor(rng.standard_normal(4), requires_grad=True)
    layer.U, layer.c = U, c                       # buffers as differentiable inputs for the check
    x = tg.Tensor(rng.standard_normal((5, 4)), requires_grad=True)

    def f(x, V, d, U, c):
        layer.V, layer.d, layer.U, layer.c = V, d, U, c
        return F.tanh(layer(x))                   # a non-linearity so second derivatives are non-zero

    inputs = [x, layer.V, layer.d, U, c]
    assert gradcheck(f, inputs)
    assert gradgradcheck(f, inputs)


def test_set_whitening_keeps_function_and_writes_in_place(rng):
    model, params = whitened_model(rng)
    x = tg.Tensor(rng.standard_normal((9, 5)))
    before = model(x).data.copy()
    views = [p.data for p in params.parameters]
    for _, layer in L.whitened_layers(model):
        set_random_whitening(layer, rng)
    assert rel(model(x).data, before) < 1e-10
    assert all(p.data is v for p, v in zip(params.parameters, views))
    assert np.shares_memory(params.parameters[0].data, params.data)
    assert not np.array_equal(params.data, np.concatenate([v.reshape(-1) for v in views]) * 0)


# ---------------------------------------------------------------- re-whitening (Algorithm 1, lines 6-11)
@pytest.mark.parametrize("whitening", ["pca", "zca"])
def test_rewhitening_keeps_outputs_and_canonical_parameters(rng, whitening):
    model, params = whitened_model(rng)
    for _, layer in L.whitened_layers(model):
        set_random_whitening(layer, rng)          # start from a non-identity whitening
    samples = correlated_inputs(rng)
    x = tg.Tensor(rng.standard_normal((11, 5)) * 3)   # fresh inputs, not the sample set
    before = model(x).data.copy()
    canon = [m.canonical() for _, m in L.whitened_layers(model)]
    opt = O.PRONG(params, lr=0.1, T=3, n_samples=40, epsilon=1e-3, samples=samples, whitening=whitening)
    assert opt.n_reparametrizations == 1
    assert rel(model(x).data, before) < 1e-10
    for (W, b), (_, m) in zip(canon, L.whitened_layers(model)):
        W2, b2 = m.canonical()
        assert rel(W2, W) < 1e-10 and rel(b2, b) < 1e-10
        assert not np.allclose(B.to_numpy(m.U.data), np.eye(m.in_features))   # it did change


@pytest.mark.parametrize("whitening", ["pca", "zca"])
def test_whitened_inputs_have_zero_mean_and_identity_covariance(rng, whitening):
    model, params = whitened_model(rng)
    samples = correlated_inputs(rng, n=40)
    opt = O.PRONG(params, lr=0.1, T=5, n_samples=40, epsilon=0.0, samples=lambda: samples,
                  whitening=whitening)
    hs = opt.layer_inputs(samples)
    for (name, layer), h in zip(L.whitened_layers(model), hs):
        xw = (B.to_numpy(h) - B.to_numpy(layer.c.data)) @ B.to_numpy(layer.U.data).T  # U(h − c), row by row
        cov = xw.T @ xw / xw.shape[0]
        assert np.max(np.abs(xw.mean(axis=0))) < 1e-8, name
        assert np.max(np.abs(cov - np.eye(layer.in_features))) < 1e-8, name
        if whitening == "zca":
            assert rel(layer.U.data, layer.U.data.T) < 1e-10   # ZCA's U is symmetric


def test_whitening_factors_invert_each_other(rng):
    A = rng.standard_normal((6, 6))
    sigma = A @ A.T
    for kind in ("pca", "zca"):
        U, U_inv, _ = whitening_from_covariance(sigma, 0.5, kind)
        assert rel(U @ U_inv, np.eye(6)) < 1e-12
        assert rel(U @ (sigma + 0.5 * np.eye(6)) @ U.T, np.eye(6)) < 1e-12


def test_prong_with_identity_whitening_is_exactly_sgd(rng):
    tg.set_default_dtype("float64")
    tg.manual_seed(3)
    plain = mlp()
    tg.manual_seed(3)
    whitened = L.whiten(mlp())
    p_sgd, p_prong = tg.FlatParameters(plain), tg.FlatParameters(whitened)
    assert np.array_equal(p_sgd.data, p_prong.data)
    x_all = correlated_inputs(rng, n=80)
    y_all = rng.integers(0, 3, 80)
    sgd = O.SGD(p_sgd, lr=0.2, momentum=0.9)
    prong = O.PRONG(p_prong, T=1000, n_samples=20, samples=x_all, whiten_at_start=False,
                    base=O.SGD(p_prong, lr=0.2, momentum=0.9))
    for step in range(30):
        idx = rng.choice(80, 16, replace=False)
        for model, opt in ((plain, sgd), (whitened, prong)):
            opt.zero_grad()
            F.cross_entropy(model(tg.Tensor(x_all[idx])), y_all[idx]).backward()
            opt.step()
        assert np.array_equal(p_prong.data, p_sgd.data), step
    assert prong.n_reparametrizations == 0 and prong.t == 30


def test_prong_step_is_sgd_preconditioned_by_inverse_input_moment(rng):
    """One update in Ω = (V, d) after whitening (ε = 0) moves the canonical Θ = [W b] by
    −lr ∇_Θ M⁻¹ with M = mean of [h;1][h;1]ᵀ over the sample set: the whitening turns SGD
    into a step preconditioned by the layer's input factor of the Fisher."""
    tg.set_default_dtype("float64")
    layer = L.Dense(5, 3)
    model = L.whiten(L.Sequential(layer))
    params = tg.FlatParameters(model)
    samples = correlated_inputs(rng, n=30)
    lr = 0.05
    opt = O.PRONG(params, lr=lr, T=100, n_samples=30, epsilon=0.0, samples=lambda: samples)
    w_layer = model[0]
    W0, b0 = (B.to_numpy(a) for a in w_layer.canonical())
    x, t = rng.standard_normal((8, 5)) + 1, rng.standard_normal((8, 3))
    canonical = L.Dense(5, 3)                     # the same function in canonical coordinates
    canonical.weight.data[...] = W0
    canonical.bias.data[...] = b0
    F.mse_loss(canonical(tg.Tensor(x)), tg.Tensor(t)).backward()
    grad_theta = np.concatenate([canonical.weight.grad.numpy(), canonical.bias.grad.numpy()[:, None]], axis=1)
    opt.zero_grad()
    F.mse_loss(model(tg.Tensor(x)), tg.Tensor(t)).backward()
    opt.step()
    W1, b1 = (B.to_numpy(a) for a in w_layer.canonical())
    h = np.concatenate([samples, np.ones((30, 1))], axis=1)
    M = h.T @ h / 30
    expected = np.concatenate([W0, b0[:, None]], axis=1) - lr * grad_theta @ np.linalg.inv(M)
    assert rel(np.concatenate([W1, b1[:, None]], axis=1), expected) < 1e-10


def test_rewhitening_every_T_updates(rng):
    model, params = whitened_model(rng)
    samples = correlated_inputs(rng, n=50)
    opt = O.PRONG(params, lr=0.05, T=4, n_samples=20, epsilon=1e-2, samples=samples)
    x, y = samples[:16], rng.integers(0, 3, 16)
    counts = []
    for _ in range(9):
        opt.zero_grad()
        F.cross_entropy(model(tg.Tensor(x)), y).backward()
        opt.step()
        counts.append(opt.n_reparametrizations)
    assert counts == [1, 1, 1, 2, 2, 2, 2, 3, 3]  # at t = 0 (start), 4 and 8


# ---------------------------------------------------------------- bad input
def test_bad_hyper_parameters_are_value_errors(rng):
    model, params = whitened_model(rng)
    x = correlated_inputs(rng)
    for T in (0, -3, 2.5):
        with pytest.raises(ValueError, match="T"):
            O.PRONG(params, lr=0.1, T=T, n_samples=20, samples=x)
    with pytest.raises(ValueError, match="epsilon"):
        O.PRONG(params, lr=0.1, T=5, n_samples=20, epsilon=-1e-3, samples=x)
    with pytest.raises(ValueError, match="whitening"):
        O.PRONG(params, lr=0.1, T=5, n_samples=20, samples=x, whitening="cholesky")
    with pytest.raises(ValueError, match="samples"):
        O.PRONG(params, lr=0.1, T=5, n_samples=20)
    with pytest.raises(ValueError, match="same FlatParameters"):
        O.PRONG(params, T=5, n_samples=20, samples=x, base=O.SGD(tg.FlatParameters(mlp()), lr=0.1))


def test_too_few_samples_with_zero_epsilon_is_refused(rng):
    model, params = whitened_model(rng)            # widest layer input: 8
    with pytest.raises(ValueError, match=r"n_samples=8 .*rank.*\('2', 8\)"):
        O.PRONG(params, lr=0.1, T=5, n_samples=8, epsilon=0.0, samples=correlated_inputs(rng))


def test_rank_deficient_inputs_with_zero_epsilon_are_refused_and_nothing_changes(rng):
    model, params = whitened_model(rng)
    samples = correlated_inputs(rng)
    samples[:, 2] = 0.7                            # a feature that never varies (an MNIST border pixel)
    before = params.data.copy()
    buffers = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="'0'.*rank-deficient.*epsilon > 0"):
        O.PRONG(params, lr=0.1, T=5, n_samples=40, epsilon=0.0, samples=samples)
    assert np.array_equal(params.data, before)
    assert all(np.array_equal(v, buffers[k]) for k, v in model.state_dict().items())
    x = tg.Tensor(rng.standard_normal((4, 5)))
    out = model(x).data.copy()
    O.PRONG(params, lr=0.1, T=5, n_samples=40, epsilon=1e-4, samples=samples)   # ε > 0 copes
    assert rel(model(x).data, out) < 1e-10


def test_model_without_whitened_layers_says_what_to_do():
    tg.set_default_dtype("float64")
    params = tg.FlatParameters(mlp())
    with pytest.raises(ValueError, match=r"whiten\(model\)"):
        O.PRONG(params, lr=0.1, T=5, n_samples=20, samples=np.zeros((30, 5)))
    with pytest.raises(ValueError, match="no Dense layer"):
        L.whiten(L.Sequential(L.Tanh()))


def test_prong_state_dict_round_trip_and_model_buffers(rng):
    model, params = whitened_model(rng)
    samples = correlated_inputs(rng, n=50)
    opt = O.PRONG(params, T=3, n_samples=20, epsilon=1e-2, samples=samples,
                  base=O.SGD(params, lr=0.05, momentum=0.9))
    x, y = samples[:16], rng.integers(0, 3, 16)

    def one_step(o):
        o.zero_grad()
        F.cross_entropy(model(tg.Tensor(x)), y).backward()
        o.step()

    for _ in range(4):
        one_step(opt)
    saved_opt, saved_model = opt.state_dict(), model.state_dict()
    assert saved_opt["t"] == 4 and "momentum_buffer" in saved_opt["base"]["state"]
    one_step(opt)
    after = params.data.copy()
    model.load_state_dict(saved_model)             # restores V, d and the buffers U, c
    opt.load_state_dict(saved_opt)
    one_step(opt)
    assert np.array_equal(params.data, after)


def test_whiten_a_bare_dense_layer(rng):
    tg.set_default_dtype("float64")
    dense = L.Dense(3, 2)
    layer = L.whiten(dense)
    assert isinstance(layer, L.WhitenedDense)
    x = tg.Tensor(rng.standard_normal((4, 3)))
    assert np.array_equal(layer(x).data, dense(x).data)
    with pytest.raises(TypeError, match="Module"):
        L.whiten("not a model")


# ---------------------------------------------------------------- composition (issues 13, 14)
def test_steplr_on_prong_compounds_through_the_base(rng):
    """Issue 14: StepLR(γ=0.5) on PRONG gave 0.04, 0.04, 0.04 (it read a stale hyper['lr'])."""
    model, params = whitened_model(rng)
    samples = correlated_inputs(rng, n=50)
    opt = O.PRONG(params, lr=0.08, T=2, n_samples=20, epsilon=1e-2, samples=samples)
    sched = O.StepLR(opt, step_size=1, gamma=0.5)
    x, y = samples[:16], rng.integers(0, 3, 16)
    seen = []
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(tg.Tensor(x)), y).backward()
        before = params.data.copy()
        g = params.grad.copy()
        opt.step()
        if opt.t % 2:                      # no re-whitening after this step: θ moved by lr·g exactly
            assert np.array_equal(params.data, before - opt.lr * g)
        sched.step()
        seen.append((opt.lr, opt.base.lr, sched.get_last_lr()[0]))
    assert seen == [(0.04, 0.04, 0.04), (0.02, 0.02, 0.02), (0.01, 0.01, 0.01)]


def test_prong_is_a_wrapper_and_its_update_is_the_base_step(rng):
    """Issue 13: PRONG composes its base optimizer (no _update that raises, no lr workaround)."""
    model, params = whitened_model(rng)
    opt = O.PRONG(params, T=50, n_samples=20, samples=correlated_inputs(rng),
                  base=O.SGD(params, lr=0.1, momentum=0.9))
    assert isinstance(opt, O.GradientWrapper) and not isinstance(opt, O.Optimizer)
    assert not hasattr(opt, "_update")
    opt.lr = 0.05
    assert opt.base.lr == 0.05 and opt.base.hyper["lr"] == 0.05
    params.grad[...] = rng.standard_normal(params.numel)
    opt.step()
    assert opt.step_count == opt.base.step_count == 1 and opt.state is opt.base.state


def test_rewhitening_hook_can_be_called_by_the_user(rng):
    model, params = whitened_model(rng)
    samples = correlated_inputs(rng)
    opt = O.PRONG(params, lr=0.1, T=1000, n_samples=40, samples=samples, whiten_at_start=False)
    x = tg.Tensor(rng.standard_normal((9, 5)))
    before = model(x).data.copy()
    opt.reparametrize()                    # the public hook of Algorithm 1, lines 6-11
    assert opt.n_reparametrizations == 1
    assert rel(model(x).data, before) < 1e-10
    assert not np.allclose(B.to_numpy(L.whitened_layers(model)[0][1].U.data), np.eye(5))


def test_whitened_dense_recording_context(rng):
    tg.set_default_dtype("float64")
    layer = L.WhitenedDense(3, 2)
    x1, x2 = rng.standard_normal((4, 3)), rng.standard_normal((2, 5, 3))
    with layer.recording() as inputs:
        layer(tg.Tensor(x1))
        layer(tg.Tensor(x2))
        with pytest.raises(RuntimeError, match="already recording"):
            with layer.recording():
                pass
    assert len(inputs) == 2 and np.array_equal(B.to_numpy(inputs[0]), x1) and np.array_equal(B.to_numpy(inputs[1]), x2.reshape(-1, 3))
    layer(tg.Tensor(x1))                   # no longer recording: nothing kept
    assert len(inputs) == 2 and layer._recorder is None
    assert "_recorder" not in layer.state_dict()


def test_non_finite_or_list_samples_are_refused_by_name_and_nothing_changes(rng):
    """Audit: NaN samples ended in NumPy's "Eigenvalues did not converge"; a list of rows was
    reported as having 0 rows."""
    model, params = whitened_model(rng)
    samples = correlated_inputs(rng)
    samples[3, 1] = np.nan
    before = params.data.copy()
    buffers = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(FloatingPointError, match="PRONG: layer '0': its input .* non-finite"):
        O.PRONG(params, lr=0.1, T=5, n_samples=len(samples), epsilon=1e-3, samples=samples)
    assert np.array_equal(params.data, before)
    assert all(np.array_equal(v, buffers[k]) for k, v in model.state_dict().items())
    with pytest.raises(TypeError, match="PRONG: samples must be an array of inputs"):
        O.PRONG(params, lr=0.1, T=5, n_samples=2, samples=correlated_inputs(rng).tolist())
