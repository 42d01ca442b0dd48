"""Pieces shared by the curvature-using optimizers: the closure, loss values, line search.

The closure contract of Newton, NewtonCG, ScaledConjugateGradient, VSGD and ESGD:
``opt.step(closure=loss_fn)`` where ``loss_fn()`` returns the scalar loss Tensor at the
current ``params.data`` (the model's parameters are views into it) and does *not* call
backward — the optimizer takes the gradient (and HVPs) itself, and may call the closure
several times per step (line searches), each time after writing a trial point into
``params.data``.  A closure whose value depends on hidden state it changes (a batch-norm
layer in train mode updating running statistics, dropout) then sees that state change on
every call; use eval mode or fixed masks for line searches that must compare values.
"""

from __future__ import annotations

from .. import backend as B
from ..tensor import Tensor, no_grad

# ``closure_contract`` class attribute: how ``step`` uses its closure, so that a generic loop
# (:func:`tinygrad_ngd.training.train_step`) can build the right one.  An optimizer without
# the attribute takes PyTorch's closure (zero_grad, loss, backward, return the loss).
LOSS_CLOSURE = "loss"          # closure() returns the loss and does not call backward
OUTPUT_CLOSURE = "outputs"     # step(output_fn, targets): the loss is built from the network output


def require_closure(opt, closure):
    if closure is None or not callable(closure):
        raise ValueError(f"{type(opt).__name__}.step needs closure=loss_fn, a callable returning the "
                         f"scalar loss Tensor at the current params.data (it must not call backward)")
    return closure


def loss_value(loss_fn) -> float:
    """f at the current ``params.data`` as a Python float (no graph recorded).

    The scalar leaves the device on purpose: line searches and trust-region ratios are
    control flow on it.
    """
    with no_grad():
        loss = loss_fn()
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        raise ValueError(f"the closure must return a scalar loss Tensor, got "
                         f"{type(loss).__name__} of shape {getattr(loss, 'shape', None)}")
    return B.item(loss.data)


def loss_at(loss_fn, params, theta) -> float:
    """f(theta): write ``theta`` into ``params.data`` and evaluate."""
    params.data[...] = theta
    return loss_value(loss_fn)


def armijo_backtracking(loss_fn, params, theta, f0: float, slope: float, direction, t0: float = 1.0,
                        c: float = 1e-4, shrink: float = 0.5, max_steps: int = 30):
    """Backtracking line search (Nocedal & Wright, Algorithm 3.1): the first t = t0·shrinkᵏ
    with f(θ + t d) ≤ f(θ) + c·t·gᵀd (Armijo's sufficient decrease; ``slope`` = gᵀd < 0).

    Returns (t, f(θ + t d), evaluations); t = 0.0 and f0 when no trial satisfies it (the
    parameters are then left at θ).  ``params.data`` holds θ + t d on return.
    """
    t = t0
    for k in range(1, max_steps + 1):
        f = loss_at(loss_fn, params, theta + t * direction)
        if f <= f0 + c * t * slope:
            return t, f, k
        t *= shrink
    params.data[...] = theta
    return 0.0, f0, max_steps
