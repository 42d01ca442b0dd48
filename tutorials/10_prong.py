# [Misra, "PRONG: Projected Natural Gradient Descent", Algorithm 1]
# and "PRONG: Results", Figure 3: a deep auto-encoder on MNIST trained by PRONG (whitened layers,
# SGD on Ω = (V, d), re-whitening every T updates) against plain SGD; (a) the eigenvalue
# regularizer ε, (b) the period T, (c) training error against updates, (d) against CPU time.
"""PRONG vs SGD on a deep auto-encoder of the shipped MNIST subset ([Misra, Figure 3]).

    python tutorials/10_prong.py                  # the full sweep (a few minutes on a CPU)
    python tutorials/10_prong.py --quick --out /tmp/x

The images are average-pooled to 14×14 by default (``--side 28`` keeps them whole) so the
sweep fits a small shared CPU: the first layer's whitening matrix is side⁴ entries.
Writes curves.png (four panels like the note's Figure 3) and curves.csv / summary.csv.
"""

from __future__ import annotations

import csv
import math
import os
import time

# One BLAS thread unless the user says otherwise: on a shared CPU, multi-threaded BLAS made
# every step 5-20× slower and the timings meaningless.  Set before NumPy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import tinygrad_ngd as tg  # noqa: E402
from tinygrad_ngd import functional as F  # noqa: E402
from tinygrad_ngd import layers as L  # noqa: E402
from tinygrad_ngd import optimizers as O  # noqa: E402
from tinygrad_ngd.datasets import load_mnist_subset  # noqa: E402
from tinygrad_ngd.runs import start_tutorial, tutorial_parser  # noqa: E402


def parse_args(argv=None):
    p = tutorial_parser("10_prong", __doc__)        # --backend, --quick, --out, --seed, --threads
    p.add_argument("--side", type=int, choices=[14, 28], default=14, help="image side (14: 2×2 pooled)")
    p.add_argument("--hidden", default="128,64,16", help="encoder widths; the decoder mirrors them")
    p.add_argument("--updates", type=int, default=2000)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--lr-sgd", type=float, default=0.2)
    p.add_argument("--lr-prong", type=float, default=0.03)
    p.add_argument("--n-samples", type=int, default=1000, help="N_s")
    p.add_argument("--epsilons", default="0.001,0.01,0.1,1", help="ε values of panel (a)")
    p.add_argument("--periods", default="10,100,1000", help="T values of panel (b)")
    p.add_argument("--T", type=int, default=100, help="T for the ε sweep")
    p.add_argument("--epsilon", type=float, default=0.1, help="ε for the T sweep")
    p.add_argument("--eval-every", type=int, default=25)
    args = p.parse_args(argv)
    if args.quick:
        args.hidden, args.updates, args.n_samples, args.eval_every = "32,8", 20, 200, 10
        args.epsilons, args.periods, args.T = "0.1", "10", 10
    return args


def load_images(side):
    """Training images in [0, 1] as (n, side²) float32 (host NumPy)."""
    (x, _), _ = load_mnist_subset(flatten=False)
    if side == 14:
        x = x.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4))   # 2×2 average pooling
    return x.reshape(len(x), -1).astype(np.float32)


def autoencoder(n_in, hidden):
    """n_in-h1-…-hk-…-h1-n_in with tanh hidden units and sigmoid output (a Dense stack)."""
    sizes = [n_in] + hidden + hidden[-2::-1] + [n_in]
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(L.Dense(a, b))
        layers.append(L.Sigmoid() if i == len(sizes) - 2 else L.Tanh())
    return L.Sequential(*layers)


def reconstruction_error(model, x):
    """Training error: squared reconstruction error per image, Σ_pixels (x̂ − x)², averaged."""
    return F.mse_loss(model(x), x, reduction="sum") * (1.0 / x.shape[0])


def run(name, x_train, x_eval, args, hidden, prong=None, lr=0.1):
    """Train one configuration; returns rows (name, update, cpu seconds, error) and a status.

    Time is this process's CPU time (``time.process_time``, the note's "cpu-time") spent in
    the updates and the whitenings, not in the evaluations: on a shared machine wall-clock
    time measures the neighbours."""
    tg.manual_seed(args.seed)                       # the same initial network for every run
    model = autoencoder(x_train.shape[1], hidden)
    if prong is not None:
        model = L.whiten(model)
    params = tg.FlatParameters(model)
    batch_rng = np.random.default_rng(args.seed + 1)   # the same minibatches for every run
    x_eval_t = tg.Tensor(tg.backend.asarray(x_eval))
    seconds = 0.0
    start = time.process_time()
    if prong is None:
        opt = O.SGD(params, lr=lr)
    else:
        opt = O.PRONG(params, lr=lr, samples=x_train, n_samples=args.n_samples, **prong)
    seconds += time.process_time() - start          # the first whitening is part of the cost
    rows, status = [], "ok"

    def evaluate(t):
        with tg.no_grad():
            err = reconstruction_error(model, x_eval_t).item()
        rows.append((name, t, seconds, err))
        return err

    evaluate(0)
    for t in range(1, args.updates + 1):
        idx = batch_rng.choice(len(x_train), args.batch, replace=False)
        xb = tg.Tensor(tg.backend.asarray(x_train[idx]))
        start = time.process_time()
        opt.zero_grad()
        loss = reconstruction_error(model, xb)
        loss.backward()
        try:
            opt.step()
        except (FloatingPointError, ValueError) as e:   # a diverged run: say so, keep the curve
            status = f"diverged at update {t}: {str(e)[:80]}"
            break
        seconds += time.process_time() - start
        if t % args.eval_every == 0 or t == args.updates:
            if not math.isfinite(evaluate(t)):
                status = f"diverged at update {t}"
                break
    extra = f", {opt.n_reparametrizations} whitenings in {opt.reparametrization_seconds:.1f} s wall" \
        if prong is not None else ""
    print(f"  {name:28s} final error {rows[-1][3]:9.3f} after {rows[-1][1]:5d} updates, "
          f"{seconds:6.1f} s{extra}  [{status}]", flush=True)
    return rows, status


def plot(panels, curves, path):
    """One panel per (title, run names, x axis) — the layout of the note's Figure 3."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5))
    for ax, (title, names, x_axis) in zip(axes, panels):
        for name in names:
            r = np.array([(row[1], row[2], row[3]) for row in curves[name]])
            ax.plot(r[:, 0] if x_axis == "updates" else r[:, 1], r[:, 2], label=name)
        ax.set_title(title)
        ax.set_xlabel(x_axis)
        ax.set_ylabel("training error (squared, per image)")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)



def main(argv=None):
    args = parse_args(argv)
    start_tutorial(args)       # backend, seed, BLAS threads, --out checked writable (tinygrad_ngd.runs)
    hidden = [int(h) for h in args.hidden.split(",")]
    x_all = load_images(args.side)
    x_train, x_eval = x_all, x_all[:1000]          # training error on a fixed 1000-image subset
    print(f"MNIST subset {x_train.shape[0]} images of {args.side}×{args.side}; auto-encoder "
          f"{[x_train.shape[1]] + hidden + hidden[-2::-1] + [x_train.shape[1]]}; batch {args.batch}; "
          f"{args.updates} updates; backend {args.backend}")
    curves, status = {}, {}

    def add(name, lr, prong=None):
        if name not in curves:
            curves[name], status[name] = run(name, x_train, x_eval, args, hidden, prong=prong, lr=lr)
        return name

    sgd = add("SGD", args.lr_sgd)
    eps_runs = [add(f"PRONG ε={e:g} T={args.T}", args.lr_prong, dict(T=args.T, epsilon=e))
                for e in (float(v) for v in args.epsilons.split(","))]
    t_runs = [add(f"PRONG ε={args.epsilon:g} T={T}", args.lr_prong, dict(T=T, epsilon=args.epsilon))
              for T in (int(v) for v in args.periods.split(","))]
    # T = ∞ (whiten once, at the start) and no whitening at all (SGD at PRONG's learning rate)
    t_runs.append(add("PRONG whiten once (T=∞)", args.lr_prong,
                      dict(T=args.updates + 1, epsilon=args.epsilon)))
    t_runs.append(add(f"SGD at lr={args.lr_prong:g} (U = I)", args.lr_prong))
    finished = [n for n in eps_runs + t_runs if n.startswith("PRONG") and status[n] == "ok"]
    best = min(finished, key=lambda n: curves[n][-1][3]) if finished else eps_runs[0]
    with open(os.path.join(args.out, "curves.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["run", "update", "seconds", "train_error"])
        for rows in curves.values():
            w.writerows(rows)
    with open(os.path.join(args.out, "summary.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["run", "updates", "seconds", "final_train_error", "seconds_per_update", "status"])
        for name, rows in curves.items():
            n, sec, err = rows[-1][1], rows[-1][2], rows[-1][3]
            w.writerow([name, n, f"{sec:.2f}", f"{err:.4f}", f"{sec / max(n, 1):.4f}", status[name]])
    panels = [(f"(a) ε, T = {args.T}", [sgd] + eps_runs, "updates"),
              (f"(b) T, ε = {args.epsilon:g}", [sgd] + t_runs, "updates"),
              ("(c) PRONG (best) vs SGD", [sgd, best], "updates"),
              ("(d) PRONG (best) vs SGD", [sgd, best], "cpu seconds")]
    plot(panels, curves, os.path.join(args.out, "curves.png"))
    print(f"wrote {args.out}/curves.png, curves.csv, summary.csv")
    report(curves, sgd, best, args)


def error_at(rows, update):
    """The training error logged at the last evaluation ≤ ``update``."""
    return [r for r in rows if r[1] <= update][-1][3]


def time_to_reach(rows, target):
    """CPU seconds until the error first fell to ``target`` (None if never)."""
    hit = [r for r in rows if r[3] <= target]
    return hit[0][2] if hit else None


def report(curves, sgd, best, args):
    """What the reader should notice, in numbers."""
    s_rows, p_rows = curves[sgd], curves[best]
    target = s_rows[-1][3]
    t_sgd, t_prong = s_rows[-1][2], time_to_reach(p_rows, target)
    print(f"Notice: after {args.updates} updates SGD (lr {args.lr_sgd:g}) is at {target:.3f}, "
          f"{best} (lr {args.lr_prong:g}) at {p_rows[-1][3]:.3f}.")
    leave = [next((r[1] for r in rows if r[1] > 0 and r[3] < 8.0), None) for rows in (s_rows, p_rows)]
    said = [f"at update {u}" if u is not None else f"not within its {rows[-1][1]} updates"
            for u, rows in zip(leave, (s_rows, p_rows))]
    print(f"  first evaluation below 8.0 (off the ≈10 plateau of the mean image): SGD {said[0]}, "
          f"PRONG {said[1]}")
    half = args.updates // 2
    print(f"  at {half} updates: SGD {error_at(s_rows, half):.3f}, PRONG {error_at(p_rows, half):.3f}")
    if t_prong is not None:
        print(f"  PRONG reached SGD's final error after {t_prong:.1f} CPU s; SGD needed {t_sgd:.1f} CPU s "
              f"(whitening cost included)")
    else:
        print("  PRONG did not reach SGD's final error in this run")
    print(f"  cost per update: SGD {t_sgd / max(s_rows[-1][1], 1) * 1e3:.2f} ms, PRONG "
          f"{p_rows[-1][2] / max(p_rows[-1][1], 1) * 1e3:.2f} ms (the extra U(h − c) product and the "
          f"eigendecompositions); panels (a)-(b) show how ε and T change this.")

if __name__ == "__main__":
    main()
