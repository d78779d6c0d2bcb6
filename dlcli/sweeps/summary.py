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

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlcli.metrics import (
    HIGHER_IS_BETTER,
    NO_VALIDATION,
    RANK_KEYS,
    REPORT_KEYS,
    higher_is_better,
    metric_names,
)

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
