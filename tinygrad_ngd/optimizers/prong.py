"""PRONG: Projected Natural Gradient Descent (Desjardins et al. 2015, Natural Neural Networks).

[Misra, "PRONG: Projected Natural Gradient Descent"] and its
Algorithm 1.  Instead of inverting the Fisher matrix, reparametrize the network so its
Fisher is close to the identity — whiten every layer's input — and take plain gradient
steps in the new coordinates Ω = (Vᵢ, dᵢ) of hᵢ = fᵢ(Vᵢ Uᵢ₋₁(hᵢ₋₁ − cᵢ) + dᵢ)
(:class:`tinygrad_ngd.layers.WhitenedDense`).  Every T updates (amortizing the cost):

    for every whitened layer i:                                     Algorithm 1, lines 6-11
        (Wᵢ, bᵢ) = (Vᵢ Uᵢ₋₁, dᵢ − Wᵢ cᵢ)                 canonical parameters, P_Φ⁻¹(Ω)
        μᵢ, Σᵢ  ← mean and covariance of the layer's input on N_s samples
        cᵢ ← μᵢ;  Uᵢ₋₁ ← (Λ + εI)^(−½) Eᵀ  from  Σᵢ + εI = E (Λ + εI) Eᵀ     (PCA)
                   or  E (Λ + εI)^(−½) Eᵀ                                    (ZCA)
        Vᵢ ← Wᵢ Uᵢ₋₁⁻¹;  dᵢ ← bᵢ + Wᵢ cᵢ                  P_Φ(θ): the function is unchanged
    one base-optimizer update on Ω (plain SGD by default, Algorithm 1 line 13)

Two departures from the printed algorithm, both forced by the reparametrization itself:
line 7's b = d + W c and line 10's "cᵢ ← bᵢ − Vᵢ cᵢ" are typos for b = d − W c and
d ← b + W c (see :mod:`tinygrad_ngd.layers.whitened`).  And because re-whitening does not
change the function, every layer's input is the same before and after the others are
re-whitened, so one forward pass over the N_s samples serves all layers.

Schedule: Algorithm 1 re-whitens at the top of iteration t when t mod T = 0, before the
gradient of that iteration is taken.  Here the gradient is taken by the caller before
``step()``, so the re-whitening of iteration t is done at the end of step t − 1 (and,
for t = 0, in the constructor unless ``whiten_at_start=False``): each gradient is still
taken in the coordinates it is applied in.

Σ is the biased (1/N_s) sample covariance, so after re-whitening with ε = 0 the
whitened inputs U(h − c) of those very samples have mean 0 and covariance exactly I.
"""

from __future__ import annotations

import contextlib
import math
import time

from .. import backend as B
from ..flat import FlatParameters
from ..layers.whitened import whitened_layers
from ..tensor import Tensor, no_grad
from .base import Optimizer
from .checks import check_int
from .sgd import SGD
from .state_checks import check_count, require_keys
from .wrapper import GradientWrapper

WHITENINGS = ("pca", "zca")



def input_statistics(h):
    """(μ, Σ) of the rows of h (N_s, n): the mean and the biased covariance
    (1/N_s) Σₖ (hₖ − μ)(hₖ − μ)ᵀ (Algorithm 1, line 8)."""
    mu = h.mean(axis=0)
    centered = h - mu
    return mu, (centered.T @ centered) / h.shape[0]


def whitening_from_covariance(sigma, epsilon, kind="pca"):
    """(U, U⁻¹, λ) from the eigendecomposition Σ + εI = E diag(λ + ε) Eᵀ (line 9).

    PCA: U = diag(λ + ε)^(−½) Eᵀ, U⁻¹ = E diag(λ + ε)^(½) (rotate, then rescale);
    ZCA: U = E diag(λ + ε)^(−½) Eᵀ, U⁻¹ = E diag(λ + ε)^(½) Eᵀ (the symmetric whitening
    closest to the identity).  Both give U (Σ + εI) Uᵀ = I.  The inverse comes from the
    same factors, not from a numerical inverse.  λ (ascending) is returned for checks.
    """
    xp = B.array_module(sigma)
    lam, E = xp.linalg.eigh(sigma)
    scale = xp.sqrt(lam + epsilon)
    U = (E / scale).T                  # diag(λ+ε)^(−½) Eᵀ
    U_inv = E * scale                  # E diag(λ+ε)^(½)
    if kind == "zca":
        U = E @ U
        U_inv = U_inv @ E.T
    return U, U_inv, lam


class PRONG(GradientWrapper):
    """PRONG(params, lr=None, T=100, n_samples=1000, epsilon=1e-3, samples=None,
    whitening="pca", base=None, whiten_at_start=True, skip_nonfinite=False)

    ``params``: FlatParameters of a model that has WhitenedDense layers (build the model,
    call ``L.whiten(model)``, then ``FlatParameters(model)``).  Arguments → Algorithm 1:
      T           reparametrization period T (an integer ≥ 1)
      n_samples   N_s, the number of samples for μ and Σ
      epsilon     ε ≥ 0, added to Σ's eigenvalues (ε = 0 needs a full-rank Σ)
      samples     the training inputs 𝒟 to draw N_s rows from (host or backend array,
                  without replacement, from ``tg.manual_seed``'s generator), or a callable
                  returning a batch of inputs
      whitening   "pca" (the note's) or "zca"
      base        the optimizer of line 13 on the same ``params`` (default
                  ``SGD(params, lr, skip_nonfinite=skip_nonfinite)``; with ``base=`` give
                  lr and skip_nonfinite to the base)

    PRONG is a composition, like the gradient wrappers: the base optimizer makes every
    update on Ω and keeps all the optimizer state; PRONG adds the re-whitening.  ``lr``,
    ``step_count``, ``skipped_steps`` and ``state`` are the base's, so a learning-rate
    schedule given PRONG schedules the base.  ``step(grad=None, closure=None)`` makes one
    base update and then, when T updates have passed, re-whitens.  :meth:`reparametrize`
    is the public re-whitening hook (Algorithm 1 lines 6-11): ``step`` calls it every T
    updates; a custom loop may call it at any other time.  ``n_reparametrizations`` and
    ``reparametrization_seconds`` count that work.  The base optimizer's state (momentum
    buffers, ...) is kept across a re-whitening, in the new coordinates unchanged.

    On a device backend a step makes 0 device→host transfers (the base optimizer's gradient
    check is deferred); a re-whitening (every T updates) adds one host→device copy (the
    sample rows, drawn on the host), one device→host transfer (the finiteness test of all
    layers' inputs, before anything changes) and, with ``epsilon=0``, 2 device→host
    transfers per whitened layer (λ_min and λ_max for the rank test).
    """

    def __init__(self, params, lr=None, T=100, n_samples=1000, epsilon=1e-3, samples=None,
                 whitening="pca", base=None, whiten_at_start=True, skip_nonfinite=False):
        if not isinstance(params, FlatParameters):
            raise TypeError(f"PRONG: params must be a FlatParameters, got {type(params).__name__}")
        check_int("T (the reparametrization period)", T, 1)
        check_int("n_samples (N_s)", n_samples, 1)
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not math.isfinite(epsilon) \
                or epsilon < 0:
            raise ValueError(f"PRONG: epsilon (ε, the eigenvalue regularizer) must be a finite number "
                             f">= 0, got {epsilon!r}")
        if whitening not in WHITENINGS:
            raise ValueError(f"PRONG: whitening must be one of {WHITENINGS}, got {whitening!r}")
        model = params.model
        layers = whitened_layers(model) if model is not None else []
        if not layers:
            raise ValueError("PRONG: the model has no WhitenedDense layer to re-whiten. Convert its "
                             "Dense layers first: model = tinygrad_ngd.layers.whiten(model); then "
                             "params = FlatParameters(model) and PRONG(params, ...)")
        if epsilon == 0:
            narrow = [(n, m.in_features) for n, m in layers if n_samples <= m.in_features]
            if narrow:
                raise ValueError(f"PRONG: with epsilon=0, n_samples={n_samples} cannot give a full-rank "
                                 f"input covariance Σ for layer(s) {narrow} (name, width): N_s centred "
                                 f"samples span at most N_s − 1 dimensions, so Σ is singular and "
                                 f"Σ^(−½) does not exist. Use n_samples > width or epsilon > 0")
        if samples is None:
            raise ValueError("PRONG: samples= is required (the training inputs to estimate each "
                             "layer's input mean and covariance from, or a callable returning a batch)")
        if not callable(samples) and len(getattr(samples, "shape", ())) < 1:
            raise TypeError(f"PRONG: samples must be an array of inputs (one row per example) or a "
                            f"callable returning a batch, got {type(samples).__name__}")
        if not callable(samples) and getattr(samples, "shape", (0,))[0] < n_samples:
            raise ValueError(f"PRONG: samples has {getattr(samples, 'shape', (0,))[0]} rows, fewer than "
                             f"n_samples={n_samples}")
        if base is None:
            if lr is None:
                raise ValueError("PRONG: give lr (for the default SGD base optimizer) or base=")
            base = SGD(params, lr=lr, skip_nonfinite=skip_nonfinite)
        elif not isinstance(base, Optimizer) or base.params is not params:
            raise ValueError("PRONG: base must be an Optimizer built on the same FlatParameters")
        elif lr is not None or skip_nonfinite:
            raise ValueError("PRONG: give lr and skip_nonfinite to the base optimizer, not to PRONG, "
                             "when base= is set")
        super().__init__(base, params, T=T, n_samples=n_samples, epsilon=epsilon, whitening=whitening)
        self.layers = layers
        self.samples = samples
        self.t = 0                         # Algorithm 1's update counter
        self.n_reparametrizations = 0
        self.reparametrization_seconds = 0.0
        if whiten_at_start:
            self.reparametrize()           # t = 0: mod(t, T) = 0

    # ------------------------------------------------------------------ Algorithm 1
    def draw_samples(self):
        """N_s inputs from 𝒟 (line 8), on the backend in the parameters' dtype."""
        if callable(self.samples):
            x = self.samples()
        else:
            rows = B.host_rng().choice(self.samples.shape[0], self.hyper["n_samples"], replace=False)
            x = self.samples[B.asarray(rows) if B.is_placed(self.samples) else rows]
        x = x.data if isinstance(x, Tensor) else x
        if not B.is_placed(x):
            x = B.asarray(x)  # host -> device once per reparametrization
        return x.astype(self.params.dtype, copy=False)

    def layer_inputs(self, x) -> list:
        """Each whitened layer's input h on the samples x, from one forward pass."""
        with contextlib.ExitStack() as stack:
            records = [stack.enter_context(layer.recording()) for _, layer in self.layers]
            with no_grad():
                self.params.model(Tensor(x))
        unused = [name for (name, _), rec in zip(self.layers, records) if not rec]
        if unused:
            raise ValueError(f"PRONG: whitened layer(s) {unused} saw no input in the model's forward "
                             f"pass, so their input statistics cannot be estimated")
        xp = B.array_module(x)
        return [rec[0] if len(rec) == 1 else xp.concatenate(rec) for rec in records]

    def new_whitening(self, name, layer, h):
        """(U, U⁻¹, c) for one layer from its input h (lines 8-9), refusing a singular Σ at ε = 0."""
        eps = self.hyper["epsilon"]
        mu, sigma = input_statistics(h)
        U, U_inv, lam = whitening_from_covariance(sigma, eps, self.hyper["whitening"])
        if eps == 0:
            # one host transfer per layer per reparametrization: the refusal is control flow
            lam_min, lam_max = B.item(lam[0]), B.item(lam[-1])
            tiny = lam_max * layer.in_features * float(B.xp().finfo(lam.dtype).eps)
            if not lam_min > tiny:
                raise ValueError(f"PRONG: layer {name!r}: the covariance Σ of its input on {h.shape[0]} "
                                 f"samples is rank-deficient (eigenvalues from {lam_min:.3g} to "
                                 f"{lam_max:.3g}), so Σ^(−½) does not exist (e.g. input features that "
                                 f"never vary, such as MNIST's border pixels). Use epsilon > 0 "
                                 f"(whitening Σ + εI) or other samples; nothing was changed")
        return U, U_inv, mu

    def _check_finite_inputs(self, inputs) -> None:
        """Refuse non-finite layer inputs before any layer is re-whitened (eigh of a NaN Σ
        fails inside NumPy, or goes NaN on a GPU).  One device→host transfer per
        re-whitening for all layers together: the refusal is control flow, so it cannot be
        deferred to the next synchronization like the gradient check."""
        xp = B.array_module(*inputs)
        finite = B.to_numpy(xp.stack([xp.isfinite(h).all() for h in inputs]))
        bad = [name for (name, _), ok in zip(self.layers, finite) if not ok]
        if bad:
            also = f" (and layers {bad[1:]})" if len(bad) > 1 else ""
            raise FloatingPointError(
                f"PRONG: layer {bad[0]!r}: its input on the N_s samples{also} holds non-finite values "
                f"(non-finite samples= or parameters), so μ and Σ cannot be estimated; "
                f"nothing was re-whitened")

    def reparametrize(self) -> None:
        """Re-whiten now: lines 6-11 for every whitened layer; the network's function is
        unchanged.  :meth:`step` calls this every T updates [Desjardins et al. 2015, Alg. 1].

        All new whitenings are computed before any is installed, so a refused layer
        leaves the model as it was."""
        start = time.perf_counter()
        inputs = self.layer_inputs(self.draw_samples())
        self._check_finite_inputs(inputs)
        new = [self.new_whitening(name, layer, h) for (name, layer), h in zip(self.layers, inputs)]
        for (_, layer), (U, U_inv, c) in zip(self.layers, new):
            layer.set_whitening(U, c, U_inv)     # V ← W U⁻¹, d ← b + W c, in place
        self.n_reparametrizations += 1
        self.reparametrization_seconds += time.perf_counter() - start

    def transform(self, g):
        """The update direction on Ω is the plain gradient in the whitened coordinates (line 13)."""
        return g

    def step(self, grad=None, closure=None):
        """One base update on Ω (line 13), then t ← t + 1 and, if mod(t, T) = 0, lines 6-11."""
        before = self.base.step_count
        loss = super().step(grad=grad, closure=closure)
        if self.base.step_count == before:      # a skipped (non-finite) step is no update
            return loss
        self.t += 1
        if self.t % self.hyper["T"] == 0:
            self.reparametrize()
        return loss

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """The base optimizer's state and PRONG's counters (U and c are the model's buffers)."""
        return {**super().state_dict(), "t": self.t, "n_reparametrizations": self.n_reparametrizations}

    def _constructor_argument(self):
        return None          # PRONG's constructor whitens the model: no throwaway instance

    def check_state_dict(self, state) -> None:
        super().check_state_dict(state)
        require_keys(self, state, ("t",))
        check_count(self, "t", state["t"])
        check_count(self, "n_reparametrizations", state.get("n_reparametrizations", 0))
        h = state["hyper"]
        check_int("T (the reparametrization period)", h["T"], 1)
        check_int("n_samples (N_s)", h["n_samples"], 1)
        if h["epsilon"] < 0:
            raise ValueError(f"PRONG.load_state_dict: epsilon must be >= 0, got {h['epsilon']!r}")

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.t = int(state["t"])
        self.n_reparametrizations = int(state.get("n_reparametrizations", 0))


__all__ = ["PRONG", "input_statistics", "whitening_from_covariance"]
