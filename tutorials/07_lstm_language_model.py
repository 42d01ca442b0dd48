# Tutorial 07 — an LSTM language model trained by Adam and AdamNG.
#
# Follows: [Yu et al. 2017, §4.4] "Language modeling with recurrent neural
# network": a 2-layer LSTM word language model (embedding → LSTM → LSTM → softmax), loss = log
# perplexity, truncated back-propagation through time, dropout 0.5, Adam (α = 0.001, β₁ = 0.9,
# β₂ = 0.999, ε = 1e-8) vs AdamNG (Adam fed the block-normalized gradient, Algorithm 1), where
# "AdamNG is uniformly better than all the other competitors".  [Ravasi]
# "Exploding and vanishing gradients": the recurrent weight applied N times (Wᴺ) is where
# gradients explode or vanish — the case normalization is meant for.
#
# Data: Penn Treebank when --ptb-dir DIR holds ptb.train.txt/ptb.valid.txt/ptb.test.txt (the paper's
# data: 200 units, 200-dim embeddings, batch 100); otherwise a corpus drawn from a known Markov chain
# (tinygrad_ngd.datasets.markov_corpus), whose entropy rate H is the exact floor of the achievable
# loss — so the curves can be read against the best possible value, which PTB cannot offer.
#
# Run:  python tutorials/07_lstm_language_model.py [--quick] [--out DIR] [--backend cupy] [--ptb-dir DIR]
"""An LSTM language model, Adam vs AdamNG (see the opening comment)."""

import math
import time

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd import optimizers as O
from tinygrad_ngd.datasets import DatasetError, DatasetNotFoundError, batchify, bptt_windows, load_ptb, markov_corpus
from tinygrad_ngd.plotting import save_figure, subplots
from tinygrad_ngd.progress import progress
from tinygrad_ngd.runs import exit_with_error, start_tutorial, tutorial_parser, write_csv


class WordLM(L.Module):
    """Embedding(V, E) → LSTM(E, H, layers, dropout) → Dense(H, V): logits of the next word."""

    def __init__(self, vocab_size, emb, hidden, layers, dropout):
        super().__init__()
        self.embed = L.Embedding(vocab_size, emb)
        self.drop = L.Dropout(dropout)
        self.lstm = L.LSTM(emb, hidden, num_layers=layers, dropout=dropout)
        self.decoder = L.Dense(hidden, vocab_size)

    def forward(self, ids, state=None):
        h, state = self.lstm(self.drop(self.embed(ids)), state)
        return self.decoder(self.drop(h)), state


def sequence_loss(logits, targets):
    """Mean cross-entropy per predicted word = log perplexity ([Yu et al. 2017, §4.4]'s objective)."""
    T, N, V = logits.shape
    return F.cross_entropy(F.reshape(logits, (T * N, V)), F.reshape(targets, (T * N,)))


def tensor_ids(a):
    return tg.Tensor(B.asarray(a))


def evaluate(model, data, bptt):
    """Mean loss per word over the stream, the LSTM state carried across windows."""
    model.eval()
    total, count, state = 0.0, 0, None
    with tg.no_grad():
        for x, y in bptt_windows(data, bptt):
            logits, state = model(tensor_ids(x), state)
            total += B.item(sequence_loss(logits, tensor_ids(y)).data) * y.size   # one sync per window
            count += y.size
    model.train()
    return total / count


def train(name, make_opt, corpus, cfg, seed):
    tg.manual_seed(seed)
    model = WordLM(len(corpus.vocab), cfg["emb"], cfg["hidden"], cfg["layers"], cfg["dropout"])
    params = tg.FlatParameters(model)
    opt = make_opt(params)
    train_data = batchify(corpus.train, cfg["batch"])
    valid_data = batchify(corpus.valid, min(cfg["batch"], 10))
    hist = {"epoch": [], "train_loss": [], "valid_loss": [], "epoch_time": []}
    n_windows = math.ceil((train_data.shape[0] - 1) / cfg["bptt"])
    bar = progress(total=cfg["epochs"] * n_windows, desc=name, unit="window")
    for epoch in range(1, cfg["epochs"] + 1):
        t0, total, count, state = time.perf_counter(), 0.0, 0, None
        for x, y in bptt_windows(train_data, cfg["bptt"]):
            state = L.detach_state(state)          # truncated BPTT: gradients stop at the window edge
            box = {}

            def closure(x=x, y=y, state=state, box=box):
                opt.zero_grad()
                logits, box["state"] = model(tensor_ids(x), state)
                loss = sequence_loss(logits, tensor_ids(y))
                loss.backward()
                return loss
            loss = opt.step(closure=closure)
            state = box["state"]
            total += B.item(loss.data) * y.size       # one sync per window, for the curve
            count += y.size
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{total / count:.3f}")
        hist["epoch"].append(epoch)
        hist["train_loss"].append(total / count)
        hist["epoch_time"].append(time.perf_counter() - t0)
        hist["valid_loss"].append(evaluate(model, valid_data, cfg["bptt"]))
    bar.close()
    return hist


def main():
    p = tutorial_parser("07_lstm_language_model", __doc__)
    p.add_argument("--ptb-dir", default=None, help="directory with ptb.train.txt, ptb.valid.txt, ptb.test.txt")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--bptt", type=int, default=None, help="truncation length (paper: 40, 400, 1000)")
    args = p.parse_args()
    out = start_tutorial(args)
    q = args.quick
    if args.ptb_dir:
        try:
            corpus = load_ptb(args.ptb_dir)
        except (DatasetError, DatasetNotFoundError) as exc:
            exit_with_error(f"--ptb-dir {args.ptb_dir}: {exc}")
        floor = None
        cfg = dict(emb=200, hidden=200, layers=2, dropout=0.5, batch=100, bptt=40, epochs=10)
        source = f"PTB ({len(corpus.train)} training words, vocabulary {len(corpus.vocab)})"
    else:
        corpus = markov_corpus(vocab_size=50, n_train=3000 if q else 100_000, n_valid=1000 if q else 10_000,
                               n_test=1000, concentration=0.1, seed=args.seed)
        floor = corpus.entropy_rate
        cfg = dict(emb=32, hidden=64, layers=2, dropout=0.0, batch=20, bptt=40, epochs=6)
        source = (f"Markov-chain corpus ({len(corpus.train)} training words, vocabulary {len(corpus.vocab)}, "
                  f"entropy rate H = {floor:.4f} nats)")
    if q:
        cfg.update(emb=8, hidden=16, batch=10, bptt=10, epochs=1)
    cfg["epochs"] = args.epochs or cfg["epochs"]
    cfg["bptt"] = args.bptt or cfg["bptt"]
    print(f"{source}; 2-layer LSTM, hidden {cfg['hidden']}, embedding {cfg['emb']}, batch {cfg['batch']}, "
          f"BPTT {cfg['bptt']}, dropout {cfg['dropout']}, {cfg['epochs']} epochs")

    runs = {
        "Adam": lambda p: O.Adam(p, lr=1e-3),
        "AdamNG": lambda p: O.BlockNormalized(O.Adam(p, lr=1e-3)),
    }
    hists = {name: train(name, make, corpus, cfg, args.seed) for name, make in runs.items()}

    print(f"\n{'method':<8} {'train loss':>11} {'valid loss':>11} {'valid ppl':>10} {'s/epoch':>8}")
    for name, h in hists.items():
        print(f"{name:<8} {h['train_loss'][-1]:>11.4f} {h['valid_loss'][-1]:>11.4f} "
              f"{math.exp(h['valid_loss'][-1]):>10.2f} {sum(h['epoch_time']) / len(h['epoch_time']):>8.2f}")
    if floor is not None:
        print(f"{'floor H':<8} {'':>11} {floor:>11.4f} {math.exp(floor):>10.2f}   "
              f"(the true chain on the validation text: {corpus.nll(corpus.valid):.4f})")
    write_csv(out / "history.csv", [{"method": n, "epoch": e, "train_loss": tr, "valid_loss": va}
                                    for n, h in hists.items()
                                    for e, tr, va in zip(h["epoch"], h["train_loss"], h["valid_loss"])])

    fig, axes = subplots(2, ncols=2)
    for ax, key, label in zip(axes, ("train_loss", "valid_loss"), ("training loss (log perplexity)", "validation loss")):
        for name, h in hists.items():
            ax.plot(h["epoch"], h[key], "o-", ms=3, label=name)
        if floor is not None:
            ax.axhline(floor, color="k", ls="--", lw=1, label="entropy rate H (floor)")
        ax.set_xlabel("epoch")
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    png = save_figure(fig, out / "lstm_lm.png")
    a, b = hists["Adam"]["valid_loss"][-1], hists["AdamNG"]["valid_loss"][-1]
    print("\nnotice:")
    print(f"  * final validation loss: AdamNG {b:.4f} vs Adam {a:.4f}"
          + (f"; the floor is H = {floor:.4f}, so the gaps to the best possible are "
             f"{b - floor:.4f} and {a - floor:.4f}." if floor is not None else "."))
    print("  * the normalized gradient gives every layer (embedding, LSTM, decoder) a step of the same size "
          "whatever its raw gradient norm — the recurrent Wᴺ effect of [Ravasi] cannot shrink or blow it up.")
    print(f"wrote {png}, {out / 'history.csv'}")


if __name__ == "__main__":
    main()
