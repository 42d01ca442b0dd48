"""The claims the tutorials and the comparison rest on, checked on small cases.

Each test names the note it follows.  Tutorial functions are imported from the scripts
themselves (tutorials/ is not a package), so what is tested is what a reader runs.
"""

import importlib.util
import math
import pathlib

import numpy as np
import pytest

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import compare
from tinygrad_ngd import optimizers as O

TUTORIALS = pathlib.Path(__file__).resolve().parent.parent / "tutorials"


def load_tutorial(stem):
    spec = importlib.util.spec_from_file_location(f"tutorial_{stem}", TUTORIALS / f"{stem}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_momentum_multiplies_a_steady_gradient_by_one_over_one_minus_mu():
    """[Misra, "SGD + Momentum"]: "you effectively multiply your updates by 1/(1−μ)"."""
    tg.set_default_dtype("float64")
    params = tg.FlatParameters.from_array(B.asarray(np.zeros(3)))
    mu, lr = 0.9, 0.01
    opt = O.SGD(params, lr=lr, momentum=mu, form="notes")
    g = B.asarray(np.array([1.0, -2.0, 0.5]))
    for _ in range(400):
        before = params.data.copy()
        opt.step(grad=g)
    step = B.to_numpy(params.data - before)
    np.testing.assert_allclose(step, -lr * B.to_numpy(g) / (1 - mu), rtol=1e-12)


def test_l2_normalization_shrinks_a_coordinates_step_by_sqrt_n_and_rms_does_not():
    """[Kolasiński 2018, §2]: a block of N equal components g moves √N times less under L2; RMS fixes it."""
    tg.set_default_dtype("float64")
    t03 = load_tutorial("03_newton_and_ngd_norms")
    rows = t03.per_coordinate_steps(0.01, [1, 4, 100, 2500])
    for r in rows:
        assert r["l2"] == pytest.approx(0.01 / math.sqrt(r["N"]), rel=1e-12)
        assert r["linf"] == pytest.approx(0.01, rel=1e-12)
        assert r["rms"] == pytest.approx(0.01, rel=1e-12)
    assert rows[0]["std"] == 0.0 and rows[1]["std"] == pytest.approx(0.01, rel=1e-12)


def test_newton_takes_lambda_over_gamma_and_gd_explodes_on_the_exponential_loss():
    """[Kolasiński 2018, §1]: GD's step on e^{−γx} is λγe^{−γx}; Newton's is λ/γ wherever it starts."""
    tg.set_default_dtype("float64")
    t03 = load_tutorial("03_newton_and_ngd_norms")
    newton = t03.run_1d("newton", -3.0, 5)
    np.testing.assert_allclose(np.diff(newton), t03.LAMBDA / t03.GAMMA, rtol=1e-12)
    gd = t03.run_1d("gd", -3.0, 1)
    assert gd[1] - gd[0] == pytest.approx(t03.LAMBDA * t03.GAMMA * math.exp(3.0), rel=1e-12)


def test_greedy_pretraining_freezes_earlier_layers_and_fine_tuning_moves_them():
    """[Ravasi, "Supervised pre-training"]: earlier layers are fixed while a new one is trained;
    the final fine-tuning trains them all."""
    t11 = load_tutorial("11_training_tricks")
    rng = np.random.default_rng(0)
    x = rng.random((200, 784)).astype(np.float32)
    y = rng.integers(0, 10, 200)
    data = ((x, y), (x[:50], y[:50]))
    snapshots = {}

    def on_stage(stage, hidden):
        snapshots[stage] = [B.to_numpy(h.weight.data).copy() for h in hidden]

    hidden, head, log = t11.greedy_pretrain(data, depth=3, width=8, epochs_per_stage=1, seed=0, on_stage=on_stage)
    assert [s for s, _ in log] == [1, 2, 3] and len(hidden) == 3
    for stage in (2, 3):                       # the layers of earlier stages did not move
        for k in range(stage - 1):
            np.testing.assert_array_equal(snapshots[stage][k], snapshots[k + 1][k])
    model = t11.stack(hidden, head)
    before = B.to_numpy(hidden[0].weight.data).copy()
    t11.fine_tune(model, data, epochs=1, seed=0)
    assert not np.array_equal(before, B.to_numpy(hidden[0].weight.data))


def test_synthetic_polarity_labels_follow_the_negation_rule():
    """Tutorial 12's stand-in for rt-polarity ([Yu et al. 2017, §4.5]): the label is the sign of the
    sentiment words' sum, a negator flipping the word right after it."""
    t12 = load_tutorial("12_sentence_cnn")
    sents, labels = t12.synthetic_polarity(300, seed=3)
    pos, neg, nots = set(t12.POSITIVE), set(t12.NEGATIVE), set(t12.NEGATORS)
    for words, label in zip(sents, labels):
        score = 0
        for i, w in enumerate(words):
            if w in pos or w in neg:
                s = 1 if w in pos else -1
                score += -s if i > 0 and words[i - 1] in nots else s
        assert score != 0 and int(score > 0) == label
    assert 0.3 < labels.mean() < 0.7


def test_sentence_cnn_has_one_block_per_layer_and_the_kim_shapes():
    """Kim (2014) as in [Yu et al. 2017, §4.5]: widths 3, 4, 5, max over time, two classes."""
    t12 = load_tutorial("12_sentence_cnn")
    tg.manual_seed(0)
    model = t12.SentenceCNN(vocab_size=30, emb=6, maps=5)
    params = tg.FlatParameters(model)
    assert [b.name for b in params.blocks] == ["embed", "conv3", "conv4", "conv5", "fc"]
    ids = tg.Tensor(B.asarray(np.random.default_rng(0).integers(0, 30, (4, 12))))
    model.eval()
    assert model(ids).shape == (4, 2)


def test_deep_sigmoid_mlp_has_depth_dense_blocks():
    """[Yu et al. 2017, §4.1]: 784 → 100 → … → 10, sigmoid between; one block (weight + bias) per layer."""
    tg.manual_seed(0)
    model = compare.deep_sigmoid_mlp(784, 10, depth=6, width=100)
    params = tg.FlatParameters(model)
    assert len(params.blocks) == 6
    assert [b.size for b in params.blocks] == [784 * 100 + 100] + [100 * 100 + 100] * 4 + [100 * 10 + 10]
    assert sum(type(m).__name__ == "Sigmoid" for m in model) == 5
