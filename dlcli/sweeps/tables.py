"""A comparison's tables and files: sorting rows (``--sort``), the per-variant table and the
across-seeds table, and ``summary.csv/json/md`` written atomically as each variant ends. The rows
and what is chosen are :mod:`dlcli.sweeps.summary`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dlcli.errors import UsageError
from dlcli.metrics import metric_names, task_of
from dlcli.runs import write_atomic, write_json
from dlcli.sweeps.summary import (
    METRIC_NAMES,
    ROW_KEYS,
    Summary,
    chosen_line,
    fmt,
    higher_is_better,
    value,
)

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


