"""Embedding: PyTorch's nn.Embedding (gather forward, scatter-add backward).

Against PyTorch in float64 (repeated ids accumulate, padding_idx gets no gradient,
ids of any shape) to 1e-10 relative; gradcheck and gradgradcheck; N(0, 1) init; errors.
"""

import numpy as np
import pytest
from layer_checks import TOL, rel_err

import tinygrad_ngd as tg
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd.testing import gradcheck, gradgradcheck


@pytest.mark.parametrize("ids_shape,padding_idx", [((7,), None), ((3, 4), None), ((2, 3, 5), 2), ((6,), -1)])
def test_embedding_matches_torch(torch, rng, ids_shape, padding_idx):
    tg.set_default_dtype("float64")
    V, D = 6, 4
    tl = torch.nn.Embedding(V, D, padding_idx=padding_idx)
    layer = L.Embedding(V, D, padding_idx=padding_idx)
    layer.load_state_dict({k: v.detach().numpy().copy() for k, v in tl.state_dict().items()})
    ids = rng.integers(0, V, ids_shape)  # small V: repeated ids are certain
    y = layer(ids)
    yt = tl(torch.tensor(ids))
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    yt.backward(torch.tensor(gy))
    assert rel_err(y.numpy(), yt.detach().numpy()) <= TOL
    assert rel_err(layer.weight.grad.numpy(), tl.weight.grad.numpy()) <= TOL
    if padding_idx is not None:
        assert np.all(layer.weight.grad.numpy()[padding_idx] == 0)


def test_embedding_accepts_tensor_ids_and_keeps_dtype(rng):
    layer = L.Embedding(5, 3)
    y = layer(tg.Tensor(np.array([[0, 4], [4, 1]])))
    assert y.shape == (2, 2, 3) and y.dtype == np.float32
    assert np.array_equal(y.numpy()[0, 1], layer.weight.numpy()[4])


def test_embedding_gradcheck_and_gradgradcheck(rng):
    ids = rng.integers(0, 4, (3, 5))
    w = tg.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    assert gradcheck(lambda w: F.embedding(ids, w), [w])
    assert gradgradcheck(lambda w: F.embedding(ids, w) ** 2, [w])
    assert gradgradcheck(lambda w: F.embedding(ids, w, padding_idx=1) ** 2, [w])


def test_embedding_init_is_standard_normal_and_padding_row_zero():
    layer = L.Embedding(400, 50, padding_idx=3)
    w = layer.weight.numpy()
    assert np.all(w[3] == 0)
    rest = np.delete(w, 3, axis=0)
    assert abs(rest.mean()) < 0.02 and abs(rest.std() - 1) < 0.02
    assert list(layer.state_dict()) == ["weight"]


def test_embedding_errors():
    layer = L.Embedding(5, 3)
    with pytest.raises(ValueError, match=r"Embedding.*ids must lie in \[0, 5\).*\[0, 5\]"):
        layer(np.array([0, 5]))
    with pytest.raises(ValueError, match=r"Embedding.*\[-1, 2\]"):
        layer(np.array([-1, 2]))
    with pytest.raises(TypeError, match=r"Embedding.*integers.*float"):
        layer(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="embedding_dim"):
        L.Embedding(5, 0)
    with pytest.raises(ValueError, match="padding_idx"):
        L.Embedding(5, 3, padding_idx=5)
