"""Checks of an optimizer state dict before anything is loaded.

``load_state_dict`` must never half-load, and must never accept a state it cannot use:
the state of another method (``Adam.load_state_dict(SGD(...).state_dict())``), of the
same method built differently (an ``NGD(scope="global")`` state into ``NGD(scope="block")``),
or a hand-made one with a NaN learning rate.  Every check here only reads; the loaders
(:meth:`Optimizer.load_state_dict`, :meth:`GradientWrapper.load_state_dict`, PRONG's and
:func:`tinygrad_ngd.checkpoint.load_checkpoint`) call :func:`check_state` on the whole
nested state first and write only when it passed.

What is checked, as PyTorch users would expect from ``torch.optim``:

* the class: a state dict names the class that wrote it (``"optimizer"`` for an
  Optimizer, ``"wrapper"`` for a gradient wrapper, recursively for the base);
* the hyper-parameters: the same names as the optimizer's; settings that choose the
  method's form (strings and flags: ``scope``, ``nesterov``, ``amsgrad``, …) equal to the
  optimizer's — loading cannot rebuild what the constructor derived from them; numbers
  (lr, momentum, betas, …) finite and accepted by the class's own constructor, which is
  run on them (a throwaway instance) when its signature takes them all;
* the counters: non-negative integers; the scalars: numbers, strings, flags or None;
* the state arrays: string names, numeric (not complex) arrays of the parameters' shape,
  every value finite.
"""

from __future__ import annotations

import inspect
import math
import numbers

from .. import backend as B


def _where(obj) -> str:
    return f"{type(obj).__name__}.load_state_dict"


def require_dict(obj, state, what="state") -> None:
    if not isinstance(state, dict):
        raise TypeError(f"{_where(obj)}: {what} must be the dict that {type(obj).__name__}.state_dict() "
                        f"returns, got {type(state).__name__}")


def require_keys(obj, state, keys) -> None:
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(f"{_where(obj)}: the state dict lacks key(s) {missing} (expected the dict "
                         f"that {type(obj).__name__}.state_dict() returns)")


def check_count(obj, name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{_where(obj)}: {name!r} must be a non-negative integer, got {value!r}")
    return int(value)


def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)   # NumPy's bool is no Real


def _check_value(obj, name, current, loaded) -> None:
    """One hyper-parameter against the optimizer's current value (see the module doc)."""
    if isinstance(current, (str, bool)):
        if type(loaded) is not type(current) or loaded != current:
            raise ValueError(f"{_where(obj)}: hyper-parameter {name!r} is {loaded!r} in the state but "
                             f"{current!r} in this {type(obj).__name__}; it chooses the method's form, "
                             f"so build the optimizer with {name}={loaded!r} to load this state")
    elif isinstance(current, (list, tuple)):
        if not isinstance(loaded, (list, tuple)) or len(loaded) != len(current):
            raise ValueError(f"{_where(obj)}: hyper-parameter {name!r} must be a sequence of "
                             f"{len(current)} values like {current!r}, got {loaded!r}")
        for i, (c, v) in enumerate(zip(current, loaded)):
            _check_value(obj, f"{name}[{i}]", c, v)
    elif _is_real(current) or current is None:
        if loaded is None and current is None:
            return
        if isinstance(loaded, (list, tuple)) and name == "lr":
            for i, v in enumerate(loaded):      # a per-block lr: the constructor checks the length
                _check_value(obj, f"lr[{i}]", 0.0, v)
            return
        if not _is_real(loaded) or not math.isfinite(loaded):
            raise ValueError(f"{_where(obj)}: hyper-parameter {name!r} must be a finite number, "
                             f"got {loaded!r}")
    elif type(loaded) is not type(current):
        raise ValueError(f"{_where(obj)}: hyper-parameter {name!r} must be a {type(current).__name__} "
                         f"like {current!r}, got {type(loaded).__name__}")


def check_hyper(obj, hyper, first_argument=None) -> dict:
    """Validate loaded hyper-parameters against ``obj.hyper``; returns a copy.

    ``first_argument``: what the class's constructor takes first (``obj.params`` for an
    Optimizer, ``obj.base`` for a wrapper), for the constructor run; None skips that run
    (for a class whose constructor has side effects, such as PRONG's first whitening)."""
    if not isinstance(hyper, dict):
        raise ValueError(f"{_where(obj)}: 'hyper' must be a dict of hyper-parameters, got "
                         f"{type(hyper).__name__}")
    missing = sorted(set(obj.hyper) - set(hyper))
    unexpected = sorted(set(hyper) - set(obj.hyper))
    if missing or unexpected:
        raise ValueError(f"{_where(obj)}: the state's hyper-parameters do not fit a "
                         f"{type(obj).__name__}: missing {missing}, unexpected {unexpected} "
                         f"(a state saved by another optimizer?)")
    for name, current in obj.hyper.items():
        _check_value(obj, name, current, hyper[name])
    if first_argument is not None:
        _check_with_constructor(obj, hyper, first_argument)
    return dict(hyper)


def _check_with_constructor(obj, hyper, first_argument) -> None:
    """Run the class's own argument checks on ``hyper`` by building a throwaway instance,
    when the constructor takes every hyper-parameter by name (it does for the classes
    whose ``hyper`` mirrors their arguments).  The constructor's other arguments are the
    optimizer's attributes of the same name where it keeps them (``skip_nonfinite``,
    Newton's ``max_params``, …), else their defaults."""
    try:
        signature = inspect.signature(type(obj).__init__)
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return
    named = [p for p in list(signature.parameters.values())[2:]
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if not set(hyper) <= {p.name for p in named}:
        return
    others = {p.name: getattr(obj, p.name) for p in named
              if p.name not in hyper and p.name in vars(obj)}
    try:
        type(obj)(first_argument, **hyper, **others)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{_where(obj)}: the state's hyper-parameters are refused by "
                         f"{type(obj).__name__}: {exc}") from None


def _plain(v) -> bool:
    """A number, string, flag, None, NumPy scalar, or a list/tuple/dict of those."""
    if v is None or isinstance(v, (str, bool, numbers.Number)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_plain(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _plain(x) for k, x in v.items())
    return getattr(v, "shape", None) == () and getattr(getattr(v, "dtype", None), "kind", "O") in "biuf"


def check_scalars(obj, scalars) -> dict:
    if not isinstance(scalars, dict):
        raise ValueError(f"{_where(obj)}: 'scalars' must be a dict, got {type(scalars).__name__}")
    for k, v in scalars.items():
        if not isinstance(k, str) or not _plain(v):
            raise ValueError(f"{_where(obj)}: scalar {k!r} must be a number, string, flag or None "
                             f"(or a list of them), got {type(v).__name__}")
        if not _finite_numbers(v):   # a NaN step size (ASGD's eta, HF's damping) poisons θ
            raise ValueError(f"{_where(obj)}: scalar {k!r} must be finite, got {v!r}")
    return dict(scalars)


def _finite_numbers(v) -> bool:
    """Every real number in ``v`` (a plain scalar, list or dict of them) is finite."""
    if isinstance(v, (list, tuple)):
        return all(_finite_numbers(x) for x in v)
    if isinstance(v, dict):
        return all(_finite_numbers(x) for x in v.values())
    if isinstance(v, (str, bool)) or v is None:
        return True
    if isinstance(v, numbers.Complex) and not isinstance(v, numbers.Real):
        return math.isfinite(v.real) and math.isfinite(v.imag)
    return math.isfinite(float(v))


def check_state_arrays(obj, arrays, shape) -> None:
    """Flat numeric arrays of the parameters' shape, every value finite."""
    if not isinstance(arrays, dict):
        raise ValueError(f"{_where(obj)}: 'state' must be a dict of arrays, got {type(arrays).__name__}")
    for k, v in arrays.items():
        if not isinstance(k, str):
            raise ValueError(f"{_where(obj)}: state key {k!r} is not a string")
        if not (B.is_backend_array(v) or B.is_numpy_array(v)):
            raise ValueError(f"{_where(obj)}: state {k!r} must be an array of shape {shape}, got "
                             f"{type(v).__name__}")
        if v.dtype.kind not in "biuf":
            raise ValueError(f"{_where(obj)}: state {k!r} must be a real numeric array, got dtype {v.dtype}")
        if tuple(v.shape) != tuple(shape):
            raise ValueError(f"{_where(obj)}: state {k!r} has shape {tuple(v.shape)}, expected {tuple(shape)} "
                             f"(the parameter count of this optimizer's FlatParameters)")
        if v.dtype.kind == "f" and not bool(B.array_module(v).isfinite(v).all()):  # a host sync: a load
            raise ValueError(f"{_where(obj)}: state {k!r} holds non-finite values")


def check_optimizer_state(opt, state) -> None:
    """Everything :meth:`Optimizer.load_state_dict` needs, checked without changing ``opt``."""
    require_dict(opt, state)
    require_keys(opt, state, ("hyper", "step_count", "state"))
    saved_by = state.get("optimizer", type(opt).__name__)
    if saved_by != type(opt).__name__:
        raise ValueError(f"{_where(opt)}: the state was saved by {saved_by}, not by "
                         f"{type(opt).__name__}")
    check_hyper(opt, state["hyper"], opt.params)
    check_count(opt, "step_count", state["step_count"])
    check_count(opt, "skipped_steps", state.get("skipped_steps", 0))
    check_scalars(opt, state.get("scalars", {}))
    check_state_arrays(opt, state["state"], opt.params.data.shape)


def check_state(opt, state) -> None:
    """Check ``state`` for any optimizer or wrapper (dispatching to its ``check_state_dict``)."""
    checker = getattr(opt, "check_state_dict", None)
    if checker is not None:
        checker(state)
    else:
        check_optimizer_state(opt, state)


__all__ = ["check_state", "check_optimizer_state", "check_hyper", "check_count", "require_dict",
           "require_keys"]
