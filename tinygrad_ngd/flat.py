"""FlatParameters: all parameters in one contiguous vector, split into per-layer blocks.

Note 001 §3 writes the parameters as x = (x¹, …, x^B), one block per layer, and every
block-normalized method acts on those blocks.  Here the blocks are slices of one 1-D
backend array ``data``; every layer parameter is a *view* into it, so layers keep their
natural shapes while optimizers, Hessian tools and PRONG see one flat vector.  The
gradient lives in a second contiguous array ``grad`` that ``backward`` adds into.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import backend as B
from .tensor import Tensor

_BLOCK_BY = ("layer", "tensor")


@dataclass(frozen=True)
class Block:
    """One block xᵇ of the flat vector: its name, its slice and the parameters in it."""

    name: str
    slice: slice
    param_names: tuple
    shapes: tuple

    @property
    def size(self) -> int:
        return self.slice.stop - self.slice.start


class FlatParameters:
    """One contiguous parameter vector ``data`` and gradient ``grad`` with named blocks.

    ``FlatParameters(model, block_by="layer")`` copies the model's parameters (in
    definition order) into ``data`` and rebinds each parameter to a view of it; by
    default one block per layer holds its weight and bias together (note 001's
    convention), ``block_by="tensor"`` gives one block per tensor.
    ``FlatParameters.from_array(theta0, block_sizes=[...])`` serves problems without a model.
    """

    def __init__(self, model, block_by: str = "layer"):
        if block_by not in _BLOCK_BY:
            raise ValueError(f"FlatParameters: unknown block_by {block_by!r}; expected one of {_BLOCK_BY}")
        named = list(model.named_parameters())
        if not named:
            raise ValueError("FlatParameters: the model has no parameters")
        dtypes = {p.dtype for _, p in named}
        if len(dtypes) != 1:
            raise ValueError(f"FlatParameters: parameters have mixed dtypes {sorted(map(str, dtypes))}")
        self._build([n for n, _ in named], [p for _, p in named], block_by)
        self.model = model

    @classmethod
    def from_array(cls, theta0, block_sizes=None, names=None):
        """Flat parameters for a raw problem: one leaf tensor ``parameters[0]`` of shape (n,).

        ``block_sizes`` splits it into blocks (default: one block); ``names`` names them.
        """
        self = cls.__new__(cls)
        data = theta0.data if isinstance(theta0, Tensor) else theta0
        if not B.is_backend_array(data):
            data = B.asarray(data)
        if data.dtype.kind != "f":
            data = data.astype(B.get_default_dtype())
        if data.ndim != 1:
            raise ValueError(f"from_array: theta0 must be 1-D, got shape {data.shape}")
        n = data.shape[0]
        block_sizes = [n] if block_sizes is None else [int(s) for s in block_sizes]
        if any(s <= 0 for s in block_sizes) or sum(block_sizes) != n:
            raise ValueError(f"from_array: block_sizes {block_sizes} must be positive and sum to "
                             f"len(theta0) = {n}")
        if names is None:
            names = [f"block{i}" for i in range(len(block_sizes))]
        if len(names) != len(block_sizes):
            raise ValueError(f"from_array: {len(names)} names for {len(block_sizes)} blocks")
        self.model = None
        self.data = data.copy()
        self.grad = B.array_module(data).zeros_like(self.data)
        leaf = Tensor(self.data, requires_grad=True, name="theta")
        leaf._grad_buffer = self.grad
        self.parameters = [leaf]
        self.names = ["theta"]
        blocks, start = [], 0
        for name, size in zip(names, block_sizes):
            blocks.append(Block(name, slice(start, start + size), ("theta",), ((size,),)))
            start += size
        self.blocks = blocks
        return self

    def _build(self, names, params, block_by):
        xp = B.array_module(*[p.data for p in params])
        total = sum(p.size for p in params)
        self.data = xp.empty(total, dtype=params[0].dtype)
        self.grad = xp.zeros(total, dtype=params[0].dtype)
        self.parameters = params
        self.names = names
        offsets, start = [], 0
        for p in params:
            n = p.size
            self.data[start:start + n] = p.data.reshape(-1)
            p.data = self.data[start:start + n].reshape(p.shape)  # a view: layers see updates
            p._grad_buffer = self.grad[start:start + n].reshape(p.shape)
            p.grad = None
            offsets.append((start, start + n))
            start += n
        groups = []  # (block name, [indices]) in definition order
        for i, name in enumerate(names):
            key = name.rsplit(".", 1)[0] if (block_by == "layer" and "." in name) else name
            if groups and groups[-1][0] == key:
                groups[-1][1].append(i)
            else:
                groups.append((key, [i]))
        self.blocks = [Block(key, slice(offsets[idx[0]][0], offsets[idx[-1]][1]),
                             tuple(names[i] for i in idx), tuple(params[i].shape for i in idx))
                       for key, idx in groups]

    # ------------------------------------------------------------------ queries
    @property
    def numel(self) -> int:
        return int(self.data.shape[0])

    def __len__(self) -> int:
        return self.numel

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def block_sizes(self) -> list:
        return [b.size for b in self.blocks]

    def split(self, vector) -> list:
        """Views of ``vector`` (flat, same length) for each block, in block order."""
        self.check_vector(vector, "vector")
        return [vector[b.slice] for b in self.blocks]

    def check_vector(self, vector, what: str = "vector"):
        shape = getattr(vector, "shape", None)
        if shape != (self.numel,):
            raise ValueError(f"{what} must be a flat vector of length {self.numel} "
                             f"(the parameter count), got shape {shape}")
        return vector

    def zero_grad(self) -> None:
        """Zero the flat gradient (every parameter's ``.grad`` view reads 0)."""
        self.grad[...] = 0
        for p in self.parameters:
            p.grad = None

    def flatten(self, tensors):
        """Concatenate per-parameter arrays/Tensors (in parameter order) into one flat array;
        a None entry (a parameter without gradient) contributes zeros."""
        xp = B.array_module(self.data)
        parts = []
        for p, t in zip(self.parameters, tensors):
            if t is None:
                parts.append(xp.zeros(p.size, dtype=self.dtype))
            else:
                parts.append((t.data if isinstance(t, Tensor) else t).reshape(-1))
        return xp.concatenate(parts)

    def unflatten(self, vector) -> list:
        """Split a flat vector into arrays shaped like the parameters (views)."""
        self.check_vector(vector)
        out, start = [], 0
        for p in self.parameters:
            out.append(vector[start:start + p.size].reshape(p.shape))
            start += p.size
        return out

    def __repr__(self):
        blocks = ", ".join(f"{b.name}:{b.size}" for b in self.blocks)
        return f"FlatParameters(numel={self.numel}, dtype={self.dtype}, blocks=[{blocks}])"
