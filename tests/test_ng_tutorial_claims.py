"""The claim tutorials/05_block_normalized_mlp.py prints, checked on its own network:
gradients vanish layer by layer through sigmoid MLPs ([Ravasi]'s Wᴺ; [Yu et al. 2017, §1]) and
block normalization ([Yu et al. 2017, Algorithm 1]) gives every layer the same step length."""

import importlib.util
import itertools
import pathlib

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import functional as F
from tinygrad_ngd import optimizers as O
from tinygrad_ngd.flat import FlatParameters

TUTORIAL = pathlib.Path(__file__).resolve().parent.parent / "tutorials" / "05_block_normalized_mlp.py"


@pytest.fixture(scope="module")
def t05():
    spec = importlib.util.spec_from_file_location("tutorial05", TUTORIAL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def batch(seed=0, n=100):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 784)).astype(np.float32)          # pixel-like inputs in [0, 1]
    return tg.Tensor(x), tg.Tensor(rng.integers(0, 10, n))


def test_gradients_vanish_towards_the_input_and_more_so_when_deeper(t05):
    x, y = batch()
    ratios = {}
    for depth in (3, 6, 12):
        norms = t05.layer_grad_norms(depth, 0, x, y)
        assert len(norms) == depth + 1                    # depth hidden layers + the output layer
        assert all(a < b for a, b in itertools.pairwise(norms[:-1])), norms   # grows towards the output
        ratios[depth] = norms[0] / norms[-1]
    assert ratios[3] < 1e-1 and ratios[6] < 1e-3 and ratios[12] < 1e-8
    assert ratios[12] < ratios[6] ** 1.5                    # roughly geometric in the depth


def test_block_normalization_gives_every_layer_the_same_step_length(t05):
    x, y = batch(1)
    model = t05.build_mlp(12, 0)
    params = FlatParameters(model)
    params.zero_grad()
    F.cross_entropy(model(x), y).backward()
    before = params.data.copy()
    O.BlockNormalized(O.SGD(params, lr=0.01)).step()
    steps = [np.linalg.norm((params.data[b.slice] - before[b.slice]).astype(np.float64))
             for b in params.blocks]
    np.testing.assert_allclose(steps, 0.01, rtol=1e-4)   # float32 parameters
    raw = [np.linalg.norm(params.grad[b.slice].astype(np.float64)) for b in params.blocks]
    assert raw[0] / raw[-1] < 1e-8                          # while the raw gradients differ by 1e8
