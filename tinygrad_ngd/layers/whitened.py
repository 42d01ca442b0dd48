"""WhitenedDense: the PRONG reparametrization of a dense layer (Natural Neural Networks).

[Misra, "Reparametrization"] (Desjardins, Simonyan, Pascanu,
Kavukcuoglu 2015):

    hᵢ = fᵢ(Vᵢ Uᵢ₋₁ (hᵢ₋₁ − cᵢ) + dᵢ)

Each layer holds the *learned* parameters Ω = (Vᵢ, dᵢ) and the *estimated* whitening
(Uᵢ₋₁, cᵢ) of its input hᵢ₋₁: cᵢ a mean to subtract, Uᵢ₋₁ a whitening matrix.  Gradient
steps act on Ω only; (U, c) are buffers that the PRONG driver
(:class:`tinygrad_ngd.optimizers.PRONG`) re-estimates every T updates.  The layer is a
plain affine map of its input, with canonical parameters (expanding the formula)

    W = V U,        b = d − V U c = d − W c,

so ``y = (x − c) Uᵀ Vᵀ + d = x Wᵀ + b`` in this project's row convention (PyTorch's
layout: V is (out, in), like Dense.weight).  The note's Algorithm 1 line 7 prints
b = d + W c; that sign contradicts the reparametrization above (put h = c: the
pre-activation must be d, and W c + b = d only with b = d − W c), so the code follows
the formula, not the typo.

:func:`whiten` turns the Dense layers of a model into WhitenedDense with U = I, c = 0,
V = W, d = b: the identity whitening of Algorithm 1 line 3, so the function is unchanged.
"""

from __future__ import annotations

import contextlib

from .. import backend as B
from .. import functional as F
from ..tensor import Tensor, no_grad
from .dense import Dense, check_input_features
from .module import Module, Parameter


class WhitenedDense(Module):
    """y = V U (x − c) + d for rows x (…, in_features): learned V (out, in) and d (out,),
    buffers U (in, in) and c (in,).

    ``WhitenedDense(in_features, out_features)`` initializes (V, d) like Dense (PyTorch's
    nn.Linear) and (U, c) = (I, 0); :meth:`from_dense` copies a Dense layer's (W, b).
    ``canonical()`` returns (W, b) = (V U, d − W c); ``set_whitening(U, c, U_inv)``
    replaces the whitening while rewriting (V, d) in place so (W, b) — and the layer's
    function — stay the same.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None):
        super().__init__()
        if not bias:
            raise ValueError("WhitenedDense: bias=False is not supported: d absorbs the mean c "
                             "(d = b + W c), so the layer needs its bias")
        dense = Dense(in_features, out_features, bias=True, dtype=dtype)  # the same init as Dense
        self.in_features, self.out_features = in_features, out_features
        self.V = Parameter(dense.weight.data)
        self.d = Parameter(dense.bias.data)
        xp = B.array_module(self.V.data)
        self.register_buffer("U", Tensor(xp.eye(in_features, dtype=self.V.dtype)))
        self.register_buffer("c", Tensor(xp.zeros(in_features, dtype=self.V.dtype)))

    @classmethod
    def from_dense(cls, dense: Dense) -> "WhitenedDense":
        """The identity-whitened form of ``dense``: V = W, d = b, U = I, c = 0 (copies)."""
        if not isinstance(dense, Dense):
            raise TypeError(f"WhitenedDense.from_dense: expected a Dense layer, got {type(dense).__name__}")
        layer = cls.__new__(cls)
        Module.__init__(layer)
        layer.in_features, layer.out_features = dense.in_features, dense.out_features
        w = dense.weight.data
        xp = B.array_module(w)
        b = dense.bias.data if dense.bias is not None else xp.zeros(dense.out_features, dtype=w.dtype)
        layer.V = Parameter(w.copy())
        layer.d = Parameter(b.copy())
        layer.register_buffer("U", Tensor(xp.eye(dense.in_features, dtype=w.dtype)))
        layer.register_buffer("c", Tensor(xp.zeros(dense.in_features, dtype=w.dtype)))
        return layer

    # ------------------------------------------------------------------ forward
    _recorder = None   # a list while recording() is active (see there)

    @contextlib.contextmanager
    def recording(self):
        """Keep this layer's inputs while the block runs (PRONG's N_s-sample pass, Algorithm 1
        line 8): ``with layer.recording() as inputs: model(x)`` leaves in ``inputs`` one
        (rows, in_features) backend array per forward call.  The layer holds no reference
        to them afterwards; nesting on the same layer is refused."""
        if self._recorder is not None:
            raise RuntimeError(f"{self.layer_name()}.recording(): already recording")
        inputs = []
        self._recorder = inputs
        try:
            yield inputs
        finally:
            self._recorder = None

    def whitened_input(self, x: Tensor) -> Tensor:
        """x̃ = U (x − c) for every row: the whitened input the learned V acts on."""
        return F.linear(x - self.c, self.U)

    def forward(self, x):
        x = check_input_features(self, x)
        if self._recorder is not None:
            self._recorder.append(x.data.reshape(-1, self.in_features))
        return F.linear(self.whitened_input(x), self.V, self.d)   # V U (x − c) + d

    # ------------------------------------------------------------------ canonical form
    def canonical(self):
        """(W, b) = (V U, d − W c) as new backend arrays (Algorithm 1, line 7, P_Φ⁻¹(Ω))."""
        W = self.V.data @ self.U.data
        return W, self.d.data - W @ self.c.data

    def set_whitening(self, U, c, U_inv=None) -> None:
        """Install a new whitening (U, c) and rewrite (V, d) so the function is unchanged.

        Algorithm 1 line 10 (P_Φ(θ)): V ← W U⁻¹, d ← b + W c with (W, b) the canonical
        parameters before the change.  ``U_inv`` (U⁻¹, known in closed form from an
        eigendecomposition) avoids a numerical inverse.  Everything is written in place
        (``.data[...] = ...``) so views into FlatParameters stay views.
        """
        xp = B.array_module(self.V.data)
        n = self.in_features
        U, c, U_inv = (a if a is None or B.is_placed(a) else B.asarray(a) for a in (U, c, U_inv))  # host -> device
        if U.shape != (n, n) or c.shape != (n,):
            raise ValueError(f"{self.layer_name()}.set_whitening: U must be ({n}, {n}) and c ({n},), "
                             f"got {U.shape} and {c.shape}")
        if U_inv is None:
            U_inv = xp.linalg.inv(U)
        W, b = self.canonical()
        self.V.data[...] = W @ U_inv
        self.d.data[...] = b + W @ c
        self.U.data[...] = U
        self.c.data[...] = c

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


def whitened_layers(model) -> list:
    """The WhitenedDense layers of ``model`` as (qualified name, layer), in order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, WhitenedDense)]


def whiten(model: Module) -> Module:
    """Replace every Dense layer in ``model`` (recursively) by its identity-whitened
    WhitenedDense (U = I, c = 0, V = W, d = b), in place; returns ``model``.

    A bare Dense is returned as a new WhitenedDense.  The function is unchanged
    (Algorithm 1, line 3).  Build ``FlatParameters`` *after* this call: the learned
    parameters are now each layer's (V, d).
    """
    if isinstance(model, Dense):
        return WhitenedDense.from_dense(model)
    if not isinstance(model, Module):
        raise TypeError(f"whiten: expected a Module (e.g. a Sequential of Dense layers), "
                        f"got {type(model).__name__}")
    found = _replace_dense(model)
    if not found and not whitened_layers(model):
        raise ValueError(f"whiten: {type(model).__name__} has no Dense layer to whiten")
    return model


def _replace_dense(module: Module) -> int:
    count = 0
    for name, child in list(module._modules.items()):
        if isinstance(child, Dense):
            with no_grad():
                new = WhitenedDense.from_dense(child)
            # replace in place: setattr would pop and re-append the child, moving it to the
            # end of a Sequential's order
            module._modules[name] = new
            object.__setattr__(module, name, new)
            new._set_path(f"{module._path}.{name}" if module._path else name)
            count += 1
        elif child is not None:
            count += _replace_dense(child)
    return count


__all__ = ["WhitenedDense", "whiten", "whitened_layers"]
