"""The PNG plots: one run's ``loss.png`` (the course's figure: the loss above the training and
validation metric), and a comparison's ``loss.png`` and ``metric.png``. A run's ``weights.png``
is in :mod:`dlcli.viz.weights`.

matplotlib is imported inside the functions (``dlcli --help`` stays fast) and used through its
object API with the Agg canvas: no pyplot, no global state, safe in worker processes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlcli.sweeps.summary import Summary, value
from dlcli.viz.curves import Curves, moving_average, read_curves, window_for

DECADES = 10.0  # a log axis once the positive losses span at least this ratio
MAX_LEGEND = 12  # more variants than this: no legend (it would hide the curves)
MAX_DRAWN = 20_000  # raw points drawn per curve; more are thinned (the average uses them all)
R2_FLOOR = -1.0  # an R² axis is cut here: a diverged run's -1e49 would flatten the rest
METRIC_LABEL = {"accuracy": "accuracy", "r2": "R²"}


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


def run_figure(run_dir: Path, title: str | None = None, path: Path | None = None
               ) -> Path | None:
    """Draw a run folder's ``loss.png`` (or ``path``) from its metrics.csv, every segment of a
    resumed run; its path, or None when there is no iteration to draw. ``title`` defaults to
    the run's config (name: strategy, model on source). See :func:`loss_figure`."""
    curves = read_curves(run_dir)
    if not curves.iterations:
        return None
    fig = loss_figure(curves, title if title is not None else run_title(run_dir))
    out = path or run_dir / "loss.png"
    fig.savefig(out)
    return out


def loss_figure(curves: Curves, title: str) -> Any:
    """The course's figure: the training loss of every iteration (faint) and its moving
    average on top; below, the training metric (on the fixed ``eval_train_rows`` subset) and
    the validation metric at each evaluation. A landscape keeps one panel: f along the path."""
    two = curves.has_metrics
    fig = new_figure(7.0, 6.0 if two else 3.6)
    axes = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2)) if two else [fig.add_subplot()]
    _loss_panel(axes[0], curves)
    axes[0].set_title(title)
    if two:
        _metric_panel(axes[1], curves)
    axes[-1].set_xlabel("iteration")
    return fig


def run_title(run_dir: Path) -> str:
    """``name: strategy, model on source`` from the folder's config.yaml (its name without)."""
    from dlcli.runs import read_run

    cfg = read_run(run_dir).config or {}
    parts = [(cfg.get(k) or {}).get("name") if isinstance(cfg.get(k), dict) else None
             for k in ("strategy", "model", "data")]
    source = (cfg.get("data") or {}).get("source") if isinstance(cfg.get("data"), dict) else None
    if not all(parts[:2]) or not source:
        return run_dir.name
    return f"{cfg.get('name', run_dir.name)}: {parts[0]}, {parts[1]} on {source}"


def _loss_panel(ax: Any, curves: Curves) -> None:
    """Every iteration's loss (faint, thinned past MAX_DRAWN points) and its moving average;
    a landscape's f alone, as it is not noisy in the same way."""
    its, losses = curves.iterations, curves.losses
    step = max(1, len(its) // MAX_DRAWN)
    window = window_for(len(its))
    if curves.landscape or window == 1:
        ax.plot(its[::step], losses[::step], linewidth=1.0, color="C0")
    else:
        ax.plot(its[::step], losses[::step], linewidth=0.6, alpha=0.3, color="C0",
                label="each iteration")
        ax.plot(its[::step], moving_average(losses, window)[::step], linewidth=1.6,
                color="C0", label=f"moving average ({window} iterations)")
        ax.legend(fontsize="small", loc="upper right")
    _axes(ax, losses)
    ax.set_ylabel("f(w)" if curves.landscape else "training loss")


def _metric_panel(ax: Any, curves: Curves) -> None:
    """The training and validation metric at each evaluation, as the course plots accuracy."""
    name = (curves.val_name or curves.train_name or "val_accuracy").split("_", 1)[1]
    for values, label, colour in ((curves.train, "training (a fixed subset)", "C1"),
                                  (curves.val, "validation", "C2")):
        pts = [(i, v) for i, v in zip(curves.evals, values, strict=True) if v is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", markersize=3, linewidth=1.2,
                    color=colour, label=label)
    ylabel = METRIC_LABEL.get(name, name)
    if name == "r2":
        ylabel = _floor_r2(ax, [v for v in (*curves.train, *curves.val) if v is not None])
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")


def _floor_r2(ax: Any, values: Sequence[float]) -> str:
    """Cut an R² axis at R2_FLOOR when some value is below it; the label says so."""
    finite = [v for v in values if math.isfinite(v)]
    if finite and min(finite) < R2_FLOOR:
        ax.set_ylim(R2_FLOOR, max(1.0, max(finite)) + 0.05)
        return f"R² (cut at {R2_FLOOR:g})"
    return "R²"


PICTURES = ("loss.png", "weights.png", "trajectory.png", "metric.png")  # listed first


def pictures(folder: Path) -> list[str]:
    """The PNG files directly in a run or compare folder (what ``runs show`` lists): the
    known plots first, then the others by name; [] when the folder cannot be read."""
    try:
        names = sorted(p.name for p in Path(folder).iterdir()
                       if p.suffix.lower() == ".png" and p.is_file())
    except OSError:
        return []
    return sorted(names, key=lambda n: PICTURES.index(n) if n in PICTURES else len(PICTURES))


def compare_plots(summary: Summary) -> None:
    """``loss.png`` (every variant's curve, one colour per variant across seeds) and
    ``metric.png`` (the ranking metric per variant, best on top: mean and each seed; the test
    metric in a second panel, in the same order)."""
    _loss_overlay(summary)
    _metric_bars(summary)


def _group_of(summary: Summary, row: dict[str, Any]) -> str:
    from dlcli.sweeps.labels import show_value

    parts = [str(row["variant"])] if len({r["variant"] for r in summary.rows}) > 1 else []
    parts += [f"{k.rsplit('.', 1)[-1]}={show_value(row[k])}" for k in summary.grid_keys]
    return " ".join(parts) or str(row["variant"])


def _colours(summary: Summary) -> dict[str, str]:
    """One colour per variant (its seeds share it), the same in both plots."""
    groups = dict.fromkeys(_group_of(summary, row) for row in summary.rows)
    return {g: f"C{i % 10}" for i, g in enumerate(groups)}


def _loss_overlay(summary: Summary) -> Any:
    """Every variant's training loss; below it, when the runs have one, its validation metric at
    each evaluation (one colour per variant, the same above and below). Completed runs set the
    loss axis; a diverged or failed run is dashed and may leave the top. The loss axes back."""
    curves = [(row, read_curves(summary.folder / row["run_dir"])) for row in summary.rows]
    curves = [(row, c) for row, c in curves if c.iterations]
    two = any(c.has_metrics for _, c in curves)
    fig = new_figure(7.0, 7.0 if two else 4.2)
    axes = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2)) if two else [fig.add_subplot()]
    ax = axes[0]
    colours, labelled = _colours(summary), set()
    kept: list[float] = []
    others: list[float] = []
    lengths: list[int] = []
    for row, c in curves:
        its, losses = c.iterations, c.losses
        lengths.append(its[-1])
        group, done = _group_of(summary, row), row["status"] == "completed"
        label = group if done else f"{group} ({row['status']})"
        style = {"color": colours[group], "linestyle": "-" if done else "--"}
        ax.plot(its, losses, linewidth=1.0, alpha=0.85, **style,
                label=None if label in labelled else label)
        labelled.add(label)
        (kept if done else others).extend(losses)
        if two:
            pts = [(i, v) for i, v in zip(c.evals, c.val, strict=True) if v is not None]
            if pts:
                axes[1].plot(*zip(*pts, strict=True), marker="o", markersize=2.5,
                             linewidth=1.0, alpha=0.85, **style)
    _axes(ax, kept or others)
    if lengths and min(lengths) > 0 and max(lengths) >= DECADES * min(lengths):
        ax.set_xscale("log")  # 3 steps next to 1000: the short runs stay visible
    _cut_outliers(ax, kept, others)
    ax.set(ylabel="training loss", title=f"{summary.name}: loss")
    if two:
        _val_axis(axes[1], [c for _, c in curves])
    axes[-1].set_xlabel("iteration")
    if 0 < len(labelled) <= MAX_LEGEND:
        ax.legend(fontsize="small", ncols=1 + len(labelled) // 8)
    elif labelled:  # 30 trials of a search: a legend would cover the curves
        ax.text(0.99, 0.98, f"{len(labelled)} variants: see summary.md", transform=ax.transAxes,
                ha="right", va="top", fontsize="small")
    fig.savefig(summary.folder / "loss.png")
    return ax


def _cut_outliers(ax: Any, kept: Sequence[float], others: Sequence[float]) -> None:
    """The loss axis spans the completed runs' losses when some run did not complete."""
    finite = [v for v in kept if math.isfinite(v)]
    if finite and others:
        lo, hi = min(finite), max(finite)
        if ax.get_yscale() == "log":
            ax.set_ylim(lo / 1.5, hi * 1.5)
        else:
            ax.set_ylim(lo - 0.05 * (hi - lo + 1e-12), hi + 0.1 * (hi - lo + 1e-12))


def _val_axis(ax: Any, curves: Sequence[Curves]) -> None:
    names = list(dict.fromkeys(c.val_name for c in curves if c.has_metrics and c.val_name))
    label = " / ".join(names) or "validation metric"
    if names == ["val_r2"]:
        label = label.replace("val_r2", "val " + _floor_r2(
            ax, [v for c in curves for v in c.val if v is not None]))
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)


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
    fig.suptitle(f"{summary.name}: chosen by {metric}{note}")
    axes[0].set_title("chosen by", loc="left", fontsize="medium")
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
