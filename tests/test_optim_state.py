"""Optimizer state dicts: whatever cannot be used is refused up front with an error naming the
class, key or hyper-parameter, and a refused load changes nothing (issue 14)."""

import copy

import numpy as np
import pytest

from tinygrad_ngd import layers as L
from tinygrad_ngd import optimizers as O
from tinygrad_ngd.flat import FlatParameters


def stepped(make, steps=3, seed=0):
    """An optimizer (built by ``make(params)``) after a few steps on a fixed gradient sequence."""
    params = FlatParameters.from_array(np.linspace(-1.0, 1.0, 6), block_sizes=[2, 4])
    opt = make(params)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        opt.step(grad=rng.standard_normal(6))
    return params, opt


def frozen(opt, params):
    """Everything a load could change, as comparable plain values."""
    sd = opt.state_dict()

    def plain(x):
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        return x.tolist() if hasattr(x, "tolist") else x
    return plain(sd), params.data.tolist()


PAIRS = [  # (loading optimizer, state of another method): each loaded on main and failed later
    (lambda p: O.Adam(p, lr=0.1), lambda p: O.SGD(p, lr=0.1, momentum=0.9)),
    (lambda p: O.SGD(p, lr=0.1, momentum=0.9), lambda p: O.Adam(p, lr=0.1)),
    (lambda p: O.RMSprop(p, lr=0.01), lambda p: O.Adagrad(p, lr=0.1)),
    (lambda p: O.Adadelta(p), lambda p: O.RMSprop(p, lr=0.01)),
    (lambda p: O.Adam(p, lr=0.1), lambda p: O.AdamW(p, lr=0.1)),
]


@pytest.mark.parametrize("make_target, make_source", PAIRS, ids=["Adam<-SGD", "SGD<-Adam", "RMSprop<-Adagrad",
                                                                  "Adadelta<-RMSprop", "Adam<-AdamW"])
def test_state_of_another_method_is_refused_and_nothing_changes(make_target, make_source):
    params, target = stepped(make_target)
    _, source = stepped(make_source, seed=1)
    before = frozen(target, params)
    with pytest.raises(ValueError, match=rf"saved by {type(source).__name__}, not by {type(target).__name__}"):
        target.load_state_dict(source.state_dict())
    state = source.state_dict()
    del state["optimizer"]                          # a hand-made dict without the class name
    with pytest.raises(ValueError, match="hyper-parameters do not fit|hyper-parameter"):
        target.load_state_dict(state)
    assert frozen(target, params) == before


def test_ngd_scope_global_state_is_refused_by_block_scope():
    """Issue 14: it loaded, then stepped per block while claiming scope='global'."""
    params, block = stepped(lambda p: O.NGD(p, lr=0.1, scope="block"))
    _, glob = stepped(lambda p: O.NGD(p, lr=0.1, scope="global"))
    before = frozen(block, params)
    with pytest.raises(ValueError, match=r"'scope' is 'global' in the state but 'block'.*scope='global'"):
        block.load_state_dict(glob.state_dict())
    assert frozen(block, params) == before and block.hyper["scope"] == "block"


@pytest.mark.parametrize("key, value, match", [
    ("lr", float("nan"), "'lr' must be a finite number"),
    ("lr", float("inf"), "'lr' must be a finite number"),
    ("lr", -0.1, "refused by Adam: invalid lr"),
    ("lr", "0.1", "'lr' must be a finite number"),
    ("betas", (0.9, float("nan")), r"'betas\[1\]' must be a finite number"),
    ("betas", (1.5, 0.999), "refused by Adam"),
    ("betas", (0.9,), "sequence of 2 values"),
    ("amsgrad", True, "'amsgrad' is True in the state but False"),
    ("eps", None, "'eps' must be a finite number"),
])
def test_bad_hyper_parameters_are_refused(key, value, match):
    params, opt = stepped(lambda p: O.Adam(p, lr=0.1))
    before = frozen(opt, params)
    state = opt.state_dict()
    state["hyper"][key] = value
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(state)
    assert frozen(opt, params) == before


def test_bad_counters_arrays_and_structure_are_refused():
    params, opt = stepped(lambda p: O.Adam(p, lr=0.1))
    before = frozen(opt, params)
    good = opt.state_dict()
    cases = [
        (lambda s: s.update(step_count=-1), "'step_count' must be a non-negative integer"),
        (lambda s: s.update(step_count=2.5), "'step_count' must be a non-negative integer"),
        (lambda s: s["state"].update(exp_avg=np.zeros(5)), r"state 'exp_avg' has shape \(5,\), expected \(6,\)"),
        (lambda s: s["state"].update(exp_avg=np.zeros(6, complex)), "real numeric array"),
        (lambda s: s["state"].update(exp_avg=np.array(["a"] * 6)), "real numeric array"),
        (lambda s: s["state"].update(exp_avg=np.full(6, np.nan)), "'exp_avg' holds non-finite values"),
        (lambda s: s["state"].update(exp_avg=[0.0] * 6), "must be an array of shape"),
        (lambda s: s.pop("hyper"), r"lacks key\(s\) \['hyper'\]"),
        (lambda s: s.update(hyper=None), "'hyper' must be a dict"),
        (lambda s: s.update(scalars={"x": object()}), "scalar 'x' must be a number"),
    ]
    for change, match in cases:
        state = copy.deepcopy(good)
        change(state)
        with pytest.raises(ValueError, match=match):
            opt.load_state_dict(state)
        assert frozen(opt, params) == before, match


@pytest.mark.parametrize("bad", [None, [], "state.npz", 3])
def test_load_state_dict_of_a_non_dict_is_a_clear_type_error(bad):
    params, opt = stepped(lambda p: O.Adam(p, lr=0.1))
    with pytest.raises(TypeError, match=r"Adam.load_state_dict: state must be the dict that Adam.state_dict\(\) returns"):
        opt.load_state_dict(bad)
    wrapper = O.BlockNormalized(O.SGD(params, lr=0.1))
    with pytest.raises(TypeError, match="BlockNormalized.load_state_dict: state must be the dict"):
        wrapper.load_state_dict(bad)
    with pytest.raises(TypeError, match="Dense.load_state_dict: expected a dict of arrays"):
        L.Dense(2, 2).load_state_dict(bad)


def test_wrapper_checks_its_own_class_and_its_base():
    """Issue 14: a BlockNormalized(Adam) state loaded into BlockNormalized(SGD), failing at the next step."""
    params, adam_ng = stepped(lambda p: O.BlockNormalized(O.Adam(p, lr=0.1)))
    _, sgd_ng = stepped(lambda p: O.BlockNormalized(O.SGD(p, lr=0.1, momentum=0.9)))
    before = frozen(sgd_ng, params)
    with pytest.raises(ValueError, match="SGD.load_state_dict: the state was saved by Adam, not by SGD"):
        sgd_ng.load_state_dict(adam_ng.state_dict())
    _, clip = stepped(lambda p: O.ClipGradNorm(O.SGD(p, lr=0.1, momentum=0.9), max_norm=1.0))
    with pytest.raises(ValueError, match="saved by ClipGradNorm, not by BlockNormalized"):
        sgd_ng.load_state_dict(clip.state_dict())
    state = adam_ng.state_dict()
    state["hyper"]["norm"] = "linf"
    with pytest.raises(ValueError, match="'norm' is 'linf' in the state but 'l2'"):
        adam_ng.load_state_dict(state)
    assert frozen(sgd_ng, params) == before


def test_valid_state_still_round_trips_exactly():
    params, opt = stepped(lambda p: O.BlockNormalized(O.Adam(p, lr=0.1, amsgrad=True)), steps=5)
    saved = opt.state_dict()
    theta = params.data.copy()
    g = np.arange(6.0) - 2.5
    opt.step(grad=g)
    after = params.data.copy()
    params.data[...] = theta
    opt.load_state_dict(saved)
    opt.step(grad=g)
    assert np.array_equal(params.data, after)
    saved["hyper"] = dict(saved["hyper"])
    saved["base"]["hyper"]["lr"] = 0.05                 # a number may change, as in torch.optim
    opt.load_state_dict(saved)
    assert opt.lr == 0.05


def test_constructor_only_settings_are_kept_when_checking_a_state():
    """The hyper-parameter check builds a throwaway instance: with the optimizer's own
    max_params, not the default, so a Newton above the default size still loads its state."""
    from tinygrad_ngd.curvature.dense import DEFAULT_MAX_PARAMS
    n = DEFAULT_MAX_PARAMS + 1
    params = FlatParameters.from_array(np.zeros(n))
    with pytest.raises(ValueError):
        O.Newton(params)                                  # the default limit refuses n
    big = O.Newton(params, max_params=n)
    state = big.state_dict()
    big.load_state_dict(state)
    state["hyper"]["damping"] = -1.0
    with pytest.raises(ValueError, match="refused by Newton: invalid damping"):
        big.load_state_dict(state)


@pytest.mark.parametrize("key, value", [("eta", float("nan")), ("mu", float("inf")), ("eta", np.float64("nan"))])
def test_non_finite_scalar_state_is_refused_and_nothing_changes(key, value):
    """Audit: an ASGD state with scalars eta=NaN loaded and the next step made θ NaN."""
    params, opt = stepped(lambda p: O.ASGD(p, lr=0.1))
    before = frozen(opt, params)
    state = copy.deepcopy(opt.state_dict())
    state["scalars"][key] = value
    with pytest.raises(ValueError, match=f"scalar '{key}' must be finite"):
        opt.load_state_dict(state)
    assert frozen(opt, params) == before
