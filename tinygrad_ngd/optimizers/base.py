"""The Optimizer base: an update rule on one flat parameter vector and its blocks.

Optimizers see only :class:`~tinygrad_ngd.flat.FlatParameters` (``params.data``,
``params.grad``, ``params.blocks``) and, when a method needs a second gradient or an HVP,
a closure.  Every update is done in place on ``params.data`` so the layers, whose
parameters are views into it, see the new values.

A subclass implements ``_update(g)`` where ``g`` is the flat gradient (a backend array),
keeps its per-coordinate state as named flat arrays in ``self.state`` (so
``state_dict`` needs no per-class code) and lists its hyper-parameters in
``self.hyper`` (PyTorch's names; the docstring maps each to the notes' symbol).
"""

from __future__ import annotations

import contextlib
import math

from .. import backend as B
from ..flat import FlatParameters
from ..tensor import enable_grad


def check_nonnegative(name: str, value) -> None:
    """ValueError naming the argument unless value >= 0 (scalar or per-block sequence)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise ValueError(f"invalid {name}: {value!r} (expected a finite number >= 0)")


def check_positive(name: str, value) -> None:
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"invalid {name}: {value!r} (expected a finite number > 0)")


def check_eps(name: str, eps, dtype) -> None:
    """ε must be > 0 and must not round to 0 in the parameter dtype."""
    check_positive(name, eps)
    if B.xp().asarray(eps, dtype=dtype) == 0:
        raise ValueError(f"invalid {name}: {eps!r} rounds to 0 in {dtype}")


def lerp_(start, end, weight: float, tmp) -> None:
    """start ← start + w·(end − start) in place, rounded as PyTorch's ``lerp_``.

    Running averages m ← βm + (1 − β)g are lerps with w = 1 − β.  PyTorch evaluates
    start + w(end − start) for w < 0.5 and end − (end − start)(1 − w) otherwise; both
    equal the same real number but round differently, and over 100 steps of a
    sensitive recursion (centered RMSprop) the difference is visible at 1e-10.
    """
    xp = B.array_module(start)
    xp.subtract(end, start, out=tmp)
    if weight < 0.5:
        xp.multiply(tmp, weight, out=tmp)
        xp.add(start, tmp, out=start)
    else:
        xp.multiply(tmp, 1 - weight, out=tmp)
        xp.subtract(end, tmp, out=start)


class Optimizer:
    """Base of every optimizer: ``step(grad=None, closure=None)``, ``zero_grad()``,
    ``state_dict()`` / ``load_state_dict()``.

    ``lr`` may be a scalar or one value per block (``len(params.blocks)`` values).
    A non-finite gradient raises FloatingPointError naming the step and the block,
    unless ``skip_nonfinite=True`` (then the step is skipped and counted in
    ``self.skipped_steps``).
    """

    def __init__(self, params: FlatParameters, lr, skip_nonfinite: bool = False, **hyper):
        if not isinstance(params, FlatParameters):
            raise TypeError(f"{type(self).__name__}: params must be a FlatParameters, "
                            f"got {type(params).__name__}")
        self.params = params
        self._check_lr(lr)
        self.hyper = {"lr": lr, **hyper}
        self.state = {}          # name -> flat backend array (per-coordinate state)
        self.scalars = {}        # name -> Python number (per-optimizer scalar state)
        self.step_count = 0
        self.skip_nonfinite = bool(skip_nonfinite)
        self.skipped_steps = 0
        self._scratch = {}       # name -> work array of chunk size (not state: never saved)

    # ------------------------------------------------------------ hyper-parameters
    def _check_lr(self, lr):
        if isinstance(lr, (list, tuple)):
            if len(lr) != len(self.params.blocks):
                raise ValueError(f"invalid lr: {len(lr)} values for {len(self.params.blocks)} blocks")
        check_nonnegative("lr", lr)

    @property
    def lr(self):
        return self.hyper["lr"]

    @lr.setter
    def lr(self, value):
        self._check_lr(value)
        self.hyper["lr"] = value

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

    # Elements per chunk of the in-place update loops: 2**16 float32 = 256 KiB, so the
    # temporaries of one chunk stay in L2 cache while the flat arrays stream through once.
    chunk_size = 1 << 16

    def chunks(self):
        """Slices covering the flat vector in cache-sized pieces (one slice on a GPU,
        where one kernel over everything is fastest)."""
        n = self.params.numel
        step = self.chunk_size if B.array_module(self.params.data).__name__ == "numpy" else max(n, 1)
        return [slice(i, min(i + step, n)) for i in range(0, n, step)]

    @staticmethod
    def at(value, s):
        """``value[s]`` for a flat array (a per-block lr vector), ``value`` for a scalar."""
        return value[s] if B.is_backend_array(value) else value

    def scratch(self, name: str, like):
        """A reusable work array shaped like ``like`` (a chunk view): temporaries without
        a new allocation each step.  Not optimizer state: never saved."""
        buf = self._scratch.get(name)
        if buf is None or buf.shape[0] < like.shape[0] or buf.dtype != like.dtype:
            xp = B.array_module(like)
            buf = self._scratch[name] = xp.empty(max(like.shape[0], min(self.chunk_size, self.params.numel)),
                                                 dtype=like.dtype)
        return buf[:like.shape[0]]

    # ------------------------------------------------------------ the step
    def zero_grad(self) -> None:
        self.params.zero_grad()

    def step(self, grad=None, closure=None):
        """One update.  ``grad``: a flat gradient (default ``params.grad``); ``closure``:
        a callable that re-evaluates the loss (and fills ``params.grad`` by backward);
        its return value is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        g = self.params.grad if grad is None else self._as_grad(grad)
        if not self._check_finite(g):
            self.skipped_steps += 1
            return loss
        self._update(g)
        self.step_count += 1
        return loss

    def _as_grad(self, grad):
        data = getattr(grad, "data", grad) if not B.is_backend_array(grad) else grad
        if getattr(data, "shape", None) != (self.params.numel,):
            raise ValueError(f"{type(self).__name__}.step: grad has shape {getattr(data, 'shape', None)}, "
                             f"expected ({self.params.numel},) (the parameter count)")
        return data

    def _check_finite(self, g) -> bool:
        xp = B.array_module(g)
        # Fast path: g·g is finite only if every entry is (nan and inf propagate), and one
        # BLAS dot reads g once with no boolean temporary; overflow falls to the exact test.
        # bool(...) is the one device->host sync of a step: skipping must be decided on the host.
        quiet = getattr(xp, "errstate", None)      # NumPy warns on the overflow; CuPy has none
        with quiet(over="ignore", invalid="ignore") if quiet else contextlib.nullcontext():
            finite = bool(xp.isfinite(xp.dot(g, g))) or bool(xp.isfinite(g).all())
        if finite:
            return True
        if self.skip_nonfinite:
            return False
        bad = [b.name for b in self.params.blocks if not bool(xp.isfinite(g[b.slice]).all())]
        raise FloatingPointError(f"{type(self).__name__}: non-finite gradient at step "
                                 f"{self.step_count + 1} in block(s) {bad}; pass "
                                 f"skip_nonfinite=True to skip such steps")

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
