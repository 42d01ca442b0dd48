# Tutorial 02 — optimizer paths in the canyon: an ill-conditioned quadratic and Rosenbrock's valley.
#
# Follows: [Soto, "Problem with gradient descent"] — "gradient descent
# wastes time repeatedly descending canyon walls, because they are the steepest feature … slow
# progress along flat direction (valley), jitter along steep one" — and its remedies: momentum,
# NAG, AdaGrad, RMSprop, Adam, Newton-Raphson; [Ravasi],
# "Ill-conditioning" (the Hessian's condition number slows first-order methods), "Momentum",
# "Nesterov momentum", "Adaptive learning rates"; [Misra], the update
# rules of SGD, momentum, NAG (look-ahead form), AdaGrad, RMSProp, AdaDelta, Adam and AdaMax;
# [Kolasiński 2018, §2], normalized gradient descent.
#
# Every optimizer starts at the same point and runs the same number of steps; the figures draw
# their paths over the contours and their loss per step.  Both Nesterovs are here: PyTorch's
# form (the iterate is the look-ahead point) and the notes' look-ahead form (the gradient is
# taken at θ − μv, which needs a closure).
#
# Run:  python tutorials/02_optimizer_paths.py [--quick] [--out DIR] [--backend cupy]
"""Optimizer paths on an ill-conditioned quadratic and on Rosenbrock (see the opening comment)."""

import math

import numpy as np

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import optimizers as O
from tinygrad_ngd.datasets import QuadraticBowl, Rosenbrock
from tinygrad_ngd.plotting import contour_paths, save_figure, set_log_y, subplots
from tinygrad_ngd.runs import start_tutorial, tutorial_parser, write_csv

CONDITION_NUMBER = 50.0        # κ = λmax/λmin of the quadratic's Hessian
ROTATION = math.pi / 6         # the canyon is not aligned with the coordinate axes


# ---------------------------------------------------------------- the two problems, as Tensor functions
def quadratic_loss(bowl):
    """½ (x − x*)ᵀ A (x − x*) built from Tensor ops, so autodiff gives g = A(x − x*) and H = A."""
    A = tg.Tensor(B.asarray(bowl.A))
    x_star = tg.Tensor(B.asarray(bowl.x_star))

    def f(x):
        d = x - x_star
        return 0.5 * (d * (A @ d)).sum()
    return f


def rosenbrock_loss(rb):
    """b (x₂ − x₁²)² + (a − x₁)²."""
    def f(x):
        x1, x2 = x[0], x[1]
        return rb.b * (x2 - x1 * x1) ** 2 + (rb.a - x1) ** 2
    return f


# ---------------------------------------------------------------- the optimizers and their step sizes
# name → (builder(params) for the quadratic, builder(params) for Rosenbrock).  Step sizes are
# chosen per problem, each close to the largest that stays stable for the plain method, so the
# comparison is about the *direction* each method takes, not about a badly tuned rate.
def optimizer_table():
    def sgd(lr, **kw):
        return lambda p: O.SGD(p, lr=lr, **kw)

    return {
        "SGD": (sgd(0.035), sgd(1.5e-3)),
        "momentum": (sgd(0.01, momentum=0.9), sgd(2e-4, momentum=0.9)),
        "Nesterov (PyTorch)": (sgd(0.01, momentum=0.9, nesterov=True), sgd(2e-4, momentum=0.9, nesterov=True)),
        "Nesterov (look-ahead)": (sgd(0.01, momentum=0.9, nesterov=True, form="notes"),
                                  sgd(2e-4, momentum=0.9, nesterov=True, form="notes")),
        "Adagrad": (lambda p: O.Adagrad(p, lr=1.0), lambda p: O.Adagrad(p, lr=0.5)),
        "RMSprop": (lambda p: O.RMSprop(p, lr=0.3), lambda p: O.RMSprop(p, lr=5e-3)),
        # AdaDelta's first steps are ~√ε (its "units" correction, [Misra]): ε = 1e-3 on the quadratic,
        # PyTorch's default 1e-6 on Rosenbrock, where larger ε throws it out of the valley.
        "Adadelta": (lambda p: O.Adadelta(p, lr=1.0, eps=1e-3), lambda p: O.Adadelta(p, lr=1.0, eps=1e-6)),
        "Adam": (lambda p: O.Adam(p, lr=0.3), lambda p: O.Adam(p, lr=0.05)),
        "Adamax": (lambda p: O.Adamax(p, lr=0.3), lambda p: O.Adamax(p, lr=0.05)),
        "NGD (L2)": (lambda p: O.NGD(p, lr=0.1, norm="l2", scope="global"),
                     lambda p: O.NGD(p, lr=0.01, norm="l2", scope="global")),
        "Newton": (lambda p: O.Newton(p, lr=1.0), lambda p: O.Newton(p, lr=1.0)),
    }


def run_optimizer(build, loss_of, x0, steps):
    """Run ``steps`` updates from ``x0``; returns (path (steps+1, 2), loss per step (steps+1,))."""
    params = tg.FlatParameters.from_array(B.asarray(x0.copy()))
    x = params.parameters[0]
    opt = build(params)

    def loss_fn():          # Newton's contract: the loss at the current parameters, no backward
        return loss_of(x)

    def closure():          # everyone else: the loss, with params.grad filled by backward
        opt.zero_grad()
        loss = loss_of(x)
        loss.backward()
        return loss

    path, losses = [x0.copy()], []
    for _ in range(steps):
        loss = opt.step(closure=loss_fn if isinstance(opt, O.Newton) else closure)
        # one device → host copy per step: the path is what this tutorial draws
        losses.append(B.item(loss.data))
        path.append(B.to_numpy(params.data).copy())
        if not np.all(np.isfinite(path[-1])):
            break
    losses.append(B.item(loss_of(x).data))
    return np.array(path), np.array(losses)


def run_problem(title, problem, loss_of, steps, which):
    """All optimizers on one problem; returns {name: (path, losses)}."""
    runs = {}
    for name, builders in optimizer_table().items():
        runs[name] = run_optimizer(builders[which], loss_of, problem.x0, steps)
    print(f"\n{title}: {steps} steps from x0 = {problem.x0.tolist()}, minimum at {problem.x_star.tolist()}")
    print(f"  {'optimizer':<22} {'final loss':>12} {'distance to x*':>15} {'steps to loss < 1e-6':>21}")
    for name, (path, losses) in runs.items():
        dist = float(np.linalg.norm(path[-1] - problem.x_star))
        below = np.flatnonzero(losses < 1e-6)
        hit = str(int(below[0])) if below.size else "—"
        print(f"  {name:<22} {losses[-1]:>12.3e} {dist:>15.3e} {hit:>21}")
    return runs


def zigzag_count(path, direction):
    """How often the step's component along ``direction`` changes sign: the jitter across the canyon."""
    comp = np.diff(path, axis=0) @ direction
    comp = comp[np.abs(comp) > 1e-12]
    return int(np.sum(np.sign(comp[1:]) != np.sign(comp[:-1])))


def plot_problem(runs, problem, f_host, out, stem, title, xlim, ylim, groups):
    paths = []
    for i, (label, names) in enumerate(groups):
        paths.append(contour_paths(f_host, {n: runs[n][0] for n in names}, out / f"{stem}_paths_{i + 1}.png",
                                   xlim, ylim, title=f"{title}: {label}", minimum=problem.x_star))
    fig, (ax,) = subplots(1, ncols=1, size=(7.5, 4.5))
    for name, (_, losses) in runs.items():
        ax.plot(np.maximum(losses, 1e-16), label=name, lw=1.2)
    set_log_y(ax)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (floored at 1e-16)")
    ax.set_title(f"{title}: loss per step")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    paths.append(save_figure(fig, out / f"{stem}_loss.png"))
    return paths


def loss_rows(problem_name, runs):
    rows = []
    for name, (path, losses) in runs.items():
        for k, (pt, loss) in enumerate(zip(path, losses)):
            rows.append({"problem": problem_name, "optimizer": name, "step": k, "x1": pt[0], "x2": pt[1],
                         "loss": loss})
    return rows


GROUPS = [("momentum family", ["SGD", "momentum", "Nesterov (PyTorch)", "Nesterov (look-ahead)", "Newton"]),
          ("adaptive and normalized", ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "Adamax", "NGD (L2)"])]


def main():
    args = tutorial_parser("02_optimizer_paths", __doc__).parse_args()
    out = start_tutorial(args, dtype="float64")
    steps_q, steps_r = (40, 300) if args.quick else (150, 3000)

    bowl = QuadraticBowl(dim=2, condition_number=CONDITION_NUMBER, rotation=ROTATION,
                         x0=np.array([-4.0, 3.0]))
    runs_q = run_problem(f"Quadratic canyon (κ = {CONDITION_NUMBER:g}, rotated {math.degrees(ROTATION):.0f}°)",
                         bowl, quadratic_loss(bowl), steps_q, which=0)
    rb = Rosenbrock()
    runs_r = run_problem("Rosenbrock valley", rb, rosenbrock_loss(rb), steps_r, which=1)

    files = plot_problem(runs_q, bowl, bowl.value, out, "quadratic", "quadratic canyon",
                         (-4.5, 4.5), (-3.5, 3.5), GROUPS)
    files += plot_problem(runs_r, rb, rb.value, out, "rosenbrock", "Rosenbrock",
                          (-2.0, 2.0), (-1.0, 3.0), GROUPS)
    write_csv(out / "paths.csv", loss_rows("quadratic", runs_q) + loss_rows("rosenbrock", runs_r))

    steep = bowl.Q[:, -1]            # eigenvector of the largest eigenvalue: across the canyon
    zz = {n: zigzag_count(runs_q[n][0], steep) for n in ("SGD", "momentum", "Adam")}
    q_loss = {n: runs_q[n][1][-1] for n in runs_q}
    print("\nnotice:")
    print(f"  * SGD's steps flip direction across the canyon {zz['SGD']} times in {steps_q} steps (the jitter of "
          f"[Soto]) while it crawls along the valley; momentum flips {zz['momentum']} times and ends at loss "
          f"{q_loss['momentum']:.1e} vs SGD's {q_loss['SGD']:.1e}.")
    print(f"  * Newton solves the quadratic in one step (loss {runs_q['Newton'][1][1]:.1e} after step 1): "
          "H⁻¹g undoes the ill-conditioning exactly ([Soto], Newton-Raphson in n-D).")
    print(f"  * The two Nesterovs are one method in two variables: PyTorch's iterate is the notes' look-ahead "
          f"point θ − μv, so the paths differ by μv; final losses {q_loss['Nesterov (PyTorch)']:.2e} (PyTorch) "
          f"and {q_loss['Nesterov (look-ahead)']:.2e} (look-ahead).")
    ngd_dist = float(np.linalg.norm(runs_q["NGD (L2)"][0][-1] - bowl.x_star))
    print(f"  * NGD moves exactly λ = 0.1 per step whatever the gradient, so with a constant λ it ends "
          f"bouncing around x* (distance {ngd_dist:.2g} after {steps_q} steps): [Kolasiński 2018, §2] — the "
          "learning rate must go to zero at the end.")
    r_loss = {n: runs_r[n][1][-1] for n in runs_r}
    print(f"  * On Rosenbrock SGD ends at loss {r_loss['SGD']:.1e} after {steps_r} steps (the curved valley), "
          f"Adam at {r_loss['Adam']:.1e}, Newton at {r_loss['Newton']:.1e}.")
    print("wrote " + ", ".join(str(p) for p in files) + f", {out / 'paths.csv'}")


if __name__ == "__main__":
    main()
