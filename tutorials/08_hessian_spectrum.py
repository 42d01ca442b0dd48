# Tutorial 08 — the Hessian's spectrum, its condition number and [Ravasi]'s step-safety bound.
#
# Follows: [Ravasi, "Ill-conditioning"]: the Hessian
# H = ∂²J/∂θ² shapes how fast first-order methods converge; its condition number (largest
# over smallest eigenvalue) is the usual summary.  The second-order Taylor expansion along
# a gradient step, J(θ₀ − αg) ≈ J(θ₀) − αgᵀg + ½α²gᵀHg, says the step *raises* the cost as
# soon as ½α²gᵀHg > αgᵀg, i.e. for α > 2gᵀg/gᵀHg — and gᵀHg ≤ λ_max gᵀg, so α < 2/λ_max is
# always safe.  (The note prints the first-order term as −gᵀg; substituting θ − θ₀ = −αg
# into its own expansion gives −αgᵀg.)  Also [Misra], "Hessian
# updates": H carries the units that a step needs.
#
# What it does: trains a small sigmoid MLP on the shipped MNIST subset with SGD and, at a
# few checkpoints, measures the Hessian without ever forming it (products only):
# top eigenvalues by power iteration, the spectral density by stochastic Lanczos
# quadrature (as PyHessian), the trace by Hutchinson's estimator, the condition number,
# and [Ravasi]'s predicted loss change against the true one for a range of step sizes.
#
# Run:  python tutorials/08_hessian_spectrum.py [--quick] [--out DIR] [--backend cupy]
"""The Hessian's spectrum and [Ravasi]'s step-safety bound on an MNIST MLP (see the opening comment)."""

import itertools
import math

import numpy as np

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import curvature as C
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd import optimizers as O
from tinygrad_ngd.datasets import load_mnist_subset
from tinygrad_ngd.plotting import save_figure, subplots
from tinygrad_ngd.runs import start_tutorial, tutorial_parser, write_csv


def sigmoid_mlp(sizes):
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(L.Dense(a, b))
        if i < len(sizes) - 2:
            layers.append(L.Sigmoid())
    return L.Sequential(*layers)


def measure(loss_fn, params, args, rng, lanczos_steps, lanczos_runs):
    """Everything [Ravasi] asks about H at the current parameters, from HVPs only."""
    op = C.hessian_operator(loss_fn, params)          # one gradient graph, reused by every product
    top = C.top_eigenvalues(op, k=3, maxiter=200, tol=1e-6, rng=rng)
    runs = [C.lanczos(op, m=lanczos_steps, rng=rng) for _ in range(lanczos_runs)]
    trace = C.hutchinson_trace(op, n_samples=30 if args.quick else 100, rng=rng)
    lam_max = max(B.item(r.ritz_values[-1]) for r in runs)
    lam_min = min(B.item(r.ritz_values[0]) for r in runs)
    return op, top, runs, trace, lam_max, lam_min


def step_safety_curve(loss_fn, params, op, alphas):
    """Predicted ([Ravasi]) and true loss change of the step −αg, for each α."""
    g = op.gradient
    Hg = op(g)
    theta = params.data.copy()
    f0 = B.item(op.loss.data)
    rows = []
    for a in alphas:
        s = C.step_safety(g, Hg, alpha=float(a))
        params.data[...] = theta - a * g
        with tg.no_grad():
            f = B.item(loss_fn().data)
        rows.append({"alpha": float(a), "predicted_change": s.predicted_change, "true_change": f - f0,
                     "first_order": s.first_order, "second_order": s.second_order})
    params.data[...] = theta
    return rows, C.step_safety(g, Hg, alpha=1.0)


def main():
    parser = tutorial_parser("08_hessian_spectrum", __doc__)
    parser.add_argument("--steps", type=int, default=None, help="SGD steps between checkpoints")
    args = parser.parse_args()
    out = start_tutorial(args, dtype="float64")     # float64: the spectra are compared closely
    quick = args.quick
    n_train = 256 if quick else 2000
    sizes = [784, 16, 10] if quick else [784, 32, 32, 10]
    steps = args.steps or (40 if quick else 300)
    lanczos_steps, lanczos_runs = (20, 2) if quick else (60, 4)
    lr = 0.5

    (x_np, y_np), _ = load_mnist_subset(test_size=0, dtype="float64", flatten=True, seed=args.seed)
    x = tg.Tensor(B.asarray(x_np[:n_train]))
    y = B.asarray(y_np[:n_train])
    model = sigmoid_mlp(sizes)
    params = tg.FlatParameters(model)
    loss_fn = lambda: F.cross_entropy(model(x), y)
    opt = O.SGD(params, lr=lr)
    rng = np.random.default_rng(args.seed)
    print(f"MLP {'-'.join(map(str, sizes))} (sigmoid), {params.numel} parameters, {n_train} MNIST digits, "
          f"full-batch gradient descent with lr α = {lr}")

    summary, densities, safety = [], {}, {}
    for checkpoint in range(3):
        if checkpoint:
            for _ in range(steps):
                opt.zero_grad()
                loss_fn().backward()
                opt.step()
        it = checkpoint * steps
        op, top, runs, trace, lam_max, lam_min = measure(loss_fn, params, args, rng, lanczos_steps,
                                                          lanczos_runs)
        kappa = lam_max / lam_min if lam_min > 0 else math.inf
        loss = B.item(op.loss.data)
        rows, s1 = step_safety_curve(loss_fn, params, op, np.geomspace(1e-2, 1e3, 22 if quick else 40))
        safety[it] = (rows, s1)
        densities[it] = C.spectral_density(runs, n_grid=600 if quick else 2000, sigma_squared=1e-3)
        summary.append({"iteration": it, "loss": loss, "lambda_1": top.values[0], "lambda_2": top.values[1],
                        "lambda_3": top.values[2], "lanczos_max": lam_max, "lanczos_min": lam_min,
                        "kappa": kappa, "trace": trace.trace, "trace_stderr": trace.stderr,
                        "alpha_max": s1.alpha_max, "two_over_lambda_max": 2.0 / lam_max if lam_max > 0 else math.inf})
        print(f"\niteration {it:4d}: loss {loss:.4f}")
        print("  top eigenvalues (power iteration): " + ", ".join(
            f"{v:.4g}" + ("" if ok else " (not converged)") for v, ok in zip(top.values, top.converged)))
        print(f"  Lanczos extremes: λ_max ≈ {lam_max:.4g}, λ_min ≈ {lam_min:.3g}  →  κ = "
              + (f"{kappa:.3g}" if math.isfinite(kappa) else "∞ (H is indefinite: negative curvature)"))
        print(f"  Hutchinson trace: {trace.trace:.4g} ± {trace.stderr:.2g}")
        print(f"  [Ravasi] along −g: gᵀg = {s1.gTg:.3g}, gᵀHg = {s1.gTHg:.3g}, safe while α < "
              f"2gᵀg/gᵀHg = {s1.alpha_max:.3g} (2/λ_max = {2 / lam_max:.3g}; SGD uses α = {lr})")

    write_csv(out / "spectrum_summary.csv", summary)
    write_csv(out / "step_safety.csv", [dict(iteration=it, **r) for it, (rows, _) in safety.items() for r in rows])
    write_csv(out / "spectral_density.csv",
              [{"iteration": it, "eigenvalue": float(a), "density": float(d)}
               for it, (grid, dens) in densities.items() for a, d in zip(B.to_numpy(grid), B.to_numpy(dens))])

    fig, axes = subplots(3, ncols=3, size=(4.8, 3.6))
    ax = axes[0]
    for it, (grid, dens) in densities.items():
        ax.semilogy(B.to_numpy(grid), np.maximum(B.to_numpy(dens), 1e-8), label=f"iteration {it}")
    ax.set_title("spectral density (stochastic Lanczos)")
    ax.set_xlabel("eigenvalue of H")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax = axes[1]
    last = max(safety)
    rows, s1 = safety[last]
    a = np.array([r["alpha"] for r in rows])
    ax.semilogx(a, [r["predicted_change"] for r in rows], label="−αgᵀg + ½α²gᵀHg ([Ravasi])")
    ax.semilogx(a, [r["true_change"] for r in rows], "k.", label="true change J(θ−αg) − J(θ)")
    ax.axvline(s1.alpha_max, color="r", ls="--", label="α_max = 2gᵀg/gᵀHg")
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_title(f"step safety at iteration {last}")
    ax.set_xlabel("step size α")
    ax.legend(fontsize=7)
    ax = axes[2]
    its = [r["iteration"] for r in summary]
    ax.plot(its, [r["lambda_1"] for r in summary], "o-", label="λ_max (power iteration)")
    ax.plot(its, [abs(r["lanczos_min"]) for r in summary], "s-", label="|λ_min| (Lanczos)")
    ax.axhline(2 / lr, color="r", ls="--", label="2/α (SGD's stability edge)")
    ax.set_yscale("log")
    ax.set_xlabel("gradient-descent iteration")
    ax.set_title("extreme curvature during training")
    ax.legend(fontsize=7)
    save_figure(fig, out / "hessian_spectrum.png")

    print(f"\nwrote hessian_spectrum.png, spectrum_summary.csv, step_safety.csv, spectral_density.csv in {out}")
    print("What to notice:")
    print("  * the density is a spike of near-zero eigenvalues plus a few outliers: the condition number is")
    print("    set by the outliers against a bulk near zero (and negative eigenvalues make it infinite).")
    rows, s1 = safety[max(safety)]
    below = [r for r in rows if r["alpha"] <= 0.1 * s1.alpha_max]
    worst = max(abs(r["predicted_change"] - r["true_change"]) / abs(r["true_change"]) for r in below)
    above = [r for r in rows if r["alpha"] > s1.alpha_max]
    print("  * the predicted change −αgᵀg + ½α²gᵀHg tracks the true change while α ≤ α_max/10 (worst relative")
    print(f"    gap {worst:.1%}) and turns positive at α_max = 2gᵀg/gᵀHg = {s1.alpha_max:.3g}.")
    if above:
        r = above[0]
        if r["true_change"] > 0:
            print(f"    Just beyond it (α = {r['alpha']:.3g}) the true step raises the loss "
                  f"({r['true_change']:+.3g}), as the bound says.")
        else:
            print(f"    Just beyond it (α = {r['alpha']:.3g}) the true step still lowers the loss "
                  f"({r['true_change']:+.3g}): the bound is about the quadratic model, and this far")
            print("    from θ₀ the network's loss is no longer quadratic.")
    print("  * gradient descent is stable while α < 2/λ_max; compare λ_max with the dashed 2/α line.")


if __name__ == "__main__":
    main()
