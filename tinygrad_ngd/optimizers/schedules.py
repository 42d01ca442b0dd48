"""Learning-rate schedules ("cooling", [Ravasi]) and the momentum warm-up.

PyTorch semantics (``torch.optim.lr_scheduler``) for StepLR, MultiStepLR, ExponentialLR,
LinearLR and ReduceLROnPlateau: construct after the optimizer, call ``step()`` once per
epoch after the optimizer's steps (ReduceLROnPlateau: ``step(metric)``).  The rates are
computed with PyTorch's recursive ("chainable") formulas in the same order, so the lr
sequences are equal to PyTorch's float for float, not just to round-off.  A per-block lr
(a list) is scheduled like PyTorch's param groups, one rate per block.  A gradient wrapper
(BlockNormalized, ClipGradNorm, NGAdap, PRONG) is scheduled through its base optimizer's
lr, which it delegates.

[Ravasi, "Cooling strategy"]: the rates must satisfy
Σα_i = ∞, Σα_i² < ∞; it names linear decay to α_τ = α₀/100 over τ iterations then
constant (:class:`LinearDecayToConstant`), exponential decay (:class:`ExponentialLR`)
and reducing the rate when the metric stops improving (:class:`ReduceLROnPlateau`);
[Yu et al. 2017, §4.2] drops the rate ×0.1 at fixed epochs 80 and
120 (:class:`MultiStepLR`).  [Ravasi]'s momentum warm-up 0.5 → 0.99 is
:class:`MomentumWarmup`.
"""

from __future__ import annotations

import math
from collections import Counter

from .base import Optimizer
from .checks import check_int
from .wrapper import GradientWrapper


def _check_optimizer(optimizer):
    if not isinstance(optimizer, (Optimizer, GradientWrapper)):
        raise TypeError(f"scheduler: optimizer must be a tinygrad_ngd Optimizer or a gradient wrapper "
                        f"(BlockNormalized, ClipGradNorm, NGAdap, PRONG, ...), got {type(optimizer).__name__}")
    inner = _innermost(optimizer)
    if not inner.lr_schedulable:
        raise TypeError(f"scheduler: {type(inner).__name__} sets its own step size (its lr is only the "
                        f"starting value, or unused), so a schedule would change lr while the steps "
                        f"ignore it; schedule an optimizer that steps with lr")


def _get_lrs(optimizer) -> list:
    """The current rates, one per block; read through ``optimizer.lr`` so that a wrapper
    (or PRONG) reports its base optimizer's rate, never a stale copy."""
    lr = optimizer.lr
    return list(lr) if isinstance(lr, (list, tuple)) else [lr]


def _set_lrs(optimizer, lrs) -> None:
    optimizer.lr = list(lrs) if isinstance(optimizer.lr, (list, tuple)) else lrs[0]


def _innermost(optimizer):
    """The Optimizer under any stack of wrappers (it holds the hyper-parameters)."""
    while isinstance(optimizer, GradientWrapper):
        optimizer = optimizer.base
    return optimizer



def _check_number(name, value, lo, hi, lo_open=False, hi_open=False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)
    if not ok:
        raise ValueError(f"invalid {name}: {value!r} (expected a number in "
                         f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'})")


class _SchedulerState:
    """What every schedule shares: the last rates and a state dict without the optimizer."""

    def get_last_lr(self) -> list:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (the optimizer is not part of it); the keys and the
        kinds of their values are checked first and a refusal changes nothing."""
        name = type(self).__name__
        if not isinstance(state, dict):
            raise TypeError(f"{name}.load_state_dict: expected the dict that {name}.state_dict() "
                            f"returns, got {type(state).__name__}")
        mine = self.state_dict()
        unknown, missing = set(state) - set(mine), set(mine) - set(state)
        if unknown or missing:
            raise ValueError(f"{name}.load_state_dict: unknown keys {sorted(unknown)}, missing keys "
                             f"{sorted(missing)} (expected the dict that {name}.state_dict() returns)")
        for key, value in state.items():
            current = mine[key]
            number = (int, float)
            same_kind = (isinstance(value, number) and isinstance(current, number)
                         and isinstance(value, bool) == isinstance(current, bool)) \
                or type(value) is type(current) or isinstance(current, Counter) and isinstance(value, dict)
            if not same_kind or (isinstance(value, float) and math.isnan(value)):
                raise ValueError(f"{name}.load_state_dict: {key!r} must be like {current!r}, got {value!r}")
        self.__dict__.update(state)


class LRScheduler(_SchedulerState):
    """Base: ``last_epoch`` counts ``step()`` calls (0 after construction, which applies
    the epoch-0 rate); ``get_last_lr()`` returns one rate per block (a list)."""

    def __init__(self, optimizer):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        self.base_lrs = _get_lrs(optimizer)
        self.last_epoch = -1
        self._initial = True
        self.step()
        self._initial = False

    def _next_lrs(self, lrs):  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        lrs = self._next_lrs(_get_lrs(self.optimizer))
        _set_lrs(self.optimizer, lrs)
        self._last_lr = list(lrs)


class StepLR(LRScheduler):
    """α ← γ·α every ``step_size`` epochs: α_e = α₀·γ^⌊e/step_size⌋."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        check_int("step_size", step_size, 1)
        _check_number("gamma", gamma, 0.0, math.inf)
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def _next_lrs(self, lrs):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lrs
        return [lr * self.gamma for lr in lrs]


class MultiStepLR(LRScheduler):
    """α ← γ·α at each milestone epoch ([Yu et al. 2017, §4.2]: ×0.1 at epochs 80 and 120)."""

    def __init__(self, optimizer, milestones, gamma: float = 0.1):
        milestones = list(milestones)
        for m in milestones:
            check_int("milestones", m, 0)
        if milestones != sorted(milestones):
            raise ValueError(f"invalid milestones: {milestones!r} (expected increasing epochs)")
        _check_number("gamma", gamma, 0.0, math.inf)
        self.milestones, self.gamma = Counter(milestones), gamma
        super().__init__(optimizer)

    def _next_lrs(self, lrs):
        if self.last_epoch not in self.milestones:
            return lrs
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in lrs]


class ExponentialLR(LRScheduler):
    """α ← γ·α every epoch ([Ravasi]'s "fixed decay (i.e., exponential)")."""

    def __init__(self, optimizer, gamma: float):
        _check_number("gamma", gamma, 0.0, math.inf)
        self.gamma = gamma
        super().__init__(optimizer)

    def _next_lrs(self, lrs):
        if self._initial:
            return lrs
        return [lr * self.gamma for lr in lrs]


class LinearLR(LRScheduler):
    """Multiply α₀ by a factor going linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` epochs (PyTorch's recursive form)."""

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5):
        _check_number("start_factor", start_factor, 0.0, 1.0, lo_open=True)
        _check_number("end_factor", end_factor, 0.0, 1.0)
        check_int("total_iters", total_iters, 1)
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer)

    def _next_lrs(self, lrs):
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in lrs]
        if self.last_epoch > self.total_iters:
            return lrs
        slope = self.end_factor - self.start_factor
        ratio = 1.0 + slope / (self.total_iters * self.start_factor + (self.last_epoch - 1) * slope)
        return [lr * ratio for lr in lrs]


class LinearDecayToConstant(LRScheduler):
    """[Ravasi]'s cooling rule, one ``step()`` per iteration i:

        α_i = (1 − β)·α₀ + β·α_τ  (i < τ, β = i/τ);     α_i = α_τ  (i ≥ τ)

    with α_τ = ``final_fraction``·α₀ (the note's rule of thumb: α₀/100, τ ≈ 100·N_epochs).
    """

    def __init__(self, optimizer, tau: int, final_fraction: float = 0.01):
        check_int("tau", tau, 1)
        _check_number("final_fraction", final_fraction, 0.0, 1.0)
        self.tau, self.final_fraction = tau, final_fraction
        super().__init__(optimizer)

    def _next_lrs(self, lrs):
        i = self.last_epoch
        beta = min(i, self.tau) / self.tau
        return [(1 - beta) * a0 + beta * (self.final_fraction * a0) for a0 in self.base_lrs]


class ReduceLROnPlateau(_SchedulerState):
    """α ← max(factor·α, min_lr) when the metric has not improved for more than
    ``patience`` epochs ([Ravasi]: "reduce the LR when the training (or validation)
    metric has not decreased for a number of epochs").  PyTorch semantics: improvement is
    relative (``threshold_mode="rel"``: a < best·(1 − threshold) in mode "min") or
    absolute; after a reduction ``cooldown`` epochs are ignored; a change smaller than
    ``eps`` is not applied."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        _check_optimizer(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"invalid mode: {mode!r} (expected 'min' or 'max')")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"invalid threshold_mode: {threshold_mode!r} (expected 'rel' or 'abs')")
        _check_number("factor", factor, 0.0, 1.0, hi_open=True)
        check_int("patience", patience, 0)
        check_int("cooldown", cooldown, 0)
        _check_number("threshold", threshold, 0.0, math.inf)
        _check_number("eps", eps, 0.0, math.inf)
        n = len(_get_lrs(optimizer))
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n
        if len(min_lrs) != n:
            raise ValueError(f"invalid min_lr: {len(min_lrs)} values for {n} blocks")
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode, self.cooldown = threshold, threshold_mode, cooldown
        self.min_lrs, self.eps = min_lrs, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = _get_lrs(optimizer)

    def _is_better(self, a, best) -> bool:
        if self.mode == "min":
            return a < best * (1.0 - self.threshold) if self.threshold_mode == "rel" else a < best - self.threshold
        return a > best * (self.threshold + 1.0) if self.threshold_mode == "rel" else a > best + self.threshold

    def step(self, metric) -> None:
        """``metric``: a Python number (use ``backend.item`` for a device scalar)."""
        if isinstance(metric, (bool, str, bytes)) or getattr(metric, "shape", ()) != () \
                or not hasattr(metric, "__float__"):
            raise TypeError(f"ReduceLROnPlateau.step: metric must be a number (the monitored "
                            f"loss or accuracy), got {type(metric).__name__} {metric!r}")
        current = float(metric)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0                    # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            lrs = _get_lrs(self.optimizer)
            for i, old in enumerate(lrs):
                new = max(old * self.factor, self.min_lrs[i])
                if old - new > self.eps:
                    lrs[i] = new
            _set_lrs(self.optimizer, lrs)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = _get_lrs(self.optimizer)


class MomentumWarmup:
    """[Ravasi, "Momentum"]: start the momentum at 0.5 and increase it through the
    iterations up to 0.99.  The note gives no law; this is linear over ``warmup_steps``
    ``step()`` calls, then constant:  μ_i = μ_start + (μ_end − μ_start)·min(i, T)/T.
    Works with any optimizer that has a ``momentum`` hyper-parameter (SGD, RMSprop), or a
    wrapper over one."""

    def __init__(self, optimizer, start: float = 0.5, end: float = 0.99, warmup_steps: int = 1000):
        _check_optimizer(optimizer)
        optimizer = _innermost(optimizer)       # a wrapper's base holds the momentum
        if "momentum" not in optimizer.hyper:
            raise ValueError(f"MomentumWarmup: {type(optimizer).__name__} has no 'momentum' "
                             "hyper-parameter")
        _check_number("start", start, 0.0, 1.0, hi_open=True)
        _check_number("end", end, 0.0, 1.0, hi_open=True)
        check_int("warmup_steps", warmup_steps, 1)
        self.optimizer, self.start, self.end, self.warmup_steps = optimizer, start, end, warmup_steps
        self.last_step = -1
        self.step()

    def step(self) -> None:
        self.last_step += 1
        frac = min(self.last_step, self.warmup_steps) / self.warmup_steps
        self.optimizer.hyper["momentum"] = self.start + (self.end - self.start) * frac

    def get_last_momentum(self) -> float:
        return self.optimizer.hyper["momentum"]
