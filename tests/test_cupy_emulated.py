"""The ``cupy-emulated`` backend: as strict as CuPy, counted transfers, the CuPy branches of
backend.py run, only names real CuPy has (manifest checked against cupy-cuda12x 14.2.0),
and a bad ``TINYGRAD_NGD_BACKEND`` never breaks ``import tinygrad_ngd``."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd._cupy_emulated import cupy as ecp
from tinygrad_ngd._cupy_emulated import cupyx as ecx

REPO = pathlib.Path(__file__).resolve().parent.parent
CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def emulated():
    tg.set_backend("cupy-emulated")
    yield ecp
    tg.set_backend("numpy")


# ---------------------------------------------------------------- strict like CuPy
def test_device_array_refuses_implicit_conversion(emulated):
    a = B.asarray(np.arange(3.0))
    assert isinstance(a, ecp.ndarray) and not isinstance(a, np.ndarray)
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        a.__array__()
    # np.asarray from library code (simulated by a function compiled under a library file name)
    code = compile("import numpy as np\ndef conv(a):\n    return np.asarray(a)\n", "/lib/fake_module.py", "exec")
    ns = {}
    exec(code, ns)
    with pytest.raises(TypeError, match="Implicit conversion"):
        ns["conv"](a)


def test_device_array_refuses_arithmetic_with_numpy_arrays(emulated):
    a = B.asarray(np.ones(3))
    for op in (lambda: a + np.ones(3), lambda: np.ones(3) * a, lambda: a @ np.ones(3),
               lambda: ecp.exp(np.ones(3)), lambda: ecp.maximum(a, np.zeros(3))):
        with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
            op()
    a += 1.0                         # Python and NumPy scalars are fine, as on CuPy
    b = a * np.float64(2.0)
    np.testing.assert_array_equal(b.get(), np.full(3, 4.0))


def test_equality_with_a_non_array_is_cupys_not_pythons_identity_fallback(emulated):
    """CuPy's ``==``/``!=`` against None (or an object with object's own ``__eq__``) give an
    all-False/all-True array, and against a list a TypeError; never Python's scalar
    ``False`` from the identity fallback, which would let ``a == [..]`` pass here and fail
    on a GPU."""
    a = B.asarray(np.arange(3.0))
    for other in (None, object()):
        eq, ne = a == other, a != other
        assert isinstance(eq, ecp.ndarray) and eq.shape == (3,) and eq.dtype == np.bool_
        np.testing.assert_array_equal(eq.get(), [False] * 3)
        np.testing.assert_array_equal(ne.get(), [True] * 3)
    for other in ([0.0, 1.0, 2.0], (0.0, 1.0, 2.0)):
        with pytest.raises(TypeError):
            a == other                                            # noqa: B015
        with pytest.raises(TypeError):
            a != other                                            # noqa: B015
    np.testing.assert_array_equal((a == 1.0).get(), [False, True, False])


def test_test_code_is_as_strict_as_library_code(emulated):
    """No leniency for tests/: test code's implicit device -> host reads raise as library
    code's do (and as on CuPy), with nothing counted; explicit reads work and are counted;
    a NumPy operand in a device operation stays a TypeError."""
    a = B.asarray(np.arange(3.0))
    with B.count_transfers() as c:
        for read in (lambda: np.asarray(a), lambda: np.array(a), lambda: a.__array__(),
                     lambda: np.testing.assert_array_equal(a, np.arange(3.0)),
                     lambda: np.testing.assert_allclose(a, np.arange(3.0)),
                     lambda: np.array_equal(a, np.arange(3.0))):
            with pytest.raises(TypeError, match="Implicit conversion|Unsupported type"):
                read()
    assert c.device_to_host == 0 and c.host_to_device == 0
    with B.count_transfers() as c:
        np.testing.assert_array_equal(B.to_numpy(a), np.arange(3.0))
        np.testing.assert_array_equal(tg.Tensor(a).numpy(), np.arange(3.0))
    assert c.device_to_host == 2 and c.host_to_device == 0
    for op in (lambda: a + np.ones(3), lambda: np.ones(3) - a, lambda: np.allclose(a, np.ones(3))):
        with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
            op()


def test_reductions_return_zero_d_device_arrays_and_scalars_are_counted(emulated):
    a = B.asarray(np.arange(4.0))
    s = a.sum()
    assert isinstance(s, ecp.ndarray) and s.shape == ()
    assert isinstance(ecp.max(a), ecp.ndarray) and isinstance(ecp.dot(a, a), ecp.ndarray)
    with B.count_transfers() as c:
        x = float(s)
        n = int(a.argmax())
        ok = bool(s > 0)
        v = s.item()
        lst = a.tolist()
        h = a.get()
        h2 = ecp.asnumpy(a)
    assert (x, n, ok, v, lst) == (6.0, 3, True, 6.0, [0.0, 1.0, 2.0, 3.0])
    assert isinstance(h, np.ndarray) and isinstance(h2, np.ndarray)
    assert c.device_to_host == 7 and c.host_to_device == 0


def test_host_to_device_moves_are_counted(emulated):
    with B.count_transfers() as c:
        a = B.asarray(np.zeros(4))              # explicit move
        a[np.array([0, 2])] = 1.0               # a NumPy index is copied to the device (CuPy does)
        a[1:2] = np.ones(1)                     # so is a NumPy value
        idx = B.asarray(np.array([3]))          # explicit move
        a[idx] = 5.0                            # device index: no copy
    assert c.host_to_device == 4 and c.device_to_host == 0
    np.testing.assert_array_equal(B.to_numpy(a), [1.0, 1.0, 1.0, 5.0])


def test_no_index_protocol_and_no_hash(emulated):
    a = B.asarray(np.arange(3))
    with pytest.raises(TypeError):
        range(a[1])
    with pytest.raises(TypeError):
        hash(a)


def test_names_outside_the_manifest_do_not_exist():
    for name in ("errstate", "random", "testing", "float128", "seterr"):  # NumPy has them; the stand-in not
        assert hasattr(np, name) and not hasattr(ecp, name), name
    assert not hasattr(ecp.ndarray, "base_not_a_name") and not hasattr(ecp.ndarray, "ptp")


def test_manifest_matches_real_cupy():
    """Every name the stand-in offers exists in the installed real CuPy 14.2 (and nothing
    else is offered).  CI installs cupy-cuda12x==14.2.0: there a missing CuPy is an error."""
    try:
        import cupy  # noqa: F401
    except ImportError:
        if CI:
            raise RuntimeError("CI=true but cupy-cuda12x is not installed: the manifest check must run "
                               "(pip install cupy-cuda12x==14.2.0)") from None
        pytest.skip("cupy-cuda12x not installed; manifest check skipped outside CI")
    res = subprocess.run([sys.executable, str(REPO / "tools" / "check_cupy_manifest.py")], cwd=REPO,
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().splitlines()[-1].startswith("ok:")


def test_manifest_check_reports_a_name_real_cupy_lacks(tmp_path):
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import check_cupy_manifest as chk
    finally:
        sys.path.pop(0)

    class FakeCupy:
        exp = staticmethod(np.exp)

        class ndarray:
            sum = None

    problems = chk.check({"cupy": ["exp", "not_in_cupy"], "cupy.ndarray": ["sum", "ptp"]}, FakeCupy, object())
    assert problems == ["[cupy] not_in_cupy: not in real cupy", "[cupy.ndarray] ptp: not in real cupy.ndarray"]


# ---------------------------------------------------------------- the CuPy branches of backend.py
def test_backend_takes_the_cupy_branches(emulated):
    assert B.get_backend() == "cupy-emulated" and B.xp() is ecp and B._cupyx is ecx
    a = B.asarray(np.arange(3.0))
    assert B.array_module(a) is ecp
    with pytest.raises(TypeError, match="met in one operation"):
        B.array_module(a, np.ones(3))
    t = B.asarray(np.zeros(3))
    B.scatter_add(t, B.asarray(np.array([0, 0, 2])), B.asarray(np.ones(3)))   # cupyx.scatter_add
    np.testing.assert_array_equal(B.to_numpy(t), [2.0, 0.0, 1.0])
    w = B.sliding_window_view(B.asarray(np.arange(5.0)), (2,), axis=(0,))     # cupy.lib.stride_tricks
    assert isinstance(w, ecp.ndarray) and w.shape == (4, 2)
    with B.count_transfers() as c:
        assert B.item(a.sum()) == 3.0
    assert c.device_to_host == 1


def test_tensor_of_a_numpy_array_moves_to_the_device(emulated):
    """Tensor(numpy_array) on a device backend is placed on the device (it stayed on the host)."""
    with B.count_transfers() as c:
        t = tg.Tensor(np.ones((2, 3)))
        p = tg.FlatParameters.from_array(np.zeros(4))
    assert isinstance(t.data, ecp.ndarray) and isinstance(p.data, ecp.ndarray)
    assert c.host_to_device == 2


def test_conv_and_embedding_run_the_device_scatter_and_windows(emulated):
    """Conv2d (sliding windows; col2im scatter) and Embedding (scatter_add) agree with NumPy to 1e-12."""
    from tinygrad_ngd import layers as L

    rng = np.random.default_rng(0)
    xs = rng.standard_normal((2, 3, 6, 6))
    ids = np.array([[1, 1, 3], [0, 1, 1]])
    results = {}
    for backend in ("numpy", "cupy-emulated"):
        tg.set_backend(backend)
        tg.set_default_dtype("float64")
        tg.manual_seed(0)
        conv, emb = L.Conv2d(3, 4, 3, stride=1, padding=1), L.Embedding(5, 2)
        x = tg.Tensor(B.asarray(xs), requires_grad=True)
        y = (F.tanh(conv(x)) ** 2).sum() + (emb(tg.Tensor(B.asarray(ids))) ** 3).sum()
        y.backward()
        results[backend] = [B.to_numpy(v) for v in (y.data, x.grad.data, conv.weight.grad.data, emb.weight.grad.data)]
    for a, b in zip(results["numpy"], results["cupy-emulated"]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- TINYGRAD_NGD_BACKEND
def _import_with_env(value):
    env = dict(os.environ, TINYGRAD_NGD_BACKEND=value, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1")
    code = ("import warnings; warnings.simplefilter('always')\n"
            "import tinygrad_ngd as tg; print('backend', tg.get_backend())\n"
            "from tinygrad_ngd.cli import info_text; print(info_text())")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize("value", ["bogus", "NUMPY", "cupy"])
def test_bad_backend_env_warns_falls_back_to_numpy_and_info_says_why(value):
    try:
        import cupy
        cupy.cuda.runtime.getDeviceCount()
        if value == "cupy":
            pytest.skip("a GPU is present: cupy is a good value here")
    except Exception:  # noqa: BLE001 - no CuPy or no GPU: 'cupy' is a bad value
        pass
    res = _import_with_env(value)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == "backend numpy"
    assert "RuntimeWarning" in res.stderr and f"TINYGRAD_NGD_BACKEND={value!r} refused" in res.stderr
    problem = [line for line in res.stdout.splitlines() if "PROBLEM" in line]
    assert len(problem) == 1 and f"TINYGRAD_NGD_BACKEND={value!r} refused" in problem[0]
    if value == "NUMPY":
        assert "did you mean 'numpy'" in problem[0]
    if value == "cupy":
        assert "GPU" in problem[0] or "CuPy" in problem[0]


def test_good_backend_env_selects_cupy_emulated_quietly():
    res = _import_with_env("cupy-emulated")
    assert res.returncode == 0 and "Warning" not in res.stderr, res.stderr
    assert res.stdout.splitlines()[0] == "backend cupy-emulated"
    assert "PROBLEM" not in res.stdout
