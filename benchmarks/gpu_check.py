"""The GPU check: parity of the CuPy path with NumPy, then a speed table — in under 5 minutes.

    python benchmarks/gpu_check.py                          # on a machine with a GPU (--backend cupy)
    python benchmarks/gpu_check.py --backend cupy-emulated --small   # without a GPU: proves it runs

1. Parity: every layer (forward, input and parameter gradients under a random upstream
   gradient), every first-order optimizer (30 steps of a fixed gradient sequence) and the
   Hessian-vector product (both methods) are run on NumPy and on the device backend from the
   same seed; the largest relative difference must be <= 1e-10 in float64 and <= 1e-5 in float32.
2. Speed: median step times of an MLP (the main job's deep sigmoid MLP, Adam), a small CNN
   with batch-norm, an LSTM language model, Adam on 10M parameters and an HVP — NumPy on
   this machine's CPU, the device backend, and PyTorch CUDA when torch sees a GPU.
   (On cupy-emulated the device column is NumPy plus wrapping: its speed means nothing.)

Exit status 1 when a parity check fails.
"""

from __future__ import annotations

import argparse
import inspect
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import tinygrad_ngd as tg  # noqa: E402
from tinygrad_ngd import backend as B  # noqa: E402
from tinygrad_ngd import curvature as C  # noqa: E402
from tinygrad_ngd import functional as F  # noqa: E402
from tinygrad_ngd import layers as L  # noqa: E402
from tinygrad_ngd import optimizers as O  # noqa: E402
from tinygrad_ngd.compare import deep_sigmoid_mlp, small_bn_cnn  # noqa: E402

TOL = {"float64": 1e-10, "float32": 1e-5}


def rel_diff(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30)) if a.size else 0.0


# ---------------------------------------------------------------- parity
LAYERS = {
    "Dense": (lambda: L.Dense(7, 5), (4, 7)),
    "Conv2d": (lambda: L.Conv2d(3, 4, 3, stride=1, padding=1), (2, 3, 6, 6)),
    "Conv2d/stride2": (lambda: L.Conv2d(3, 2, 3, stride=2, padding=0), (2, 3, 7, 7)),
    "MaxPool2d": (lambda: L.MaxPool2d(2), (2, 3, 6, 6)),
    "AvgPool2d": (lambda: L.AvgPool2d(2), (2, 3, 6, 6)),
    "BatchNorm1d": (lambda: L.BatchNorm1d(5), (8, 5)),
    "BatchNorm2d": (lambda: L.BatchNorm2d(3), (4, 3, 5, 5)),
    "Sigmoid": (L.Sigmoid, (4, 6)),
    "Tanh": (L.Tanh, (4, 6)),
    "ReLU": (L.ReLU, (4, 6)),
    "Flatten": (L.Flatten, (2, 3, 4)),
}


def _layer_run(make, shape, dtype, x_host, gy_seed):
    tg.manual_seed(0)
    layer = make()
    x = tg.Tensor(B.asarray(x_host.astype(dtype)), requires_grad=True)
    y = layer(x)
    gy = np.random.default_rng(gy_seed).standard_normal(y.shape).astype(dtype)
    y.backward(tg.Tensor(B.asarray(gy)))
    outs = [y.data, x.grad.data] + [p.grad.data for _, p in layer.named_parameters()]
    return [B.to_numpy(o) for o in outs]


def _lstm_run(dtype, x_host, gy_seed):
    tg.manual_seed(0)
    lstm = L.LSTM(4, 5)
    x = tg.Tensor(B.asarray(x_host.astype(dtype)), requires_grad=True)
    out, _ = lstm(x)
    gy = np.random.default_rng(gy_seed).standard_normal(out.shape).astype(dtype)
    out.backward(tg.Tensor(B.asarray(gy)))
    return [B.to_numpy(o) for o in [out.data, x.grad.data] + [p.grad.data for _, p in lstm.named_parameters()]]


def _embedding_run(dtype, ids, gy_seed):
    tg.manual_seed(0)
    emb = L.Embedding(6, 3)
    y = emb(tg.Tensor(B.asarray(ids)))
    gy = np.random.default_rng(gy_seed).standard_normal(y.shape).astype(dtype)
    y.backward(tg.Tensor(B.asarray(gy)))
    return [B.to_numpy(y.data), B.to_numpy(emb.weight.grad.data)]


OPTIMIZERS = {
    "SGD": lambda p: O.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "SGDHistory": lambda p: O.SGDHistory(p, lr=0.05),
    "Rprop": lambda p: O.Rprop(p, lr=0.01),
    "DeltaBarDelta": lambda p: O.DeltaBarDelta(p, lr=0.01),
    "Adagrad": lambda p: O.Adagrad(p, lr=0.05),
    "RMSprop": lambda p: O.RMSprop(p, lr=0.01),
    "Adadelta": lambda p: O.Adadelta(p, lr=1.0),
    "Adam": lambda p: O.Adam(p, lr=0.01),
    "AdamW": lambda p: O.AdamW(p, lr=0.01),
    "Adamax": lambda p: O.Adamax(p, lr=0.01),
    "ASGD": lambda p: O.ASGD(p, lr=0.01),
    "NGD": lambda p: O.NGD(p, lr=0.01),
    "AdaptiveNGD": lambda p: O.AdaptiveNGD(p, lr=0.01, beta=0.01),
    "AdaGradBNG": lambda p: O.AdaGradBNG(p, lr=0.05),
    "SGDBB": lambda p: O.SGDBB(p, lr=0.01, steps_per_epoch=5),
    "BlockNormalized(Adam)": lambda p: O.BlockNormalized(O.Adam(p, lr=0.01)),
    "NGAdap(SGD)": lambda p: O.NGAdap(O.SGD(p, lr=0.05, momentum=0.9)),
}


def _optimizer_run(make, dtype, theta0, grads):
    params = tg.FlatParameters.from_array(B.asarray(theta0.astype(dtype)), block_sizes=[6, 4])
    opt = make(params)
    for g in grads:
        opt.step(grad=B.asarray(g.astype(dtype)))
    return [B.to_numpy(params.data)]


def _hvp_run(dtype, x_host, y_host, v_host, method):
    tg.manual_seed(0)
    model = L.Sequential(L.Dense(6, 8), L.Tanh(), L.Dense(8, 3))
    params = tg.FlatParameters(model)
    x, y = tg.Tensor(B.asarray(x_host.astype(dtype))), tg.Tensor(B.asarray(y_host))
    kw = {"method": method} if method else {}
    hv = C.hvp(lambda: F.cross_entropy(model(x), y), params, B.asarray(v_host.astype(dtype)), **kw)
    return [B.to_numpy(hv)]


def parity(device: str) -> list:
    rng = np.random.default_rng(0)
    cases = {}
    for name, (make, shape) in LAYERS.items():
        xh = rng.standard_normal(shape)
        cases[f"layer {name}"] = lambda dt, make=make, shape=shape, xh=xh: _layer_run(make, shape, dt, xh, 1)
    xl = rng.standard_normal((3, 2, 4))
    cases["layer LSTM"] = lambda dt: _lstm_run(dt, xl, 2)
    ids = rng.integers(0, 6, (3, 4))
    cases["layer Embedding"] = lambda dt: _embedding_run(dt, ids, 3)
    theta0 = rng.standard_normal(10)
    grads = [rng.standard_normal(10) for _ in range(30)]
    for name, make in OPTIMIZERS.items():
        cases[f"optimizer {name}"] = lambda dt, make=make: _optimizer_run(make, dt, theta0, grads)
    xh, yh, vh = rng.standard_normal((10, 6)), rng.integers(0, 3, 10), rng.standard_normal(83)
    methods = (("reverse-over-reverse", "forward-over-reverse")
               if "method" in inspect.signature(C.hvp).parameters else (None,))
    for method in methods:
        cases[f"hvp {method or 'default'}"] = lambda dt, method=method: _hvp_run(dt, xh, yh, vh, method)

    rows = []
    for dtype in ("float64", "float32"):
        for name, fn in cases.items():
            got = {}
            for backend in ("numpy", device):
                tg.set_backend(backend)
                tg.set_default_dtype(dtype)
                got[backend] = fn(dtype)
            err = max(rel_diff(a, b) for a, b in zip(got["numpy"], got[device]))
            rows.append((name, dtype, err, err <= TOL[dtype]))
    tg.set_backend("numpy")
    return rows


# ---------------------------------------------------------------- speed
def _median(fn, repeats, sync):
    fn()
    sync()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def _sync(backend):
    if backend == "numpy":
        return lambda: None
    return lambda: B.xp().cuda.Stream.null.synchronize()


def _tg_steps(small: bool):
    """name -> builder(backend) returning a step function, for tinygrad_ngd."""
    n_big = 100_000 if small else 10_000_000
    rng = np.random.default_rng(0)
    mlp_x, mlp_y = rng.random((100, 784)), rng.integers(0, 10, 100)
    cnn_x, cnn_y = rng.random((32 if small else 128, 3, 32, 32)), rng.integers(0, 10, 32 if small else 128)
    V, H, T, N = (1000, 64, 10, 8) if small else (10_000, 200, 35, 20)
    ids, tgt = rng.integers(0, V, (T, N)), rng.integers(0, V, T * N)

    def mlp():
        model = deep_sigmoid_mlp(784, 10, depth=6)
        opt = O.Adam(tg.FlatParameters(model), lr=1e-3)
        x, y = tg.Tensor(B.asarray(mlp_x.astype(B.get_default_dtype()))), tg.Tensor(B.asarray(mlp_y))

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        return step

    def cnn():
        model = small_bn_cnn(3, 10, depth=2, width=16)
        model.train()
        opt = O.SGD(tg.FlatParameters(model), lr=0.1, momentum=0.9)
        x, y = tg.Tensor(B.asarray(cnn_x.astype(B.get_default_dtype()))), tg.Tensor(B.asarray(cnn_y))

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        return step

    def lstm():
        embed, cell, dec = L.Embedding(V, H), L.LSTM(H, H), L.Dense(H, V)
        opt = O.SGD(tg.FlatParameters(L.Sequential(embed, cell, dec)), lr=1.0)  # the parameters only
        i, t = tg.Tensor(B.asarray(ids)), tg.Tensor(B.asarray(tgt))

        def step():
            opt.zero_grad()
            out, _ = cell(embed(i))
            F.cross_entropy(dec(F.reshape(out, (T * N, H))), t).backward()
            opt.step()
        return step

    def adam_big():
        params = tg.FlatParameters.from_array(B.asarray(np.zeros(n_big, dtype=B.get_default_dtype())))
        opt = O.Adam(params, lr=1e-3)
        g = B.asarray(rng.standard_normal(n_big).astype(B.get_default_dtype()))
        return lambda: opt.step(grad=g)

    def hvp():
        model = deep_sigmoid_mlp(784, 10, depth=6)
        params = tg.FlatParameters(model)
        x, y = tg.Tensor(B.asarray(mlp_x.astype(B.get_default_dtype()))), tg.Tensor(B.asarray(mlp_y))
        v = B.asarray(rng.standard_normal(params.numel).astype(B.get_default_dtype()))
        return lambda: C.hvp(lambda: F.cross_entropy(model(x), y), params, v)

    label_big = f"Adam step, {n_big / 1e6:g}M params"
    return {"MLP step (Adam)": mlp, "CNN step (SGD)": cnn, "LSTM LM step (SGD)": lstm, label_big: adam_big,
            "HVP (MLP)": hvp}


def _torch_cuda_steps(small: bool):
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    dev = torch.device("cuda")
    n_big = 100_000 if small else 10_000_000

    def mlp():
        layers, w = [], 784
        for _ in range(5):
            layers += [torch.nn.Linear(w, 100), torch.nn.Sigmoid()]
            w = 100
        model = torch.nn.Sequential(*layers, torch.nn.Linear(w, 10)).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x, y = torch.rand(100, 784, device=dev), torch.randint(0, 10, (100,), device=dev)

        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        return step

    def adam_big():
        p = torch.zeros(n_big, device=dev, requires_grad=True)
        p.grad = torch.randn(n_big, device=dev)
        opt = torch.optim.Adam([p], lr=1e-3)
        return opt.step

    return {"MLP step (Adam)": mlp, f"Adam step, {n_big / 1e6:g}M params": adam_big}, torch.cuda.synchronize


def speed(device: str, small: bool, repeats: int) -> list:
    builders = _tg_steps(small)
    torch_steps = _torch_cuda_steps(small)
    rows = []
    for name, build in builders.items():
        times = {}
        for backend in ("numpy", device):
            tg.set_backend(backend)
            tg.set_default_dtype("float32")
            tg.manual_seed(0)
            times[backend] = _median(build(), repeats, _sync(backend))
        t_torch = None
        if torch_steps and name in torch_steps[0]:
            t_torch = _median(torch_steps[0][name](), repeats, torch_steps[1])
        rows.append((name, times["numpy"], times[device], t_torch))
    tg.set_backend("numpy")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["cupy", "cupy-emulated"], default="cupy",
                    help="the device backend to check (cupy-emulated: without a GPU; its speed means nothing)")
    ap.add_argument("--small", action="store_true", help="small speed sizes (for cupy-emulated / CI)")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    tg.set_backend(args.backend)   # fails here with a clear message when CuPy or the GPU is missing

    rows = parity(args.backend)
    print(f"parity with NumPy on {args.backend} (max relative difference; tol float64 1e-10, float32 1e-5)")
    failed = 0
    for name, dtype, err, ok in rows:
        failed += not ok
        print(f"  {'ok  ' if ok else 'FAIL'} {name:<36} {dtype:<8} {err:.2e}")
    print(f"{len(rows) - failed}/{len(rows)} parity checks pass ({time.perf_counter() - t0:.1f} s)")

    table = speed(args.backend, args.small, args.repeats)
    print(f"\nspeed, float32, median of {args.repeats} (ms){' — small sizes' if args.small else ''}"
          f"{' — cupy-emulated: speed means nothing' if args.backend == 'cupy-emulated' else ''}")
    print(f"  {'step':<28} {'numpy':>10} {args.backend:>14} {'speed-up':>9} {'torch cuda':>11}")
    for name, t_np, t_dev, t_torch in table:
        torch_col = f"{t_torch * 1e3:11.3f}" if t_torch is not None else f"{'-':>11}"
        print(f"  {name:<28} {t_np * 1e3:10.3f} {t_dev * 1e3:14.3f} {t_np / t_dev:9.2f} {torch_col}")
    print(f"total {time.perf_counter() - t0:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
