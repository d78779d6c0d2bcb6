"""Landscape runs: record the path taken and draw it on the contour plot of the function.

``trajectory.csv`` holds one row per point (step 0 is the start); ``trajectory.png`` shows the
contours (log-spaced levels), the path, the start, the end and the minima.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np

from dlcli.data.landscape import Landscape
from dlcli.events import Callback, Outcome, Record, RunStart
from dlcli.runs import write_atomic


class TrajectoryWriter(Callback):
    """Collects the point of every iteration; writes the CSV and the plot at the end."""

    def __init__(self, folder: Path, landscape: Landscape, start: tuple[float, float]) -> None:
        self.folder, self.landscape = folder, landscape
        self.path: list[tuple[float, ...]] = [tuple(start)]
        self.title = landscape.name

    def on_start(self, start: RunStart) -> None:
        if start.resumed_at:  # the path so far, from the x, y columns of metrics.csv
            self.path = self.path[:1] + _points(self.folder / "metrics.csv", start.resumed_at)
        s = start.config.strategy
        rule = f" + {s.update}" if s.update and s.update != s.name else ""
        noise = getattr(start.config.data, "noise", 0.0)
        self.title = (f"{self.landscape.name}: {s.name}{rule}, lr {s.lr:g}"
                      + (f", noise {noise:g}" if noise else ""))

    def on_step(self, record: Record) -> None:
        if record.point is not None:
            self.path.append(record.point)

    def on_end(self, outcome: Outcome) -> None:
        points = np.array(self.path, dtype=np.float64)
        write_csv(self.folder / "trajectory.csv", points, self.landscape)
        try:
            plot(self.folder / "trajectory.png", points, self.landscape, self.title)
        except Exception as exc:  # a picture must never cost the run its results
            warnings.warn(f"trajectory.png not drawn: {exc}", RuntimeWarning, stacklevel=1)


def _points(metrics: Path, last: int) -> list[tuple[float, ...]]:
    """The points of iterations 1..``last`` recorded in a landscape run's metrics.csv."""
    points: list[tuple[float, ...]] = []
    try:
        with open(metrics, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if int(row["iteration"]) <= last:
                    points.append((float(row["x"]), float(row["y"])))
    except (OSError, KeyError, TypeError, ValueError):
        pass  # a folder without them draws what it has
    return points


def write_csv(path: Path, points: np.ndarray, land: Landscape) -> None:
    """``step,x,y,loss`` for ``points (T, 2)``; the loss is the noise-free f."""
    lines = [("step", "x", "y", "loss")]
    values = land.value(points[:, 0], points[:, 1])
    for k, ((x, y), f) in enumerate(zip(points, values, strict=True)):
        lines.append((str(k), f"{x:.9g}", f"{y:.9g}", f"{f:.9g}"))
    buf = io.StringIO()
    csv.writer(buf).writerows(lines)
    write_atomic(path, buf.getvalue().encode())


def plot(path: Path, points: np.ndarray, land: Landscape, title: str) -> None:
    """Contours of f over the landscape's box with the path ``points (T, 2)`` on top."""

    from dlcli.viz.plots import new_figure

    xs = np.linspace(*land.xlim, 300)
    ys = np.linspace(*land.ylim, 300)
    gx, gy = np.meshgrid(xs, ys)
    fz = land.value(gx, gy)
    low = max(float(fz.min()), 1e-3 * float(np.median(fz)), 1e-6)
    levels = np.geomspace(low, float(fz.max()), 24)  # log-spaced: the valley floor shows too
    fig = new_figure(6.4, 4.8)
    ax = fig.add_subplot()
    ax.contour(gx, gy, np.maximum(fz, low), levels=levels, cmap="viridis", linewidths=0.7)
    inside = _clip_to_box(points, land)
    ax.plot(inside[:, 0], inside[:, 1], "-", color="tab:red", lw=1.2, label="path")
    ax.plot(inside[:, 0], inside[:, 1], ".", color="tab:red", ms=3)
    ax.plot(*points[0], "o", color="black", ms=7, label="start")
    if np.isfinite(points[-1]).all():
        ax.plot(*points[-1], "*", color="tab:orange", ms=13, mec="black", label="end")
    for m in land.minima:
        ax.plot(*m, "x", color="black", ms=8)
    ax.set(xlim=land.xlim, ylim=land.ylim, xlabel="x", ylabel="y", title=title)
    ax.legend(loc="upper right", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_atomic(path, buf.getvalue())


def _clip_to_box(points: np.ndarray, land: Landscape) -> np.ndarray:
    """The path up to where it leaves the finite numbers (a diverged run ends in inf/nan)."""
    finite = np.isfinite(points).all(axis=1)
    stop = len(points) if finite.all() else int(np.argmin(finite))
    return points[:stop]
