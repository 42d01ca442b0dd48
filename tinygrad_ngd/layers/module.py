"""Module and Sequential: parameters and buffers registered in definition order.

Parameter order is the order of assignment in ``__init__`` (Python dicts keep insertion
order), never a set or a hash, so FlatParameters' block order — the x = (x¹, …, x^B) of
[Yu et al. 2017, eq. (1)] — is the same in every process.  Names,
shapes and layouts follow PyTorch, so ``{k: v.numpy() for k, v in
torch_module.state_dict().items()}`` loads as is.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple

from .. import backend as B
from ..tensor import Tensor, grad_buffer

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
IncompatibleKeys.__doc__ = "What ``load_state_dict(strict=False)`` skipped (PyTorch's return value)."


class Parameter(Tensor):
    """A Tensor that a Module registers as a learnable parameter (requires_grad=True)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True, name=None):
        super().__init__(data, requires_grad=requires_grad, name=name)


def _check_attr_name(owner: str, name) -> None:
    if not isinstance(name, str) or not name or "." in name:
        raise ValueError(f"{owner}: attribute name {name!r} must be a non-empty string without '.'")


def _as_state_array(value):
    """A state_dict entry as an array (Tensor -> its data; lists/scalars -> host arrays)."""
    if isinstance(value, Tensor):
        return value.data
    if B.is_backend_array(value):
        return value
    return B.to_numpy(value)  # lists, scalars, NumPy scalars: a host array, moved when written


class Module:
    """Base class of layers: register Parameters, sub-Modules and buffers by assignment.

    ``self.weight = Parameter(...)`` registers a parameter, ``self.fc = Dense(...)`` a
    sub-module, ``self.register_buffer("running_mean", arr)`` a buffer (state that is
    saved but not learned).  Registration order is definition order.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_path", "")  # qualified name inside its parents (see _set_path)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call Module.__init__() before assigning attributes")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            # assigning to a buffer name updates the buffer (as PyTorch), it does not unregister it
            if value is not None and not isinstance(value, Tensor):
                value = Tensor(value)
            self._buffers[name] = value
            object.__setattr__(self, name, value)
            return
        for d in (self._parameters, self._modules, self._buffers):
            d.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
            value._set_path(f"{self._path}.{name}" if self._path else name)
        object.__setattr__(self, name, value)

    def _set_path(self, path: str) -> None:
        """Remember this module's qualified name ("0", "encoder.fc") for error messages;
        re-run for the whole subtree whenever it is attached to a parent."""
        object.__setattr__(self, "_path", path)
        for name, m in self._modules.items():
            if m is not None:
                m._set_path(f"{path}.{name}")

    def __delattr__(self, name):
        for d in (self._parameters, self._modules, self._buffers):
            d.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value) -> None:
        """A non-learnable state array (running statistics) saved in ``state_dict``."""
        _check_attr_name(f"{type(self).__name__}.register_buffer", name)
        if name in self._parameters or name in self._modules:
            raise ValueError(f"{type(self).__name__}.register_buffer: {name!r} is already a "
                             f"parameter or sub-module")
        if value is not None and not isinstance(value, Tensor):
            value = Tensor(value)
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    def register_parameter(self, name: str, value) -> None:
        """Register a Parameter (or None, keeping the slot empty) under ``name``."""
        _check_attr_name(f"{type(self).__name__}.register_parameter", name)
        if value is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
            return
        if not isinstance(value, Parameter):
            raise TypeError(f"{type(self).__name__}.register_parameter: {name!r} must be a "
                            f"Parameter, got {type(value).__name__}")
        setattr(self, name, value)

    def add_module(self, name: str, module) -> None:
        _check_attr_name(f"{type(self).__name__}.add_module", name)
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.add_module: {name!r} must be a Module, "
                            f"got {type(module).__name__}")
        setattr(self, name, module)

    # ------------------------------------------------------------ traversal
    def named_modules(self, prefix: str = "", _seen=None):
        """(qualified name, module) pairs, depth first in definition order; each module
        once (a module shared by two parents is listed under its first name)."""
        seen = set() if _seen is None else _seen
        if id(self) in seen:
            return
        seen.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(f"{prefix}.{name}" if prefix else name, seen)

    def modules(self):
        return [m for _, m in self.named_modules()]

    def children(self):
        return [m for m in self._modules.values() if m is not None]

    def named_children(self):
        return [(n, m) for n, m in self._modules.items() if m is not None]

    def _named_members(self, kind: str, dedupe: bool, prefix: str = ""):
        """Parameters or buffers with qualified names.  ``dedupe`` lists a shared tensor
        once (for optimizers); without it every name appears (for state_dict)."""
        out, seen = [], set()

        def walk(m, prefix):
            for name, t in getattr(m, kind).items():
                if t is None or (dedupe and id(t) in seen):
                    continue
                seen.add(id(t))
                out.append((f"{prefix}.{name}" if prefix else name, t))
            for name, child in m._modules.items():
                if child is not None:
                    walk(child, f"{prefix}.{name}" if prefix else name)

        walk(self, prefix)
        return out

    def named_parameters(self, prefix: str = ""):
        """(name, Parameter) in definition order, PyTorch's names ("0.weight", "fc.bias");
        a parameter shared by two layers is listed once."""
        return self._named_members("_parameters", dedupe=True, prefix=prefix)

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = ""):
        return self._named_members("_buffers", dedupe=True, prefix=prefix)

    def buffers(self):
        return [b for _, b in self.named_buffers()]

    # ------------------------------------------------------------ modes and calling
    def train(self, mode: bool = True):
        """Training mode (dropout active, batch-norm uses batch statistics); returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode: ``train(False)``; returns self."""
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None
            buf = grad_buffer(p)
            if buf is not None:             # a FlatParameters slice: zero it in place
                buf[...] = 0

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def layer_name(self) -> str:
        """How error messages name this layer: its class and, once known, its path."""
        path = self.__dict__.get("_path")
        return f"{type(self).__name__} {path!r}" if path else type(self).__name__

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return "\n".join(lines) + (")" if len(lines) == 1 else "\n)")

    # ------------------------------------------------------------ state
    def _state_targets(self) -> dict:
        """name -> Tensor for every parameter and buffer, in PyTorch's state_dict order
        (per module: parameters, then buffers); shared tensors appear under every name."""
        out = {}

        def walk(m, prefix):
            for name, t in list(m._parameters.items()) + list(m._buffers.items()):
                if t is not None:
                    out[f"{prefix}.{name}" if prefix else name] = t
            for name, child in m._modules.items():
                if child is not None:
                    walk(child, f"{prefix}.{name}" if prefix else name)

        walk(self, "")
        return out

    def state_dict(self) -> dict:
        """Parameters and buffers by PyTorch's names; values are backend arrays (copies, so
        later training does not change a saved dict)."""
        return {k: t.data.copy() for k, t in self._state_targets().items()}

    def check_state_dict(self, state, strict: bool = True) -> dict:
        """Validate ``state`` against this module without changing anything.

        Returns {name: array} of the entries that would be loaded; raises one ValueError
        listing every missing key, unexpected key (when ``strict``) and wrong shape, with
        the expected and found shapes.
        """
        if not hasattr(state, "keys"):
            raise TypeError(f"{type(self).__name__}.load_state_dict: expected a dict of arrays, "
                            f"got {type(state).__name__}")
        targets = self._state_targets()
        problems, values = [], {}
        if strict:
            problems += [f"missing key {k!r} (expected shape {tuple(t.shape)})"
                         for k, t in targets.items() if k not in state]
            problems += [f"unexpected key {k!r} (found shape {tuple(getattr(state[k], 'shape', ()))})"
                         for k in state if k not in targets]
        for k, t in targets.items():
            if k not in state:
                continue
            v = _as_state_array(state[k])
            if v.dtype.kind not in "biuf":
                problems.append(f"key {k!r}: expected a numeric array of shape {tuple(t.shape)}, "
                                f"found dtype {v.dtype}")
            elif tuple(v.shape) != tuple(t.shape):
                problems.append(f"key {k!r}: expected shape {tuple(t.shape)}, found {tuple(v.shape)}")
            else:
                values[k] = v
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: {len(problems)} problem(s), "
                             f"nothing was loaded: " + "; ".join(problems))
        return values

    def load_state_dict(self, state: dict, strict: bool = True):
        """Copy arrays into parameters and buffers in place.

        In place means views into FlatParameters stay views, so loading writes through to
        ``params.data``.  Everything is validated first (:meth:`check_state_dict`): a
        missing/unexpected key (strict) or a wrong shape raises one error listing every
        offending key, and nothing is changed.  Returns PyTorch's
        ``IncompatibleKeys(missing_keys, unexpected_keys)``.
        """
        if not isinstance(strict, bool):
            raise TypeError(f"{type(self).__name__}.load_state_dict: strict must be True or False, "
                            f"got {strict!r}")
        values = self.check_state_dict(state, strict)
        targets = self._state_targets()
        for k, value in values.items():
            t = targets[k]
            if B.array_module(t.data) is not B.array_module(value) or not B.is_backend_array(value):
                value = B.asarray(value)  # explicit host -> device for NumPy dicts on CuPy
            t.data[...] = value.astype(t.dtype, copy=False)
        return IncompatibleKeys([k for k in targets if k not in state],
                                [k for k in state if k not in targets])


class Sequential(Module):
    """Layers applied in order; indexable; children named "0", "1", … as in PyTorch.

    ``Sequential(a, b, c)`` or ``Sequential(OrderedDict(name=layer, ...))``.
    """

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (dict, OrderedDict)):
            items = list(layers[0].items())
        else:
            items = [(str(i), layer) for i, layer in enumerate(layers)]
        for name, layer in items:
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layer {name!r} is {type(layer).__name__}, not a Module")
            self.add_module(name, layer)

    def __getitem__(self, i):
        items = list(self._modules.items())
        if isinstance(i, slice):
            return Sequential(OrderedDict(items[i]))  # keeps the names, as PyTorch
        if not isinstance(i, int):
            raise TypeError(f"Sequential indices must be integers or slices, not {type(i).__name__}")
        if not -len(items) <= i < len(items):
            raise IndexError(f"Sequential index {i} out of range for {len(items)} layers")
        return items[i][1]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.values()))

    def append(self, layer):
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(layer).__name__}")
        self.add_module(str(len(self._modules)), layer)
        return self

    def forward(self, x):
        for layer in self._modules.values():
            x = layer(x)
        return x
