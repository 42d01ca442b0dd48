"""Initializers: draw on the host from ``B.host_rng()``, then move to the backend.

Drawing every random number on the host from one NumPy Generator (in float64, then cast
to ``dtype``) means one ``tg.manual_seed`` gives the same model on NumPy and on CuPy.
The distributions are PyTorch's ``torch.nn.init`` ones (same fan conventions, gains and
bounds), so a model initialized here is distributed like its PyTorch twin:

* Glorot/Xavier (Glorot & Bengio 2010): std = gain·√(2/(fan_in+fan_out)); the uniform
  version has bound √3·std.
* He/Kaiming (He et al. 2015): std = gain/√fan, gain = √(2/(1+a²)) for leaky_relu(a);
  the uniform version has bound √3·std.
* PyTorch's ``nn.Linear`` default: kaiming_uniform(a=√5) for the weight, which is
  U(−1/√fan_in, 1/√fan_in), and the same interval for the bias.
* orthogonal (Saxe et al. 2014): Q of a QR of a Gaussian matrix, signs fixed by diag(R).

Every function returns a new backend array of ``shape``; the ``*_`` variants write into
an existing Tensor in place (so a parameter that is a FlatParameters view stays one).
"""

from __future__ import annotations

import math

import numpy as np  # host-side initialization (allowed here: numbers are drawn on the host)

from .. import backend as B


def _dtype(dtype):
    return np.dtype(B.get_default_dtype() if dtype is None else dtype)


def _rng(rng):
    return B.host_rng() if rng is None else rng


def _to_backend(host_array, dtype):
    """Cast on the host (float64 draw -> dtype), then one explicit host -> device move."""
    return B.asarray(np.asarray(host_array, dtype=np.float64).astype(_dtype(dtype)))


def fan_in_and_fan_out(shape) -> tuple:
    """(fan_in, fan_out) as PyTorch: shape (out, in, *kernel) -> (in·k, out·k), k = ∏kernel."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"fan in/out need a shape with at least 2 dimensions, got {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param=None) -> float:
    """PyTorch's recommended gain for a nonlinearity (linear/sigmoid 1, tanh 5/3,
    relu √2, leaky_relu √(2/(1+a²)) with a = param (default 0.01), selu 3/4)."""
    linear = ("linear", "identity", "conv1d", "conv2d", "conv3d", "sigmoid",
              "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        a = 0.01 if param is None else param
        if isinstance(a, bool) or not isinstance(a, (int, float)):
            raise ValueError(f"calculate_gain: negative slope {a!r} is not a number")
        return math.sqrt(2.0 / (1 + a * a))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _fan(shape, mode):
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")


def _positive(fan, what):
    if fan <= 0:
        raise ValueError(f"{what}: fan is 0 (a zero-sized dimension); cannot initialize")
    return fan


# ---------------------------------------------------------------- distributions
def uniform(shape, low=0.0, high=1.0, dtype=None, rng=None):
    """U(low, high) entries."""
    if not high >= low:
        raise ValueError(f"uniform: need low <= high, got {low}, {high}")
    return _to_backend(_rng(rng).uniform(low, high, size=tuple(shape)), dtype)


def normal(shape, mean=0.0, std=1.0, dtype=None, rng=None):
    """N(mean, std²) entries."""
    if not std >= 0:
        raise ValueError(f"normal: std must be >= 0, got {std}")
    return _to_backend(_rng(rng).normal(mean, std, size=tuple(shape)), dtype)


def zeros(shape, dtype=None):
    return B.xp().zeros(tuple(shape), dtype=_dtype(dtype))


def ones(shape, dtype=None):
    return B.xp().ones(tuple(shape), dtype=_dtype(dtype))


def xavier_uniform(shape, gain=1.0, dtype=None, rng=None):
    """Glorot uniform: U(−b, b), b = gain·√(6/(fan_in+fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(shape)
    bound = gain * math.sqrt(6.0 / _positive(fan_in + fan_out, "xavier_uniform"))
    return uniform(shape, -bound, bound, dtype, rng)


def xavier_normal(shape, gain=1.0, dtype=None, rng=None):
    """Glorot normal: N(0, σ²), σ = gain·√(2/(fan_in+fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(shape)
    std = gain * math.sqrt(2.0 / _positive(fan_in + fan_out, "xavier_normal"))
    return normal(shape, 0.0, std, dtype, rng)


def kaiming_uniform(shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu", dtype=None, rng=None):
    """He uniform: U(−b, b), b = gain·√(3/fan), gain = calculate_gain(nonlinearity, a)."""
    fan = _positive(_fan(shape, mode), "kaiming_uniform")
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform(shape, -bound, bound, dtype, rng)


def kaiming_normal(shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu", dtype=None, rng=None):
    """He normal: N(0, σ²), σ = gain/√fan."""
    fan = _positive(_fan(shape, mode), "kaiming_normal")
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal(shape, 0.0, std, dtype, rng)


def linear_default_weight(shape, dtype=None, rng=None):
    """PyTorch's nn.Linear/Conv weight default: kaiming_uniform(a=√5) = U(−1/√fan_in, 1/√fan_in)."""
    return kaiming_uniform(shape, a=math.sqrt(5.0), dtype=dtype, rng=rng)


def linear_default_bias(shape, fan_in, dtype=None, rng=None):
    """PyTorch's nn.Linear/Conv bias default: U(−1/√fan_in, 1/√fan_in) (0 when fan_in = 0)."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform(shape, -bound, bound, dtype, rng)


def orthogonal(shape, gain=1.0, dtype=None, rng=None):
    """A (semi-)orthogonal matrix (shape[0] × ∏shape[1:]) times gain, PyTorch's recipe:
    QR of a Gaussian matrix (transposed when it is wide), Q's columns signed by diag(R)
    so the result is Haar-distributed."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"orthogonal: shape needs at least 2 dimensions, got {shape}")
    rows = shape[0]
    cols = math.prod(shape[1:])
    if rows == 0 or cols == 0:
        return zeros(shape, dtype)
    a = _rng(rng).standard_normal((rows, cols))
    if rows < cols:
        a = a.T
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))  # fixes the sign ambiguity of QR
    if rows < cols:
        q = q.T
    return _to_backend(gain * q.reshape(shape), dtype)


# aliases under the other common names
glorot_uniform = xavier_uniform
glorot_normal = xavier_normal
he_uniform = kaiming_uniform
he_normal = kaiming_normal


# ---------------------------------------------------------------- in-place versions
def _fill_(tensor, make):
    """Write a freshly drawn array into ``tensor.data`` in place (keeps FlatParameters views)."""
    tensor.data[...] = make(tensor.shape, tensor.dtype)
    return tensor


def uniform_(tensor, low=0.0, high=1.0, rng=None):
    return _fill_(tensor, lambda s, d: uniform(s, low, high, d, rng))


def normal_(tensor, mean=0.0, std=1.0, rng=None):
    return _fill_(tensor, lambda s, d: normal(s, mean, std, d, rng))


def zeros_(tensor):
    tensor.data[...] = 0
    return tensor


def xavier_uniform_(tensor, gain=1.0, rng=None):
    return _fill_(tensor, lambda s, d: xavier_uniform(s, gain, d, rng))


def xavier_normal_(tensor, gain=1.0, rng=None):
    return _fill_(tensor, lambda s, d: xavier_normal(s, gain, d, rng))


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    return _fill_(tensor, lambda s, d: kaiming_uniform(s, a, mode, nonlinearity, d, rng))


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    return _fill_(tensor, lambda s, d: kaiming_normal(s, a, mode, nonlinearity, d, rng))


def orthogonal_(tensor, gain=1.0, rng=None):
    return _fill_(tensor, lambda s, d: orthogonal(s, gain, d, rng))
