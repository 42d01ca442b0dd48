# Tutorial 03 — Newton's normalizing property and the norms of normalized gradient descent.
#
# Follows: [Kolasiński 2018, §1 "Gradient descent" and §2] "Normalized Gradient
# Descent".
#   §1: on L(x) = e^{−γx} gradient descent steps by λγe^{−γx} — huge for x ≪ 0, nothing for x ≫ 0 —
#       while Newton's step −λ L'/L'' = λ/γ does not depend on x: "the multiplication by the inverse
#       of Hessian has normalizing property".
#   §2: NGD θ ← θ − λ G/‖G‖ with ‖·‖ = L∞ (max |Δθ_v| = λ), L2 (‖Δθ‖₂ = λ; a block of N equal
#       components moves √N times less per coordinate), RMS = L2/√N (fixes that) and the standard
#       deviation; "I found L2 less efficient than others".
#
# Part 1 runs gradient descent and Newton (tinygrad_ngd.optimizers.SGD / Newton, second derivative
# by autodiff) from four starting points.  Part 2 measures the per-coordinate step of each norm on
# blocks of different sizes.  Part 3 trains a sigmoid MLP on the shipped MNIST subset with
# per-layer NGD under each norm.
#
# Run:  python tutorials/03_newton_and_ngd_norms.py [--quick] [--out DIR] [--backend cupy]
"""Newton's normalizing property and the NGD norms (see the opening comment)."""

import numpy as np

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd import optimizers as O
from tinygrad_ngd.datasets import DataLoader, ExponentialLoss1D, load_mnist_subset
from tinygrad_ngd.optimizers.norms import NORMS, normalize
from tinygrad_ngd.plotting import save_figure, set_log_y, subplots
from tinygrad_ngd.runs import start_tutorial, tutorial_parser, write_csv

GAMMA = 1.0          # γ of L(x) = e^{−γx}
LAMBDA = 0.5         # λ, the step size of both methods in part 1


# ---------------------------------------------------------------- part 1: e^{−γx}
def exp_loss(x):
    """L(x) = e^{−γx} as a Tensor function (autodiff gives L' and L'')."""
    return F.exp(-GAMMA * x).sum()


def run_1d(method, x0, steps):
    """x_k for k = 0..steps under gradient descent ("gd") or Newton ("newton"), both with λ."""
    params = tg.FlatParameters.from_array(B.asarray(np.array([x0])))
    x = params.parameters[0]
    if method == "gd":
        opt = O.SGD(params, lr=LAMBDA)

        def closure():
            opt.zero_grad()
            loss = exp_loss(x)
            loss.backward()
            return loss
    else:
        opt = O.Newton(params, lr=LAMBDA)

        def closure():
            return exp_loss(x)
    xs = [x0]
    for _ in range(steps):
        opt.step(closure=closure)
        xs.append(B.item(params.data))      # one scalar per step: the trajectory we plot
        if not np.isfinite(xs[-1]) or abs(xs[-1]) > 1e6:
            break
    return np.array(xs)


# ---------------------------------------------------------------- part 2: the norms on blocks
def per_coordinate_steps(lr, sizes):
    """The step |Δθ_v| of one coordinate when a block of N equal gradient components g is
    normalized by each norm (the example of [Kolasiński 2018, §2], with g = 0.3; std gets a ±
    alternating block so its mean is 0)."""
    rows = []
    for n in sizes:
        g_equal = B.asarray(np.full(n, 0.3))
        g_alt = B.asarray(0.3 * (-1.0) ** np.arange(n)) if n > 1 else g_equal
        row = {"N": n}
        for norm in NORMS:
            g = g_alt if norm == "std" else g_equal
            step = lr * normalize(g, norm)
            row[norm] = float(B.item(abs(step).max()))
        rows.append(row)
    return rows


# ---------------------------------------------------------------- part 3: an MLP
def sigmoid_mlp(sizes):
    mods = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        mods += [L.Dense(a, b), L.Sigmoid()]
    mods.append(L.Dense(sizes[-2], sizes[-1]))
    return L.Sequential(*mods)


def train_curve(make_opt, data, sizes, epochs, seed):
    """Mean training loss of each epoch (and the final test accuracy) for one optimizer."""
    (xtr, ytr), (xte, yte) = data
    tg.manual_seed(seed)
    model = sigmoid_mlp(sizes)
    params = tg.FlatParameters(model)
    opt = make_opt(params)
    loader = DataLoader((xtr, ytr), 100, shuffle=True, seed=seed)
    curve = []
    for _ in range(epochs):
        total = 0.0
        for x, y in loader:
            def closure(x=x, y=y):
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                return loss
            total += B.item(opt.step(closure=closure).data) * len(y)   # one sync per step, for the curve
        curve.append(total / len(ytr))
    with tg.no_grad():
        logits = model(tg.Tensor(B.asarray(xte)))
        acc = float(B.item((B.array_module(logits.data).argmax(logits.data, axis=1) == B.asarray(yte)).mean()))
    return curve, acc


def main():
    args = tutorial_parser("03_newton_and_ngd_norms", __doc__).parse_args()
    out = start_tutorial(args, dtype="float64")
    quick = args.quick

    # ---- part 1
    steps = 12 if quick else 30
    starts = [-3.0, 0.0, 3.0, 6.0]
    traj = {(m, x0): run_1d(m, x0, steps) for m in ("gd", "newton") for x0 in starts}
    print(f"Part 1 — L(x) = e^(−{GAMMA:g}x), λ = {LAMBDA:g}, {steps} steps")
    print(f"  {'x0':>5}  {'GD first step':>14}  {'GD x_final':>11}  {'Newton steps (all)':>22}")
    for x0 in starts:
        gd, nt = traj[("gd", x0)], traj[("newton", x0)]
        newton_steps = np.diff(nt)
        print(f"  {x0:>5g}  {gd[1] - gd[0]:>14.4g}  {gd[-1]:>11.4g}  "
              f"{newton_steps.min():>10.6f} … {newton_steps.max():.6f}")
    exp1d = ExponentialLoss1D(gamma=GAMMA)
    xs = np.linspace(-3, 6, 200)
    write_csv(out / "exp_loss_steps.csv",
              [{"x": x, "gd_step": LAMBDA * GAMMA * float(exp1d.value(x)), "newton_step": LAMBDA / GAMMA} for x in xs])

    # ---- part 2
    lr = 0.01
    sizes = [1, 10, 100, 1000, 10000]
    rows = per_coordinate_steps(lr, sizes)
    print(f"\nPart 2 — one coordinate's step |Δθ_v| with λ = {lr:g}, block of N equal components g = 0.3")
    print("  " + f"{'N':>6}" + "".join(f"{n:>11}" for n in NORMS))
    for r in rows:
        print("  " + f"{r['N']:>6}" + "".join(f"{r[n]:>11.3g}" for n in NORMS))
    print("  (std: a 1-element block has standard deviation 0, and a zero norm gives a zero step, never NaN)")
    write_csv(out / "norm_steps.csv", rows)

    # ---- part 3
    data = load_mnist_subset(test_size=2000, seed=0, flatten=True, dtype="float64")
    n_train = 1000 if quick else 8000
    data = ((data[0][0][:n_train], data[0][1][:n_train]), (data[1][0][:500 if quick else 2000], data[1][1][:500 if quick else 2000]))
    sizes_net = [784, 100, 100, 10]
    epochs = 2 if quick else 8
    # λ's meaning differs per norm: L∞ and RMS/std set a per-coordinate step, L2 a per-layer
    # step length (the layer of 78,500 weights has √78500 ≈ 280 times more coordinates to share it).
    grid = {"linf": [0.003, 0.01, 0.03], "l2": [0.3, 1.0, 3.0], "rms": [0.003, 0.01, 0.03], "std": [0.003, 0.01, 0.03]}
    if quick:
        grid = {k: [v[1]] for k, v in grid.items()}
    results = {}
    for norm, lrs in grid.items():
        best = None
        for lam in lrs:
            curve, acc = train_curve(lambda p, lam=lam, norm=norm: O.NGD(p, lr=lam, norm=norm, scope="block"),
                                     data, sizes_net, epochs, args.seed)
            if best is None or curve[-1] < best[1][-1]:
                best = (lam, curve, acc)
        results[f"NGD {norm} (λ={best[0]:g})"] = best
    curve, acc = train_curve(lambda p: O.SGD(p, lr=0.5), data, sizes_net, epochs, args.seed)
    results["SGD (lr=0.5)"] = (0.5, curve, acc)
    print(f"\nPart 3 — MLP {'-'.join(map(str, sizes_net))} (sigmoid) on {n_train} MNIST digits, "
          f"{epochs} epochs, per-layer NGD; best λ of {len(next(iter(grid.values())))} per norm")
    print(f"  {'method':<24} {'final train loss':>17} {'test accuracy':>14}")
    for name, (lam, curve, acc) in results.items():
        print(f"  {name:<24} {curve[-1]:>17.4f} {acc:>14.4f}")
    write_csv(out / "mlp_norms.csv", [{"method": n, "epoch": e + 1, "train_loss": v}
                                      for n, (_, c, _) in results.items() for e, v in enumerate(c)])

    # ---- figures
    fig, axes = subplots(4, ncols=2, size=(5.2, 3.8))
    ax = axes[0]
    ax.plot(xs, LAMBDA * GAMMA * exp1d.value(xs), label="gradient descent: λγe^(−γx)")
    ax.plot(xs, np.full_like(xs, LAMBDA / GAMMA), label="Newton: λ/γ")
    set_log_y(ax)
    ax.set_xlabel("x")
    ax.set_title("step size at x ([Kolasiński 2018, §1])")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax = axes[1]
    for x0 in starts:
        line, = ax.plot(traj[("gd", x0)], "-", lw=1.2, label=f"GD from {x0:g}")
        ax.plot(traj[("newton", x0)], "--", color=line.get_color(), lw=1.2)
    ax.set_xlabel("step  (solid: GD, dashed: Newton)")
    ax.set_ylabel("x")
    ax.set_title("trajectories")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax = axes[2]
    for n in NORMS:  # (std of a 1-element block is 0, so its step is 0: not drawable on a log axis)
        ax.loglog([r["N"] for r in rows], [r[n] if r[n] > 0 else np.nan for r in rows], "o-", label=n)
    ax.set_xlabel("block size N")
    ax.set_title(f"per-coordinate step, λ = {lr:g} ([Kolasiński 2018, §2])")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    ax = axes[3]
    for name, (_, curve, _) in results.items():
        ax.plot(range(1, len(curve) + 1), curve, "o-", ms=3, label=name)
    set_log_y(ax)
    ax.set_xlabel("epoch")
    ax.set_title("MLP training loss")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    path = save_figure(fig, out / "newton_and_norms.png")

    gd_first = traj[("gd", -3.0)][1] - traj[("gd", -3.0)][0]
    gd_last = traj[("gd", 6.0)][-1] - traj[("gd", 6.0)][-2]
    print("\nnotice:")
    print(f"  * GD's first step from x0 = −3 is {gd_first:.3g}, its last step from x0 = 6 is {gd_last:.2g}; "
          f"every Newton step is λ/γ = {LAMBDA / GAMMA:g} wherever it starts (the normalizing property).")
    print(f"  * L2 moves one coordinate of a 10,000-block by {rows[-1]['l2']:.1e} — √N = 100 times less than "
          f"the 1-block's {rows[0]['l2']:.1e}; L∞, RMS and std keep λ per coordinate.")
    ranked = sorted(results.items(), key=lambda kv: kv[1][1][-1])
    print(f"  * On the MLP the lowest training loss is {ranked[0][0]} ({ranked[0][1][1][-1]:.3f}), the highest "
          f"{ranked[-1][0]} ({ranked[-1][1][1][-1]:.3f}).")
    print(f"wrote {path}, {out / 'exp_loss_steps.csv'}, {out / 'norm_steps.csv'}, {out / 'mlp_norms.csv'}")


if __name__ == "__main__":
    main()
