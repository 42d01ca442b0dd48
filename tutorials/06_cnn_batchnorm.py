# Tutorial 06 — a CNN with batch-norm trained by SGDM, SGDMNG, SGDMNG_adap and SGDMCLIP.
#
# Follows: [Yu et al. 2017, §4.2 "Residual network on CIFAR10 and CIFAR100"]:
# convolution layers each followed by batch normalization, SGD with momentum 0.9 and its three
# variants — NG (each layer's gradient divided by its L2 norm, Algorithm 1), NG_adap
# (Grad × ‖w‖/‖g‖ × α with α = 0.02) and CLIP (gradient norm clipped to 0.1) — with the learning
# rate dropped by 10× twice (at 80 and 120 of 160 epochs in the paper; at 50% and 75% here).
# [Ravasi, "Batch Normalization"] and [Misra, "Batch Normalization"]
# describe the layer (μ, σ² of the batch, then γ x̂ + β; running statistics at test time).
#
# CPU scale: a small CNN (conv3×3 → BatchNorm → ReLU → max-pool, twice, then global average
# pooling and a Dense layer) on part of Fashion-MNIST (Debian's dataset-fashion-mnist; the shipped
# MNIST subset when it is absent).  With --cifar-dir DIR (the CIFAR-10 binary version) it trains
# ResNet-20 on CIFAR-10, the paper's smallest network (slow on a CPU: use --backend cupy);
# --model resnet20 trains ResNet-20 on the grey-image data too.
#
# Run:  python tutorials/06_cnn_batchnorm.py [--quick] [--out DIR] [--backend cupy] [--cifar-dir DIR]
"""A batch-norm CNN trained by SGDM and its NG / NG_adap / CLIP variants (see the opening comment)."""

from tinygrad_ngd import compare as C
from tinygrad_ngd.datasets import DatasetNotFoundError, load_fashion_mnist
from tinygrad_ngd.runs import SetupError, exit_with_error, start_tutorial, tutorial_parser, write_csv, write_json

# Learning rates: SGDM, NG_adap and CLIP use the paper's 0.1 (NG_adap's α‖w‖ already sets the
# scale); plain NG moves every layer by lr/(1−μ) in steady state, so it gets 0.03.
OPTIMIZERS = ("sgdm", "sgdm-ng", "sgdm-ng-adap", "sgdm-clip")
LRS = {"sgdm": 0.1, "sgdm-ng": 0.03, "sgdm-ng-adap": 0.1, "sgdm-clip": 0.1}


def pick_dataset(args):
    if args.cifar_dir:
        return "cifar10", args.cifar_dir
    try:
        load_fashion_mnist()
        return "fashion-mnist", None
    except DatasetNotFoundError:
        print("Fashion-MNIST not found (apt-get install dataset-fashion-mnist); using the shipped MNIST subset")
        return "mnist-subset", None


def main():
    p = tutorial_parser("06_cnn_batchnorm", __doc__)
    p.add_argument("--cifar-dir", default=None, help="CIFAR-10 binary version: train ResNet-20 on it")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 8; --quick 1)")
    p.add_argument("--model", choices=("auto", "cnn", "resnet20"), default="auto",
                   help="auto: ResNet-20 on CIFAR-10, the small CNN otherwise (ResNet-20 on a CPU: hours)")
    args = p.parse_args()
    out = start_tutorial(args)
    dataset, data_dir = pick_dataset(args)
    resnet = args.model == "resnet20" or (args.model == "auto" and dataset == "cifar10")
    epochs = args.epochs or (1 if args.quick else 8)
    cfg = C.CompareConfig(
        model="resnet" if resnet else "cnn", depth=(8 if args.quick else 20) if resnet else 2,
        width=16 if resnet else (4 if args.quick else 16),
        dataset=dataset, data_dir=data_dir, optimizers=OPTIMIZERS, lr=dict(LRS), epochs=epochs,
        batch_size=128, train_size=300 if args.quick else (10000 if resnet else 4000),
        test_size=200 if args.quick else 2000, seed=args.seed,
        lr_milestones=(epochs // 2, (3 * epochs) // 4) if epochs >= 4 else ())
    try:
        cfg, histories = C.run_compare(cfg)
    except SetupError as exc:          # e.g. --cifar-dir without the CIFAR-10 files
        exit_with_error(exc)
    rows = C.summary_rows(histories)
    print()
    print(C.format_table(rows))
    title = f"{'ResNet-' + str(cfg.depth) if resnet else 'CNN + BatchNorm'} on {dataset} ({cfg.train_size} train)"
    png = C.plot_histories(histories, out / "cnn_batchnorm.png", title)
    write_csv(out / "history.csv", C.history_rows(histories))
    write_json(out / "summary.json", {"config": vars(cfg), "summary": rows})
    best = max(rows, key=lambda r: r["test_acc"])
    clip = next(r for r in rows if r["optimizer"] == "sgdm-clip")
    print("\nnotice:")
    print(f"  * best final test accuracy: {best['optimizer']} ({best['test_acc']:.4f}); the paper's Table 1 has "
          "NG_adap best and CLIP worst on every ResNet depth.")
    print(f"  * CLIP (threshold 0.1) ends at test accuracy {clip['test_acc']:.4f}: clipping only shrinks large "
          "gradients and does nothing for small ones ([Yu et al. 2017, §2]).")
    if cfg.lr_milestones:
        print(f"  * the learning rate drops 10× after epochs {cfg.lr_milestones}: look for the step in the curves.")
    print(f"wrote {png}, {out / 'history.csv'}, {out / 'summary.json'}")


if __name__ == "__main__":
    main()
