"""The PNG plots: one run's ``loss.png``, and a comparison's ``loss.png`` and ``metric.png``.

matplotlib is imported inside the functions (``dlcli --help`` stays fast) and used through its
object API with the Agg canvas: no pyplot, no global state, safe in worker processes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlcli.report import Summary, value
from dlcli.runs import read_losses

DECADES = 10.0  # a log axis once the positive losses span at least this ratio


def new_figure(width: float = 7.0, height: float = 4.2) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _axes(ax: Any, losses: Sequence[float]) -> None:
    """Whole iterations on x; a log y axis when the positive losses span decades."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    positive = [v for v in losses if v > 0 and math.isfinite(v)]
    if positive and max(positive) / min(positive) >= DECADES:
        ax.set_yscale("log")


def run_loss_plot(iterations: Sequence[int], losses: Sequence[float], path: Path,
                  title: str) -> None:
    """One run's loss against the iteration (log scale when the losses span decades)."""
    fig = new_figure(6.0, 3.6)
    ax = fig.add_subplot()
    ax.plot(iterations, losses, linewidth=1.0)
    _axes(ax, losses)
    ax.set(xlabel="iteration", ylabel="loss", title=title)
    fig.savefig(path)


def compare_plots(summary: Summary) -> None:
    """``loss.png`` (every variant's curve, one colour per variant across seeds) and
    ``metric.png`` (the ranking metric per variant, best on top: mean and each seed; the test
    metric in a second panel, in the same order)."""
    _loss_overlay(summary)
    _metric_bars(summary)


def _group_of(summary: Summary, row: dict[str, Any]) -> str:
    from dlcli.sweep import show_value

    parts = [str(row["variant"])] if len({r["variant"] for r in summary.rows}) > 1 else []
    parts += [f"{k.rsplit('.', 1)[-1]}={show_value(row[k])}" for k in summary.grid_keys]
    return " ".join(parts) or str(row["variant"])


def _colours(summary: Summary) -> dict[str, str]:
    """One colour per variant (its seeds share it), the same in both plots."""
    groups = dict.fromkeys(_group_of(summary, row) for row in summary.rows)
    return {g: f"C{i % 10}" for i, g in enumerate(groups)}


def _loss_overlay(summary: Summary) -> Any:
    """Completed runs set the axes; a diverged or failed run is dashed and may leave the top."""
    fig = new_figure()
    ax = fig.add_subplot()
    colours, labelled = _colours(summary), set()
    kept: list[float] = []
    others: list[float] = []
    lengths: list[int] = []
    for row in summary.rows:
        its, losses = read_losses(summary.folder / row["run_dir"])
        if not its:
            continue
        lengths.append(its[-1])
        group, done = _group_of(summary, row), row["status"] == "completed"
        label = group if done else f"{group} ({row['status']})"
        ax.plot(its, losses, color=colours[group], linewidth=1.0, alpha=0.85,
                linestyle="-" if done else "--", label=None if label in labelled else label)
        labelled.add(label)
        (kept if done else others).extend(losses)
    _axes(ax, kept or others)
    if lengths and min(lengths) > 0 and max(lengths) >= DECADES * min(lengths):
        ax.set_xscale("log")  # 3 steps next to 1000: the short runs stay visible
    finite = [v for v in kept if math.isfinite(v)]
    if finite and others:
        lo, hi = min(finite), max(finite)
        if ax.get_yscale() == "log":
            ax.set_ylim(lo / 1.5, hi * 1.5)
        else:
            ax.set_ylim(lo - 0.05 * (hi - lo + 1e-12), hi + 0.1 * (hi - lo + 1e-12))
    ax.set(xlabel="iteration", ylabel="training loss", title=f"{summary.name}: loss")
    if labelled:
        ax.legend(fontsize="small", ncols=1 + len(labelled) // 8)
    fig.savefig(summary.folder / "loss.png")
    return ax


def _metric_bars(summary: Summary) -> Any:
    """Bars of the ranking (validation) metric, best on top; beside them, in the same order and
    colours but hatched, the test metric that is reported for each (never the order)."""
    metric, higher = summary.metric
    report = summary.report_key
    ranked = _points(summary, metric)
    order = sorted(ranked, key=lambda g: _mean(ranked[g]), reverse=higher)
    fig = new_figure(7.0 if report is None else 9.0, 1.2 + 0.4 * max(1, len(order)))
    axes = fig.subplots(1, 1 if report is None else 2, sharey=True, squeeze=False)[0]
    note = f" ({summary.rank_note})" if summary.rank_note else ""
    _bars(axes[0], summary, order, ranked, metric + ("" if higher else " (lower is better)"))
    axes[0].set_yticks(range(len(order)), order)
    axes[0].invert_yaxis()  # best on top
    axes[0].set_title(f"{summary.name}: chosen by {metric}{note}", loc="left")
    if report is not None:
        _bars(axes[1], summary, order, _points(summary, report), report, hatch="//")
        axes[1].set_title("reported, not used to choose", loc="left", fontsize="medium")
    fig.savefig(summary.folder / "metric.png")
    return fig


def _points(summary: Summary, key: str) -> dict[str, list[float]]:
    """Each variant's values of ``key`` over its completed runs (one per seed)."""
    points: dict[str, list[float]] = {}
    for row in summary.rows:
        v = value(row, key)
        if row["status"] == "completed" and v is not None:
            points.setdefault(_group_of(summary, row), []).append(float(v))
    return points


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


def _bars(ax: Any, summary: Summary, order: Sequence[str], points: dict[str, list[float]],
          xlabel: str, hatch: str | None = None) -> None:
    """A bar at each variant's mean (rows in ``order``) and a dot per seed."""
    colours = _colours(summary)
    means = [_mean(points.get(g, [])) for g in order]
    ax.barh(range(len(order)), means, color=[colours[g] for g in order], alpha=0.7, hatch=hatch)
    for i, g in enumerate(order):
        ax.plot(points.get(g, []), [i] * len(points.get(g, [])), "k.", markersize=4)
    ax.set(xlabel=xlabel)
    ax.grid(axis="x", alpha=0.3)
