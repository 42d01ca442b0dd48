"""LSTM: PyTorch's nn.LSTM semantics, exact to second order.

Against PyTorch in float64 over randomized configurations (layers, batch_first, bias,
given or omitted (h0, c0), unbatched input): output, (h_n, c_n) and the gradients of
the input, the initial state and every parameter with random upstream gradients for all
three outputs, to 1e-10 relative.  gradcheck and gradgradcheck of the fused cell and a
2-layer LSTM; dropout between layers reproduced from the host generator; truncated BPTT
by detaching the carried state equals PyTorch's; parameter names; errors.
"""

import math

import numpy as np
import pytest
from layer_checks import TOL, rel_err, torch_state

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd.testing import gradcheck, gradgradcheck


def make_pair(torch, I, H, num_layers=1, bias=True, batch_first=False, dropout=0.0):
    tl = torch.nn.LSTM(I, H, num_layers=num_layers, bias=bias, batch_first=batch_first, dropout=dropout)
    layer = L.LSTM(I, H, num_layers=num_layers, bias=bias, batch_first=batch_first, dropout=dropout)
    layer.load_state_dict(torch_state(tl))
    return layer, tl


@pytest.mark.parametrize("seed", range(8))
def test_lstm_matches_torch_randomized(torch, seed):
    tg.set_default_dtype("float64")
    rng = np.random.default_rng(seed)
    T, N, I, H = (int(v) for v in rng.integers(1, 5, 4))
    num_layers = int(rng.integers(1, 4))
    batch_first, bias, with_state, unbatched = (bool(v) for v in rng.integers(0, 2, 4))
    layer, tl = make_pair(torch, I, H, num_layers, bias, batch_first)
    if unbatched:
        x_shape, s_shape = (T, I), (num_layers, H)
    else:
        x_shape, s_shape = ((N, T, I) if batch_first else (T, N, I)), (num_layers, N, H)
    x_np = rng.standard_normal(x_shape)
    h0_np, c0_np = rng.standard_normal(s_shape), rng.standard_normal(s_shape)

    x = tg.Tensor(x_np, requires_grad=True)
    h0, c0 = tg.Tensor(h0_np, requires_grad=True), tg.Tensor(c0_np, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    h0t, c0t = torch.tensor(h0_np, requires_grad=True), torch.tensor(c0_np, requires_grad=True)
    out, (h, c) = layer(x, (h0, c0)) if with_state else layer(x)
    outt, (ht, ct) = tl(xt, (h0t, c0t)) if with_state else tl(xt)
    for a, b in ((out, outt), (h, ht), (c, ct)):
        assert a.shape == tuple(b.shape)
        assert rel_err(a.numpy(), b.detach().numpy()) <= TOL

    gs = [rng.standard_normal(t.shape) for t in (out, h, c)]
    ours_in = [x] + ([h0, c0] if with_state else []) + layer.parameters()
    theirs_in = [xt] + ([h0t, c0t] if with_state else []) + list(tl.parameters())
    g_ours = tg.grad([out, h, c], ours_in, [tg.Tensor(g) for g in gs])
    g_theirs = torch.autograd.grad([outt, ht, ct], theirs_in, [torch.tensor(g) for g in gs])
    for a, b in zip(g_ours, g_theirs):
        assert rel_err(a.numpy(), b.numpy()) <= TOL


def test_lstm_cell_gradcheck_and_gradgradcheck(rng):
    N, I, H = 2, 3, 2
    args = [tg.Tensor(rng.standard_normal(s) * 0.8, requires_grad=True)
            for s in [(N, I), (N, H), (N, H), (4 * H, I), (4 * H, H), (4 * H,), (4 * H,)]]

    def cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
        return F.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)

    assert gradcheck(cell, args)
    assert gradgradcheck(cell, args)


def test_two_layer_lstm_gradgradcheck(rng):
    T, N, I, H, nl = 3, 2, 2, 2, 2
    P = lambda *s: tg.Tensor(rng.standard_normal(s) * 0.6, requires_grad=True)
    x, h0, c0 = P(T, N, I), P(nl, N, H), P(nl, N, H)
    w = [P(4 * H, I), P(4 * H, H), P(4 * H), P(4 * H), P(4 * H, H), P(4 * H, H), P(4 * H), P(4 * H)]

    def f(x, h0, c0, *w):
        out, (h, c) = F.lstm(x, (h0, c0), [w[:4], w[4:]])
        return out, h, c

    assert gradcheck(f, [x, h0, c0] + w)
    assert gradgradcheck(f, [x, h0, c0] + w)


def test_lstm_hvp_matches_torch(torch, rng):
    """Grad-of-grad through a whole sequence agrees with torch's double backward."""
    tg.set_default_dtype("float64")
    layer, tl = make_pair(torch, 3, 4, num_layers=2)
    x_np = rng.standard_normal((5, 2, 3))
    vs = [rng.standard_normal(p.shape) for p in layer.parameters()]
    out, _ = layer(tg.Tensor(x_np))
    gs = tg.grad((out * out).sum(), layer.parameters(), create_graph=True)
    hv = tg.grad(sum(((g * tg.Tensor(v)).sum() for g, v in zip(gs, vs)), tg.Tensor(0.0)), layer.parameters())
    outt, _ = tl(torch.tensor(x_np))
    gts = torch.autograd.grad((outt * outt).sum(), list(tl.parameters()), create_graph=True)
    hvt = torch.autograd.grad(sum((g * torch.tensor(v)).sum() for g, v in zip(gts, vs)), list(tl.parameters()))
    for a, b in zip(hv, hvt):
        assert rel_err(a.numpy(), b.numpy()) <= TOL


def test_dropout_between_layers_uses_the_host_generator(torch, rng):
    """Training-mode dropout = PyTorch's layers run one by one with our host-drawn mask."""
    tg.set_default_dtype("float64")
    layer, _ = make_pair(torch, 3, 4, num_layers=2, dropout=0.4)
    x_np = rng.standard_normal((5, 2, 3))
    tg.manual_seed(7)
    out, (_h, c) = layer(tg.Tensor(x_np))
    tg.manual_seed(7)
    mask = B.to_numpy(F.dropout_mask((5, 2, 4), 0.4, np.float64))  # the same draw the layer made

    sd = {k: B.to_numpy(v) for k, v in layer.state_dict().items()}
    l0, l1 = torch.nn.LSTM(3, 4), torch.nn.LSTM(4, 4)
    l0.load_state_dict({k: torch.tensor(v) for k, v in sd.items() if k.endswith("l0")})
    l1.load_state_dict({k.replace("l1", "l0"): torch.tensor(v) for k, v in sd.items() if k.endswith("l1")})
    y0, _ = l0(torch.tensor(x_np))
    y1, (_h1, c1) = l1(y0 * torch.tensor(mask))
    assert rel_err(out.numpy(), y1.detach().numpy()) <= TOL
    assert rel_err(c.numpy()[1], c1.detach().numpy()[0]) <= TOL
    assert np.any(mask == 0) and np.allclose(mask[mask != 0], 1 / 0.6)
    layer.eval()  # eval: no dropout, equals the plain stacked LSTM
    out_eval, _ = layer(tg.Tensor(x_np))
    y1e, _ = l1(y0)
    assert rel_err(out_eval.numpy(), y1e.detach().numpy()) <= TOL


def test_truncated_bptt_by_detaching_the_state_equals_torch(torch, rng):
    tg.set_default_dtype("float64")
    layer, tl = make_pair(torch, 2, 3, num_layers=2, batch_first=True)
    windows = [rng.standard_normal((2, 4, 2)) for _ in range(3)]
    state, state_t = None, None
    for x_np in windows:
        layer.zero_grad()
        tl.zero_grad()
        x = tg.Tensor(x_np)
        out, state = layer(x, state)
        loss = (out * out).sum()
        loss.backward()
        outt, state_t = tl(torch.tensor(x_np), state_t)
        (outt * outt).sum().backward()
        for p, pt in zip(layer.parameters(), tl.parameters()):
            assert rel_err(p.grad.numpy(), pt.grad.numpy()) <= TOL
        state = L.detach_state(state)
        state_t = tuple(s.detach() for s in state_t)
        assert not state[0].requires_grad and not state[1].requires_grad


def test_lstm_parameter_names_order_and_init(torch):
    tl = torch.nn.LSTM(3, 5, num_layers=2)
    layer = L.LSTM(3, 5, num_layers=2)
    assert list(layer.state_dict()) == list(tl.state_dict())
    assert [tuple(v.shape) for v in layer.state_dict().values()] == [tuple(v.shape) for v in tl.state_dict().values()]
    bound = 1 / math.sqrt(5)
    for p in layer.parameters():
        assert np.abs(p.numpy()).max() <= bound
    big = L.LSTM(50, 50)
    w = big.weight_ih_l0.numpy()
    assert abs(w.std() / (1 / math.sqrt(50) / math.sqrt(3)) - 1) < 0.05


# ---------------------------------------------------------------- bad input
def test_lstm_errors_say_what_is_wrong():
    layer = L.LSTM(3, 4, num_layers=2)
    x = tg.Tensor(np.zeros((5, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"LSTM.*input has 6 features.*input_size=3"):
        layer(tg.Tensor(np.zeros((5, 2, 6), np.float32)))
    with pytest.raises(ValueError, match=r"LSTM.*expected input.*\(5, 2, 3, 1\)"):
        layer(tg.Tensor(np.zeros((5, 2, 3, 1), np.float32)))
    good = np.zeros((2, 2, 4), np.float32)
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 2, 4\).*found \(1, 2, 4\)"):
        layer(x, (tg.Tensor(np.zeros((1, 2, 4), np.float32)), tg.Tensor(good)))
    with pytest.raises(ValueError, match=r"c0 must have shape \(2, 2, 4\).*found \(2, 3, 4\)"):
        layer(x, (tg.Tensor(good), tg.Tensor(np.zeros((2, 3, 4), np.float32))))
    with pytest.raises(ValueError, match="pair"):
        layer(x, tg.Tensor(good))
    with pytest.raises(ValueError, match=r"sequence length.*\(0, 2, 3\)"):
        layer(tg.Tensor(np.zeros((0, 2, 3), np.float32)))
    with pytest.raises(ValueError, match="dropout"):
        L.LSTM(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size"):
        L.LSTM(3, 0)


def test_flat_parameters_give_one_block_per_stacked_lstm_layer():
    """[Yu et al. 2017, §4.4] normalizes each LSTM layer's gradient on its own: one block per layer."""
    import tinygrad_ngd as tg
    from tinygrad_ngd import layers as L
    model = L.Sequential(L.Embedding(10, 4), L.LSTM(4, 5, num_layers=2))
    params = tg.FlatParameters(model)
    assert [b.name for b in params.blocks] == ["0", "1.l0", "1.l1"]
    assert params.blocks[1].param_names == ("1.weight_ih_l0", "1.weight_hh_l0", "1.bias_ih_l0", "1.bias_hh_l0")
    assert [b.size for b in params.blocks] == [40, 4 * 5 * (4 + 5) + 2 * 20, 4 * 5 * (5 + 5) + 2 * 20]
