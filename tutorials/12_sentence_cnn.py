# Tutorial 12 — Kim's (2014) one-layer sentence CNN for sentiment, six optimizers (Table 4).
#
# Follows: [Yu et al. 2017, §4.5] "Sentiment analysis with convolution neural
# network": Rotten Tomatoes sentence polarity (10,662 snippets, ~90% train / 10% validation), the
# single-layer CNN of Kim (2014) with a randomly initialized 128-dimensional word embedding, and the
# best validation accuracy of AdamNG, Adam, AdaGradNG, AdaGrad, SGDMNG and SGDM (Table 4:
# 77.11, 74.02, 71.95, 69.89, 71.95, 64.35 %) — "NG" = the block-normalized gradient of Algorithm 1.
#
# The model (Kim 2014, CNN-rand): embedding → convolutions over time of widths 3, 4, 5 (100 feature
# maps each) → ReLU → max over time → dropout 0.5 → Dense(300 → 2).  With --polarity-dir DIR
# (rt-polarity.pos / rt-polarity.neg) it runs on the real data; otherwise on a synthetic corpus whose
# label depends on word order (sentiment words, negators that flip the next one, filler), so that
# the convolution's n-grams matter.
#
# Run:  python tutorials/12_sentence_cnn.py [--quick] [--out DIR] [--backend cupy] [--polarity-dir DIR]
"""Kim's sentence CNN with six optimizers (see the opening comment)."""

import time

import numpy as np

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd.compare import OPTIMIZERS
from tinygrad_ngd.datasets import DataLoader, DatasetError, DatasetNotFoundError, load_rt_polarity, pad_sequences
from tinygrad_ngd.plotting import save_figure, subplots
from tinygrad_ngd.progress import progress
from tinygrad_ngd.runs import exit_with_error, start_tutorial, tutorial_parser, write_csv

TABLE_4 = {"adam-ng": 77.11, "adam": 74.02, "adagrad-ng": 71.95, "adagrad": 69.89, "sgdm-ng": 71.95, "sgdm": 64.35}


class SentenceCNN(L.Module):
    """Kim (2014): one convolution layer with several widths, max-over-time pooling, dropout, softmax."""

    def __init__(self, vocab_size, emb=128, widths=(3, 4, 5), maps=100, dropout=0.5, n_classes=2):
        super().__init__()
        self.embed = L.Embedding(vocab_size, emb)
        self.convs = [L.Conv1d(emb, maps, w) for w in widths]
        for i, conv in enumerate(self.convs):
            setattr(self, f"conv{widths[i]}", conv)          # registered: one block per width
        self.drop = L.Dropout(dropout)
        self.fc = L.Dense(maps * len(widths), n_classes)

    def forward(self, ids):
        e = F.transpose(self.embed(ids), (0, 2, 1))          # (N, L, E) → (N, E, L): channels = embedding
        feats = [F.max(F.relu(conv(e)), axis=2) for conv in self.convs]   # max over time: (N, maps)
        return self.fc(self.drop(F.concatenate(feats, axis=1)))


# ---------------------------------------------------------------- a synthetic polarity corpus
POSITIVE = ["good", "great", "fine", "superb", "moving", "funny", "smart", "lovely"]
NEGATIVE = ["bad", "dull", "awful", "boring", "weak", "silly", "messy", "tired"]
NEGATORS = ["not", "never", "hardly"]
FILLER = [f"w{i}" for i in range(120)]


def synthetic_polarity(n, seed, length=(8, 20)):
    """Sentences of filler words with a few sentiment words; a negator flips the sentiment word
    right after it.  Label 1 when the flipped sum is positive (ties dropped)."""
    rng = np.random.default_rng(seed)
    sents, labels = [], []
    while len(sents) < n:
        words = list(rng.choice(FILLER, size=rng.integers(*length)))
        score = 0
        for _ in range(rng.integers(1, 4)):
            pos = rng.random() < 0.5
            word = rng.choice(POSITIVE if pos else NEGATIVE)
            sign = 1 if pos else -1
            phrase = [word]
            if rng.random() < 0.35:
                phrase = [rng.choice(NEGATORS), word]
                sign = -sign
            at = rng.integers(0, len(words) + 1)
            words[at:at] = phrase
            score += sign
        if score != 0:
            sents.append(words)
            labels.append(int(score > 0))
    return sents, np.array(labels, dtype=np.int64)


def synthetic_data(n_train, n_valid, seed):
    vocab = {w: i + 2 for i, w in enumerate(FILLER + POSITIVE + NEGATIVE + NEGATORS)}   # 0 pad, 1 unk
    (s_tr, y_tr), (s_va, y_va) = synthetic_polarity(n_train, seed), synthetic_polarity(n_valid, seed + 1)
    length = max(len(s) for s in s_tr + s_va) + 8
    enc = lambda sents: pad_sequences([[vocab[w] for w in s] for s in sents], length, left=4)
    return len(vocab) + 2, (enc(s_tr), y_tr), (enc(s_va), y_va)


# ---------------------------------------------------------------- training
def run(name, vocab_size, data, cfg, seed):
    (xtr, ytr), (xva, yva) = data
    tg.manual_seed(seed)
    model = SentenceCNN(vocab_size, emb=cfg["emb"], maps=cfg["maps"], dropout=0.5)
    params = tg.FlatParameters(model)
    opt = OPTIMIZERS[name].build(params, OPTIMIZERS[name].lr)
    loader = DataLoader((xtr, ytr), 50, shuffle=True, seed=seed)     # Kim's mini-batch size 50
    accs, losses, times = [], [], []
    bar = progress(total=cfg["epochs"] * len(loader), desc=name, unit="step")
    for _ in range(cfg["epochs"]):
        t0, total = time.perf_counter(), 0.0
        model.train()
        for x, y in loader:
            def closure(x=x, y=y):
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                return loss
            total += B.item(opt.step(closure=closure).data) * len(y)    # one sync per step, for the curve
            bar.update(1)
        times.append(time.perf_counter() - t0)
        losses.append(total / len(ytr))
        model.eval()
        with tg.no_grad():
            correct = 0.0
            for x, y in DataLoader((xva, yva), 500):
                correct += B.item((B.array_module(x.data).argmax(model(x).data, axis=1) == y.data).sum())
        accs.append(correct / len(yva))
    bar.close()
    return {"valid_acc": accs, "train_loss": losses, "epoch_time": times}


def main():
    p = tutorial_parser("12_sentence_cnn", __doc__)
    p.add_argument("--polarity-dir", default=None, help="directory with rt-polarity.pos and rt-polarity.neg")
    p.add_argument("--epochs", type=int, default=None)
    args = p.parse_args()
    out = start_tutorial(args)
    q = args.quick
    if args.polarity_dir:
        try:
            d = load_rt_polarity(args.polarity_dir, seed=args.seed)
        except (DatasetError, DatasetNotFoundError) as exc:
            exit_with_error(f"--polarity-dir {args.polarity_dir}: {exc}")
        vocab_size, data = len(d.vocab), ((d.x_train, d.y_train), (d.x_valid, d.y_valid))
        cfg = dict(emb=128, maps=100, epochs=10)
        source = f"rt-polarity ({len(d.y_train)} train / {len(d.y_valid)} validation snippets, vocabulary {vocab_size})"
    else:
        vocab_size, tr, va = synthetic_data(300 if q else 4000, 200 if q else 1000, args.seed)
        data = (tr, va)
        cfg = dict(emb=32, maps=32, epochs=8)
        source = f"synthetic polarity corpus ({len(tr[1])} train / {len(va[1])} validation sentences)"
    if q:
        cfg.update(emb=8, maps=4, epochs=1)
    cfg["epochs"] = args.epochs or cfg["epochs"]
    print(f"{source}; CNN widths 3/4/5 × {cfg['maps']} maps, embedding {cfg['emb']}, dropout 0.5, "
          f"batch 50, {cfg['epochs']} epochs")
    results = {name: run(name, vocab_size, data, cfg, args.seed) for name in TABLE_4}

    print(f"\n{'method':<11} {'best valid acc':>15} {'final train loss':>17} {'s/epoch':>8} {'paper (Table 4)':>16}")
    for name, r in results.items():
        print(f"{name:<11} {max(r['valid_acc']):>15.4f} {r['train_loss'][-1]:>17.4f} "
              f"{np.mean(r['epoch_time']):>8.2f} {TABLE_4[name]:>15.2f}%")
    write_csv(out / "history.csv", [{"method": n, "epoch": e + 1, "valid_acc": a, "train_loss": lo}
                                    for n, r in results.items()
                                    for e, (a, lo) in enumerate(zip(r["valid_acc"], r["train_loss"]))])
    fig, axes = subplots(2, ncols=2)
    for name, r in results.items():
        ep = range(1, len(r["valid_acc"]) + 1)
        style = "-" if name.endswith("-ng") else "--"
        axes[0].plot(ep, r["train_loss"], style, marker="o", ms=3, label=name)
        axes[1].plot(ep, r["valid_acc"], style, marker="o", ms=3, label=name)
    axes[0].set(title="training loss", xlabel="epoch")
    axes[1].set(title="validation accuracy", xlabel="epoch")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    png = save_figure(fig, out / "sentence_cnn.png")
    best = {n: max(r["valid_acc"]) for n, r in results.items()}
    wins = [b for b in ("adam", "adagrad", "sgdm") if best[b + "-ng"] > best[b]]
    print("\nnotice:")
    print(f"  * the NG version beats its base on best validation accuracy for {len(wins)} of 3 pairs "
          f"({', '.join(wins) or 'none'}); the paper reports all three, and AdamNG best overall.")
    print(f"wrote {png}, {out / 'history.csv'}")


if __name__ == "__main__":
    main()
