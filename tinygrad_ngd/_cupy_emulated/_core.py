"""The device array of the stand-in and its host/device rules (NumPy computes underneath).

``ndarray`` holds a private NumPy array and behaves as CuPy's ``cupy.ndarray`` does where
code running on a GPU would notice a difference:

* no implicit conversion to the host: ``np.asarray(a)`` / ``a.__array__()`` raise
  ``TypeError`` (CuPy's message) for every caller, library and test code alike (a test
  reads a result with ``backend.to_numpy`` / ``Tensor.numpy()``, as it would on a GPU),
  and so does arithmetic with a NumPy array
  (``a + np.ones(3)``); Python and NumPy *scalars* are accepted, as CuPy accepts them;
* reductions return 0-d device arrays, never NumPy scalars;
* ``float(a)``, ``int(a)``, ``bool(a)``, ``a.item()``, ``a.tolist()``, ``a.get()``,
  ``repr(a)`` and ``cupy.asnumpy(a)`` are device -> host copies, counted in
  :data:`TRANSFERS`; ``cupy.asarray(host)``, ``a.set(host)`` and NumPy arrays used as
  indices or assigned values are host -> device copies, counted too;
* no ``__index__`` (``range(a)`` fails as on CuPy), no ``__hash__``.

Only the names listed in ``manifest.txt`` exist; each of them exists in real CuPy.
"""

from __future__ import annotations

import numpy as np

_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
             "Please use `.get()` to construct a NumPy array explicitly.")


class TransferCounter:
    """Running totals of host <-> device copies (read through tinygrad_ngd.backend)."""

    def __init__(self):
        self.device_to_host = 0
        self.host_to_device = 0


TRANSFERS = TransferCounter()

def _d2h():
    TRANSFERS.device_to_host += 1


def _h2d():
    TRANSFERS.host_to_device += 1


def _unsupported(x):
    return TypeError(f"Unsupported type {type(x)}")


def unwrap(x):
    """Arguments to NumPy: device arrays -> their NumPy array; NumPy arrays refused."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray):
        return _host_operand(x)
    if isinstance(x, (list, tuple)):
        return type(x)(unwrap(v) for v in x)
    return x


def wrap(y):
    """Results from NumPy: arrays and NumPy scalars -> device arrays (0-d for scalars)."""
    if isinstance(y, np.ndarray):
        return ndarray._from(y)
    if isinstance(y, np.generic):
        return ndarray._from(np.asarray(y))
    if isinstance(y, tuple):
        items = [wrap(v) for v in y]
        return type(y)(*items) if hasattr(y, "_fields") else tuple(items)
    if isinstance(y, list):
        return [wrap(v) for v in y]
    return y


def _index(key):
    """An index: device arrays unwrapped; NumPy/list arrays are host -> device copies (CuPy
    accepts them and copies them to the device first)."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, ndarray):
        return key._a
    if isinstance(key, (np.ndarray, list)):
        _h2d()
        return np.asarray(key)
    return key


def _operand(x):
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, (bool, int, float, complex, np.generic)):
        return x
    if isinstance(x, np.ndarray):
        return _host_operand(x)
    raise _unsupported(x)


def _host_operand(x):
    """A NumPy array met a device array: TypeError as on CuPy, for every caller (test code
    included: it moves its host operands with ``asarray`` first)."""
    raise _unsupported(x)


def _binary(op):
    def f(self, other):
        if not _is_operand(other):
            return NotImplemented  # Python then tries other's reflected method
        return wrap(op(self._a, _operand(other)))
    return f


def _rbinary(op):
    def f(self, other):
        if not _is_operand(other):
            return NotImplemented
        return wrap(op(_operand(other), self._a))
    return f


def _equality(op, fill):
    """``==`` / ``!=`` as CuPy's ndarray has them: against None or an object that keeps
    object's own ``__eq__`` (so never equals an element), an array filled with ``fill``;
    against anything else that is no operand (a list, a tuple), a TypeError — not Python's
    identity fallback, whose scalar ``False`` real CuPy never returns."""
    def f(self, other):
        if _is_operand(other):
            return wrap(op(self._a, _operand(other)))
        if other is None or type(other).__eq__ is object.__eq__:
            return wrap(np.full(self._a.shape, fill))
        raise TypeError(f"operand type(s) all returned NotImplemented from __array_ufunc__: "
                        f"{type(other).__name__} is not a device array or a scalar")
    return f


def _is_operand(x):
    # NumPy arrays are operands that CuPy refuses (TypeError), never NotImplemented
    return isinstance(x, (ndarray, np.ndarray, bool, int, float, complex, np.generic))


def _inplace(op):
    def f(self, other):
        op(self._a, _operand(other), out=self._a)
        return self
    return f


class ndarray:  # noqa: N801 - CuPy's name
    """A device array of the stand-in (see the module docstring)."""

    __slots__ = ("_a",)
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, shape, dtype=float):
        self._a = np.empty(shape, dtype=dtype)

    @classmethod
    def _from(cls, a):
        obj = object.__new__(cls)
        obj._a = a
        return obj

    # -- host/device rules
    def __array__(self, *args, **kwargs):
        raise TypeError(_IMPLICIT)  # for every caller, library and tests alike (as on CuPy)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from . import cupy as _cp  # noqa: PLC0415

        if method != "__call__" or not hasattr(_cp, ufunc.__name__):
            return NotImplemented
        return getattr(_cp, ufunc.__name__)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from . import cupy as _cp  # noqa: PLC0415

        space = _cp.linalg if func.__module__.endswith("linalg") else _cp
        if not hasattr(space, func.__name__):
            return NotImplemented
        return getattr(space, func.__name__)(*args, **kwargs)

    def get(self, stream=None, order="C", out=None):
        _d2h()
        return self._a.copy(order=order)

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(arr)}")
        if arr.shape != self._a.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self._a.shape}, new shape: {arr.shape}")
        _h2d()
        self._a[...] = arr

    def item(self, *args):
        _d2h()
        return self._a.item(*args)

    def tolist(self):
        _d2h()
        return self._a.tolist()

    def __float__(self):
        _d2h()
        return float(self._a)

    def __int__(self):
        _d2h()
        return int(self._a)

    def __complex__(self):
        _d2h()
        return complex(self._a)

    def __bool__(self):
        _d2h()
        return bool(self._a)

    def __repr__(self):
        _d2h()
        return repr(self._a)

    def __str__(self):
        _d2h()
        return str(self._a)

    def __format__(self, spec):
        if self._a.ndim == 0:
            _d2h()
            return format(self._a.item(), spec)
        return object.__format__(self, spec)

    # -- attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray._from(self._a.T))
    real = property(lambda self: ndarray._from(self._a.real))
    imag = property(lambda self: ndarray._from(self._a.imag))
    base = property(lambda self: None if self._a.base is None else ndarray._from(self._a.base))

    @shape.setter
    def shape(self, value):
        self._a.shape = value

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (wrap(self._a[i]) for i in range(len(self._a)))

    def __getitem__(self, key):
        return wrap(self._a[_index(key)])

    def __setitem__(self, key, value):
        if isinstance(value, (np.ndarray, list, tuple)):
            _h2d()  # CuPy copies a NumPy (or list) value to the device first
            value = np.asarray(unwrap(value) if not isinstance(value, np.ndarray) else value)
        elif isinstance(value, ndarray):
            value = value._a
        elif not isinstance(value, (bool, int, float, complex, np.generic)):
            raise _unsupported(value)
        self._a[_index(key)] = value

    def take(self, indices, axis=None, out=None):
        """CuPy copies NumPy/list indices to the device first (counted)."""
        return wrap(self._a.take(_index(indices), axis=axis, out=None if out is None else out._a))

    def __copy__(self):
        return ndarray._from(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray._from(self._a.copy())

    def __reduce__(self):
        raise TypeError("the stand-in's device arrays are not pickled; use .get()")

    # -- arithmetic: device arrays, Python and NumPy scalars only
    __add__, __radd__, __iadd__ = _binary(np.add), _rbinary(np.add), _inplace(np.add)
    __sub__, __rsub__, __isub__ = _binary(np.subtract), _rbinary(np.subtract), _inplace(np.subtract)
    __mul__, __rmul__, __imul__ = _binary(np.multiply), _rbinary(np.multiply), _inplace(np.multiply)
    __truediv__, __rtruediv__ = _binary(np.true_divide), _rbinary(np.true_divide)
    __itruediv__ = _inplace(np.true_divide)
    __floordiv__, __rfloordiv__ = _binary(np.floor_divide), _rbinary(np.floor_divide)
    __ifloordiv__ = _inplace(np.floor_divide)
    __mod__, __rmod__, __imod__ = _binary(np.remainder), _rbinary(np.remainder), _inplace(np.remainder)
    __pow__, __rpow__, __ipow__ = _binary(np.power), _rbinary(np.power), _inplace(np.power)
    __matmul__, __rmatmul__ = _binary(np.matmul), _rbinary(np.matmul)
    __and__, __rand__, __iand__ = _binary(np.bitwise_and), _rbinary(np.bitwise_and), _inplace(np.bitwise_and)
    __or__, __ror__, __ior__ = _binary(np.bitwise_or), _rbinary(np.bitwise_or), _inplace(np.bitwise_or)
    __xor__, __rxor__, __ixor__ = _binary(np.bitwise_xor), _rbinary(np.bitwise_xor), _inplace(np.bitwise_xor)
    __lt__, __le__ = _binary(np.less), _binary(np.less_equal)
    __gt__, __ge__ = _binary(np.greater), _binary(np.greater_equal)
    __eq__, __ne__ = _equality(np.equal, False), _equality(np.not_equal, True)

    def __neg__(self):
        return wrap(-self._a)

    def __pos__(self):
        return wrap(+self._a)

    def __abs__(self):
        return wrap(abs(self._a))

    def __invert__(self):
        return wrap(~self._a)


def _method(name):
    def f(self, *args, **kwargs):
        return wrap(getattr(self._a, name)(*unwrap(args), **{k: unwrap(v) for k, v in kwargs.items()}))
    f.__name__ = name
    return f


def install_methods(names) -> None:
    """Give ``ndarray`` the manifest's methods that it does not define by hand."""
    for name in names:
        if not hasattr(ndarray, name):
            setattr(ndarray, name, _method(name))
