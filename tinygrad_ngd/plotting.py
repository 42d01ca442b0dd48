"""Small plotting helpers for the command line and the tutorials (matplotlib, Agg).

matplotlib is optional (the ``plot`` extra) and imported on first use, with the
non-interactive Agg backend so figures are written to PNG files on any machine, with
or without a display.  Every helper takes host data (lists or NumPy arrays) — move
device arrays with ``tinygrad_ngd.backend.to_numpy`` first.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np  # host-side plotting data (allowed: plotting code)


class PlottingUnavailable(ImportError):
    """matplotlib is not installed."""


def pyplot():
    """``matplotlib.pyplot`` with the Agg backend, or PlottingUnavailable saying how to get it."""
    try:
        import matplotlib
    except ImportError as exc:
        raise PlottingUnavailable("plotting needs matplotlib: pip install 'tinygrad_ngd[plot]' "
                                  "(or pip install matplotlib)") from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path) -> Path:
    """Write ``fig`` as PNG to ``path`` (parent directories created), close it, return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return path


def subplots(n: int, ncols: int = 2, size=(5.0, 3.6)):
    """A figure with ``n`` axes on a grid of ``ncols`` columns; returns (fig, flat list of axes),
    surplus axes hidden."""
    plt = pyplot()
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False,
                             layout="constrained")
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def set_log_y(ax) -> None:
    """Log scale on y with plain numbers (0.5, 1, 2) instead of 2×10⁰ labels; the minor
    ticks are labelled only when the axis spans less than a decade.  Call after plotting."""
    from matplotlib.ticker import FormatStrFormatter, NullFormatter
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
    lo, hi = ax.get_ylim()
    narrow = lo > 0 and hi / lo < 10
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g") if narrow else NullFormatter())


def _positive(values) -> bool:
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    return arr.size > 0 and bool(np.all(arr > 0))


def plot_curves(series: dict, panels, path, title: str | None = None, xlabel: str = "epoch",
                logy=(), ncols: int = 2, styles: dict | None = None) -> Path:
    """One panel per metric, one line per run: the usual "optimizers compared" figure.

    ``series``: run name → {metric name → list of values} (x = 1, 2, …);
    ``panels``: metric names in order, or (metric, panel title) pairs;
    ``logy``: metrics drawn on a log axis (when every value is positive);
    ``styles``: run name → extra ``Axes.plot`` keywords (e.g. ``{"ls": "--"}``).
    """
    panels = [(p, p) if isinstance(p, str) else tuple(p) for p in panels]
    fig, axes = subplots(len(panels), ncols=ncols)
    for ax, (metric, label) in zip(axes, panels):
        for name, run in series.items():
            ys = run.get(metric)
            if not ys:
                continue
            ax.plot(range(1, len(ys) + 1), ys, marker="o" if len(ys) <= 30 else None, ms=3, label=name,
                    **(styles or {}).get(name, {}))
        if metric in logy and all(_positive(run.get(metric) or [1.0]) for run in series.values()):
            set_log_y(ax)
        ax.set_title(label)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def contour_paths(f, paths: dict, path, xlim, ylim, title: str | None = None, levels=30,
                  log_levels: bool = True, minimum=None, n_grid: int = 200) -> Path:
    """Optimizer paths over the contours of a 2-D function (the "canyon" pictures).

    ``f(x) -> float`` on a point of shape (2,); ``paths``: name → array (steps, 2).
    """
    plt = pyplot()
    xs = np.linspace(*xlim, n_grid)
    ys = np.linspace(*ylim, n_grid)
    zz = np.array([[f(np.array([x, y])) for x in xs] for y in ys])
    fig, ax = plt.subplots(figsize=(7, 5.5))
    if log_levels:
        lo = max(float(zz.min()), 1e-12)
        lv = np.logspace(np.log10(lo + 1e-12), np.log10(float(zz.max())), levels)
        ax.contour(xs, ys, zz, levels=lv, colors="0.7", linewidths=0.7)
    else:
        ax.contour(xs, ys, zz, levels=levels, colors="0.7", linewidths=0.7)
    for name, pts in paths.items():
        pts = np.asarray(pts, dtype=np.float64)
        ax.plot(pts[:, 0], pts[:, 1], lw=1.2, marker=".", ms=2.5, label=name)
    if minimum is not None:
        ax.plot([minimum[0]], [minimum[1]], "k*", ms=12, label="minimum")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.legend(fontsize=7, loc="best")
    if title:
        ax.set_title(title)
    return save_figure(fig, path)
