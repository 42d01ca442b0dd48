"""NGD with the online steepest-descent learning rate: [Kolasiński 2018, Algorithm 1].

[Kolasiński 2018, §3] tunes λ by gradient descent on λ itself, using
∂L(θ^(k+1)(λ))/∂λ = −G^(k+1)ᵀ Ĝ^(k):

  additive form (§3):        λ^(k+1) = λ^(k) + β G^(k)ᵀ Ĝ^(k−1)
  multiplicative form (§3.1): λ^(k+1) = clip[λ^(k) (1 + β cos(G^(k), G^(k−1))), λmin, λmax]
                              with |β| < 1 and cos(a, b) = aᵀb / (‖a‖₂‖b‖₂)

Algorithm 1 (§4) keeps one λ_l per layer l, starts from G_l^(−1) = 0 (so λ does not
move at k = 0) and updates θ with λ^(k) *before* updating λ.  With momentum (§5) the
step uses V^(k)/‖V^(k)‖ but λ still adapts from the raw gradients G: the cosine of two
running averages is almost always positive, so λ computed from V would grow
exponentially (the note's warning).

§5 also says the momentum m^(k) "can be learned in similar fashion as learning rate"
but gives no formula.  ``adaptive_momentum=True`` applies the same derivation to m:
V^(k−1) = m^(k−1) V^(k−2) + G^(k−1), so ∂θ^(k)/∂m^(k−1) ∝ −V^(k−2) (dropping the
derivative of the norm, as §3.1 drops it for λ), hence

  m^(k+1) = clip[m^(k) (1 + β_m cos(G^(k), V^(k−2))), m_min, m_max].

§6 reports that the adaptive λ works in the deterministic (full-batch) setting but
decays monotonically in the stochastic one; tutorials/04_adaptive_ngd.py shows both.
"""

from __future__ import annotations

from .. import backend as B
from .base import Optimizer
from .checks import check_momentum, check_norm, check_number, check_positive, check_range, check_scope
from .ngd import velocity
from .norms import cosine, normalize, normalize_blocks, scope_slices

FORMS = ("multiplicative", "additive")


def lambda_update(lam, g, g_prev, *, form, beta, lr_min, lr_max, norm="l2"):
    """λ^(k+1) of one block from G^(k), G^(k−1) [Kolasiński 2018, §3, §3.1, Alg. 1] (a new array).

    multiplicative (§3.1, Alg. 1):  λ^(k+1) = clip[λ^(k)(1 + β cos(G^(k), G^(k−1))), λmin, λmax]
    additive (§3):                  λ^(k+1) = λ^(k) + β G^(k)ᵀ Ĝ^(k−1), clipped to [λmin, λmax]
    because λ may otherwise turn negative (the first problem §3.1 names).  G^(−1) = 0 gives
    cos = 0 and Ĝ = 0: λ does not move at k = 0.  The same rule adapts the momentum m with
    (G^(k), V^(k−2)) in place of (G^(k), G^(k−1)) (module docstring).
    """
    xp = B.array_module(lam)
    if form == "multiplicative":
        return xp.clip(lam * (1 + beta * cosine(g, g_prev)), lr_min, lr_max)       # §3.1
    return xp.clip(lam + beta * xp.sum(g * normalize(g_prev, norm)), lr_min, lr_max)  # §3


class AdaptiveNGD(Optimizer):
    """Normalized gradient descent with a per-block adaptive learning rate ([Kolasiński 2018],
    Algorithm 1; §3–§5).  The λ rule is :func:`lambda_update`; the step's velocity is
    :func:`.ngd.velocity`, the same function NGD uses.

    Arguments → the note's symbols:
      lr              λ_l^(0), initial learning rate (scalar or one per block), in [λmin, λmax]
      beta            β, the step of the λ update; |β| < 1 for the multiplicative form
      lr_min, lr_max  λmin, λmax (Algorithm 1's defaults 1e-6 and 0.1)
      norm            ‖·‖ of the step: "linf", "l2", "rms" or "std" (the cosine of the λ
                      update always uses L2, as §3.1 prescribes)
      scope           "block" (one λ per layer, Algorithm 1) or "global" (one λ)
      momentum        m^(0) of §5: V = mV + G, θ −= λ V/‖V‖ (λ still adapts from raw G)
      form            "multiplicative" (§3.1, Algorithm 1) or "additive" (§3)
      adaptive_momentum, momentum_beta, momentum_min, momentum_max
                      learn m per block as described in the module docstring (β_m, m_min, m_max)

    The current rates are in ``state["lambda"]`` (each block's λ on its coordinates);
    :meth:`block_lrs` returns them as floats for logging.  ``lr`` is only λ^(0): setting
    ``opt.lr`` later does not move the adapted λ, and the schedulers refuse AdaptiveNGD.
    """

    lr_schedulable = False      # λ adapts itself from λ^(0) = lr

    def __init__(self, params, lr, beta, lr_min=1e-6, lr_max=0.1, norm="l2", scope="block",
                 momentum=0.0, form="multiplicative", adaptive_momentum=False, momentum_beta=None,
                 momentum_min=0.0, momentum_max=0.99, skip_nonfinite=False):
        check_norm(norm, "AdaptiveNGD")
        check_scope(scope, "AdaptiveNGD")
        if form not in FORMS:
            raise ValueError(f"AdaptiveNGD: unknown form {form!r}; expected one of {FORMS}")
        check_number("beta", beta)
        if form == "multiplicative" and not -1 < beta < 1:
            raise ValueError(f"invalid beta: {beta!r} (the multiplicative form needs -1 < beta < 1 "
                             "so that 1 + beta*cos stays positive, [Kolasiński 2018, §3.1])")
        check_positive("lr_min", lr_min)
        check_positive("lr_max", lr_max)
        check_range("lr_min", lr_min, "lr_max", lr_max)
        check_momentum("momentum", momentum)
        momentum_beta = beta if momentum_beta is None else momentum_beta
        if adaptive_momentum:
            check_number("momentum_beta", momentum_beta)
            if not -1 < momentum_beta < 1:
                raise ValueError(f"invalid momentum_beta: {momentum_beta!r} (expected -1 < momentum_beta < 1)")
            check_momentum("momentum_min", momentum_min)
            check_momentum("momentum_max", momentum_max)
            check_range("momentum_min", momentum_min, "momentum_max", momentum_max)
            if not momentum_min <= momentum <= momentum_max or momentum == 0:
                raise ValueError(f"invalid momentum: {momentum!r} (adaptive_momentum needs an initial "
                                 f"momentum > 0 in [momentum_min, momentum_max] = "
                                 f"[{momentum_min}, {momentum_max}]; a multiplicative update never leaves 0)")
        super().__init__(params, lr, skip_nonfinite=skip_nonfinite, beta=beta, lr_min=lr_min,
                         lr_max=lr_max, norm=norm, scope=scope, momentum=momentum, form=form,
                         adaptive_momentum=bool(adaptive_momentum), momentum_beta=momentum_beta,
                         momentum_min=momentum_min, momentum_max=momentum_max)
        lrs = lr if isinstance(lr, (list, tuple)) else [lr]
        if any(not lr_min <= v <= lr_max for v in lrs):
            raise ValueError(f"invalid lr: {lr!r} (the initial λ must lie in [lr_min, lr_max] = "
                             f"[{lr_min}, {lr_max}])")
        if scope == "global" and isinstance(lr, (list, tuple)):
            raise ValueError("invalid lr: a per-block list needs scope='block' (scope='global' has one λ)")
        self.slices = scope_slices(params, scope)

    # ------------------------------------------------------------ state
    def _lambda(self):
        """λ_l on every coordinate of block l (created from ``lr`` = λ^(0) on first use)."""
        if "lambda" not in self.state:
            self.state["lambda"] = self.zeros_state("lambda") + self.lr_vector()
        return self.state["lambda"]

    def _momentum(self):
        """m_l on every coordinate of block l (adaptive momentum), from ``momentum`` = m^(0)."""
        return self.zeros_state("momentum_coef", fill=self.hyper["momentum"])

    def block_lrs(self) -> list:
        """The current λ_l of each scope block as floats (host transfer: for logging)."""
        lam = self._lambda()
        return [B.item(lam[sl.start]) for sl in self.slices]

    def block_momenta(self) -> list:
        """The current m_l of each scope block as floats (host transfer: for logging)."""
        m = self._momentum()
        return [B.item(m[sl.start]) for sl in self.slices]

    # ------------------------------------------------------------ the step
    def _update(self, g) -> None:
        """Algorithm 1 of [Kolasiński 2018] (not chunked: norms and cosines read whole blocks)."""
        h = self.hyper
        lam = self._lambda()                                       # λ_l^(k)
        g_prev = self.zeros_state("prev_grad")                     # G^(k−1), 0 at k = 0
        v_older = self.state.get("velocity_prev")                  # V^(k−2) (adaptive momentum)
        v_older = None if v_older is None else v_older.copy()
        d = g
        if h["momentum"]:                                          # §5: D = V^(k) = m V^(k−1) + G^(k)
            d = self.zeros_state("velocity")
            if h["adaptive_momentum"]:
                self.zeros_state("velocity_prev")[...] = d         # V^(k−1) becomes V^(k−2) next step
            velocity(d, g, self._momentum() if h["adaptive_momentum"] else h["momentum"])
        self.params.data -= lam * normalize_blocks(d, self.slices, h["norm"])  # θ −= λ^(k) D/‖D‖
        for sl in self.slices:                                     # λ^(k+1) from raw G, never V (§5)
            lam[sl] = lambda_update(lam[sl], g[sl], g_prev[sl], form=h["form"], beta=h["beta"],
                                    lr_min=h["lr_min"], lr_max=h["lr_max"], norm=h["norm"])
        if h["adaptive_momentum"] and v_older is not None:         # m^(k+1) from cos(G^(k), V^(k−2))
            m = self._momentum()
            for sl in self.slices:
                m[sl] = lambda_update(m[sl], g[sl], v_older[sl], form="multiplicative",
                                      beta=h["momentum_beta"], lr_min=h["momentum_min"],
                                      lr_max=h["momentum_max"])
        g_prev[...] = g                                            # G^(k−1) ← G^(k)
