"""Transfer budgets on the CuPy path, counted by cupy-emulated (every host <-> device copy,
implicit ones such as ``float(a)`` included).  A GPU step that syncs with the host stalls
the device, so the number of syncs per step is part of an optimizer's contract:

* a first-order step (``opt.step()`` with the gradient already in ``params.grad``):
  exactly one device -> host copy, the non-finite-gradient guard of ``Optimizer.step``
  (``bool(isfinite(g·g))``: whether to raise or skip is decided on the host), and no
  host -> device copy;
* a training step of the main job's MLP with Adam (``training.train_step``): that guard,
  ``cross_entropy``'s label-range check (one copy of (min, max): an out-of-range label must
  raise, not index out of bounds on the device) and the logged loss — three;
* methods that need a host scalar by their algorithm, pinned per step on a fixed problem:
  SGD-BB's step size (once per epoch: ``steps_per_epoch`` steps), Newton-CG's CG residual
  test and Armijo line search.
"""

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import functional as F
from tinygrad_ngd import layers as L
from tinygrad_ngd import optimizers as O
from tinygrad_ngd import training
from tinygrad_ngd.compare import deep_sigmoid_mlp


@pytest.fixture(autouse=True)
def _emulated():
    tg.set_backend("cupy-emulated")
    tg.set_default_dtype("float64")
    yield
    tg.set_backend("numpy")


def _problem():
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((32, 6)))       # host -> device here, outside the steps
    y = tg.Tensor(rng.integers(0, 3, 32))
    tg.manual_seed(0)
    model = L.Sequential(L.Dense(6, 8), L.Sigmoid(), L.Dense(8, 3))
    return model, tg.FlatParameters(model), x, y


FIRST_ORDER = {
    "SGD": lambda p: O.SGD(p, lr=0.1, momentum=0.9),
    "SGDHistory": lambda p: O.SGDHistory(p, lr=0.1),
    "Rprop": lambda p: O.Rprop(p, lr=0.01),
    "DeltaBarDelta": lambda p: O.DeltaBarDelta(p, lr=0.01),
    "Adagrad": lambda p: O.Adagrad(p, lr=0.01),
    "RMSprop": lambda p: O.RMSprop(p, lr=0.01),
    "Adadelta": lambda p: O.Adadelta(p, lr=1.0),
    "Adam": lambda p: O.Adam(p, lr=1e-3),
    "AdamW": lambda p: O.AdamW(p, lr=1e-3),
    "Adamax": lambda p: O.Adamax(p, lr=1e-3),
    "ASGD": lambda p: O.ASGD(p, lr=0.01),
    "NGD": lambda p: O.NGD(p, lr=0.01),
    "AdaptiveNGD": lambda p: O.AdaptiveNGD(p, lr=0.01, beta=0.01),
    "AdaGradBNG": lambda p: O.AdaGradBNG(p, lr=0.01),
    "BlockNormalized(Adam)": lambda p: O.BlockNormalized(O.Adam(p, lr=1e-3)),
    "NGAdap(SGD)": lambda p: O.NGAdap(O.SGD(p, lr=0.1, momentum=0.9)),
}


@pytest.mark.parametrize("name", list(FIRST_ORDER))
def test_first_order_step_syncs_once_for_the_finite_guard(name):
    model, params, x, y = _problem()
    opt = FIRST_ORDER[name](params)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        with B.count_transfers() as c:
            opt.step()
        assert (c.device_to_host, c.host_to_device) == (1, 0), f"{name}: {c}"


def test_mlp_adam_training_step_syncs_for_guard_label_check_and_logged_loss():
    rng = np.random.default_rng(1)
    x = tg.Tensor(rng.random((100, 784)))
    y = tg.Tensor(rng.integers(0, 10, 100))
    tg.manual_seed(0)
    model = deep_sigmoid_mlp(784, 10, depth=4)
    opt = O.Adam(tg.FlatParameters(model), lr=1e-3)
    for _ in range(2):
        with B.count_transfers() as c:
            loss = training.train_step(model, opt, F.cross_entropy, x, y)
        assert isinstance(loss, float)
        assert (c.device_to_host, c.host_to_device) == (3, 0), c


def test_sgd_bb_syncs_once_per_epoch_for_its_step_size():
    """[Soto] SGD-BB: the Barzilai-Borwein step η_k is a host scalar computed once per epoch."""
    model, params, x, y = _problem()
    m = 4
    opt = O.SGDBB(params, lr=0.01, steps_per_epoch=m)
    counts = []
    for _ in range(3 * m):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        with B.count_transfers() as c:
            opt.step()
        counts.append((c.device_to_host, c.host_to_device))
    assert counts == PINNED_SGDBB, counts


def test_newton_cg_syncs_are_pinned():
    """Newton-CG: CG's residual test and the Armijo line search need host scalars; per step
    on this fixed problem the count is pinned (a change must be deliberate)."""
    model, params, x, y = _problem()
    opt = O.NewtonCG(params, lr=1.0, damping=1e-2, cg_maxiter=5)

    def closure():
        return F.cross_entropy(model(x), y)

    counts = []
    for _ in range(2):
        with B.count_transfers() as c:
            opt.step(closure=closure)
        counts.append((c.device_to_host, c.host_to_device))
    assert counts == PINNED_NEWTON_CG, counts


# epochs of 4 steps: the guard every step, plus B.item(s·y) and B.item(s·s) when the
# step size η is recomputed at the end of the second epoch (the first BB step needs two epochs)
PINNED_SGDBB = [(1, 0)] * 8 + [(3, 0)] + [(1, 0)] * 3
# per step: one per CG iteration (the residual test ‖r‖ ≤ tol), the Armijo tests of the line
# search, the guard; no host -> device copy (scalar constants are filled on the device)
PINNED_NEWTON_CG = [(15, 0), (20, 0)]
