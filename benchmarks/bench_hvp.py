"""HVP and Gauss-Newton product time over gradient time on the deep sigmoid MLP of
[Yu et al. 2017, §4.1] (784-[100]x6-10, batch 100), interleaved in one process.

Targets: a Hessian-vector product by the R-operator (forward-over-reverse,
the default of ``C.hvp``) should cost at most 2.5x a gradient in float32 and float64, and
so should a Gauss-Newton product G v = Jᵀ H_ℓ J v (J v by forward mode, Jᵀu by reverse
mode, including the forward pass that builds the operator).  Grad-of-grad
(reverse-over-reverse) and PyTorch's double backward are printed beside them.

    python benchmarks/bench_hvp.py [--dtype float32 float64] [--repeats 30] [--backend numpy|cupy] [--threads 1]

Every contender runs round-robin, so all see the same background load.  Printed: medians
of wall-clock time and of process CPU time (one BLAS thread); the targets are judged on
CPU time, which excludes the time the process waits for a core on a shared machine.
"""

import argparse
import itertools
import statistics
import sys
import time

import numpy as np

import tinygrad_ngd as tg
from tinygrad_ngd import curvature as C
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd.runs import apply_thread_option

SIZES = [784] + [100] * 6 + [10]
TARGET = 2.5


def deep_sigmoid_mlp():
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(SIZES)):
        layers.append(L.Dense(a, b))
        if i < len(SIZES) - 2:
            layers.append(L.Sigmoid())
    return L.Sequential(*layers)


def tinygrad_steps(backend, dtype, x_np, y_np):
    tg.set_backend(backend)
    tg.set_default_dtype(dtype)
    tg.manual_seed(0)
    model = deep_sigmoid_mlp()
    params = tg.FlatParameters(model)
    x = tg.Tensor(tg.backend.asarray(x_np.astype(dtype)))
    y = tg.backend.asarray(y_np)
    output_fn = lambda: model(x)  # noqa: E731
    loss_fn = lambda: F.cross_entropy(output_fn(), y)  # noqa: E731
    v = tg.backend.asarray(np.random.default_rng(1).standard_normal(params.numel).astype(dtype))
    return {
        "gradient": lambda: C.gradient(loss_fn, params),
        "hvp forward-over-reverse": lambda: C.hvp(loss_fn, params, v, method="forward-over-reverse"),
        "hvp reverse-over-reverse": lambda: C.hvp(loss_fn, params, v, method="reverse-over-reverse"),
        "gauss-newton product": lambda: C.gnvp(output_fn, params, v, loss="cross_entropy"),
    }


def torch_steps(dtype, threads, x_np, y_np):
    try:
        import torch
    except ImportError:
        return None
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    dt = torch.float64 if dtype == "float64" else torch.float32
    mods = []
    for i, (a, b) in enumerate(itertools.pairwise(SIZES)):
        mods.append(torch.nn.Linear(a, b))
        if i < len(SIZES) - 2:
            mods.append(torch.nn.Sigmoid())
    net = torch.nn.Sequential(*mods).to(dt)
    ps = list(net.parameters())
    x, y = torch.tensor(x_np, dtype=dt), torch.tensor(y_np)
    vs = [torch.randn_like(p) for p in ps]

    def grad():
        return torch.autograd.grad(torch.nn.functional.cross_entropy(net(x), y), ps)

    def hvp():
        gs = torch.autograd.grad(torch.nn.functional.cross_entropy(net(x), y), ps, create_graph=True)
        return torch.autograd.grad(gs, ps, grad_outputs=vs)

    return {"torch gradient": grad, "torch hvp (double backward)": hvp}


def interleaved_wall_and_cpu(steps, repeats, sync, warmup=3):
    """{name: (median wall seconds, median process CPU seconds)}, contenders run round-robin."""
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    sync()
    wall = {k: [] for k in steps}
    cpu = {k: [] for k in steps}
    for _ in range(repeats):
        for k, fn in steps.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            sync()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in steps}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--dtype", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy", "cupy-emulated"])
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (0: leave as is)")
    args = ap.parse_args()
    apply_thread_option(args.threads)
    rng = np.random.default_rng(0)
    x_np = rng.random((100, 784))
    y_np = rng.integers(0, 10, size=100)
    sync = (lambda: tg.backend.xp().cuda.Stream.null.synchronize()) if args.backend == "cupy" else (lambda: None)
    ok = True
    for dtype in args.dtype:
        steps = tinygrad_steps(args.backend, dtype, x_np, y_np)
        theirs = torch_steps(dtype, args.threads, x_np, y_np)
        if theirs:
            steps.update(theirs)
        t = interleaved_wall_and_cpu(steps, args.repeats, sync)
        print(f"--- {args.backend}, {dtype}, batch 100, medians of {args.repeats} interleaved rounds")
        print(f"{'':30s} {'wall':>9s} {'ratio':>6s}   {'cpu':>9s} {'ratio':>6s}")
        for name, (wall, cpu) in t.items():
            base = t["torch gradient"] if name.startswith("torch") else t["gradient"]
            print(f"{name:30s} {wall * 1e3:6.2f} ms {wall / base[0]:5.2f}x   {cpu * 1e3:6.2f} ms {cpu / base[1]:5.2f}x")
        for name in ("hvp forward-over-reverse", "gauss-newton product"):
            ratio = t[name][1] / t["gradient"][1]
            ok &= ratio <= TARGET
            print(f"target {name} (cpu): {ratio:.2f}x <= {TARGET}x: {'yes' if ratio <= TARGET else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
