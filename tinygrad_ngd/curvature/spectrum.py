"""The Hessian's spectrum from products only: power iteration, Lanczos, Hutchinson's trace.

[Ravasi, "Ill-conditioning"]: the convergence of first-order
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

Never silently wrong: every result says whether it converged.  Power iteration stops on
the residual ‖Hv − λv‖ ≤ tol·|λ| of H itself (a Rayleigh quotient that has stopped
changing can be a non-eigenvalue on a saddle); Lanczos reports each Ritz pair's residual,
and restarts from a fresh orthogonal vector at an invariant subspace instead of returning
a partial spectrum as if it were complete.
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
    converged: list = ()   # per pair: ‖Hu − λu‖ ≤ tol·|λ| reached (and every earlier pair converged)
    residuals: list = ()   # per pair: the final ‖Hu − λu‖ (of H itself, not the deflated operator)

    @property
    def all_converged(self) -> bool:
        return bool(self.converged) and all(self.converged)


class LanczosResult(NamedTuple):
    ritz_values: object  # eigenvalues of T_m, ascending (backend array)
    weights: object      # (first component of each eigenvector of T_m)², summing to 1
    alphas: list         # diagonal of T_m
    betas: list          # off-diagonal of T_m (length steps − 1; 0.0 where Lanczos restarted)
    steps: int           # the size of T_m: min(m, n), fewer only with restart=False at a breakdown
    residuals: list = ()     # per Ritz value (ascending): ‖A y_i − θ_i y_i‖ = β_m |s_{m,i}|
    converged: bool = False  # every Ritz pair has residual ≤ tol·‖T_m‖: the Ritz values ARE eigenvalues
    extremes_converged: bool = False  # the smallest and the largest Ritz pair have converged
    restarts: int = 0        # invariant subspaces met (β ≈ 0) and restarted from a fresh orthogonal vector
    complete: bool = False   # steps == n: T_m is similar to A, its eigenvalues are the whole spectrum


class TraceEstimate(NamedTuple):
    trace: float         # mean of the samples vᵀHv
    stderr: float        # their standard deviation / √S (a Monte-Carlo estimate: no iteration to converge)
    samples: list


class ConditionEstimate(NamedTuple):
    kappa: float         # λ_max / λ_min, or inf when λ_min ≤ 0
    lambda_max: float
    lambda_min: float
    positive_definite: object  # True / False; None when not converged and λ_min's Ritz value > 0 (unknown)
    converged: bool = False    # both extreme Ritz pairs converged (always True for m ≥ n)
    lanczos: object = None     # the LanczosResult it came from


def _default_tol(dtype) -> float:
    """Relative residual reachable in ``dtype``: 1e-8 in float64, 1e-4 in float32."""
    return 1e-8 if B.xp().dtype(dtype).itemsize >= 8 else 1e-4


def _gaussian_vector(rng, n, dtype):
    """A N(0, I) start vector, drawn on the host and moved (one seed, both backends).  Unlike
    a ±1 vector it is orthogonal to a given eigenvector with probability 0."""
    return B.asarray(rng.standard_normal(n)).astype(dtype)


def _norm(v) -> float:
    # a scalar leaves the device: the iteration's control flow (convergence, breakdown) needs it
    return B.item(B.array_module(v).sqrt(v @ v))


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_tol(name, tol, dtype):
    if tol is None:
        return _default_tol(dtype)
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError(f"{name}: tol must be a number in (0, 1), got {tol!r}")
    return float(tol)


def _rng(rng):
    if rng is None:
        return B.host_rng()
    if not hasattr(rng, "standard_normal"):
        raise TypeError(f"rng must be a NumPy Generator (e.g. numpy.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    return rng


# ---------------------------------------------------------------- power iteration
def top_eigenvalues(loss_fn_or_op, params=None, k: int = 1, maxiter: int = 1000, tol: float | None = None,
                    rng=None) -> Eigenpairs:
    """The k eigenvalues of largest magnitude by power iteration with deflation.

    For the i-th pair, iterate v ← A_i v/‖A_i v‖ on A_i = H − Σ_{j<i} λ_j u_j u_jᵀ from a
    Gaussian start, with λ = vᵀHv, until the residual of H itself is small:
    ‖Hv − λv‖ ≤ ``tol``·|λ| (default 1e-8 in float64, 1e-4 in float32), or ``maxiter``.
    A Rayleigh quotient that has stopped changing is not enough: on a saddle with
    eigenvalues ±λ the iterate swings between the two eigenvectors while vᵀHv stays put
    at a value that is no eigenvalue.  Each pair carries ``converged`` (False also for
    every pair after an unconverged one, whose deflation is then wrong) and its residual.
    """
    op = _operator(loss_fn_or_op, params)
    k = _positive_int("k", k)
    maxiter = _positive_int("maxiter", maxiter)
    if k > op.n:
        raise ValueError(f"top_eigenvalues: k={k} exceeds the dimension {op.n}")
    tol = _check_tol("top_eigenvalues", tol, op.dtype)
    rng = _rng(rng)
    # each pair is refined a little past tol while it still improves: the next pairs deflate
    # with it, and an eigenvector good only to tol would leave their residuals of H above tol
    tol_inner = max(1e-2 * tol, 100 * float(B.xp().finfo(op.dtype).eps))
    values, vectors, iterations, converged, residuals = [], [], [], [], []
    for _ in range(k):
        v = _gaussian_vector(rng, op.n, op.dtype)
        for u_j in vectors:  # start orthogonal to the pairs found
            v = v - (u_j @ v) * u_j
        v /= _norm(v)
        lam, res, it = 0.0, math.inf, 0
        for it in range(1, maxiter + 1):  # noqa: B007 - `it` is the count kept after the loop
            Hv = op(v)
            lam = B.item(v @ Hv)        # Rayleigh quotient vᵀHv (‖v‖ = 1)
            res = _norm(Hv - lam * v)   # residual of H, the convergence test
            if res <= tol_inner * abs(lam) or res == 0.0:
                break
            w = Hv
            for lam_j, u_j in zip(values, vectors):  # deflation: remove the pairs found
                w = w - lam_j * (u_j @ v) * u_j
            w_norm = _norm(w)
            if w_norm == 0.0:  # v lies in the null space of the deflated operator
                break
            v = w / w_norm
        ok = (res <= tol * abs(lam) or res == 0.0) and all(converged)
        values.append(lam)
        vectors.append(v)
        iterations.append(it)
        converged.append(ok)
        residuals.append(res)
    return Eigenpairs(values, vectors, iterations, converged, residuals)


# ---------------------------------------------------------------- Lanczos
def lanczos(loss_fn_or_op, params=None, m: int = 30, rng=None, v0=None, tol: float | None = None,
            restart: bool = True) -> LanczosResult:
    """m steps of Lanczos with full re-orthogonalization (Paige 1972; Golub & Van Loan §10.1).

    With q_1 = v0/‖v0‖ (default Gaussian):  w = A q_j − β_{j−1} q_{j−1};  α_j = q_jᵀw;
    w ← w − α_j q_j, then w is orthogonalized again against every q_1..q_j (twice is
    enough, Giraud et al. 2005) so the basis stays orthonormal in floating point; β_j = ‖w‖,
    q_{j+1} = w/β_j.  T_m = tridiag(β, α, β); its eigen-decomposition T_m = S Θ Sᵀ gives the
    Ritz values Θ and the weights S_{1i}².

    β_j ≈ 0 means span(q_1..q_j) is invariant: its Ritz values are exact eigenvalues, but
    only of the part of A the start vector saw.  With ``restart`` (default) Lanczos goes on
    from a fresh Gaussian vector orthogonalized against the basis (β_j = 0 in T_m), so m ≥ n
    always yields the whole spectrum; with ``restart=False`` it stops and the result says
    ``complete=False``.  Each Ritz pair's residual is β_m |s_{m,i}| (Golub & Van Loan
    §10.1.4) — no further product needed — and ``converged`` / ``extremes_converged`` say
    whether all / the two extreme ones are ≤ ``tol``·‖T_m‖.
    """
    op = _operator(loss_fn_or_op, params)
    m = min(_positive_int("m", m), op.n)
    tol = _check_tol("lanczos", tol, op.dtype)
    xp = B.xp()
    rng = _rng(rng)
    q = _gaussian_vector(rng, op.n, op.dtype) if v0 is None else B.asarray(v0).astype(op.dtype, copy=True)
    q_norm = _norm(q)
    if not q_norm > 0 or not math.isfinite(q_norm):
        raise ValueError(f"lanczos: v0 must be a finite non-zero vector, got norm {q_norm}")
    q = q / q_norm
    basis, alphas, betas = [q], [], []
    beta_prev, restarts, beta_last = 0.0, 0, 0.0
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
        beta = _norm(w)
        scale = max(1.0, max(abs(a) for a in alphas), max(betas, default=0.0))
        if beta <= 1e-12 * scale:
            beta = 0.0  # breakdown: the Krylov space is invariant, T_j holds exact eigenvalues
        if j == m - 1:
            beta_last = beta
            break
        if beta == 0.0:
            if not restart:
                break
            restarts += 1
            w = _gaussian_vector(rng, op.n, op.dtype)
            for _ in range(2):
                w = w - Q.T @ (Q @ w)
            w_norm = _norm(w)
            if w_norm == 0.0:  # cannot happen below n steps, but never divide by 0
                break
            betas.append(0.0)   # T_m is block diagonal: the new block is not coupled to the old
            basis.append(w / w_norm)
            beta_prev = 0.0
            continue
        betas.append(beta)
        basis.append(w / beta)
        beta_prev = beta
    steps = len(alphas)
    T = xp.diag(B.asarray(alphas).astype(op.dtype))
    if steps > 1:
        off = B.asarray(betas).astype(op.dtype)
        T += xp.diag(off, 1) + xp.diag(off, -1)
    theta, S = xp.linalg.eigh(T)
    # ‖A y_i − θ_i y_i‖ = β_m |s_{m,i}| with y_i = Q s_i; host list for the flags
    residuals = [abs(beta_last) * abs(s) for s in B.to_numpy(S[-1, :]).tolist()]
    t_norm = max(abs(B.item(theta[0])), abs(B.item(theta[-1])), 1e-300)
    converged = all(r <= tol * t_norm for r in residuals)
    extremes = residuals[0] <= tol * t_norm and residuals[-1] <= tol * t_norm
    complete = steps == op.n
    return LanczosResult(theta, S[0, :] ** 2, alphas, betas, steps, residuals, converged or complete,
                         extremes or complete, restarts, complete)


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


def condition_number(loss_fn_or_op, params=None, m: int = 50, rng=None, tol: float | None = None
                     ) -> ConditionEstimate:
    """κ = λ_max/λ_min [Ravasi, "Ill-conditioning"] from the extreme Ritz values of m
    Lanczos steps (exact when m ≥ n: Lanczos restarts at an invariant subspace, so T_m then
    holds the whole spectrum).  An indefinite or singular H has no finite κ: then ``kappa``
    is inf and ``positive_definite`` False, rather than a misleading ratio.  ``converged``
    says whether both extreme Ritz pairs converged (residual ≤ ``tol``·‖T_m‖); when they
    did not, a positive smallest Ritz value proves nothing (Ritz values lie inside the
    spectrum), so ``positive_definite`` is None (unknown) and ``kappa`` only an estimate.
    """
    res = lanczos(loss_fn_or_op, params, m=m, rng=rng, tol=tol)
    lam_min = B.item(res.ritz_values[0])
    lam_max = B.item(res.ritz_values[-1])
    if lam_min <= 0:
        pd = False  # a Ritz value ≤ 0 proves λ_min ≤ 0 (interlacing)
    else:
        pd = True if res.extremes_converged else None
    kappa = lam_max / lam_min if lam_min > 0 else math.inf
    return ConditionEstimate(kappa, lam_max, lam_min, pd, res.extremes_converged, res)
