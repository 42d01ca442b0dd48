"""Module / Sequential: registration order, buffers, modes, state_dict with PyTorch's names,
and load_state_dict's all-or-nothing validation."""

from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import layers as L
from tinygrad_ngd.layers.module import IncompatibleKeys


class Block(L.Module):
    """A layer with parameters, a buffer and children (all registered by assignment)."""

    def __init__(self):
        super().__init__()
        self.zeta = L.Parameter(np.ones(2, np.float32))
        self.fc = L.Dense(3, 2)
        self.register_buffer("running", np.zeros(2, np.float32))
        self.alpha = L.Parameter(np.full((2, 2), 2.0, np.float32))
        self.act = L.Tanh()

    def forward(self, x):
        return self.act(self.fc(x)) * self.zeta


def torch_block(torch):
    nn = torch.nn

    class TBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.zeta = nn.Parameter(torch.ones(2))
            self.fc = nn.Linear(3, 2)
            self.register_buffer("running", torch.zeros(2))
            self.alpha = nn.Parameter(torch.full((2, 2), 2.0))
            self.act = nn.Tanh()

    return TBlock


def test_parameters_in_definition_order_with_torch_names(torch):
    model = L.Sequential(Block(), L.Dense(2, 4))
    tmodel = torch.nn.Sequential(torch_block(torch)(), torch.nn.Linear(2, 4))
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in tmodel.named_parameters()]
    assert [n for n, _ in model.named_buffers()] == [n for n, _ in tmodel.named_buffers()]
    assert list(model.state_dict()) == list(tmodel.state_dict())
    assert [n for n, _ in model.named_modules()] == [n for n, _ in tmodel.named_modules()]
    assert [tuple(v.shape) for v in model.state_dict().values()] == \
        [tuple(v.shape) for v in tmodel.state_dict().values()]


def test_buffers_are_kept_apart_from_parameters():
    b = Block()
    assert all(p is not b.running for p in b.parameters())
    assert [n for n, _ in b.named_buffers()] == ["running"]
    b.running = tg.Tensor(np.full(2, 7.0, np.float32))  # assignment updates the buffer
    assert [n for n, _ in b.named_buffers()] == ["running"]
    np.testing.assert_array_equal(B.to_numpy(b.state_dict()["running"]), [7, 7])
    with pytest.raises(ValueError, match="already a parameter"):
        b.register_buffer("zeta", np.zeros(2))
    with pytest.raises(ValueError, match="without '.'"):
        b.register_buffer("a.b", np.zeros(2))


def test_train_eval_recurse_and_return_self():
    model = L.Sequential(L.Dense(2, 2), L.Sequential(L.Dropout(0.5), L.ReLU()))
    assert model.eval() is model
    assert all(not m.training for m in model.modules())
    assert model.train() is model
    assert all(m.training for m in model.modules())


def test_sequential_indexing_names_and_errors():
    a, b, c = L.Dense(2, 3), L.ReLU(), L.Dense(3, 1)
    seq = L.Sequential(a, b, c)
    assert seq[0] is a and seq[-1] is c and len(seq) == 3 and list(seq) == [a, b, c]
    tail = seq[1:]
    assert [n for n, _ in tail.named_parameters()] == ["2.weight", "2.bias"]  # names kept, as torch
    named = L.Sequential(OrderedDict([("enc", L.Dense(2, 2)), ("out", L.Dense(2, 1))]))
    assert [n for n, _ in named.named_parameters()] == ["enc.weight", "enc.bias", "out.weight", "out.bias"]
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    with pytest.raises(TypeError, match="not a Module"):
        L.Sequential(L.ReLU(), lambda x: x)
    seq.append(L.Sigmoid())
    assert len(seq) == 4 and isinstance(seq[3], L.Sigmoid)


def test_shared_parameters_listed_once_but_saved_under_every_name(torch):
    shared = L.Dense(2, 2)
    model = L.Sequential(shared, L.Tanh(), shared)
    tshared = torch.nn.Linear(2, 2)
    tmodel = torch.nn.Sequential(tshared, torch.nn.Tanh(), tshared)
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in tmodel.named_parameters()]
    assert list(model.state_dict()) == list(tmodel.state_dict())


def test_state_dict_is_a_copy():
    layer = L.Dense(2, 2)
    sd = layer.state_dict()
    layer.weight.data[...] = 5
    assert not np.any(sd["weight"] == 5)


def test_load_state_dict_lists_every_offending_key_and_changes_nothing():
    model = L.Sequential(Block(), L.Dense(2, 4))
    before = model.state_dict()
    bad = {k: v + 1 for k, v in before.items()}
    del bad["0.fc.bias"]                                  # missing
    bad["0.fc.weight"] = np.zeros((3, 2), np.float32)     # wrong shape (transposed)
    bad["1.weight"] = np.zeros((4,), np.float32)          # wrong shape
    bad["2.weight"] = np.zeros((1,), np.float32)          # unexpected
    with pytest.raises(ValueError) as err:
        model.load_state_dict(bad)
    msg = str(err.value)
    for part in ["missing key '0.fc.bias' (expected shape (2,))",
                 "unexpected key '2.weight' (found shape (1,))",
                 "key '0.fc.weight': expected shape (2, 3), found (3, 2)",
                 "key '1.weight': expected shape (4, 2), found (4,)",
                 "4 problem(s)", "nothing was loaded"]:
        assert part in msg, (part, msg)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(B.to_numpy(v), B.to_numpy(before[k]))  # not even the valid keys were written


def test_load_state_dict_non_strict_returns_incompatible_keys_and_checks_shapes():
    layer = L.Dense(3, 2)
    new_w = np.arange(6, dtype=np.float64).reshape(2, 3)
    res = layer.load_state_dict({"weight": new_w, "extra": np.zeros(1)}, strict=False)
    assert res == IncompatibleKeys(["bias"], ["extra"])
    np.testing.assert_array_equal(layer.weight.numpy(), new_w.astype(np.float32))
    assert layer.weight.dtype == np.float32  # values are cast to the parameter's dtype
    with pytest.raises(ValueError, match=r"key 'weight': expected shape \(2, 3\), found \(3,\)"):
        layer.load_state_dict({"weight": np.zeros(3)}, strict=False)
    with pytest.raises(ValueError, match="numeric"):
        layer.load_state_dict({"weight": np.array([["a"] * 3] * 2), "bias": np.zeros(2)})
    with pytest.raises(TypeError, match="dict"):
        layer.load_state_dict([1, 2])


def test_load_state_dict_writes_through_flat_parameters():
    model = L.Sequential(L.Dense(3, 2), L.Tanh(), L.Dense(2, 1))
    params = tg.FlatParameters(model)
    sd = {k: np.full(v.shape, i + 1.0) for i, (k, v) in enumerate(model.state_dict().items())}
    model.load_state_dict(sd)
    expected = np.concatenate([v.reshape(-1) for v in sd.values()]).astype(np.float32)
    np.testing.assert_array_equal(B.to_numpy(params.data), expected)
    for p in model.parameters():
        assert np.shares_memory(p.data, params.data)


def test_attribute_management():
    layer = L.Dense(2, 2, bias=False)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    assert "bias" not in layer.state_dict()
    m = Block()
    del m.alpha
    assert "alpha" not in dict(m.named_parameters())
    m.fc = None  # unregisters the child
    assert [n for n, _ in m.named_parameters()] == ["zeta"]
    with pytest.raises(TypeError, match="must be a Parameter"):
        m.register_parameter("w", tg.Tensor(np.zeros(2)))

    class Forgot(L.Module):
        def __init__(self):
            self.w = 1

    with pytest.raises(RuntimeError, match="Module.__init__"):
        Forgot()


def test_module_call_and_repr():
    model = L.Sequential(L.Dense(2, 3), L.Softmax(dim=1))
    y = model(tg.Tensor(np.ones((4, 2), np.float32)))
    np.testing.assert_allclose(y.numpy().sum(axis=1), 1, rtol=1e-6)
    text = repr(model)
    assert "(0): Dense(in_features=2, out_features=3, bias=True)" in text and "Softmax(dim=1)" in text
