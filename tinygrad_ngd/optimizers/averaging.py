"""Iterate averaging: Polyak averaging ([Ravasi]) and averaged SGD (ASGD).

[Ravasi, "Polyak Averaging"]: instead of the last iterate,
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

As in PyTorch, η₁ is the lr at the *first step* (not at construction: a schedule that
lowers lr before step 1 is obeyed) and η_{t+1} uses the lr of step t.  A per-block lr
gives each block its own η (PyTorch's per-group ``eta``).

Symbols: lr = η₀; lambd = λ; alpha = α (decay power); t0 = t₀; state ``ax`` = ā.
"""

from __future__ import annotations

import contextlib

from .. import backend as B
from .base import Optimizer
from .checks import check_int, check_nonnegative


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
    """Average of the last ``window`` iterates ([Ravasi]).  Call :meth:`update` after each
    optimizer step; :meth:`average` returns θ̄; ``with avg.swapped(): evaluate()``."""

    def __init__(self, params, window: int):
        check_int("window (N)", window, 1)
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


def asgd_update(theta, g, ax, *, eta, mu, lambd, weight_decay, maximize) -> None:
    """One averaged-SGD step in place [Polyak & Juditsky 1992; Bottou 2012; PyTorch ``ASGD``]."""
    if maximize:
        g = -g                                  # maximize f: ascend along +g
    if weight_decay:
        g = g + weight_decay * theta            # L2: g ← g + λ_wd·θ
    theta *= 1 - lambd * eta                    # θ ← θ·(1 − λ·η_t)
    theta -= eta * g                            #     − η_t·g
    if mu != 1:
        ax += mu * (theta - ax)                 # ā ← ā + μ_t·(θ − ā)
    else:
        ax[...] = theta                         # μ_t = 1: ā = θ


class ASGD(Optimizer):
    """ASGD(params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, maximize=False);
    ``averaged()`` is ā and ``swapped()`` evaluates there.  The update is :func:`asgd_update`;
    the rates η_t (one per block for a per-block lr) and μ_t are ``scalars["eta"]``/``["mu"]``."""

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0,
                 maximize=False, skip_nonfinite=False):
        check_nonnegative("lambd", lambd)
        check_nonnegative("alpha", alpha)
        check_nonnegative("t0", t0)
        check_nonnegative("weight_decay", weight_decay)
        super().__init__(params, lr, skip_nonfinite, lambd=lambd, alpha=alpha, t0=t0,
                         weight_decay=weight_decay, maximize=bool(maximize))

    def _eta_schedule(self, t):
        """η_{t+1} = lr/(1 + λ·lr·t)^α from the current lr (a float, or one per block)."""
        h = self.hyper
        lrs = h["lr"] if isinstance(h["lr"], (list, tuple)) else [h["lr"]]
        etas = [lr / ((1 + h["lambd"] * lr * t) ** h["alpha"]) for lr in lrs]
        return etas if isinstance(h["lr"], (list, tuple)) else etas[0]

    def _update(self, g) -> None:
        h = self.hyper
        t = self.step_count + 1
        eta = self.scalars.get("eta", h["lr"])          # η₁ = the lr at the first step (PyTorch)
        if isinstance(eta, (list, tuple)) != isinstance(h["lr"], (list, tuple)):
            eta = h["lr"]                                # lr switched between scalar and per block
        eta_vector = self.per_block(eta) if isinstance(eta, (list, tuple)) else eta
        self.apply(asgd_update, {"theta": self.params.data, "g": g, "ax": self.zeros_state("ax")},
                   eta=eta_vector, mu=self.scalars.get("mu", 1.0), lambd=h["lambd"],
                   weight_decay=h["weight_decay"], maximize=h["maximize"])
        self.scalars["eta"] = self._eta_schedule(t)
        self.scalars["mu"] = 1 / max(1, t - h["t0"])

    def averaged(self):
        """ā (the parameters themselves before the first step)."""
        return self.state["ax"] if "ax" in self.state else self.params.data.copy()

    def swapped(self):
        return evaluate_at(self.params, self.averaged().copy())
