"""The Optimizer base: an update rule on one flat parameter vector and its blocks.

Optimizers see only :class:`~tinygrad_ngd.flat.FlatParameters` (``params.data``,
``params.grad``, ``params.blocks``) and, when a method needs a second gradient or an HVP,
a closure.  Every update is done in place on ``params.data`` so the layers, whose
parameters are views into it, see the new values.

Each method's update is one *rule*: a function in the method's own module, written with
whole-array expressions in the source's notation (``m += (1 - beta1) * (g - m)``).  A
subclass implements ``_update(g)`` (``g`` the flat gradient, a backend array) by handing
its rule, the flat vectors and the hyper-parameters to :meth:`Optimizer.apply`, which
runs the rule on cache-sized chunk views (one chunk on a GPU): speed comes from this
structure, never from rewriting the formula.  Per-coordinate state lives as named flat
arrays in ``self.state`` (so ``state_dict`` needs no per-class code); hyper-parameters in
``self.hyper`` (PyTorch's names; each docstring maps them to the sources' symbols).
"""

from __future__ import annotations

import contextlib

from .. import backend as B
from ..flat import FlatParameters
from ..tensor import enable_grad
from .checks import check_eps, check_lr, check_nonnegative, check_positive, plain_number

# check_eps, check_nonnegative, check_positive live in .checks; they are re-exported here
# for the second-order optimizers that import them from .base.
__all__ = ["Optimizer", "check_eps", "check_nonnegative", "check_positive"]


class Optimizer:
    """Base of every optimizer: ``step(grad=None, closure=None)``, ``zero_grad()``,
    ``state_dict()`` / ``load_state_dict()``.

    ``lr`` may be a scalar or one value per block (``len(params.blocks)`` values).
    A non-finite gradient raises FloatingPointError naming the step and the block,
    unless ``skip_nonfinite=True`` (then the step is skipped and counted in
    ``self.skipped_steps``).  On a device backend the error is deferred to the next
    synchronization, as CUDA's device-side asserts are (see :meth:`check_gradient`): a
    first-order step makes no device -> host transfer (one with ``skip_nonfinite=True``).
    """

    #: False where ``lr`` is only a starting value the method then adapts itself (AdaptiveNGD's
    #: λ^(0), SGDBB's η₀) or does not use (SCG): a schedule given such an optimizer would move
    #: ``lr`` while the steps ignore it, so schedulers refuse it.
    lr_schedulable = True

    def __init__(self, params: FlatParameters, lr, skip_nonfinite: bool = False, **hyper):
        if not isinstance(params, FlatParameters):
            raise TypeError(f"{type(self).__name__}: params must be a FlatParameters, "
                            f"got {type(params).__name__}")
        self.params = params
        self._check_lr(lr)
        self.hyper = {"lr": plain_number(lr), **{k: plain_number(v) for k, v in hyper.items()}}
        self.state = {}          # name -> flat backend array (per-coordinate state)
        self.scalars = {}        # name -> Python number (per-optimizer scalar state)
        self.step_count = 0
        self.skip_nonfinite = bool(skip_nonfinite)
        self.skipped_steps = 0
        self._checked_gradient = None   # the array check_gradient passed, until the next step

    # ------------------------------------------------------------ hyper-parameters
    def _check_lr(self, lr):
        check_lr(lr, len(self.params.blocks))

    @property
    def lr(self):
        return self.hyper["lr"]

    @lr.setter
    def lr(self, value):
        self._check_lr(value)
        self.hyper["lr"] = plain_number(value)

    def lr_vector(self):
        """The learning rate as a scalar, or a flat array with each block's rate repeated."""
        lr = self.hyper["lr"]
        if not isinstance(lr, (list, tuple)):
            return lr
        return self.per_block(lr)

    def per_block(self, values):
        """A flat array holding ``values[b]`` on every coordinate of block b."""
        xp = B.array_module(self.params.data)
        out = xp.empty_like(self.params.data)
        for v, blk in zip(values, self.params.blocks):
            out[blk.slice] = v
        return out

    # ------------------------------------------------------------ state helpers
    def zeros_state(self, name: str, fill: float = 0.0):
        """Get (creating on first use) a flat state array the size of the parameters."""
        if name not in self.state:
            xp = B.array_module(self.params.data)
            self.state[name] = xp.full_like(self.params.data, fill)
        return self.state[name]

    # ------------------------------------------------------------ applying a rule
    # Bytes per chunk on the CPU: 64 KiB = 16K float32 (8K float64) elements.  A rule's
    # whole-array expressions then make temporaries of one chunk, which stay in cache and
    # come back from malloc's free list instead of fresh page-mapped allocations, while the
    # flat vectors stream through once.  (16K float32 measured fastest for plain expressions.)
    chunk_bytes = 1 << 16

    def chunks(self):
        """Slices covering the flat vector in cache-sized pieces (one slice on a GPU,
        where one kernel over everything is fastest)."""
        n = self.params.numel
        if B.array_module(self.params.data).__name__ != "numpy":
            return [slice(0, n)]
        step = max(1, self.chunk_bytes // self.params.data.itemsize)
        return [slice(i, min(i + step, n)) for i in range(0, n, step)]

    @staticmethod
    def at(value, s):
        """``value[s]`` for a flat array (a per-block lr vector), ``value`` for a scalar."""
        return value[s] if B.is_backend_array(value) else value

    def apply(self, rule, arrays: dict, **hyper) -> None:
        """Run an element-wise update ``rule(**arrays, **hyper)`` on each chunk in turn.

        ``arrays`` maps the rule's array arguments (θ, g, each state) to flat vectors (or
        None); the rule receives chunk *views* and updates them in place.  A ``hyper``
        value that is a flat array (a per-block lr from :meth:`lr_vector`) is chunked too;
        everything else is passed as is.  The result is the same as one call on the whole
        vectors: each coordinate's update reads only that coordinate.
        """
        for s in self.chunks():
            rule(**{k: None if a is None else a[s] for k, a in arrays.items()},
                 **{k: self.at(v, s) for k, v in hyper.items()})

    # ------------------------------------------------------------ the step
    def zero_grad(self) -> None:
        self._checked_gradient = None   # a new gradient is on its way: check it again
        self.params.zero_grad()

    def step(self, grad=None, closure=None):
        """One update.  ``grad``: a flat gradient (default ``params.grad``); ``closure``:
        a callable that re-evaluates the loss (and fills ``params.grad`` by backward);
        its return value is returned.

        The gradient is checked first (:meth:`check_gradient`), unless it is the very array
        that :meth:`check_gradient` passed since the last step (a loop that checks before
        the step, like :func:`tinygrad_ngd.training.train_step`, does not pay twice).  On a
        device backend a step makes no device -> host transfer (the check is deferred),
        except with ``skip_nonfinite=True``: one, to decide on the host whether to skip."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        g = self.params.grad if grad is None else self._as_grad(grad)
        checked, self._checked_gradient = self._checked_gradient, None
        if g is not checked and not self.check_gradient(g):
            self.skipped_steps += 1
            return loss
        self._checked_gradient = None
        self._update(g)
        self.step_count += 1
        return loss

    def check_gradient(self, g) -> bool:
        """Check that the flat gradient ``g`` is finite; True when the update may use it.

        * NumPy backend: immediate.  A non-finite ``g`` raises FloatingPointError naming
          the step and the blocks, or returns False with ``skip_nonfinite=True``.
        * Device backend, ``skip_nonfinite=False`` (default): *deferred*, like a CUDA
          device-side assert: the flag stays on the device (no transfer) and the error is
          raised at the next synchronization (``backend.item`` / ``to_numpy`` /
          ``sync_checks``); returns True.  Steps made before that synchronization may
          have updated the parameters with non-finite values; for an immediate check call
          ``tinygrad_ngd.backend.sync_checks()`` after the step (or after this method),
          or pass ``skip_nonfinite=True``.
        * Device backend, ``skip_nonfinite=True``: whether to skip is decided on the host:
          one device -> host transfer (which also reports any pending deferred check).
          The same, raising at once with the blocks named, under
          ``tinygrad_ngd.backend.set_immediate_checks(True)`` (for debugging).

        A ``g`` that passes is remembered until the next :meth:`step`, which then does not
        check it again: a loop can check the gradient and fetch the verdict together with
        its logged loss in one transfer *before* the update (so a refused gradient leaves
        the parameters as they were), then step.  Change ``g`` in between and call this
        again.  (A public method rather than a flag of ``step``, so ``step``'s signature
        stays PyTorch's.)"""
        self.params.check_backs_the_model(f"{type(self).__name__}.step")
        if B.is_numpy_array(g):
            ok = self._check_finite_on_host(g)
        else:
            xp = B.array_module(g)
            finite = xp.isfinite(g).all()           # exact, one pass; stays on the device
            if self.skip_nonfinite or B.immediate_checks():
                # decided on the host: the one sync of a skipping step (or of immediate mode)
                ok = bool(B.to_numpy(finite)) or self._raise_nonfinite(g)
            else:
                B.check(finite, self._deferred_nonfinite_message, FloatingPointError,
                        site=(self, "non-finite gradient"), index=self.step_count + 1)
                ok = True
        self._checked_gradient = g if ok else None
        return ok

    # subclasses' steps (second-order methods) call the check by this name
    _check_finite = check_gradient

    def _deferred_nonfinite_message(self, step) -> str:
        return (f"{type(self).__name__}: non-finite gradient at step {step}, reported at this "
                f"synchronization: on a device backend the check is deferred to the next host "
                f"transfer (as CUDA reports device-side asserts), so the parameters of the steps "
                f"since step {step} may have been updated with non-finite values; for an immediate "
                f"check call tinygrad_ngd.backend.sync_checks() after each step, or pass "
                f"skip_nonfinite=True to skip such steps (one host sync per step)")

    def _check_finite_on_host(self, g) -> bool:
        xp = B.array_module(g)
        # Fast path: g·g is finite only if every entry is (nan and inf propagate), and one
        # BLAS dot reads g once with no boolean temporary; overflow falls to the exact test.
        quiet = getattr(xp, "errstate", None)      # NumPy warns on the overflow
        with quiet(over="ignore", invalid="ignore") if quiet else contextlib.nullcontext():
            finite = bool(xp.isfinite(xp.dot(g, g))) or bool(xp.isfinite(g).all())
        return finite or self._raise_nonfinite(g)

    def _raise_nonfinite(self, g) -> bool:
        """False with ``skip_nonfinite=True``; else raise, naming the step and the blocks
        (on a device one more transfer per block: the error path only)."""
        if self.skip_nonfinite:
            return False
        xp = B.array_module(g)
        bad = [b.name for b in self.params.blocks if not bool(B.to_numpy(xp.isfinite(g[b.slice]).all()))]
        raise FloatingPointError(f"{type(self).__name__}: non-finite gradient at step "
                                 f"{self.step_count + 1} in block(s) {bad}; pass "
                                 f"skip_nonfinite=True to skip such steps")

    def _as_grad(self, grad):
        data = getattr(grad, "data", grad) if not B.is_backend_array(grad) else grad
        if B.is_numpy_array(data) and not B.is_placed(data):
            data = B.asarray(data)  # a host gradient on a device backend: one explicit copy
        if getattr(data, "shape", None) != (self.params.numel,):
            raise ValueError(f"{type(self).__name__}.step: grad has shape {getattr(data, 'shape', None)}, "
                             f"expected ({self.params.numel},) (the parameter count)")
        if not B.is_backend_array(data) or data.dtype.kind != "f":
            # like torch, which refuses integer gradients: an update is floating-point math
            kind = getattr(data, "dtype", type(data).__name__)
            raise TypeError(f"{type(self).__name__}.step: grad has dtype {kind}, "
                            f"expected a floating-point array (the parameters are {self.params.dtype})")
        return data

    def _update(self, g) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """The class name, hyper-parameters, step counters and state arrays (copies) in one dict."""
        return {"optimizer": type(self).__name__, "hyper": dict(self.hyper), "step_count": self.step_count,
                "skipped_steps": self.skipped_steps, "scalars": dict(self.scalars),
                "state": {k: v.copy() for k, v in self.state.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned.

        Everything is checked first (:func:`.state_checks.check_optimizer_state`: the class,
        the hyper-parameters' names, form and values, the counters, the arrays' shapes,
        dtypes and finiteness); on refusal nothing changes."""
        from .state_checks import check_optimizer_state
        check_optimizer_state(self, state)
        self.hyper = dict(state["hyper"])
        self.step_count = int(state["step_count"])
        self.skipped_steps = int(state.get("skipped_steps", 0))
        self.scalars = dict(state.get("scalars", {}))
        self.state = {k: B.asarray(v).astype(self.params.dtype, copy=True) for k, v in state["state"].items()}

    def __repr__(self):
        hyper = ", ".join(f"{k}={v}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({hyper})"
