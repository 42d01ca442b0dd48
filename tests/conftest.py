"""Shared test fixtures.

``torch`` comparisons must run in CI: with CI=true a missing torch is an error, never a
skip.  Locally (no CI) a missing torch skips those tests with a message saying so.

The backend of a run: ``TINYGRAD_NGD_TEST_BACKEND`` (``numpy``, the default, or
``cupy-emulated``; ``cupy`` on a GPU).  Every test starts on that backend.  On a device
backend only the modules that compute on arrays run (those not marked ``host_only`` in
:data:`HOST_ONLY_MODULES`: dataset parsers, CLI, docs, verify catalogs...), so CI runs the
suite twice without running pure-host tests twice.  The stand-in is as strict for test code
as for library code (and as real CuPy): an implicit device -> host read (``np.asarray(a)``,
``np.testing.assert_allclose(t.data, ...)``) and a NumPy array mixed into a device operation
raise TypeError, so a test reads device results explicitly (``B.to_numpy(a)``,
``t.numpy()``) and moves host operands with ``B.asarray`` first.
"""

import os

import numpy as np
import pytest
from hypothesis import settings

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B

TEST_BACKEND = os.environ.get("TINYGRAD_NGD_TEST_BACKEND", "numpy")
if TEST_BACKEND not in B.BACKENDS:
    raise RuntimeError(f"TINYGRAD_NGD_TEST_BACKEND={TEST_BACKEND!r}: expected one of {tuple(B.BACKENDS)}")
ON_DEVICE = TEST_BACKEND != "numpy"

# Modules of pure host work: run once, on the numpy pass only.
HOST_ONLY_MODULES = {
    "test_cli.py", "test_datasets_cifar.py", "test_datasets_idx.py", "test_datasets_mnist_subset.py",
    "test_datasets_synthetic.py", "test_datasets_text.py", "test_lecture_map.py", "test_verify.py",
    "test_tutorials.py", "test_citations.py", "test_tutorial_claims.py", "test_ng_tutorial_claims.py", "test_docs_snippets.py",
    "test_cupy_emulated.py", "test_cupy_emulated_runs.py", "test_transfer_budgets.py", "test_checkers.py",
}

# Single tests of pure host work or of backend switching itself (they assume NumPy at start).
HOST_ONLY_TESTS = {
    "test_tensor.py::test_unknown_backend_and_cupy_without_gpu",
    "test_tensor.py::test_env_variable_selects_backend",
    # chunking of optimizer updates is NumPy machinery (one chunk on a device)
    "test_optim_rules.py::test_chunked_update_is_bit_identical_to_one_chunk",
    "test_optim_rules.py::test_chunk_is_64_kib_of_float32_or_float64",
}

# Tests of the immediate refusal contract (a non-finite gradient raises inside step, naming
# the block, and changes nothing).  On a device backend checks are deferred to the next
# synchronization (tinygrad_ngd.backend.check, as CUDA's device-side asserts): there these
# run with backend.set_immediate_checks(True), the debugging mode that keeps that contract;
# the deferred contract itself is tested in test_transfer_budgets.py.
DEVICE_PASS_IMMEDIATE_CHECKS = {
    "test_optim_errors.py::test_nonfinite_gradient_names_step_and_block_and_changes_nothing",
    "test_ng_wrappers.py::test_non_finite_gradient_is_reported_with_its_block",
}

def pytest_collection_modifyitems(config, items):
    """On a device pass, deselect the host-only modules (they ran on the numpy pass)."""
    if not ON_DEVICE:
        return
    keep, drop = [], []
    for item in items:
        short = f"{item.path.name}::{item.originalname}"
        host_only = (item.path.name in HOST_ONLY_MODULES or short in HOST_ONLY_TESTS
                     or item.get_closest_marker("host_only"))
        (drop if host_only else keep).append(item)
        if short in DEVICE_PASS_IMMEDIATE_CHECKS:
            item.add_marker(pytest.mark.immediate_checks)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_configure(config):
    config.addinivalue_line("markers", "host_only: pure host work; not rerun on the device backend pass")
    config.addinivalue_line("markers", "immediate_checks: device checks sync at once in this test "
                            "(tinygrad_ngd.backend.set_immediate_checks)")


def pytest_report_header(config):
    return f"tinygrad_ngd test backend: {TEST_BACKEND} (TINYGRAD_NGD_TEST_BACKEND)"

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
def _reset_tinygrad_state(request):
    """Every test starts on the run's backend (numpy unless TINYGRAD_NGD_TEST_BACKEND says
    otherwise), float32 default, seed 0, deferred device checks (immediate where marked)
    and none pending; a test that leaves a failed device check unreported fails."""
    B.discard_checks()
    tg.set_backend(TEST_BACKEND)
    tg.set_default_dtype("float32")
    tg.manual_seed(0)
    B.set_immediate_checks(request.node.get_closest_marker("immediate_checks") is not None)
    yield
    B.set_immediate_checks(False)
    tg.set_default_dtype("float32")
    try:
        B.sync_checks()
    finally:
        B.discard_checks()


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
