"""A compare folder: claimed and frozen (sweep.json), its finished rows read back, the variants
that can continue from a checkpoint, the tasks handed to the executors, the rows written as they
arrive, and what already ran under the same ``--out`` root linked. Running a plan through them is
:mod:`dlcli.sweeps.run`; where variants run, :mod:`dlcli.sweeps.executors`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dlcli.callbacks import now_iso, versions
from dlcli.config import yaml_input as safe_yaml
from dlcli.errors import DlcliError, UsageError
from dlcli.runs import create_run_dir, read_json, write_atomic, write_json
from dlcli.sweeps import reuse
from dlcli.sweeps.executors import Outcome, Task, executor, run_variant
from dlcli.sweeps.plan import Plan, Variant, config_hash
from dlcli.sweeps.summary import Summary, make_row
from dlcli.sweeps.tables import write_summary

__all__ = ["executor", "run_variant", "start", "load", "finished_rows"]

SWEEP_FILE = "sweep.json"
ORIGIN_FILE = "search.yaml"  # the sweep file a refined search made, to run it again
OnRow = Callable[[dict[str, Any], Summary], None]
ENDED = ("completed", "pruned", "diverged", "failed")  # a trial told to its study: never again
FINE = ("completed", "pruned")  # a pruned trial did what a search asks of it


# --------------------------------------------------------------------------- the compare folder


def start(plan: Plan, out: str | Path, command: str) -> Path:
    """Claim ``<out>/compare-<stamp>-<name>-<hex>/`` and freeze the plan into sweep.json (a
    ``--storage`` is opened first: one that cannot be is an error before any folder exists)."""
    if plan.needs_study and plan.search is not None and plan.search.storage:
        from dlcli.sweeps.study import open_storage

        open_storage(plan.search.storage)
    folder = create_run_dir(out, plan.name, prefix="compare-")
    write_json(folder / SWEEP_FILE, {**plan.to_json(), "created_at": now_iso(),
                                     "command": command, "versions": versions()})
    if plan.origin is not None:
        text = yaml.safe_dump(plan.origin, sort_keys=False)
        write_atomic(folder / ORIGIN_FILE, text.encode())
    return folder


def load(folder: str | Path, flag: str = "--resume") -> Plan:
    path = Path(folder) / SWEEP_FILE
    if not path.is_file():
        raise UsageError(f"{flag} {folder}: no {SWEEP_FILE} there; expected a compare folder")
    try:
        return Plan.from_json(read_json(path))
    except (ValueError, KeyError, TypeError, DlcliError) as exc:
        raise UsageError(f"{flag} {folder}: {SWEEP_FILE} is damaged ({exc})") from None


def finished_rows(folder: Path, plan: Plan) -> dict[int, dict[str, Any]]:
    """The rows of variants whose run folder holds a finished result of the same config:
    completed ones; for a study's trials also pruned, failed and diverged (told already)."""
    keep = ENDED if plan.needs_study else ("completed",)
    rows = {}
    for v in plan.variants:
        run = folder / v.folder
        try:
            result = read_json(run / "result.json")
            config = safe_yaml.load((run / "config.yaml").read_text(encoding="utf-8"),
                                    str(run / "config.yaml"))
        except (OSError, ValueError, DlcliError):
            continue
        if not isinstance(result, dict):
            continue
        if result.get("status") in keep and config_hash(config) == v.hash:
            rows[v.index] = make_row(v, result)
            if (source := reuse.reused_from(folder, v)) is not None:
                rows[v.index]["reused"] = source
    return rows


def resumable(run: Path, v: Variant) -> bool:
    """A variant stopped part-way (killed, interrupted) that can continue from its checkpoint:
    one of this very config, not yet at its end, and not failed or diverged."""
    from dlcli.checkpoint import FILE

    if run.is_symlink() or not (run / FILE).is_file():
        return False
    try:
        config = safe_yaml.load((run / "config.yaml").read_text(encoding="utf-8"),
                                str(run / "config.yaml"))
    except (OSError, ValueError, DlcliError):
        return False
    if not isinstance(config, dict) or config_hash(config) != v.hash:
        return False
    try:
        status = read_json(run / "result.json").get("status")
    except (OSError, ValueError, AttributeError):
        status = None  # killed before it could write one
    return status in (None, "interrupted")


def clear(run: Path) -> None:
    """An unfinished earlier attempt without a checkpoint: removed, to start again (a link to
    another comparison's run is only unlinked: that run is not ours to delete)."""
    if run.is_symlink():
        run.unlink()
    else:
        shutil.rmtree(run, ignore_errors=True)


def task(folder: Path, v: Variant, command: str, resume: bool = False) -> Task:
    return {"index": v.index, "label": v.label, "config": v.raw,
            "run_dir": str(folder / v.folder), "command": command, "resume": resume}


# --------------------------------------------------------------------------- running


@dataclass
class Rows:
    """Where rows go as variants end: the summaries (rewritten at each), the caller's
    ``on_row``; ``add`` says whether to stop (interrupted, or ``fail_fast`` and a failure)."""

    summary: Summary
    sort: str | None = None
    on_row: OnRow | None = None
    fail_fast: bool = False

    def add(self, row: dict[str, Any]) -> bool:
        self.summary.rows = sorted([*self.summary.rows, row], key=lambda r: r["index"])
        write_summary(self.summary, self.sort)
        if self.on_row:
            self.on_row(row, self.summary)
        if row["status"] == "interrupted":
            self.summary.interrupted = True
        return self.summary.interrupted or (self.fail_fast and row["status"] not in FINE)


def reuse_runs(plan: Plan, folder: Path, pending: list[Variant]) -> list[dict[str, Any]]:
    """Rows of the pending variants that completed before under the same ``--out`` root, each
    linked into this folder (nothing when the plan says ``--rerun``)."""
    if not plan.reuse or not pending:
        return []
    found = reuse.completed_runs(folder.parent, folder)
    out = []
    for v in pending:
        if v.hash in found:
            reuse.link(folder, v, found[v.hash])
            out.append(reuse.reused_row(folder, v, found[v.hash]))
    return out


def survive(outcomes: Iterator[Outcome], summary: Summary) -> Iterator[Outcome]:
    """The outcomes until the executor itself breaks (a worker process killed, say, by the
    out-of-memory killer, or the Dask scheduler gone): then a note, and the rows so far stand;
    the variants left are what ``--resume`` runs."""
    while True:
        try:
            outcome = next(outcomes)
        except StopIteration:
            return
        except Exception as exc:
            text = (str(exc).strip().splitlines() or [""])[0]
            summary.notes.append(f"the workers stopped: {type(exc).__name__}: {text}")
            return
        yield outcome
