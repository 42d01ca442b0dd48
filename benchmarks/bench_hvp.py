"""HVP time over gradient time on note 001's deep sigmoid MLP (784-[100]x6-10, batch 100).

Issue 7's benchmark: a Hessian-vector product by grad-of-grad should cost at most 3x a
gradient (PyTorch's double backward is about 3.4x here, HIPS autograd 3.5x).  Prints the
median times and the ratio for tinygrad_ngd, and PyTorch's ratio when torch is installed.

    python benchmarks/bench_hvp.py [--dtype float32|float64] [--repeats 30] [--backend numpy|cupy] [--threads 1]

Times are medians of wall-clock and of process CPU time (the latter is steadier on a
shared machine); BLAS runs on ``--threads`` threads (default 1).
"""

import argparse
import itertools
import statistics
import time

import numpy as np

import tinygrad_ngd as tg
from tinygrad_ngd import curvature as C
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd.runs import apply_thread_option


def deep_sigmoid_mlp(depth=6, width=100):
    sizes = [784] + [width] * depth + [10]
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(L.Dense(a, b))
        if i < len(sizes) - 2:
            layers.append(L.Sigmoid())
    return L.Sequential(*layers)


def median_time(fn, repeats, sync=lambda: None):
    """(median wall-clock seconds, median process CPU seconds) of fn()."""
    fn()
    sync()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        sync()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def bench_tinygrad(args, x_np, y_np):
    tg.set_backend(args.backend)
    tg.set_default_dtype(args.dtype)
    tg.manual_seed(0)
    model = deep_sigmoid_mlp()
    params = tg.FlatParameters(model)
    x = tg.Tensor(tg.backend.asarray(x_np.astype(args.dtype)))
    y = tg.backend.asarray(y_np)
    loss_fn = lambda: F.cross_entropy(model(x), y)
    v = tg.backend.asarray(np.random.default_rng(1).standard_normal(params.numel).astype(args.dtype))
    sync = (lambda: tg.backend.xp().cuda.Stream.null.synchronize()) if args.backend == "cupy" else (lambda: None)
    t_grad = median_time(lambda: C.gradient(loss_fn, params), args.repeats, sync)
    t_hvp = median_time(lambda: C.hvp(loss_fn, params, v), args.repeats, sync)
    return t_grad, t_hvp


def bench_torch(args, x_np, y_np):
    try:
        import torch
    except ImportError:
        return None
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dt = torch.float64 if args.dtype == "float64" else torch.float32
    sizes = [784] + [100] * 6 + [10]
    mods = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        mods.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            mods.append(torch.nn.Sigmoid())
    net = torch.nn.Sequential(*mods).to(dt)
    ps = list(net.parameters())
    x, y = torch.tensor(x_np, dtype=dt), torch.tensor(y_np)
    vs = [torch.randn_like(p) for p in ps]

    def grad():
        return torch.autograd.grad(torch.nn.functional.cross_entropy(net(x), y), ps)

    def hvp():
        gs = torch.autograd.grad(torch.nn.functional.cross_entropy(net(x), y), ps, create_graph=True)
        return torch.autograd.grad(sum((g * v).sum() for g, v in zip(gs, vs)), ps)

    return median_time(grad, args.repeats), median_time(hvp, args.repeats)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (0: leave as is)")
    args = ap.parse_args()
    apply_thread_option(args.threads)
    rng = np.random.default_rng(0)
    x_np = rng.random((100, 784))
    y_np = rng.integers(0, 10, size=100)
    report(f"tinygrad_ngd ({args.backend}, {args.dtype})", *bench_tinygrad(args, x_np, y_np))
    res = bench_torch(args, x_np, y_np)
    if res is not None:
        report(f"pytorch (cpu, {args.dtype})", *res)
    print("target: hvp / gradient <= 3x (PyTorch's double backward about 3.4x, HIPS autograd 3.5x)")


def report(name, t_grad, t_hvp):
    for label, i in (("wall", 0), ("cpu", 1)):
        print(f"{name:32s} {label:4s}: gradient {t_grad[i] * 1e3:7.2f} ms, hvp {t_hvp[i] * 1e3:7.2f} ms, "
              f"ratio {t_hvp[i] / t_grad[i]:.2f}x")


if __name__ == "__main__":
    main()
