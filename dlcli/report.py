"""Summaries of a comparison: one row per variant, mean ± std across seeds, sorting, the
``summary.{csv,json,md}`` writers, the ``runs list`` rows and the terminal sparkline. The
plots are in :mod:`dlcli.plots` (matplotlib is imported only there).

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
from dlcli.runs import write_atomic, write_json

HIGHER_IS_BETTER = ("_accuracy", "_r2")
METRIC_NAMES = ("test_accuracy", "val_accuracy", "train_accuracy", "test_r2", "val_r2",
                "test_rmse", "test_mae", "final_loss", "best_loss")
ROW_KEYS = ("index", "variant", "seed", "status", "iterations", "wall_time_s")
SPARKS = "▁▂▃▄▅▆▇█"


def primary_metric(metrics: Iterable[Mapping[str, Any]]) -> tuple[str, bool]:
    """(key, higher_is_better) of a set of runs: the primary metric of any of them (see
    :func:`dlcli.metrics.primary_metric`: test accuracy, else test R²), else the final loss."""
    from dlcli.metrics import PRIMARY_KEYS
    from dlcli.metrics import primary_metric as of_run

    keys = {of_run(dict(m))[0] for m in metrics if any(v is not None for v in m.values())}
    key = next((k for k in PRIMARY_KEYS if k in keys), "final_loss")
    return key, higher_is_better(key)


def higher_is_better(key: str) -> bool:
    return key.endswith(HIGHER_IS_BETTER)


def make_row(variant: Any, result: Mapping[str, Any]) -> dict[str, Any]:
    """The summary row of one finished variant (a :class:`dlcli.sweep.Variant`) from its result."""
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
        return primary_metric(r["metrics"] for r in self.rows)

    @property
    def completed(self) -> int:
        return sum(r["status"] == "completed" for r in self.rows)

    @property
    def seeds_vary(self) -> bool:
        return len({r["seed"] for r in self.rows}) > 1

    def groups(self) -> list[dict[str, Any]]:
        """Mean ± std (sample std, over completed runs) of every variant across its seeds."""
        key, _ = self.metric
        by: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for row in self.rows:
            by.setdefault(tuple(str(row[k]) for k in ["variant", *self.grid_keys]), []).append(row)
        out = []
        for rows in by.values():
            done = [r for r in rows if r["status"] == "completed"]
            group = {k: rows[0][k] for k in ["variant", *self.grid_keys]}
            group.update(runs=len(rows), completed=len(done))
            for name in (key, "final_loss", "wall_time_s"):
                mean, std = mean_std([value(r, name) for r in done])
                group.update({f"{name}_mean": mean, f"{name}_std": std})
            out.append(group)
        return out

    @classmethod
    def from_json(cls, folder: Path, obj: Mapping[str, Any]) -> Summary:
        return cls(folder, obj["name"], list(obj["grid_keys"]), obj["variants"],
                   list(obj["rows"]), bool(obj.get("interrupted")))

    def to_json(self) -> dict[str, Any]:
        key, higher = self.metric
        return {"name": self.name, "folder": str(self.folder), "metric": key,
                "higher_is_better": higher, "variants": self.total, "finished": len(self.rows),
                "completed": self.completed, "interrupted": self.interrupted,
                "grid_keys": self.grid_keys, "rows": self.rows, "groups": self.groups()}


def mean_std(values: Iterable[Any]) -> tuple[float | None, float | None]:
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return None, None
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else None)


# --------------------------------------------------------------------------- sorting


def sort_keys(grid_keys: Sequence[str]) -> list[str]:
    """What ``--sort`` accepts: the summary's columns, every grid key (or its last part)."""
    leaves = [k.rsplit(".", 1)[-1] for k in grid_keys]
    unique = [leaf for leaf in leaves if leaves.count(leaf) == 1 and leaf not in grid_keys]
    return [*ROW_KEYS, *grid_keys, *unique, *METRIC_NAMES]


def check_sort(key: str | None, grid_keys: Sequence[str]) -> None:
    if key is not None and key.lstrip("-") not in sort_keys(grid_keys):
        raise UsageError(f"--sort {key!r}: unknown column; valid: "
                         f"{', '.join(dict.fromkeys(sort_keys(grid_keys)))}")


def sort_rows(rows: Sequence[dict[str, Any]], key: str, grid_keys: Sequence[str]
              ) -> list[dict[str, Any]]:
    """Best first for metrics (accuracy and R² descending, losses ascending), other columns
    ascending; ``-KEY`` reverses. Missing values go last; by a metric, so do the runs that did
    not complete (the weights a diverged run kept say little)."""
    name = _full_key(key.lstrip("-"), grid_keys)
    descending = higher_is_better(name) != key.startswith("-")
    by_metric = name in METRIC_NAMES

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
        if key.endswith(HIGHER_IS_BETTER):
            return f"{v:.3f}"
        if key.startswith("wall_time"):
            return f"{v:.2f}" if v < 10 else f"{v:.1f}"
        return f"{v:.4g}"
    return str(v)


def run_table(summary: Summary, sort: str | None = None, extra: Mapping[str, str] | None = None
              ) -> tuple[list[str], list[list[str]]]:
    """(headers, cells) of the per-variant table, sorted by ``sort`` or the primary metric;
    ``extra`` (run_dir -> text, e.g. a sparkline) adds a last "loss" column."""
    metric, _ = summary.metric
    key = _full_key((sort or metric).lstrip("-"), summary.grid_keys)
    show_variant = len({r["variant"] for r in summary.rows}) > 1 or not summary.grid_keys
    cols = [*(["variant"] if show_variant else []), *summary.grid_keys,
            *(["seed"] if summary.seeds_vary else []), "status", metric, "final_loss",
            "best_loss", "iterations", "wall_time_s"]
    if key not in cols and key != "index":
        cols.insert(cols.index(metric) + 1, key)
    from dlcli.sweep import show_value

    rows = sort_rows(summary.rows, sort or metric, summary.grid_keys)
    cells = [[show_value(value(r, c)) if c in summary.grid_keys else fmt(c, value(r, c))
              for c in cols] + ([extra.get(r["run_dir"], "")] if extra is not None else [])
             for r in rows]
    return cols + (["loss"] if extra is not None else []), cells


def group_table(summary: Summary) -> tuple[list[str], list[list[str]]] | None:
    """(headers, cells) of mean ± std across seeds, best first; None when nothing repeats."""
    groups = summary.groups()
    if all(g["runs"] == 1 for g in groups):
        return None
    metric, higher = summary.metric
    known = [g for g in groups if g[f"{metric}_mean"] is not None]
    known.sort(key=lambda g: g[f"{metric}_mean"], reverse=higher)
    groups = known + [g for g in groups if g[f"{metric}_mean"] is None]
    heads = ["variant", *summary.grid_keys, "runs", f"{metric} (mean ± std)",
             "final_loss (mean ± std)", "wall_time_s (mean)"]
    cells = [[str(g[k]) for k in ["variant", *summary.grid_keys]]
             + [f"{g['completed']}/{g['runs']}", _pm(metric, g), _pm("final_loss", g),
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
    metric, _ = summary.metric
    names = list(dict.fromkeys([metric, *(k for r in summary.rows for k in r["metrics"])]))
    return ["index", "variant", *summary.grid_keys, "seed", "status", *names, "iterations",
            "wall_time_s", "error", "run_dir", "hash"]


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
    metric, _ = summary.metric
    text = [f"# {summary.name}", f"{len(summary.rows)} of {summary.total} variants finished, "
            f"{summary.completed} completed; sorted by {sort or metric}.",
            markdown(*run_table(summary, sort))]
    groups = group_table(summary)
    if groups:
        text += ["## Across seeds", markdown(*groups)]
    text += [f"![{name}]({name})" for name in ("loss.png", "metric.png")
             if (summary.folder / name).exists()]
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


# --------------------------------------------------------------------------- listing runs


def listing_row(info: Any) -> dict[str, Any]:
    """One line of ``dlcli runs list`` for a :class:`dlcli.runs.RunInfo`."""
    if info.kind == "compare":
        return _compare_listing(info)
    cfg, res = info.config or {}, info.result or {}
    metrics = res.get("metrics") or {}
    key, _ = primary_metric([metrics])
    return {"id": info.id, "kind": "run", "name": cfg.get("name"),
            "data": (cfg.get("data") or {}).get("source"),
            "model": (cfg.get("model") or {}).get("name"),
            "strategy": (cfg.get("strategy") or {}).get("name"),
            "status": res.get("status", "incomplete"), "metric": key if metrics else None,
            "value": metrics.get(key), "wall_time_s": res.get("wall_time_s"),
            "path": str(info.path)}


def _compare_listing(info: Any) -> dict[str, Any]:
    kids = [listing_row(child) for child in info.children]
    sweep = info.sweep or {}
    total = len(sweep.get("variants") or kids)
    done = [k for k in kids if k["status"] == "completed"]
    key, higher = primary_metric([(c.result or {}).get("metrics") or {} for c in info.children])
    values = [k["value"] for k in done if k["metric"] == key and k["value"] is not None]
    best = (max(values) if higher else min(values)) if values else None
    walls = [k["wall_time_s"] for k in kids if k["wall_time_s"] is not None]

    def one_or_many(column: str, noun: str) -> str | None:
        seen = list(dict.fromkeys(k[column] for k in kids if k[column]))
        return seen[0] if len(seen) == 1 else (f"{len(seen)} {noun}" if seen else None)

    return {"id": info.id, "kind": "compare", "name": sweep.get("name"),
            "data": one_or_many("data", "sources"), "model": one_or_many("model", "models"),
            "strategy": one_or_many("strategy", "strategies"),
            "status": "completed" if len(done) == total else f"{len(done)}/{total} completed",
            "metric": key if values else None, "value": best,
            "wall_time_s": round(sum(walls), 4) if walls else None, "path": str(info.path)}
