"""Run an optimizer on a portable problem, save/load the trajectory, compare two runs.

A golden file is one ``.npz`` (read with ``allow_pickle=False``) holding

* ``trajectory`` — (steps + 1, n) iterates θ₀, θ₁, …;
* ``problem.<name>`` — the problem's arrays (θ₀, gradients or A, θ*, ξ);
* ``manifest`` — a JSON string (0-d unicode array): optimizer, hyper-parameters,
  schedule, problem kind, steps, dtype, library and NumPy versions.

The zip is written with fixed timestamps and entry order, so the same run gives the
same bytes in any process.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass

import numpy as np

from .problems import problem_from_arrays

FORMAT = "tinygrad_ngd.golden/1"
_DTYPES = ("float32", "float64")


def _check_dtype(dtype: str) -> str:
    if dtype not in _DTYPES:
        raise ValueError(f"invalid dtype: {dtype!r} (expected one of {_DTYPES})")
    return dtype


def _check_steps(problem, steps):
    if steps is None:
        return problem.steps
    if not isinstance(steps, int) or steps < 1 or steps > problem.steps:
        raise ValueError(f"invalid steps: {steps!r} (expected 1..{problem.steps}, the problem's length)")
    return steps


def make_optimizer(params, optimizer: str, hyper: dict):
    """An optimizer of tinygrad_ngd.optimizers by class name, with JSON-style hyper-parameters."""
    from .. import optimizers as O
    cls = getattr(O, optimizer, None)
    if not (isinstance(cls, type) and issubclass(cls, O.Optimizer)):
        raise ValueError(f"unknown optimizer {optimizer!r} (expected a class name of "  # noqa: TRY004
                         "tinygrad_ngd.optimizers such as 'Adam')")
    return cls(params, **_tuples(hyper))


def _tuples(hyper: dict) -> dict:
    """JSON turns tuples into lists; pairs such as betas/etas/step_sizes go back to tuples."""
    return {k: (tuple(v) if k in ("betas", "etas", "step_sizes") else v) for k, v in hyper.items()}


def make_schedule(optimizer, schedule: dict | None):
    if not schedule:
        return None
    from .. import optimizers as O
    spec = dict(schedule)
    name = spec.pop("name", None)
    cls = getattr(O, name, None) if isinstance(name, str) else None
    if cls is None or not hasattr(cls, "step"):
        raise ValueError(f"unknown schedule {name!r} (expected e.g. 'StepLR', 'ReduceLROnPlateau')")
    return cls(optimizer, **spec)


def run_tinygrad(problem, optimizer: str, hyper: dict, steps: int | None = None,
                 dtype: str = "float64", schedule: dict | None = None, block_sizes=None) -> np.ndarray:
    """θ₀ … θ_steps of our optimizer on ``problem`` (one schedule step per optimizer step;
    ReduceLROnPlateau gets the problem's loss at the new iterate)."""
    from .. import backend as B
    from ..flat import FlatParameters
    dtype = _check_dtype(dtype)
    steps = _check_steps(problem, steps)
    params = FlatParameters.from_array(B.asarray(problem.theta0.astype(dtype)), block_sizes=block_sizes)
    opt = make_optimizer(params, optimizer, hyper)
    sched = make_schedule(opt, schedule)
    out = np.empty((steps + 1, params.numel), dtype=dtype)
    out[0] = B.to_numpy(params.data)
    for k in range(steps):
        def closure(k=k):
            g = problem.gradient(k, B.to_numpy(params.data)).astype(dtype)
            params.grad[...] = B.asarray(g)
        opt.step(closure=closure)
        theta = B.to_numpy(params.data)
        out[k + 1] = theta
        if sched is not None:
            sched.step(problem.loss(theta)) if schedule["name"] == "ReduceLROnPlateau" else sched.step()
    return out


# ---------------------------------------------------------------------------- comparison
def compare(reference, other, rtol: float = 1e-10, atol: float = 0.0) -> dict:
    """Per-step errors of ``other`` against ``reference`` (both (steps + 1, n)).

    ``max_abs_error[k]`` = maxᵢ |other − ref|; ``max_rel_error[k]`` = that divided by
    maxᵢ |ref| (a norm-wise relative error, defined where ref has zeros);
    ``first_step_outside`` = first k with max_abs_error[k] > atol + rtol·maxᵢ|ref_k|, or None.
    """
    ref = np.asarray(reference, dtype=np.float64)
    oth = np.asarray(other, dtype=np.float64)
    if ref.shape != oth.shape:
        raise ValueError(f"compare: trajectories have shapes {ref.shape} and {oth.shape}")
    abs_err = np.abs(oth - ref).max(axis=1)
    scale = np.abs(ref).max(axis=1)
    rel_err = abs_err / np.where(scale > 0, scale, 1.0)
    bad = np.nonzero(~(abs_err <= atol + rtol * scale))[0]     # nan counts as outside
    first = int(bad[0]) if bad.size else None
    return {"max_abs_error": abs_err, "max_rel_error": rel_err, "first_step_outside": first,
            "ok": first is None, "rtol": rtol, "atol": atol}


# ---------------------------------------------------------------------------- files
@dataclass
class Golden:
    trajectory: np.ndarray
    problem: object
    manifest: dict


def _manifest(problem, optimizer, hyper, steps, dtype, schedule, block_sizes) -> dict:
    from .. import __version__
    return {"format": FORMAT, "optimizer": optimizer, "hyper": hyper, "schedule": schedule or None,
            "problem": problem.kind, "steps": steps, "dtype": dtype,
            "block_sizes": list(block_sizes) if block_sizes else None,
            "library": f"tinygrad_ngd {__version__}", "numpy": np.__version__}


def _write_npz(path, arrays: dict) -> None:
    """np.savez layout with fixed timestamps and order: identical bytes for identical arrays."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def save_golden(path, trajectory, problem, optimizer: str, hyper: dict, dtype: str = "float64",
                schedule: dict | None = None, block_sizes=None) -> dict:
    """Write one golden file; return its manifest."""
    trajectory = np.asarray(trajectory)
    manifest = _manifest(problem, optimizer, hyper, trajectory.shape[0] - 1, _check_dtype(dtype),
                         schedule, block_sizes)
    text = json.dumps(manifest, sort_keys=True)   # raises TypeError on a non-JSON hyper value
    arrays = {"trajectory": trajectory, "manifest": np.array(text)}
    arrays.update({f"problem.{k}": v for k, v in problem.arrays().items()})
    _write_npz(path, arrays)
    return manifest


def export_golden(path, problem, optimizer: str, hyper: dict, steps: int | None = None,
                  dtype: str = "float64", schedule: dict | None = None, block_sizes=None) -> dict:
    """Run our optimizer on ``problem`` and save the golden file."""
    traj = run_tinygrad(problem, optimizer, hyper, steps, dtype, schedule, block_sizes)
    return save_golden(path, traj, problem, optimizer, hyper, dtype, schedule, block_sizes)


def load_golden(path) -> Golden:
    """Read a golden file (no pickle); ValueError naming the file if it is not one."""
    try:
        with np.load(path, allow_pickle=False) as z:
            files = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"load_golden: cannot read {path!s} as an .npz file: {exc}") from exc
    missing = [k for k in ("trajectory", "manifest") if k not in files]
    if missing:
        raise ValueError(f"load_golden: {path!s} lacks {missing} (not a golden trajectory file)")
    manifest = json.loads(str(files["manifest"]))
    if manifest.get("format") != FORMAT:
        raise ValueError(f"load_golden: {path!s} has format {manifest.get('format')!r}, expected {FORMAT!r}")
    arrays = {k[len("problem."):]: v for k, v in files.items() if k.startswith("problem.")}
    return Golden(files["trajectory"], problem_from_arrays(manifest["problem"], arrays), manifest)


def check_golden(path, against: str = "tinygrad", rtol: float = 1e-10, atol: float = 0.0) -> dict:
    """Replay a golden file with our optimizers (``against="tinygrad"``) or torch.optim
    (``"torch"``) and compare with the stored trajectory."""
    golden = load_golden(path)
    m = golden.manifest
    args = (golden.problem, m["optimizer"], m["hyper"], m["steps"], m["dtype"], m["schedule"],
            m["block_sizes"])
    if against == "tinygrad":
        traj = run_tinygrad(*args)
    elif against == "torch":
        from .torch_adapter import run_torch
        traj = run_torch(*args)
    else:
        raise ValueError(f"invalid against: {against!r} (expected 'tinygrad' or 'torch')")
    return compare(golden.trajectory, traj, rtol, atol)
