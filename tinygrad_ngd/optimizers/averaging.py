"""Iterate averaging: Polyak averaging (note 004) and averaged SGD (ASGD).

Note 004 (004_afb8093925c778b0.txt, "Polyak Averaging"): instead of the last iterate,
use the average of the last N iterates

    θ̄ = (1/N)·Σ_{i=0}^{N−1} θ_{N_it − i}

which removes part of the bouncing around a valley.  :class:`PolyakAverage` keeps the
last N iterates (an N × n ring: exact, memory N·n) and :meth:`PolyakAverage.swapped`
evaluates the model at θ̄ and swaps the training iterate back afterwards.

:class:`ASGD` is ``torch.optim.ASGD`` (Polyak & Juditsky 1992; Bottou 2012): SGD with a
decaying rate and a running average ā of all iterates after step t₀,

    θ ← θ·(1 − λ·η_t) − η_t·g
    ā ← ā + μ_t·(θ − ā)                 (ā = θ while μ_t = 1, i.e. up to step t₀ + 1)
    η_{t+1} = lr/(1 + λ·lr·t)^α,   μ_{t+1} = 1/max(1, t − t₀)

Symbols: lr = η₀; lambd = λ; alpha = α (decay power); t0 = t₀; state ``ax`` = ā.
"""

from __future__ import annotations

import contextlib

from .. import backend as B
from .base import Optimizer, check_nonnegative
from .clipping import regularized_gradient


@contextlib.contextmanager
def evaluate_at(params, theta):
    """Temporarily copy the flat vector ``theta`` into ``params.data`` (the layers see it);
    restore the original values exactly on exit."""
    params.check_vector(theta, "theta")
    saved = params.data.copy()
    params.data[...] = theta
    try:
        yield params
    finally:
        params.data[...] = saved


class PolyakAverage:
    """Average of the last ``window`` iterates (note 004).  Call :meth:`update` after each
    optimizer step; :meth:`average` returns θ̄; ``with avg.swapped(): evaluate()``."""

    def __init__(self, params, window: int):
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise ValueError(f"invalid window: {window!r} (expected an integer N >= 1)")
        self.params = params
        self.window = window
        xp = B.array_module(params.data)
        self.history = xp.zeros((window, params.numel), dtype=params.dtype)
        self.count = 0                                  # iterates recorded so far

    def update(self) -> None:
        """Record the current iterate θ_{N_it} (overwriting the oldest of the window)."""
        self.history[self.count % self.window] = self.params.data
        self.count += 1

    def average(self):
        """θ̄ = mean of the last min(count, N) recorded iterates."""
        if self.count == 0:
            raise ValueError("PolyakAverage.average: no iterate recorded yet (call update())")
        n = min(self.count, self.window)
        return self.history[:n].mean(axis=0)

    def swapped(self):
        """Context manager: parameters hold θ̄ inside, the training iterate after."""
        return evaluate_at(self.params, self.average())


class ASGD(Optimizer):
    """ASGD(params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, maximize=False);
    ``averaged()`` is ā and ``swapped()`` evaluates there."""

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0,
                 maximize=False, skip_nonfinite=False):
        if isinstance(lr, (list, tuple)):
            raise ValueError("invalid lr: ASGD takes one scalar lr (its rate schedule η_t is global)")  # noqa: TRY004
        check_nonnegative("lambd", lambd)
        check_nonnegative("alpha", alpha)
        check_nonnegative("t0", t0)
        check_nonnegative("weight_decay", weight_decay)
        super().__init__(params, lr, skip_nonfinite, lambd=lambd, alpha=alpha, t0=t0,
                         weight_decay=weight_decay, maximize=bool(maximize))
        self.scalars.update(eta=float(lr), mu=1.0)

    def _update(self, g) -> None:
        h = self.hyper
        t = self.step_count + 1
        eta, mu = self.scalars["eta"], self.scalars["mu"]
        theta = self.params.data
        ax = self.zeros_state("ax")
        for s in self.chunks():
            d = regularized_gradient(g[s], theta[s], h["weight_decay"], h["maximize"],
                                     out=self.scratch("d", g[s]))
            theta[s] *= 1 - h["lambd"] * eta               # decay term
            theta[s] -= eta * d
            if mu != 1:
                ax[s] += mu * (theta[s] - ax[s])            # ā ← ā + μ(θ − ā)
            else:
                ax[s] = theta[s]
        self.scalars["eta"] = h["lr"] / ((1 + h["lambd"] * h["lr"] * t) ** h["alpha"])
        self.scalars["mu"] = 1 / max(1, t - h["t0"])

    def averaged(self):
        """ā (the parameters themselves before the first step)."""
        return self.state["ax"] if "ax" in self.state else self.params.data.copy()

    def swapped(self):
        return evaluate_at(self.params, self.averaged().copy())
