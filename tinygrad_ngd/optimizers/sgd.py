"""Stochastic gradient descent with momentum and Nesterov momentum, in two conventions.

``form="pytorch"`` (default, matches ``torch.optim.SGD``): a buffer b accumulates raw
gradients and the learning rate multiplies it at use,

    b ← μ·b + (1 − dampening)·g      (b₁ = g on the first step)
    θ ← θ − lr·b                     (Nesterov: θ ← θ − lr·(g + μ·b))

``form="notes"`` (note 002, 002_3de7ef65372a02f2.txt, "SGD + Momentum"; note 004,
004_afb8093925c778b0.txt, the velocity v of the "Momentum" section with its sign flipped;
Sutskever et al. 2013): the learning rate goes *inside* the velocity,

    v_{t+1} = α·f′(θ_t) + μ·v_t,     θ_{t+1} = θ_t − v_{t+1}

The two agree only while lr is constant (v = lr·b).  Witness: g ≡ 1, μ = 0.9, lr 0.1
then 0.01 gives θ₂ = −0.119 in PyTorch's form and −0.200 in the notes' form.

Nesterov (NAG, note 002 "NAG"; note 004 "Nesterov momentum"; note 003 "NAG"):
the notes evaluate the gradient at the look-ahead point,

    θ_{t+½} = θ_t − μ·v_t,   v_{t+1} = α·f′(θ_{t+½}) + μ·v_t,   θ_{t+1} = θ_t − v_{t+1}

so ``form="notes", nesterov=True`` needs a ``closure`` that re-evaluates the gradient
(it is called with the parameters moved to θ − μv, which are restored afterwards).
PyTorch's ``nesterov=True`` is the same method written in the look-ahead variable
θ̃ = θ − μv: its iterates are the notes' look-ahead points (at constant lr, dampening 0).

Symbols: lr = α (note 002) = η (note 003); momentum = μ (note 002) = γ (note 004) = τ
(note 003); weight_decay = the α of note 003's regularizer α·½‖W‖².
"""

from __future__ import annotations

from .. import backend as B
from ..tensor import enable_grad
from .base import Optimizer, check_nonnegative
from .clipping import regularized_gradient

_FORMS = ("pytorch", "notes")


class SGD(Optimizer):
    """SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
    maximize=False, form="pytorch")  — see the module docstring for both forms."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False, form="pytorch", skip_nonfinite=False):
        check_nonnegative("momentum", momentum)
        check_nonnegative("dampening", dampening)
        check_nonnegative("weight_decay", weight_decay)
        if form not in _FORMS:
            raise ValueError(f"invalid form: {form!r} (expected one of {_FORMS})")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("invalid nesterov=True: Nesterov momentum requires momentum > 0 "
                             f"and dampening = 0 (got momentum={momentum}, dampening={dampening})")
        if form == "notes" and dampening != 0:
            raise ValueError(f"invalid dampening: {dampening!r} with form='notes' (the notes' "
                             "velocity v = α·g + μ·v has no dampening)")
        super().__init__(params, lr, skip_nonfinite, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=bool(nesterov),
                         maximize=bool(maximize), form=form)

    # ------------------------------------------------------------------ look-ahead NAG
    def step(self, grad=None, closure=None):
        h = self.hyper
        if not (h["form"] == "notes" and h["nesterov"]):
            return super().step(grad=grad, closure=closure)
        if closure is None or grad is not None:
            raise ValueError("SGD(form='notes', nesterov=True).step needs closure= (and no grad=): "
                             "the gradient is evaluated at the look-ahead point θ − μ·v")
        theta = self.params.data
        saved = theta.copy()                 # restore exactly, not by adding μ·v back
        velocity = self.zeros_state("velocity")
        theta -= h["momentum"] * velocity    # θ_{t+½} = θ_t − μ·v_t (in place: layers see it)
        try:
            with enable_grad():
                loss = closure()             # fills params.grad with f′(θ_{t+½})
        finally:
            theta[...] = saved
        super().step()                       # v ← α·f′(θ_{t+½}) + μ·v;  θ ← θ − v
        return loss

    # ------------------------------------------------------------------ the update
    def _update(self, g) -> None:
        h = self.hyper
        lr = self.lr_vector()
        mu = h["momentum"]
        theta = self.params.data
        if h["form"] == "notes":
            return self._update_notes(g, lr, mu, theta)
        first = mu != 0 and "momentum_buffer" not in self.state
        buf = self.zeros_state("momentum_buffer") if mu != 0 else None
        for s in self.chunks():
            lr_s = self.at(lr, s)
            d = regularized_gradient(g[s], theta[s], h["weight_decay"], h["maximize"],
                                     out=self.scratch("d", g[s]))
            step = self.scratch("step", g[s])
            if mu == 0:
                _plain_step(theta[s], d, lr_s, step)
            else:
                _momentum_step(theta[s], d, buf[s], lr_s, mu, h["dampening"], h["nesterov"],
                               first, step)

    def _update_notes(self, g, lr, mu, theta) -> None:
        h = self.hyper
        velocity = self.zeros_state("velocity")
        for s in self.chunks():
            lr_s = self.at(lr, s)
            d = regularized_gradient(g[s], theta[s], h["weight_decay"], h["maximize"],
                                     out=self.scratch("d", g[s]))
            _velocity_step(theta[s], d, velocity[s], lr_s, mu, self.scratch("step", g[s]))


def _plain_step(theta, d, lr, tmp) -> None:
    """θ ← θ − lr·g (note 002 "Vanilla SGD"; note 003 w ← w − η ∂L/∂w)."""
    xp = B.array_module(theta)
    xp.multiply(d, lr, out=tmp)
    xp.subtract(theta, tmp, out=theta)


def _momentum_step(theta, d, buf, lr, mu, dampening, nesterov, first, tmp) -> None:
    """PyTorch form: b ← μb + (1 − dampening)g (b = g at first); θ ← θ − lr·b (or g + μb)."""
    xp = B.array_module(theta)
    if first:
        buf[...] = d
    else:
        xp.multiply(buf, mu, out=buf)
        if dampening != 0:
            xp.multiply(d, 1 - dampening, out=tmp)
            xp.add(buf, tmp, out=buf)
        else:
            xp.add(buf, d, out=buf)
    if nesterov:
        xp.multiply(buf, mu, out=tmp)
        xp.add(tmp, d, out=tmp)          # g + μ·b
        xp.multiply(tmp, lr, out=tmp)
    else:
        xp.multiply(buf, lr, out=tmp)
    xp.subtract(theta, tmp, out=theta)


def _velocity_step(theta, d, velocity, lr, mu, tmp) -> None:
    """Notes form (note 002): v ← α·g + μ·v;  θ ← θ − v."""
    xp = B.array_module(theta)
    xp.multiply(velocity, mu, out=velocity)
    xp.multiply(d, lr, out=tmp)
    xp.add(velocity, tmp, out=velocity)
    xp.subtract(theta, velocity, out=theta)
