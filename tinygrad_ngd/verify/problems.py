"""Portable problems for golden trajectories: everything needed to reproduce a run is
stored as plain arrays, so another implementation (in any language) can replay it.

* :class:`FixedGradients` — θ₀ and a fixed gradient sequence g₀, g₁, … that does not
  depend on θ (checks the update arithmetic alone);
* :class:`NoisyQuadratic` — g_k(θ) = A(θ − θ*) + ξ_k with A symmetric positive
  definite, θ* and the noise ξ_k stored (checks the update inside a feedback loop:
  an error early on changes every later gradient).

Gradients are computed on the host in float64 NumPy and then cast to the run's dtype,
so two implementations fed the same θ get the same gradient bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
        return float(np.dot(self.grads[0], np.asarray(theta, dtype=np.float64)))

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
        e = np.asarray(theta, dtype=np.float64) - self.theta_star
        return self.A @ e + self.noise[k]

    def loss(self, theta) -> float:
        """½(θ − θ*)ᵀA(θ − θ*) (noise-free)."""
        e = np.asarray(theta, dtype=np.float64) - self.theta_star
        return float(0.5 * e @ (self.A @ e))

    def arrays(self) -> dict:
        return {"theta0": self.theta0, "A": self.A, "theta_star": self.theta_star, "noise": self.noise}


PROBLEMS = {"fixed_gradients": FixedGradients, "noisy_quadratic": NoisyQuadratic}


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


def fixed_gradients(n: int = 8, steps: int = 150, seed: int = 0) -> FixedGradients:
    """θ₀ and gradients drawn standard normal (seeded)."""
    rng = np.random.default_rng(seed)
    return FixedGradients(theta0=rng.standard_normal(n), grads=rng.standard_normal((steps, n)))
