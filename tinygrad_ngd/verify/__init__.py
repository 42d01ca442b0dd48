"""The conformance suite and golden trajectories: portable problems, a shipped catalog of
reference cases, runs, files, comparisons, the torch and optax targets.

    from tinygrad_ngd import verify as V
    rows = V.run_suite("torch")                 # or "optax", or "my_module:factory"
    print(V.format_table(rows, "torch"))
    cases = V.load_cases("adam*")              # what a plug-in's factory receives

One golden trajectory by hand:

    from tinygrad_ngd import verify as V
    prob = V.noisy_quadratic(n=8, steps=150, seed=0)
    traj = V.run_tinygrad(prob, "Adam", {"lr": 0.01})
    V.save_golden("adam.npz", traj, prob, "Adam", {"lr": 0.01})
    report = V.check_golden("adam.npz", against="torch")   # needs torch
    report["first_step_outside"], report["max_rel_error"]

Command line: ``tinygrad-ngd verify suite|regenerate|export|check`` (see docs/verify.md).
"""

from .catalog import Case, build_catalog, load_cases, load_manifest
from .problems import (
    FixedGradients,
    MLPGradients,
    NoisyQuadratic,
    fixed_gradients,
    mlp_gradients,
    noisy_quadratic,
    problem_from_arrays,
)
from .suite import Convention, Row, Skip, drive, exit_status, format_table, run_suite
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
    "Case",
    "Convention",
    "MLPGradients",
    "Row",
    "Skip",
    "build_catalog",
    "drive",
    "exit_status",
    "format_table",
    "load_cases",
    "load_manifest",
    "mlp_gradients",
    "run_suite",
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
