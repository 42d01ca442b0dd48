"""Layer and curvature fixtures of the catalog: write them (our layers), check them (torch).

Each fixture is ``tinygrad_ngd/verify/data/layers/<name>.npz`` (read with
``numpy.load(..., allow_pickle=False)``), all float64 except integer ids/labels, with
PyTorch's layouts and parameter names:

* ``input``             the layer's input (``ids`` int64 for Embedding; ``labels`` int64 for
                        cross-entropy and the HVP);
* ``param.<name>``      parameters as in the PyTorch module's ``state_dict`` (``weight``,
                        ``bias``, ``weight_ih_l0`` …; for a Sequential ``0.weight`` …);
* ``buffer.<name>``     BatchNorm's ``running_mean``/``running_var`` *before* the call;
* ``output``            the forward output (LSTM: the output sequence, (T, N, H));
* ``upstream``          a fixed random upstream gradient, shaped like ``output``;
* ``grad.input``        ∂⟨output, upstream⟩/∂input (not for Embedding ids);
* ``grad.param.<name>`` ∂⟨output, upstream⟩/∂param;
* ``buffer_after.<name>`` BatchNorm (train): the running statistics after the call;
* HVP fixture: ``v`` (flat, the parameters concatenated in ``param.*`` order of the
  manifest's ``params`` list), ``grad`` (∇L) and ``hvp`` (∇²L·v) of the mean
  cross-entropy L of ``Dense(4, 5) → Tanh → Dense(5, 3)`` on (``input``, ``labels``).

The manifest entry names the layer, its PyTorch class and constructor keywords
(``torch``, ``config``), the mode (``train``/``eval``) and the parameter order.
Arrays come from ``numpy.random.default_rng(seed)`` (no framework's initializer).
"""

from __future__ import annotations

import contextlib
import fnmatch
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# name -> (our layer class, torch.nn class, keywords (same names in both), input shape, mode)
_LAYERS = [
    ("dense", "Dense", "Linear", {"in_features": 4, "out_features": 3}, (5, 4), "train"),
    ("conv2d", "Conv2d", "Conv2d", {"in_channels": 1, "out_channels": 2, "kernel_size": 3}, (2, 1, 6, 5), "train"),
    ("conv2d_stride_padding", "Conv2d", "Conv2d",
     {"in_channels": 2, "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1}, (2, 2, 7, 7), "train"),
    ("maxpool2d", "MaxPool2d", "MaxPool2d", {"kernel_size": 2}, (2, 2, 6, 6), "train"),
    ("maxpool2d_stride_padding", "MaxPool2d", "MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1},
     (2, 2, 7, 7), "train"),
    ("avgpool2d_stride_padding", "AvgPool2d", "AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1},
     (2, 2, 7, 7), "train"),
    ("batchnorm1d_train", "BatchNorm1d", "BatchNorm1d", {"num_features": 4}, (6, 4), "train"),
    ("batchnorm2d_train", "BatchNorm2d", "BatchNorm2d", {"num_features": 3}, (4, 3, 3, 3), "train"),
    ("batchnorm2d_eval", "BatchNorm2d", "BatchNorm2d", {"num_features": 3}, (4, 3, 3, 3), "eval"),
    ("lstm", "LSTM", "LSTM", {"input_size": 3, "hidden_size": 4}, (5, 2, 3), "train"),
    ("embedding", "Embedding", "Embedding", {"num_embeddings": 10, "embedding_dim": 4}, (3, 5), "train"),
]


@contextlib.contextmanager
def _float64():
    from .. import backend as B
    previous = B.get_default_dtype()
    B.set_default_dtype("float64")
    try:
        yield
    finally:
        B.set_default_dtype(previous)


def _layer_fixture(name, ours, torch_name, config, shape, mode, seed):
    from .. import backend as B
    from .. import layers as L
    from ..tensor import Tensor
    rng = np.random.default_rng(seed)
    layer = getattr(L, ours)(**config)
    arrays = {}
    for pname, p in layer.named_parameters():
        value = rng.standard_normal(p.data.shape) * 0.5
        if ours.startswith("BatchNorm") and pname == "weight":
            value = 1.0 + 0.3 * rng.standard_normal(p.data.shape)
        p.data[...] = B.asarray(value)
        arrays[f"param.{pname}"] = value
    if ours.startswith("BatchNorm"):
        n = config["num_features"]
        mean, var = rng.standard_normal(n) * 0.3, rng.uniform(0.5, 2.0, n)
        layer.running_mean.data[...] = B.asarray(mean)
        layer.running_var.data[...] = B.asarray(var)
        arrays["buffer.running_mean"], arrays["buffer.running_var"] = mean, var
    layer.train() if mode == "train" else layer.eval()
    if ours == "Embedding":
        ids = rng.integers(0, config["num_embeddings"], size=shape).astype(np.int64)
        ids[0, :2] = ids[1, 0]                       # a repeated id: its rows' gradients add
        arrays["input"] = ids
        out = layer(B.asarray(ids))
        x = None
    else:
        arrays["input"] = rng.standard_normal(shape)
        x = Tensor(B.asarray(arrays["input"]), requires_grad=True)
        out = layer(x)
    if isinstance(out, tuple):                       # LSTM: (output, (h_n, c_n))
        out = out[0]
    upstream = rng.standard_normal(out.shape)
    (out * Tensor(B.asarray(upstream))).sum().backward()
    arrays["output"], arrays["upstream"] = B.to_numpy(out.data), upstream
    if x is not None:
        arrays["grad.input"] = B.to_numpy(x.grad if not hasattr(x.grad, "data") else x.grad.data)
    for pname, p in layer.named_parameters():
        g = p.grad if not hasattr(p.grad, "data") else p.grad.data
        arrays[f"grad.param.{pname}"] = B.to_numpy(g)
    if ours.startswith("BatchNorm") and mode == "train":
        arrays["buffer_after.running_mean"] = B.to_numpy(layer.running_mean.data)
        arrays["buffer_after.running_var"] = B.to_numpy(layer.running_var.data)
    meta = {"layer": ours, "torch": torch_name, "config": config, "mode": mode, "seed": seed,
            "params": [k[len("param."):] for k in arrays if k.startswith("param.")]}
    return name, arrays, meta


def _cross_entropy_fixture(seed):
    from .. import backend as B
    from .. import functional as F
    from ..tensor import Tensor
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((6, 5)) * 2.0
    labels = rng.integers(0, 5, size=6).astype(np.int64)
    x = Tensor(B.asarray(logits), requires_grad=True)
    loss = F.cross_entropy(x, B.asarray(labels))
    upstream = np.array(rng.standard_normal())
    (loss * float(upstream)).backward()
    arrays = {"input": logits, "labels": labels, "output": np.array(B.to_numpy(loss.data)),
              "upstream": upstream, "grad.input": B.to_numpy(x.grad if not hasattr(x.grad, "data") else x.grad.data)}
    return "cross_entropy", arrays, {"layer": "cross_entropy", "torch": "cross_entropy",
                                     "config": {"reduction": "mean"}, "mode": "train", "seed": seed,
                                     "params": []}


def _mlp(L):
    return L.Sequential(L.Dense(4, 5), L.Tanh(), L.Dense(5, 3))


def _hvp_fixture(seed):
    from .. import backend as B
    from .. import curvature as C
    from .. import functional as F
    from .. import layers as L
    from ..flat import FlatParameters
    from ..tensor import Tensor
    rng = np.random.default_rng(seed)
    model = _mlp(L)
    arrays = {}
    for pname, p in model.named_parameters():
        value = rng.standard_normal(p.data.shape) * 0.7
        p.data[...] = B.asarray(value)
        arrays[f"param.{pname}"] = value
    x = rng.standard_normal((6, 4))
    labels = rng.integers(0, 3, size=6).astype(np.int64)
    params = FlatParameters(model)
    v = rng.standard_normal(params.numel)

    def loss_fn():
        return F.cross_entropy(model(Tensor(B.asarray(x))), B.asarray(labels))
    arrays.update({"input": x, "labels": labels, "v": v,
                   "grad": B.to_numpy(C.gradient(loss_fn, params)[1]),
                   "hvp": B.to_numpy(C.hvp(loss_fn, params, B.asarray(v)))})
    return "hvp_mlp_cross_entropy", arrays, {
        "layer": "hvp", "torch": "Sequential(Linear(4, 5), Tanh(), Linear(5, 3)) + cross_entropy",
        "config": {"sizes": [4, 5, 3]}, "mode": "train", "seed": seed,
        "params": [k[len("param."):] for k in arrays if k.startswith("param.")]}


def build_layer_fixtures() -> list:
    """[(name, arrays, manifest meta)] for every layer fixture (deterministic)."""
    with _float64():
        out = [_layer_fixture(*spec, seed=100 + i) for i, spec in enumerate(_LAYERS)]
        out.append(_cross_entropy_fixture(200))
        out.append(_hvp_fixture(201))
    return out


# ---------------------------------------------------------------------------- checking
@dataclass
class LayerRow:
    fixture: str
    status: str
    max_rel_error: float | None = None
    worst: str = ""
    note: str = ""


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)) if b.size else 0.0


def _torch_arrays(torch, meta, z) -> dict:
    """What torch computes for the fixture: the same keys as the file."""
    t = lambda a: torch.from_numpy(np.array(a))  # noqa: E731
    got = {}
    if meta["layer"] == "cross_entropy":
        x = t(z["input"]).requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(x, t(z["labels"]))
        (loss * float(z["upstream"])).backward()
        return {"output": loss.detach().numpy(), "grad.input": x.grad.numpy()}
    if meta["layer"] == "hvp":
        a, b, c = meta["config"]["sizes"]
        model = torch.nn.Sequential(torch.nn.Linear(a, b), torch.nn.Tanh(), torch.nn.Linear(b, c)).double()
        model.load_state_dict({k: t(z[f"param.{k}"]) for k in meta["params"]})
        ps = [dict(model.named_parameters())[k] for k in meta["params"]]
        loss = torch.nn.functional.cross_entropy(model(t(z["input"])), t(z["labels"]))
        grads = torch.autograd.grad(loss, ps, create_graph=True)
        flat = torch.cat([g.reshape(-1) for g in grads])
        hv = torch.autograd.grad(flat @ t(z["v"]), ps)
        return {"grad": flat.detach().numpy(), "hvp": torch.cat([h.reshape(-1) for h in hv]).numpy()}
    module = getattr(torch.nn, meta["torch"])(**meta["config"]).double()
    state = {k: t(z[f"param.{k}"]) for k in meta["params"]}
    if meta["layer"].startswith("BatchNorm"):
        state.update({k: t(z[f"buffer.{k}"]) for k in ("running_mean", "running_var")})
    module.load_state_dict(state, strict=False)
    module.train(meta["mode"] == "train")
    if meta["layer"] == "Embedding":
        x = t(z["input"])
        out = module(x)
    else:
        x = t(z["input"]).requires_grad_(True)
        out = module(x)
    if isinstance(out, tuple):
        out = out[0]
    (out * t(z["upstream"])).sum().backward()
    got["output"] = out.detach().numpy()
    if meta["layer"] != "Embedding":
        got["grad.input"] = x.grad.numpy()
    for k, p in module.named_parameters():
        got[f"grad.param.{k}"] = p.grad.numpy()
    if meta["layer"].startswith("BatchNorm") and meta["mode"] == "train":
        got["buffer_after.running_mean"] = module.running_mean.numpy()
        got["buffer_after.running_var"] = module.running_var.numpy()
    return got


def check_layers(against: str = "torch", pattern: str | None = None, rtol: float = 1e-10,
                 atol: float = 0.0, catalog_dir=None) -> list:
    """One :class:`LayerRow` per layer fixture: torch's forward, gradients (and HVP) vs the file."""
    from .catalog import CATALOG_DIR, load_checked, load_manifest
    if against != "torch":
        raise ValueError(f"invalid --against {against!r} with --kind layers: only 'torch' is built in "
                         "(any framework can load the .npz files: see docs/verify.md)")
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError("--kind layers --against torch needs PyTorch") from exc
    root = Path(catalog_dir) if catalog_dir is not None else CATALOG_DIR
    entries = [e for e in load_manifest(root)["layers"]
               if pattern is None or fnmatch.fnmatchcase(e["name"], pattern)]
    if not entries:
        raise ValueError(f"--cases {pattern!r} matches no layer fixture of the catalog")
    rows = []
    for meta in entries:
        z = load_checked(root, meta)
        got = _torch_arrays(torch, meta, z)
        errors = {k: _rel(v, z[k]) for k, v in got.items()}
        missing = [k for k in z if (k.startswith("grad") or k in ("output", "hvp")) and k not in got]
        key = max(errors, key=errors.get)
        bad = [k for k, e in errors.items()
               if not np.max(np.abs(np.asarray(got[k]) - z[k]), initial=0.0)
               <= atol + rtol * np.max(np.abs(z[k]), initial=0.0)]
        status = "differs" if bad or missing else "match"
        note = (f"outside: {', '.join(bad)}" if bad else "") + (f" not compared: {missing}" if missing else "")
        rows.append(LayerRow(meta["name"], status, errors[key], key, note.strip()))
    return rows


def format_layer_table(rows, against: str, seconds: float | None = None) -> str:
    width = max([len(r.fixture) for r in rows] + [7])
    lines = [f"{'fixture':<{width}}  max rel error  worst array              status   note"]
    for r in rows:
        err = "-" if r.max_rel_error is None else f"{r.max_rel_error:.2e}"
        lines.append(f"{r.fixture:<{width}}  {err:>13}  {r.worst:<23}  {r.status:<7}  {r.note}".rstrip())
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    n_match = sum(r.status == "match" for r in rows)
    lines.append(f"{len(rows)} layer fixtures against {against}{took}: {n_match} match, "
                 f"{len(rows) - n_match} differs")
    return "\n".join(lines)
