"""compare.png shows every optimizer: its own colour and marker, coinciding curves marked and
both visible, every axis labelled, a logarithmic axis said to be one.  Checked on the
matplotlib objects of the figure compare writes (not on pixels)."""

import os

import numpy as np
import pytest

from tinygrad_ngd import compare as C
from tinygrad_ngd import plotting

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _history(name, train_loss, test_acc):
    train_loss = list(map(float, train_loss))
    test_acc = list(map(float, test_acc))
    return {"optimizer": name, "train_loss": train_loss, "test_loss": [v * 1.01 for v in train_loss],
            "train_acc": list(test_acc), "test_acc": test_acc}


def _histories():
    epochs = np.arange(1, 13)
    chance = np.full(12, 2.3026)
    learn = 2.3 * 0.9 ** epochs
    return [
        _history("adam", chance, np.full(12, 0.1135)),                  # stays at chance ...
        _history("adam-ng", learn, 0.1 + 0.04 * epochs),
        _history("sgdm", chance + 1e-5, np.full(12, 0.1135)),           # ... exactly like sgdm
        _history("sgdm-ng", learn * 1.1, 0.1 + 0.035 * epochs),
        _history("nesterov", 2.3 * 0.95 ** epochs, 0.1 + 0.02 * epochs),
    ]


@pytest.fixture
def figure(tmp_path, monkeypatch):
    """The figure plot_histories saves as compare.png (kept open for inspection), and the file."""
    if os.environ.get("CI") != "true":
        pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    saved = {}

    def keep(fig, path):            # save_figure without closing the figure
        saved["fig"] = fig
        fig.savefig(path, dpi=50)
        return path

    monkeypatch.setattr(plotting, "save_figure", keep)
    path = C.plot_histories(_histories(), tmp_path / "compare.png", "synthetic histories")
    yield saved["fig"], path
    plotting.pyplot().close(saved["fig"])


def _runs(ax):
    """run name → its Line2D in ``ax`` (legend labels may carry "(coincides with …)")."""
    return {line.get_label().split(" (")[0]: line for line in ax.get_lines()}


def test_compare_png_is_written(figure):
    _, path = figure
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 2000


def test_every_optimizer_has_its_own_colour_and_marker_in_every_panel(figure):
    from matplotlib.colors import to_hex
    fig, _ = figure
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 4
    first = None
    for ax in axes:
        runs = _runs(ax)
        assert sorted(runs) == sorted(h["optimizer"] for h in _histories())
        pairs = {name: (to_hex(line.get_color()), line.get_marker()) for name, line in runs.items()}
        assert len(set(pairs.values())) == len(pairs), f"{ax.get_title()}: two runs share a colour/marker: {pairs}"
        assert all(marker not in (None, "", "None", " ") for _, marker in pairs.values())
        first = first or pairs
        assert pairs == first, "a run changes colour or marker between panels"


def test_coinciding_curves_are_marked_and_both_stay_visible(figure):
    fig, _ = figure
    for ax in fig.axes:
        labels = {line.get_label().split(" (")[0]: line.get_label() for line in ax.get_lines()}
        assert labels["adam"] == "adam (coincides with sgdm)", ax.get_title()
        assert labels["sgdm"] == "sgdm (coincides with adam)", ax.get_title()
        for name in ("adam-ng", "sgdm-ng", "nesterov"):
            assert labels[name] == name, ax.get_title()
        runs = _runs(ax)
        # the one drawn first is wider (it shows around the other) and their markers alternate
        assert runs["adam"].get_linewidth() > runs["sgdm"].get_linewidth()
        assert runs["adam"].get_markevery() != runs["sgdm"].get_markevery()
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "adam (coincides with sgdm)" in legend


def test_axes_are_labelled_and_log_axes_say_so(figure):
    fig, _ = figure
    seen_log = 0
    for ax in fig.axes:
        assert ax.get_title() and ax.get_xlabel() == "epoch"
        ylabel = ax.get_ylabel()
        assert ylabel, f"{ax.get_title()}: no y label"
        if ax.get_yscale() == "log":
            seen_log += 1
            assert "log scale" in ylabel
        else:
            assert "log" not in ylabel
    assert seen_log == 2, "the two loss panels are logarithmic"
    ylabels = {ax.get_title(): ax.get_ylabel() for ax in fig.axes}
    assert ylabels["training accuracy"].startswith("accuracy")
    assert ylabels["test loss"].startswith("cross-entropy loss")


def test_epoch_ticks_are_whole_numbers_in_a_short_run(tmp_path, monkeypatch):
    """A 2-epoch run (compare --quick) has no 1.2, 1.4, … epoch ticks."""
    if os.environ.get("CI") != "true":
        pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    saved = {}

    def keep(fig, path):
        saved["fig"] = fig
        fig.canvas.draw()
        return path

    monkeypatch.setattr(plotting, "save_figure", keep)
    short = [_history(h["optimizer"], h["train_loss"][:2], h["test_acc"][:2]) for h in _histories()]
    C.plot_histories(short, tmp_path / "compare.png", "two epochs")
    try:
        for ax in saved["fig"].axes:
            lo, hi = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
            assert ticks and all(float(t).is_integer() for t in ticks), (ax.get_title(), ticks)
    finally:
        plotting.pyplot().close(saved["fig"])


def test_coinciding_groups_finds_only_curves_on_top_of_each_other():
    flat = [2.3] * 10
    curves = {"a": flat, "b": [v + 1e-4 for v in flat], "c": [2.3 - 0.1 * i for i in range(10)],
              "d": [2.3 - 0.1 * i + 1e-4 for i in range(10)], "e": [1.0] * 10, "empty": []}
    assert plotting.coinciding_groups(curves) == [["a", "b"], ["c", "d"]]
    # one epoch apart at the start (as at initialization) does not hide the overlap
    assert plotting.coinciding_groups({"a": [2.0] + flat[1:], "b": flat, "c": [0.0] * 10}) == [["a", "b"]]
    assert plotting.coinciding_groups({"a": flat, "b": [v + 0.2 for v in flat], "c": [0.0] * 10}) == []


def test_run_styles_are_distinct_pairs_well_beyond_ten_runs():
    pairs = [tuple(plotting.run_style(i).values()) for i in range(60)]
    assert len(set(pairs)) == 60
