"""Module and Sequential: parameters and buffers registered in definition order.

Parameter order is the order of assignment in ``__init__`` (Python dicts keep insertion
order), never a set or a hash, so FlatParameters' block order is the same in every
process.  Names, shapes and layouts follow PyTorch, so a torch ``state_dict`` converted
to NumPy loads as is.
"""

from __future__ import annotations

from .. import backend as B
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module registers as a learnable parameter (requires_grad=True)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True, name=None):
        super().__init__(data, requires_grad=requires_grad, name=name)


class Module:
    """Base class of layers: register Parameters, sub-Modules and buffers by assignment."""

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call Module.__init__() before assigning attributes")
        for d in (self._parameters, self._modules, self._buffers):
            d.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, value) -> None:
        """A non-learnable state array (running statistics) saved in ``state_dict``."""
        if value is not None and not isinstance(value, Tensor):
            value = Tensor(value)
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    def register_parameter(self, name: str, value) -> None:
        if value is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
            return
        setattr(self, name, value)

    # ------------------------------------------------------------ traversal
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return [m for _, m in self.named_modules()]

    def children(self):
        return [m for m in self._modules.values() if m is not None]

    def named_parameters(self, prefix=""):
        out = []
        for mod_name, m in self.named_modules(prefix):
            for name, p in m._parameters.items():
                if p is not None:
                    out.append((f"{mod_name}.{name}" if mod_name else name, p))
        return out

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        out = []
        for mod_name, m in self.named_modules(prefix):
            for name, b in m._buffers.items():
                if b is not None:
                    out.append((f"{mod_name}.{name}" if mod_name else name, b))
        return out

    def buffers(self):
        return [b for _, b in self.named_buffers()]

    # ------------------------------------------------------------ modes and calling
    def train(self, mode: bool = True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None
            if p._grad_buffer is not None:
                p._grad_buffer[...] = 0

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return "\n".join(lines) + (")" if len(lines) == 1 else "\n)")

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Parameters then buffers per module, PyTorch's names; values are host-independent
        backend arrays (copies, so later training does not change a saved dict)."""
        out = {}
        for mod_name, m in self.named_modules():
            for name, p in list(m._parameters.items()) + list(m._buffers.items()):
                if p is not None:
                    out[f"{mod_name}.{name}" if mod_name else name] = p.data.copy()
        return out

    def load_state_dict(self, state: dict, strict: bool = True):
        """Copy arrays into parameters and buffers in place (views into FlatParameters stay
        views).  Missing/unexpected keys (strict) or wrong shapes raise one error listing
        every offending key, and nothing is changed."""
        targets = dict(self.named_parameters())
        targets.update(self.named_buffers())
        problems = []
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        if strict:
            problems += [f"missing key {k!r} (expected shape {tuple(targets[k].shape)})" for k in missing]
            problems += [f"unexpected key {k!r} (found shape {tuple(getattr(state[k], 'shape', ()))})"
                         for k in unexpected]
        for k, t in targets.items():
            if k in state:
                shape = tuple(getattr(state[k], "shape", ()))
                if shape != tuple(t.shape):
                    problems.append(f"key {k!r}: expected shape {tuple(t.shape)}, found {shape}")
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems))
        for k, t in targets.items():
            if k in state:
                value = state[k]
                value = value.data if isinstance(value, Tensor) else value
                if not B.is_backend_array(value) or B.array_module(value) is not B.array_module(t.data):
                    value = B.asarray(value)  # explicit host -> device for NumPy dicts on CuPy
                t.data[...] = value.astype(t.dtype, copy=False)
        return self


class Sequential(Module):
    """Layers applied in order; indexable; children named "0", "1", … as in PyTorch."""

    def __init__(self, *layers):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: argument {i} is {type(layer).__name__}, not a Module")
            setattr(self, str(i), layer)

    def __getitem__(self, i):
        layers = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*layers[i])
        return layers[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, layer):
        setattr(self, str(len(self._modules)), layer)
        return self

    def forward(self, x):
        for layer in self._modules.values():
            x = layer(x)
        return x
