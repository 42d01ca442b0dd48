"""One SGD step of a small CNN: tinygrad_ngd vs a hand-written NumPy im2col version vs PyTorch CPU.

Network (batch 64, 1×28×28 inputs, float32):
    conv3×3(1→16) + ReLU + maxpool2 → conv3×3(16→32) + ReLU + maxpool2 → Dense(800 → 10)
loss: softmax cross-entropy; update: plain SGD (lr 0.01).  Target: the
tinygrad_ngd step at most 1.2× the hand NumPy floor.  The machine may be shared, so the
medians are noisy; run with --repeats larger for steadier numbers.

    python benchmarks/bench_cnn.py [--repeats 30] [--backend numpy|cupy]
"""

import argparse
import os

import numpy as np
from timing import interleaved_medians  # benchmarks/timing.py

import tinygrad_ngd as tg
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L

N, LR = 64, 0.01


# ---------------------------------------------------------------- tinygrad_ngd
def tinygrad_step(x_np, y_np, backend):
    tg.set_backend(backend)
    tg.set_default_dtype("float32")
    tg.manual_seed(0)
    model = L.Sequential(L.Conv2d(1, 16, 3), L.ReLU(), L.MaxPool2d(2),
                         L.Conv2d(16, 32, 3), L.ReLU(), L.MaxPool2d(2),
                         L.Flatten(), L.Dense(800, 10))
    params = model.parameters()
    x = tg.Tensor(tg.backend.asarray(x_np))
    y = tg.backend.asarray(y_np)
    sync = (lambda: tg.backend.xp().cuda.Stream.null.synchronize()) if backend == "cupy" else (lambda: None)

    def step():
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        for p in params:
            p.data -= LR * p.grad.data

    return step, sync


# ---------------------------------------------------------------- hand-written NumPy
class HandCNN:
    """The same network by hand: im2col by a cached flat gather, col2im by a flat add.at,
    2×2 max-pool by reshape with a mask of the maxima, cross-entropy, SGD."""

    def __init__(self, rng):
        def u(shape, fan_in):
            b = 1 / np.sqrt(fan_in)
            return rng.uniform(-b, b, shape).astype(np.float32)
        self.w1, self.b1 = u((16, 9), 9), u((16,), 9)
        self.w2, self.b2 = u((32, 144), 144), u((32,), 144)
        self.w3, self.b3 = u((10, 800), 800), u((10,), 800)
        self.idx = {}

    def index(self, shape, k=3):
        if shape not in self.idx:
            n, c, h, w = shape
            oh, ow = h - k + 1, w - k + 1
            i = (np.arange(n)[:, None, None, None, None, None] * c + np.arange(c)[None, None, None, :, None, None]) * h
            i = (i + np.arange(oh)[None, :, None, None, None, None] + np.arange(k)[None, None, None, None, :, None]) * w
            i = i + np.arange(ow)[None, None, :, None, None, None] + np.arange(k)[None, None, None, None, None, :]
            self.idx[shape] = i.reshape(n * oh * ow, c * k * k)
        return self.idx[shape]

    def conv(self, x, w, b):
        n, _c, h, wd = x.shape
        idx = self.index(x.shape)
        cols = x.reshape(-1).take(idx)
        y = cols @ w.T + b
        return cols, y.reshape(n, h - 2, wd - 2, -1).transpose(0, 3, 1, 2)

    def conv_back(self, gy, cols, w, x_shape, need_gx):
        o = gy.shape[1]
        g2 = gy.transpose(0, 2, 3, 1).reshape(-1, o)
        gw, gb = g2.T @ cols, g2.sum(0)
        gx = None
        if need_gx:
            gcols = g2 @ w
            gx = np.zeros(int(np.prod(x_shape)), np.float32)
            np.add.at(gx, self.index(x_shape).reshape(-1), gcols.reshape(-1))
            gx = gx.reshape(x_shape)
        return gx, gw, gb

    @staticmethod
    def pool(x):
        n, c, h, w = x.shape
        h2, w2 = h // 2, w // 2
        xr = x[:, :, :2 * h2, :2 * w2].reshape(n, c, h2, 2, w2, 2)
        y = xr.max(axis=(3, 5))
        return y, (xr, y, x.shape)

    @staticmethod
    def pool_back(gy, cache):
        # the gradient goes to every window maximum; after a ReLU the only ties are zeros,
        # whose gradient the ReLU mask removes, so this equals the first-maximum rule here
        xr, y, shape = cache
        mask = xr == y[:, :, :, None, :, None]
        g = (mask * gy[:, :, :, None, :, None]).reshape(shape[0], shape[1], 2 * y.shape[2], 2 * y.shape[3])
        if g.shape == shape:
            return g
        out = np.zeros(shape, np.float32)
        out[:, :, :g.shape[2], :g.shape[3]] = g
        return out

    def step(self, x, labels):
        cols1, a1 = self.conv(x, self.w1, self.b1)
        r1 = np.maximum(a1, 0)
        p1, c1 = self.pool(r1)
        cols2, a2 = self.conv(p1, self.w2, self.b2)
        r2 = np.maximum(a2, 0)
        p2, c2 = self.pool(r2)
        f = p2.reshape(len(x), -1)
        z = f @ self.w3.T + self.b3
        z -= z.max(1, keepdims=True)
        e = np.exp(z)
        prob = e / e.sum(1, keepdims=True)
        gz = prob
        gz[np.arange(len(x)), labels] -= 1
        gz /= len(x)
        gw3, gb3 = gz.T @ f, gz.sum(0)
        gf = (gz @ self.w3).reshape(p2.shape)
        gr2 = self.pool_back(gf, c2) * (a2 > 0)
        gp1, gw2, gb2 = self.conv_back(gr2, cols2, self.w2, p1.shape, True)
        gr1 = self.pool_back(gp1, c1) * (a1 > 0)
        _, gw1, gb1 = self.conv_back(gr1, cols1, self.w1, x.shape, False)
        for p, g in ((self.w1, gw1), (self.b1, gb1), (self.w2, gw2), (self.b2, gb2),
                     (self.w3, gw3), (self.b3, gb3)):
            p -= LR * g


def numpy_step(x_np, y_np):
    net = HandCNN(np.random.default_rng(0))
    return lambda: net.step(x_np, y_np)


# ---------------------------------------------------------------- PyTorch CPU
def torch_step(x_np, y_np):
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(800, 10))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    x, y = torch.tensor(x_np), torch.tensor(y_np)

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step, torch.get_num_threads()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--backend", choices=["numpy", "cupy", "cupy-emulated"], default="numpy",
                    help="numpy, cupy (a GPU) or cupy-emulated (CuPy's rules on the CPU; speed means nothing)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x_np = rng.random((N, 1, 28, 28), dtype=np.float32)
    y_np = rng.integers(0, 10, N)
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(not set)')}; "
          f"cpu count {os.cpu_count()}; numpy {np.__version__}")
    steps = {"hand": numpy_step(x_np, y_np)}
    steps["ours"], sync = tinygrad_step(x_np, y_np, args.backend)
    torch_res = torch_step(x_np, y_np)
    if torch_res is not None:
        steps["torch"], threads = torch_res
    t = interleaved_medians(steps, args.repeats, sync)
    print(f"CNN step, batch {N}, float32, median of {args.repeats} (interleaved):")
    print(f"  hand NumPy (floor)   {t['hand'] * 1e3:8.2f} ms")
    print(f"  tinygrad_ngd ({args.backend:5s}) {t['ours'] * 1e3:8.2f} ms   ratio to floor "
          f"{t['ours'] / t['hand']:5.2f} (target <= 1.2)")
    if "torch" not in t:
        print("  PyTorch CPU          not installed")
    else:
        print(f"  PyTorch CPU          {t['torch'] * 1e3:8.2f} ms   ({threads} threads); "
              f"tinygrad_ngd / PyTorch {t['ours'] / t['torch']:5.2f}")

if __name__ == "__main__":
    main()
