"""What tutorials 05 and 10 show the reader: whole-numbered layer axes with one point per Dense
layer, and a sentence (not "None") when a run never reaches a threshold."""

import importlib.util
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent


def _tutorial(name):
    spec = importlib.util.spec_from_file_location(f"tutorial_{name}", REPO / "tutorials" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def plt(monkeypatch):
    if os.environ.get("CI") != "true":
        pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as pyplot
    pyplot.close("all")
    monkeypatch.setattr(pyplot, "close", lambda fig=None: None)     # keep the figure to inspect it
    yield pyplot
    monkeypatch.undo()
    pyplot.close("all")


def test_tutorial05_gradient_norm_plot_has_whole_layer_ticks_and_one_point_per_dense_layer(plt, tmp_path):
    t05 = _tutorial("05_block_normalized_mlp")
    norms = {("mnist_subset", 6): [10.0 ** -k for k in range(6, -1, -1)],          # L = 6: 7 Dense layers
             ("mnist_subset", 18): [10.0 ** -k for k in range(18, -1, -1)]}       # L = 18: 19
    path = t05.plot_grad_norms(norms, tmp_path)
    assert path.exists()
    ax = plt.gcf().axes[0]
    ax.figure.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert len(lines["mnist_subset, L = 6 hidden (7 Dense layers)"].get_xdata()) == 7
    assert list(lines["mnist_subset, L = 18 hidden (19 Dense layers)"].get_xdata()) == list(range(1, 20))
    assert "Dense layer" in ax.get_xlabel() and "log scale" in ax.get_ylabel()


def test_tutorial10_says_when_a_run_never_left_the_plateau(capsys):
    t10 = _tutorial("10_prong")
    args = type("Args", (), {"updates": 20, "lr_sgd": 0.2, "lr_prong": 0.03})()
    sgd = [("SGD", t, 0.01 * t, 10.5 - 0.01 * t) for t in (0, 10, 20)]
    prong = [("PRONG", t, 0.02 * t, 10.5 - 0.2 * t) for t in (0, 10, 20)]          # 6.5 at update 20
    t10.report({"SGD": sgd, "PRONG": prong}, "SGD", "PRONG", args)
    out = capsys.readouterr().out
    assert "None" not in out
    assert "SGD not within its 20 updates, PRONG at update 20" in out
