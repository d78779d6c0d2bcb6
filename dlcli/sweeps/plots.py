"""A search's pictures, beside summary.csv (matplotlib imported by
:func:`dlcli.viz.plots.new_figure`):

- ``search-params.png``: the validation metric against each searched key, one dot per trial,
  coloured by status (log axis for log-scale keys): the course's "visualize the
  cross-validation results";
- ``search-scatter.png``: with two keys or more, the two that matter most (``lr`` x ``reg`` when
  searched, else the two with the strongest rank correlation with the metric), each trial
  coloured by its validation metric;
- ``search-progress.png``: each trial's metric and the best so far, against the trial number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dlcli.sweeps.search import Search
from dlcli.sweeps.summary import Summary, value
from dlcli.viz.plots import new_figure

FILES = ("search-params.png", "search-scatter.png", "search-progress.png")
COLOURS = {"completed": "C0", "pruned": "C1"}  # anything else (failed, diverged...): red
PAIR = ("lr", "reg")  # the lecture's two: learning rate and regularization strength


def search_plots(summary: Summary, search: Search) -> list[str]:
    """Write the plots of a search's rows; the names of the files written."""
    rows = [r for r in summary.rows if _y(summary, r) is not None]
    if not rows:
        return []
    written = [_params(summary, search, rows)]
    keys = _pair(summary, search, rows)
    if keys is not None:
        written.append(_scatter(summary, search, rows, keys))
    written.append(_progress(summary, rows))
    return written


def _y(summary: Summary, row: dict[str, Any]) -> float | None:
    v = value(row, summary.metric[0])
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def _x(search: Search, key: str, row: dict[str, Any]) -> float:
    """A key's value on its axis (a choice: its position among the choices)."""
    dist, v = search.params[key], row.get(key)
    if dist.kind == "choice":
        return float(next((i for i, c in enumerate(dist.choices) if _same(c, v)), -1))
    return float(v) if isinstance(v, (int, float)) else math.nan


def _same(choice: Any, v: Any) -> bool:
    return choice == v or str(choice) == str(v)


def _axis(ax: Any, search: Search, key: str, which: str = "x") -> None:
    dist = search.params[key]
    if dist.log_scale:
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    if dist.kind == "choice":
        ticks = (ax.set_xticks if which == "x" else ax.set_yticks)
        ticks(range(len(dist.choices)), [str(c) for c in dist.choices])
    (ax.set_xlabel if which == "x" else ax.set_ylabel)(key)


def _ylabel(summary: Summary) -> str:
    metric, higher = summary.metric
    return metric + ("" if higher else " (lower is better)")


def _params(summary: Summary, search: Search, rows: list[dict[str, Any]]) -> str:
    keys = search.keys
    fig = new_figure(3.2 * len(keys) + 0.8, 3.6)
    axes = fig.subplots(1, len(keys), sharey=True, squeeze=False)[0]
    statuses = list(dict.fromkeys(r["status"] for r in rows))
    for ax, key in zip(axes, keys, strict=True):
        for status in statuses:
            mine = [r for r in rows if r["status"] == status]
            ax.scatter([_x(search, key, r) for r in mine], [_y(summary, r) for r in mine],
                       s=18, color=COLOURS.get(status, "red"), alpha=0.8,
                       label=f"{status} ({len(mine)})")
        _axis(ax, search, key)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(_ylabel(summary))
    axes[0].legend(fontsize="small")
    fig.suptitle(f"{summary.name}: {summary.metric[0]} per trial")
    fig.savefig(summary.folder / FILES[0])
    return FILES[0]


def _pair(summary: Summary, search: Search, rows: list[dict[str, Any]]
          ) -> tuple[str, str] | None:
    """lr x reg when both are searched, else the two keys whose values rank-correlate most
    with the metric (over completed trials); None with one key."""
    keys = search.keys
    if len(keys) < 2:
        return None
    leaves = {k.rsplit(".", 1)[-1]: k for k in keys}
    if all(p in leaves for p in PAIR):
        return leaves[PAIR[0]], leaves[PAIR[1]]
    done = [r for r in rows if r["status"] == "completed"]
    y = _ranks([_y(summary, r) or 0.0 for r in done])
    strength = {k: abs(_corr(_ranks([_x(search, k, r) for r in done]), y)) for k in keys}
    first, second = sorted(keys, key=lambda k: -strength[k])[:2]
    return first, second


def _ranks(xs: Sequence[float]) -> np.ndarray:
    return np.argsort(np.argsort(np.asarray(xs, dtype=float), kind="stable")).astype(float)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _scatter(summary: Summary, search: Search, rows: list[dict[str, Any]],
             keys: tuple[str, str]) -> str:
    fig = new_figure(6.0, 4.6)
    ax = fig.add_subplot()
    done = [r for r in rows if r["status"] == "completed"]
    others = [r for r in rows if r["status"] != "completed"]
    points = ax.scatter([_x(search, keys[0], r) for r in done],
                        [_x(search, keys[1], r) for r in done],
                        c=[_y(summary, r) for r in done], cmap="viridis", s=40,
                        edgecolors="k", linewidths=0.3)
    if others:
        ax.scatter([_x(search, keys[0], r) for r in others],
                   [_x(search, keys[1], r) for r in others], marker="x", color="grey", s=20,
                   label="not completed (pruned, failed)")
        ax.legend(fontsize="small")
    if done:
        fig.colorbar(points, ax=ax, label=_ylabel(summary))
    _axis(ax, search, keys[0], "x")
    _axis(ax, search, keys[1], "y")
    ax.grid(alpha=0.3)
    ax.set_title(f"{summary.name}: {keys[0]} x {keys[1]}")
    fig.savefig(summary.folder / FILES[1])
    return FILES[1]


def _progress(summary: Summary, rows: list[dict[str, Any]]) -> str:
    """Trials in the order they were asked (the row index); the best so far over completed."""
    metric, higher = summary.metric
    fig = new_figure(6.4, 3.8)
    ax = fig.add_subplot()
    ordered = sorted(rows, key=lambda r: r["index"])
    for status in dict.fromkeys(r["status"] for r in ordered):
        mine = [r for r in ordered if r["status"] == status]
        ax.scatter([r["index"] for r in mine], [_y(summary, r) for r in mine], s=16,
                   color=COLOURS.get(status, "red"), alpha=0.7, label=status)
    best: list[float] = []
    xs: list[int] = []
    for r in ordered:
        y = _y(summary, r)
        if r["status"] != "completed" or y is None:
            continue
        better = not best or (y > best[-1] if higher else y < best[-1])
        best.append(y if better else best[-1])
        xs.append(r["index"])
    if best:
        xs.append(ordered[-1]["index"])  # the line runs to the last trial
        best.append(best[-1])
        ax.step(xs, best, where="post", color="k", linewidth=1.2, label="best so far")
    ax.set(xlabel="trial", ylabel=_ylabel(summary), title=f"{summary.name}: best {metric}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.savefig(summary.folder / FILES[2])
    return FILES[2]
