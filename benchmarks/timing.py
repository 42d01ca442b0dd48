"""Shared timing helper of the benchmark scripts (imported as a sibling module)."""

import statistics
import time


def interleaved_medians(steps, repeats, sync=lambda: None, warmup=3):
    """Median time of each step function, run round-robin so that every contender sees
    the same background load (the machine may be shared)."""
    for fn in steps.values():  # warm-up (caches, index construction, BLAS threads)
        for _ in range(warmup):
            fn()
    sync()
    times = {k: [] for k in steps}
    for _ in range(repeats):
        for k, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            sync()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}
