"""``--against torch``: each case mapped to ``torch.optim`` and ``torch.optim.lr_scheduler``.

Our class → torch.optim's of the same name (SGD, Adam, AdamW, Adamax, Adagrad, RMSprop,
Adadelta, Rprop, ASGD; ``Adam(decoupled_weight_decay=True)`` → AdamW); a per-block ``lr``
→ one param group per block; ``ClipGradNorm(scope="global")`` →
``torch.nn.utils.clip_grad_norm_`` before the step.  Schedules are torch's own (StepLR,
MultiStepLR, ExponentialLR, LinearLR, ReduceLROnPlateau fed ``case.loss`` at the new
iterate; LinearDecayToConstant → LambdaLR; MomentumWarmup → the group's momentum set each
step): the stepper ignores the rate the suite passes, so a schedule that disagrees shows.
Runs in float64 with ``foreach=False`` (PyTorch's single-tensor reference loops).

Conventions torch lacks are reported as such (see :class:`.suite.Convention`).
"""

from __future__ import annotations

import contextlib
import itertools

import numpy as np

from .suite import Convention, Skip

_CLASSES = ("SGD", "Adam", "AdamW", "Adamax", "Adagrad", "RMSprop", "Adadelta", "Rprop", "ASGD")
_SCHEDULES = ("StepLR", "MultiStepLR", "ExponentialLR", "LinearLR", "ReduceLROnPlateau",
              "LinearDecayToConstant", "MomentumWarmup")


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError("--against torch needs PyTorch (pip install 'tinygrad_ngd[verify]')") from exc
    return torch


@contextlib.contextmanager
def session():
    """float64 as torch's default dtype while the suite runs (ASGD keeps η, μ in it)."""
    torch = _torch()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _convention(optimizer: str, hyper: dict):
    """(reason, our hyper-parameters reproducing torch) when the case is not torch's convention."""
    if optimizer == "SGD" and hyper.get("form", "pytorch") != "pytorch":
        return ("torch.optim.SGD applies lr outside the momentum buffer (b ← μb + g, θ ← θ − lr·b); "
                "form='notes' puts it inside the velocity", {"form": "pytorch"})
    if optimizer in ("Adam", "AdamW") and hyper.get("eps_mode", "outside_sqrt") == "hat":
        return "torch adds ε to √v̂ (bias-corrected); eps_mode='hat' adds it to √v", {"eps_mode": "outside_sqrt"}
    if optimizer == "RMSprop" and hyper.get("eps_mode", "outside_sqrt") == "inside_sqrt":
        return "torch divides by √v + ε; eps_mode='inside_sqrt' by √(v + ε)", {"eps_mode": "outside_sqrt"}
    if optimizer == "Rprop" and hyper.get("variant", "irprop-") != "irprop-":
        return "torch.optim.Rprop is iRprop− (zeroes the gradient after a sign change)", {"variant": "irprop-"}
    return None


def _unsupported(case) -> str | None:
    h = case.hyper
    if case.schedule and case.schedule["name"] not in _SCHEDULES:
        return f"no torch scheduler for {case.schedule['name']}"
    if case.optimizer == "ClipGradNorm":
        if h.get("scope", "global") != "global":
            return "clip_grad_norm_ clips the global norm only"
        if case.base_optimizer not in _CLASSES:
            return f"no torch.optim class for base {case.base_optimizer}"
        return None
    if case.optimizer not in _CLASSES:
        return f"torch.optim has no {case.optimizer}"
    return None


def factory(case):
    reason = _unsupported(case)
    if reason:
        return Skip(reason)
    clip = None
    optimizer, hyper = case.optimizer, dict(case.hyper)
    if optimizer == "ClipGradNorm":
        clip = hyper
        optimizer, hyper = case.base_optimizer, dict(case.base_hyper)
        if clip.get("eps", 0.0) != 1e-6:
            conv = ("torch.nn.utils.clip_grad_norm_ adds 1e-6 to the norm", {"eps": 1e-6})
            return Convention(conv[0], conv[1], _stepper(case, optimizer, hyper, clip))
    conv = _convention(optimizer, hyper)
    if conv:
        ours = conv[1] if case.optimizer != "ClipGradNorm" else {"base": conv[1]}
        return Convention(conv[0], ours, _stepper(case, optimizer, _to_torch_convention(hyper, conv[1]), clip))
    return _stepper(case, optimizer, hyper, clip)


def _to_torch_convention(hyper, ours):
    return {**hyper, **ours}


def _stepper(case, optimizer, hyper, clip):
    torch = _torch()
    kwargs = {k: (tuple(v) if isinstance(v, list) and k != "lr" else v) for k, v in hyper.items()}
    if kwargs.get("eps_mode") == "none":
        kwargs["eps"] = 0.0                   # no ε = torch's eps=0
    for key in ("form", "eps_mode", "variant"):
        kwargs.pop(key, None)
    if optimizer == "Adam" and kwargs.pop("decoupled_weight_decay", False):
        optimizer = "AdamW"
    theta0 = np.array(case.theta0, dtype=np.float64)
    sizes = case.block_sizes or [theta0.shape[0]]
    bounds = list(itertools.pairwise(np.cumsum([0] + list(sizes))))
    tensors = [torch.nn.Parameter(torch.from_numpy(theta0[a:b].copy())) for a, b in bounds]
    lr = kwargs.pop("lr")
    if isinstance(lr, list):
        groups = [{"params": [t], "lr": v} for t, v in zip(tensors, lr)]
    else:
        groups = [{"params": tensors, "lr": lr}]
    opt = getattr(torch.optim, optimizer)(groups, foreach=False, **kwargs)
    sched = _scheduler(torch, opt, case.schedule)
    state = {"k": 0}

    def step(grad, lr):                       # the rate comes from torch's own scheduler
        k = state["k"]
        if case.momentum is not None:
            for group in opt.param_groups:
                group["momentum"] = float(case.momentum[k])
        for t, (a, b) in zip(tensors, bounds):
            t.grad = torch.from_numpy(grad[a:b].copy())
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(tensors, clip["max_norm"], foreach=False)
        opt.step()
        with torch.no_grad():
            theta = torch.cat([t.detach() for t in tensors]).numpy().copy()
        if sched is not None:
            sched.step(case.loss(theta)) if case.schedule["name"] == "ReduceLROnPlateau" else sched.step()
        state["k"] = k + 1
        return theta
    if optimizer == "ASGD":                   # ā: torch keeps it as state "ax"
        step.average = lambda: torch.cat([opt.state[t]["ax"].reshape(-1) for t in tensors]).numpy().copy()
    return step


def _scheduler(torch, opt, schedule):
    if not schedule or schedule["name"] == "MomentumWarmup":
        return None
    spec = dict(schedule)
    name = spec.pop("name")
    if name == "LinearDecayToConstant":
        tau, frac = spec["tau"], spec.get("final_fraction", 0.01)
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda i: (1 - min(i, tau) / tau) + (min(i, tau) / tau) * frac)
    return getattr(torch.optim.lr_scheduler, name)(opt, **spec)
