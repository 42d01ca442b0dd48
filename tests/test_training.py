"""The training helper: same trajectory as a hand-written PyTorch loop, history bookkeeping,
evaluation without a graph, and clear errors for malformed batches."""

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd import optimizers as O
from tinygrad_ngd.training import History, evaluate, fit, train_epoch, train_step


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)), rng.integers(0, 3, n)


def batches_of(x, y, size=6):
    return [(tg.Tensor(x[i:i + size]), y[i:i + size]) for i in range(0, len(x), size)]


def test_fit_matches_a_torch_training_loop(torch):
    tg.set_default_dtype("float64")
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Sigmoid(), torch.nn.Linear(8, 3))
    model = L.Sequential(L.Dense(5, 8), L.Sigmoid(), L.Dense(8, 3))
    model.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    params = tg.FlatParameters(model)
    opt = O.SGD(params, lr=0.2, momentum=0.9)
    # torch.optim.SGD's rule written out (b ← μb + g, b₁ = g; θ ← θ − lr·b): importing
    # torch.optim pulls in torch._dynamo, seconds of start-up for a two-line update
    buffers = {}

    def torch_sgd_step():
        with torch.no_grad():
            for name, p in tm.named_parameters():
                b = buffers.get(name)
                buffers[name] = p.grad.clone() if b is None else b.mul_(0.9).add_(p.grad)
                p.sub_(0.2 * buffers[name])
    x, y = data()
    history = fit(model, opt, F.cross_entropy, batches_of(x, y), epochs=5)
    torch_losses = []
    for _ in range(5):
        for i in range(0, 24, 6):
            tm.zero_grad()
            loss = torch.nn.functional.cross_entropy(tm(torch.tensor(x[i:i + 6])), torch.tensor(y[i:i + 6]))
            loss.backward()
            torch_sgd_step()
            torch_losses.append(loss.item())
    assert history.steps == 20 and opt.step_count == 20
    np.testing.assert_allclose(history.losses, torch_losses, rtol=1e-10, atol=0)
    for name, p in model.named_parameters():
        ref = dict(tm.named_parameters())[name].detach().numpy()
        assert np.max(np.abs(p.numpy() - ref)) <= 1e-10 * np.max(np.abs(ref)), name
    assert history.losses[-1] < history.losses[0]
    np.testing.assert_allclose(history.epoch_losses, np.mean(np.reshape(history.losses, (5, 4)), axis=1),
                               rtol=1e-15)


def test_train_step_equals_manual_step():
    tg.set_default_dtype("float64")
    x, y = data(8)
    results = []
    for use_helper in (True, False):
        tg.manual_seed(2)
        model = L.Sequential(L.Dense(5, 4), L.Tanh(), L.Dense(4, 3))
        params = tg.FlatParameters(model)
        opt = O.SGD(params, lr=0.1)
        if use_helper:
            loss = train_step(model, opt, F.cross_entropy, tg.Tensor(x), y)
        else:
            opt.zero_grad()
            out = F.cross_entropy(model(tg.Tensor(x)), y)
            out.backward()
            opt.step()
            loss = out.item()
        results.append((loss, params.data.copy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(B.to_numpy(results[0][1]), B.to_numpy(results[1][1]))


def test_evaluate_uses_eval_mode_no_graph_and_restores_mode():
    tg.set_default_dtype("float64")
    model = L.Sequential(L.Dense(5, 3), L.Dropout(0.5))
    params = tg.FlatParameters(model)
    x, y = data(12)
    batches = [(tg.Tensor(x[:5]), y[:5]), (tg.Tensor(x[5:]), y[5:])]
    loss = evaluate(model, F.cross_entropy, batches)
    logits = x @ model[0].weight.numpy().T + model[0].bias.numpy()  # dropout off in eval
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert loss == pytest.approx(-logp[np.arange(12), y].mean(), rel=1e-13)  # weighted by batch size
    assert model.training and not params.grad.any()


def test_fit_with_callable_batches_and_eval_and_history_extension():
    x, y = data(12)
    seen = []

    def batches(epoch):
        seen.append(epoch)
        return batches_of(x, y, 4)

    tg.manual_seed(0)
    model = L.Sequential(L.Dense(5, 3))
    opt = O.SGD(tg.FlatParameters(model), lr=0.05)
    history = fit(model, opt, F.cross_entropy, batches, epochs=2, eval_batches=batches_of(x, y, 12))
    assert seen == [0, 1] and history.steps == 6 and len(history.eval_losses) == 2
    history = fit(model, opt, F.cross_entropy, batches, epochs=1, history=history)
    assert history.steps == 9 and len(history.epoch_losses) == 3
    assert History.from_dict(history.as_dict()) == history


def test_training_errors():
    model = L.Sequential(L.Dense(5, 3))
    opt = O.SGD(tg.FlatParameters(model), lr=0.05)
    x, y = data(4)
    with pytest.raises(ValueError, match=r"batch 0 must be an \(inputs, targets\) pair"):
        train_epoch(model, opt, F.cross_entropy, [tg.Tensor(x)])
    with pytest.raises(ValueError, match="produced no batch"):
        train_epoch(model, opt, F.cross_entropy, [])
    with pytest.raises(ValueError, match="epochs must be"):
        fit(model, opt, F.cross_entropy, [], epochs=-1)
    with pytest.raises(ValueError, match="loss_fn must return a scalar"):
        train_step(model, opt, lambda out, t: out, tg.Tensor(x.astype(np.float32)), y)


def test_recorded_loss_is_the_first_closure_evaluation_and_a_closure_is_required():
    model = L.Sequential(L.Dense(5, 3))
    params = tg.FlatParameters(model)
    x, y = data(4)
    xt = tg.Tensor(x.astype(np.float32))

    class TwoEvaluations(O.Optimizer):  # a line-search-like method: evaluates twice
        def step(self, grad=None, closure=None):
            first = closure()
            self.params.data[...] += 1.0
            closure()
            return first

    expected = F.cross_entropy(model(xt), y).item()
    assert train_step(model, TwoEvaluations(params, lr=0.1), F.cross_entropy, xt, y) == expected

    class IgnoresClosure(O.Optimizer):
        def step(self, grad=None, closure=None):
            return None

    with pytest.raises(RuntimeError, match="never called the closure"):
        train_step(model, IgnoresClosure(params, lr=0.1), F.cross_entropy, xt, y)


# ---------------------------------------------------------------- curvature methods through train_step (issue 14)
def _small_problem():
    tg.set_default_dtype("float64")
    tg.manual_seed(0)
    model = L.Sequential(L.Dense(3, 4), L.Tanh(), L.Dense(4, 2))
    rng = np.random.default_rng(0)
    return model, tg.FlatParameters(model), tg.Tensor(rng.standard_normal((8, 3))), np.arange(8) % 2


@pytest.mark.parametrize("make", [lambda p: O.Newton(p, damping=1e-2), lambda p: O.NewtonCG(p),
                                  lambda p: O.ScaledConjugateGradient(p)],
                         ids=["Newton", "NewtonCG", "SCG"])
def test_loss_closure_methods_run_through_train_step(make):
    """On main Newton through train_step died in backward ("through the graph a second time")."""
    model, params, x, y = _small_problem()
    opt = make(params)
    first = F.cross_entropy(model(x), y).item()
    losses = [train_step(model, opt, F.cross_entropy, x, y) for _ in range(3)]
    assert losses[0] == first and losses[-1] < first and opt.step_count == 3


@pytest.mark.parametrize("make", [lambda p: O.NaturalGradient(p), lambda p: O.HessianFree(p)],
                         ids=["NaturalGradient", "HessianFree"])
def test_output_methods_through_train_step_say_how_to_call_them(make):
    model, params, x, y = _small_problem()
    opt = make(params)
    theta = params.data.copy()
    with pytest.raises(ValueError, match=r"cannot take loss_fn through train_step; step it directly"):
        train_step(model, opt, F.cross_entropy, x, y)
    assert (params.data == theta).all() and opt.step_count == 0
