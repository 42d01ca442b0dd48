"""vSGD: "No more pesky learning rates" (Schaul, Zhang & LeCun 2013), the "Fancy RMSProp"
of [Misra]: "computes a diagonal Hessian and uses something
similar to RMSProp … requires an additional forward-backward pass".

Per parameter i (the element-wise variant vSGD-l), with g the minibatch gradient and h an
estimate of the Hessian's diagonal, each step updates running averages with memory τ_i:

    ḡ ← (1 − 1/τ) ḡ + (1/τ) g          v̄ ← (1 − 1/τ) v̄ + (1/τ) g²
    h̄ ← (1 − 1/τ) h̄ + (1/τ) h
    η* = ḡ² / (h̄ v̄)                     (the learning rate that minimizes the expected loss
                                          of a noisy quadratic: curvature × noise)
    τ ← (1 − ḡ²/v̄) τ + 1                 (short memory when the gradient is consistent)
    θ ← θ − η* g

The curvature h here is |v ⊙ Hv| with Rademacher v — one Hessian-vector product on the
same graph as the gradient (E[v ⊙ Hv] = diag H) — in place of the paper's bbprop
(Gauss-Newton diagonal); the absolute value keeps it positive like bbprop's.
Slow start (the paper's initialization): the first ``init_steps`` = n₀ steps only average
g, g² and h (no update); then v̄ and h̄ are overestimated by ``slow_start`` = C and τ = n₀.
``eps`` guards the divisions.  No learning rate: ``lr`` only scales η* (default 1).
"""

from __future__ import annotations

from .. import backend as B
from ..curvature.dense import rademacher as _rademacher
from ..curvature.hvp import HessianOperator
from .base import Optimizer, check_positive
from .second_order_common import LOSS_CLOSURE, require_closure


class VSGD(Optimizer):
    """VSGD(params, lr=1.0, init_steps=10, slow_start=2.0, eps=1e-12, rng=None).

    ``opt.step(closure=loss_fn)``; ``rng`` is a NumPy Generator for the Rademacher probes
    (default: the package's host generator).  ``opt.state["learning_rate"]`` holds η*.
    """

    closure_contract = LOSS_CLOSURE   # step(closure=loss_fn): the closure must not call backward

    def __init__(self, params, lr=1.0, init_steps=10, slow_start=2.0, eps=1e-12, rng=None):
        if int(init_steps) != init_steps or init_steps < 1:
            raise ValueError(f"invalid init_steps: {init_steps!r} (expected a positive integer)")
        check_positive("slow_start", slow_start)
        check_positive("eps", eps)
        super().__init__(params, lr, init_steps=int(init_steps), slow_start=slow_start, eps=eps)
        self.rng = rng
        self.scalars["seen"] = 0

    def _gradient_and_curvature(self, loss_fn):
        op = HessianOperator(loss_fn, self.params)
        rng = B.host_rng() if self.rng is None else self.rng
        v = _rademacher(rng, op.n, op.dtype)
        return op.loss, op.gradient, B.array_module(v).abs(v * op(v))

    def step(self, grad=None, closure=None):
        if grad is not None:
            raise ValueError("VSGD.step takes closure=loss_fn only: it needs an HVP for the curvature")
        loss_fn = require_closure(self, closure)
        loss, g, h = self._gradient_and_curvature(loss_fn)
        if not self._check_finite(g):
            self.skipped_steps += 1
            return loss
        hp = self.hyper
        g_bar, v_bar, h_bar = self.zeros_state("g_bar"), self.zeros_state("v_bar"), self.zeros_state("h_bar")
        n0 = hp["init_steps"]
        if self.scalars["seen"] < n0:  # slow start: average the first n₀ samples, no update
            self.scalars["seen"] += 1
            g_bar += g / n0
            v_bar += g * g / n0
            h_bar += h / n0
            if self.scalars["seen"] == n0:
                v_bar *= hp["slow_start"]
                h_bar *= hp["slow_start"]
                self.zeros_state("tau", fill=float(n0))
            return loss
        self._update_with_curvature(g, h)
        self.step_count += 1
        return loss

    def _update_with_curvature(self, g, h):
        st, eps = self.state, self.hyper["eps"]
        g_bar, v_bar, h_bar, tau = st["g_bar"], st["v_bar"], st["h_bar"], st["tau"]
        inv_tau = 1.0 / tau
        g_bar += inv_tau * (g - g_bar)            # ḡ ← (1 − 1/τ)ḡ + g/τ
        v_bar += inv_tau * (g * g - v_bar)        # v̄ ← (1 − 1/τ)v̄ + g²/τ
        h_bar += inv_tau * (h - h_bar)            # h̄ ← (1 − 1/τ)h̄ + h/τ
        g2 = g_bar * g_bar
        eta = g2 / (h_bar * v_bar + eps)          # η* = ḡ²/(h̄ v̄)
        tau *= 1.0 - g2 / (v_bar + eps)           # τ ← (1 − ḡ²/v̄)τ + 1
        tau += 1.0
        st["learning_rate"] = eta
        self.params.data[...] -= self.lr_vector() * eta * g
