"""The ``tinygrad-ngd`` command (also ``python -m tinygrad_ngd``).

* ``tinygrad-ngd compare`` — train one model with several optimizers and show the
  difference (default: [Yu et al. 2017, §4.1]'s deep sigmoid MLP on the shipped MNIST subset,
  Adam vs AdamNG and SGDM vs SGDMNG); prints a table, writes a PNG, a CSV and a JSON.
* ``tinygrad-ngd verify …`` — the conformance suite (``verify suite --against torch``,
  optax or your own ``MODULE:FACTORY``) and golden trajectories of
  :mod:`tinygrad_ngd.verify` (its own command line, passed through unchanged).
* ``tinygrad-ngd info`` — backend, dtype, NumPy/BLAS, CuPy and GPU, optional packages.

Setup problems (an unknown name, no CuPy/GPU for ``--backend cupy``, an unwritable
``--out``, missing data) are found before any training and printed as one line
``error: …`` with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from . import __version__
from . import backend as B
from .runs import (
    SetupError,
    apply_thread_option,
    claim_run_dir,
    select_backend,
    write_csv,
    write_json,
    write_run_files,
)

EXIT_SETUP = 2


# ---------------------------------------------------------------- argument parsing
def _parse_lr(text: str) -> dict:
    """``--lr 0.01`` (every optimizer) or ``--lr adam=1e-3,sgdm=0.05``."""
    out = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            name, value = "*", part
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number or name=number pairs, got {part!r}") from None
    if not out:
        raise argparse.ArgumentTypeError("empty --lr")
    return out


def _epochs(text: str) -> tuple:
    try:
        return tuple(int(n) for n in text.split(",") if n.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated epoch numbers, got {text!r}") from None


def _names(text: str) -> tuple:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def build_parser() -> argparse.ArgumentParser:
    from .compare import DATASETS, MODELS, OPTIMIZERS

    parser = argparse.ArgumentParser(
        prog="tinygrad-ngd",
        description="tinygrad_ngd: a readable, exact NumPy/CuPy reference for optimization methods "
                    "in deep learning.")
    parser.add_argument("--version", action="version", version=f"tinygrad_ngd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{compare,verify,info}")

    c = sub.add_parser(
        "compare", help="train one model with several optimizers and compare them (the main job)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train one model with several optimizers from the same initial weights on the same "
                    "batches; print a table, write compare.png, history.csv and history.json.\n\n"
                    "Default: [Yu et al. 2017, §4.1] — a 10-layer sigmoid MLP (width 100) on the shipped MNIST "
                    "subset, Adam vs AdamNG and SGDM vs SGDMNG, 15 epochs (about 10–30 s on 2 CPU cores).\n\n"
                    "optimizers: " + ", ".join(OPTIMIZERS) + "\nmodels: " + ", ".join(MODELS)
                    + "\ndatasets: " + ", ".join(DATASETS))
    c.add_argument("--model", default="mlp", help=f"one of: {', '.join(MODELS)} (default mlp)")
    c.add_argument("--depth", type=int, default=None,
                   help="mlp: Dense layers (default 10); cnn: conv stages (2); resnet: 6n+2 (20)")
    c.add_argument("--width", type=int, default=None, help="mlp hidden units (100) / cnn first channels (16)")
    c.add_argument("--dataset", default="mnist-subset", help=f"one of: {', '.join(DATASETS)}")
    c.add_argument("--data-dir", default=None, help="directory of the data set's files (mnist, cifar10, …)")
    c.add_argument("--optimizers", type=_names, default=("adam", "adam-ng", "sgdm", "sgdm-ng"),
                   help="comma-separated names (default adam,adam-ng,sgdm,sgdm-ng)")
    c.add_argument("--lr", type=_parse_lr, default={},
                   help="learning rate: one number for every optimizer (--lr 0.01) or per optimizer "
                        "(--lr adam=1e-3,sgdm=0.05); an optimizer not named keeps its default: "
                        + ", ".join(f"{name} {spec.lr:g}" for name, spec in OPTIMIZERS.items()))
    c.add_argument("--epochs", type=int, default=None, help="epochs per optimizer (default 15; --quick 2)")
    c.add_argument("--batch-size", type=int, default=100, help="mini-batch size (100, as [Yu et al. 2017])")
    c.add_argument("--lr-milestones", type=_epochs, default=(),
                   help="epochs after which the lr is multiplied by 0.1, e.g. 80,120 ([Yu et al. 2017, §4.2])")
    c.add_argument("--train-size", type=int, default=None, help="use only the first N training examples")
    c.add_argument("--test-size", type=int, default=None, help="use only the first N test examples")
    c.add_argument("--backend", default=B.get_backend(), choices=B.BACKENDS, metavar="{numpy,cupy,cupy-emulated}",
                   help="numpy, cupy (a GPU), or cupy-emulated (CuPy's rules computed by NumPy on the CPU: "
                        "checks the GPU path without a GPU; its speed means nothing); "
                        "default: TINYGRAD_NGD_BACKEND, else numpy")
    c.add_argument("--dtype", default="float32", help="float32 (default) or float64")
    c.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the batch order")
    c.add_argument("--out", default=os.path.join("runs", "compare"),
                   help="output directory (runs/compare). A run's files are written as one set (staged, "
                        "then renamed into place; Ctrl-C leaves the earlier run whole). If --out already "
                        "holds files, this run goes to a fresh directory OUT-2, OUT-3, … (printed), never "
                        "over or beside an earlier run; --overwrite replaces the earlier run instead")
    c.add_argument("--overwrite", action="store_true",
                   help="replace the earlier run in --out (all its files, as a set; refused if --out holds "
                        "files compare did not write)")
    c.add_argument("--threads", type=int, default=1,
                   help="host BLAS threads (default 1, fastest for these small matrices; 0 = leave as is)")
    c.add_argument("--quick", action="store_true",
                   help="a smoke run in seconds: 1,000 training and 500 test examples, 2 epochs, depth ≤ 4")
    c.add_argument("--no-plot", action="store_true", help="do not write the PNG")

    v = sub.add_parser("verify", help="conformance suite: check torch, optax or your own optimizer "
                                      "against our reference cases (tinygrad-ngd verify --help)",
                       add_help=False)
    v.add_argument("args", nargs=argparse.REMAINDER)

    sub.add_parser("info", help="backend, dtype, NumPy/BLAS configuration, CuPy and GPU")
    return parser


# ---------------------------------------------------------------- compare
def _compare_config(args):
    from .compare import CompareConfig

    cfg = CompareConfig(model=args.model, depth=args.depth, width=args.width, dataset=args.dataset,
                        data_dir=args.data_dir, optimizers=args.optimizers, lr=dict(args.lr),
                        epochs=args.epochs if args.epochs is not None else 15, batch_size=args.batch_size,
                        train_size=args.train_size, test_size=args.test_size, seed=args.seed,
                        lr_milestones=args.lr_milestones)
    if args.quick:
        cfg.epochs = args.epochs if args.epochs is not None else 2
        cfg.train_size = args.train_size if args.train_size is not None else 1000
        cfg.test_size = args.test_size if args.test_size is not None else 500
        if args.depth is None and args.model == "mlp":
            cfg.depth = 4
        if args.depth is None and args.model == "resnet":
            cfg.depth = 8
    return cfg


def cmd_compare(args) -> int:
    from . import compare as C

    # Everything that can be wrong is checked before the first step of training.
    cfg = C.check_config(_compare_config(args))
    select_backend(args.backend, args.dtype)
    if args.threads < 0:
        raise SetupError(f"--threads must be >= 0, got {args.threads}")
    out = claim_run_dir(args.out, overwrite=args.overwrite, own_files=C.RUN_FILES)
    if out != Path(args.out).expanduser() and not args.overwrite:
        print(f"note: {args.out} holds an earlier run; this run is written to {out} (--overwrite replaces it)")
    apply_thread_option(args.threads if args.threads > 0 else None)

    t0 = time.perf_counter()
    cfg, histories = C.run_compare(cfg)
    total = time.perf_counter() - t0
    rows = C.summary_rows(histories)
    print()
    print(C.format_table(rows))
    print()
    for line in C.what_to_notice(rows):
        print("notice: " + line)
    from dataclasses import asdict

    def plot(path):
        if args.no_plot:
            return
        try:
            title = (f"{cfg.model} depth {cfg.depth} on {cfg.dataset} "
                     f"({B.get_backend()}, {B.get_default_dtype().__name__})")
            C.plot_histories(histories, path, title)
        except ImportError as exc:  # matplotlib missing: the numbers are still written
            print(f"note: no plot written ({exc})")

    record = {"config": asdict(cfg), "backend": B.get_backend(), "dtype": B.get_default_dtype().__name__,
              "total_seconds": total, "summary": rows, "histories": histories}
    written = write_run_files(out, {
        "compare.png": plot,
        "history.csv": lambda p: write_csv(p, C.history_rows(histories)),
        "summary.csv": lambda p: write_csv(p, rows),
        "history.json": lambda p: write_json(p, record)})
    print(f"wrote {', '.join(str(p) for p in written)}  (total {total:.1f} s)")
    return 0


# ---------------------------------------------------------------- verify
def cmd_verify(args) -> int:
    try:
        from .verify.__main__ import main as verify_main
    except ImportError as exc:
        raise SetupError(f"verify: tinygrad_ngd.verify has no command line yet ({exc})") from None
    rest = list(args.args)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    result = verify_main(rest, prog="tinygrad-ngd verify")
    return int(result or 0)


# ---------------------------------------------------------------- info
def _blas_lines() -> list:
    import numpy as np

    from .runs import blas_threads

    lines = [f"numpy        {np.__version__}"]
    try:
        cfg = np.show_config(mode="dicts")
        deps = cfg.get("Build Dependencies", {})
        for key in ("blas", "lapack"):
            d = deps.get(key, {})
            if d:
                lines.append(f"  {key:<10} {d.get('name', '?')} {d.get('version', '')} "
                             f"{(d.get('openblas configuration') or '').strip()}".rstrip())
        simd = cfg.get("SIMD Extensions", {})
        if simd:
            lines.append(f"  SIMD       baseline {simd.get('baseline')}, found {simd.get('found')}")
    except (TypeError, AttributeError):  # older numpy: print the text report
        np.show_config()
    threads = blas_threads()
    lines.append(f"  BLAS threads now: {threads if threads is not None else 'unknown'}")
    try:
        from threadpoolctl import threadpool_info
        for pool in threadpool_info():
            lines.append(f"  threadpool {pool.get('internal_api')} {pool.get('version')} "
                         f"threads={pool.get('num_threads')} arch={pool.get('architecture')} "
                         f"({pool.get('filepath')})")
    except ImportError:
        lines.append("  threadpoolctl: not installed (optional)")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        lines.append(f"  {var}={os.environ.get(var, '(unset)')}")
    return lines


def _gpu_lines() -> list:
    try:
        import cupy
    except ImportError:
        return ["cupy         not installed (pip install 'tinygrad_ngd[cupy]' on a CUDA 12 machine)"]
    lines = [f"cupy         {cupy.__version__}"]
    try:
        n = cupy.cuda.runtime.getDeviceCount()
        rt = cupy.cuda.runtime.runtimeGetVersion()
        lines.append(f"  CUDA runtime {rt // 1000}.{(rt % 1000) // 10}, {n} device(s)")
        for i in range(n):
            p = cupy.cuda.runtime.getDeviceProperties(i)
            name = p["name"].decode() if isinstance(p["name"], bytes) else p["name"]
            lines.append(f"  GPU {i}: {name}, {p['totalGlobalMem'] / 2**30:.1f} GiB, "
                         f"compute capability {p['major']}.{p['minor']}")
    except Exception as exc:  # noqa: BLE001 - any CUDA failure means "no usable GPU"
        lines.append(f"  no usable GPU: {str(exc).splitlines()[0]}")
    return lines


def _optional_lines() -> list:
    import importlib
    lines = []
    for mod in ("scipy", "matplotlib", "tqdm", "torch", "pytest", "hypothesis"):
        try:
            m = importlib.import_module(mod)
            lines.append(f"{mod:<12} {getattr(m, '__version__', '?')}")
        except ImportError:
            lines.append(f"{mod:<12} not installed")
    return lines


def info_text() -> str:
    lines = [f"tinygrad_ngd {__version__}  ({os.path.dirname(os.path.abspath(__file__))})",
             f"python       {platform.python_version()} on {platform.platform()}",
             f"cpus         {os.cpu_count()}",
             (f"backend      {B.get_backend()} (env TINYGRAD_NGD_BACKEND="
              f"{os.environ.get('TINYGRAD_NGD_BACKEND', '(unset)')})"),
             f"dtype        {B.get_default_dtype().__name__} (default for new tensors)"]
    if B.backend_problem():
        lines.insert(4, f"  PROBLEM: {B.backend_problem()}; using numpy instead")
    lines += _blas_lines()
    lines += _gpu_lines()
    lines += _optional_lines()
    return "\n".join(lines)


def cmd_info(args) -> int:
    print(info_text())
    return 0


# ---------------------------------------------------------------- entry point
def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:  # Ctrl-C anywhere from here — the lazy imports included — is one line and status 130
        parser = build_parser()
        if argv[:1] == ["verify"]:
            # everything after "verify" belongs to tinygrad_ngd.verify's own parser (including --help)
            args = argparse.Namespace(command="verify", args=argv[1:])
        else:
            args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        handlers = {"compare": cmd_compare, "verify": cmd_verify, "info": cmd_info}
        return handlers[args.command](args)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
