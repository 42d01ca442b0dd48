"""The shipped conformance catalog: build it (our implementation writes the goldens), load it.

Layout of ``tinygrad_ngd/verify/data/`` (regenerate with
``python3 -m tinygrad_ngd verify regenerate``; identical bytes wherever
:func:`platform_fingerprint` — NumPy, BLAS, CPU SIMD level — is the one in the manifest):

* ``manifest.json`` — format, library version, and one entry per problem / optimizer case /
  layer fixture with its file and SHA-256;
* ``problems/<problem>.npz`` — the problem's arrays (``theta0`` and ``grads``, or ``A``,
  ``theta_star``, ``noise``, or ``X``, ``Y``, ``hidden``): see :mod:`.problems`;
* ``optimizers/<case>.npz`` — ``trajectory`` (steps + 1, n): θ₀ … θ_steps of our
  implementation; ``lr`` (steps,) or (steps, blocks): the rate used at each step (the
  schedule applied); ``momentum`` (steps,) for a momentum schedule; ``average``
  (steps + 1, n) for ASGD: its averaged iterate ā after each step (θ₀ before the first);
* ``layers/<fixture>.npz`` — see :mod:`.layer_fixtures`.

Every ``.npz`` reads with ``numpy.load(path, allow_pickle=False)``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import problems as P
from .cases import CASES, PROBLEMS
from .trajectory import _tuples, _write_npz, make_schedule

FORMAT = "tinygrad_ngd.verify-catalog/1"
CATALOG_DIR = Path(__file__).resolve().parent / "data"
_WRAPPERS = ("BlockNormalized", "NGAdap", "ClipGradNorm")
_GENERATORS = {"noisy_quadratic": P.noisy_quadratic, "fixed_gradients": P.fixed_gradients,
               "mlp": P.mlp_gradients}


def make_problem(name: str):
    """The problem instance ``name`` of :data:`cases.PROBLEMS`, generated from its seed."""
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r} (expected one of {sorted(PROBLEMS)})")
    kind, kwargs = PROBLEMS[name]
    return _GENERATORS[kind](**kwargs)


# ---------------------------------------------------------------------------- our runs
def build_ours(spec: dict, theta0, overrides: dict | None = None):
    """(params, optimizer) of our library for a case spec; ``overrides`` replace
    hyper-parameters (``{"base": {...}}`` those of a wrapper's base optimizer)."""
    from .. import backend as B
    from .. import optimizers as O
    from ..flat import FlatParameters
    overrides = dict(overrides or {})
    base_over = overrides.pop("base", {})
    params = FlatParameters.from_array(B.asarray(np.array(theta0, dtype=np.float64)),
                                       block_sizes=spec["block_sizes"])
    hyper = _tuples({**spec["hyper"], **overrides})
    if spec["optimizer"] in _WRAPPERS:
        base_spec = spec["base"]
        base = getattr(O, base_spec["optimizer"])(params, **_tuples({**base_spec["hyper"], **base_over}))
        hyper.pop("lr", None)
        return params, getattr(O, spec["optimizer"])(base, **hyper)
    return params, getattr(O, spec["optimizer"])(params, **hyper)


def _lr_now(opt):
    lr = opt.lr
    return [float(v) for v in lr] if isinstance(lr, (list, tuple)) else float(lr)


def run_golden(spec: dict, problem) -> dict:
    """Run our implementation on the case: the arrays of its golden file."""
    from .. import backend as B
    from .. import optimizers as O
    params, opt = build_ours(spec, problem.theta0)
    schedule = spec["schedule"]
    sched_name = schedule["name"] if schedule else None
    sched = None
    if sched_name == "MomentumWarmup":
        inner = opt.base if spec["optimizer"] in _WRAPPERS else opt
        sched = O.MomentumWarmup(inner, **{k: v for k, v in schedule.items() if k != "name"})
    elif schedule:
        sched = make_schedule(opt, schedule)
    steps = spec["steps"]
    traj = np.empty((steps + 1, params.numel))
    traj[0] = problem.theta0
    lrs, moms = [], []
    averaged = [problem.theta0.copy()] if spec["optimizer"] == "ASGD" else None
    theta = problem.theta0.copy()
    for k in range(steps):
        lrs.append(_lr_now(opt))
        if sched_name == "MomentumWarmup":
            moms.append(float(opt.hyper["momentum"]))
        opt.step(grad=B.asarray(problem.gradient(k, theta)))
        theta = B.to_numpy(params.data).copy()
        traj[k + 1] = theta
        if averaged is not None:
            averaged.append(B.to_numpy(opt.averaged()).copy())       # ASGD's ā
        if sched_name == "ReduceLROnPlateau":
            sched.step(problem.loss(theta))
        elif sched is not None:
            sched.step()
    out = {"trajectory": traj, "lr": np.array(lrs, dtype=np.float64)}
    if moms:
        out["momentum"] = np.array(moms, dtype=np.float64)
    if averaged is not None:
        out["average"] = np.array(averaged)
    return out


# ---------------------------------------------------------------------------- build
def platform_fingerprint() -> str:
    """NumPy, BLAS, machine and the SIMD level NumPy dispatches to: the catalog's bytes are
    reproducible bit for bit where this string is the same (tanh, reductions and BLAS
    kernels may round differently on another CPU or build)."""
    import platform
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core import _multiarray_umath as umath
    features = getattr(umath, "__cpu_features__", {})
    levels = [f for f in ("X86_V2", "X86_V3", "X86_V4", "AVX512_SKX", "ASIMD", "SVE", "VSX3") if features.get(f)]
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - informational only
        blas = "unknown BLAS"
    return f"numpy {np.__version__}, {blas}, {platform.machine()}, simd {'+'.join(levels) or 'baseline'}"


def _sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build_catalog(out_dir=None, layers: bool = True) -> dict:
    """Write the whole catalog to ``out_dir`` (default: the package's catalog folder);
    return the manifest.  Deterministic: the same bytes on every run."""
    from .. import __version__
    out = Path(out_dir) if out_dir is not None else CATALOG_DIR
    for sub in ("problems", "optimizers", "layers"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    manifest = {"format": FORMAT, "library": f"tinygrad_ngd {__version__}",
                "platform": platform_fingerprint(), "problems": {},
                "cases": [], "layers": []}
    problems = {}
    for name, (kind, kwargs) in PROBLEMS.items():
        problems[name] = prob = make_problem(name)
        path = out / "problems" / f"{name}.npz"
        _write_npz(path, prob.arrays())
        manifest["problems"][name] = {"kind": kind, "generator": kwargs, "file": f"problems/{name}.npz",
                                      "n": int(prob.theta0.shape[0]), "sha256": _sha256(path)}
    for spec in CASES:
        prob = problems[spec["problem"]]
        path = out / "optimizers" / f"{spec['name']}.npz"
        _write_npz(path, run_golden(spec, prob))
        entry = {**spec, "seed": PROBLEMS[spec["problem"]][1]["seed"], "dtype": "float64",
                 "library": manifest["library"], "file": f"optimizers/{spec['name']}.npz",
                 "sha256": _sha256(path)}
        manifest["cases"].append(entry)
    if layers:
        from .layer_fixtures import build_layer_fixtures
        for name, arrays, meta in build_layer_fixtures():
            path = out / "layers" / f"{name}.npz"
            _write_npz(path, arrays)
            manifest["layers"].append({"name": name, **meta, "file": f"layers/{name}.npz",
                                       "sha256": _sha256(path)})
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    tmp = out / "manifest.json.tmp"
    tmp.write_text(text)
    os.replace(tmp, out / "manifest.json")
    return manifest


# ---------------------------------------------------------------------------- load
@dataclass
class Case:
    """One optimizer case, as a plug-in sees it.

    The protocol's fields: ``optimizer`` (our class name), ``hyper`` (PyTorch-style
    keywords, ``lr`` included), ``theta0`` (1-D float64), ``steps``.  Extras: ``name``,
    ``schedule``, ``problem``, ``block_sizes`` (per-block lr: ``lr`` is then a list and
    the stepper gets one rate per block), ``base_optimizer`` / ``base_hyper`` (wrappers),
    ``lrs`` (the rate of every step), ``momentum`` (a momentum schedule's values or
    None), ``average`` (ASGD: our ā after each step, else None), ``gradient(k, theta)``
    and ``loss(theta)`` (the problem), ``trajectory`` (our golden θ₀ … θ_steps).
    """
    name: str
    optimizer: str
    hyper: dict
    theta0: np.ndarray
    steps: int
    schedule: dict | None
    problem: str
    block_sizes: list | None
    base_optimizer: str | None
    base_hyper: dict | None
    lrs: np.ndarray
    momentum: np.ndarray | None
    average: np.ndarray | None
    trajectory: np.ndarray = field(repr=False)
    spec: dict = field(repr=False)
    problem_data: object = field(repr=False)

    def gradient(self, k: int, theta) -> np.ndarray:
        """g_k at θ (what the suite feeds the stepper at step k)."""
        return self.problem_data.gradient(k, theta)

    def loss(self, theta) -> float:
        return self.problem_data.loss(theta)

    def lr_at(self, k: int):
        """The rate of step k: a float, or a tuple of per-block floats."""
        v = self.lrs[k]
        return tuple(float(x) for x in v) if np.ndim(v) else float(v)


def load_checked(root, entry) -> dict:
    """The arrays of a catalog file, after checking its SHA-256 against the manifest entry
    (ValueError naming the file otherwise: a damaged or hand-edited catalog is never used)."""
    path = Path(root) / entry["file"]
    try:
        digest = _sha256(path)
    except OSError as exc:
        raise ValueError(f"catalog file {path} cannot be read: {exc}") from exc
    if digest != entry["sha256"]:
        raise ValueError(f"catalog file {path} does not match its checksum in manifest.json "
                         "(damaged or edited; reinstall, or run 'python3 -m tinygrad_ngd verify regenerate')")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def load_manifest(catalog_dir=None) -> dict:
    root = Path(catalog_dir) if catalog_dir is not None else CATALOG_DIR
    path = root / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read the catalog manifest {path}: {exc} (regenerate it with "
                         "'python3 -m tinygrad_ngd verify regenerate')") from exc
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest


def load_cases(pattern: str | None = None, catalog_dir=None) -> list:
    """The catalog's optimizer cases (those whose name matches the glob ``pattern``)."""
    import fnmatch
    root = Path(catalog_dir) if catalog_dir is not None else CATALOG_DIR
    manifest = load_manifest(root)
    problems = {}
    out = []
    for e in manifest["cases"]:
        if pattern and not fnmatch.fnmatchcase(e["name"], pattern):
            continue
        if e["problem"] not in problems:
            meta = manifest["problems"][e["problem"]]
            problems[e["problem"]] = P.problem_from_arrays(meta["kind"], load_checked(root, meta))
        prob = problems[e["problem"]]
        arrays = load_checked(root, e)
        base = e.get("base") or {}
        out.append(Case(name=e["name"], optimizer=e["optimizer"], hyper=dict(e["hyper"]),
                        theta0=prob.theta0.copy(), steps=int(e["steps"]), schedule=e["schedule"],
                        problem=e["problem"], block_sizes=e["block_sizes"],
                        base_optimizer=base.get("optimizer"), base_hyper=base.get("hyper"),
                        lrs=arrays["lr"], momentum=arrays.get("momentum"), average=arrays.get("average"),
                        trajectory=arrays["trajectory"], spec=e, problem_data=prob))
    return out
