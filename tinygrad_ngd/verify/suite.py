"""Run the catalog's optimizer cases against a target and tabulate the result.

The stepper protocol (what an outside implementation provides)::

    FACTORY(case) -> stepper, or None when the case is not supported (reported "skipped")
    stepper(grad, lr) -> the new flat parameters (1-D float64)

How the suite drives a stepper (:func:`drive`): θ₀ = ``case.theta0``; at step k it
computes gₖ = ``case.gradient(k, θₖ)`` *at the parameters the stepper returned last*
(for a fixed gradient stream gₖ does not depend on θ; for the noisy quadratic and the
MLP it does, so a wrong step changes every later gradient), calls
``stepper(gₖ, case.lr_at(k))`` and takes its return value as θₖ₊₁.  The trajectory
θ₀ … θ_steps is compared with our golden one, step by step, with a norm-wise relative
error ``max|θ − θ_ref| / max|θ_ref|``.  An averaging method's stepper may also have an
``average()`` attribute returning its averaged iterate (ASGD's ā): for cases that store
one (``case.average``) it is compared too, after every step.

Statuses: ``match`` (every step within ``atol + rtol·max|θ_ref|``), ``differs`` (the
first step outside is named), ``skipped`` (the target has no such case), ``convention``
(the target differs by a documented convention, and our implementation with the flag
switched to the target's convention matches the target: the row names the flag).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .catalog import build_ours, load_cases
from .trajectory import compare


@dataclass
class Skip:
    """A factory's answer for an unsupported case, with the reason (``None`` also skips)."""
    reason: str


@dataclass
class Convention:
    """A factory's answer where the target follows another convention than the case:
    ``stepper`` runs the target's convention; ``ours`` are the hyper-parameters of our
    implementation that reproduce it (``{"base": {...}}`` for a wrapper's base)."""
    reason: str
    ours: dict
    stepper: object


@dataclass
class Row:
    case: str
    steps: int
    status: str
    max_rel_error: float | None = None
    first_outside: int | None = None
    note: str = ""


def drive(case, stepper, averages: list | None = None) -> np.ndarray:
    """θ₀ … θ_steps of ``stepper`` on ``case`` (gradients at the stepper's own iterates);
    ``averages``, when a list, receives θ₀ and ``stepper.average()`` after each step."""
    n = case.theta0.shape[0]
    traj = np.empty((case.steps + 1, n))
    theta = np.array(case.theta0, dtype=np.float64)
    traj[0] = theta
    if averages is not None:
        averages.append(theta.copy())
    for k in range(case.steps):
        g = np.array(case.gradient(k, theta), dtype=np.float64)
        new = np.asarray(stepper(g, case.lr_at(k)), dtype=np.float64).reshape(-1)
        if new.shape != (n,):
            raise ValueError(f"the stepper returned shape {new.shape} at step {k}, expected ({n},)")
        theta = new.copy()
        traj[k + 1] = theta
        if averages is not None:
            averages.append(np.asarray(stepper.average(), dtype=np.float64).reshape(-1).copy())
    return traj


def ours_factory(case, overrides=None):
    """Our own implementation as a stepper (the lr of each step set through ``opt.lr``;
    a momentum schedule through ``hyper["momentum"]``)."""
    from .. import backend as B
    params, opt = build_ours(case.spec, case.theta0, overrides)
    inner = getattr(opt, "base", opt)
    state = {"k": 0}

    def step(grad, lr):
        k = state["k"]
        opt.lr = list(lr) if isinstance(lr, tuple) else lr
        if case.momentum is not None:
            inner.hyper["momentum"] = float(case.momentum[k])
        opt.step(grad=B.asarray(grad))
        state["k"] = k + 1
        return B.to_numpy(params.data).copy()
    if hasattr(opt, "averaged"):
        step.average = lambda: B.to_numpy(opt.averaged()).copy()
    return step


def resolve_target(against):
    """(label, factory, context manager factory or None) for a target name, MODULE:FACTORY,
    or a factory callable itself (the Python API)."""
    if callable(against):
        return getattr(against, "__name__", repr(against)), against, None
    if against == "torch":
        from . import target_torch
        return "torch", target_torch.factory, target_torch.session
    if against == "optax":
        from . import target_optax
        return "optax", target_optax.factory, target_optax.session
    if against in ("tinygrad", "ours"):
        return "tinygrad", ours_factory, None
    if ":" not in against:
        raise ValueError(f"invalid --against {against!r}: expected 'torch', 'optax', 'tinygrad' or "
                         "MODULE:FACTORY (a module importable from here, or a .py file, and a callable in it)")
    module_name, _, attr = against.rpartition(":")
    try:
        module = _import_plugin(module_name)
    except (ImportError, OSError) as exc:
        raise ValueError(f"invalid --against {against!r}: cannot import module {module_name!r} ({exc})") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ValueError(f"invalid --against {against!r}: module {module_name!r} has no callable {attr!r}")
    return against, factory, None


def _import_plugin(name: str):
    """A module by dotted name (the current directory is searched first, as ``python -m``
    does) or by the path of a ``.py`` file."""
    if name.endswith(".py"):
        path = Path(name).resolve()
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or not path.is_file():
            raise ImportError(f"no such file {name!r}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    return importlib.import_module(name)


def _compare_row(reference, traj, rtol, atol) -> tuple:
    rep = compare(reference, traj, rtol, atol)
    rel = rep["max_rel_error"]
    worst = float(np.nanmax(rel)) if np.isfinite(rel).any() else float("inf")
    if not np.isfinite(rel).all():
        worst = float("inf")
    return rep["first_step_outside"], worst


def run_case(case, factory, rtol=1e-10, atol=0.0) -> Row:
    try:
        made = factory(case)
    except Exception as exc:  # noqa: BLE001 - an outside factory's failure is a result, reported
        return Row(case.name, case.steps, "differs", note=f"the factory raised {type(exc).__name__}: {exc}")
    if made is None or isinstance(made, Skip):
        return Row(case.name, case.steps, "skipped", note=made.reason if made is not None else "")
    convention = made if isinstance(made, Convention) else None
    stepper = convention.stepper if convention else made
    averages = [] if case.average is not None and hasattr(stepper, "average") else None
    try:
        traj = drive(case, stepper, averages)
    except Exception as exc:  # noqa: BLE001
        return Row(case.name, case.steps, "differs", note=f"the stepper raised {type(exc).__name__}: {exc}")
    first, worst = _compare_row(case.trajectory, traj, rtol, atol)
    note = ""
    if averages is not None:                 # the averaged iterate too
        first_avg, worst_avg = _compare_row(case.average, np.array(averages), rtol, atol)
        worst = max(worst, worst_avg)
        note = "θ and ā compared"
        if first_avg is not None:
            first = first_avg if first is None else min(first, first_avg)
            note = f"ā first outside at step {first_avg}"
    if first is None:
        return Row(case.name, case.steps, "match", worst, note=note)
    if convention is None:
        return Row(case.name, case.steps, "differs", worst, first, note)
    # the target follows another convention: does ours, switched to it, reproduce the target?
    switched = drive(case, ours_factory(case, convention.ours))
    rep = compare(switched, traj, rtol, atol)
    flag = ", ".join(f"{k}={v!r}" for k, v in convention.ours.items())
    if rep["ok"]:
        return Row(case.name, case.steps, "convention", worst, first,
                   f"{convention.reason}; ours with {flag} matches (max rel error "
                   f"{float(rep['max_rel_error'].max()):.1e})")
    return Row(case.name, case.steps, "differs", worst, first,
               f"{convention.reason}, but ours with {flag} does not match it either "
               f"(first step outside {rep['first_step_outside']})")


def run_suite(against, cases: str | None = None, rtol: float = 1e-10, atol: float = 0.0,
              catalog_dir=None) -> list:
    """One :class:`Row` per optimizer case of the catalog (glob ``cases`` selects).

    ``against``: "torch", "optax", "tinygrad", "MODULE:FACTORY" / "file.py:FACTORY", or a
    factory callable."""
    label, factory, session = resolve_target(against)
    selected = load_cases(cases, catalog_dir)
    if not selected:
        raise ValueError(f"--cases {cases!r} matches no case of the catalog")
    if session is None:
        return [run_case(c, factory, rtol, atol) for c in selected]
    with session():
        return [run_case(c, factory, rtol, atol) for c in selected]


def format_table(rows, against: str, seconds: float | None = None) -> str:
    """The table the command line prints, with a summary line."""
    width = max([len(r.case) for r in rows] + [4])
    lines = [f"{'case':<{width}}  steps  max rel error  first outside  status      note"]
    for r in rows:
        err = "-" if r.max_rel_error is None else f"{r.max_rel_error:.2e}"
        first = "-" if r.first_outside is None else str(r.first_outside)
        lines.append(f"{r.case:<{width}}  {r.steps:>5}  {err:>13}  {first:>13}  {r.status:<10}  {r.note}".rstrip())
    counts = {s: sum(r.status == s for r in rows) for s in ("match", "differs", "convention", "skipped")}
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    lines.append(f"{len(rows)} cases against {against}{took}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return "\n".join(lines)


def exit_status(rows) -> int:
    """0 when every supported case matches (or differs only by a shown convention), 1 otherwise."""
    return 1 if any(r.status == "differs" for r in rows) else 0


def timed_suite(*args, **kwargs):
    t0 = time.perf_counter()
    rows = run_suite(*args, **kwargs)
    return rows, time.perf_counter() - t0
