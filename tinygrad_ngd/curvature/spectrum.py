"""The Hessian's spectrum from products only: power iteration, Lanczos, Hutchinson's trace.

Note 004 (004_afb8093925c778b0.txt), "Ill-conditioning": the convergence of first-order
methods is governed by the Hessian's condition number, the ratio of its largest to its
smallest eigenvalue; a step −αg is safe only while α stays below 2gᵀg/gᵀHg, and gᵀHg is
at most λ_max gᵀg.  These routines measure those quantities on a real network without
forming H:

* :func:`top_eigenvalues` — power iteration on H, then on H − Σ λ_j u_j u_jᵀ (deflation);
* :func:`lanczos` — m steps of Lanczos with full re-orthogonalization; the Ritz values
  (eigenvalues of the tridiagonal T_m) approximate the extreme eigenvalues first, and with
  the weights (first components of T_m's eigenvectors)² they form the stochastic Lanczos
  quadrature estimate of the spectral density (Ghorbani et al. 2019; Yao et al. 2020,
  PyHessian) — :func:`spectral_density`;
* :func:`hutchinson_trace` — tr(H) = E[vᵀHv] for Rademacher v (Hutchinson 1990);
* :func:`condition_number` — λ_max/λ_min from Lanczos's extreme Ritz values.

Each accepts a loss closure with its FlatParameters (the Hessian is then built once as a
:class:`HessianOperator`, one gradient graph reused by every product) or any
:class:`LinearOperator` (a Gauss-Newton operator, a dense test matrix).
Random vectors are drawn on the host from ``rng`` (a NumPy Generator; default the
package's generator) and moved, so a seed gives the same numbers on both backends.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .. import backend as B
from .dense import _operator, _rademacher


class Eigenpairs(NamedTuple):
    values: list        # eigenvalues, largest magnitude first (Python floats)
    vectors: list       # unit eigenvectors (flat backend arrays)
    iterations: list    # power iterations each one took


class LanczosResult(NamedTuple):
    ritz_values: object  # eigenvalues of T_m, ascending (backend array)
    weights: object      # (first component of each eigenvector of T_m)², summing to 1
    alphas: list         # diagonal of T_m
    betas: list          # off-diagonal of T_m (length m − 1)
    steps: int           # m, or fewer if an invariant subspace was found (β ≈ 0)


class TraceEstimate(NamedTuple):
    trace: float         # mean of the samples vᵀHv
    stderr: float        # their standard deviation / √S
    samples: list


class ConditionEstimate(NamedTuple):
    kappa: float         # λ_max / λ_min, or inf when λ_min ≤ 0
    lambda_max: float
    lambda_min: float
    positive_definite: bool


def _gaussian_vector(rng, n, dtype):
    return B.asarray(rng.standard_normal(n)).astype(dtype)


def _norm(v) -> float:
    # a scalar leaves the device: the iteration's control flow (convergence, breakdown) needs it
    return B.item(B.array_module(v).sqrt(v @ v))


def _positive_int(name, value):
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


# ---------------------------------------------------------------- power iteration
def top_eigenvalues(loss_fn_or_op, params=None, k: int = 1, maxiter: int = 1000, tol: float = 1e-10,
                    rng=None) -> Eigenpairs:
    """The k eigenvalues of largest magnitude by power iteration with deflation.

    For the i-th pair, iterate v ← A_i v/‖A_i v‖ on A_i = H − Σ_{j<i} λ_j u_j u_jᵀ until the
    Rayleigh quotient λ = vᵀA_i v changes by at most ``tol``·|λ| (or ``maxiter``).
    """
    op = _operator(loss_fn_or_op, params)
    k = _positive_int("k", k)
    if k > op.n:
        raise ValueError(f"top_eigenvalues: k={k} exceeds the dimension {op.n}")
    rng = B.host_rng() if rng is None else rng
    values, vectors, iterations = [], [], []
    for _ in range(k):
        v = _gaussian_vector(rng, op.n, op.dtype)
        v /= _norm(v)
        lam, it = None, 0
        for it in range(1, int(maxiter) + 1):  # noqa: B007 - `it` is the count kept after the loop
            w = op(v)
            for lam_j, u_j in zip(values, vectors):  # deflation: remove the pairs found
                w = w - lam_j * (u_j @ v) * u_j
            lam_new = B.item(v @ w)  # Rayleigh quotient vᵀA v (‖v‖ = 1)
            w_norm = _norm(w)
            if w_norm == 0.0:  # v lies in the null space of the deflated operator
                lam = lam_new
                break
            v = w / w_norm
            if lam is not None and abs(lam_new - lam) <= tol * abs(lam_new):
                lam = lam_new
                break
            lam = lam_new
        values.append(lam)
        vectors.append(v)
        iterations.append(it)
    return Eigenpairs(values, vectors, iterations)


# ---------------------------------------------------------------- Lanczos
def lanczos(loss_fn_or_op, params=None, m: int = 30, rng=None, v0=None) -> LanczosResult:
    """m steps of Lanczos with full re-orthogonalization (Paige 1972; Golub & Van Loan §10.1).

    With q_1 = v0/‖v0‖ (default Rademacher):  w = A q_j − β_{j−1} q_{j−1};  α_j = q_jᵀw;
    w ← w − α_j q_j, then w is orthogonalized again against every q_1..q_j (twice is
    enough, Giraud et al. 2005) so the basis stays orthonormal in floating point; β_j = ‖w‖,
    q_{j+1} = w/β_j.  T_m = tridiag(β, α, β); its eigen-decomposition T_m = S Θ Sᵀ gives the
    Ritz values Θ and the weights S_{1i}².
    """
    op = _operator(loss_fn_or_op, params)
    m = min(_positive_int("m", m), op.n)
    xp = B.xp()
    rng = B.host_rng() if rng is None else rng
    q = _rademacher(rng, op.n, op.dtype) if v0 is None else v0.astype(op.dtype, copy=True)
    q = q / _norm(q)
    basis, alphas, betas = [q], [], []
    beta_prev = 0.0
    for j in range(m):
        w = op(basis[j])
        if j > 0:
            w = w - beta_prev * basis[j - 1]
        alpha = B.item(basis[j] @ w)
        alphas.append(alpha)
        w = w - alpha * basis[j]
        Q = xp.stack(basis)
        for _ in range(2):  # full re-orthogonalization, classical Gram-Schmidt twice
            w = w - Q.T @ (Q @ w)
        if j == m - 1:
            break
        beta = _norm(w)
        # breakdown: the Krylov space is invariant, T_j already holds exact eigenvalues
        if beta <= 1e-12 * max(1.0, max(abs(a) for a in alphas)):
            break
        betas.append(beta)
        basis.append(w / beta)
        beta_prev = beta
    steps = len(alphas)
    T = xp.diag(B.asarray(alphas).astype(op.dtype))
    if steps > 1:
        off = B.asarray(betas).astype(op.dtype)
        T += xp.diag(off, 1) + xp.diag(off, -1)
    theta, S = xp.linalg.eigh(T)
    return LanczosResult(theta, S[0, :] ** 2, alphas, betas, steps)


def spectral_density(runs, n_grid: int = 1000, sigma_squared: float = 1e-5, overhead: float = 0.01):
    """Spectral density from Lanczos runs (a list of :class:`LanczosResult`), as PyHessian.

    Each Ritz value θ_i carries weight w_i; the density is the average over runs of
    Σ_i w_i N(t; θ_i, σ²) on a grid spanning [min θ − overhead, max θ + overhead], with
    σ² = ``sigma_squared``·max(1, spread), normalized to integrate to 1.
    Returns (grid, density) as backend arrays.
    """
    if not runs:
        raise ValueError("spectral_density: need at least one Lanczos run")
    xp = B.xp()
    lo = min(B.item(r.ritz_values.min()) for r in runs) - overhead
    hi = max(B.item(r.ritz_values.max()) for r in runs) + overhead
    var = sigma_squared * max(1.0, hi - lo)
    grid = xp.linspace(lo, hi, int(n_grid))
    density = xp.zeros_like(grid)
    for r in runs:
        d = grid[:, None] - r.ritz_values[None, :]
        density += (xp.exp(-d * d / (2 * var)) / math.sqrt(2 * math.pi * var)) @ r.weights
    density /= len(runs)
    density /= density.sum() * (grid[1] - grid[0])
    return grid, density


# ---------------------------------------------------------------- trace and conditioning
def hutchinson_trace(loss_fn_or_op, params=None, n_samples: int = 100, rng=None) -> TraceEstimate:
    """tr(H) ≈ (1/S) Σ_s v_sᵀ H v_s with Rademacher v_s, and its standard error."""
    op = _operator(loss_fn_or_op, params)
    n_samples = _positive_int("n_samples", n_samples)
    rng = B.host_rng() if rng is None else rng
    samples = []
    for _ in range(n_samples):
        v = _rademacher(rng, op.n, op.dtype)
        samples.append(B.item(v @ op(v)))  # one scalar per sample, for the statistics
    mean = sum(samples) / n_samples
    if n_samples > 1:
        var = sum((s - mean) ** 2 for s in samples) / (n_samples - 1)
        stderr = math.sqrt(var / n_samples)
    else:
        stderr = math.inf
    return TraceEstimate(mean, stderr, samples)


def condition_number(loss_fn_or_op, params=None, m: int = 50, rng=None) -> ConditionEstimate:
    """κ = λ_max/λ_min (note 004, "Ill-conditioning") from the extreme Ritz values of m
    Lanczos steps (exact when m ≥ n).  An indefinite or singular H has no finite κ:
    then ``kappa`` is inf and ``positive_definite`` False, rather than a misleading ratio.
    """
    res = lanczos(loss_fn_or_op, params, m=m, rng=rng)
    lam_min = B.item(res.ritz_values[0])
    lam_max = B.item(res.ritz_values[-1])
    pd = lam_min > 0
    return ConditionEstimate(lam_max / lam_min if pd else math.inf, lam_max, lam_min, pd)
