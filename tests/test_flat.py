"""FlatParameters invariants: views share memory with ``data``; after backward ``grad`` is
the concatenation of the per-parameter gradients in block order; block order does not
depend on the process (PYTHONHASHSEED); blocks follow [Yu et al. 2017]'s one-block-per-layer rule."""

import itertools
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd.flat import FlatParameters
from tinygrad_ngd.tensor import grad_buffer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mlp(seed=0):
    tg.manual_seed(seed)
    return L.Sequential(L.Dense(5, 4), L.Sigmoid(), L.Dense(4, 3, bias=False), L.Tanh(), L.Dense(3, 2))


def test_every_parameter_is_a_view_into_data_and_writes_go_both_ways():
    model = mlp()
    before = [p.numpy().copy() for p in model.parameters()]
    params = FlatParameters(model)
    assert params.numel == sum(b.size for b in before) == len(params)
    start = 0
    for p, b in zip(model.parameters(), before):
        assert np.shares_memory(p.data, params.data)
        assert np.shares_memory(grad_buffer(p), params.grad)
        np.testing.assert_array_equal(p.numpy(), b)  # values preserved by the copy
        np.testing.assert_array_equal(B.to_numpy(params.data[start:start + b.size]), b.reshape(-1))
        start += b.size
    x = tg.Tensor(np.ones((2, 5), np.float32))
    y0 = model(x).numpy()
    params.data[...] *= 2  # writing the flat vector changes the layers
    np.testing.assert_array_equal(model[0].weight.numpy(), 2 * before[0])
    assert not np.allclose(model(x).numpy(), y0)
    model[2].weight.data[0, 0] = 42.0  # and writing a layer changes the flat vector
    assert params.data[params.blocks[1].slice][0] == 42.0


def test_layer_blocks_hold_weight_and_bias_together():
    params = FlatParameters(mlp())
    assert [b.name for b in params.blocks] == ["0", "2", "4"]
    assert [b.param_names for b in params.blocks] == [("0.weight", "0.bias"), ("2.weight",),
                                                     ("4.weight", "4.bias")]
    assert [b.shapes for b in params.blocks] == [((4, 5), (4,)), ((3, 4),), ((2, 3), (2,))]
    assert params.block_sizes == [24, 12, 8]
    assert [(b.slice.start, b.slice.stop) for b in params.blocks] == [(0, 24), (24, 36), (36, 44)]
    assert params.block("2").size == 12
    with pytest.raises(KeyError, match="no block 'x'"):
        params.block("x")
    single = FlatParameters(L.Dense(3, 2))  # a lone layer is one block
    assert [(b.name, b.param_names) for b in single.blocks] == [("Dense", ("weight", "bias"))]


def test_tensor_blocks_one_per_tensor():
    params = FlatParameters(mlp(), block_by="tensor")
    assert [b.name for b in params.blocks] == ["0.weight", "0.bias", "2.weight", "4.weight", "4.bias"]
    assert params.block_sizes == [20, 4, 12, 6, 2]
    with pytest.raises(ValueError, match="unknown block_by 'row'"):
        FlatParameters(mlp(), block_by="row")


def test_grad_after_backward_is_the_concatenation_of_parameter_grads_in_block_order():
    tg.set_default_dtype("float64")
    flat_model, plain_model = mlp(3), mlp(3)  # same seed: same weights
    params = FlatParameters(flat_model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5))
    labels = rng.integers(0, 2, 6)
    F.cross_entropy(flat_model(tg.Tensor(x)), labels).backward()
    F.cross_entropy(plain_model(tg.Tensor(x)), labels).backward()
    expected = np.concatenate([p.grad.numpy().reshape(-1) for p in plain_model.parameters()])
    np.testing.assert_array_equal(B.to_numpy(params.grad), expected)
    plain = dict(plain_model.named_parameters())
    for b in params.blocks:  # and block by block, in block order
        parts = [plain[n].grad.numpy().reshape(-1) for n in b.param_names]
        np.testing.assert_array_equal(B.to_numpy(params.grad[b.slice]), np.concatenate(parts))
    for p in flat_model.parameters():  # .grad of each parameter is its view of the flat gradient
        assert np.shares_memory(p.grad.data, params.grad)
    np.testing.assert_array_equal(B.to_numpy(params.flatten([p.grad for p in flat_model.parameters()])),
                                  B.to_numpy(params.grad))


def test_backward_accumulates_and_zero_grad_clears():
    tg.set_default_dtype("float64")
    model = mlp()
    params = FlatParameters(model)
    x = tg.Tensor(np.random.default_rng(1).standard_normal((3, 5)))
    model(x).sum().backward()
    g1 = params.grad.copy()
    model(x).sum().backward()
    np.testing.assert_allclose(B.to_numpy(params.grad), 2 * B.to_numpy(g1), rtol=1e-15)
    params.zero_grad()
    assert not params.grad.any() and all(p.grad is None for p in model.parameters())
    model(x).sum().backward()
    np.testing.assert_array_equal(B.to_numpy(params.grad), B.to_numpy(g1))


def test_parameters_without_gradient_read_zero():
    tg.set_default_dtype("float64")
    head_a, head_b = L.Dense(3, 2), L.Dense(3, 2)
    model = L.Sequential(head_a, head_b)
    params = FlatParameters(model)
    params.grad[...] = 7.0  # stale values must not survive zero_grad
    params.zero_grad()
    head_a(tg.Tensor(np.ones((2, 3)))).sum().backward()  # head_b unused
    assert params.grad[params.blocks[0].slice].any()
    np.testing.assert_array_equal(B.to_numpy(params.grad[params.blocks[1].slice]), 0)
    assert head_b.weight.grad is None
    np.testing.assert_array_equal(B.to_numpy(params.flatten([head_a.weight.grad, head_a.bias.grad, None, None])),
                                  B.to_numpy(params.grad))


def test_create_graph_keeps_the_flat_gradient_in_step():
    tg.set_default_dtype("float64")
    model = L.Sequential(L.Dense(3, 2), L.Tanh())
    params = FlatParameters(model)
    model(tg.Tensor(np.ones((2, 3)))).sum().backward(create_graph=True)
    np.testing.assert_array_equal(B.to_numpy(params.grad),
                                  np.concatenate([p.grad.numpy().reshape(-1) for p in model.parameters()]))


HASH_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {repo!r})
    import tinygrad_ngd as tg
    from tinygrad_ngd import layers as L

    class Net(L.Module):
        def __init__(self):
            super().__init__()
            # many string-named children and parameters: any set/hash-based ordering
            # would permute them between processes with different PYTHONHASHSEED
            for name in ["zeta", "encoder", "alpha", "mid", "b", "decoder", "q", "head"]:
                setattr(self, name, L.Dense(2, 2))
            self.gamma = L.Parameter(tg.Tensor([1.0, 2.0]).data)
            self.beta = L.Parameter(tg.Tensor([3.0]).data)

    params = tg.FlatParameters(Net())
    print(json.dumps([[b.name, b.slice.start, b.slice.stop, list(b.param_names)] for b in params.blocks]))
""")


def test_block_order_is_stable_across_processes_with_different_hash_seeds(tmp_path):
    script = tmp_path / "blocks.py"
    script.write_text(HASH_SCRIPT.format(repo=REPO))
    outputs = []
    for seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                             timeout=120, check=True)
        outputs.append(json.loads(res.stdout))
    assert outputs[0] == outputs[1] == outputs[2]
    names = [b[0] for b in outputs[0]]
    assert names == ["Net", "zeta", "encoder", "alpha", "mid", "b", "decoder", "q", "head"]  # definition order
    assert outputs[0][0][3] == ["gamma", "beta"]


def test_split_flatten_unflatten_round_trip_and_errors():
    params = FlatParameters(mlp())
    v = np.arange(params.numel, dtype=np.float32)
    pieces = params.split(v)
    assert [len(p) for p in pieces] == params.block_sizes
    assert all(np.shares_memory(p, v) for p in pieces)
    arrays = params.unflatten(v)
    assert [a.shape for a in arrays] == [p.shape for p in params.parameters]
    np.testing.assert_array_equal(B.to_numpy(params.flatten(arrays)), v)
    with pytest.raises(ValueError, match="flat vector of length 44"):
        params.split(v[:-1])
    with pytest.raises(ValueError, match="5 parameters"):
        params.flatten(arrays[:-1])
    with pytest.raises(ValueError, match=r"'0.bias' has shape \(3,\), expected \(4,\)"):
        params.flatten([arrays[0], np.zeros(3)] + arrays[2:])


def test_from_array_blocks_and_gradient():
    tg.set_default_dtype("float64")
    theta0 = np.array([1.0, -2.0, 3.0, 0.5, 4.0])
    params = FlatParameters.from_array(theta0, block_sizes=[3, 2], names=["u", "v"])
    assert [(b.name, b.size) for b in params.blocks] == [("u", 3), ("v", 2)]
    theta0[0] = 100.0  # copied, not aliased
    (theta,) = params.parameters
    assert theta.data[0] == 1.0 and np.shares_memory(theta.data, params.data)
    ((theta * theta).sum() * 0.5).backward()
    np.testing.assert_array_equal(B.to_numpy(params.grad), B.to_numpy(params.data))
    assert params.dtype == np.float64
    tg.set_default_dtype("float32")
    ints = FlatParameters.from_array([1, 2, 3])  # integers take the default dtype
    assert ints.dtype == np.float32 and [b.name for b in ints.blocks] == ["block0"]


@pytest.mark.parametrize("kwargs,match", [
    ({"theta0": np.zeros((2, 2))}, "must be 1-D"),
    ({"theta0": np.zeros(4), "block_sizes": [3, 2]}, "sum to len"),
    ({"theta0": np.zeros(4), "block_sizes": [4, 0]}, "positive"),
    ({"theta0": np.zeros(4), "block_sizes": [2.5, 1.5]}, "integers"),
    ({"theta0": np.zeros(4), "block_sizes": [2, 2], "names": ["a"]}, "1 names for 2 blocks"),
    ({"theta0": np.zeros(4), "block_sizes": [2, 2], "names": ["a", "a"]}, "unique"),
    ({"theta0": np.zeros(0)}, "empty"),
])
def test_from_array_errors(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        FlatParameters.from_array(**kwargs)


def test_model_errors_and_tensor_lists():
    with pytest.raises(ValueError, match="no parameters"):
        FlatParameters(L.Sequential(L.ReLU()))
    mixed = L.Sequential(L.Dense(2, 2), L.Dense(2, 2, dtype="float64"))
    with pytest.raises(ValueError, match="mixed dtypes"):
        FlatParameters(mixed)
    with pytest.raises(TypeError, match="Module or a list of Tensors"):
        FlatParameters(42)
    a = tg.Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    b = tg.Tensor(np.ones(3, np.float32), requires_grad=True)
    params = FlatParameters([("a", a), ("b", b)])
    assert [(blk.name, blk.size) for blk in params.blocks] == [("a", 4), ("b", 3)]
    ((a * a).sum() + b.sum()).backward()
    np.testing.assert_array_equal(B.to_numpy(params.grad), [2, 2, 2, 2, 1, 1, 1])
    with pytest.raises(ValueError, match="passed twice"):
        FlatParameters([a, a])


def test_parameter_blocks_hook_splits_a_module():
    class TwoLayerCell(L.Module):
        def __init__(self):
            super().__init__()
            self.w_l0 = L.Parameter(np.ones((2, 2), np.float32))
            self.b_l0 = L.Parameter(np.ones(2, np.float32))
            self.w_l1 = L.Parameter(np.ones((2, 2), np.float32))

        def parameter_blocks(self):
            return [("l0", ["w_l0", "b_l0"]), ("l1", ["w_l1"])]

    model = L.Sequential(TwoLayerCell(), L.Dense(2, 1))
    params = FlatParameters(model)
    assert [(b.name, b.param_names) for b in params.blocks] == [
        ("0.l0", ("0.w_l0", "0.b_l0")), ("0.l1", ("0.w_l1",)), ("1", ("1.weight", "1.bias"))]

    class Broken(TwoLayerCell):
        def parameter_blocks(self):
            return [("l0", ["w_l0"])]

    with pytest.raises(ValueError, match="exactly once"):
        FlatParameters(Broken())


@settings(max_examples=10, deadline=None)
@given(widths=st.lists(st.integers(1, 5), min_size=2, max_size=5), bias=st.booleans(),
       block_by=st.sampled_from(["layer", "tensor"]))
def test_flat_invariants_for_random_mlps(widths, bias, block_by):
    tg.set_default_dtype("float64")
    tg.manual_seed(0)
    layers = []
    for a, b in itertools.pairwise(widths):
        layers += [L.Dense(a, b, bias=bias), L.Tanh()]
    model = L.Sequential(*layers)
    params = FlatParameters(model, block_by=block_by)
    # blocks tile [0, d) in order, and the parameters inside them are the model's, in order
    assert params.blocks[0].slice.start == 0 and params.blocks[-1].slice.stop == params.numel
    for b0, b1 in itertools.pairwise(params.blocks):
        assert b0.slice.stop == b1.slice.start
    assert [n for b in params.blocks for n in b.param_names] == [n for n, _ in model.named_parameters()]
    assert all(np.shares_memory(p.data, params.data) for p in model.parameters())
    x = tg.Tensor(np.random.default_rng(len(widths)).standard_normal((3, widths[0])))
    (model(x) * model(x)).sum().backward()
    np.testing.assert_array_equal(B.to_numpy(params.grad), np.concatenate([p.grad.numpy().reshape(-1)
                                                                           for p in model.parameters()]))


def test_rebinding_data_or_grad_raises_instead_of_cutting_the_views():
    params = FlatParameters(mlp())
    with pytest.raises(AttributeError, match=r"write in place: params.data\[...\]"):
        params.data = np.zeros(params.numel, np.float32)
    with pytest.raises(AttributeError, match="grad cannot be rebound"):
        params.grad = np.zeros(params.numel, np.float32)


def test_the_flat_gradient_link_is_weak_and_no_field_on_every_tensor():
    """FlatParameters registers each parameter's slice of ``grad`` (tensor.attach_grad_buffer),
    weakly: an ordinary Tensor carries no slot for it, and the entry goes with its tensor."""
    import gc
    import weakref

    from tinygrad_ngd import tensor as T
    assert "_grad_buffer" not in tg.Tensor.__slots__
    assert grad_buffer(tg.Tensor(np.zeros(3), requires_grad=True)) is None
    model = mlp()
    params = FlatParameters(model)
    w = model[0].weight
    assert grad_buffer(w).shape == w.shape and np.shares_memory(grad_buffer(w), params.grad)
    registered = len(T._GRAD_BUFFERS)
    gone = weakref.ref(w)
    del model, params, w
    gc.collect()
    assert gone() is None and len(T._GRAD_BUFFERS) <= registered - 5
    with pytest.raises(ValueError, match="buffer shape"):
        T.attach_grad_buffer(tg.Tensor(np.zeros((2, 3)), requires_grad=True), np.zeros(6))


def test_augmented_assignment_updates_in_place():
    model = mlp()
    params = FlatParameters(model)
    w0 = model[0].weight.numpy().copy()
    params.data -= 1.0  # in place, then re-assigned to itself: allowed
    params.grad += 2.0
    np.testing.assert_array_equal(model[0].weight.numpy(), w0 - 1.0)
    np.testing.assert_array_equal(B.to_numpy(grad_buffer(model[0].weight)), 2.0)


def test_a_second_flat_parameters_cuts_the_first_off_and_a_step_through_it_raises():
    """Audit: after FlatParameters(model) twice, SGD on the first stepped its own vector
    while the model (now viewing the second) stayed unchanged, silently."""
    from tinygrad_ngd import optimizers as O
    tg.set_default_dtype("float64")
    model = L.Sequential(L.Dense(2, 2))
    first = FlatParameters(model)
    opt = O.SGD(first, lr=0.1)
    opt.step(grad=np.ones(first.numel))                       # still backs the model: fine
    second = FlatParameters(model)
    before = second.data.copy()
    with pytest.raises(RuntimeError, match=r"SGD.step: its FlatParameters no longer backs the model.*"
                                           r"\['0.weight', '0.bias'\]"):
        opt.step(grad=np.ones(first.numel))
    O.SGD(second, lr=0.1).step(grad=np.ones(second.numel))   # the newer one steps the model
    assert np.allclose(B.to_numpy(second.data), B.to_numpy(before) - 0.1)
