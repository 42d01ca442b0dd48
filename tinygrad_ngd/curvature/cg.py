"""Linear conjugate gradient on products only, reporting negative curvature.

[Misra, "Conjugate Gradient Methods"], points to Møller 1993
and Martens 2010, both built on CG: solve A x = b for symmetric A by minimizing the
quadratic φ(x) = ½xᵀAx − bᵀx along A-conjugate directions (Hestenes & Stiefel 1952;
Nocedal & Wright, Algorithm 5.3 with a preconditioner M):

    r_0 = b − A x_0,  z_0 = M⁻¹ r_0,  p_0 = z_0
    α_k = r_kᵀz_k / p_kᵀA p_k;  x_{k+1} = x_k + α_k p_k;  r_{k+1} = r_k − α_k A p_k
    z_{k+1} = M⁻¹ r_{k+1};  β_k = r_{k+1}ᵀz_{k+1} / r_kᵀz_k;  p_{k+1} = z_{k+1} + β_k p_k

CG is only defined for positive-definite A.  A Hessian away from a minimum is not, and a
direction with p_kᵀA p_k ≤ 0 is where the quadratic model is unbounded below; hiding that
(taking |pᵀAp|, or running on) gives a wrong "solution".  So CG stops there and says so:
``negative_curvature=True``, the offending ``direction`` and its ``curvature`` pᵀAp.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import backend as B
from .operator import LinearOperator, check_flat_vector


@dataclass
class CGResult:
    x: object                           # the last iterate (flat backend array)
    iterations: int                     # CG steps taken (matrix products after the first residual)
    converged: bool                     # ‖r‖ ≤ max(tol·‖b‖, atol) reached
    residual_norms: list = field(default_factory=list)    # ‖r_k‖ for k = 0, 1, …
    quadratic_values: list = field(default_factory=list)  # φ(x_k) = ½x_kᵀAx_k − bᵀx_k
    negative_curvature: bool = False    # stopped at p_kᵀAp_k ≤ 0
    curvature: float = None             # that p_kᵀAp_k
    direction: object = None            # that p_k
    message: str = ""


def _apply_preconditioner(M, r):
    if M is None:
        return r
    if B.is_backend_array(M):  # the diagonal of M
        return r / M
    return M(r)


def _checked_product(matvec, v):
    """``matvec(v)``, refused by name unless it is a vector of ``v``'s shape (else NumPy's
    own broadcasting or matmul error would surface from inside the CG recurrences)."""
    out = matvec(v)
    if getattr(out, "shape", None) != v.shape:
        raise ValueError(f"conjugate_gradient: matvec returned {type(out).__name__} of shape "
                         f"{getattr(out, 'shape', None)}, expected a vector of shape {v.shape} like b")
    return out


def conjugate_gradient(matvec, b, x0=None, tol: float = 1e-10, maxiter: int | None = None, M=None,
                       atol: float = 0.0, callback=None, stop_on_negative_curvature: bool = True) -> CGResult:
    """Solve A x = b by (preconditioned) conjugate gradient.

    ``matvec``: a LinearOperator or a callable v ↦ A v; ``b``: flat backend array;
    ``x0``: start (default 0); ``tol``: relative residual ‖r‖/‖b‖ to stop at (``atol``
    absolute); ``maxiter``: default n; ``M``: preconditioner — a callable r ↦ M⁻¹r or an
    array holding diag(M); ``callback(k, x, r, phi)`` after each step, returning True
    stops (Hessian-free's progress test uses it; copy x to keep it).
    ``stop_on_negative_curvature=False`` runs on through pᵀAp ≤ 0 (still flagged).
    """
    # host vectors on a device backend (b, x0, a diagonal M): one explicit copy each
    b, x0, M = (B.asarray(a) if B.is_numpy_array(a) and not B.is_placed(a) else a for a in (b, x0, M))
    if not B.is_backend_array(b) or b.ndim != 1:
        raise ValueError(f"conjugate_gradient: b must be a flat backend array, got "
                         f"{type(b).__name__} of shape {getattr(b, 'shape', None)}")
    n = b.shape[0]
    if isinstance(matvec, LinearOperator) and matvec.n != n:
        raise ValueError(f"conjugate_gradient: operator of size {matvec.n} but b has length {n}")
    if not callable(matvec):
        raise TypeError("conjugate_gradient: matvec must be a LinearOperator or a callable")
    if M is not None and B.is_backend_array(M):
        check_flat_vector(M, n, "conjugate_gradient: M (diagonal preconditioner)")
    maxiter = n if maxiter is None else int(maxiter)
    if maxiter < 0 or not tol >= 0 or not atol >= 0:
        raise ValueError(f"conjugate_gradient: need maxiter >= 0, tol >= 0, atol >= 0; got "
                         f"{maxiter}, {tol}, {atol}")
    xp = B.array_module(b)
    if x0 is None:
        x = xp.zeros_like(b)
        r = b.copy()
    else:
        check_flat_vector(x0, n, "conjugate_gradient: x0")
        x = x0.astype(b.dtype, copy=True)
        r = b - _checked_product(matvec, x)
    # scalars leave the device once per step: the stopping tests are control flow
    b_norm = B.item(xp.sqrt(b @ b))
    threshold = max(tol * b_norm, atol)
    res = CGResult(x=x, iterations=0, converged=False)

    def record():
        res.residual_norms.append(B.item(xp.sqrt(r @ r)))
        res.quadratic_values.append(-0.5 * B.item(x @ (b + r)))  # φ = ½xᵀ(b − r) − bᵀx

    record()
    z = _apply_preconditioner(M, r)
    p = z.copy()
    rz = B.item(r @ z)
    for k in range(maxiter):
        if res.residual_norms[-1] <= threshold:
            res.converged = True
            break
        Ap = _checked_product(matvec, p)
        pAp = B.item(p @ Ap)
        if pAp <= 0:
            res.negative_curvature, res.curvature, res.direction = True, pAp, p.copy()
            if stop_on_negative_curvature or pAp == 0:
                res.message = f"negative curvature pᵀAp = {pAp:.6g} at CG step {k}; stopped"
                break
            # asked to go on: the CG recurrences still solve A x = b for an indefinite,
            # nonsingular A (no longer minimizing φ) unless pᵀAp = 0
        alpha = rz / pAp
        x += alpha * p
        r -= alpha * Ap
        res.iterations = k + 1
        record()
        if callback is not None and callback(k + 1, x, r, res.quadratic_values[-1]):
            res.message = f"stopped by callback at CG step {k + 1}"
            break
        z = _apply_preconditioner(M, r)
        rz_new = B.item(r @ z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    else:
        if res.residual_norms[-1] <= threshold:
            res.converged = True
    if not res.message:
        res.message = ("converged" if res.converged else f"maxiter={maxiter} reached") + \
            f": ‖r‖/‖b‖ = {res.residual_norms[-1] / b_norm if b_norm else 0.0:.3g}"
    res.x = x
    return res
