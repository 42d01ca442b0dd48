"""Run a portable problem through ``torch.optim`` (torch is imported lazily).

The same hyper-parameter dict as :func:`trajectory.run_tinygrad` is accepted as long as
it only uses PyTorch's options: our extra conventions (SGD ``form="notes"``, Rprop
variants other than "irprop-", ``eps_mode`` other than PyTorch's) raise ValueError, since
torch has no such thing to compare with.  A per-block ``lr`` becomes one param group per
block.  Gradients come from the problem (NumPy float64, cast to the dtype), exactly as
in our runner, so the two runs differ only by the optimizers' arithmetic.
"""

from __future__ import annotations

import itertools

import numpy as np

from .trajectory import _check_dtype, _check_steps, _tuples

# our name -> (torch.optim class name, {our-only key: the value that means "PyTorch's"})
_TORCH = {
    "SGD": ("SGD", {"form": "pytorch"}),
    "Adam": ("Adam", {"eps_mode": "outside_sqrt"}),
    "AdamW": ("AdamW", {"eps_mode": "outside_sqrt"}),
    "Adagrad": ("Adagrad", {"eps_mode": "outside_sqrt"}),
    "RMSprop": ("RMSprop", {"eps_mode": "outside_sqrt"}),
    "Adadelta": ("Adadelta", {}),
    "Adamax": ("Adamax", {"eps_mode": "inside_max"}),
    "Rprop": ("Rprop", {"variant": "irprop-"}),
    "ASGD": ("ASGD", {}),
}
_TORCH_SCHEDULES = ("StepLR", "MultiStepLR", "ExponentialLR", "LinearLR", "ReduceLROnPlateau")


def _import_torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError("the torch adapter needs PyTorch (pip install 'tinygrad_ngd[verify]')") from exc
    return torch


def torch_hyper(optimizer: str, hyper: dict) -> tuple:
    """(torch class name, keyword arguments) for our optimizer name and hyper-parameters."""
    if optimizer not in _TORCH:
        raise ValueError(f"optimizer {optimizer!r} has no torch.optim equivalent "
                         f"(expected one of {sorted(_TORCH)})")
    name, ours = _TORCH[optimizer]
    kwargs = dict(_tuples(hyper))
    for key, pytorch_value in ours.items():
        value = kwargs.pop(key, pytorch_value)
        if value != pytorch_value:
            raise ValueError(f"{optimizer}({key}={value!r}) is not PyTorch's convention "
                             f"({key}={pytorch_value!r}); torch cannot replay it")
    kwargs.pop("skip_nonfinite", None)
    return name, kwargs


def run_torch(problem, optimizer: str, hyper: dict, steps: int | None = None, dtype: str = "float64",
              schedule: dict | None = None, block_sizes=None) -> np.ndarray:
    """θ₀ … θ_steps of torch.optim on ``problem`` (same contract as run_tinygrad)."""
    torch = _import_torch()
    dtype = _check_dtype(dtype)
    # torch keeps scalar state (ASGD's η and μ, step counts) in the default dtype: run
    # in the trajectory's dtype so float64 runs carry float64 scalars, then restore.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        return _run_torch(torch, problem, optimizer, hyper, steps, dtype, schedule, block_sizes)
    finally:
        torch.set_default_dtype(previous)


def _run_torch(torch, problem, optimizer, hyper, steps, dtype, schedule, block_sizes):
    steps = _check_steps(problem, steps)
    name, kwargs = torch_hyper(optimizer, hyper)
    theta0 = problem.theta0.astype(dtype)
    sizes = list(block_sizes) if block_sizes else [theta0.shape[0]]
    bounds = np.cumsum([0] + sizes)
    tensors = [torch.nn.Parameter(torch.from_numpy(theta0[a:b].copy())) for a, b in itertools.pairwise(bounds)]
    lr = kwargs.pop("lr", None)
    if isinstance(lr, (list, tuple)):
        if len(lr) != len(tensors):
            raise ValueError(f"invalid lr: {len(lr)} values for {len(tensors)} blocks")
        groups = [{"params": [t], "lr": v} for t, v in zip(tensors, lr)]
    else:
        groups = [{"params": tensors} | ({"lr": lr} if lr is not None else {})]
    if name in ("SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax", "Rprop", "ASGD"):
        kwargs.setdefault("foreach", False)   # the plain single-tensor reference loop
    opt = getattr(torch.optim, name)(groups, **kwargs)
    sched = None
    if schedule:
        spec = dict(schedule)
        sname = spec.pop("name")
        if sname not in _TORCH_SCHEDULES:
            raise ValueError(f"schedule {sname!r} has no torch equivalent (expected one of {_TORCH_SCHEDULES})")
        sched = getattr(torch.optim.lr_scheduler, sname)(opt, **spec)
    out = np.empty((steps + 1, theta0.shape[0]), dtype=dtype)
    out[0] = theta0
    for k in range(steps):
        with torch.no_grad():
            theta = torch.cat([t.detach() for t in tensors]).numpy()
        g = problem.gradient(k, theta).astype(dtype)
        for t, (a, b) in zip(tensors, itertools.pairwise(bounds)):
            t.grad = torch.from_numpy(g[a:b].copy())
        opt.step()
        with torch.no_grad():
            theta = torch.cat([t.detach() for t in tensors]).numpy()
        out[k + 1] = theta
        if sched is not None:
            sched.step(problem.loss(theta)) if schedule["name"] == "ReduceLROnPlateau" else sched.step()
    return out
