"""The rows of ``dlcli runs list``: one per run or compare folder, filtered and sorted.

A row is a flat dict (``--json`` prints it whole): ``id, kind, name, data, model, strategy,
status, metric, value, report_metric, report_value, metrics{...}, iterations, seed, tags, note,
wall_time_s, started, path``. A run's ``metric`` is what it would be chosen by (validation; the
final loss without a validation split), ``report_metric`` its test figure, shown beside it and
sorted on only when asked. A comparison's row carries its chosen variant's figures (means across
seeds), ``k/n completed`` while unfinished, and the tags of any of its runs.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dlcli.errors import UsageError
from dlcli.metrics import higher_is_better
from dlcli.metrics import rank_metric as rank_of_run
from dlcli.metrics import report_metric as report_of_run
from dlcli.sweeps.summary import METRIC_NAMES, Summary, rank_metric

COLUMNS = ("id", "kind", "name", "data", "model", "strategy", "status", "iterations", "seed",
           "wall_time_s", "started", "tags")


def listing_rows(root: str | Path = "runs", *, descend: bool = False) -> list[dict[str, Any]]:
    """One row per run or compare folder under ``root``, newest first (``descend``: each
    comparison's runs follow it)."""
    from dlcli.runs import list_runs

    rows: list[dict[str, Any]] = []
    for info in list_runs(root):
        rows.append(listing_row(info))
        if descend:
            rows += [listing_row(child) for child in info.children]
    return rows


def listing_row(info: Any) -> dict[str, Any]:
    """One line of ``dlcli runs list`` for a :class:`dlcli.runs.RunInfo`. A damaged file (a
    list where a mapping belongs, text where a number does) shows as missing values."""
    if info.kind == "compare":
        return _compare_listing(info)
    cfg, res = _mapping(info.config), _mapping(info.result)
    metrics = {k: v for k, v in _mapping(res.get("metrics")).items() if _number(v) is not None}
    key, rank, _ = rank_of_run(metrics)
    report = report_of_run(metrics)
    return {"id": info.id, "kind": "run", "name": cfg.get("name"),
            "data": _mapping(cfg.get("data")).get("source"),
            "model": _mapping(cfg.get("model")).get("name"),
            "strategy": _mapping(cfg.get("strategy")).get("name"),
            "status": str(res.get("status", "incomplete")), "metric": key if metrics else None,
            "value": rank, "report_metric": report,
            "report_value": metrics.get(report) if report else None, "metrics": metrics,
            "iterations": _number(res.get("iterations")), "seed": _number(cfg.get("seed")),
            "tags": tags_of(res), "note": res.get("note") if isinstance(res.get("note"), str)
            else None, "wall_time_s": _number(res.get("wall_time_s")),
            "started": _started(info.path), "path": str(info.path)}


def tags_of(result: Any) -> list[str]:
    """result.json's ``tags``, what of it is a list of strings."""
    tags = _mapping(result).get("tags")
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _started(path: Path) -> str | None:
    """The UTC stamp of the folder's name (``20260101-120000``), as ids sort by it."""
    from dlcli.runs import _STAMP

    match = _STAMP.match(path.name)
    return match.group(1) if match else None


def _mapping(obj: Any) -> Mapping[str, Any]:
    return obj if isinstance(obj, Mapping) else {}


def _number(obj: Any) -> float | int | None:
    return obj if isinstance(obj, (int, float)) and not isinstance(obj, bool) else None


def _compare_listing(info: Any) -> dict[str, Any]:
    """A comparison's line: its chosen variant's validation and test figures (means across
    seeds), ``k/n completed``, the summed wall time, the tags of any of its runs."""
    kids = [listing_row(child) for child in info.children]
    sweep = _mapping(info.sweep)
    variants = sweep.get("variants")
    total = len(variants) if isinstance(variants, list) and variants else len(kids)
    done = [k for k in kids if k["status"] in ("completed", "pruned")]  # a pruned trial ended
    pruned = sum(k["status"] == "pruned" for k in kids)
    best = _chosen_of(info, kids)
    walls = [k["wall_time_s"] for k in kids if k["wall_time_s"] is not None]

    def one_or_many(column: str, noun: str) -> str | None:
        seen = list(dict.fromkeys(k[column] for k in kids if k[column]))
        return seen[0] if len(seen) == 1 else (f"{len(seen)} {noun}" if seen else None)

    metrics = {best["metric"]: best["value"]} if best else {}
    if best and best["report_metric"]:
        metrics[best["report_metric"]] = best["report_value"]
    return {"id": info.id, "kind": "compare", "name": sweep.get("name"),
            "data": one_or_many("data", "sources"), "model": one_or_many("model", "models"),
            "strategy": one_or_many("strategy", "strategies"),
            "status": ("completed" if len(done) == total else f"{len(done)}/{total} completed")
            + (f", {pruned} pruned" if pruned else ""),
            "metric": best["metric"] if best else None, "value": best and best["value"],
            "report_metric": best["report_metric"] if best else None,
            "report_value": best and best["report_value"], "metrics": metrics,
            "iterations": None, "seed": None, "runs": len(kids), "variants": total,
            "tags": list(dict.fromkeys(t for k in kids for t in k["tags"])), "note": None,
            "wall_time_s": round(sum(walls), 4) if walls else None,
            "started": _started(info.path), "path": str(info.path)}


def _chosen_of(info: Any, kids: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The chosen variant from summary.json's rows (grouped across seeds); without a readable
    summary.json (still starting, or damaged), the best completed run on its own."""
    try:
        return Summary.from_json(info.path, info.summary).chosen() if info.summary else None
    except (KeyError, TypeError, ValueError, AttributeError):
        pass
    key, higher = rank_metric({k["metric"]: k["value"]} for k in kids if k["metric"])
    known = [k for k in kids if k["status"] == "completed" and k["metric"] == key
             and k["value"] is not None]
    if not known:
        return None
    best = (max if higher else min)(known, key=lambda k: k["value"])
    return {"metric": key, "value": best["value"], "report_metric": best["report_metric"],
            "report_value": best["report_value"]}


# --------------------------------------------------------------------------- filters and sorting


def select(rows: Iterable[dict[str, Any]], *, status: Sequence[str] = (),
           name: str | None = None, tags: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The rows with one of ``status`` (``incomplete`` also matches a comparison still short
    of its variants), a name matching the glob ``name``, and every one of ``tags``."""
    def keep(r: Mapping[str, Any]) -> bool:
        seen = {r["status"], "incomplete"} if r["status"].endswith(" completed") else \
            {r["status"]}
        return ((not status or bool(seen & set(status)))
                and (name is None or fnmatch.fnmatchcase(str(r["name"] or ""), name))
                and all(t in r["tags"] for t in tags))

    return [r for r in rows if keep(r)]


def sort_values(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """What ``runs list --sort`` accepts: the columns, and any metric (of any task, or that
    a listed run has)."""
    seen = [k for r in rows for k in r["metrics"]]
    return list(dict.fromkeys([*COLUMNS, "metric", "test", *METRIC_NAMES, *seen]))


def sort_listing(rows: Sequence[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Best first for a metric (accuracy and R² descending; losses, RMSE, MAE ascending), other
    columns ascending; ``-KEY`` reverses. ``metric`` is each row's ranking (validation) figure,
    ``test`` its test figure. Rows without the value go last, in their order."""
    name = key.lstrip("-")
    valid = sort_values(rows)
    if name not in valid:
        raise UsageError(f"--sort {key!r}: unknown column or metric; valid: {', '.join(valid)}")

    ranked_by = rank_metric(r["metrics"] for r in rows)[0]

    def get(r: Mapping[str, Any]) -> Any:
        if name == "metric":  # a landscape's final loss is no accuracy: those rows go last
            return r["value"] if r["metric"] == ranked_by else None
        if name == "test":
            return r["report_value"]
        found = r[name] if name in COLUMNS else r["metrics"].get(name)
        return ",".join(found) if isinstance(found, list) else found

    descending = _higher(name, rows) != key.startswith("-")
    present = [r for r in rows if get(r) not in (None, "", [])]
    present.sort(key=lambda r: (0, get(r)) if isinstance(get(r), (int, float))
                 else (1, str(get(r))), reverse=descending)
    return present + [r for r in rows if get(r) in (None, "", [])]


def _higher(name: str, rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether ``name`` is better higher; ``metric`` follows the rows' ranking metric."""
    if name == "metric":
        return rank_metric(r["metrics"] for r in rows)[1]
    if name == "test":
        return True  # test accuracy and test R²
    return name not in COLUMNS and higher_is_better(name)
