"""Meta-tests: each checker catches a planted wrong derivative (scaled by 1.001)."""

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import functional as F
from tinygrad_ngd.tensor import Function
from tinygrad_ngd.testing import GradcheckError, gradcheck, gradgradcheck, hvpcheck

WRONG = 1.001


class WrongFirst(Function):
    """x³ with a first derivative off by 0.1 %."""

    def forward(self, x):
        return x ** 3

    def backward(self, gy):
        x = self.inputs[0]
        return gy * (x * x * (3.0 * WRONG))


class ScaledTwiceWrongBackward(Function):
    """y = 2x whose backward is right (2·gy) but whose backward's backward is 1.001× off."""

    def forward(self, gy):
        return 2.0 * gy

    def backward(self, ggy):
        return ggy * (2.0 * WRONG)


class WrongSecond(Function):
    """x³ with a right first derivative built from an op whose own derivative is wrong."""

    def forward(self, x):
        return x ** 3

    def backward(self, gy):
        x = self.inputs[0]
        return ScaledTwiceWrongBackward()(gy * x * x * 1.5)


class WrongNormalizer(Function):
    """softmax whose Jacobian is 1.001× too large: invisible to an all-ones upstream
    gradient (softmax's Jacobian maps constants to 0), caught by a random one."""

    def forward(self, x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def backward(self, gy):
        y = self.outputs[0]()
        gyy = gy * y
        return (gyy - y * F.sum(gyy, -1, keepdims=True)) * WRONG


def x64(seed=0, shape=(3, 4)):
    return tg.Tensor(np.random.default_rng(seed).uniform(0.5, 1.5, shape), requires_grad=True)


def test_gradcheck_catches_wrong_first_derivative():
    with pytest.raises(GradcheckError):
        gradcheck(lambda x: WrongFirst()(x), [x64()])
    assert gradcheck(lambda x: x ** 3, [x64()])


def test_gradgradcheck_catches_wrong_second_derivative():
    assert gradcheck(lambda x: WrongSecond()(x), [x64()])  # first order is right
    with pytest.raises(GradcheckError):
        gradgradcheck(lambda x: WrongSecond()(x), [x64()])
    assert gradgradcheck(lambda x: x ** 3, [x64()])


def test_hvpcheck_catches_wrong_second_derivative():
    x = x64(shape=(5,))
    with pytest.raises(GradcheckError):
        hvpcheck(lambda z: WrongSecond()(z).sum(), tg.Tensor(x.data))
    assert hvpcheck(lambda z: (z ** 3).sum() * F.sigmoid(z).sum(), tg.Tensor(x.data))


def test_random_upstream_catches_errors_that_all_ones_hides():
    x = x64()
    y = WrongNormalizer()(x)
    (g_ones,) = tg.grad(y, [x], grad_outputs=tg.Tensor(np.ones(y.shape)), retain_graph=True)
    assert np.max(np.abs(g_ones.numpy())) < 1e-15  # all-ones: the error is invisible
    with pytest.raises(GradcheckError):
        gradcheck(lambda z: WrongNormalizer()(z), [x64()])


def test_checkers_refuse_float32():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda x: x * 2.0, [tg.Tensor(np.ones(2, dtype=np.float32), requires_grad=True)])
