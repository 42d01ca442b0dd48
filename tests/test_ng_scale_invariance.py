"""Scale invariance: the defining property of normalized gradients ([Kolasiński 2018, §1–2]).

Multiplying the loss by c > 0 multiplies every gradient by c; G/‖G‖ does not see it, so
every NG trajectory is unchanged (to round-off), while the plain method's changes.
"""

import numpy as np
import pytest

from tinygrad_ngd import backend as B
from tinygrad_ngd import optimizers as O
from tinygrad_ngd.flat import FlatParameters
from tinygrad_ngd.optimizers.norms import NORMS

SIZES = [4, 1, 7]
N = sum(SIZES)
SCALES = [2.0 ** 10, 3.7, 1e-4, 1e5]


def grad_of_scaled_loss(theta, c):
    """∇(c·L) for L(θ) = Σ log cosh(θ − a) + 0.1 Σ θ⁴/4 (smooth, non-quadratic)."""
    a = np.linspace(-1.0, 2.0, theta.size)
    return c * (np.tanh(theta - a) + 0.1 * theta ** 3)


def trajectory(make, c, steps=40):
    p = FlatParameters.from_array(np.linspace(-2.0, 1.5, N), block_sizes=SIZES)
    opt = make(p)
    path = []
    for _ in range(steps):
        opt.step(grad=grad_of_scaled_loss(B.to_numpy(p.data), c))  # host gradient, moved by step()
        path.append(B.to_numpy(p.data).copy())
    return np.array(path)


NG_METHODS = {
    **{f"NGD-{n}-{s}": (lambda p, n=n, s=s: O.NGD(p, 0.05, norm=n, scope=s))
       for n in NORMS for s in ("block", "global")},
    "NGD-momentum": lambda p: O.NGD(p, 0.05, norm="l2", momentum=0.9),
    "AdaptiveNGD": lambda p: O.AdaptiveNGD(p, 0.05, beta=0.3),
    "AdaptiveNGD-momentum": lambda p: O.AdaptiveNGD(p, 0.05, beta=0.3, momentum=0.9, norm="linf"),
    "AdaptiveNGD-adaptive-momentum": lambda p: O.AdaptiveNGD(p, 0.05, beta=0.3, momentum=0.5,
                                                             adaptive_momentum=True),
    "SGDNG": lambda p: O.BlockNormalized(O.SGD(p, lr=0.05)),
    "SGDMNG": lambda p: O.BlockNormalized(O.SGD(p, lr=0.05, momentum=0.9)),
    "AdaGradNG": lambda p: O.BlockNormalized(O.Adagrad(p, lr=0.05)),
    "AdamNG": lambda p: O.BlockNormalized(O.Adam(p, lr=0.05)),
    "RMSpropNG": lambda p: O.BlockNormalized(O.RMSprop(p, lr=0.01)),
    "SGDMNG_adap": lambda p: O.NGAdap(O.SGD(p, lr=0.5, momentum=0.9), alpha=0.02),
}


@pytest.mark.parametrize("name", sorted(NG_METHODS))
def test_ng_trajectory_is_unchanged_by_scaling_the_loss(name):
    make = NG_METHODS[name]
    base = trajectory(make, 1.0)
    assert np.ptp(base[:, 0]) > 1e-3                       # it does move
    for c in SCALES:
        np.testing.assert_allclose(trajectory(make, c), base, rtol=1e-11, atol=1e-13,
                                   err_msg=f"{name}, loss × {c}")


@pytest.mark.parametrize("name,make", [
    ("SGD", lambda p: O.SGD(p, lr=0.05)),
    ("SGDM", lambda p: O.SGD(p, lr=0.05, momentum=0.9)),
    # [Yu et al. 2017, Algorithm 2] multiplies g_t back by ‖F′_i‖ in τ_t: not scale invariant
    ("AdaGradBNG", lambda p: O.AdaGradBNG(p, lr=0.05, delta=1e-8)),
    # [Kolasiński 2018, §3]'s additive λ update uses the raw Gᵀ: not scale invariant
    ("AdaptiveNGD-additive", lambda p: O.AdaptiveNGD(p, 0.05, beta=0.3, form="additive")),
])
def test_plain_and_unnormalized_trajectories_change(name, make):
    base = trajectory(make, 1.0)
    assert not np.allclose(trajectory(make, 3.7), base, rtol=1e-6)
