"""Stochastic gradient descent with momentum and Nesterov momentum, in two conventions.

``form="pytorch"`` (default, matches ``torch.optim.SGD``): a buffer b accumulates raw
gradients and the learning rate multiplies it at use,

    b ← μ·b + (1 − dampening)·g      (b₁ = g on the first step)
    θ ← θ − lr·b                     (Nesterov: θ ← θ − lr·(g + μ·b))

``form="notes"`` ([Misra, "SGD + Momentum"]; [Ravasi],
the velocity v of the "Momentum" section with its sign flipped;
Sutskever et al. 2013): the learning rate goes *inside* the velocity,

    v_{t+1} = α·f′(θ_t) + μ·v_t,     θ_{t+1} = θ_t − v_{t+1}

The two agree only while lr is constant (v = lr·b).  Witness: g ≡ 1, μ = 0.9, lr 0.1
then 0.01 gives θ₂ = −0.119 in PyTorch's form and −0.200 in the notes' form.

Nesterov (NAG, [Misra, "NAG"]; [Ravasi, "Nesterov momentum"]; [Soto, "NAG"]):
the notes evaluate the gradient at the look-ahead point,

    θ_{t+½} = θ_t − μ·v_t,   v_{t+1} = α·f′(θ_{t+½}) + μ·v_t,   θ_{t+1} = θ_t − v_{t+1}

so ``form="notes", nesterov=True`` needs a ``closure`` that re-evaluates the gradient
(it is called with the parameters moved to θ − μv, which are restored afterwards).
PyTorch's ``nesterov=True`` is the same method written in the look-ahead variable
θ̃ = θ − μv: its iterates are the notes' look-ahead points (at constant lr, dampening 0).

Symbols: lr = α ([Misra]) = η ([Soto]); momentum = μ ([Misra]) = γ ([Ravasi]) = τ
([Soto]); weight_decay = the α of [Soto]'s regularizer α·½‖W‖².
"""

from __future__ import annotations

from ..tensor import enable_grad
from .base import Optimizer
from .checks import check_choice, check_nonnegative

_FORMS = ("pytorch", "notes")


def sgd_update(theta, g, b, *, lr, momentum, dampening, weight_decay, nesterov, maximize,
               first) -> None:
    """One SGD step in place, PyTorch's form (``torch.optim.SGD``): lr multiplies the buffer."""
    if maximize:
        g = -g                                          # maximize f: ascend along +g
    if weight_decay:
        g = g + weight_decay * theta                    # L2: g ← g + λθ  ([Soto] αΩ(W), Ω = ½‖W‖²)
    if momentum == 0:
        theta -= lr * g                                 # θ ← θ − α·g  ([Misra] Vanilla SGD)
        return
    if first:
        b[...] = g                                      # b₁ = g
    else:
        b[...] = momentum * b + (1 - dampening) * g     # b ← μb + (1 − dampening)g
    if nesterov:
        theta -= lr * (g + momentum * b)                # θ ← θ − lr·(g + μb)  (look-ahead variable)
    else:
        theta -= lr * b                                 # θ ← θ − lr·b


def sgd_velocity_update(theta, g, v, *, lr, momentum, weight_decay, maximize) -> None:
    """One SGD step in place, the notes' form [Misra, SGD + Momentum / NAG; Ravasi, Momentum]:
    the learning rate goes inside the velocity (for NAG, g was taken at θ − μv)."""
    if maximize:
        g = -g                                          # maximize f: ascend along +g
    if weight_decay:
        g = g + weight_decay * theta                    # L2: g ← g + λθ
    v[...] = lr * g + momentum * v                      # v_{t+1} = α·f′(θ) + μ·v_t
    theta -= v                                          # θ_{t+1} = θ_t − v_{t+1}


class SGD(Optimizer):
    """SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
    maximize=False, form="pytorch")  — see the module docstring for both forms; the updates
    are :func:`sgd_update` (PyTorch) and :func:`sgd_velocity_update` (the notes)."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False, form="pytorch", skip_nonfinite=False):
        check_nonnegative("momentum", momentum)
        check_nonnegative("dampening", dampening)
        check_nonnegative("weight_decay", weight_decay)
        check_choice("form", form, _FORMS)
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
        common = {"lr": self.lr_vector(), "momentum": h["momentum"], "weight_decay": h["weight_decay"],
                  "maximize": h["maximize"]}
        if h["form"] == "notes":
            arrays = {"theta": self.params.data, "g": g, "v": self.zeros_state("velocity")}
            return self.apply(sgd_velocity_update, arrays, **common)
        first = h["momentum"] != 0 and "momentum_buffer" not in self.state
        buf = self.zeros_state("momentum_buffer") if h["momentum"] != 0 else None
        return self.apply(sgd_update, {"theta": self.params.data, "g": g, "b": buf}, **common,
                          dampening=h["dampening"], nesterov=h["nesterov"], first=first)
