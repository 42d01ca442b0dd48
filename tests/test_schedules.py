"""Schedules: lr sequences equal to PyTorch's (float for float), trajectories under each
scheduler equal to torch.optim's at 1e-10 over 120 steps, [Ravasi]'s cooling rule and
momentum warm-up."""

import math

import numpy as np
import pytest

from tinygrad_ngd import backend as B
from tinygrad_ngd import optimizers as O
from tinygrad_ngd import verify as V
from tinygrad_ngd.flat import FlatParameters

SCHEDULES = [
    {"name": "StepLR", "step_size": 7, "gamma": 0.5},
    {"name": "MultiStepLR", "milestones": [10, 25, 25, 60], "gamma": 0.3},
    {"name": "ExponentialLR", "gamma": 0.97},
    {"name": "LinearLR", "start_factor": 0.2, "end_factor": 0.9, "total_iters": 30},
    {"name": "LinearLR"},
]


def _torch_lrs(torch, spec, lrs, epochs):
    spec = dict(spec)
    name = spec.pop("name")
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)])
    sched = getattr(torch.optim.lr_scheduler, name)(opt, **spec)
    out = [[g["lr"] for g in opt.param_groups]]
    for _ in range(epochs):
        opt.step()
        sched.step()
        out.append([g["lr"] for g in opt.param_groups])
        assert sched.get_last_lr() == out[-1]
    return out


def _our_lrs(spec, lrs, epochs):
    spec = dict(spec)
    name = spec.pop("name")
    params = FlatParameters.from_array(np.zeros(2 * len(lrs)), block_sizes=[2] * len(lrs))
    opt = O.SGD(params, lr=list(lrs) if len(lrs) > 1 else lrs[0])
    sched = getattr(O, name)(opt, **spec)
    as_list = (lambda lr: list(lr) if isinstance(lr, list) else [lr])
    out = [as_list(opt.lr)]
    for _ in range(epochs):
        sched.step()
        out.append(as_list(opt.lr))
        assert sched.get_last_lr() == out[-1]
    return out


@pytest.mark.parametrize("spec", SCHEDULES, ids=lambda s: s["name"] + str(len(s)))
@pytest.mark.parametrize("lrs", [[0.1], [0.3, 0.007]], ids=["scalar", "per-block"])
def test_lr_sequence_equals_pytorch(torch, spec, lrs):
    assert _our_lrs(spec, lrs, 80) == _torch_lrs(torch, spec, lrs, 80)     # exact floats


@pytest.mark.parametrize("spec", [
    {"name": "StepLR", "step_size": 15, "gamma": 0.5},
    {"name": "MultiStepLR", "milestones": [30, 70], "gamma": 0.2},
    {"name": "ExponentialLR", "gamma": 0.98},
    {"name": "LinearLR", "start_factor": 0.25, "total_iters": 40},
    {"name": "ReduceLROnPlateau", "factor": 0.5, "patience": 2, "threshold": 0.3},
], ids=lambda s: s["name"])
@pytest.mark.parametrize("optimizer,hyper", [("SGD", {"lr": 0.05, "momentum": 0.9}),
                                             ("Adam", {"lr": 0.05})], ids=["SGD", "Adam"])
def test_trajectory_under_scheduler_matches_torch(torch, spec, optimizer, hyper):
    prob = V.noisy_quadratic(n=7, steps=120, seed=21)
    ours = V.run_tinygrad(prob, optimizer, hyper, schedule=spec)
    ref = V.run_torch(prob, optimizer, hyper, schedule=spec)
    report = V.compare(ref, ours, rtol=1e-10)
    assert report["ok"], (report["first_step_outside"], report["max_rel_error"].max())
    constant = V.run_tinygrad(prob, optimizer, hyper)
    assert not V.compare(constant, ours, rtol=1e-6)["ok"]        # the schedule changed the run


def _plateau_lrs(make_sched, metrics, lrs, min_lr=0.0):
    out = []
    sched, opt, get = make_sched(lrs, min_lr)
    for m in metrics:
        sched.step(m)
        out.append(get(opt))
    return out


@pytest.mark.parametrize("kw", [
    {},
    {"patience": 2, "factor": 0.5},
    {"patience": 1, "cooldown": 3, "factor": 0.5},
    {"mode": "max", "patience": 2, "threshold_mode": "abs", "threshold": 0.1},
    {"patience": 0, "factor": 0.1, "eps": 1e-3},
], ids=str)
def test_reduce_on_plateau_equals_pytorch(torch, kw, rng):
    metrics = list(np.concatenate([np.linspace(5, 1, 10), 1 + 0.05 * rng.standard_normal(40),
                                   np.linspace(1, 0.2, 5), np.full(20, 0.2)]))
    lrs, min_lr = [0.1, 0.03], [0.0, 0.002]

    def torch_sched(lrs, min_lr):
        ps = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
        opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, lrs)])
        return (torch.optim.lr_scheduler.ReduceLROnPlateau(opt, min_lr=min_lr, **kw), opt,
                lambda o: [g["lr"] for g in o.param_groups])

    def our_sched(lrs, min_lr):
        params = FlatParameters.from_array(np.zeros(2), block_sizes=[1, 1])
        opt = O.SGD(params, lr=list(lrs))
        return O.ReduceLROnPlateau(opt, min_lr=min_lr, **kw), opt, lambda o: list(o.lr)

    want = _plateau_lrs(torch_sched, metrics, lrs, min_lr)
    assert _plateau_lrs(our_sched, metrics, lrs, min_lr) == want
    assert want[-1] != lrs                                  # it did reduce


def test_linear_decay_to_constant_is_note_004():
    params = FlatParameters.from_array(np.zeros(2))
    opt = O.SGD(params, lr=0.5)
    sched = O.LinearDecayToConstant(opt, tau=10)
    lrs = [opt.lr]
    for _ in range(15):
        sched.step()
        lrs.append(opt.lr)
    for i, lr in enumerate(lrs):
        beta = i / 10
        want = (1 - beta) * 0.5 + beta * 0.005 if i < 10 else 0.005     # α_τ = α₀/100
        assert lr == pytest.approx(want, rel=1e-14)
    assert lrs[-1] == lrs[10] == pytest.approx(0.005, rel=1e-14)


def test_momentum_warmup_from_half_to_099():
    params = FlatParameters.from_array(np.zeros(2))
    opt = O.SGD(params, lr=0.1, momentum=0.9)
    warm = O.MomentumWarmup(opt, start=0.5, end=0.99, warmup_steps=7)
    seen = [opt.hyper["momentum"]]
    for _ in range(10):
        opt.step(grad=np.ones(2, dtype=np.float32))
        warm.step()
        seen.append(warm.get_last_momentum())
    np.testing.assert_allclose(seen[:8], 0.5 + 0.49 * np.arange(8) / 7, rtol=1e-15)
    assert seen[8:] == [0.99, 0.99, 0.99]
    with pytest.raises(ValueError, match="momentum"):
        O.MomentumWarmup(O.Adam(params))


@pytest.mark.parametrize("make,match", [
    (lambda o: O.StepLR(o, step_size=0), "step_size"),
    (lambda o: O.StepLR(o, step_size=3, gamma=-0.1), "gamma"),
    (lambda o: O.MultiStepLR(o, milestones=[5, 2]), "milestones"),
    (lambda o: O.ExponentialLR(o, gamma=math.nan), "gamma"),
    (lambda o: O.LinearLR(o, start_factor=0.0), "start_factor"),
    (lambda o: O.LinearLR(o, end_factor=1.5), "end_factor"),
    (lambda o: O.LinearLR(o, total_iters=0), "total_iters"),
    (lambda o: O.ReduceLROnPlateau(o, factor=1.0), "factor"),
    (lambda o: O.ReduceLROnPlateau(o, mode="up"), "mode"),
    (lambda o: O.ReduceLROnPlateau(o, threshold_mode="pct"), "threshold_mode"),
    (lambda o: O.ReduceLROnPlateau(o, min_lr=[0.1, 0.2]), "min_lr"),
    (lambda o: O.LinearDecayToConstant(o, tau=0), "tau"),
    (lambda o: O.MomentumWarmup(o, end=1.0), "end"),
])
def test_schedule_bad_input(make, match):
    opt = O.SGD(FlatParameters.from_array(np.zeros(2)), lr=0.1, momentum=0.5)
    with pytest.raises(ValueError, match=match):
        make(opt)


def test_scheduler_needs_our_optimizer():
    with pytest.raises(TypeError, match="Optimizer"):
        O.StepLR(object(), step_size=2)


def test_scheduler_state_dict_round_trip():
    opt = O.SGD(FlatParameters.from_array(np.zeros(2)), lr=0.1)
    sched = O.StepLR(opt, step_size=3, gamma=0.5)
    for _ in range(4):
        sched.step()
    state = sched.state_dict()
    opt2 = O.SGD(FlatParameters.from_array(np.zeros(2)), lr=opt.lr)
    sched2 = O.StepLR(opt2, step_size=3, gamma=0.5)
    sched2.load_state_dict(state)
    for _ in range(5):
        sched.step()
        sched2.step()
    assert opt.lr == opt2.lr and sched2.last_epoch == 9
    with pytest.raises(ValueError, match="unknown keys"):
        sched2.load_state_dict({"bogus": 1})


# ---------------------------------------------------------------- schedules on gradient wrappers
class _Identity(O.GradientWrapper):
    """A wrapper whose direction is the gradient itself: scheduling it must be scheduling the base."""

    def transform(self, g):
        return g.copy()


_A = np.random.default_rng(3).standard_normal((6, 6))
_A = _A @ _A.T / 6 + np.eye(6)                       # a positive definite quadratic ½θᵀAθ − bᵀθ
_b = np.random.default_rng(4).standard_normal(6)


def _quadratic_grad(theta):
    return _A @ B.to_numpy(theta) - _b


def _run_scheduled(make_opt, make_sched, plateau, steps=120):
    params = FlatParameters.from_array(np.linspace(-1, 1, 6), block_sizes=[2, 4])
    opt = make_opt(params)
    sched = make_sched(opt)
    lrs = []
    for k in range(steps):
        opt.step(grad=_quadratic_grad(params.data))
        if plateau:
            sched.step(float(max(10 - k, 0)))          # improves for 10 epochs, then plateaus
        else:
            sched.step()
        lrs.append(opt.lr)
    return params.data.copy(), lrs


@pytest.mark.parametrize("make_sched, plateau", [
    (lambda o: O.StepLR(o, step_size=7, gamma=0.5), False),
    (lambda o: O.ExponentialLR(o, gamma=0.97), False),
    (lambda o: O.ReduceLROnPlateau(o, factor=0.5, patience=3), True),
], ids=["StepLR", "ExponentialLR", "ReduceLROnPlateau"])
def test_schedule_on_identity_wrapper_is_the_schedule_on_its_base(make_sched, plateau):
    """Issue 14: schedulers refused wrappers (TypeError); a wrapper delegates lr to its base."""
    theta_base, lrs_base = _run_scheduled(lambda p: O.Adam(p, lr=0.1), make_sched, plateau)
    theta_wrap, lrs_wrap = _run_scheduled(lambda p: _Identity(O.Adam(p, lr=0.1)), make_sched, plateau)
    assert lrs_wrap == lrs_base and len(set(lrs_base)) > 2          # the rate did change
    assert np.array_equal(theta_wrap, theta_base)                   # bit for bit


def test_steplr_on_block_normalized_adam_matches_torch(torch):
    """StepLR(BlockNormalized(Adam)) against torch: Adam + StepLR fed per-block normalized gradients."""
    params = FlatParameters.from_array(np.linspace(-1, 1, 6), block_sizes=[2, 4])
    opt = O.BlockNormalized(O.Adam(params, lr=0.05))
    sched = O.StepLR(opt, step_size=15, gamma=0.5)
    tp = [torch.nn.Parameter(torch.tensor(np.linspace(-1, 1, 6)[:2])),
          torch.nn.Parameter(torch.tensor(np.linspace(-1, 1, 6)[2:]))]
    topt = torch.optim.Adam(tp, lr=0.05)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=15, gamma=0.5)
    for _ in range(120):
        opt.step(grad=_quadratic_grad(params.data))
        sched.step()
        g = _quadratic_grad(torch.cat([p.detach() for p in tp]).numpy())
        for p, sl in zip(tp, (slice(0, 2), slice(2, 6))):
            p.grad = torch.tensor(g[sl] / np.linalg.norm(g[sl]))
        topt.step()
        tsched.step()
        assert opt.lr == topt.param_groups[0]["lr"]
    ref = torch.cat([p.detach() for p in tp]).numpy()
    assert np.max(np.abs(B.to_numpy(params.data) - ref)) <= 1e-10 * np.max(np.abs(ref))


def test_momentum_warmup_on_a_wrapper_warms_the_base():
    params = FlatParameters.from_array(np.zeros(4))
    base = O.SGD(params, lr=0.1, momentum=0.5)
    warm = O.MomentumWarmup(O.BlockNormalized(base), start=0.5, end=0.9, warmup_steps=4)
    for _ in range(4):
        warm.step()
    assert base.hyper["momentum"] == pytest.approx(0.9, abs=1e-15)


def test_scheduler_refuses_what_has_no_lr():
    with pytest.raises(TypeError, match="Optimizer or a gradient wrapper"):
        O.StepLR(object(), step_size=1)


def test_scheduler_load_state_dict_refuses_what_it_cannot_use():
    params = FlatParameters.from_array(np.zeros(2))
    sched = O.StepLR(O.SGD(params, lr=0.1), step_size=2, gamma=0.5)
    for _ in range(3):
        sched.step()
    good = sched.state_dict()
    other = O.StepLR(O.SGD(FlatParameters.from_array(np.zeros(2)), lr=0.1), step_size=2, gamma=0.5)
    with pytest.raises(TypeError, match="StepLR.load_state_dict: expected the dict"):
        other.load_state_dict(None)
    with pytest.raises(ValueError, match=r"missing keys \['gamma'\]"):
        other.load_state_dict({k: v for k, v in good.items() if k != "gamma"})
    with pytest.raises(ValueError, match="'last_epoch' must be like"):
        other.load_state_dict({**good, "last_epoch": "3"})
    with pytest.raises(ValueError, match="'gamma' must be like"):
        other.load_state_dict({**good, "gamma": float("nan")})
    assert other.last_epoch == 0
    other.load_state_dict(good)
    assert other.last_epoch == 3 and other.get_last_lr() == sched.get_last_lr()
    plateau = O.ReduceLROnPlateau(O.SGD(params, lr=0.1))
    plateau.step(1.0)
    O.ReduceLROnPlateau(O.SGD(params, lr=0.1)).load_state_dict(plateau.state_dict())


@pytest.mark.parametrize("metric", ["x", np.array([1.0, 2.0]), None, True])
def test_reduce_on_plateau_refuses_a_metric_that_is_not_a_number(metric):
    """Audit: step('x') and step(array of 2) ended in Python's/NumPy's own float() errors."""
    opt = O.SGD(FlatParameters.from_array(np.zeros(2)), lr=0.1)
    sched = O.ReduceLROnPlateau(opt)
    before = sched.state_dict()
    with pytest.raises(TypeError, match="ReduceLROnPlateau.step: metric must be a number"):
        sched.step(metric)
    assert sched.state_dict() == before
    sched.step(np.float32(1.5))                 # NumPy scalars and 0-d arrays are numbers
    sched.step(np.array(1.0))


@pytest.mark.parametrize("make", [lambda p: O.AdaptiveNGD(p, lr=0.01, beta=0.1),
                                  lambda p: O.SGDBB(p, lr=0.1, steps_per_epoch=1),
                                  lambda p: O.BlockNormalized(O.AdaptiveNGD(p, lr=0.01, beta=0.1))],
                         ids=["AdaptiveNGD", "SGDBB", "BlockNormalized(AdaptiveNGD)"])
def test_scheduler_refuses_an_optimizer_that_sets_its_own_step_size(make):
    """Audit: StepLR on AdaptiveNGD halved opt.lr each epoch while the steps (from the adapted
    λ) ignored it; the same on SGDBB (η from the Barzilai-Borwein rule)."""
    opt = make(FlatParameters.from_array(np.zeros(4), block_sizes=[2, 2]))
    with pytest.raises(TypeError, match="sets its own step size"):
        O.StepLR(opt, step_size=1, gamma=0.5)
    with pytest.raises(TypeError, match="sets its own step size"):
        O.ReduceLROnPlateau(opt)
