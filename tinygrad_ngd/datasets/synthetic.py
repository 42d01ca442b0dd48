"""Synthetic optimization problems for tutorials and tests, in plain NumPy (float64).

Each problem is a small object with ``value(x)``, ``grad(x)``, ``hessian(x)`` (closed
form) and ``hvp(x, v)``, plus ``x0`` (a start), ``x_star`` / ``f_star`` (the minimizer
and minimum, ``None`` where there is no closed form).  Nothing here touches the
backend: wrap ``x`` in a Tensor yourself, or feed ``grad(x)`` to an optimizer's
``step(grad=...)``.

* :class:`QuadraticBowl` — ½(x−x*)ᵀA(x−x*) with chosen condition number and rotation
  ([Ravasi]: ill-conditioning, the step bound ½α²gᵀHg vs αgᵀg).
* :class:`Rosenbrock`, :class:`Beale` — the classic curved valleys.
* :class:`NoisyQuadratic` — g_k(θ) = A(θ − θ*) + ξ_k with A, θ*, ξ_k drawn from a seed
  (the golden-trajectory problem: every optimizer run on it is reproducible anywhere).
* :class:`LogisticRegression` — on generated data.
* :class:`ExponentialLoss1D` — [Kolasiński 2018, §1]: L(x) = λ e^{−γx}, where Newton's step is
  x + η/γ whatever x (the normalizing property), while gradient descent's step is
  ηλγe^{−γx}.
"""

from __future__ import annotations

import numpy as np

from ._common import rng_from_seed


class Problem:
    """Base: ``value``, ``grad``, ``hessian`` in float64 NumPy; ``hvp`` from the Hessian."""

    dim: int
    x0: np.ndarray
    x_star: np.ndarray | None = None
    f_star: float | None = None

    def value(self, x) -> float:
        raise NotImplementedError

    def grad(self, x) -> np.ndarray:
        raise NotImplementedError

    def hessian(self, x) -> np.ndarray:
        raise NotImplementedError

    def hvp(self, x, v) -> np.ndarray:
        return self.hessian(x) @ np.asarray(v, dtype=np.float64)

    def _x(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.dim,):
            raise ValueError(f"{type(self).__name__}: expected x of shape ({self.dim},), got {x.shape}")
        return x


def random_rotation(dim: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random orthogonal matrix: QR of a Gaussian matrix with R's diagonal made positive."""
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def rotation_2d(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def spd_matrix(eigenvalues, rotation) -> np.ndarray:
    """A = Q diag(λ) Qᵀ, symmetrized exactly."""
    q = np.asarray(rotation, dtype=np.float64)
    a = (q * np.asarray(eigenvalues, dtype=np.float64)) @ q.T
    return (a + a.T) / 2


def _eigenvalues(dim, condition_number, lambda_min):
    if condition_number < 1:
        raise ValueError(f"condition_number must be >= 1, got {condition_number}")
    if dim == 1:
        return np.array([float(lambda_min)])
    # geometric spacing from λ_min to κ·λ_min: λ_max/λ_min = κ exactly
    return lambda_min * np.asarray(condition_number, dtype=np.float64) ** (np.arange(dim) / (dim - 1))


class QuadraticBowl(Problem):
    """f(x) = ½ (x − x*)ᵀ A (x − x*), A = Q diag(λ) Qᵀ, λ geometric from ``lambda_min`` to
    ``condition_number · lambda_min``.

    ``rotation``: ``None`` (axis-aligned, Q = I), an angle in radians (``dim == 2``), a
    given orthogonal matrix, or ``"random"`` (Haar-random Q from ``seed``).  ``x_star``
    defaults to zeros, ``x0`` to ones.
    """

    def __init__(self, dim=2, condition_number=10.0, rotation=None, seed=0, lambda_min=1.0,
                 x_star=None, x0=None):
        self.dim = int(dim)
        self.eigenvalues = _eigenvalues(self.dim, condition_number, lambda_min)
        if rotation is None:
            q = np.eye(self.dim)
        elif isinstance(rotation, str):
            if rotation != "random":
                raise ValueError(f"rotation must be None, an angle, a matrix or 'random', got {rotation!r}")
            q = random_rotation(self.dim, rng_from_seed("QuadraticBowl", seed))
        elif np.ndim(rotation) == 0:
            if self.dim != 2:
                raise ValueError("a rotation angle needs dim == 2; pass a matrix or 'random'")
            q = rotation_2d(float(rotation))
        else:
            q = np.asarray(rotation, dtype=np.float64)
            if q.shape != (self.dim, self.dim) or not np.allclose(q @ q.T, np.eye(self.dim), atol=1e-10):
                raise ValueError("rotation matrix must be orthogonal of shape (dim, dim)")
        self.Q = q
        self.A = spd_matrix(self.eigenvalues, q)
        self.x_star = np.zeros(self.dim) if x_star is None else np.asarray(x_star, dtype=np.float64).copy()
        self.x0 = np.ones(self.dim) if x0 is None else np.asarray(x0, dtype=np.float64).copy()
        self.f_star = 0.0
        self.condition_number = float(self.eigenvalues[-1] / self.eigenvalues[0])

    def value(self, x):
        d = self._x(x) - self.x_star
        return 0.5 * float(d @ self.A @ d)

    def grad(self, x):
        return self.A @ (self._x(x) - self.x_star)

    def hessian(self, x):
        self._x(x)
        return self.A.copy()


class Rosenbrock(Problem):
    """f(x) = Σ_{i<n−1} [b (x_{i+1} − x_i²)² + (a − x_i)²]; x0 = (−1.2, 1, −1.2, 1, ...).

    Minimizer (a, a²) for n = 2, all ones for a = 1; otherwise ``x_star`` is ``None``.
    """

    def __init__(self, dim=2, a=1.0, b=100.0, x0=None):
        if dim < 2:
            raise ValueError(f"Rosenbrock needs dim >= 2, got {dim}")
        self.dim, self.a, self.b = int(dim), float(a), float(b)
        self.x0 = (np.resize([-1.2, 1.0], self.dim) if x0 is None else np.asarray(x0, dtype=np.float64).copy())
        if self.dim == 2:
            self.x_star = np.array([self.a, self.a ** 2])
        elif self.a in (0.0, 1.0):
            self.x_star = np.full(self.dim, self.a)
        self.f_star = 0.0 if self.x_star is not None else None

    def value(self, x):
        x = self._x(x)
        return float(np.sum(self.b * (x[1:] - x[:-1] ** 2) ** 2 + (self.a - x[:-1]) ** 2))

    def grad(self, x):
        x = self._x(x)
        a, b = self.a, self.b
        g = np.zeros(self.dim)
        r = x[1:] - x[:-1] ** 2
        g[:-1] += -4 * b * x[:-1] * r - 2 * (a - x[:-1])
        g[1:] += 2 * b * r
        return g

    def hessian(self, x):
        x = self._x(x)
        b = self.b
        h = np.zeros((self.dim, self.dim))
        i = np.arange(self.dim - 1)
        h[i, i] += 12 * b * x[:-1] ** 2 - 4 * b * x[1:] + 2
        h[i + 1, i + 1] += 2 * b
        h[i, i + 1] = h[i + 1, i] = -4 * b * x[:-1]
        return h


class Beale(Problem):
    """f(x, y) = Σ_{k=1}^{3} (c_k − x + x y^k)², c = (1.5, 2.25, 2.625); minimum 0 at (3, ½)."""

    c = (1.5, 2.25, 2.625)

    def __init__(self, x0=(1.0, 1.0)):
        self.dim = 2
        self.x0 = np.asarray(x0, dtype=np.float64).copy()
        self.x_star = np.array([3.0, 0.5])
        self.f_star = 0.0

    def _terms(self, p):
        x, y = self._x(p)
        for k, ck in enumerate(self.c, start=1):
            r = ck - x + x * y ** k
            dr = np.array([y ** k - 1, k * x * y ** (k - 1)])
            d2r_yy = k * (k - 1) * x * y ** (k - 2) if k > 1 else 0.0
            d2r = np.array([[0.0, k * y ** (k - 1)], [k * y ** (k - 1), d2r_yy]])
            yield r, dr, d2r

    def value(self, x):
        return float(sum(r * r for r, _, _ in self._terms(x)))

    def grad(self, x):
        return sum(2 * r * dr for r, dr, _ in self._terms(x))

    def hessian(self, x):
        return sum(2 * (np.outer(dr, dr) + r * d2r) for r, dr, d2r in self._terms(x))


class NoisyQuadratic(Problem):
    """The noisy quadratic of the golden trajectories: step k sees the gradient

        g_k(θ) = A (θ − θ*) + ξ_k,

    the exact gradient of L_k(θ) = ½ (θ−θ*)ᵀA(θ−θ*) + ξ_kᵀ(θ−θ*).  Everything is drawn
    from ``np.random.default_rng(seed)`` in this order: Q (:func:`random_rotation`),
    θ* ~ N(0, I), θ0 ~ N(0, I), ξ ~ ``noise_std``·N(0, I) of shape ``(n_steps, dim)``;
    A = Q diag(λ) Qᵀ with λ geometric from 1 to ``condition_number``.  The arrays are
    attributes (``A``, ``theta_star``, ``theta0``, ``xi``) and :meth:`arrays` returns them.
    """

    def __init__(self, dim=10, n_steps=100, condition_number=10.0, noise_std=0.1, seed=0):
        rng = rng_from_seed("NoisyQuadratic", seed)
        self.dim, self.n_steps, self.seed = int(dim), int(n_steps), seed
        self.eigenvalues = _eigenvalues(self.dim, condition_number, 1.0)
        self.A = spd_matrix(self.eigenvalues, random_rotation(self.dim, rng))
        self.theta_star = rng.standard_normal(self.dim)
        self.theta0 = rng.standard_normal(self.dim)
        self.xi = float(noise_std) * rng.standard_normal((self.n_steps, self.dim))
        self.x_star, self.x0, self.f_star = self.theta_star, self.theta0, 0.0

    def arrays(self) -> dict:
        return {"A": self.A.copy(), "theta_star": self.theta_star.copy(),
                "theta0": self.theta0.copy(), "xi": self.xi.copy()}

    def _noise(self, k):
        if not 0 <= k < self.n_steps:
            raise IndexError(f"NoisyQuadratic: step k={k} outside [0, {self.n_steps})")
        return self.xi[k]

    def value(self, x, k=None):
        """L(θ) without noise (``k=None``) or L_k(θ) of step ``k``."""
        d = self._x(x) - self.theta_star
        v = 0.5 * float(d @ self.A @ d)
        return v if k is None else v + float(self._noise(k) @ d)

    def grad(self, x, k=None):
        """A(θ − θ*) (``k=None``) or the noisy gradient A(θ − θ*) + ξ_k."""
        g = self.A @ (self._x(x) - self.theta_star)
        return g if k is None else g + self._noise(k)

    def hessian(self, x, k=None):
        self._x(x)
        return self.A.copy()


def _sigmoid(z):
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


class LogisticRegression(Problem):
    """Mean logistic loss on generated data, plus ``l2``/2 ‖w‖².

    X ~ N(0, I) of shape (n, d) (with a trailing column of ones when ``intercept``),
    w_true ~ ``scale``·N(0, I), y_i ~ Bernoulli(σ(x_iᵀ w_true)) as int64 in {0, 1}.
    f(w) = (1/n) Σ [log(1 + e^{z_i}) − y_i z_i] + (l2/2)‖w‖², z = Xw;
    ∇f = Xᵀ(σ(z) − y)/n + l2 w;  ∇²f = Xᵀ diag(σ(1−σ)) X / n + l2 I.
    """

    def __init__(self, n=200, dim=5, l2=0.0, scale=2.0, intercept=True, seed=0):
        rng = rng_from_seed("LogisticRegression", seed)
        x = rng.standard_normal((int(n), int(dim)))
        if intercept:
            x = np.concatenate([x, np.ones((int(n), 1))], axis=1)
        self.X = x
        self.w_true = float(scale) * rng.standard_normal(x.shape[1])
        self.y = (rng.random(int(n)) < _sigmoid(x @ self.w_true)).astype(np.int64)
        self.dim, self.l2 = x.shape[1], float(l2)
        self.x0 = np.zeros(self.dim)

    def value(self, w):
        z = self.X @ self._x(w)
        return float(np.mean(np.logaddexp(0.0, z) - self.y * z) + 0.5 * self.l2 * (w @ w))

    def grad(self, w):
        w = self._x(w)
        return self.X.T @ (_sigmoid(self.X @ w) - self.y) / len(self.y) + self.l2 * w

    def hessian(self, w):
        p = _sigmoid(self.X @ self._x(w))
        return (self.X.T * (p * (1 - p))) @ self.X / len(self.y) + self.l2 * np.eye(self.dim)

    def solve(self, tol=1e-12, max_iter=100) -> np.ndarray:
        """The minimizer by Newton's method with backtracking (needs ``l2 > 0`` or
        non-separable data); also stored as ``x_star`` / ``f_star``."""
        w = self.x0.copy()
        for _ in range(max_iter):
            g = self.grad(w)
            if np.linalg.norm(g) <= tol:
                break
            step = np.linalg.solve(self.hessian(w), g)
            t, f = 1.0, self.value(w)
            while self.value(w - t * step) > f - 1e-4 * t * (g @ step) and t > 1e-10:
                t *= 0.5
            w = w - t * step
        self.x_star, self.f_star = w, self.value(w)
        return w.copy()


class ExponentialLoss1D:
    """[Kolasiński 2018, §1]: L(x) = λ e^{−γx} (λ = ``scale``), elementwise on scalars or arrays.

    L' = −γλe^{−γx}, L'' = γ²λe^{−γx}.  Gradient descent x ← x + ηγλe^{−γx} takes huge
    steps for x ≪ 0 and vanishing ones for x ≫ 0; Newton x ← x − η L'/L'' = x + η/γ
    takes the same step everywhere ("the normalizing property").  No minimizer:
    ``f_star = 0`` is an infimum (x → ∞).
    """

    dim = 1
    x_star = None
    f_star = 0.0

    def __init__(self, scale=1.0, gamma=1.0, x0=0.0):
        self.scale, self.gamma, self.x0 = float(scale), float(gamma), float(x0)

    def value(self, x):
        return self.scale * np.exp(-self.gamma * np.asarray(x, dtype=np.float64))

    def grad(self, x):
        return -self.gamma * self.value(x)

    def hessian(self, x):
        return self.gamma ** 2 * self.value(x)

    def gd_step(self, x, lr):
        return np.asarray(x, dtype=np.float64) - lr * self.grad(x)

    def newton_step(self, x, lr=1.0):
        return np.asarray(x, dtype=np.float64) - lr * self.grad(x) / self.hessian(x)
