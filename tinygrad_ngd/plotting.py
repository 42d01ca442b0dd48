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
    ticks are labelled only when the axis spans less than a decade.  The y label says
    "(log scale)".  Call after plotting (and after ``set_ylabel``, or set the label later
    with :data:`LOG_SUFFIX` yourself)."""
    from matplotlib.ticker import FormatStrFormatter, NullFormatter
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
    lo, hi = ax.get_ylim()
    narrow = lo > 0 and hi / lo < 10
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g") if narrow else NullFormatter())
    label = ax.get_ylabel()
    if "log" not in label:
        ax.set_ylabel(f"{label} {LOG_SUFFIX}".strip())


#: appended to the y label of a logarithmic axis
LOG_SUFFIX = "(log scale)"

#: colours (matplotlib's tab10) and markers; run i gets COLOURS[i % 10] and a marker that
#: makes the (colour, marker) pair unique for up to 10 × len(MARKERS) runs
COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
           "tab:gray", "tab:olive", "tab:cyan"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]


def run_style(i: int) -> dict:
    """The colour and marker of the ``i``-th run of a figure (distinct pairs)."""
    return {"color": COLOURS[i % len(COLOURS)], "marker": MARKERS[(i + i // len(COLOURS)) % len(MARKERS)]}


def _positive(values) -> bool:
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    return arr.size > 0 and bool(np.all(arr > 0))


def coinciding_groups(curves: dict, log: bool = False, rtol: float = 0.01, most: float = 0.75) -> list:
    """Groups (lists of names, in ``curves`` order) of curves that would be drawn on top of each
    other: same length and, at a fraction ``most`` of the points or more, closer than ``rtol`` ×
    the panel's y range (in log10 when ``log``).  Curves that coincide with no other are left out."""
    names = [n for n, ys in curves.items() if ys]
    vals = {}
    for n in names:
        arr = np.asarray([np.nan if v is None else v for v in curves[n]], dtype=np.float64)
        vals[n] = np.log10(arr) if log else arr
    finite = np.concatenate([v[np.isfinite(v)] for v in vals.values()]) if vals else np.zeros(0)
    span = float(finite.max() - finite.min()) if finite.size else 0.0
    tol = rtol * span if span > 0 else 1e-12
    parent = {n: n for n in names}

    def root(n):
        while parent[n] != n:
            n = parent[n]
        return n

    for i, a in enumerate(names):
        for b in names[i + 1:]:
            va, vb = vals[a], vals[b]
            if va.shape == vb.shape and float(np.mean(np.isclose(va, vb, rtol=0.0, atol=tol, equal_nan=True))) >= most:
                parent[root(b)] = root(a)
    groups = {}
    for n in names:
        groups.setdefault(root(n), []).append(n)
    return [g for g in groups.values() if len(g) > 1]


def plot_curves(series: dict, panels, path, title: str | None = None, xlabel: str = "epoch",
                logy=(), ncols: int = 2, styles: dict | None = None) -> Path:
    """One panel per metric, one line per run: the usual "optimizers compared" figure.

    ``series``: run name → {metric name → list of values} (x = 1, 2, …);
    ``panels``: metric names in order, or (metric, panel title) or (metric, panel title, y label)
    tuples (the y label defaults to the title);
    ``logy``: metrics drawn on a log axis (when every value is positive; the y label then says
    "(log scale)");
    ``styles``: run name → extra ``Axes.plot`` keywords (e.g. ``{"ls": "--"}``).

    Every run has its own colour and marker (:func:`run_style`), the same in every panel.
    Curves that lie on top of each other in a panel (:func:`coinciding_groups`) stay visible:
    the first is drawn widest under the others, their markers alternate along the curve, and
    the legend says "(coincides with …)".
    """
    from matplotlib.ticker import MaxNLocator
    panels = [(p, p, p) if isinstance(p, str) else (tuple(p) + (p[1],))[:3] for p in panels]
    fig, axes = subplots(len(panels), ncols=ncols)
    base = {name: run_style(i) for i, name in enumerate(series)}
    for ax, (metric, label, ylabel) in zip(axes, panels):
        curves = {name: run.get(metric) for name, run in series.items()}
        log = metric in logy and all(_positive(ys or [1.0]) for ys in curves.values())
        where = {}                      # name → (its group, its place in the group)
        for group in coinciding_groups(curves, log=log):
            for j, name in enumerate(group):
                where[name] = (group, j)
        for name, ys in curves.items():
            if not ys:
                continue
            group, j = where.get(name, ([name], 0))
            k = len(group)
            every = max(1, math.ceil(len(ys) / 15))          # about 15 markers per curve
            kw = dict(base[name], ms=4, lw=1.4 + 2.0 * (k - 1 - j), label=name,
                      markevery=(j * every, k * every) if k > 1 else every)
            if k > 1:
                kw["label"] = f"{name} (coincides with {', '.join(g for g in group if g != name)})"
            kw.update((styles or {}).get(name, {}))
            ax.plot(range(1, len(ys) + 1), ys, **kw)
        ax.set_title(label)
        ax.set_xlabel(xlabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))    # x = 1, 2, …: no 1.5 ticks
        ax.set_ylabel(ylabel)
        if log:
            set_log_y(ax)
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
