"""hvp on every layer family: a CNN with batch-norm (train mode), an LSTM, an embedding model.

Issue 7: hvp equals the dense Hessian times v and torch's double-backward HVP to 1e-10
relative in float64 (the MLP case is in test_curvature_hvp.py).  PyTorch gets the same
weights through state_dict (our names and layouts follow PyTorch's).
"""

import numpy as np

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import curvature as C
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L

RTOL = 1e-10


def rel(a, b):
    return np.linalg.norm(B.to_numpy(a) - B.to_numpy(b)) / np.linalg.norm(B.to_numpy(b))


def torch_hvp(torch, tmodel, t_loss_fn, names, v):
    """H v by torch.autograd.grad twice, parameters in our flat order (by name)."""
    named = dict(tmodel.named_parameters())
    ps = [named[n] for n in names]
    gs = torch.autograd.grad(t_loss_fn(), ps, create_graph=True)
    vs, start = [], 0
    for p in ps:
        vs.append(torch.tensor(v[start:start + p.numel()]).reshape(p.shape))
        start += p.numel()
    hv = torch.autograd.grad(gs, ps, grad_outputs=vs)
    return np.concatenate([t.detach().numpy().reshape(-1) for t in hv])


def load_into_torch(torch, model, tmodel):
    state = {k: torch.tensor(B.to_numpy(v)) for k, v in model.state_dict().items()}
    missing, unexpected = tmodel.load_state_dict(state, strict=False)
    assert not unexpected and all("num_batches_tracked" in m for m in missing), (missing, unexpected)
    tmodel.double()


def check(torch, rng, model, params, loss_fn, tmodel, t_loss_fn):
    load_into_torch(torch, model, tmodel)
    H = B.to_numpy(C.hessian(loss_fn, params))
    for _ in range(2):
        v = rng.standard_normal(params.numel)
        hv = C.hvp(loss_fn, params, v)
        assert rel(hv, H @ v) <= RTOL
        assert rel(hv, torch_hvp(torch, tmodel, t_loss_fn, params.names, v)) <= RTOL
    return H


def test_hvp_cnn_with_batchnorm_in_train_mode(torch, rng):
    tg.set_default_dtype("float64")
    model = L.Sequential(L.Conv2d(1, 2, 3, padding=1), L.BatchNorm2d(2), L.Tanh(), L.MaxPool2d(2),
                         L.Flatten(), L.Dense(18, 3))
    model.train()
    params = tg.FlatParameters(model)
    x, y = rng.standard_normal((4, 1, 6, 6)), rng.integers(0, 3, size=4)
    loss_fn = lambda: F.cross_entropy(model(tg.Tensor(x)), y)
    nn = torch.nn
    tmodel = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.Tanh(), nn.MaxPool2d(2),
                           nn.Flatten(), nn.Linear(18, 3))
    tmodel.train()
    t_loss = lambda: nn.functional.cross_entropy(tmodel(torch.tensor(x)), torch.tensor(y))
    H = check(torch, rng, model, params, loss_fn, tmodel, t_loss)
    # batch-norm in train mode couples the batch: its Hessian block is not that of eval mode
    model.eval()
    v = rng.standard_normal(params.numel)
    assert rel(C.hvp(loss_fn, params, v), H @ v) > 1e-3


class _LSTMClassifier(L.Module):
    def __init__(self):
        super().__init__()
        self.lstm = L.LSTM(2, 3)
        self.head = L.Dense(3, 3)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[-1])


def test_hvp_lstm(torch, rng):
    tg.set_default_dtype("float64")
    model = _LSTMClassifier()
    params = tg.FlatParameters(model)
    x, y = rng.standard_normal((4, 2, 2)), rng.integers(0, 3, size=2)
    loss_fn = lambda: F.cross_entropy(model(tg.Tensor(x)), y)

    class T(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(2, 3)
            self.head = torch.nn.Linear(3, 3)

        def forward(self, x):
            return self.head(self.lstm(x)[0][-1])

    tmodel = T()
    t_loss = lambda: torch.nn.functional.cross_entropy(tmodel(torch.tensor(x)), torch.tensor(y))
    check(torch, rng, model, params, loss_fn, tmodel, t_loss)


class _BagOfEmbeddings(L.Module):
    def __init__(self):
        super().__init__()
        self.emb = L.Embedding(10, 4)
        self.head = L.Dense(4, 3)

    def forward(self, ids):
        return self.head(F.tanh(self.emb(ids)).mean(axis=1))


def test_hvp_embedding_model(torch, rng):
    tg.set_default_dtype("float64")
    model = _BagOfEmbeddings()
    params = tg.FlatParameters(model)
    ids, y = rng.integers(0, 10, size=(6, 3)), rng.integers(0, 3, size=6)
    ids[0, :2] = 7  # a repeated id: gradients scatter-add into one row
    loss_fn = lambda: F.cross_entropy(model(ids), y)

    class T(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, 4)
            self.head = torch.nn.Linear(4, 3)

        def forward(self, ids):
            return self.head(torch.tanh(self.emb(ids)).mean(dim=1))

    tmodel = T()
    t_loss = lambda: torch.nn.functional.cross_entropy(tmodel(torch.tensor(ids)), torch.tensor(y))
    H = check(torch, rng, model, params, loss_fn, tmodel, t_loss)
    unused = sorted(set(range(10)) - set(ids.reshape(-1).tolist()))
    rows = [r * 4 + j for r in unused for j in range(4)]  # rows of ids never seen: zero curvature
    if rows:
        np.testing.assert_array_equal(H[rows], 0.0)
