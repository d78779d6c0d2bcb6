"""Listeners of the training loop: the run folder writer and the live/plain progress displays."""

from __future__ import annotations

import csv
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np

from dlcli import __version__
from dlcli.config import to_yaml
from dlcli.events import Callback, Outcome, Record, RunStart, Snapshot
from dlcli.runs import save_params, write_atomic, write_json

# + the training metric's column (train_accuracy or train_r2; none for a landscape) and the
# validation metric's (val_accuracy, val_r2 or neg_loss)
METRICS_COLUMNS = ("iteration", "loss", "best_loss", "elapsed_s", "loss_evals")


def versions() -> dict[str, str]:
    return {"dlcli": __version__, "python": platform.python_version(), "numpy": np.__version__}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunFolder(Callback):
    """Writes ``config.yaml`` at the start, streams ``metrics.csv``, writes ``checkpoint.npz``
    when the loop emits a snapshot (metrics.csv flushed first, its length recorded, so the two
    always agree), and at the end writes ``params.npz`` and ``result.json`` (atomically;
    result.json last, so its presence means the folder is complete).

    ``resume`` (the facts a checkpoint recorded: ``metrics_bytes``, ``segments``) continues a
    folder: metrics.csv is cut back to what the checkpoint saw and appended to.
    """

    FLUSH_EVERY_S = 1.0

    def __init__(self, path: Path, command: str, *, config_hash: str = "",
                 resume: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
                 ) -> None:
        self.path = path
        self.command = command
        self.config_hash = config_hash
        self.resume = resume
        self.extra = dict(extra or {})  # more keys for result.json (tags, note, blas, ...)
        self.result: dict[str, Any] = {}
        self._fh: IO[str] | None = None
        self._writer: Any = None
        self._last_flush = 0.0
        self._seed = 0  # both set again in on_start, from the run itself
        self._started = ""
        self._segments: list[dict[str, Any]] = []
        self._first = 0

    def on_start(self, start: RunStart) -> None:
        self._seed = start.config.seed
        self._started = now_iso()
        self._first = start.resumed_at
        write_atomic(self.path / "config.yaml", to_yaml(start.config).encode())
        columns = [*METRICS_COLUMNS, *([start.train_metric_name] if start.train_metric_name
                                       else []), start.val_metric_name]
        if start.config.data.source == "landscape":
            columns += ["x", "y"]
        metrics = self.path / "metrics.csv"
        if self.resume is not None:
            self._segments = list(self.resume.get("segments") or [])
            self._fh = open(metrics, "r+", newline="", encoding="utf-8")  # noqa: SIM115
            self._fh.truncate(int(self.resume["metrics_bytes"]))  # rows after the checkpoint
            self._fh.seek(0, 2)
            self._writer = csv.writer(self._fh)
            return
        self._fh = open(metrics, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.writer(self._fh)
        self._writer.writerow(columns)

    def on_step(self, record: Record) -> None:
        assert self._fh is not None
        row = [record.iteration, f"{record.loss:.9g}", f"{record.best_loss:.9g}",
               f"{record.elapsed_s:.4f}", record.loss_evals]
        if record.point is None:
            row.append(_num(record.train_metric))
        row.append(_num(record.val_metric))
        if record.point is not None:
            row += [repr(float(v)) for v in record.point]  # exact: a resume redraws the path
        self._writer.writerow(row)
        now = time.monotonic()
        if now - self._last_flush >= self.FLUSH_EVERY_S:
            self._fh.flush()
            self._last_flush = now

    def on_checkpoint(self, snapshot: Snapshot) -> None:
        from dlcli.checkpoint import FILE, save

        assert self._fh is not None
        self._fh.flush()  # the rows the checkpoint counts are in the file before it
        save(self.path / FILE, {
            "strategy": snapshot.strategy, "iteration": snapshot.iteration,
            "state": snapshot.state, "rng": snapshot.rng, "watch": snapshot.watch,
            "config_hash": self.config_hash, "metrics_bytes": self._fh.tell(),
            "segments": [*self._segments, self._segment(snapshot.iteration)],
            "started_at": self.resume.get("started_at") if self.resume else self._started})

    def _segment(self, last: int) -> dict[str, Any]:
        return {"from_iteration": self._first, "to_iteration": last,
                "started_at": self._started, "ended_at": now_iso()}

    def on_end(self, outcome: Outcome) -> None:
        if self._fh is not None:
            self._fh.close()
        save_params(self.path / "params.npz", outcome.params)
        self.result = {
            "run_dir": str(self.path),
            "status": outcome.status,
            "error": outcome.error,
            "metrics": outcome.metrics,
            "iterations": outcome.iterations,
            "stopped_early": outcome.stopped_early,
            "kept": {"weights": outcome.kept, "iteration": outcome.kept_iteration},
            "wall_time_s": round(outcome.wall_time_s, 4),
            "seed": self._seed,
            "versions": versions(),
            "started_at": (self.resume or {}).get("started_at") or self._started,
            "ended_at": now_iso(),
            "command": self.command,
            **self.extra,
        }
        if self.resume is not None:
            self.result["resumed_from"] = [*self._segments, self._segment(outcome.iterations)]
        write_json(self.path / "result.json", self.result)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def _eta(done: int, total: int, elapsed: float) -> float | None:
    return None if done == 0 else elapsed / done * (total - done)


class PlainProgress(Callback):
    """For a pipe or a log file: one line every ``every_s`` seconds, and at the end."""

    def __init__(self, stream: IO[str] | None = None, every_s: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self._last = 0.0
        self._total = 0
        self._name = ""
        self._val: float | None = None
        self._val_name = "val_accuracy"
        self._record: Record | None = None

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def on_start(self, start: RunStart) -> None:
        self._total, self._name = start.total_iterations, start.config.name
        self._val_name = start.val_metric_name
        self._last = time.monotonic()
        s = start.config
        self._line(f"[{self._name}] {s.strategy.name} on {s.data.source} with {s.model.name}: "
                   f"{self._total} iterations, {start.n_train} x {start.n_features} training rows")

    def on_step(self, record: Record) -> None:
        self._record = record
        if record.val_metric is not None:
            self._val = record.val_metric
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._line(self._progress(record))

    def _progress(self, r: Record) -> str:
        eta = _eta(r.iteration, self._total, r.elapsed_s)
        return (f"[{self._name}] iter {r.iteration}/{self._total}  loss {r.loss:.4f}  "
                f"best {r.best_loss:.4f}  {self._val_name} {_fmt(self._val, '.3f')}  "
                f"{r.elapsed_s:.1f}s elapsed, ETA {_fmt(eta, '.0f')}s")

    def on_end(self, outcome: Outcome) -> None:
        if self._record is not None:
            self._line(self._progress(self._record))


class LiveProgress(Callback):
    """For a terminal: a rich live bar with iteration/total, current and best loss, ETA."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  best {task.fields[best]}  "
                       "{task.fields[val_name]} {task.fields[val]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=False,
        )
        self._task: Any = None
        self._val = "-"

    def on_start(self, start: RunStart) -> None:
        self.progress.start()
        self._task = self.progress.add_task(
            start.config.name, total=start.total_iterations, loss="-", best="-", val="-",
            val_name=start.val_metric_name)

    def on_step(self, record: Record) -> None:
        if record.val_metric is not None:
            self._val = f"{record.val_metric:.3f}"
        self.progress.update(self._task, completed=record.iteration, loss=f"{record.loss:.4f}",
                             best=f"{record.best_loss:.4f}", val=self._val)

    def on_end(self, outcome: Outcome) -> None:
        self.progress.stop()


class LossPlot(Callback):
    """Draws the run's ``loss.png`` at the end. Wired after :class:`RunFolder`, and it swallows
    its own errors: by the time it runs, result.json is on disk, and a plot is only a view."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._name = ""

    def on_start(self, start: RunStart) -> None:
        s = start.config
        self._name = f"{s.name}: {s.strategy.name}, {s.model.name} on {s.data.source}"

    def on_end(self, outcome: Outcome) -> None:
        try:  # from metrics.csv: every segment of a resumed run
            from dlcli.viz.plots import run_figure

            run_figure(self.path, self._name)
        except Exception:  # a missing font, a full disk: the run's results must not suffer
            pass
