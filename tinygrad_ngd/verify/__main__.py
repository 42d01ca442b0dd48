"""``python -m tinygrad_ngd.verify export|check``: write or replay golden trajectories.

    python -m tinygrad_ngd.verify export --optimizer Adam --hyper '{"lr": 0.01}' \\
        --problem noisy_quadratic --n 8 --steps 150 --seed 0 --out adam.npz
    python -m tinygrad_ngd.verify check adam.npz --against torch --rtol 1e-10

``check`` prints the largest absolute/relative error and the first step outside the
tolerance, and exits with status 1 when there is one.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import check_golden, export_golden, fixed_gradients, noisy_quadratic


def _json(text, what):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"error: --{what} is not valid JSON: {exc}") from None
    if value is not None and not isinstance(value, dict):
        raise SystemExit(f"error: --{what} must be a JSON object")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinygrad_ngd.verify", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="run one of our optimizers and write a golden .npz")
    ex.add_argument("--optimizer", required=True, help="class name in tinygrad_ngd.optimizers, e.g. Adam")
    ex.add_argument("--hyper", default="{}", help="hyper-parameters as a JSON object")
    ex.add_argument("--schedule", default="null", help='e.g. {"name": "StepLR", "step_size": 10}')
    ex.add_argument("--problem", choices=("noisy_quadratic", "fixed_gradients"), default="noisy_quadratic")
    ex.add_argument("--n", type=int, default=8)
    ex.add_argument("--steps", type=int, default=150)
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    ex.add_argument("--block-sizes", default=None, help="comma-separated block sizes (per-block lr)")
    ex.add_argument("--out", required=True)
    ck = sub.add_parser("check", help="replay a golden .npz and compare")
    ck.add_argument("path")
    ck.add_argument("--against", choices=("tinygrad", "torch"), default="tinygrad")
    ck.add_argument("--rtol", type=float, default=1e-10)
    ck.add_argument("--atol", type=float, default=0.0)
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (ValueError, TypeError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args) -> int:
    if args.command == "export":
        make = noisy_quadratic if args.problem == "noisy_quadratic" else fixed_gradients
        problem = make(n=args.n, steps=args.steps, seed=args.seed)
        blocks = [int(s) for s in args.block_sizes.split(",")] if args.block_sizes else None
        manifest = export_golden(args.out, problem, args.optimizer, _json(args.hyper, "hyper"),
                                 dtype=args.dtype, schedule=_json(args.schedule, "schedule"),
                                 block_sizes=blocks)
        print(f"wrote {args.out}: {manifest['optimizer']} {manifest['hyper']} on {manifest['problem']}, "
              f"{manifest['steps']} steps, {manifest['dtype']}")
        return 0
    report = check_golden(args.path, against=args.against, rtol=args.rtol, atol=args.atol)
    first = report["first_step_outside"]
    print(f"{args.path} vs {args.against}: max abs error {report['max_abs_error'].max():.3e}, "
          f"max rel error {report['max_rel_error'].max():.3e}, "
          + ("all steps within tolerance" if first is None else f"first step outside tolerance: {first}"))
    return 0 if first is None else 1


if __name__ == "__main__":
    sys.exit(main())
