"""``tinygrad-ngd compare``: one model, several optimizers, the same data — and the difference.

The default is [Yu et al. 2017]'s first experiment (§4.1, Figure 1):
a deep MLP of sigmoid layers, 100 units wide, cross-entropy, batch size 100, trained on
MNIST by Adam vs AdamNG and SGD+momentum vs SGDMNG, where "NG" is the block-normalized
gradient of Algorithm 1 (each layer's gradient divided by its L2 norm before the step
rule sees it).  The paper's finding to reproduce: the deeper the sigmoid stack, the more
the raw gradient of the low layers vanishes ([Ravasi]'s Wᴺ argument) and the plain
methods stall, while the normalized ones keep learning.

Here it runs on the shipped 10,000-digit MNIST subset at a size that finishes in about a
minute on two CPU cores.  Every optimizer starts from the same initial weights (the
model is rebuilt from ``seed``) and sees the same batches in the same order.

Outputs (the command line, ``tinygrad_ngd.cli``): :data:`RUN_FILES` in ``--out``, written
as one set by :func:`tinygrad_ngd.runs.write_run_files` — staged beside the directory and
renamed into place, so Ctrl-C during the write leaves an earlier run whole, and a run never
lands beside or over an earlier one: when ``--out`` already holds files the run goes to a
fresh ``OUT-2``, ``OUT-3``, … (``--overwrite`` replaces the earlier run as a whole).

Public names: :data:`OPTIMIZERS`, :data:`MODELS`, :data:`DATASETS` (registries, name →
spec), :class:`CompareConfig`, :func:`run_compare`, :func:`format_table`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

from . import backend as B
from . import functional as F
from . import layers as L
from . import optimizers as O
from .flat import FlatParameters
from .progress import progress
from .runs import SetupError
from .tensor import enable_grad, no_grad

#: the files of one run (``--no-plot``: all but the PNG)
RUN_FILES = ("compare.png", "history.csv", "summary.csv", "history.json")


# ---------------------------------------------------------------- optimizers
@dataclass(frozen=True)
class OptimizerSpec:
    """How to build one optimizer: ``build(params, lr)``, its default lr and a description."""

    build: object
    lr: float
    description: str


def _sgdm(p, lr):
    return O.SGD(p, lr=lr, momentum=0.9)


def _adam(p, lr):
    return O.Adam(p, lr=lr, betas=(0.9, 0.999), eps=1e-8)


#: name → spec.  Defaults follow [Yu et al. 2017, §4] ("for Adam/AdamNG α = 0.001, β₁ = 0.9,
#: β₂ = 0.999, ε = 1e−8; for AdaGrad/AdaGradNG 0.01"; SGDM momentum 0.9, CLIP threshold
#: 0.1, NG_adap α = 0.02).  SGDMNG's lr is 0.01: a normalized block moves by lr/(1−μ) per
#: step at steady state, so the SGDM rate 0.1 would move every layer by ~1 per step.
OPTIMIZERS = {
    "sgd": OptimizerSpec(lambda p, lr: O.SGD(p, lr=lr), 0.1, "plain SGD ([Misra, 'Vanilla SGD'])"),
    "sgd-ng": OptimizerSpec(lambda p, lr: O.BlockNormalized(O.SGD(p, lr=lr)), 0.01,
                            "SGD on the block-normalized gradient ([Yu et al. 2017, Alg. 1], SGDNG)"),
    "sgdm": OptimizerSpec(_sgdm, 0.1, "SGD with momentum 0.9 (SGDM)"),
    "sgdm-ng": OptimizerSpec(lambda p, lr: O.BlockNormalized(_sgdm(p, lr)), 0.01,
                             "SGDM on the block-normalized gradient (SGDMNG, [Yu et al. 2017])"),
    "sgdm-ng-adap": OptimizerSpec(lambda p, lr: O.NGAdap(_sgdm(p, lr), alpha=0.02), 0.1,
                                  "SGDM on g·α‖w‖/‖g‖ per layer, α = 0.02 (SGDMNG_adap, [Yu et al. 2017, §4.2])"),
    "sgdm-clip": OptimizerSpec(lambda p, lr: O.ClipGradNorm(_sgdm(p, lr), max_norm=0.1), 0.1,
                               "SGDM on the gradient clipped to norm 0.1 (SGDMCLIP, [Yu et al. 2017, §4.2])"),
    "nesterov": OptimizerSpec(lambda p, lr: O.SGD(p, lr=lr, momentum=0.9, nesterov=True), 0.1,
                              "SGD with Nesterov momentum 0.9 (PyTorch form)"),
    "adam": OptimizerSpec(_adam, 1e-3, "Adam (α = 1e-3, β = (0.9, 0.999), ε = 1e-8)"),
    "adam-ng": OptimizerSpec(lambda p, lr: O.BlockNormalized(_adam(p, lr)), 1e-3,
                             "Adam on the block-normalized gradient (AdamNG, [Yu et al. 2017])"),
    "adam-ng-adap": OptimizerSpec(lambda p, lr: O.NGAdap(_adam(p, lr), alpha=0.02), 1e-3,
                                  "Adam on g·α‖w‖/‖g‖ per layer (AdamNG_adap, [Yu et al. 2017, §4.2])"),
    "adam-clip": OptimizerSpec(lambda p, lr: O.ClipGradNorm(_adam(p, lr), max_norm=0.1), 1e-3,
                               "Adam on the gradient clipped to norm 0.1 (AdamCLIP)"),
    "adagrad": OptimizerSpec(lambda p, lr: O.Adagrad(p, lr=lr), 1e-2, "AdaGrad (lr 0.01)"),
    "adagrad-ng": OptimizerSpec(lambda p, lr: O.BlockNormalized(O.Adagrad(p, lr=lr)), 1e-2,
                                "AdaGrad on the block-normalized gradient (AdaGradNG)"),
    "adagrad-bng": OptimizerSpec(lambda p, lr: O.AdaGradBNG(p, lr=lr), 1e-2,
                                 "AdaGrad with block-normalized gradient ([Yu et al. 2017, Algorithm 2])"),
    "rmsprop": OptimizerSpec(lambda p, lr: O.RMSprop(p, lr=lr), 1e-3, "RMSprop (α = 0.99)"),
    "rmsprop-ng": OptimizerSpec(lambda p, lr: O.BlockNormalized(O.RMSprop(p, lr=lr)), 1e-3,
                                "RMSprop on the block-normalized gradient"),
    "adadelta": OptimizerSpec(lambda p, lr: O.Adadelta(p, lr=lr), 1.0, "AdaDelta (ρ = 0.9)"),
    "adamax": OptimizerSpec(lambda p, lr: O.Adamax(p, lr=lr), 2e-3, "AdaMax"),
    "ngd": OptimizerSpec(lambda p, lr: O.NGD(p, lr=lr, norm="l2", scope="block"), 0.01,
                         "normalized gradient descent, per-layer L2 ([Kolasiński 2018, §2])"),
    "ngd-adaptive": OptimizerSpec(lambda p, lr: O.AdaptiveNGD(p, lr=lr, beta=0.05), 0.01,
                                  "NGD with per-layer adaptive λ ([Kolasiński 2018, Algorithm 1], β = 0.05)"),
}


# ---------------------------------------------------------------- models
@dataclass(frozen=True)
class ModelSpec:
    build: object        # (input_shape, n_classes, depth, width) -> Module
    flat_input: bool     # does the model take (n, features) rather than (n, C, H, W)?
    description: str


def deep_sigmoid_mlp(n_in: int, n_classes: int, depth: int, width: int = 100):
    """[Yu et al. 2017, §4.1]'s network: ``depth`` Dense layers (784 → 100 → … → 100 → 10) with a
    sigmoid after every hidden one.  ``depth`` counts the Dense (weight) layers."""
    if depth < 1:
        raise ValueError(f"deep_sigmoid_mlp: depth must be >= 1, got {depth}")
    mods, d = [], n_in
    for _ in range(depth - 1):
        mods += [L.Dense(d, width), L.Sigmoid()]
        d = width
    mods.append(L.Dense(d, n_classes))
    return L.Sequential(*mods)


def small_bn_cnn(in_channels: int, n_classes: int, depth: int = 2, width: int = 16):
    """A small CNN with batch-norm ([Yu et al. 2017, §4.2]'s ingredients at CPU scale): ``depth``
    stages of conv3×3 → BatchNorm2d → ReLU → MaxPool2d(2), then global average pooling
    and a Dense classifier.  Channels: width, 2·width, 4·width, …"""
    if depth < 1:
        raise ValueError(f"small_bn_cnn: depth must be >= 1, got {depth}")
    mods, c = [], in_channels
    for i in range(depth):
        out = width * 2 ** i
        mods += [L.Conv2d(c, out, 3, padding=1, bias=False), L.BatchNorm2d(out), L.ReLU(), L.MaxPool2d(2)]
        c = out
    mods += [L.GlobalAvgPool2d(), L.Dense(c, n_classes)]
    return L.Sequential(*mods)


def _build_mlp(shape, n_classes, depth, width):
    n_in = 1
    for s in shape:
        n_in *= s
    return deep_sigmoid_mlp(n_in, n_classes, depth, width)


def _build_cnn(shape, n_classes, depth, width):
    return small_bn_cnn(shape[0], n_classes, depth, width)


def _build_resnet(shape, n_classes, depth, width):
    if (depth - 2) % 6 != 0 or depth < 8:
        raise SetupError(f"--depth {depth}: a CIFAR ResNet needs depth = 6n + 2 (8, 14, 20, 32, 44, 56, 110)")
    return L.CifarResNet(depth=depth, num_classes=n_classes, in_channels=shape[0])


MODELS = {
    "mlp": ModelSpec(_build_mlp, True, "deep sigmoid MLP, width 100 ([Yu et al. 2017, §4.1]); --depth = Dense layers"),
    "cnn": ModelSpec(_build_cnn, False, "small CNN with batch-norm; --depth = conv stages"),
    "resnet": ModelSpec(_build_resnet, False, "CIFAR ResNet-(6n+2) with batch-norm ([Yu et al. 2017, §4.2]); "
                                              "--depth 20 …"),
}

DEFAULT_DEPTH = {"mlp": 10, "cnn": 2, "resnet": 20}
DEFAULT_WIDTH = {"mlp": 100, "cnn": 16, "resnet": 16}


# ---------------------------------------------------------------- datasets
@dataclass(frozen=True)
class DatasetSpec:
    load: object         # (data_dir) -> ((x_train, y_train), (x_test, y_test)), x as (n, C, H, W) float32
    description: str


def _with_channel(split):
    (xtr, ytr), (xte, yte) = split
    if xtr.ndim == 3:  # (n, H, W) grey images → (n, 1, H, W)
        xtr, xte = xtr[:, None], xte[:, None]
    return (xtr, ytr), (xte, yte)


def _load_mnist_subset(data_dir):
    from .datasets import load_mnist_subset
    return _with_channel(load_mnist_subset(test_size=2000, seed=0))


def _load_fashion(data_dir):
    from .datasets import load_fashion_mnist
    return _with_channel(load_fashion_mnist(path=data_dir))


def _load_mnist(data_dir):
    from .datasets import load_mnist
    return _with_channel(load_mnist(path=data_dir))


def _load_cifar10(data_dir):
    from .datasets import channel_stats, load_cifar10, standardize
    (xtr, ytr), (xte, yte) = load_cifar10(path=data_dir)
    # [Yu et al. 2017, §4.2]: "subtracting the means and dividing the variance for each channel"
    mean, std = channel_stats(xtr)
    return (standardize(xtr, mean, std), ytr), (standardize(xte, mean, std), yte)


def _load_cifar100(data_dir):
    from .datasets import channel_stats, load_cifar100, standardize
    (xtr, ytr), (xte, yte) = load_cifar100(path=data_dir)      # the 100 fine labels
    mean, std = channel_stats(xtr)
    return (standardize(xtr, mean, std), ytr), (standardize(xte, mean, std), yte)


DATASETS = {
    "mnist-subset": DatasetSpec(_load_mnist_subset, "the shipped 10,000 MNIST digits (8,000 train / 2,000 test)"),
    "fashion-mnist": DatasetSpec(_load_fashion, "Fashion-MNIST 60k/10k (Debian dataset-fashion-mnist or --data-dir)"),
    "mnist": DatasetSpec(_load_mnist, "MNIST 60k/10k from IDX files in --data-dir"),
    "cifar10": DatasetSpec(_load_cifar10, "CIFAR-10 binary version in --data-dir, per-channel standardized"),
    "cifar100": DatasetSpec(_load_cifar100, "CIFAR-100 binary version (fine labels) in --data-dir, standardized"),
}


# ---------------------------------------------------------------- configuration
@dataclass
class CompareConfig:
    model: str = "mlp"
    depth: int | None = None          # None: DEFAULT_DEPTH[model]
    width: int | None = None          # None: DEFAULT_WIDTH[model]
    dataset: str = "mnist-subset"
    data_dir: str | None = None
    optimizers: tuple = ("adam", "adam-ng", "sgdm", "sgdm-ng")
    lr: dict = field(default_factory=dict)   # optimizer name → lr ("*" → every optimizer)
    epochs: int = 15
    batch_size: int = 100
    train_size: int | None = None
    test_size: int | None = None
    seed: int = 0
    lr_milestones: tuple = ()         # epochs after which lr ×= 0.1 ([Yu et al. 2017, §4.2]: 80 and 120 of 160)

    def resolved(self) -> CompareConfig:
        """Fill the model-dependent defaults (depth, width)."""
        c = CompareConfig(**asdict(self))
        c.depth = DEFAULT_DEPTH[c.model] if c.depth is None else c.depth
        c.width = DEFAULT_WIDTH[c.model] if c.width is None else c.width
        return c

    def lr_for(self, name: str) -> float:
        return self.lr.get(name, self.lr.get("*", OPTIMIZERS[name].lr))


def unknown_name(kind: str, name: str, valid) -> SetupError:
    return SetupError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(valid)}")


def check_config(cfg: CompareConfig) -> CompareConfig:
    """Validate every name and number before anything is loaded or trained."""
    if cfg.model not in MODELS:
        raise unknown_name("model", cfg.model, MODELS)
    if cfg.dataset not in DATASETS:
        raise unknown_name("dataset", cfg.dataset, DATASETS)
    if not cfg.optimizers:
        raise SetupError(f"--optimizers: give at least one; valid optimizers: {', '.join(OPTIMIZERS)}")
    for name in cfg.optimizers:
        if name not in OPTIMIZERS:
            raise unknown_name("optimizer", name, OPTIMIZERS)
    if len(set(cfg.optimizers)) != len(cfg.optimizers):
        raise SetupError(f"--optimizers: a name is repeated in {','.join(cfg.optimizers)}")
    for name, lr in cfg.lr.items():
        if name != "*" and name not in OPTIMIZERS:
            raise unknown_name("optimizer", name, OPTIMIZERS)
        if not (isinstance(lr, float) and math.isfinite(lr) and lr > 0):
            raise SetupError(f"--lr: the learning rate of {name} must be a number > 0, got {lr!r}")
    for key in ("epochs", "batch_size"):
        v = getattr(cfg, key)
        if not isinstance(v, int) or v < 1:
            raise SetupError(f"--{key.replace('_', '-')} must be an integer >= 1, got {v!r}")
    if any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in cfg.lr_milestones):
        raise SetupError(f"--lr-milestones must be positive epoch numbers, got {cfg.lr_milestones!r}")
    if cfg.lr_milestones:
        probe = FlatParameters.from_array(B.xp().zeros(2))
        own = [n for n in cfg.optimizers if not _innermost(OPTIMIZERS[n].build(probe, OPTIMIZERS[n].lr)).lr_schedulable]
        if own:
            raise SetupError(f"--lr-milestones: {', '.join(own)} set(s) the step size itself (lr is only "
                             f"the starting value), so the decay would be ignored; leave it out or drop "
                             f"--lr-milestones")
    for key in ("train_size", "test_size", "depth", "width"):
        v = getattr(cfg, key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise SetupError(f"--{key.replace('_', '-')} must be an integer >= 1, got {v!r}")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise SetupError(f"--seed must be an integer >= 0, got {cfg.seed!r}")
    return cfg.resolved()


def _innermost(opt):
    """The Optimizer under any stack of gradient wrappers (it holds lr)."""
    while isinstance(opt, O.GradientWrapper):
        opt = opt.base
    return opt


def check_model_fits(cfg: CompareConfig, input_shape) -> None:
    """Refuse a model that cannot take ``input_shape`` (C, H, W) before training: the CNN
    halves H and W at every stage, so ``depth`` stages need H, W ≥ 2^depth."""
    if cfg.model == "cnn" and len(input_shape) == 3:
        h, w = input_shape[1:]
        fit = min(h, w).bit_length() - 1  # the largest d with 2^d ≤ min(H, W)
        if cfg.depth > fit:
            raise SetupError(f"--model cnn --depth {cfg.depth}: each stage halves the {h}×{w} images, so at most "
                             f"{fit} stages fit (2^depth ≤ {min(h, w)})")


# ---------------------------------------------------------------- data
#: the loaders' advice (for Python callers) → the same advice on the command line
_CLI_WORDING = [("pass the directory as path=", "pass the directory with --data-dir"),
                ("pass it as path=", "pass it with --data-dir"),
                ("tinygrad_ngd.datasets.load_mnist_subset() gives", "--dataset mnist-subset uses")]


def command_line_wording(message: str) -> str:
    """A data loader's error message with its Python advice (``path=``) said as the flags."""
    for python, flag in _CLI_WORDING:
        message = message.replace(python, flag)
    return message


def load_data(cfg: CompareConfig):
    """Host arrays ``(x_train, y_train), (x_test, y_test)`` shaped for the model
    (flattened for the MLP), cut to ``train_size`` / ``test_size``."""
    from .datasets import DatasetError, DatasetNotFoundError

    try:
        (xtr, ytr), (xte, yte) = DATASETS[cfg.dataset].load(cfg.data_dir)
    except (DatasetError, DatasetNotFoundError) as exc:  # a missing or malformed file: one line
        raise SetupError(f"--dataset {cfg.dataset}: {command_line_wording(str(exc).splitlines()[0])}") from None
    if cfg.train_size is not None:
        xtr, ytr = xtr[:cfg.train_size], ytr[:cfg.train_size]
    if cfg.test_size is not None:
        xte, yte = xte[:cfg.test_size], yte[:cfg.test_size]
    for split, x in (("training", xtr), ("test", xte)):
        if len(x) == 0:
            where = f" in {cfg.data_dir}" if cfg.data_dir else ""
            raise SetupError(f"--dataset {cfg.dataset}: no {split} examples{where} (the files are empty)")
    if MODELS[cfg.model].flat_input:
        xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    return (xtr, ytr), (xte, yte)


def build_model(cfg: CompareConfig, input_shape, n_classes: int):
    """The model of ``cfg``, initialized from ``cfg.seed`` (the same weights every call)."""
    B.manual_seed(cfg.seed)
    return MODELS[cfg.model].build(tuple(input_shape), n_classes, cfg.depth, cfg.width)


# ---------------------------------------------------------------- one run
def _count_correct(logits, labels):
    """Σ [argmax logits = label] as a device scalar (no host transfer here)."""
    xp = B.array_module(logits.data)
    return (xp.argmax(logits.data, axis=1) == labels.data).sum()


def evaluate_classifier(model, loader):
    """(mean cross-entropy, accuracy) over ``loader`` in eval mode, without a graph."""
    was = model.training
    model.eval()
    loss_sum, correct, n = 0.0, 0.0, 0
    try:
        with no_grad():
            for x, y in loader:
                logits = model(x)
                # one device → host transfer per batch: the sums are host floats for the report
                loss_sum += B.item(F.cross_entropy(logits, y).data) * len(y)
                correct += B.item(_count_correct(logits, y))
                n += len(y)
    finally:
        model.train(was)
    return loss_sum / n, correct / n


def _current_lr(opt):
    lr = opt.lr
    return lr if isinstance(lr, (int, float)) else float("nan")


def train_one(name: str, cfg: CompareConfig, data, n_classes: int, position: str = ""):
    """Train a fresh model with optimizer ``name``; returns its history (lists per epoch).

    A non-finite gradient (divergence) stops this run and is recorded, not raised, so
    the other optimizers still run.
    """
    from .datasets import DataLoader

    (xtr, ytr), (xte, yte) = data
    model = build_model(cfg, xtr.shape[1:], n_classes)
    params = FlatParameters(model)
    lr = cfg.lr_for(name)
    opt = OPTIMIZERS[name].build(params, lr)
    train_loader = DataLoader((xtr, ytr), cfg.batch_size, shuffle=True, seed=cfg.seed)
    test_loader = DataLoader((xte, yte), 1000)
    hist = {"optimizer": name, "lr": lr, "epoch": [], "train_loss": [], "train_acc": [],
            "test_loss": [], "test_acc": [], "epoch_time": [], "epoch_lr": [], "diverged_at_epoch": None}
    steps = len(train_loader)
    bar = progress(total=cfg.epochs * steps, desc=f"{position}{name}", unit="step")
    xp = B.xp()
    try:
        for epoch in range(1, cfg.epochs + 1):
            # step decay: lr₀ · 0.1^(number of milestones passed), He et al.'s schedule in [Yu et al. 2017, §4.2]
            opt.lr = lr * 0.1 ** sum(epoch > m for m in cfg.lr_milestones)
            model.train()
            loss_sum = xp.zeros((), dtype=xp.float64)   # accumulated on the device: no sync per step
            correct = xp.zeros((), dtype=xp.float64)
            seen = 0
            t0 = time.perf_counter()
            for i, (x, y) in enumerate(train_loader):
                box = {}

                def closure(x=x, y=y, box=box):
                    opt.zero_grad()
                    logits = model(x)
                    loss = F.cross_entropy(logits, y)
                    loss.backward()
                    box["logits"] = logits
                    return loss

                try:
                    with enable_grad():
                        loss = opt.step(closure=closure)
                except FloatingPointError:
                    hist["diverged_at_epoch"] = epoch
                    raise
                loss_sum += loss.data * len(y)
                correct += _count_correct(box["logits"], y)
                seen += len(y)
                bar.update(1)
                if i % 20 == 0:
                    # a device → host transfer every 20 steps, only to show the loss in the bar
                    bar.set_postfix(epoch=epoch, loss=f"{B.item(loss.data):.4f}", lr=f"{_current_lr(opt):.3g}")
            elapsed = time.perf_counter() - t0
            train_loss = B.item(loss_sum) / seen   # one transfer per epoch for the history
            train_acc = B.item(correct) / seen
            test_loss, test_acc = evaluate_classifier(model, test_loader)
            for key, val in (("epoch", epoch), ("train_loss", train_loss), ("train_acc", train_acc),
                             ("test_loss", test_loss), ("test_acc", test_acc), ("epoch_time", elapsed),
                             ("epoch_lr", _current_lr(opt))):
                hist[key].append(val)
            if not (math.isfinite(train_loss) and math.isfinite(test_loss)):
                hist["diverged_at_epoch"] = epoch
                break
    except FloatingPointError:
        pass
    finally:
        bar.close()
    return hist


def run_compare(cfg: CompareConfig, log=print):
    """Check ``cfg``, load the data, train each optimizer; returns (config, histories)."""
    cfg = check_config(cfg)
    data = load_data(cfg)
    (xtr, ytr), (xte, _) = data
    check_model_fits(cfg, xtr.shape[1:])
    n_classes = int(max(ytr.max(), data[1][1].max())) + 1
    log(f"compare: {cfg.model} (depth {cfg.depth}, width {cfg.width}) on {cfg.dataset} "
        f"({len(xtr)} train / {len(xte)} test), {cfg.epochs} epochs, batch {cfg.batch_size}, "
        f"backend {B.get_backend()}, {B.get_default_dtype().__name__}, seed {cfg.seed}")
    histories = []
    for k, name in enumerate(cfg.optimizers, start=1):
        hist = train_one(name, cfg, data, n_classes, position=f"[{k}/{len(cfg.optimizers)}] ")
        histories.append(hist)
        if hist["epoch"]:
            log(f"  {name:<14} lr {hist['lr']:<8g} test acc {hist['test_acc'][-1]:.4f}  "
                f"({sum(hist['epoch_time']) / len(hist['epoch_time']):.2f} s/epoch)"
                + (f"  diverged at epoch {hist['diverged_at_epoch']}" if hist["diverged_at_epoch"] else ""))
        else:
            log(f"  {name:<14} diverged in epoch 1 (non-finite gradient)")
    return cfg, histories


# ---------------------------------------------------------------- reporting
def summary_rows(histories):
    rows = []
    def last(h, key):
        return h[key][-1] if h[key] else float("nan")

    for h in histories:
        times = h["epoch_time"]
        rows.append({"optimizer": h["optimizer"], "lr": h["lr"], "epochs": len(h["epoch"]),
                     "train_loss": last(h, "train_loss"), "train_acc": last(h, "train_acc"),
                     "test_loss": last(h, "test_loss"), "test_acc": last(h, "test_acc"),
                     "best_test_acc": max(h["test_acc"]) if h["test_acc"] else float("nan"),
                     "sec_per_epoch": sum(times) / len(times) if times else float("nan"),
                     "diverged_at_epoch": h["diverged_at_epoch"]})
    return rows


def format_table(rows) -> str:
    """A plain-text table of the final numbers (one row per optimizer)."""
    head = ["optimizer", "lr", "train loss", "train acc", "test loss", "test acc", "s/epoch"]
    lines = [[r["optimizer"] + (" (diverged)" if r["diverged_at_epoch"] else ""), f"{r['lr']:g}",
              f"{r['train_loss']:.4f}", f"{r['train_acc']:.4f}", f"{r['test_loss']:.4f}",
              f"{r['test_acc']:.4f}", f"{r['sec_per_epoch']:.2f}"] for r in rows]
    widths = [max(len(head[i]), *(len(line[i]) for line in lines)) for i in range(len(head))]

    def fmt(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(head), rule] + [fmt(line) for line in lines])


def what_to_notice(rows) -> list:
    """Sentences comparing each method with its block-normalized ("-ng") twin."""
    by = {r["optimizer"]: r for r in rows}
    out = []
    for name, r in by.items():
        twin = by.get(f"{name}-ng")
        if twin is None:
            continue
        out.append(f"{twin['optimizer']} vs {name}: train loss {twin['train_loss']:.3f} vs {r['train_loss']:.3f}, "
                   f"test accuracy {twin['test_acc']:.3f} vs {r['test_acc']:.3f}")
    return out


def history_rows(histories):
    """Long format, one row per (optimizer, epoch): the CSV's rows."""
    rows = []
    for h in histories:
        for i, epoch in enumerate(h["epoch"]):
            rows.append({"optimizer": h["optimizer"], "lr": h["epoch_lr"][i], "epoch": epoch,
                         "train_loss": h["train_loss"][i], "train_acc": h["train_acc"][i],
                         "test_loss": h["test_loss"][i], "test_acc": h["test_acc"][i],
                         "epoch_time": h["epoch_time"][i]})
    return rows


def plot_histories(histories, path, title):
    from .plotting import plot_curves
    series = {h["optimizer"]: h for h in histories}
    # base methods dashed, their normalized ("-ng…") versions solid: overlapping curves stay visible
    styles = {name: ({"ls": "-"} if "-ng" in name else {"ls": "--"}) for name in series}
    return plot_curves(series, [("train_loss", "training loss", "cross-entropy loss"),
                                ("test_loss", "test loss", "cross-entropy loss"),
                                ("train_acc", "training accuracy", "accuracy (fraction correct)"),
                                ("test_acc", "test accuracy", "accuracy (fraction correct)")],
                       path, title=title, logy=("train_loss", "test_loss"), styles=styles)
