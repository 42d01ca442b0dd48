"""Portable problems for golden trajectories: everything needed to reproduce a run is
stored as plain arrays, so another implementation (in any language) can replay it.

* :class:`FixedGradients` — θ₀ and a fixed gradient sequence g₀, g₁, … that does not
  depend on θ (checks the update arithmetic alone);
* :class:`NoisyQuadratic` — g_k(θ) = A(θ − θ*) + ξ_k with A symmetric positive
  definite, θ* and the noise ξ_k stored (checks the update inside a feedback loop:
  an error early on changes every later gradient);
* :class:`MLPGradients` — a one-hidden-layer tanh network with a squared loss on stored
  mini-batches: g_k(θ) = ∇ of the batch-k loss at θ (a non-quadratic feedback loop).

Gradients are computed on the host in float64 NumPy and then cast to the run's dtype,
so two implementations fed the same θ get the same gradient bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import backend as B  # θ may be a device array: B.to_numpy is the explicit copy


@dataclass
class FixedGradients:
    theta0: np.ndarray
    grads: np.ndarray          # (steps, n)
    kind = "fixed_gradients"

    def __post_init__(self):
        self.theta0 = np.asarray(self.theta0, dtype=np.float64)
        self.grads = np.asarray(self.grads, dtype=np.float64)
        if self.theta0.ndim != 1 or self.grads.ndim != 2 or self.grads.shape[1] != self.theta0.shape[0]:
            raise ValueError(f"FixedGradients: theta0 must be (n,) and grads (steps, n); got "
                             f"{self.theta0.shape} and {self.grads.shape}")

    @property
    def steps(self) -> int:
        return self.grads.shape[0]

    def gradient(self, k: int, theta) -> np.ndarray:
        return self.grads[k]

    def loss(self, theta) -> float:
        """A linear loss whose gradients are the stored ones at step 0 (for plateau schedules)."""
        return float(np.dot(self.grads[0], np.asarray(B.to_numpy(theta), dtype=np.float64)))

    def arrays(self) -> dict:
        return {"theta0": self.theta0, "grads": self.grads}


@dataclass
class NoisyQuadratic:
    theta0: np.ndarray
    A: np.ndarray              # (n, n) symmetric positive definite
    theta_star: np.ndarray
    noise: np.ndarray          # (steps, n): ξ_k
    kind = "noisy_quadratic"

    def __post_init__(self):
        for name in ("theta0", "A", "theta_star", "noise"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        n = self.theta0.shape[0]
        if self.A.shape != (n, n) or self.theta_star.shape != (n,) or self.noise.ndim != 2 \
                or self.noise.shape[1] != n:
            raise ValueError(f"NoisyQuadratic: inconsistent shapes theta0 {self.theta0.shape}, A "
                             f"{self.A.shape}, theta_star {self.theta_star.shape}, noise {self.noise.shape}")

    @property
    def steps(self) -> int:
        return self.noise.shape[0]

    def gradient(self, k: int, theta) -> np.ndarray:
        """g_k(θ) = A(θ − θ*) + ξ_k (float64; θ is any array-like on the host)."""
        e = np.asarray(B.to_numpy(theta), dtype=np.float64) - self.theta_star
        return self.A @ e + self.noise[k]

    def loss(self, theta) -> float:
        """½(θ − θ*)ᵀA(θ − θ*) (noise-free)."""
        e = np.asarray(B.to_numpy(theta), dtype=np.float64) - self.theta_star
        return float(0.5 * e @ (self.A @ e))

    def arrays(self) -> dict:
        return {"theta0": self.theta0, "A": self.A, "theta_star": self.theta_star, "noise": self.noise}


@dataclass
class MLPGradients:
    """x ↦ W₂·tanh(W₁x + b₁) + b₂ with loss_k(θ) = 1/(2B)·Σ_b ‖f(x_b) − y_b‖² on batch k.

    θ = concat(W₁ (h×d, row-major), b₁ (h), W₂ (o×h, row-major), b₂ (o)) — PyTorch's
    ``nn.Linear`` weight layout; the natural blocks are :meth:`block_sizes`.
    ``X`` is (steps, B, d) and ``Y`` (steps, B, o); batch k is used at step k.
    """
    theta0: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    hidden: int
    kind = "mlp"

    def __post_init__(self):
        self.theta0 = np.asarray(self.theta0, dtype=np.float64)
        self.X = np.asarray(self.X, dtype=np.float64)
        self.Y = np.asarray(self.Y, dtype=np.float64)
        self.hidden = int(self.hidden)
        if self.X.ndim != 3 or self.Y.ndim != 3 or self.X.shape[:2] != self.Y.shape[:2] \
                or self.theta0.shape != (sum(self.block_sizes()),):
            raise ValueError(f"MLPGradients: inconsistent shapes theta0 {self.theta0.shape}, X "
                             f"{self.X.shape}, Y {self.Y.shape}, hidden {self.hidden}")

    @property
    def steps(self) -> int:
        return self.X.shape[0]

    def block_sizes(self) -> list:
        d, h, o = self.X.shape[2], self.hidden, self.Y.shape[2]
        return [h * d, h, o * h, o]

    def _unpack(self, theta):
        d, h, o = self.X.shape[2], self.hidden, self.Y.shape[2]
        theta = np.asarray(theta, dtype=np.float64)
        i = np.cumsum([0] + self.block_sizes())
        return (theta[i[0]:i[1]].reshape(h, d), theta[i[1]:i[2]],
                theta[i[2]:i[3]].reshape(o, h), theta[i[3]:i[4]])

    def _batch_loss(self, k, theta):
        w1, b1, w2, b2 = self._unpack(theta)
        x, y = self.X[k], self.Y[k]
        hid = np.tanh(x @ w1.T + b1)
        r = hid @ w2.T + b2 - y                      # residual (B, o)
        return x, hid, r, w2, 0.5 * float((r * r).sum()) / x.shape[0]

    def gradient(self, k: int, theta) -> np.ndarray:
        """∇loss_k(θ): backpropagation written out (float64)."""
        x, hid, r, w2, _ = self._batch_loss(k, theta)
        dr = r / x.shape[0]                          # ∂loss/∂out
        dz = (dr @ w2) * (1.0 - hid * hid)           # ∂loss/∂(W₁x + b₁)
        return np.concatenate([(dz.T @ x).ravel(), dz.sum(axis=0), (dr.T @ hid).ravel(), dr.sum(axis=0)])

    def loss(self, theta) -> float:
        """loss₀(θ), the first batch's loss (the metric of plateau schedules)."""
        return self._batch_loss(0, theta)[-1]

    def arrays(self) -> dict:
        return {"theta0": self.theta0, "X": self.X, "Y": self.Y, "hidden": np.array(self.hidden)}


PROBLEMS = {"fixed_gradients": FixedGradients, "noisy_quadratic": NoisyQuadratic, "mlp": MLPGradients}


def problem_from_arrays(kind: str, arrays: dict):
    if kind not in PROBLEMS:
        raise ValueError(f"unknown problem kind {kind!r}; expected one of {sorted(PROBLEMS)}")
    return PROBLEMS[kind](**arrays)


def noisy_quadratic(n: int = 8, steps: int = 150, seed: int = 0, condition: float = 10.0,
                    noise: float = 0.1) -> NoisyQuadratic:
    """A random instance: eigenvalues log-spaced in [1, condition], a random rotation,
    θ* and θ₀ standard normal, ξ_k ~ N(0, noise²)."""
    if n < 1 or steps < 1 or condition < 1 or noise < 0:
        raise ValueError(f"noisy_quadratic: need n >= 1, steps >= 1, condition >= 1, noise >= 0; got "
                         f"n={n}, steps={steps}, condition={condition}, noise={noise}")
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    eigenvalues = np.logspace(0.0, np.log10(condition), n)
    a = (q * eigenvalues) @ q.T
    a = 0.5 * (a + a.T)
    return NoisyQuadratic(theta0=rng.standard_normal(n), A=a, theta_star=rng.standard_normal(n),
                          noise=noise * rng.standard_normal((steps, n)))


def fixed_gradients(n: int = 8, steps: int = 150, seed: int = 0, scale: float = 1.0) -> FixedGradients:
    """θ₀ standard normal and gradients ``scale``·N(0, 1) (seeded)."""
    rng = np.random.default_rng(seed)
    return FixedGradients(theta0=rng.standard_normal(n), grads=scale * rng.standard_normal((steps, n)))


def mlp_gradients(d: int = 3, hidden: int = 5, out: int = 2, batch: int = 4, steps: int = 150,
                  seed: int = 0) -> MLPGradients:
    """A random teacher network's targets (plus noise) on standard normal inputs; θ₀ with
    PyTorch's default ``nn.Linear`` scale U(±1/√fan_in)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((steps, batch, d))
    teacher = rng.standard_normal((out, d))
    Y = np.sin(X @ teacher.T) + 0.1 * rng.standard_normal((steps, batch, out))
    theta0 = np.concatenate([rng.uniform(-1, 1, hidden * d + hidden) / np.sqrt(d),
                             rng.uniform(-1, 1, out * hidden + out) / np.sqrt(hidden)])
    return MLPGradients(theta0=theta0, X=X, Y=Y, hidden=hidden)
