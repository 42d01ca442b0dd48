"""Forward + backward of a 784-100-100-10 sigmoid MLP, batch 100, float32.

Compares tinygrad_ngd against the same network written by hand in NumPy (the floor)
and PyTorch CPU when installed; prints ms/step and the ratio to the floor.
Target: <= 1.3x the hand-written NumPy floor.

    python benchmarks/bench_mlp.py [--steps 300] [--repeats 5]
"""

import argparse
import os
import time

import numpy as np

import tinygrad_ngd as tg
from tinygrad_ngd import functional as F

SIZES = [784, 100, 100, 10]
BATCH = 100


def make_data(rng):
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    weights = [(rng.uniform(-1, 1, (o, i)) / np.sqrt(i)).astype(np.float32) for i, o in zip(SIZES, SIZES[1:])]
    biases = [np.zeros(o, dtype=np.float32) for o in SIZES[1:]]
    return x, y, weights, biases


def hand_numpy_step(x, y, weights, biases):
    """The floor: forward, softmax cross-entropy and backward written out by hand."""
    acts = [x]
    h = x
    for k, (w, b) in enumerate(zip(weights, biases)):
        z = h @ w.T
        z += b
        if k < len(weights) - 1:
            h = 0.5 * np.tanh(0.5 * z) + 0.5
        else:
            h = z
        acts.append(h)
    logits = acts[-1]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    loss = -np.log(p[np.arange(BATCH), y]).mean()
    g = p
    g[np.arange(BATCH), y] -= 1
    g /= BATCH
    grads = []
    for k in range(len(weights) - 1, -1, -1):
        grads.append((g.T @ acts[k], g.sum(0)))
        if k:
            g = g @ weights[k]
            a = acts[k]
            g *= a * (1 - a)
    return loss, grads


def ours_step(x, y, params):
    h = x
    n = len(params) // 2
    for k in range(n):
        h = F.linear(h, params[2 * k], params[2 * k + 1])
        if k < n - 1:
            h = F.sigmoid(h)
    loss = F.cross_entropy(h, y)
    for p in params:
        p.grad = None
    loss.backward()
    return loss


def time_interleaved(fns, steps, repeats):
    """Best ms/step of each function, the repeats interleaved (floor, ours, torch, floor, …)
    so a load change on a shared machine hits every contender alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            best[i] = min(best[i], (time.perf_counter() - t0) / steps)
    return [b * 1e3 for b in best]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    print(f"OPENBLAS_CORETYPE={'set (' + os.environ['OPENBLAS_CORETYPE'] + ')' if 'OPENBLAS_CORETYPE' in os.environ else 'not set'}"
          f"  (when set it halves NumPy's matmul speed on these machines)")
    rng = np.random.default_rng(0)
    x, y, weights, biases = make_data(rng)

    params = []
    for w, b in zip(weights, biases):
        params += [tg.Tensor(w.copy(), requires_grad=True), tg.Tensor(b.copy(), requires_grad=True)]
    xt = tg.Tensor(x)
    # same numbers as the floor (a correctness guard for the benchmark itself)
    loss_ref, grads_ref = hand_numpy_step(x, y, weights, biases)
    loss = ours_step(xt, y, params)
    assert abs(loss.item() - loss_ref) < 1e-5 and np.allclose(params[0].grad.numpy(), grads_ref[-1][0], atol=1e-5)
    names = ["hand-written NumPy (floor)", "tinygrad_ngd"]
    fns = [lambda: hand_numpy_step(x, y, weights, biases), lambda: ours_step(xt, y, params)]
    try:
        import torch
        torch.set_num_threads(os.cpu_count() or 1)
        tx, ty = torch.tensor(x), torch.tensor(y)
        tparams = []
        for w, b in zip(weights, biases):
            tparams += [torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)]

        def torch_step():
            h = tx
            for k in range(len(weights)):
                h = torch.nn.functional.linear(h, tparams[2 * k], tparams[2 * k + 1])
                if k < len(weights) - 1:
                    h = torch.sigmoid(h)
            loss = torch.nn.functional.cross_entropy(h, ty)
            for p in tparams:
                p.grad = None
            loss.backward()

        names.append("PyTorch CPU")
        fns.append(torch_step)
    except ImportError:
        print("PyTorch not installed: its row is left out")
    times = time_interleaved(fns, args.steps, args.repeats)
    floor, ours = times[0], times[1]
    rows = list(zip(names, times))
    print(f"{'implementation':32s} {'ms/step':>9s} {'x floor':>8s}")
    for name, ms in rows:
        print(f"{name:32s} {ms:9.3f} {ms / floor:8.2f}")
    print(f"target: tinygrad_ngd <= 1.3x floor -> {'met' if ours / floor <= 1.3 else 'NOT met'}")


if __name__ == "__main__":
    main()
