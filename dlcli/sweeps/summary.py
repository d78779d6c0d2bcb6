"""Summaries of a comparison: one row per variant, mean ± std across seeds, the ranking and the
chosen variant, sorting, the ``summary.{csv,json,md}`` writers and the terminal sparkline. The
plots are in :mod:`dlcli.viz.plots` (matplotlib is imported only there); the ``runs list`` rows in
:mod:`dlcli.runs.listing`.

Choose on validation, report test once: rows and groups are ranked by the validation metric
(:func:`dlcli.metrics.rank_metric`; the final loss without a validation split), the test metric
is shown beside it and is a sort key only on request (``--sort test_accuracy``).

A row is a flat dict: ``index, variant, <grid keys>, seed, status, metrics{...}, iterations,
wall_time_s, error, run_dir, hash``.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlcli.errors import UsageError
from dlcli.metrics import (
    HIGHER_IS_BETTER,
    NO_VALIDATION,
    RANK_KEYS,
    REPORT_KEYS,
    higher_is_better,
    metric_names,
)
from dlcli.runs import write_atomic, write_json

# Every metric any task reports: what --sort accepts when the task is not known yet.
METRIC_NAMES = tuple(dict.fromkeys(
    name for task in ("classification", "regression", "landscape") for name in metric_names(task)))
ROW_KEYS = ("index", "variant", "seed", "status", "iterations", "wall_time_s")
SPARKS = "▁▂▃▄▅▆▇█"


def rank_metric(metrics: Iterable[Mapping[str, Any]]) -> tuple[str, bool]:
    """(key, higher_is_better) a set of runs is ranked by: the validation metric any of them
    has (val_accuracy, else val_r2), else the final training loss (lower is better). A run
    without metrics (a crash) has no say; the test metric never ranks."""
    seen = [m for m in metrics if any(v is not None for v in m.values())]
    key = next((k for k in RANK_KEYS if any(m.get(k) is not None for m in seen)), NO_VALIDATION)
    return key, higher_is_better(key)


def report_metric(metrics: Iterable[Mapping[str, Any]]) -> str | None:
    """The test metric a set of runs reports (test_accuracy, test_r2), None for landscapes."""
    keys = {k for m in metrics for k in m}
    return next((k for k in REPORT_KEYS if k in keys), None)


def _why_not_validation(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Why a comparison of classifiers or regressors ranks by the final loss, if it does."""
    completed = [r["metrics"] for r in rows if r["status"] == "completed"]
    if any(k in m for m in completed for k in RANK_KEYS):  # present, and None in every run
        return "no validation split: num_val is 0"
    return None


def make_row(variant: Any, result: Mapping[str, Any]) -> dict[str, Any]:
    """The summary row of one finished variant (a :class:`dlcli.sweeps.plan.Variant`) from its
    result."""
    return {
        "index": variant.index, "label": variant.label, "variant": variant.name, **variant.grid,
        "seed": variant.seed,
        "status": result.get("status", "failed"), "metrics": dict(result.get("metrics") or {}),
        "iterations": result.get("iterations"), "wall_time_s": result.get("wall_time_s"),
        "error": result.get("error"), "run_dir": variant.folder, "hash": variant.hash,
    }


def value(row: Mapping[str, Any], key: str) -> Any:
    return row[key] if key in row else row.get("metrics", {}).get(key)


@dataclass
class Summary:
    """Everything ``dlcli compare`` reports; ``rows`` are in sweep order."""

    folder: Path
    name: str
    grid_keys: list[str]
    total: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def metric(self) -> tuple[str, bool]:
        """(key, higher_is_better) the rows are ranked by: validation, see :func:`rank_metric`."""
        return rank_metric(r["metrics"] for r in self.rows)

    @property
    def report_key(self) -> str | None:
        """The test metric shown beside the ranking one (never sorted on unless asked)."""
        return report_metric(r["metrics"] for r in self.rows)

    @property
    def rank_note(self) -> str | None:
        """Why the ranking is not on validation ("no validation split: num_val is 0"), if so."""
        return _why_not_validation(self.rows) if self.metric[0] == NO_VALIDATION else None

    def sorted_by(self, sort: str | None = None) -> str:
        """``val_accuracy``, or ``final_loss (no validation split: num_val is 0)``, or ``sort``."""
        note = self.rank_note if sort is None else None
        return (sort or self.metric[0]) + (f" ({note})" if note else "")

    def title(self, sort: str | None = None) -> str:
        return f"{self.name}: sorted by {self.sorted_by(sort)}"

    @property
    def completed(self) -> int:
        return sum(r["status"] == "completed" for r in self.rows)

    @property
    def seeds_vary(self) -> bool:
        return len({r["seed"] for r in self.rows}) > 1

    def groups(self) -> list[dict[str, Any]]:
        """Mean ± std (sample std, over completed runs) of every variant across its seeds, of
        the ranking metric, the test metric, the final loss and the wall time."""
        by: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for row in self.rows:
            by.setdefault(tuple(str(row[k]) for k in ["variant", *self.grid_keys]), []).append(row)
        names = dict.fromkeys([self.metric[0], *([self.report_key] if self.report_key else []),
                               "final_loss", "wall_time_s"])
        out = []
        for rows in by.values():
            done = [r for r in rows if r["status"] == "completed"]
            group = {k: rows[0][k] for k in ["variant", *self.grid_keys]}
            label = rows[0]["label"] if len(rows) == 1 else group_label(rows[0], self.grid_keys)
            group.update(label=label, indices=[r["index"] for r in rows], runs=len(rows),
                         completed=len(done))
            for name in names:
                mean, std = mean_std([value(r, name) for r in done])
                group.update({f"{name}_mean": mean, f"{name}_std": std})
            out.append(group)
        return out

    def chosen(self) -> dict[str, Any] | None:
        """The variant chosen by the ranking metric (across seeds: by its mean over the completed
        runs; ties: the first in sweep order) with its test figure; None if none completed."""
        key, higher = self.metric
        known = [g for g in self.groups() if g[f"{key}_mean"] is not None]
        if not known:
            return None
        pick = max if higher else min
        best = pick(known, key=lambda g: g[f"{key}_mean"])
        report = self.report_key
        return {"label": best["label"], "indices": best["indices"], "runs": best["completed"],
                "metric": key, "value": best[f"{key}_mean"], "report_metric": report,
                "report_value": best[f"{report}_mean"] if report else None}

    @classmethod
    def from_json(cls, folder: Path, obj: Mapping[str, Any]) -> Summary:
        return cls(folder, obj["name"], list(obj["grid_keys"]), obj["variants"],
                   list(obj["rows"]), bool(obj.get("interrupted")))

    def to_json(self) -> dict[str, Any]:
        """``metric`` ranks (validation), ``report_metric`` is reported, ``chosen`` is the pick."""
        key, higher = self.metric
        return {"name": self.name, "folder": str(self.folder), "metric": key,
                "higher_is_better": higher, "rank_note": self.rank_note,
                "report_metric": self.report_key, "chosen": self.chosen(),
                "variants": self.total, "finished": len(self.rows),
                "completed": self.completed, "interrupted": self.interrupted,
                "reused": sum(bool(r.get("reused")) for r in self.rows), "notes": self.notes,
                "grid_keys": self.grid_keys, "rows": self.rows, "groups": self.groups()}


def group_label(row: Mapping[str, Any], grid_keys: Sequence[str]) -> str:
    """A variant across its seeds, as its runs' labels name it without the seed:
    ``momentum lr=1e-06``."""
    from dlcli.sweeps.labels import show_value

    leaves = [k.rsplit(".", 1)[-1] for k in grid_keys]
    parts = [str(row["variant"])]
    parts += [f"{leaf if leaves.count(leaf) == 1 else key}={show_value(row[key])}"
              for key, leaf in zip(grid_keys, leaves, strict=True)]
    return " ".join(parts)


def chosen_line(summary: Summary) -> str:
    """The line a comparison ends with: the chosen variant, its validation metric (what chose
    it) and its test metric (reported once), means when it ran with several seeds."""
    best = summary.chosen()
    if best is None:
        return "chosen: none (no variant completed)"
    key, note = best["metric"], summary.rank_note
    how = "on validation" if key in RANK_KEYS else f"on {key}"
    how += " (no validation split)" if note else ""
    report = best["report_metric"]
    figures = [f"{key} {fmt(key, best['value'])}"]
    figures += [f"{report} {fmt(report, best['report_value'])}"] if report else []
    tail = f" (means of {best['runs']} seeds)" if best["runs"] > 1 else ""
    if len(summary.rows) < summary.total:
        tail += f" (so far: {len(summary.rows)} of {summary.total} variants finished)"
    return f"chosen {how}: {best['label']} — {', '.join(figures)}{tail}"


def mean_std(values: Iterable[Any]) -> tuple[float | None, float | None]:
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return None, None
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else None)


# --------------------------------------------------------------------------- sorting


def sort_keys(grid_keys: Sequence[str], metrics: Iterable[str] | None = None) -> list[str]:
    """What ``--sort`` accepts: the summary's columns, every grid key (or its last part), and the
    metrics (default: every metric any task has)."""
    leaves = [k.rsplit(".", 1)[-1] for k in grid_keys]
    unique = [leaf for leaf in leaves if leaves.count(leaf) == 1 and leaf not in grid_keys]
    names = METRIC_NAMES if metrics is None else metrics
    return list(dict.fromkeys([*ROW_KEYS, *grid_keys, *unique, *names]))


def plan_metrics(configs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The metric names runs of these resolved configs will have (by their data.source; every
    key of their result's metrics, see :func:`dlcli.metrics.metric_names`)."""
    from dlcli.metrics import task_of

    tasks = dict.fromkeys(task_of(str((c.get("data") or {}).get("source"))) for c in configs)
    return list(dict.fromkeys(n for t in tasks for n in metric_names(t)))


def check_sort(key: str | None, grid_keys: Sequence[str],
               metrics: Iterable[str] | None = None) -> None:
    """``metrics``: the metric names the runs will have (see :func:`dlcli.metrics.metric_names`);
    None accepts any metric of any task."""
    valid = sort_keys(grid_keys, metrics)
    if key is not None and key.lstrip("-") not in valid:
        raise UsageError(f"--sort {key!r}: unknown column; valid: {', '.join(valid)}")


def sort_rows(rows: Sequence[dict[str, Any]], key: str, grid_keys: Sequence[str]
              ) -> list[dict[str, Any]]:
    """Best first for metrics (accuracy and R² descending; losses, RMSE and MAE ascending),
    other columns ascending; ``-KEY`` reverses. Missing values go last; by a metric, so do the
    runs that did not complete (the weights a diverged run kept say little)."""
    name = _full_key(key.lstrip("-"), grid_keys)
    descending = higher_is_better(name) != key.startswith("-")
    by_metric = name not in ROW_KEYS and name not in grid_keys

    def last(r: Mapping[str, Any]) -> bool:
        return value(r, name) is None or (by_metric and r["status"] != "completed")

    present = [r for r in rows if not last(r)]
    present.sort(key=lambda r: _sortable(value(r, name)), reverse=descending)
    return present + [r for r in rows if last(r)]  # in sweep order


def _full_key(key: str, grid_keys: Sequence[str]) -> str:
    return next((g for g in grid_keys if g == key or g.rsplit(".", 1)[-1] == key), key)


def _sortable(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, (int, float)) else (1, str(v))


# --------------------------------------------------------------------------- tables


def fmt(key: str, v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if key.endswith(HIGHER_IS_BETTER):  # a diverged regressor's R² can be -1e49
            return f"{v:.3f}" if abs(v) < 1e3 else f"{v:.3g}"
        if key.startswith("wall_time"):
            return f"{v:.2f}" if v < 10 else f"{v:.1f}"
        return f"{v:.4g}"
    return str(v)


def _metric_columns(summary: Summary) -> list[str]:
    """The ranking metric, then the reported test metric beside it, then the losses."""
    report = [summary.report_key] if summary.report_key else []
    return list(dict.fromkeys([summary.metric[0], *report, "final_loss", "best_loss"]))


def _cell(column: str, row: Mapping[str, Any]) -> str:
    text = fmt(column, value(row, column))
    return f"{text} (reused)" if column == "status" and row.get("reused") else text


def run_table(summary: Summary, sort: str | None = None, extra: Mapping[str, str] | None = None
              ) -> tuple[list[str], list[list[str]]]:
    """(headers, cells) of the per-variant table, sorted by ``sort`` or the ranking (validation)
    metric, the test metric beside it; ``extra`` (run_dir -> text, e.g. a sparkline) adds a
    last "loss" column."""
    metric, _ = summary.metric
    key = _full_key((sort or metric).lstrip("-"), summary.grid_keys)
    show_variant = len({r["variant"] for r in summary.rows}) > 1 or not summary.grid_keys
    metrics = _metric_columns(summary)
    cols = [*(["variant"] if show_variant else []), *summary.grid_keys,
            *(["seed"] if summary.seeds_vary else []), "status", *metrics, "iterations",
            "wall_time_s"]
    if key not in cols and key != "index":
        cols.insert(cols.index(metrics[-1]) + 1, key)
    from dlcli.sweeps.labels import show_value

    rows = sort_rows(summary.rows, sort or metric, summary.grid_keys)
    cells = [[show_value(value(r, c)) if c in summary.grid_keys else _cell(c, r)
              for c in cols] + ([extra.get(r["run_dir"], "")] if extra is not None else [])
             for r in rows]
    return cols + (["loss"] if extra is not None else []), cells


def group_table(summary: Summary) -> tuple[list[str], list[list[str]]] | None:
    """(headers, cells) of mean ± std across seeds, best first by the ranking metric's mean
    (the test metric's beside it); None when nothing repeats."""
    groups = summary.groups()
    if all(g["runs"] == 1 for g in groups):
        return None
    metric, higher = summary.metric
    known = [g for g in groups if g[f"{metric}_mean"] is not None]
    known.sort(key=lambda g: g[f"{metric}_mean"], reverse=higher)
    groups = known + [g for g in groups if g[f"{metric}_mean"] is None]
    names = [n for n in _metric_columns(summary) if n != "best_loss"]
    heads = ["variant", *summary.grid_keys, "runs", *(f"{n} (mean ± std)" for n in names),
             "wall_time_s (mean)"]
    cells = [[str(g[k]) for k in ["variant", *summary.grid_keys]]
             + [f"{g['completed']}/{g['runs']}", *(_pm(n, g) for n in names),
                fmt("wall_time_s", g["wall_time_s_mean"])] for g in groups]
    return heads, cells


def _pm(key: str, group: Mapping[str, Any]) -> str:
    mean, std = group[f"{key}_mean"], group[f"{key}_std"]
    if std is None:
        return fmt(key, mean)
    return f"{fmt(key, mean)} ± {fmt(key, std) if higher_is_better(key) else f'{std:.2g}'}"


def markdown(headers: Sequence[str], cells: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- files


def csv_columns(summary: Summary) -> list[str]:
    """The ranking metric first, the test metric second, then every other metric."""
    names = list(dict.fromkeys([*_metric_columns(summary)[:2],
                                *(k for r in summary.rows for k in r["metrics"])]))
    return ["index", "variant", *summary.grid_keys, "seed", "status", *names, "iterations",
            "wall_time_s", "error", "run_dir", "hash", "reused"]


def write_summary(summary: Summary, sort: str | None = None) -> None:
    """``summary.csv`` and ``summary.json`` (sweep order) and ``summary.md`` (sorted), each
    written atomically, so a reader or a crash never sees half a file."""
    columns = csv_columns(summary)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in summary.rows:
        writer.writerow(["" if value(row, c) is None else value(row, c) for c in columns])
    write_atomic(summary.folder / "summary.csv", buf.getvalue().encode())
    write_json(summary.folder / "summary.json", summary.to_json())
    write_atomic(summary.folder / "summary.md", summary_markdown(summary, sort).encode())


def summary_markdown(summary: Summary, sort: str | None = None) -> str:
    text = [f"# {summary.name}", f"{len(summary.rows)} of {summary.total} variants finished, "
            f"{summary.completed} completed; sorted by {summary.sorted_by(sort)}.",
            markdown(*run_table(summary, sort))]
    groups = group_table(summary)
    if groups:
        text += ["## Across seeds", markdown(*groups)]
    text.append(chosen_line(summary) + ".")
    pictures = ("loss.png", "metric.png", "search-params.png", "search-scatter.png",
                "search-progress.png")
    text += [f"![{name}]({name})" for name in pictures if (summary.folder / name).exists()]
    if (summary.folder / "report.html").exists():
        text.append("The same and every run's section, in one page: [report.html](report.html).")
    if summary.notes:
        text += ["## Notes", "\n".join(f"- {note}" for note in summary.notes)]
    return "\n\n".join(t.rstrip("\n") for t in text) + "\n"


def sparkline(values: Sequence[float], width: int = 40) -> str:
    """Losses as unicode blocks ``▁▂▃▄▅▆▇█``, averaged into at most ``width`` buckets."""
    xs = [v for v in values if math.isfinite(v)]
    if not xs:
        return ""
    n = min(width, len(xs))
    buckets = [statistics.fmean(xs[i * len(xs) // n:(i + 1) * len(xs) // n]) for i in range(n)]
    lo, hi = min(buckets), max(buckets)
    span = (hi - lo) or 1.0
    return "".join(SPARKS[min(7, int((b - lo) / span * 8))] for b in buckets)
