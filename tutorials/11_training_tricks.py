# Tutorial 11 — the tricks of [Ravasi]: cooling schedules, momentum warm-up, gradient clipping on a
# cliff, Polyak averaging and greedy layer-wise supervised pre-training.
#
# Follows: [Ravasi]:
#   "Cooling strategy"  linear decay α_i = (1−β)α₀ + βα_τ (β = i/τ) to α_τ = α₀/100, then constant;
#                       exponential decay; reduce the rate when the metric stops improving;
#   "Momentum"          v ← γv − αg, θ ← θ + v, with the warm-up 0.5 → 0.99;
#   "Cliffs"            element-wise clipping ∇J ← min(∇J, th);  "Exploding and vanishing
#                       gradients": y = Wᴺx — here the scalar cliff L(w) = ½(wᴺ − y)²;
#   "Polyak Averaging"  θ̄ = (1/N) Σ_{i<N} θ_{N_it − i};
#   "Supervised pre-training"  θ₀¹ → simple network θ̃¹, then add θ₀² → complex network (θ̃¹, θ̃²),
#                       earlier layers fixed, output layer discarded, final fine-tuning.
# [Yu et al. 2017, §2] contrasts clipping (acts only on large gradients) with
# normalization (acts on every gradient); part 3 shows both on the cliff.
#
# Run:  python tutorials/11_training_tricks.py [--quick] [--out DIR] [--backend cupy]
"""Schedules, momentum warm-up, clipping, Polyak averaging, greedy pre-training (see the opening comment)."""

import numpy as np

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd import optimizers as O
from tinygrad_ngd.datasets import DataLoader, NoisyQuadratic, load_mnist_subset
from tinygrad_ngd.plotting import save_figure, set_log_y, subplots
from tinygrad_ngd.runs import start_tutorial, tutorial_parser, write_csv


# ---------------------------------------------------------------- shared: an MLP on MNIST
def mlp(sizes, act=L.Sigmoid):
    mods = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        mods += [L.Dense(a, b), act()]
    mods.append(L.Dense(sizes[-2], sizes[-1]))
    return L.Sequential(*mods)


def step_on(model, opt, x, y, before=None):
    """One optimizer step on (x, y); ``before(params)`` may edit the gradient (clipping)."""
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    if before is not None:
        before(opt.params)
    opt.step()
    return B.item(loss.data)          # one sync per step, for the curves


def accuracy(model, x, y):
    model.eval()
    with tg.no_grad():
        logits = model(tg.Tensor(B.asarray(x)))
        xp = B.array_module(logits.data)
        acc = B.item((xp.argmax(logits.data, axis=1) == B.asarray(y)).mean())
    model.train()
    return acc


def mean_loss(model, x, y):
    model.eval()
    with tg.no_grad():
        loss = B.item(F.cross_entropy(model(tg.Tensor(B.asarray(x))), tg.Tensor(B.asarray(y))).data)
    model.train()
    return loss


# ---------------------------------------------------------------- part 1: cooling
def part_schedules(data, epochs, seed):
    (xtr, ytr), _ = data
    steps_per_epoch = len(DataLoader((xtr, ytr), 100))
    total = epochs * steps_per_epoch
    kinds = ["constant", "linear to α₀/100", "exponential (γ=0.7/epoch)", "reduce on plateau"]
    out = {}
    for kind in kinds:
        tg.manual_seed(seed)
        model = mlp([784, 64, 10], act=L.ReLU)
        opt = O.SGD(tg.FlatParameters(model), lr=0.5)
        per_step = O.LinearDecayToConstant(opt, tau=total) if kind.startswith("linear") else None
        per_epoch = O.ExponentialLR(opt, gamma=0.7) if kind.startswith("exp") else None
        plateau = O.ReduceLROnPlateau(opt, factor=0.3, patience=0) if kind.startswith("reduce") else None
        losses, lrs = [], []
        for epoch in range(epochs):
            ep = []
            for x, y in DataLoader((xtr, ytr), 100, shuffle=True, seed=seed + epoch):
                lrs.append(opt.lr)
                ep.append(step_on(model, opt, x, y))
                if per_step:
                    per_step.step()
            losses.append(float(np.mean(ep)))
            if per_epoch:
                per_epoch.step()
            if plateau:
                plateau.step(losses[-1])
        out[kind] = (losses, lrs, mean_loss(model, xtr, ytr))
    return out


# ---------------------------------------------------------------- part 2: momentum warm-up
def part_warmup(data, epochs, seed):
    (xtr, ytr), _ = data
    out = {}
    for kind in ("μ = 0.9", "μ = 0.99", "warm-up 0.5 → 0.99"):
        tg.manual_seed(seed)
        model = mlp([784, 64, 10], act=L.ReLU)
        # the notes' velocity form v ← μv + αg, θ ← θ − v ([Ravasi]'s v = γv − αg with the sign flipped)
        opt = O.SGD(tg.FlatParameters(model), lr=0.01, momentum=0.99 if "0.99" in kind else 0.9, form="notes")
        warm = O.MomentumWarmup(opt, 0.5, 0.99, warmup_steps=epochs * len(ytr) // 100) if "warm" in kind else None
        losses = []
        for epoch in range(epochs):
            ep = []
            for x, y in DataLoader((xtr, ytr), 100, shuffle=True, seed=seed + epoch):
                ep.append(step_on(model, opt, x, y))
                if warm:
                    warm.step()
            losses.append(float(np.mean(ep)))
        out[kind] = losses
    return out


# ---------------------------------------------------------------- part 3: a cliff
N_POWER, TARGET = 30, 2.0     # L(w) = ½(w^N − y)²: w^N is [Ravasi]'s Wᴺ with a scalar W


def cliff_loss(w):
    return 0.5 * ((w ** N_POWER - TARGET) ** 2).sum()


def part_cliff(steps):
    w0 = np.array([1.12])
    runs = {}
    # lr 5e-4: stable at the minimum (lr·L''(w*) ≈ 1.7 < 2), hopeless on the wall (first step ~11)
    setups = {
        "SGD": (lambda p: O.SGD(p, lr=5e-4), None),
        "SGD + element-wise clip (th = 4)": (lambda p: O.SGD(p, lr=5e-4), lambda p: O.clip_grad_value_(p, 4.0)),
        "SGD + norm clip (4)": (lambda p: O.SGD(p, lr=5e-4), lambda p: O.clip_grad_norm_(p, 4.0)),
        "NGD (λ = 2e-3)": (lambda p: O.NGD(p, lr=2e-3), None),
    }
    for name, (make, clip) in setups.items():
        params = tg.FlatParameters.from_array(B.asarray(w0.copy()))
        w = params.parameters[0]
        opt = make(params)
        path = [w0[0]]
        for _ in range(steps):
            opt.zero_grad()
            cliff_loss(w).backward()
            if clip:
                clip(params)
            try:
                opt.step()
            except FloatingPointError:
                break
            path.append(B.item(params.data))      # one scalar per step: the path we draw
            if not np.isfinite(path[-1]) or abs(path[-1]) > 1e3:
                break
        runs[name] = np.array(path)
    return runs


# ---------------------------------------------------------------- part 4: Polyak averaging
def part_polyak(steps, window):
    prob = NoisyQuadratic(dim=10, n_steps=steps, condition_number=10.0, noise_std=2.0, seed=0)
    params = tg.FlatParameters.from_array(B.asarray(prob.theta0.copy()))
    opt = O.SGD(params, lr=0.05)
    avg = O.PolyakAverage(params, window=window)
    theta_star = B.asarray(prob.theta_star)
    dist_iter, dist_avg = [], []
    for k in range(steps):
        g = B.asarray(prob.grad(B.to_numpy(params.data), k))   # the noisy gradient g_k (host problem)
        opt.step(grad=g)
        avg.update()
        dist_iter.append(B.item(((params.data - theta_star) ** 2).sum() ** 0.5))
        dist_avg.append(B.item(((avg.average() - theta_star) ** 2).sum() ** 0.5))
    return dist_iter, dist_avg


# ---------------------------------------------------------------- part 5: greedy pre-training
def stack(hidden, head):
    """The network made of the trained hidden Dense layers (each followed by a sigmoid) and ``head``."""
    return L.Sequential(*[m for h in hidden for m in (h, L.Sigmoid())], head)


def greedy_pretrain(data, depth, width, epochs_per_stage, seed, on_stage=None):
    """Greedy layer-wise supervised pre-training ([Ravasi, "Supervised pre-training"]):
    stage k trains a new hidden layer and a fresh output layer on top of the k − 1 layers
    trained before, which stay fixed (their output is computed without a graph); the output
    layer of a stage is discarded when the next stage starts.  Returns (hidden layers, last
    head, [(stage, test accuracy)]).  ``on_stage(stage, hidden)`` is called after each stage."""
    (xtr, ytr), (xte, yte) = data
    tg.manual_seed(seed)
    hidden, stage_log, head = [], [], None
    for stage in range(1, depth + 1):
        new = L.Dense(784 if stage == 1 else width, width)
        head = L.Dense(width, 10)                    # a fresh output layer for this stage
        trainable = L.Sequential(new, L.Sigmoid(), head)
        frozen = L.Sequential(*[m for h in hidden for m in (h, L.Sigmoid())]) if hidden else None
        opt = O.SGD(tg.FlatParameters(trainable), lr=0.1, momentum=0.9)
        for epoch in range(epochs_per_stage):
            for x, y in DataLoader((xtr, ytr), 100, shuffle=True, seed=seed + 100 * stage + epoch):
                if frozen is not None:
                    with tg.no_grad():                # the fixed layers: features only, no graph
                        x = frozen(x)
                step_on(trainable, opt, x, y)
        hidden.append(new)
        stage_log.append((stage, accuracy(stack(hidden, head), xte, yte)))
        if on_stage is not None:
            on_stage(stage, hidden)
    return hidden, head, stage_log


def fine_tune(model, data, epochs, seed):
    """The note's "final fine-tuning step": every layer trained together."""
    (xtr, ytr), _ = data
    opt = O.SGD(tg.FlatParameters(model), lr=0.1, momentum=0.9)
    for epoch in range(epochs):
        for x, y in DataLoader((xtr, ytr), 100, shuffle=True, seed=seed + 7 + epoch):
            step_on(model, opt, x, y)
    return model


def part_pretraining(data, depth, width, epochs_per_stage, seed):
    """Greedy pre-training + fine-tuning vs the same deep sigmoid MLP trained from scratch for
    the same number of epochs (both SGD with momentum 0.9, lr 0.1)."""
    (xtr, ytr), (xte, yte) = data
    hidden, head, stage_log = greedy_pretrain(data, depth, width, epochs_per_stage, seed)
    model = fine_tune(stack(hidden, head), data, epochs_per_stage, seed)
    greedy_acc = accuracy(model, xte, yte)

    total_epochs = (depth + 1) * epochs_per_stage
    tg.manual_seed(seed)
    scratch = mlp([784] + [width] * depth + [10])
    opt = O.SGD(tg.FlatParameters(scratch), lr=0.1, momentum=0.9)
    scratch_curve = []
    for epoch in range(total_epochs):
        for x, y in DataLoader((xtr, ytr), 100, shuffle=True, seed=seed + 1000 + epoch):
            step_on(scratch, opt, x, y)
        scratch_curve.append(accuracy(scratch, xte, yte))
    return stage_log, greedy_acc, scratch_curve, total_epochs


def main():
    args = tutorial_parser("11_training_tricks", __doc__).parse_args()
    out = start_tutorial(args)
    q = args.quick
    (xtr, ytr), (xte, yte) = load_mnist_subset(test_size=2000, seed=0, flatten=True)
    n = 600 if q else 4000
    data = ((xtr[:n], ytr[:n]), (xte[:500 if q else 2000], yte[:500 if q else 2000]))
    epochs = 2 if q else 8
    files = []

    # ---- 1
    sched = part_schedules(data, epochs, args.seed)
    print(f"Part 1 — cooling (SGD lr₀ = 0.5, MLP 784-64-10 ReLU, {n} digits, {epochs} epochs)")
    for kind, (losses, lrs, final) in sched.items():
        print(f"  {kind:<28} final lr {lrs[-1]:.4f}   last-epoch mean loss {losses[-1]:.4f}   "
              f"training loss at the end {final:.4f}")
    fig, axes = subplots(2, ncols=2)
    for kind, (losses, lrs, _) in sched.items():
        axes[0].plot(range(1, len(losses) + 1), losses, "o-", ms=3, label=kind)
        axes[1].plot(lrs, label=kind)
    set_log_y(axes[0])
    axes[0].set(title="mean training loss per epoch", xlabel="epoch")
    axes[1].set(title="learning rate per step", xlabel="step")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    files.append(save_figure(fig, out / "schedules.png"))

    # ---- 2
    warm = part_warmup(data, epochs, args.seed)
    print("\nPart 2 — momentum (notes' velocity form, lr 0.01)")
    for kind, losses in warm.items():
        print(f"  {kind:<22} epoch-1 loss {losses[0]:.4f}   last-epoch loss {losses[-1]:.4f}")

    # ---- 3
    cliff = part_cliff(80 if q else 300)
    w_star = TARGET ** (1 / N_POWER)
    print(f"\nPart 3 — the cliff L(w) = ½(w^{N_POWER} − {TARGET:g})², w* = {w_star:.5f}, start w0 = 1.12 "
          f"(|L'(w0)| = {abs((1.12 ** N_POWER - TARGET) * N_POWER * 1.12 ** (N_POWER - 1)):.3g})")
    for name, path in cliff.items():
        status = f"final w = {path[-1]:.5f}" if np.isfinite(path[-1]) and abs(path[-1]) < 1e3 else "blew up"
        print(f"  {name:<34} after {len(path) - 1:>3} steps: {status}   first step {path[1] - path[0]:+.3g}")
    fig, axes = subplots(2, ncols=2)
    for kind, losses in warm.items():
        axes[0].plot(range(1, len(losses) + 1), losses, "o-", ms=3, label=kind)
    set_log_y(axes[0])
    axes[0].set(title="momentum and its warm-up: training loss", xlabel="epoch")
    for name, path in cliff.items():
        axes[1].plot(np.clip(path, -3, 3), label=name)
    axes[1].axhline(w_star, color="k", ls="--", lw=1, label="w*")
    axes[1].set(title="the cliff: w per step (clipped to ±3 for display)", xlabel="step", ylim=(-0.5, 3.2))
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    files.append(save_figure(fig, out / "momentum_and_cliff.png"))

    # ---- 4
    steps, window = (200, 50) if q else (2000, 500)
    d_it, d_av = part_polyak(steps, window)
    print(f"\nPart 4 — Polyak averaging over the last {window} iterates (noisy quadratic, SGD lr 0.05, {steps} steps)")
    print(f"  distance to θ*: last iterate {d_it[-1]:.4f}, average {d_av[-1]:.4f} "
          f"({d_it[-1] / d_av[-1]:.1f}× closer)")

    # ---- 5
    depth, width, eps = (3, 32, 1) if q else (6, 100, 2)
    stage_log, greedy_acc, scratch_curve, total_epochs = part_pretraining(data, depth, width, eps, args.seed)
    print(f"\nPart 5 — greedy layer-wise supervised pre-training of a {depth}-hidden-layer sigmoid MLP "
          f"({eps} epoch(s) per stage, then {eps} of fine-tuning = {total_epochs} epochs)")
    for stage, acc in stage_log:
        print(f"  after stage {stage} ({stage} hidden layer(s)): test accuracy {acc:.4f}")
    print(f"  after fine-tuning: {greedy_acc:.4f}   |   the same network from scratch, {total_epochs} epochs: "
          f"{scratch_curve[-1]:.4f}")
    fig, axes = subplots(2, ncols=2)
    axes[0].semilogy(d_it, label="last iterate θ")
    axes[0].semilogy(d_av, label=f"Polyak average of the last {window}")
    axes[0].set(title="distance to θ* (noisy quadratic)", xlabel="step")
    axes[1].plot([s * eps for s, _ in stage_log], [a for _, a in stage_log], "o-", label="greedy: after each stage")
    axes[1].plot([total_epochs], [greedy_acc], "r*", ms=12, label="greedy + fine-tuning")
    axes[1].plot(range(1, total_epochs + 1), scratch_curve, "s-", ms=3, label="from scratch")
    axes[1].set(title="test accuracy", xlabel="epochs of training")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    files.append(save_figure(fig, out / "polyak_and_pretraining.png"))
    write_csv(out / "schedules.csv", [{"schedule": k, "epoch": e + 1, "loss": v}
                                      for k, (ls, _, _) in sched.items() for e, v in enumerate(ls)])
    write_csv(out / "polyak.csv", [{"step": k, "iterate": a, "average": b} for k, (a, b) in enumerate(zip(d_it, d_av))])

    print("\nnotice:")
    best_sched = min(sched, key=lambda k: sched[k][2])
    print(f"  * lowest training loss after {epochs} epochs: {best_sched} ({sched[best_sched][2]:.4f}); cooling "
          "lowers the noise of the last steps but also their progress — in a short run a well-chosen constant "
          "rate can win, the note's τ ≈ 100·N_epochs rule is for long runs.")
    best_mom = min(warm, key=lambda k: warm[k][-1])
    print(f"  * momentum: lowest last-epoch loss with {best_mom} ({warm[best_mom][-1]:.4f}); the warm-up starts "
          "cautiously (μ = 0.5) and only reaches 0.99 at the end of the run.")
    print(f"  * greedy pre-training + fine-tuning reaches test accuracy {greedy_acc:.3f}; the same {depth}-layer sigmoid "
          f"MLP trained from scratch for as many epochs: {scratch_curve[-1]:.3f} (vanishing gradients, [Ravasi]).")
    print("  * on the cliff plain SGD's first step is enormous; clipping bounds it by lr·th, and NGD bounds every step "
          "by λ — [Yu et al. 2017, §2]: clipping acts only on large gradients, normalization on all of them.")
    print(f"  * the Polyak average is {d_it[-1] / d_av[-1]:.1f}× closer to θ* than the last iterate: it averages "
          "away the bouncing that a constant step size leaves.")
    print("wrote " + ", ".join(str(f) for f in files))


if __name__ == "__main__":
    main()
