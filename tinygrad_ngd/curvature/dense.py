"""The dense Hessian and its diagonal, for small models and for checking the products.

``hessian`` builds H column by column, H e_j, from one gradient graph (one forward, one
create_graph backward, then n backward passes).  It is the ground truth the tests hold
HVPs, eigenvalue routines and trace estimates against, and what :class:`Newton` solves
with.  Because it costs n products and n² numbers, it refuses above ``max_params``
parameters unless ``force=True``, saying how much memory it would take.

``hessian_diagonal`` gives diag(H) exactly (n products) or by the stochastic estimate
diag(H) ≈ E[v ⊙ Hv] with Rademacher v (Bekas, Kokiopoulou & Saad 2007; the curvature
estimate behind [Misra]'s "Fancy RMSProp" ("No more pesky learning rates") and
equilibrated SGD): for v_i = ±1, E[v_i (Hv)_i] = Σ_j H_ij E[v_i v_j] = H_ii.
"""

from __future__ import annotations

from .. import backend as B
from .hvp import HessianOperator, _check_params
from .operator import LinearOperator, as_operator

DEFAULT_MAX_PARAMS = 2000


def check_size(n: int, itemsize: int, max_params: int, force: bool, what: str):
    if force or n <= max_params:
        return
    gb = n * n * itemsize / 1e9
    raise ValueError(f"{what}: the dense Hessian has {n} × {n} = {n * n:,} entries "
                     f"({gb:.3g} GB at {itemsize} bytes each) and costs {n} Hessian-vector products; "
                     f"the limit is max_params={max_params}. Use hvp / the spectrum tools instead, "
                     f"raise max_params, or pass force=True")


def dense_matrix(op: LinearOperator, max_params: int = DEFAULT_MAX_PARAMS, force: bool = False):
    """The n×n matrix of a LinearOperator, column j = op(e_j)."""
    op = as_operator(op)
    xp = B.xp()
    itemsize = xp.dtype(op.dtype).itemsize
    check_size(op.n, itemsize, max_params, force, f"dense_matrix({op.name})")
    H = xp.empty((op.n, op.n), dtype=op.dtype)
    e = xp.zeros(op.n, dtype=op.dtype)
    for j in range(op.n):
        e[j] = 1
        H[:, j] = op(e)
        e[j] = 0
    return H


def hessian(loss_fn, params, max_params: int = DEFAULT_MAX_PARAMS, force: bool = False):
    """Dense H = ∇²L at the current ``params.data`` (columns are exact HVPs, H e_j).

    Refuses (ValueError with the size and memory) when ``params.numel > max_params``
    unless ``force=True``.
    """
    _check_params(params)
    check_size(params.numel, params.data.dtype.itemsize, max_params, force, "hessian")
    return dense_matrix(HessianOperator(loss_fn, params), force=True)


def hessian_at(f, x, max_params: int = DEFAULT_MAX_PARAMS, force: bool = False):
    """Dense ∇²f(x) for a scalar function ``f(x_tensor) -> Tensor`` of a plain 1-D vector."""
    from ..flat import FlatParameters
    params = FlatParameters.from_array(x)
    theta = params.parameters[0]
    return hessian(lambda: f(theta), params, max_params=max_params, force=force)


def rademacher(rng, n, dtype):
    """v with independent entries ±1, drawn on the host and moved (one seed, both backends)."""
    return B.asarray(rng.integers(0, 2, size=n) * 2.0 - 1.0).astype(dtype)


def hessian_diagonal(loss_fn_or_op, params=None, n_samples: int = 100, exact: bool = False,
                     rng=None, max_params: int = DEFAULT_MAX_PARAMS, force: bool = False):
    """diag(H): exact (``exact=True``, n products, size-limited like :func:`hessian`) or
    the Rademacher estimate (1/S) Σ_s v_s ⊙ H v_s with S = ``n_samples``.

    ``loss_fn_or_op``: a loss closure (then ``params`` is required) or a LinearOperator.
    ``rng``: a NumPy Generator (default: the package's host generator).
    """
    op = _operator(loss_fn_or_op, params)
    xp = B.xp()
    if exact:
        check_size(op.n, xp.dtype(op.dtype).itemsize, max_params, force, "hessian_diagonal(exact=True)")
        d = xp.empty(op.n, dtype=op.dtype)
        e = xp.zeros(op.n, dtype=op.dtype)
        for j in range(op.n):
            e[j] = 1
            d[j] = op(e)[j]
            e[j] = 0
        return d
    if int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"hessian_diagonal: n_samples must be a positive integer, got {n_samples!r}")
    rng = B.host_rng() if rng is None else rng
    total = xp.zeros(op.n, dtype=op.dtype)
    for _ in range(int(n_samples)):
        v = rademacher(rng, op.n, op.dtype)
        total += v * op(v)
    return total / n_samples


def _operator(loss_fn_or_op, params) -> LinearOperator:
    if isinstance(loss_fn_or_op, LinearOperator):
        return loss_fn_or_op
    if params is None:
        raise ValueError("params is required when a loss closure (not a LinearOperator) is given")
    return HessianOperator(loss_fn_or_op, params)


_rademacher = rademacher  # the old private name (curvature/spectrum.py still imports it)
