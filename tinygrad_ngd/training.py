"""A minimal training loop: batches → loss → backward → optimizer step → history.

One step is the stochastic-gradient iteration every note starts from (e.g. [Yu et al. 2017]
, Algorithm 1: compute the mini-batch gradient, then let the
optimizer turn it into an update).  The loop is written as a closure handed to
``optimizer.step(closure=...)`` so methods that re-evaluate the loss (line searches,
L-BFGS, second-gradient methods) need nothing special.  Later issues extend this file
(schedules, clipping, evaluation hooks); no progress bar.

On a device backend a training step of a first-order optimizer makes one device -> host
transfer: the logged loss, which also carries the deferred checks (non-finite gradient,
label range) and is fetched before the update, so a refused batch changes nothing (see
:func:`train_step` and ``tinygrad_ngd.backend.check``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import backend as B
from .tensor import no_grad


@dataclass
class History:
    """Per-step training losses and per-epoch means (Python floats)."""

    losses: list = field(default_factory=list)        # one entry per optimizer step
    epoch_losses: list = field(default_factory=list)  # mean training loss of each epoch
    eval_losses: list = field(default_factory=list)   # mean eval loss after each epoch (if given)

    @property
    def steps(self) -> int:
        return len(self.losses)

    def as_dict(self) -> dict:
        """JSON-able (for checkpoints' ``extra``)."""
        return {"losses": list(self.losses), "epoch_losses": list(self.epoch_losses),
                "eval_losses": list(self.eval_losses)}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls(list(d.get("losses", [])), list(d.get("epoch_losses", [])),
                   list(d.get("eval_losses", [])))


def _check_batch(batch, i):
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError(f"training: batch {i} must be an (inputs, targets) pair, "
                         f"got {type(batch).__name__}")
    return batch


def train_step(model, optimizer, loss_fn, x, y) -> float:
    """One step on the batch (x, y): zero the gradient, loss = loss_fn(model(x), y),
    backward (fills ``optimizer.params.grad``), optimizer step.

    Returns the loss at the parameters the step started from (the closure's first
    evaluation; a line search may evaluate it again at trial points).

    Host/device synchronization: for an optimizer whose closure calls backward (the
    first-order methods and their wrappers), the closure checks the gradient
    (``optimizer.check_gradient``) and then fetches the logged loss; on a device backend
    that one transfer also carries the deferred checks queued so far (the gradient's
    finiteness, ``cross_entropy``'s label range), so a refused input raises *before* the
    update and leaves the parameters as they were, and the whole step makes ONE device ->
    host transfer.  With ``skip_nonfinite=True`` the skip is decided on the host by the
    step itself: two transfers (that decision, then the loss).  Other optimizers check
    inside their own step (see their docstrings for their per-step transfers); the loss is
    fetched after it.

    The curvature methods that take the gradient themselves (Newton, NewtonCG,
    ScaledConjugateGradient, VSGD, ESGD: ``closure_contract = "loss"``) get a closure
    that only returns the loss.  NaturalGradient and HessianFree build their loss from the
    network output and targets, not from ``loss_fn``: they are refused with a ValueError
    saying how to call them."""
    contract = getattr(optimizer, "closure_contract", "backward")
    if contract == "outputs":
        raise ValueError(f"training: {type(optimizer).__name__} builds its loss (and its curvature) from "
                         f"the network output, so it cannot take loss_fn through train_step; step it "
                         f"directly, e.g. opt.step(lambda: model(x), y) (see its docstring)")
    check_first = (contract == "backward" and hasattr(optimizer, "check_gradient")
                   and not getattr(optimizer, "skip_nonfinite", False))
    evaluated, logged = [], []

    def closure():
        if contract == "backward":
            optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        if loss.size != 1:
            raise ValueError(f"training: loss_fn must return a scalar, got shape {loss.shape}")
        if contract == "backward":
            loss.backward()
        if check_first and not evaluated:
            # before the update: queue the gradient check, then one transfer brings the loss
            # and every pending check (raises here, the parameters untouched)
            optimizer.check_gradient(optimizer.params.grad)
            logged.append(B.item(loss.data))
        evaluated.append(loss)
        return loss

    optimizer.step(closure=closure)
    if not evaluated:
        raise RuntimeError(f"training: {type(optimizer).__name__}.step(closure=...) never called "
                           f"the closure, so no gradient was computed")
    if logged:
        return logged[0]
    # one device -> host transfer for the history (with any pending checks)
    return B.item(evaluated[0].data)


def train_epoch(model, optimizer, loss_fn, batches, history: History | None = None) -> float:
    """One pass over ``batches`` (an iterable of (x, y)) in training mode; appends each
    step's loss to ``history.losses``.  Returns the epoch's mean loss."""
    model.train()
    total, count = 0.0, 0
    for i, batch in enumerate(batches):
        x, y = _check_batch(batch, i)
        loss = train_step(model, optimizer, loss_fn, x, y)
        if history is not None:
            history.losses.append(loss)
        total += loss
        count += 1
    if count == 0:
        raise ValueError("training: the batches iterable produced no batch")
    return total / count


def evaluate(model, loss_fn, batches) -> float:
    """Mean of loss_fn over ``batches`` in eval mode without a graph, weighted by batch size."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with no_grad():
            for i, batch in enumerate(batches):
                x, y = _check_batch(batch, i)
                n = len(x)
                total += B.item(loss_fn(model(x), y).data) * n  # one sync per batch, for the mean
                count += n
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate: the batches iterable produced no batch")
    return total / count


def fit(model, optimizer, loss_fn, batches, epochs: int = 1, eval_batches=None,
        history: History | None = None) -> History:
    """Train for ``epochs`` passes over ``batches`` and return the :class:`History`.

    ``batches`` must be re-iterable (a list or a DataLoader), or a callable
    ``epoch -> iterable`` (e.g. to reshuffle); ``eval_batches`` likewise, evaluated after
    every epoch.  ``loss_fn(outputs, targets)`` returns a scalar Tensor (e.g.
    ``tg.functional.cross_entropy``).  A given ``history`` is extended.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
    history = History() if history is None else history

    def batches_for(source, epoch):
        return source(epoch) if callable(source) else source

    for epoch in range(epochs):
        history.epoch_losses.append(train_epoch(model, optimizer, loss_fn,
                                                batches_for(batches, epoch), history))
        if eval_batches is not None:
            history.eval_losses.append(evaluate(model, loss_fn, batches_for(eval_batches, epoch)))
    return history
