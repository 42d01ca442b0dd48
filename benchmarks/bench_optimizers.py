"""Optimizer step cost on a large flat float32 vector: ours vs a NumPy floor vs torch.optim.

    python benchmarks/bench_optimizers.py            # 10M parameters (the size the targets are set for)
    python benchmarks/bench_optimizers.py --quick    # 1M parameters, fewer repeats

Prints ms/step (best of the repeats: the least disturbed run on a shared machine) and
the effective bandwidth = bytes the update must touch / time:
SGD reads θ, g and writes θ (12 B/param in float32); momentum adds the buffer (20 B);
Adam reads θ, g, m, v and writes θ, m, v (28 B).  ``step`` includes the non-finite
gradient check (one BLAS dot over g); ``_update`` is the arithmetic alone;
"unchunked" runs the same code with one chunk (temporaries of full size).
Targets from the issue: SGD >= 25 GB/s effective, Adam <= 20 ms/step (10M params).

The formula-first check: our Adam, whose rule ``adam.adam_update`` is plain
whole-array expressions applied by the base class to 16K-element float32 chunks, against
a hand-tuned chunked NumPy loop written with ``out=`` (no temporaries at all), timed
round-robin in one run (benchmarks/timing.py) so both see the same background load;
the ratio must stay <= 1.5.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from timing import interleaved_medians  # noqa: E402  (benchmarks/timing.py)

from tinygrad_ngd import optimizers as O  # noqa: E402
from tinygrad_ngd.flat import FlatParameters  # noqa: E402

BYTES_PER_PARAM = {"SGD": 12, "SGD momentum": 20, "Adam": 28}


def best_ms(fn, repeats):
    """(best wall-clock ms, best process-CPU ms) over the repeats.  On a busy machine the
    CPU time of a single-threaded step (ours, NumPy) is the better estimate of its idle
    wall time; for multi-threaded torch it is the sum over its threads."""
    fn()                                        # warm-up: first-touch page faults, state allocation
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return 1e3 * min(wall), 1e3 * min(cpu)


def report(label, kind, times, n):
    ms, cpu_ms = times
    gbs = BYTES_PER_PARAM[kind] * n / (ms * 1e-3) / 1e9
    print(f"  {label:<40s} {ms:8.2f} ms/step {gbs:6.1f} GB/s effective   (CPU {cpu_ms:7.2f} ms)")
    return ms


def ours(n, repeats, rng):
    theta = rng.standard_normal(n).astype(np.float32)
    grad = (1e-3 * rng.standard_normal(n)).astype(np.float32)
    results = {}
    for kind, make in (("SGD", lambda p: O.SGD(p, lr=1e-3)),
                       ("SGD momentum", lambda p: O.SGD(p, lr=1e-3, momentum=0.9)),
                       ("Adam", lambda p: O.Adam(p, lr=1e-3))):
        params = FlatParameters.from_array(theta)
        opt = make(params)
        results[kind] = report(f"tinygrad_ngd {kind} step", kind, best_ms(lambda opt=opt: opt.step(grad=grad), repeats), n)
        report(f"tinygrad_ngd {kind} _update", kind, best_ms(lambda opt=opt: opt._update(grad), repeats), n)
        opt.chunk_bytes = n * theta.itemsize
        report(f"tinygrad_ngd {kind} _update unchunked", kind, best_ms(lambda opt=opt: opt._update(grad), repeats), n)
    return results


def hand_tuned_adam(theta, grad, chunk=16384, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """A step function: Adam as a chunked NumPy loop of ``out=`` ufunc calls into two
    preallocated chunk buffers (the speed a formula-first rule is measured against)."""
    beta1, beta2 = betas
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    tmp, denom = np.empty(chunk, theta.dtype), np.empty(chunk, theta.dtype)
    count = [0]

    def step():
        count[0] += 1
        t = count[0]
        root_bias2 = math.sqrt(1 - beta2 ** t)
        step_size, eps_hat = lr * root_bias2 / (1 - beta1 ** t), eps * root_bias2
        for i in range(0, theta.shape[0], chunk):
            s = slice(i, i + chunk)
            g, ms, vs, th = grad[s], m[s], v[s], theta[s]
            a, d = tmp[:g.shape[0]], denom[:g.shape[0]]
            np.subtract(g, ms, out=a)
            np.multiply(a, 1 - beta1, out=a)
            np.add(ms, a, out=ms)
            np.multiply(g, 1 - beta2, out=a)
            np.multiply(a, g, out=a)
            np.multiply(vs, beta2, out=vs)
            np.add(vs, a, out=vs)
            np.sqrt(vs, out=d)
            np.add(d, eps_hat, out=d)
            np.divide(ms, d, out=a)
            np.multiply(a, step_size, out=a)
            np.subtract(th, a, out=th)
    return step


def formula_first_ratio(n, repeats, rng):
    """Our Adam step (rule + base-class chunking) / the hand-tuned out= loop, interleaved."""
    theta = rng.standard_normal(n).astype(np.float32)
    grad = (1e-3 * rng.standard_normal(n)).astype(np.float32)
    opt = O.Adam(FlatParameters.from_array(theta.copy()), lr=1e-3)
    times = interleaved_medians({"ours": lambda: opt._update(grad),
                                 "hand": hand_tuned_adam(theta.copy(), grad)}, repeats)
    ratio = times["ours"] / times["hand"]
    print(f"  Adam _update (rule adam_update, {len(opt.chunks())} chunks): {1e3 * times['ours']:8.2f} ms/step")
    print(f"  hand-tuned chunked NumPy out= loop:          {1e3 * times['hand']:8.2f} ms/step")
    print(f"  ratio ours / hand-tuned = {ratio:.2f} (target <= 1.5; medians of {repeats} interleaved runs)")
    return ratio


def numpy_floor(n, repeats, rng):
    theta = rng.standard_normal(n).astype(np.float32)
    grad = rng.standard_normal(n).astype(np.float32)
    out = np.empty_like(theta)
    report("NumPy floor: theta -= lr*g (1 temp)", "SGD",
           best_ms(lambda: np.subtract(theta, np.float32(1e-3) * grad, out=theta), repeats), n)
    ms, cpu_ms = best_ms(lambda: np.copyto(out, grad), repeats)
    print(f"  {'NumPy copy (read + write)':<40s} {ms:8.2f} ms      {8 * n / (ms * 1e-3) / 1e9:6.1f} GB/s"
          f"             (CPU {cpu_ms:7.2f} ms)")


def torch_runs(n, repeats, rng):
    try:
        import torch
    except ImportError:
        print("  torch not installed: skipped")
        return
    default_threads = torch.get_num_threads()
    print(f"  torch {torch.__version__}; intra-op threads: 1 (like NumPy's ufuncs) and {default_threads} (default)")
    theta = torch.from_numpy(rng.standard_normal(n).astype(np.float32))
    grad = torch.from_numpy((1e-3 * rng.standard_normal(n)).astype(np.float32))
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        for kind, cls, kw in (("SGD", torch.optim.SGD, {"lr": 1e-3}),
                              ("SGD momentum", torch.optim.SGD, {"lr": 1e-3, "momentum": 0.9}),
                              ("Adam", torch.optim.Adam, {"lr": 1e-3})):
            for impl in ("foreach", "fused"):
                p = torch.nn.Parameter(theta.clone())
                p.grad = grad.clone()
                label = f"torch {kind} {impl} ({threads} thr)"
                try:
                    opt = cls([p], **kw, **{impl: True})
                    report(label, kind, best_ms(opt.step, repeats), n)
                except (RuntimeError, ValueError) as exc:
                    print(f"  {label}: not available ({str(exc).splitlines()[0][:60]})")
    torch.set_num_threads(default_threads)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="1M parameters, 3 repeats")
    parser.add_argument("--ratio-only", action="store_true",
                        help="only the formula-first check: our Adam vs a hand-tuned out= loop")
    args = parser.parse_args()
    n, repeats = (1_000_000, 3) if args.quick else (args.n, args.repeats)
    print(f"{n:,} float32 parameters, best of {repeats}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"NumPy {np.__version__}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}")
    rng = np.random.default_rng(0)
    print("formula-first rule vs hand-tuned loop (Adam, float32):")
    formula_first_ratio(n, max(repeats, 5), rng)
    if args.ratio_only:
        return
    print("tinygrad_ngd (chunks of", O.Optimizer.chunk_bytes, "bytes):")
    results = ours(n, repeats, rng)
    print("NumPy floor:")
    numpy_floor(n, repeats, rng)
    print("torch.optim:")
    torch_runs(n, repeats, rng)
    sgd_gbs = 12 * n / (results["SGD"] * 1e-3) / 1e9
    print(f"targets (10M): SGD >= 25 GB/s -> {sgd_gbs:.1f} GB/s; Adam <= 20 ms -> {results['Adam']:.1f} ms "
          f"(scaled to 10M: {results['Adam'] * 1e7 / n:.1f} ms)")


if __name__ == "__main__":
    main()
