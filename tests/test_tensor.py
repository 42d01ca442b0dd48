"""The graph: accumulation, aliasing, double backward, grad(), errors, dtypes."""

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import functional as F
from tinygrad_ngd.tensor import Function


def t64(a, requires_grad=True):
    return tg.Tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def test_shared_subexpressions_match_torch(torch):
    """x used three times through different paths, plus a reused intermediate."""
    rng = np.random.default_rng(0)
    xv, wv = rng.standard_normal((3, 4)), rng.standard_normal((4, 4))

    def f(lib, x, w):
        h = lib.tanh(x @ w)            # path 1: through w
        z = h * x + lib.exp(x) * 0.3   # paths 2 and 3
        return (z * h).sum() + (x * x).sum()

    x, w = t64(xv), t64(wv)
    f(F, x, w).backward()
    tx = torch.tensor(xv, requires_grad=True)
    tw = torch.tensor(wv, requires_grad=True)
    f(torch, tx, tw).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-13, atol=1e-14)


def test_hvp_of_sum_sigmoid_matches_analytic_hessian():
    """f(x) = Σ σ(Ax): H = Aᵀ diag(σ''(Ax)) A with σ'' = σ(1−σ)(1−2σ)."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((7, 5))
    xv, v = rng.standard_normal(5), rng.standard_normal(5)
    x = t64(xv)
    (g,) = tg.grad(F.sigmoid(tg.Tensor(A) @ x).sum(), [x], create_graph=True)
    (hv,) = tg.grad((g * tg.Tensor(v)).sum(), [x])
    s = 1 / (1 + np.exp(-(A @ xv)))
    H = A.T @ np.diag(s * (1 - s) * (1 - 2 * s)) @ A
    np.testing.assert_allclose(hv.numpy(), H @ v, rtol=1e-10, atol=1e-12)


def test_gradients_accumulate_across_backward_calls():
    x = t64([1.0, 2.0])
    (x * x).sum().backward()
    first = x.grad
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])
    np.testing.assert_array_equal(first.numpy(), [2.0, 4.0])  # the old .grad was not written into


def test_leaf_grads_never_alias():
    a, b = t64(np.ones((2, 3))), t64(np.ones(6))
    c = t64(np.ones((2, 3)))
    y = F.reshape(a, (6,)) + b + F.reshape(c, (6,))  # one upstream gradient reaches all three
    seed = tg.Tensor(np.arange(6.0))
    y.backward(seed)
    grads = [a.grad.data, b.grad.data, c.grad.data, seed.data]
    for i in range(len(grads)):
        for j in range(i + 1, len(grads)):
            assert not np.shares_memory(grads[i], grads[j]), (i, j)
    a.grad.data[...] = 99.0
    np.testing.assert_array_equal(b.grad.numpy(), np.arange(6.0))


def test_grad_returns_independent_tensors_and_leaves_dot_grad_alone():
    x = t64([1.0, 2.0, 3.0])
    y = t64([4.0, 5.0, 6.0])
    gx, gy = tg.grad((x + y).sum(), [x, y])
    assert not np.shares_memory(gx.data, gy.data)
    assert x.grad is None and y.grad is None


def test_grad_of_intermediate_and_unused_inputs():
    x = t64([1.0, 2.0])
    h = x * x
    z = t64([0.5, 0.5])
    out = (h * 3.0).sum()
    (gh,) = tg.grad(out, [h], retain_graph=True)
    np.testing.assert_array_equal(gh.numpy(), [3.0, 3.0])
    with pytest.raises(RuntimeError, match="input 1 .* not part of the graph"):
        tg.grad(out, [x, z], retain_graph=True)
    gx, gz = tg.grad(out, [x, z], allow_unused=True)
    assert gz is None
    np.testing.assert_array_equal(gx.numpy(), [6.0, 12.0])


def test_third_derivative_by_repeated_grad():
    x = t64([0.7])
    y = F.exp(x * 2.0).sum()
    (g1,) = tg.grad(y, [x], create_graph=True)
    (g2,) = tg.grad(g1.sum(), [x], create_graph=True)
    (g3,) = tg.grad(g2.sum(), [x])
    np.testing.assert_allclose(g3.numpy(), 8 * np.exp(1.4), rtol=1e-14)


def test_backward_with_create_graph_gives_differentiable_grad():
    x = t64([1.5, -0.5])
    (x * x * x).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (h,) = tg.grad(x.grad.sum(), [x])
    np.testing.assert_allclose(h.numpy(), 6 * np.array([1.5, -0.5]))


def test_retain_grad_on_intermediate():
    x = t64([1.0, 2.0])
    h = x * 2.0
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), [4.0, 8.0])


def test_no_grad_records_nothing():
    x = t64([1.0])
    with tg.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.creator is None
    assert tg.is_grad_enabled()


# ---------------------------------------------------------------- dtypes
def test_python_scalars_are_weak():
    x = tg.Tensor(np.ones(3, dtype=np.float32))
    for y in (x * 0.5, 0.5 * x, x + 1, 2.0 - x, x / 3.0, 1.0 / (x + 1.0), x ** 2, x ** 0.5,
              x * np.float64(0.5), F.maximum(x, 0.0)):
        assert y.dtype == np.float32, y.dtype


def test_default_dtype_switch():
    assert tg.Tensor([1.0, 2.0]).dtype == np.float32
    tg.set_default_dtype("float64")
    assert tg.Tensor([1.0, 2.0]).dtype == np.float64
    assert tg.Tensor(np.ones(2, dtype=np.float32)).dtype == np.float32  # arrays keep theirs
    assert tg.Tensor([1, 2]).dtype.kind == "i"
    with pytest.raises(ValueError, match="unknown default dtype 'float16'"):
        tg.set_default_dtype("float16")


def test_float32_graph_stays_float32():
    x = tg.Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    w = tg.Tensor(np.ones((3, 4), dtype=np.float32), requires_grad=True)
    loss = F.cross_entropy(F.sigmoid(x @ w) * 0.5, np.array([0, 3]))
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32 and w.grad.dtype == np.float32


# ---------------------------------------------------------------- errors
def test_shape_errors_name_the_shapes():
    a, b = t64(np.ones((2, 3))), t64(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned"):
        a @ b
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4, 5\) cannot be broadcast"):
        a + b
    with pytest.raises(ValueError, match=r"matmul: batch dimensions"):
        t64(np.ones((2, 3, 4))) @ t64(np.ones((5, 4, 2)))


def test_backward_of_nonscalar_needs_grad():
    x = t64(np.ones(3))
    with pytest.raises(RuntimeError, match=r"only for a scalar output.*shape \(3,\)"):
        (x * 2.0).backward()
    with pytest.raises(ValueError, match=r"upstream gradient has shape \(2,\), expected \(3,\)"):
        (x * 2.0).backward(tg.Tensor(np.ones(2)))


def test_second_backward_through_freed_graph_raises():
    x = t64([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    z = (x * x).sum()
    z.backward(retain_graph=True)
    z.backward()  # retained: allowed, accumulates
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 12.0])


def test_unknown_backend_and_cupy_without_gpu():
    with pytest.raises(ValueError, match="unknown backend 'jax'"):
        tg.set_backend("jax")
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="CuPy is not installed"):
            tg.set_backend("cupy")
    assert tg.get_backend() == "numpy"


def test_env_variable_selects_backend(tmp_path):
    import subprocess
    import sys
    code = "import tinygrad_ngd as tg; print(tg.get_backend())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__('os').environ, "TINYGRAD_NGD_BACKEND": "numpy"})
    assert out.stdout.strip() == "numpy"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__('os').environ, "TINYGRAD_NGD_BACKEND": "bogus"})
    # a bad name never breaks the import: a warning, and NumPy (tests/test_cupy_emulated.py has more)
    assert out.returncode == 0 and out.stdout.strip() == "numpy" and "unknown backend 'bogus'" in out.stderr


def test_requires_grad_needs_float():
    with pytest.raises(TypeError, match="floating dtype"):
        tg.Tensor(np.array([1, 2]), requires_grad=True)


class _ArrayLevelSquare(Function):
    """A primitive whose backward works on raw arrays: no second derivative."""

    differentiable_backward = False

    def forward(self, x):
        return x * x

    def backward(self, gy):
        return tg.Tensor(gy.data * 2 * self.inputs[0].data)


def test_array_level_backward_refuses_create_graph():
    x = t64([1.0, 2.0])
    y = _ArrayLevelSquare()(x).sum()
    (g,) = tg.grad(y, [x], retain_graph=True)  # first order is fine
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="no differentiable backward"):
        tg.grad(y, [x], create_graph=True)


def test_manual_seed_validates():
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        tg.manual_seed(-1)
