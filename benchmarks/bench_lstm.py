"""One SGD step of an LSTM language model: tinygrad_ngd vs hand-written NumPy vs PyTorch CPU.

Model ([Yu et al. 2017, §4.4] sizes, one layer): Embedding(10,000 → 200) → LSTM(200 → 200) →
Dense(200 → 10,000), softmax cross-entropy over every position; batch 20, 35 time steps
(truncated BPTT: the state is carried detached between steps); plain SGD (lr 0.1);
float32.  Target: no slower than PyTorch CPU.  The machine may be shared, so
the three contenders run round-robin and the medians are still noisy.

    python benchmarks/bench_lstm.py [--repeats 20] [--backend numpy|cupy]
"""

import argparse
import os

import numpy as np
from timing import interleaved_medians  # benchmarks/timing.py

import tinygrad_ngd as tg
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L

V, E, H, N, T, LR = 10_000, 200, 200, 20, 35, 0.1


# ---------------------------------------------------------------- tinygrad_ngd
class LanguageModel(L.Module):
    def __init__(self):
        super().__init__()
        self.embed = L.Embedding(V, E)
        self.lstm = L.LSTM(E, H)
        self.decoder = L.Dense(H, V)

    def forward(self, ids, state):
        out, state = self.lstm(self.embed(ids), state)
        return self.decoder(F.reshape(out, (T * N, H))), state


def tinygrad_step(ids_np, targets_np, backend):
    tg.set_backend(backend)
    tg.set_default_dtype("float32")
    tg.manual_seed(0)
    model = LanguageModel()
    params = model.parameters()
    ids, targets = tg.backend.asarray(ids_np), tg.backend.asarray(targets_np.reshape(-1))
    box = {"state": None}
    sync = (lambda: tg.backend.xp().cuda.Stream.null.synchronize()) if backend == "cupy" else (lambda: None)

    def step():
        model.zero_grad()
        logits, state = model(ids, box["state"])
        F.cross_entropy(logits, targets).backward()
        for p in params:
            p.data -= LR * p.grad.data
        box["state"] = L.detach_state(state)    # truncated BPTT

    return step, sync


# ---------------------------------------------------------------- hand-written NumPy
def _sigmoid(z):
    return 0.5 * np.tanh(0.5 * z) + 0.5


class HandLM:
    """The same model by hand: one input projection for all steps, the recurrent loop,
    the decoder, softmax cross-entropy, then back-propagation through time."""

    def __init__(self, rng):
        b = 1 / np.sqrt(H)
        f32 = np.float32
        self.emb = rng.standard_normal((V, E)).astype(f32)
        self.w_ih = rng.uniform(-b, b, (4 * H, E)).astype(f32)
        self.w_hh = rng.uniform(-b, b, (4 * H, H)).astype(f32)
        self.b = rng.uniform(-b, b, 4 * H).astype(f32) + rng.uniform(-b, b, 4 * H).astype(f32)
        self.w_d = rng.uniform(-b, b, (V, H)).astype(f32)
        self.b_d = rng.uniform(-b, b, V).astype(f32)
        self.h = np.zeros((N, H), f32)
        self.c = np.zeros((N, H), f32)

    def step(self, ids, targets):
        x = self.emb[ids]                                          # (T, N, E)
        gx = (x.reshape(T * N, E) @ self.w_ih.T + self.b).reshape(T, N, 4 * H)
        hs = np.empty((T + 1, N, H), np.float32)
        cs = np.empty((T + 1, N, H), np.float32)
        gates = np.empty((T, N, 4 * H), np.float32)
        tcs = np.empty((T, N, H), np.float32)
        hs[0], cs[0] = self.h, self.c
        for t in range(T):
            a = gx[t] + hs[t] @ self.w_hh.T
            i, f, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), _sigmoid(a[:, 3 * H:])
            g = np.tanh(a[:, 2 * H:3 * H])
            cs[t + 1] = f * cs[t] + i * g
            tcs[t] = np.tanh(cs[t + 1])
            hs[t + 1] = o * tcs[t]
            gates[t, :, :H], gates[t, :, H:2 * H], gates[t, :, 2 * H:3 * H], gates[t, :, 3 * H:] = i, f, g, o
        out = hs[1:].reshape(T * N, H)
        z = out @ self.w_d.T + self.b_d
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        p[np.arange(T * N), targets] -= 1
        gz = p / (T * N)
        g_wd, g_bd = gz.T @ out, gz.sum(0)
        gh_all = (gz @ self.w_d).reshape(T, N, H)
        da = np.empty((T, N, 4 * H), np.float32)
        gh, gc = np.zeros((N, H), np.float32), np.zeros((N, H), np.float32)
        for t in reversed(range(T)):
            i, f, g, o = (gates[t, :, k * H:(k + 1) * H] for k in range(4))
            gh = gh + gh_all[t]
            gct = gc + gh * o * (1 - tcs[t] ** 2)
            da[t, :, :H] = gct * g * i * (1 - i)
            da[t, :, H:2 * H] = gct * cs[t] * f * (1 - f)
            da[t, :, 2 * H:3 * H] = gct * i * (1 - g * g)
            da[t, :, 3 * H:] = gh * tcs[t] * o * (1 - o)
            gc = gct * f
            gh = da[t] @ self.w_hh
        da2 = da.reshape(T * N, 4 * H)
        g_whh = da2.T @ hs[:-1].reshape(T * N, H)
        g_wih, g_b = da2.T @ x.reshape(T * N, E), da2.sum(0)
        g_emb = np.zeros(V * E, np.float32)
        flat = (ids.reshape(-1, 1) * E + np.arange(E)).reshape(-1)
        np.add.at(g_emb, flat, (da2 @ self.w_ih).reshape(-1))
        for prm, grd in ((self.emb, g_emb.reshape(V, E)), (self.w_ih, g_wih), (self.w_hh, g_whh),
                         (self.b, g_b), (self.w_d, g_wd), (self.b_d, g_bd)):
            prm -= LR * grd
        self.h, self.c = hs[T].copy(), cs[T].copy()


def numpy_step(ids_np, targets_np):
    model = HandLM(np.random.default_rng(0))
    return lambda: model.step(ids_np, targets_np.reshape(-1))


# ---------------------------------------------------------------- PyTorch CPU
def torch_step(ids_np, targets_np):
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    nn = torch.nn

    class TorchLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.lstm, self.decoder = nn.Embedding(V, E), nn.LSTM(E, H), nn.Linear(H, V)

        def forward(self, ids, state):
            out, state = self.lstm(self.embed(ids), state)
            return self.decoder(out.reshape(T * N, H)), state

    model = TorchLM()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    ids, targets = torch.tensor(ids_np), torch.tensor(targets_np.reshape(-1))
    box = {"state": None}

    def step():
        opt.zero_grad()
        logits, state = model(ids, box["state"])
        nn.functional.cross_entropy(logits, targets).backward()
        opt.step()
        box["state"] = tuple(s.detach() for s in state)

    return step, torch.get_num_threads()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--backend", choices=["numpy", "cupy", "cupy-emulated"], default="numpy",
                    help="numpy, cupy (a GPU) or cupy-emulated (CuPy's rules on the CPU; speed means nothing)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    ids_np = rng.integers(0, V, (T, N))
    targets_np = rng.integers(0, V, (T, N))
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(not set)')}; "
          f"cpu count {os.cpu_count()}; numpy {np.__version__}")
    steps = {"hand": numpy_step(ids_np, targets_np)}
    steps["ours"], sync = tinygrad_step(ids_np, targets_np, args.backend)
    torch_res = torch_step(ids_np, targets_np)
    if torch_res is not None:
        steps["torch"], threads = torch_res
    t = interleaved_medians(steps, args.repeats, sync, warmup=2)
    print(f"LSTM LM step (V={V}, E=H={H}, batch {N}, {T} steps), float32, median of {args.repeats} "
          f"(interleaved):")
    print(f"  hand NumPy           {t['hand'] * 1e3:8.2f} ms")
    print(f"  tinygrad_ngd ({args.backend:5s}) {t['ours'] * 1e3:8.2f} ms   ratio to hand NumPy "
          f"{t['ours'] / t['hand']:5.2f}")
    if "torch" not in t:
        print("  PyTorch CPU          not installed")
    else:
        print(f"  PyTorch CPU          {t['torch'] * 1e3:8.2f} ms   ({threads} threads); "
              f"tinygrad_ngd / PyTorch {t['ours'] / t['torch']:5.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
