"""The ``verify`` command line (``tinygrad-ngd verify …`` = ``python -m tinygrad_ngd.verify …``).

Subcommands: ``suite`` (the conformance suite), ``regenerate`` (rewrite the catalog),
``export`` / ``check`` (one golden trajectory).  Exit status: 0 success / every supported
case matches, 1 a difference, 2 a usage or setup error.
"""

from __future__ import annotations

import argparse
import json
import sys

DESCRIPTION = """\
Check optimizer and layer implementations against this library's reference cases.

  suite       run the shipped catalog against torch, optax, our own code, or yours
              (MODULE:FACTORY, see docs/verify.md) and print one row per case
  regenerate  rewrite the catalog from our implementation (bit for bit)
  export      run one of our optimizers on a portable problem, write a golden .npz
  check       replay a golden .npz (ours or torch) and compare

exit status: 0 all supported cases match, 1 a case differs, 2 a usage or setup error"""

EXAMPLES = """\
examples:
  {prog} suite --against torch
  {prog} suite --against optax --cases 'adam*'
  {prog} suite --kind layers --against torch
  {prog} suite --against my_module:make_stepper --rtol 1e-9
  {prog} export --optimizer Adam --hyper '{{"lr": 0.01}}' --out adam.npz
  {prog} check adam.npz --against torch"""


class _Parser(argparse.ArgumentParser):
    """Usage errors exit with status 2 and one ``error:`` line (argparse's own behaviour)."""


def build_parser(prog: str = "python -m tinygrad_ngd.verify") -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description=DESCRIPTION, epilog=EXAMPLES.format(prog=prog),
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{suite,regenerate,export,check}")

    st = sub.add_parser("suite", help="run the catalog's cases against a target and print a table",
                        description="Run the catalog's cases against a target; one row per case "
                                    "(case, steps, max relative error, first step outside the "
                                    "tolerance, status) and a summary line.")
    st.add_argument("--against", required=True, metavar="TARGET",
                    help="torch, optax, tinygrad (ours, replayed), or MODULE:FACTORY — a callable "
                         "FACTORY(case) returning stepper(grad, lr) -> new parameters, or None")
    st.add_argument("--cases", default=None, metavar="PATTERN",
                    help="only cases whose name matches this glob, e.g. 'adam*' (default: all)")
    st.add_argument("--kind", choices=("optimizers", "layers"), default="optimizers",
                    help="optimizer trajectories (default) or layer/curvature fixtures (torch only)")
    st.add_argument("--rtol", type=float, default=None,
                    help="relative tolerance, norm-wise: per step for optimizers, per array for "
                         "layers (default 1e-10)")
    st.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (default 0)")
    st.add_argument("--catalog", default=None, metavar="DIR",
                    help="a catalog folder (default: the one shipped in the package)")

    rg = sub.add_parser("regenerate", help="rewrite the catalog from our implementation",
                        description="Rewrite the catalog (problems, goldens, layer fixtures, "
                                    "manifest.json) from our implementation.")
    rg.add_argument("--out", default=None, metavar="DIR",
                    help="write here instead of the package's catalog folder")

    ex = sub.add_parser("export", help="run one of our optimizers and write a golden .npz")
    ex.add_argument("--optimizer", required=True, help="class name in tinygrad_ngd.optimizers, e.g. Adam")
    ex.add_argument("--hyper", default="{}", help='hyper-parameters as a JSON object, e.g. {"lr": 0.01}')
    ex.add_argument("--schedule", default="null", help='a schedule as JSON, e.g. {"name": "StepLR", "step_size": 10}')
    ex.add_argument("--problem", choices=("noisy_quadratic", "fixed_gradients"), default="noisy_quadratic",
                    help="the portable problem (default noisy_quadratic)")
    ex.add_argument("--n", type=int, default=8, help="number of parameters (default 8)")
    ex.add_argument("--steps", type=int, default=150, help="optimizer steps to record (default 150)")
    ex.add_argument("--seed", type=int, default=0, help="seed of the problem's random arrays (default 0)")
    ex.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                    help="dtype of the run (default float64)")
    ex.add_argument("--block-sizes", default=None, help="comma-separated block sizes (per-block lr)")
    ex.add_argument("--out", required=True, help="the .npz file to write")

    ck = sub.add_parser("check", help="replay a golden .npz and compare")
    ck.add_argument("path", help="a golden .npz written by export")
    ck.add_argument("--against", choices=("tinygrad", "torch"), default="tinygrad",
                    help="replay with our optimizers (default) or torch.optim")
    ck.add_argument("--rtol", type=float, default=1e-10, help="relative tolerance (default 1e-10)")
    ck.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (default 0)")
    return parser


def _json(parser, text, what):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        parser.error(f"--{what} is not valid JSON: {exc}")
    if value is not None and not isinstance(value, dict):
        parser.error(f"--{what} must be a JSON object")
    return value


def main(argv=None, prog: str = "python -m tinygrad_ngd.verify") -> int:
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:          # --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        return _run(parser, args)
    except SystemExit as exc:
        return int(exc.code or 0)
    except (ValueError, TypeError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(parser, args) -> int:
    if args.command == "suite":
        return _suite(args)
    if args.command == "regenerate":
        from .catalog import CATALOG_DIR, build_catalog
        manifest = build_catalog(args.out)
        where = args.out or CATALOG_DIR
        print(f"wrote {len(manifest['cases'])} optimizer cases, {len(manifest['layers'])} layer fixtures "
              f"and {len(manifest['problems'])} problems to {where}")
        return 0
    if args.command == "export":
        from . import export_golden, fixed_gradients, noisy_quadratic
        make = noisy_quadratic if args.problem == "noisy_quadratic" else fixed_gradients
        problem = make(n=args.n, steps=args.steps, seed=args.seed)
        blocks = [int(s) for s in args.block_sizes.split(",")] if args.block_sizes else None
        manifest = export_golden(args.out, problem, args.optimizer, _json(parser, args.hyper, "hyper"),
                                 dtype=args.dtype, schedule=_json(parser, args.schedule, "schedule"),
                                 block_sizes=blocks)
        print(f"wrote {args.out}: {manifest['optimizer']} {manifest['hyper']} on {manifest['problem']}, "
              f"{manifest['steps']} steps, {manifest['dtype']}")
        return 0
    from . import check_golden
    report = check_golden(args.path, against=args.against, rtol=args.rtol, atol=args.atol)
    first = report["first_step_outside"]
    print(f"{args.path} vs {args.against}: max abs error {report['max_abs_error'].max():.3e}, "
          f"max rel error {report['max_rel_error'].max():.3e}, "
          + ("all steps within tolerance" if first is None else f"first step outside tolerance: {first}"))
    return 0 if first is None else 1


def _suite(args) -> int:
    import time
    for name in ("rtol", "atol"):
        value = getattr(args, name)
        if value is not None and not value >= 0:
            raise ValueError(f"invalid --{name}: {value!r} (expected a number >= 0)")
    rtol = 1e-10 if args.rtol is None else args.rtol
    t0 = time.perf_counter()
    if args.kind == "layers":
        from .layer_fixtures import check_layers, format_layer_table
        rows = check_layers(args.against, args.cases, rtol, args.atol, args.catalog)
        print(format_layer_table(rows, args.against, time.perf_counter() - t0))
        return 1 if any(r.status == "differs" for r in rows) else 0
    from .suite import exit_status, format_table, run_suite
    rows = run_suite(args.against, args.cases, rtol, args.atol, args.catalog)
    print(format_table(rows, args.against, time.perf_counter() - t0))
    return exit_status(rows)


if __name__ == "__main__":
    sys.exit(main())
