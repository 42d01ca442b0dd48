"""Transfer budgets on the CuPy path, counted by cupy-emulated (every host <-> device copy,
implicit ones such as ``float(a)`` included).  A GPU step that syncs with the host stalls
the device, so the number of syncs per step is part of an optimizer's contract:

* a first-order step (``opt.step()`` with the gradient already in ``params.grad``): none.
  The non-finite-gradient check is deferred (``backend.check``, as CUDA reports
  device-side asserts): its flag stays on the device and travels with the next transfer
  (``backend.item`` / ``to_numpy`` / ``sync_checks``), which raises.  With
  ``skip_nonfinite=True`` one: whether to skip is decided on the host;
* a training step of the main job's MLP with Adam (``training.train_step``): one, the
  logged loss, fetched before the update together with the gradient check and
  ``cross_entropy``'s label-range check, so a refused batch changes nothing;
* methods that need a host scalar by their algorithm, pinned per step on a fixed problem
  (each class's docstring says the count): SGD-BB's step size (once per epoch),
  Newton-CG, Newton, ScaledConjugateGradient, HessianFree, NaturalGradient, PRONG.
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


def _problem(whitened=False):
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((32, 6)))       # host -> device here, outside the steps
    y = tg.Tensor(rng.integers(0, 3, 32))
    tg.manual_seed(0)
    dense = L.WhitenedDense if whitened else L.Dense
    model = L.Sequential(dense(6, 8), L.Sigmoid(), dense(8, 3))
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
    "ClipGradNorm(SGD)": lambda p: O.ClipGradNorm(O.SGD(p, lr=0.1), max_norm=1.0),
}


@pytest.mark.parametrize("name", list(FIRST_ORDER))
def test_first_order_step_makes_no_transfer(name):
    model, params, x, y = _problem()
    opt = FIRST_ORDER[name](params)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        with B.count_transfers() as c:
            opt.step()
        assert (c.device_to_host, c.host_to_device) == (0, 0), f"{name}: {c}"
    with B.count_transfers() as c:
        B.sync_checks()      # the deferred checks of the three steps: one flag, one transfer
    assert c.device_to_host == 1 and B.pending_checks() == 0


def test_first_order_optimizers_are_all_counted():
    """Every first-order class of tinygrad_ngd.optimizers (a closure that calls backward, or
    none) is in FIRST_ORDER, except SGD-BB and PRONG, pinned below: 17 classes."""
    first_order = {n for n, c in vars(O).items()
                   if isinstance(c, type) and issubclass(c, (O.Optimizer, O.GradientWrapper))
                   and c not in (O.Optimizer, O.GradientWrapper)
                   and getattr(c, "closure_contract", "backward") == "backward"} - {"SGDBB", "PRONG"}
    assert {name.split("(")[0] for name in FIRST_ORDER} == first_order
    assert len(first_order) == 17


@pytest.mark.parametrize("name", ["SGD", "Adam", "BlockNormalized(Adam)"])
def test_skip_nonfinite_decides_on_the_host_once_per_step(name):
    model, params, x, y = _problem()
    opt = FIRST_ORDER[name](params)
    base = getattr(opt, "base", opt)
    base.skip_nonfinite = True
    for _ in range(2):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        with B.count_transfers() as c:
            opt.step()
        assert (c.device_to_host, c.host_to_device) == (1, 0), f"{name}: {c}"
    theta = params.data.copy()
    params.grad[3] = np.nan
    with B.count_transfers() as c:
        opt.step()
    assert c.device_to_host == 1 and base.skipped_steps == 1 and base.step_count == 2
    assert bool((params.data == theta).all())


def _mlp_adam(skip_nonfinite=False):
    rng = np.random.default_rng(1)
    x = tg.Tensor(rng.random((100, 784)))
    y = tg.Tensor(rng.integers(0, 10, 100))
    tg.manual_seed(0)
    model = deep_sigmoid_mlp(784, 10, depth=4)
    return model, O.Adam(tg.FlatParameters(model), lr=1e-3, skip_nonfinite=skip_nonfinite), x, y


def test_mlp_adam_training_step_makes_one_transfer_the_logged_loss():
    model, opt, x, y = _mlp_adam()
    losses = []
    for _ in range(3):
        with B.count_transfers() as c:
            losses.append(training.train_step(model, opt, F.cross_entropy, x, y))
        assert isinstance(losses[-1], float)
        assert (c.device_to_host, c.host_to_device) == (1, 0), c
        assert B.pending_checks() == 0     # the checks travelled with the loss
    assert losses[2] < losses[0] and opt.step_count == 3


def test_mlp_adam_training_step_with_skip_nonfinite_makes_two_transfers():
    """skip_nonfinite=True: the step decides on the host (one), then the loss (one)."""
    model, opt, x, y = _mlp_adam(skip_nonfinite=True)
    with B.count_transfers() as c:
        training.train_step(model, opt, F.cross_entropy, x, y)
    assert (c.device_to_host, c.host_to_device) == (2, 0), c


def _nan_in_first_layer(model):
    """Make the gradient non-finite: a NaN weight makes the outputs (and the loss) NaN."""
    w = model.parameters()[0].data
    w[0, 0] = np.nan


def test_non_finite_gradient_raises_at_the_next_sync_with_the_documented_message():
    model, params, x, y = _problem()
    opt = O.Adam(params, lr=1e-3)
    for _ in range(2):   # finite steps 1-2
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    for _ in range(2):   # steps 3-4: non-finite gradients, applied before the sync reports them
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        params.grad[5] = np.inf
        with B.count_transfers() as c, np.errstate(invalid="ignore"):  # the emulator's NumPy warns
            opt.step()
        assert c.device_to_host == 0
    assert opt.step_count == 4
    with B.count_transfers() as c, pytest.raises(FloatingPointError) as info:
        B.item(params.data[0])
    assert c.device_to_host == 1
    msg = str(info.value)
    assert msg.startswith("Adam: non-finite gradient at step 3, reported at this synchronization")
    for phrase in ("deferred to the next host transfer", "CUDA", "may have been updated with "
                   "non-finite values", "sync_checks()", "skip_nonfinite=True"):
        assert phrase in msg, phrase
    assert B.pending_checks() == 0
    B.sync_checks()      # reported once: nothing left


def test_sync_checks_after_step_is_an_immediate_check():
    model, params, x, y = _problem()
    opt = O.SGD(params, lr=0.1)
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    params.grad[0] = np.nan
    opt.step()
    with B.count_transfers() as c, pytest.raises(FloatingPointError, match="at step 1,"):
        B.sync_checks()
    assert c.device_to_host == 1


def test_immediate_checks_mode_raises_in_step_naming_the_block():
    model, params, x, y = _problem()
    opt = O.SGD(params, lr=0.1)
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    params.grad[-1] = np.nan
    theta = params.data.copy()
    B.set_immediate_checks(True)
    try:
        with pytest.raises(FloatingPointError, match=r"step 1 in block\(s\) \['2'\]"):
            opt.step()
    finally:
        B.set_immediate_checks(False)
    assert bool((params.data == theta).all()) and opt.step_count == 0


def test_train_step_refuses_a_non_finite_gradient_before_the_parameters_change():
    model, opt, x, y = _mlp_adam()
    training.train_step(model, opt, F.cross_entropy, x, y)
    _nan_in_first_layer(model)
    theta = opt.params.data.copy()
    state = {k: v.copy() for k, v in opt.state.items()}
    with B.count_transfers() as c, pytest.raises(FloatingPointError, match="Adam: non-finite gradient at step 2,"):
        training.train_step(model, opt, F.cross_entropy, x, y)
    assert c.device_to_host == 1
    after = opt.params.data
    same = after == theta
    assert bool(same[1:].all()) and bool(B.xp().isnan(after[0]))   # θ untouched (its NaN kept)
    for k, v in state.items():
        assert bool((opt.state[k] == v).all()), k
    assert opt.step_count == 1 and B.pending_checks() == 0


def test_out_of_range_label_raises_at_the_next_sync_and_never_indexes_out_of_bounds():
    model, params, x, y = _problem()
    bad = tg.Tensor(np.array([0, 1, 2, 3] * 8))          # 3 is outside [0, 3)
    with B.count_transfers() as c:
        loss = F.cross_entropy(model(x), bad)              # no transfer, no out-of-bounds read
    assert c.device_to_host == 0 and B.pending_checks() == 1
    with pytest.raises(ValueError, match=r"cross_entropy: labels must lie in \[0, 3\), found one "
                                         r"outside that range, reported at this synchronization"):
        B.item(loss.data)
    neg = tg.Tensor(np.array([-1] + [0] * 31))
    F.cross_entropy(model(x), neg, reduction="none")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        B.sync_checks()


def test_train_step_refuses_an_out_of_range_label_before_the_parameters_change():
    model, opt, x, y = _mlp_adam()
    theta = opt.params.data.copy()
    bad = tg.Tensor(np.r_[np.zeros(99, dtype=np.int64), 10])
    with B.count_transfers() as c, pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        training.train_step(model, opt, F.cross_entropy, x, bad)
    assert c.device_to_host == 1
    assert bool((opt.params.data == theta).all()) and opt.step_count == 0


def test_failed_checks_of_one_site_share_one_flag_and_report_the_first_step():
    model, params, x, y = _problem()
    opt = O.SGD(params, lr=0.0)
    for k in range(50):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        if k in (6, 20):
            params.grad[0] = np.nan
        opt.step()
    assert B.pending_checks() == 2      # bounded: one flag per site (gradient, labels) for 50 steps
    with pytest.raises(FloatingPointError, match="non-finite gradient at step 7,"):
        B.sync_checks()


def test_numpy_backend_checks_immediately_and_pends_nothing():
    tg.set_backend("numpy")
    model, params, x, y = _problem()
    opt = O.Adam(params, lr=1e-3)
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    params.grad[0] = np.nan
    with pytest.raises(FloatingPointError, match=r"step 1 in block\(s\)"):
        opt.step()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), found \[0, 3\]"):
        F.cross_entropy(model(x), np.array([0, 3] * 16))
    assert B.pending_checks() == 0


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


# epochs of 4 steps: the step that recomputes η (first of the third epoch: the first BB step
# needs two epochs) fetches sᵀy and sᵀs; no other step syncs (the gradient checks are deferred)
PINNED_SGDBB = [(0, 0)] * 8 + [(2, 0)] + [(0, 0)] * 3
# per step: f(θ), ‖g‖, CG's 4 + 4k scalars (k = 1; then k = 2 ending at negative curvature:
# one more pᵀAp), gᵀd and one Armijo trial; no host -> device copy
PINNED_NEWTON_CG = [(12, 0), (17, 0)]


def _pinned(opt_factory, stepper, steps, whitened=False):
    model, params, x, y = _problem(whitened)
    opt = opt_factory(params, x)
    counts = []
    for _ in range(steps):
        with B.count_transfers() as c:
            stepper(opt, model, x, y)
        counts.append((c.device_to_host, c.host_to_device))
    return opt, counts


def _loss_closure(opt, model, x, y):
    opt.step(closure=lambda: F.cross_entropy(model(x), y))


def test_newton_transfers_are_pinned():
    """Newton: finiteness of d, gᵀd and f(θ) per step (its docstring says so)."""
    _, counts = _pinned(lambda p, x: O.Newton(p, lr=1.0, damping=1e-2), _loss_closure, 3)
    assert counts == [(3, 0)] * 3, counts


def test_scaled_conjugate_gradient_transfers_are_pinned():
    """SCG: E(w), |p|², δ, μ, E(w + αp), |r_new|², r_newᵀr on successful steps."""
    opt, counts = _pinned(lambda p, x: O.ScaledConjugateGradient(p), _loss_closure, 3)
    assert counts == [(7, 0)] * 3, counts
    assert opt.last_result.success


def test_hessian_free_transfers_are_pinned():
    """HessianFree: 2 + (4 + 4k) + e with k = 5 CG iterations and e loss evaluations."""
    opt, counts = _pinned(lambda p, x: O.HessianFree(p, cg_maxiter=5),
                          lambda o, m, x, y: o.step(closure=lambda: m(x), targets=y), 2)
    assert counts == [(29, 0), (31, 0)], counts
    assert opt.last_result.cg.iterations == 5 and opt.last_result.evaluations == 5


def test_natural_gradient_transfers_are_pinned():
    """NaturalGradient: 4 + 4k, all CG's (k = 7 iterations to convergence here)."""
    opt, counts = _pinned(lambda p, x: O.NaturalGradient(p, lr=0.5, damping=1.0, cg_maxiter=50),
                          lambda o, m, x, y: o.step(lambda: m(x), y), 2)
    assert counts == [(32, 0)] * 2, counts
    assert opt.last_cg.converged and opt.last_cg.iterations == 7


def test_prong_transfers_are_pinned():
    """PRONG over SGD: no device -> host transfer in an update; every T = 2 updates the
    re-whitening moves the sample rows drawn on the host to the device (one host -> device
    copy) and tests all layers' inputs for finiteness (one device -> host transfer)."""
    opt, counts = _pinned(lambda p, x: O.PRONG(p, lr=0.1, T=2, n_samples=32, samples=x),
                          lambda o, m, x, y: (o.zero_grad(), F.cross_entropy(m(x), y).backward(), o.step()),
                          4, whitened=True)
    assert counts == [(0, 0), (1, 1)] * 2, counts
    assert opt.n_reparametrizations == 3      # at the start, then after updates 2 and 4
