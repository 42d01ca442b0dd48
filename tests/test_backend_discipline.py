"""The CuPy path is kept right by construction: only an allow-list of modules may import
numpy; everything else reaches arrays through tinygrad_ngd.backend."""

import ast
import pathlib

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B

PKG = pathlib.Path(tg.__file__).parent

# Modules that legitimately compute on the host: the backend itself, host-side
# initialization and seeding, the datasets (host NumPy by design), verification tools,
# the derivative checkers and plotting.
ALLOWED = {"backend.py", "testing.py", "layers/init.py", "plotting.py", "cli.py"}
ALLOWED_DIRS = {"datasets", "verify", "_cupy_emulated"}


def _imports_numpy(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "numpy" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "numpy":
            return True
    return False


def test_numpy_imported_only_on_the_allow_list():
    offenders = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).as_posix()
        if rel in ALLOWED or rel.split("/")[0] in ALLOWED_DIRS:
            continue
        if _imports_numpy(path):
            offenders.append(rel)
    assert not offenders, f"modules importing numpy outside the allow-list: {offenders}"


def test_no_implicit_device_to_host_calls_outside_backend():
    """asnumpy/.get() move device arrays to the host; only backend.to_numpy may do that."""
    offenders = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).as_posix()
        if rel == "backend.py" or rel.startswith("_cupy_emulated/"):  # the stand-in implements asnumpy
            continue
        text = path.read_text()
        if "asnumpy(" in text or "cupy.asnumpy" in text:
            offenders.append(rel)
    assert not offenders, offenders


def test_array_module_refuses_mixed_arrays_with_a_fake_device_array(monkeypatch):
    """Without a GPU we stand in a fake CuPy: mixing its arrays with NumPy's must raise."""

    class FakeDeviceArray(np.ndarray):
        pass

    class FakeCupy:
        ndarray = FakeDeviceArray

    monkeypatch.setattr(B, "_cupy", FakeCupy)
    host = np.ones(3)
    device = np.ones(3).view(FakeDeviceArray)
    assert B.array_module(host) is np
    with pytest.raises(TypeError, match="NumPy \\(host\\) array and a CuPy \\(device\\) array"):
        B.array_module(host, device)


def test_initialization_randomness_comes_from_the_host_generator():
    tg.manual_seed(7)
    a = B.host_rng().standard_normal(4)
    tg.manual_seed(7)
    b = B.host_rng().standard_normal(4)
    np.testing.assert_array_equal(a, b)
    state = B.get_rng_state()
    c = B.host_rng().standard_normal(3)
    B.set_rng_state(state)
    np.testing.assert_array_equal(B.host_rng().standard_normal(3), c)
