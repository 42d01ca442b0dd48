"""Gradient norms and block normalization: the ‖·‖ of normalized gradient descent.

[Kolasiński 2018, §2] divides the gradient G by "some general
normalization function" ‖G‖ and lists four; [Yu et al. 2017, §3],
Algorithm 1, applies the L2 one to each block (layer) x^i of the parameters:

* ``"linf"``  ‖G‖∞  = max_v |G_v|                    (largest coordinate step = λ)
* ``"l2"``    ‖G‖₂  = sqrt(Σ_v G_v²)                  (step length = λ)
* ``"rms"``   ‖G‖₂/√N = sqrt((1/N) Σ_v G_v²)          ([Kolasiński 2018]'s fix of L2's 1/√N shrink)
* ``"std"``   sqrt((1/N) Σ_v (G_v − Ḡ)²),  Ḡ = (1/N) Σ_v G_v

Two rules hold everywhere here:

* a block whose norm is 0 (a zero gradient, or for ``"std"`` a constant one) gets a
  zero direction, never 0/0 = NaN: there is no direction to normalize;
* the L2 family is computed as m·‖G/m‖₂ with m = ‖G‖∞, so squares neither underflow
  (vanishing gradients of deep sigmoid nets reach 1e-20 in float32) nor overflow.

No ε is added to a norm: G/‖G‖ is then exactly invariant to scaling the loss by c > 0
(up to round-off), the property that defines the normalized methods.
"""

from __future__ import annotations

from .. import backend as B
from .checks import check_norm, check_scope

#: the normalization functions of [Kolasiński 2018, §2]
NORMS = ("linf", "l2", "rms", "std")
#: where a norm is taken: each block ([Yu et al. 2017, Algorithm 1]) or the whole vector ([Kolasiński 2018, §2])
SCOPES = ("block", "global")


# ---------------------------------------------------------------- the four norms
def linf_norm(g):
    """‖G‖∞ = max_v |G_v| ([Kolasiński 2018, §2], first bullet); a 0-d backend array."""
    xp = B.array_module(g)
    return xp.max(xp.abs(g))


def l2_norm(g):
    """‖G‖₂ = sqrt(Σ_v G_v²) ([Kolasiński 2018, §2], second bullet), computed as m·‖G/m‖₂ with
    m = ‖G‖∞ so that tiny or huge gradients do not under/overflow when squared."""
    xp = B.array_module(g)
    m = linf_norm(g)
    safe_m = xp.where(m > 0, m, 1)          # G = 0: m·sqrt(0) = 0 without 0/0
    scaled = g / safe_m
    return m * xp.sqrt(xp.sum(scaled * scaled))


def rms_norm(g):
    """‖G‖₂/√N = sqrt((1/N) Σ_v G_v²): [Kolasiński 2018, §2]'s redefinition that stops a block of
    N equal gradients from taking a step √N times smaller than a scalar block."""
    xp = B.array_module(g)
    return l2_norm(g) / xp.sqrt(xp.asarray(g.size, dtype=g.dtype))


def std_norm(g):
    """sqrt((1/N) Σ_v (G_v − Ḡ)²), Ḡ = (1/N) Σ_v G_v ([Kolasiński 2018, §2], third bullet)."""
    xp = B.array_module(g)
    return rms_norm(g - xp.mean(g))


_NORM_FUNCTIONS = {"linf": linf_norm, "l2": l2_norm, "rms": rms_norm, "std": std_norm}


def vector_norm(g, norm: str = "l2"):
    """‖G‖ for one of :data:`NORMS` (a 0-d backend array: no host transfer)."""
    return _NORM_FUNCTIONS[check_norm(norm, "vector_norm")](g)


# ---------------------------------------------------------------- G / ‖G‖
def safe_divide(g, n):
    """G/n, and 0 where n == 0 (a zero block takes a zero step).  A NaN or infinite n
    is not masked: it propagates, so the optimizer's finiteness check reports the block."""
    xp = B.array_module(g, n)
    zero = n == 0
    return xp.where(zero, 0, g / xp.where(zero, 1, n)).astype(g.dtype, copy=False)


def normalize(g, norm: str = "l2"):
    """Ĝ = G/‖G‖ ([Kolasiński 2018, §3], the "normalized gradient"); zero when ‖G‖ = 0."""
    return safe_divide(g, vector_norm(g, norm))


def cosine(a, b):
    """aᵀb / (‖a‖₂‖b‖₂), the correlation of [Kolasiński 2018, §3.1]; 0 when either is zero
    (so Algorithm 1's start G^(−1) = 0 leaves λ unchanged).  Computed as âᵀb̂ of the
    L2-normalized vectors, which never squares a tiny gradient."""
    xp = B.array_module(a, b)
    return xp.sum(normalize(a, "l2") * normalize(b, "l2"))


# ---------------------------------------------------------------- blocks
def scope_slices(params, scope: str = "block") -> list:
    """The slices a norm is taken over: one per block of ``params`` ([Yu et al. 2017, §3],
    x = (x¹, …, x^B)) for ``"block"``, or the whole vector for ``"global"``."""
    check_scope(scope, "scope_slices")
    if scope == "global":
        return [slice(0, params.numel)]
    return [b.slice for b in params.blocks]


def normalize_blocks(g, slices, norm: str = "l2"):
    """g_t = (F′₁/‖F′₁‖, …, F′_B/‖F′_B‖): each slice of the flat gradient divided by its
    own norm ([Yu et al. 2017, Algorithm 1, line 3]).  Returns a new flat array."""
    check_norm(norm, "normalize_blocks")
    out = B.array_module(g).empty_like(g)
    for sl in slices:
        out[sl] = normalize(g[sl], norm)
    return out


def block_norm_vector(g, slices, norm: str = "l2"):
    """A flat array holding ‖g[sl]‖ on every coordinate of each slice (for step sizes that
    multiply a normalized gradient back by its norm, like [Yu et al. 2017]'s Algorithm 2)."""
    check_norm(norm, "block_norm_vector")
    xp = B.array_module(g)
    out = xp.empty_like(g)
    for sl in slices:
        out[sl] = vector_norm(g[sl], norm)
    return out


def block_norms(g, slices, norm: str = "l2") -> list:
    """‖g[sl]‖ for each slice as Python floats.  This leaves the device on purpose
    (B.item): it is for logging and plots, never for an update."""
    return [B.item(vector_norm(g[sl], norm)) for sl in slices]
