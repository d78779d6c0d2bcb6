"""What a dlcli folder becomes in MLflow (see :mod:`dlcli.tracking.export`): a run's tags, params,
metric curves and files, logged with an MlflowClient in batches; a comparison's parent run.
mlflow is imported by the functions that need it (this module is imported by tracking only).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from dlcli.errors import EnvironmentFailure
from dlcli.runs import folder_id

MAX_LOSS_POINTS = 10_000
STATUS = {"completed": "FINISHED", "failed": "FAILED", "diverged": "FAILED"}  # else KILLED
CURVE_SKIP = {"iteration", "loss", "best_loss", "elapsed_s", "loss_evals", "x", "y"}


def experiment_name(info: Any) -> str:
    """A run's config name; a comparison's name."""
    named = (info.sweep if info.kind == "compare" else info.config) or {}
    return str(named.get("name") or info.path.name)


def ended_at(info: Any) -> str:
    """When a run ended (result.json); a comparison: its last run."""
    runs = info.children if info.kind == "compare" else [info]
    ends = [str((r.result or {}).get("ended_at") or "") for r in runs]
    return max(ends, default="")


def logged_run(client: Any, exp: str, info: Any) -> str | None:
    """The MLflow run that already holds this folder as it is now, if any."""
    ident = folder_id(info.path)
    if not all(c.isalnum() or c in "._-/" for c in ident):  # not quotable in a filter: log
        return None
    runs = client.search_runs([exp], filter_string=f"tags.`dlcli.run_id` = '{ident}'")
    end = ended_at(info)
    return next((str(r.info.run_id) for r in runs if r.data.tags.get("dlcli.ended_at") == end),
                None)


def log_compare_facts(client: Any, pid: str, info: Any, chosen: Mapping[str, Any]) -> None:
    from mlflow.entities import Metric, Param

    sweep = info.sweep or {}
    params = [Param("sweep.source", str(sweep.get("source", ""))),
              Param("sweep.variants", str(len(sweep.get("variants") or []))),
              Param("sweep.grid_keys", ",".join(map(str, sweep.get("grid_keys") or [])))]
    now = ms(None, info.path)
    metrics = [Metric(f"chosen.{chosen[k]}", float(chosen[v]), now, 0)
               for k, v in (("metric", "value"), ("report_metric", "report_value"))
               if chosen.get(k) and _finite(chosen.get(v))]
    client.log_batch(pid, metrics=metrics, params=params)
    log_files(client, pid, info.path)


# --------------------------------------------------------------------------- one run


def log_run(client: Any, exp: str, info: Any, parent: str | None,
            extra: Mapping[str, str]) -> str:
    """Create the MLflow run of one dlcli run, log everything, end it with its status."""
    res = info.result if isinstance(info.result, dict) else {}
    start = ms(res.get("started_at"), info.path)
    tags = {**_tags(info, res), **extra, **({"mlflow.parentRunId": parent} if parent else {})}
    run = client.create_run(exp, run_name=info.path.name, start_time=start, tags=tags)
    rid = run.info.run_id
    try:
        _log_batches(client, rid, _params(info.config or {}), _metrics(info.path, res, start))
        log_files(client, rid, info.path)
    except Exception:
        client.set_terminated(rid, "FAILED")
        raise
    client.set_terminated(rid, STATUS.get(str(res.get("status")), "KILLED"),
                          end_time=ms(res.get("ended_at"), info.path))
    return str(rid)


def _tags(info: Any, res: Mapping[str, Any]) -> dict[str, str]:
    from dlcli.runs.listing import tags_of

    tags = {"dlcli.run_id": folder_id(info.path), "dlcli.status": str(res.get("status",
                                                                       "incomplete")),
            "dlcli.seed": str((info.config or {}).get("seed", res.get("seed", ""))),
            "dlcli.ended_at": ended_at(info), "dlcli.tags": ",".join(tags_of(res))}
    # a dlcli tag that MLflow cannot take as a key stays in dlcli.tags
    tags.update({t: "true" for t in tags_of(res) if _mlflow_key(t)})
    if isinstance(res.get("note"), str) and res["note"]:
        tags.update({"dlcli.note": res["note"], "mlflow.note.content": res["note"]})
    return tags


def _mlflow_key(tag: str) -> bool:
    return not tag.startswith("mlflow.") and all(c.isalnum() or c in "_-. /" for c in tag)


def _params(config: Mapping[str, Any]) -> dict[str, str]:
    from dlcli.runs.housekeeping import flatten

    def text(v: Any) -> str:
        return v if isinstance(v, str) else json.dumps(v, default=str)

    return {k: text(v)[:6000] for k, v in flatten(config).items()}  # MLflow's longest value


def _metrics(path: Path, res: Mapping[str, Any], start_ms: int) -> list[Any]:
    """``loss`` per iteration (sampled), ``eval/<metric>`` per evaluation, then the final
    metrics at the last step; timestamps from the run's start and each row's elapsed time."""

    from mlflow.entities import Metric

    rows: list[dict[str, str]] = []
    try:
        with open(path / "metrics.csv", newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, csv.Error, UnicodeDecodeError):
        pass
    out, last = [], 0
    keep = sample(len(rows), MAX_LOSS_POINTS)
    for i, row in enumerate(rows):
        step, when = _int(row.get("iteration")), start_ms + int(1000 * _float(row.get(
            "elapsed_s"), 0.0))
        if step is None:
            continue  # a half-written last line of a run that was killed
        last = max(last, step)
        if i in keep and _finite(_float(row.get("loss"))):
            out.append(Metric("loss", _float(row.get("loss")), when, step))
        out += [Metric(f"eval/{k}", _float(v), when, step) for k, v in row.items()
                if k not in CURVE_SKIP and k is not None and _finite(_float(v))]
    end = ms(res.get("ended_at"), path)
    metrics = res.get("metrics")
    final = {**(metrics if isinstance(metrics, dict) else {}), "wall_time_s": res.get(
        "wall_time_s")}
    step = _int(res.get("iterations")) or last
    out += [Metric(k, float(v), end, step) for k, v in final.items() if _finite(v)]
    return out


def sample(n: int, most: int) -> set[int]:
    """At most ``most`` row indices out of ``n``, evenly spread, the first and last kept."""
    if n <= most:
        return set(range(n))
    return {round(i * (n - 1) / (most - 1)) for i in range(most)}


def _log_batches(client: Any, rid: str, params: Mapping[str, str], metrics: list[Any]) -> None:
    from mlflow.entities import Param

    items = [Param(k, v) for k, v in params.items()]
    for i in range(0, len(items), 100):  # MLflow's batch limits: 100 params, 1,000 metrics
        client.log_batch(rid, params=items[i:i + 100])
    for i in range(0, len(metrics), 1000):
        client.log_batch(rid, metrics=metrics[i:i + 1000])


def log_files(client: Any, rid: str, folder: Path) -> None:
    """The folder's own files (not its sub-folders: a comparison's runs are runs of their own,
    nor dot-files: the lock, a temp file being written)."""
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.is_symlink() and not path.name.startswith("."):
            client.log_artifact(rid, str(path))


def experiment_id(client: Any, name: str) -> str:
    """The id of the experiment ``name``: found, restored when deleted, or created."""
    from mlflow.exceptions import MlflowException

    for _ in range(2):
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                client.restore_experiment(exp.experiment_id)
            return str(exp.experiment_id)
        try:
            return str(client.create_experiment(name))
        except MlflowException:  # another process created it between the two calls
            continue
    raise EnvironmentFailure(f"MLflow experiment {name!r}: could not find or create it")


def ms(iso: Any, path: Path) -> int:
    """Milliseconds since the epoch of an ISO time from result.json, else the folder's mtime."""
    try:
        return int(datetime.fromisoformat(str(iso)).timestamp() * 1000)
    except ValueError:
        return int(path.stat().st_mtime * 1000)


def _float(text: Any, default: float = math.nan) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return default


def _int(text: Any) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
