"""Shared test fixtures.

``torch`` comparisons must run in CI: with CI=true a missing torch is an error, never a
skip.  Locally (no CI) a missing torch skips those tests with a message saying so.
"""

import os

import numpy as np
import pytest
from hypothesis import settings

import tinygrad_ngd as tg

# CI runs the same hypothesis examples every time (a failure there is reproducible and
# never depends on the draw); locally the examples stay random, to keep finding cases.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI", "").lower() == "true":
    settings.load_profile("ci")


def _import_torch():
    try:
        import torch
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            raise RuntimeError("CI=true but torch is not installed: the PyTorch comparisons must run "
                               "(pip install torch==2.13.0)") from None
        pytest.skip("torch not installed (pip install torch==2.13.0); comparison skipped outside CI")
    torch.set_default_dtype(torch.float64)
    return torch


@pytest.fixture
def torch():
    """The torch module (float64 default), or a skip outside CI / an error under CI=true."""
    return _import_torch()


@pytest.fixture(autouse=True)
def _reset_tinygrad_state():
    """Every test starts on NumPy, float32 default, seed 0."""
    tg.set_backend("numpy")
    tg.set_default_dtype("float32")
    tg.manual_seed(0)
    yield
    tg.set_default_dtype("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
