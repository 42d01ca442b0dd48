"""SGD with the Barzilai–Borwein step size (SGD-BB), the alternative [Kolasiński 2018, §3.1] tried.

[Kolasiński 2018, §3.1] cites Tan, Ma, Dai, Qian, "Barzilai-Borwein
Step Size for Stochastic Gradient Descent" (NIPS 2016, arXiv:1605.04131): the step size
is re-estimated once per epoch of m inner steps from the epoch-start iterates x̃ and
exponentially averaged stochastic gradients ĝ:

  inner step t of epoch k:  x_{t+1} = x_t − η_k ∇f_{i_t}(x_t)
                            ĝ_{k+1} = β ∇f_{i_t}(x_t) + (1 − β) ĝ_{k+1}      (ĝ_{k+1} = 0 at t = 0)
  epoch start k ≥ 2:        s = x̃_k − x̃_{k−1},  y = ĝ_k − ĝ_{k−1}
                            η_k = ‖s‖₂² / |sᵀy| / m
  smoothing (the paper's §3.2, optional):
                            c_k = c_{k−1}^{(k−2)/(k−1)} (η_k φ(k))^{1/(k−1)},  c_1 = 1
                            η_k ← c_k / φ(k)          (a geometric mean of η_j φ(j), decaying like 1/φ)

Epochs 0 and 1 use the initial step ``lr`` (there is no ĝ_{k−1} yet).  φ(k) = k and
β = 10/m are the defaults of the authors' reference code.  If sᵀy = 0 (no movement)
the previous η is kept.
"""

from __future__ import annotations

from .. import backend as B
from .base import Optimizer
from .checks import check_int, check_positive


def bb_step(s, y, m):
    """η = ‖s‖₂² / |sᵀy| / m (Tan et al. 2016, SGD-BB); None when sᵀy = 0.
    Two scalars leave the device here (B.item), once per epoch: η is a host number."""
    xp = B.array_module(s, y)
    sy = abs(B.item(xp.sum(s * y)))
    if sy == 0:
        return None
    return B.item(xp.sum(s * s)) / sy / m


def smooth_step(eta, c_prev, k, phi):
    """c_k = c_{k−1}^{(k−2)/(k−1)} (η_k φ(k))^{1/(k−1)}, η̃_k = c_k/φ(k) (k ≥ 2).  Returns (η̃_k, c_k)."""
    c = c_prev ** ((k - 2) / (k - 1)) * (eta * phi(k)) ** (1 / (k - 1))
    return c / phi(k), c


def _identity_phi(k):
    return k


class SGDBB(Optimizer):
    """SGD whose step size is the Barzilai–Borwein estimate of Tan et al. (2016).

    Arguments → the paper's symbols:
      lr               η_0 (= η_1), the step size of the first two epochs (scalar)
      steps_per_epoch  m, the inner steps between two step-size updates
      beta             β ∈ (0, 1], the gradient averaging weight (default 10/m, capped at 1)
      smoothing        apply the paper's smoothing of η_k (default True)
      phi              φ(k) of the smoothing (default φ(k) = k)
    The current step size is ``scalars["eta"]``.

    On a device backend a step makes 0 device→host transfers, except the step that
    recomputes η (the first of each epoch from the third on): 2, sᵀy and sᵀs (the deferred
    gradient checks travel with them).
    """

    lr_schedulable = False      # η_k comes from the Barzilai-Borwein rule after η_0 = lr

    def __init__(self, params, lr, steps_per_epoch, beta=None, smoothing=True, phi=None,
                 skip_nonfinite=False):
        if isinstance(lr, (list, tuple)):
            raise TypeError("invalid lr: SGDBB has one step size for all parameters (a scalar)")
        check_positive("lr", lr)
        check_int("steps_per_epoch", steps_per_epoch, 1)
        beta = min(1.0, 10 / steps_per_epoch) if beta is None else beta
        check_positive("beta", beta)
        if beta > 1:
            raise ValueError(f"invalid beta: {beta!r} (expected 0 < beta <= 1)")
        if phi is not None and not callable(phi):
            raise TypeError(f"SGDBB: phi must be a callable k -> φ(k), got {type(phi).__name__}")
        super().__init__(params, lr, skip_nonfinite=skip_nonfinite, steps_per_epoch=steps_per_epoch,
                         beta=beta, smoothing=bool(smoothing))
        self.phi = _identity_phi if phi is None else phi
        self.scalars.update(eta=float(lr), c=1.0)
        self.eta_history = []     # η_k of every epoch started so far (for plots)

    def _start_epoch(self, k: int) -> None:
        """At the start of epoch k: store x̃_k and ĝ_k, update η_k (k ≥ 2), reset ĝ."""
        g_acc = self.zeros_state("g_hat")                 # ĝ_k, accumulated during epoch k−1
        if k >= 2:
            s = self.params.data - self.state["x_tilde"]  # x̃_k − x̃_{k−1}
            y = g_acc - self.state["g_hat_prev"]          # ĝ_k − ĝ_{k−1}
            eta = bb_step(s, y, self.hyper["steps_per_epoch"])
            if eta is not None:
                if self.hyper["smoothing"]:
                    eta, self.scalars["c"] = smooth_step(eta, self.scalars["c"], k, self.phi)
                self.scalars["eta"] = eta
        self.zeros_state("x_tilde")[...] = self.params.data
        self.zeros_state("g_hat_prev")[...] = g_acc
        g_acc[...] = 0
        self.eta_history.append(self.scalars["eta"])

    def _update(self, g) -> None:
        m = self.hyper["steps_per_epoch"]
        if self.step_count % m == 0:
            self._start_epoch(self.step_count // m)
        beta = self.hyper["beta"]
        self.params.data -= self.scalars["eta"] * g       # x_{t+1} = x_t − η_k ∇f_{i_t}(x_t)
        g_hat = self.state["g_hat"]
        g_hat *= 1 - beta                                 # ĝ = β∇f + (1 − β)ĝ
        g_hat += beta * g
