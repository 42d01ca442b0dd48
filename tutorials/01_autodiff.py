# Tutorial 01 — automatic differentiation, double backward and a Hessian-vector product by hand.
#
# Follows: [Ravasi, "Ill-conditioning"] — the second-order Taylor
# expansion J(θ) ≈ J(θ0) + (θ−θ0)ᵀg + ½(θ−θ0)ᵀH(θ−θ0) needs g and H; [Soto]
#, "Second order gradient descent based methods" — Newton-Raphson
# x_{n+1} = x_n − f'(x_n)/f''(x_n) needs a second derivative; [Misra],
# "Hessian updates" — v = H⁻¹f'.  Every later tutorial that touches curvature rests on the
# three facts checked here:
#   1. backward() gives the exact gradient (checked against finite differences);
#   2. the backward pass is itself differentiable (grad(..., create_graph=True)), so second
#      derivatives come from differentiating a derivative;
#   3. H v = ∇_θ ⟨∇_θ L(θ), v⟩ (Pearlmutter 1994): a Hessian-vector product costs about two
#      gradients and never forms the n×n matrix.
#
# Run:  python tutorials/01_autodiff.py [--quick] [--out DIR] [--backend cupy]
"""Autodiff, double backward and an HVP by hand (see the opening comment)."""

import numpy as np

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd.curvature import hvp
from tinygrad_ngd.plotting import pyplot, save_figure, subplots
from tinygrad_ngd.runs import start_tutorial, tutorial_parser, write_csv


# ---------------------------------------------------------------- part 1: a scalar function
def f(x):
    """f(x) = x² tanh(x), elementwise, written with Tensor operations."""
    return x * x * F.tanh(x)


def f_exact(x):
    """f, f', f'' by hand (NumPy), to check the automatic ones against."""
    t = np.tanh(x)
    s2 = 1.0 - t * t                     # sech²x
    return (x * x * t,
            2 * x * t + x * x * s2,
            2 * t + 4 * x * s2 - 2 * x * x * s2 * t)


def derivatives_by_autodiff(xs):
    """f'(x) and f''(x) at every point of ``xs`` (host array) by differentiating twice.

    Σ f(x_i) has gradient (f'(x_i))_i because the points do not interact; the same trick
    applied to Σ f'(x_i) gives (f''(x_i))_i.
    """
    x = tg.Tensor(B.asarray(xs), requires_grad=True)
    y = f(x).sum()
    (d1,) = tg.grad(y, [x], create_graph=True)   # f'(x) as a Tensor that is part of the graph
    (d2,) = tg.grad(d1.sum(), [x])               # differentiate the derivative: f''(x)
    return B.to_numpy(d1.data), B.to_numpy(d2.data)


# ---------------------------------------------------------------- part 2: a small network
def tiny_network(n_in, n_hidden, n_out):
    return L.Sequential(L.Dense(n_in, n_hidden), L.Tanh(), L.Dense(n_hidden, n_out))


def make_loss(model, x, y):
    """The closure every curvature tool takes: the loss at the current parameters."""
    return lambda: F.cross_entropy(model(x), y)


def hvp_by_hand(model, params, loss_fn, v):
    """H v = ∇_θ ⟨∇_θ L, v⟩ written out: gradient with create_graph, dot with v, gradient again."""
    loss = loss_fn()
    grads = tg.grad(loss, params.parameters, create_graph=True)     # ∇L as differentiable Tensors
    v_parts = params.unflatten(v)                                    # v cut like the parameters
    dot = None
    for g, vi in zip(grads, v_parts):
        term = (g * tg.Tensor(vi)).sum()
        dot = term if dot is None else dot + term                    # ⟨∇L, v⟩, a scalar Tensor
    hv = tg.grad(dot, params.parameters)                             # ∇⟨∇L, v⟩ = H v
    return params.flatten(hv)


def flat_gradient(params, loss_fn):
    loss = loss_fn()
    return params.flatten(tg.grad(loss, params.parameters))


def finite_difference_hvp(params, loss_fn, v, eps):
    """(∇L(θ + εv) − ∇L(θ − εv)) / 2ε: the central difference of gradients (error O(ε²) + round-off/ε)."""
    theta = params.data.copy()
    params.data[...] = theta + eps * v
    g_plus = flat_gradient(params, loss_fn)
    params.data[...] = theta - eps * v
    g_minus = flat_gradient(params, loss_fn)
    params.data[...] = theta
    return (g_plus - g_minus) / (2 * eps)


def hessian_from_hvps(params, loss_fn):
    """The dense Hessian, one column per HVP with a unit vector (only for tiny models)."""
    xp = B.array_module(params.data)
    n = params.numel
    cols = []
    for i in range(n):
        e = xp.zeros(n, dtype=params.dtype)
        e[i] = 1.0
        cols.append(B.to_numpy(hvp(loss_fn, params, e)))
    return np.stack(cols, axis=1)


def main():
    parser = tutorial_parser("01_autodiff", __doc__)
    args = parser.parse_args()
    out = start_tutorial(args, dtype="float64")   # float64: we compare derivatives to ~1e-10
    quick = args.quick

    # ---- part 1: f, f', f'' on a grid
    xs = np.linspace(-3, 3, 61 if quick else 241)
    d1, d2 = derivatives_by_autodiff(xs)
    fv, d1_exact, d2_exact = f_exact(xs)
    err1 = float(np.max(np.abs(d1 - d1_exact)))
    err2 = float(np.max(np.abs(d2 - d2_exact)))
    print("Part 1 — f(x) = x² tanh x, derivatives by autodiff vs by hand on", len(xs), "points")
    print(f"  max |f' autodiff − f' exact|  = {err1:.2e}")
    print(f"  max |f'' autodiff − f'' exact| = {err2:.2e}   (double backward: the backward is differentiable)")
    write_csv(out / "derivatives.csv", [{"x": a, "f": b, "df": c, "d2f": d, "df_exact": e, "d2f_exact": g}
                                        for a, b, c, d, e, g in zip(xs, fv, d1, d2, d1_exact, d2_exact)])

    # ---- part 2: HVP of a network loss, three ways
    n_in, n_hidden, n_out, n_batch = (3, 4, 3, 16) if quick else (5, 8, 4, 64)
    model = tiny_network(n_in, n_hidden, n_out)
    params = tg.FlatParameters(model)
    rng = B.host_rng()
    x = tg.Tensor(B.asarray(rng.standard_normal((n_batch, n_in))))
    y = tg.Tensor(B.asarray(rng.integers(0, n_out, n_batch)))
    loss_fn = make_loss(model, x, y)
    v = B.asarray(rng.standard_normal(params.numel))
    hv_hand = hvp_by_hand(model, params, loss_fn, v)
    hv_lib = hvp(loss_fn, params, v)
    print(f"\nPart 2 — a {n_in}-{n_hidden}-{n_out} tanh network, {params.numel} parameters, cross-entropy")
    rel_lib = float(B.item(abs(hv_hand - hv_lib).max() / abs(hv_lib).max()))
    print(f"  HVP by hand vs tinygrad_ngd.curvature.hvp: max relative difference {rel_lib:.1e}")

    eps_grid = np.logspace(-10, -1, 10 if quick else 28)
    fd_err = []
    for eps in eps_grid:
        fd = finite_difference_hvp(params, loss_fn, v, eps)
        fd_err.append(float(B.item(abs(fd - hv_hand).max() / abs(hv_hand).max())))
    best = int(np.argmin(fd_err))
    print(f"  central finite differences of gradients: best relative error {fd_err[best]:.1e} "
          f"at ε = {eps_grid[best]:.0e} (truncation ~ε², round-off ~1e-16/ε)")
    write_csv(out / "hvp_fd_error.csv", [{"eps": e, "rel_error": r} for e, r in zip(eps_grid, fd_err)])

    H = hessian_from_hvps(params, loss_fn)
    asym = float(np.max(np.abs(H - H.T)))
    eig = np.linalg.eigvalsh((H + H.T) / 2)
    print(f"  dense Hessian from {params.numel} HVPs: max |H − Hᵀ| = {asym:.1e} (symmetric, as it must be)")
    print(f"  eigenvalues from {eig[0]:.3g} to {eig[-1]:.3g}: "
          f"{int(np.sum(eig < -1e-10))} negative — a network loss is not convex")

    # ---- figures
    fig, axes = subplots(3, ncols=3, size=(4.6, 3.6))
    ax = axes[0]
    ax.plot(xs, fv, label="f = x² tanh x")
    ax.plot(xs, d1, label="f' (autodiff)")
    ax.plot(xs, d2, label="f'' (double backward)")
    ax.plot(xs[::6], d2_exact[::6], "k.", ms=4, label="f'' by hand")
    ax.set_title("derivatives by differentiating twice")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.loglog(eps_grid, fd_err, "o-", ms=3)
    ax.set_xlabel("finite-difference step ε")
    ax.set_ylabel("relative error vs exact HVP")
    ax.set_title("HVP: finite differences vs grad-of-grad")
    ax.grid(alpha=0.3, which="both")
    ax = axes[2]
    lim = float(np.max(np.abs(H)))
    im = ax.imshow(H, cmap="RdBu_r", vmin=-lim, vmax=lim)
    pyplot().colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(f"Hessian from {params.numel} HVPs")
    path = save_figure(fig, out / "autodiff.png")
    print(f"\nwrote {path}, {out / 'derivatives.csv'}, {out / 'hvp_fd_error.csv'}")
    print(f"notice: autodiff's f'' matches the hand derivative to round-off ({err2:.0e}); finite differences")
    print(f"        of gradients are at best {fd_err[best]:.0e} accurate (at ε = {eps_grid[best]:.0e}) and get")
    print("        worse for ε too small (round-off) or too large (truncation): grad-of-grad has no ε to tune.")


if __name__ == "__main__":
    main()
