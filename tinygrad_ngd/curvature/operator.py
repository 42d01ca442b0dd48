"""Linear operators v ↦ A v on flat vectors: the common currency of the curvature tools.

Conjugate gradient, power iteration, Lanczos and Hutchinson's estimator never need the
matrix A itself (a Hessian, a Gauss-Newton matrix, a Fisher matrix), only its product
with a vector.  :class:`LinearOperator` wraps such a product with its size, so the same
routine runs on a dense test matrix, on ``hessian_operator(loss_fn, params)`` and on
``gauss_newton_operator(...)``.
"""

from __future__ import annotations

from .. import backend as B


class LinearOperator:
    """A symmetric n×n operator given by its product: ``op(v)`` or ``op.matvec(v)``.

    ``matvec``: callable taking a flat backend array of length ``n`` and returning A v;
    ``n``: the dimension; ``dtype``: the dtype of the vectors it acts on.
    ``op(v)`` accepts a host NumPy vector on a device backend too: it is copied to the
    device once, explicitly, before ``matvec`` sees it (as ``from_matrix`` moves a host
    matrix), and the product is a device array.
    ``LinearOperator.from_matrix(A)`` wraps a dense (n, n) backend array (tests, small
    problems).  The product is checked for the right length on every call, so a wrong
    vector is reported where it enters, not deep inside a solver.
    """

    def __init__(self, matvec, n: int, dtype=None, name: str = "operator"):
        if not callable(matvec):
            raise TypeError(f"LinearOperator: matvec must be callable, got {type(matvec).__name__}")
        if int(n) != n or n <= 0:
            raise ValueError(f"LinearOperator: n must be a positive integer, got {n!r}")
        self._matvec = matvec
        self.n = int(n)
        self.dtype = dtype if dtype is not None else B.get_default_dtype()
        self.name = name
        self.n_products = 0  # how many products were taken (cost accounting)

    @classmethod
    def from_matrix(cls, A, name: str = "matrix"):
        """The operator v ↦ A v of a dense square backend array A."""
        if not B.is_placed(A):  # a host matrix moves to the active backend
            A = B.asarray(A)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"LinearOperator.from_matrix: A must be square, got shape {A.shape}")
        return cls(lambda v: A @ v, A.shape[0], dtype=A.dtype, name=name)

    @property
    def shape(self):
        return (self.n, self.n)

    def matvec(self, v):
        v = as_flat_vector(v, self.n, f"{self.name}: v")
        self.n_products += 1
        return self._matvec(v)

    __call__ = matvec

    def __repr__(self):
        return f"LinearOperator({self.name}, n={self.n}, dtype={self.dtype})"


def check_flat_vector(v, n: int, what: str):
    """ValueError naming ``what`` unless v is a 1-D backend array of length n."""
    if not B.is_backend_array(v):
        raise TypeError(f"{what} must be a backend array (use tg.backend.asarray), "
                        f"got {type(v).__name__}")
    if v.shape != (n,):
        raise ValueError(f"{what} must be a flat vector of length {n} (the parameter count), "
                         f"got shape {v.shape}")
    return v


def as_flat_vector(v, n: int, what: str):
    """v checked as :func:`check_flat_vector` does, then placed on the active backend: a host
    NumPy vector on a device backend is copied there (one explicit host -> device copy)."""
    check_flat_vector(v, n, what)
    return v if B.is_placed(v) else B.asarray(v)


def as_operator(op, what: str = "operator") -> LinearOperator:
    """Accept a LinearOperator (kept) or raise a TypeError saying how to make one."""
    if isinstance(op, LinearOperator):
        return op
    raise TypeError(f"{what} must be a LinearOperator (e.g. hessian_operator(loss_fn, params) or "
                    f"LinearOperator(matvec, n)), got {type(op).__name__}")
