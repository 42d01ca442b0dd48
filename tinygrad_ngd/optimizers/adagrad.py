"""AdaGrad (Duchi et al. 2011): note 004 (004_afb8093925c778b0.txt, "AdaGrad"),
note 002 ("Adaptive Gradient (AdaGrad)"), note 003 ("AdaGrad"), note 001 (AdaGrad
baseline of §4, 001_98c6ef706a98c477.txt).

Note 004:
    r_{i+1} = r_i + g_{i+1}·g_{i+1}                 (running sum of squared gradients)
    Δθ_{i+1} = −α / (δ + √r_{i+1}) · g_{i+1},        δ = 1e-6 in the note

PyTorch (``torch.optim.Adagrad``) is the same rule with δ = eps = 1e-10 by default, plus
``lr_decay`` (α_t = α / (1 + (t − 1)·lr_decay)), ``initial_accumulator_value`` (r₀) and
coupled ``weight_decay``.  ``eps_mode`` says where ε goes:

* ``"outside_sqrt"`` (default): α·g / (√r + ε) — PyTorch, Keras, note 004 (pass
  ``eps=1e-6`` for the note's δ);
* ``"none"``: α·g / √r — notes 002 and 003 write no ε (a coordinate whose gradients
  have all been 0 then divides 0 by 0).

Symbols: lr = α (note 004, 002) = η (note 003); eps = δ; state ``sum`` = r.
"""

from __future__ import annotations

from .. import backend as B
from .base import Optimizer, check_eps, check_nonnegative
from .clipping import regularized_gradient

_EPS_MODES = ("outside_sqrt", "none")


def check_eps_mode(eps_mode, allowed):
    if eps_mode not in allowed:
        raise ValueError(f"invalid eps_mode: {eps_mode!r} (expected one of {allowed})")


class Adagrad(Optimizer):
    """Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
    eps=1e-10, maximize=False, eps_mode="outside_sqrt")."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, maximize=False, eps_mode="outside_sqrt", skip_nonfinite=False):
        check_nonnegative("lr_decay", lr_decay)
        check_nonnegative("weight_decay", weight_decay)
        check_nonnegative("initial_accumulator_value", initial_accumulator_value)
        check_eps("eps", eps, params.dtype)
        check_eps_mode(eps_mode, _EPS_MODES)
        super().__init__(params, lr, skip_nonfinite, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps,
                         maximize=bool(maximize), eps_mode=eps_mode)
        self.zeros_state("sum", fill=initial_accumulator_value)    # r₀

    def _update(self, g) -> None:
        h = self.hyper
        t = self.step_count + 1
        clr = self.lr_vector() / (1 + (t - 1) * h["lr_decay"])   # α_t
        theta = self.params.data
        xp = B.array_module(theta)
        r = self.state["sum"]
        for s in self.chunks():
            d = regularized_gradient(g[s], theta[s], h["weight_decay"], h["maximize"],
                                     out=self.scratch("d", g[s]))
            tmp = self.scratch("tmp", g[s])
            xp.multiply(d, d, out=tmp)
            xp.add(r[s], tmp, out=r[s])                   # r ← r + g·g
            xp.sqrt(r[s], out=tmp)
            if h["eps_mode"] == "outside_sqrt":
                xp.add(tmp, h["eps"], out=tmp)            # δ + √r
            xp.divide(d, tmp, out=tmp)
            xp.multiply(tmp, self.at(clr, s), out=tmp)
            xp.subtract(theta[s], tmp, out=theta[s])      # θ ← θ − α·g/(δ + √r)
