"""Golden trajectories: portable problems, runs, files, comparisons, a torch adapter.

    from tinygrad_ngd import verify as V
    prob = V.noisy_quadratic(n=8, steps=150, seed=0)
    traj = V.run_tinygrad(prob, "Adam", {"lr": 0.01})
    V.save_golden("adam.npz", traj, prob, "Adam", {"lr": 0.01})
    report = V.check_golden("adam.npz", against="torch")   # needs torch
    report["first_step_outside"], report["max_rel_error"]

Command line: ``python -m tinygrad_ngd.verify export …`` / ``… check …``.
"""

from .problems import (
    FixedGradients,
    NoisyQuadratic,
    fixed_gradients,
    noisy_quadratic,
    problem_from_arrays,
)
from .trajectory import (
    Golden,
    check_golden,
    compare,
    export_golden,
    load_golden,
    run_tinygrad,
    save_golden,
)


def run_torch(*args, **kwargs):
    """See :func:`tinygrad_ngd.verify.torch_adapter.run_torch` (imports torch on first use)."""
    from .torch_adapter import run_torch as _run
    return _run(*args, **kwargs)


__all__ = [
    "FixedGradients",
    "Golden",
    "NoisyQuadratic",
    "check_golden",
    "compare",
    "export_golden",
    "fixed_gradients",
    "load_golden",
    "noisy_quadratic",
    "problem_from_arrays",
    "run_tinygrad",
    "run_torch",
    "save_golden",
]
