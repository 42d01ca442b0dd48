# Tutorial 09 — Newton-CG and Hessian-free optimization of a deep autoencoder, against SGD.
#
# Follows: [Misra, "Conjugate Gradient Methods"] — "See Moller
# 1993 …, Martens et al., 2010 [Deep Learning via Hessian Free optimization]" — and "Hessian
# updates" (v = H⁻¹f' has the units of θ, so a Newton step needs no learning rate); [Soto]
#, "Second order gradient descent based methods": x − H⁻¹∇f, and
# "matrix inversion is not trivial".  Both methods below never form or invert H: they run
# conjugate gradient on curvature-vector products —
#   * NewtonCG: Hessian-vector products (grad of grad), CG stopped at negative curvature;
#   * HessianFree (Martens 2010): Gauss-Newton products Jᵀ H_ℓ J v, Levenberg-Marquardt damping
#     from the reduction ratio, CG warm starts, CG-iterate backtracking and an Armijo search.
# Martens' showcase was a deep autoencoder on MNIST, hard for SGD (a bottleneck deep in the
# net, saturating units); this is a small one on the shipped MNIST subset.
#
# Cost is counted in "gradient evaluations" over the training set: a gradient or a
# curvature-vector product counts 1, a loss-only evaluation (line search) counts ½, and a
# minibatch of b examples counts b/N.  Wall-clock time is plotted too (a product costs
# 2-3 gradients in time; see benchmarks/bench_hvp.py).
#
# Run:  python tutorials/09_newton_hessian_free.py [--quick] [--out DIR] [--backend cupy]
"""Newton-CG and Hessian-free vs SGD on a deep MNIST autoencoder (see the opening comment)."""

import itertools
import time

import numpy as np

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd import optimizers as O
from tinygrad_ngd.datasets import load_mnist_subset
from tinygrad_ngd.plotting import save_figure, set_log_y, subplots
from tinygrad_ngd.runs import start_tutorial, tutorial_parser, write_csv


def deep_autoencoder(sizes):
    """tanh hidden layers, a logistic output layer (pixels lie in [0, 1])."""
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(L.Dense(a, b))
        layers.append(L.Tanh() if i < len(sizes) - 2 else L.Sigmoid())
    return L.Sequential(*layers)


def full_loss(model, x):
    with tg.no_grad():
        return B.item(F.mse_loss(model(x), x).data)


def run_sgd(sizes, x, seed, lr, budget, batch, rng):
    tg.manual_seed(seed)
    model = deep_autoencoder(sizes)
    params = tg.FlatParameters(model)
    opt = O.SGD(params, lr=lr, momentum=0.9)
    n = x.shape[0]
    cost, t0 = 0.0, time.perf_counter()
    curve = [(0.0, 0.0, full_loss(model, x))]
    while cost < budget:
        for idx in np.array_split(rng.permutation(n), max(1, n // batch)):
            xb = tg.Tensor(x.data[B.asarray(idx)])
            opt.zero_grad()
            F.mse_loss(model(xb), xb).backward()
            opt.step()
            cost += len(idx) / n
        curve.append((cost, time.perf_counter() - t0, full_loss(model, x)))
    return curve


def run_second_order(kind, sizes, x, seed, steps, cg_maxiter):
    tg.manual_seed(seed)
    model = deep_autoencoder(sizes)
    params = tg.FlatParameters(model)
    output_fn = lambda: model(x)
    loss_fn = lambda: F.mse_loss(model(x), x)
    if kind == "NewtonCG":
        opt = O.NewtonCG(params, damping=1e-3, cg_maxiter=cg_maxiter)
    else:
        opt = O.HessianFree(params, damping=1e-3, loss="mse", cg_maxiter=cg_maxiter)
    cost, t0 = 0.0, time.perf_counter()
    curve, notes = [(0.0, 0.0, full_loss(model, x))], []
    for _ in range(steps):
        if kind == "NewtonCG":
            opt.step(closure=loss_fn)
            r = opt.last_result
            cost += 1 + r.cg.iterations + 0.5 * (r.evaluations - 1)
            notes.append(r.direction_kind)
        else:
            opt.step(closure=output_fn, targets=x.data)
            r = opt.last_result
            cost += 1 + 0.5 + r.cg.iterations + 0.5 * r.evaluations
            notes.append(f"λ={opt.damping:.2g}, ρ={r.rho:.2f}")
        curve.append((cost, time.perf_counter() - t0, full_loss(model, x)))
    return curve, notes


def main():
    parser = tutorial_parser("09_newton_hessian_free", __doc__)
    args = parser.parse_args()
    out = start_tutorial(args, dtype="float64")
    quick = args.quick
    n = 128 if quick else 1000
    sizes = [784, 32, 8, 32, 784] if quick else [784, 128, 32, 8, 32, 128, 784]
    steps, cg_maxiter = (4, 8) if quick else (20, 25)
    sgd_lrs = [3.0, 30.0] if quick else [1.0, 3.0, 10.0]
    (x_np, _), _ = load_mnist_subset(test_size=0, dtype="float64", flatten=True, seed=args.seed)
    x = tg.Tensor(B.asarray(x_np[:n]))
    print(f"autoencoder {'-'.join(map(str, sizes))} (tanh, logistic output), {n} MNIST digits, "
          f"mean squared reconstruction error")

    curves = {}
    for kind in ("NewtonCG", "HessianFree"):
        curve, notes = run_second_order(kind, sizes, x, args.seed, steps, cg_maxiter)
        curves[kind] = curve
        print(f"  {kind:12s}: loss {curve[0][2]:.4f} → {curve[-1][2]:.4f} after {steps} steps, "
              f"{curve[-1][0]:.0f} gradient evaluations, {curve[-1][1]:.1f} s   (last step: {notes[-1]})")
    budget = max(c[-1][0] for c in curves.values())
    rng = np.random.default_rng(args.seed)
    best = None
    for lr in sgd_lrs:
        curve = run_sgd(sizes, x, args.seed, lr, budget, batch=32, rng=rng)
        curves[f"SGD+momentum lr={lr:g}"] = curve
        print(f"  SGD lr={lr:<5g}: loss {curve[0][2]:.4f} → {curve[-1][2]:.4f} after {curve[-1][0]:.0f} "
              f"gradient evaluations (batch 32), {curve[-1][1]:.1f} s")
        if best is None or curve[-1][2] < best[1]:
            best = (lr, curve[-1][2])

    write_csv(out / "curves.csv", [{"method": k, "gradient_evaluations": c, "seconds": t, "loss": f}
                                   for k, cs in curves.items() for c, t, f in cs])
    fig, axes = subplots(2, ncols=2, size=(5.2, 3.8))
    for name, cs in curves.items():
        style = "o-" if not name.startswith("SGD") else "-"
        axes[0].plot([c for c, _, _ in cs], [f for _, _, f in cs], style, ms=3, label=name)
        axes[1].plot([t for _, t, _ in cs], [f for _, _, f in cs], style, ms=3, label=name)
    axes[0].set_xlabel("gradient evaluations (gradients + curvature products)")
    axes[1].set_xlabel("seconds")
    for ax in axes:
        set_log_y(ax)
        ax.set_ylabel("training loss (MSE)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_title("per gradient evaluation")
    axes[1].set_title("per second")
    save_figure(fig, out / "autoencoder_curves.png")
    print(f"\nwrote autoencoder_curves.png and curves.csv in {out}")
    print("What to notice:")
    print("  * the second-order methods take no learning rate: the step comes from the curvature;")
    print(f"    SGD's result depends on its rate (best of {sgd_lrs}: lr = {best[0]:g}, loss {best[1]:.4f}).")
    print("  * one Newton-CG / Hessian-free step costs tens of gradient evaluations (the CG iterations),")
    print("    so compare the curves at equal cost, not per step; the right panel adds the real time.")
    print("  * no winner is forced here: which curve is lower depends on size, budget and damping — read it off.")


if __name__ == "__main__":
    main()
