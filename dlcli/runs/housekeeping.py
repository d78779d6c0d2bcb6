"""Run housekeeping: tags and notes, the difference of two runs, and removing folders safely.

Tags live in a run's result.json (``tags``: a list of strings; ``note``: a string), written by
``dlcli train --tag/--note`` and rewritten here, atomically and under the run's lock. A
comparison has no result.json: its tags are its runs'.
"""

from __future__ import annotations

import math
import os
import shutil
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlcli.errors import UsageError
from dlcli.runs import _kind, folder_lock, lock_owner, pid_alive, read_json, write_json
from dlcli.runs.listing import tags_of

MAX_TAG = 64
MAX_NOTE = 2000


def check_tag(tag: str, where: str = "tag") -> str:
    """``tag`` if it is a usable tag: 1 to 64 characters, no whitespace or control characters
    (a tag is one word on a command line and in a table cell); else one-line UsageError."""
    if not tag:
        raise UsageError(f"{where}: a tag cannot be empty")
    if len(tag) > MAX_TAG:
        raise UsageError(f"{where} {tag[:20]!r}...: at most {MAX_TAG} characters, got {len(tag)}")
    bad = next((c for c in tag if c.isspace() or unicodedata.category(c)[0] == "C"), None)
    if bad is not None:
        raise UsageError(f"{where} {tag!r}: no spaces or control characters, got {bad!r}")
    return tag


def check_note(note: str, where: str = "--note") -> str:
    """``note``, one line of at most 2,000 characters, with control characters refused."""
    if len(note) > MAX_NOTE:
        raise UsageError(f"{where}: at most {MAX_NOTE} characters, got {len(note)}")
    bad = next((c for c in note if unicodedata.category(c)[0] == "C"), None)
    if bad is not None:
        raise UsageError(f"{where}: one line without control characters, got {bad!r}")
    return note


def run_folders(folder: Path) -> list[Path]:
    """The run folders ``folder`` stands for: itself, or a comparison's runs."""
    if _kind(folder) != "compare":
        return [folder]
    return sorted(p for p in folder.iterdir()
                  if not p.name.startswith(".") and p.is_dir() and _kind(p) == "run")


def retag(folder: Path, add: Sequence[str] = (), remove: Sequence[str] = ()
          ) -> dict[Path, list[str]]:
    """Add and remove tags of a run (a comparison: of each of its runs), in result.json
    rewritten atomically while holding the run's lock; the new tags of each run."""
    for tag in [*add, *remove]:
        check_tag(tag)
    runs = run_folders(folder)
    if not runs:
        raise UsageError(f"{folder}: a comparison without runs yet: nothing to tag")
    for run in runs:  # all checked before any is changed
        if not (run / "result.json").is_file():
            raise UsageError(f"{run}: no result.json yet (still running, or stopped before "
                             f"its end): tag it once it has ended")
    out = {}
    for run in runs:
        with folder_lock(run, "running; tag it once it has ended"):
            result = read_json(run / "result.json")
            if not isinstance(result, dict):
                raise UsageError(f"{run}/result.json: not a JSON object; cannot tag it")
            old = tags_of(result)
            tags = [t for t in dict.fromkeys([*old, *add]) if t not in remove]
            if tags != result.get("tags"):
                write_json(run / "result.json", {**result, "tags": tags})
            out[run] = tags
    return out


# --------------------------------------------------------------------------- diff


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as dotted keys: ``{"strategy": {"lr": 0.1}} -> {"strategy.lr": 0.1}``
    (lists stay values)."""
    if not isinstance(tree, Mapping):
        return {prefix: tree} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def diff_runs(a: Any, b: Any) -> dict[str, Any]:
    """What differs between two runs (:class:`dlcli.runs.RunInfo`): the config keys whose values
    differ (dotted; ``a`` or ``b`` left out where that run lacks the key), then every metric of
    either run side by side with the change ``b - a`` and whether it is better, then the
    iterations and wall time; ``a`` and ``b`` say which runs (id, status, tags, note)."""
    for info in (a, b):
        if info.kind == "compare":
            raise UsageError(f"{info.path}: a comparison; diff two of its runs "
                             f"(e.g. {info.id}/01-...), or see its table with runs show")
    ca, cb = flatten(a.config or {}), flatten(b.config or {})
    config = [{"key": k, **({"a": ca[k]} if k in ca else {}), **({"b": cb[k]} if k in cb else {})}
              for k in dict.fromkeys([*ca, *cb])
              if ca.get(k) != cb.get(k) or (k in ca) != (k in cb)]
    ra, rb = a.result or {}, b.result or {}
    ma, mb = _numbers(ra.get("metrics")), _numbers(rb.get("metrics"))
    metrics = [_change(k, ma.get(k), mb.get(k)) for k in dict.fromkeys([*ma, *mb])]
    facts = [_change(k, _num(ra.get(k)), _num(rb.get(k))) for k in ("iterations", "wall_time_s")]
    return {"a": _side(a), "b": _side(b), "config": config, "metrics": metrics + facts}


def _side(info: Any) -> dict[str, Any]:
    res = info.result if isinstance(info.result, dict) else {}
    return {"id": info.id, "path": str(info.path), "status": res.get("status", "incomplete"),
            "tags": tags_of(res), "note": res.get("note")}


def _num(v: Any) -> float | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return v if ok else None


def _numbers(metrics: Any) -> dict[str, float | None]:
    return {str(k): _num(v) for k, v in metrics.items()} if isinstance(metrics, dict) else {}


def _change(key: str, a: float | None, b: float | None) -> dict[str, Any]:
    from dlcli.metrics import higher_is_better

    change = None if a is None or b is None else b - a
    better = None
    if change and key not in ("iterations", "wall_time_s"):
        better = (change > 0) == higher_is_better(key)
    return {"key": key, "a": a, "b": b, "change": change, "better": better}


# --------------------------------------------------------------------------- rm

RECENT_S = 30.0  # a run without result.json that wrote metrics.csv this recently may be running


@dataclass
class Removal:
    """A folder ``runs rm`` may delete (``refused`` says why not)."""

    path: Path
    kind: str
    refused: str | None = None


def plan_removal(folders: Iterable[Path], root: Path, now: float | None = None
                 ) -> list[Removal]:
    """Check each folder before anything is deleted: a run or compare folder directly under
    ``root`` (never a symlink, never a comparison's single run, never any other path), and not
    running: no live lock in it (or in a comparison's runs), and no run without result.json
    whose metrics.csv changed in the last 30 s (a run on another host of a Dask cluster, whose
    pid cannot be checked from here)."""
    now = time.time() if now is None else now
    real_root = root.resolve()
    going = list(dict.fromkeys(folders))
    out = []
    for folder in going:
        kind = _kind(folder) or "folder"
        refused = _refusal(folder, kind, real_root, now) or _reused_by(folder, real_root, going)
        out.append(Removal(folder, kind, refused))
    return out


def _reused_by(folder: Path, real_root: Path, going: Sequence[Path]) -> str | None:
    """A later comparison that reused a run of ``folder`` links to it (dlcli.sweeps.reuse): deleting
    it would leave that comparison's row pointing at nothing, unless both go."""
    target = folder.resolve()
    leaving = {p.resolve() for p in going}
    for other in sorted(real_root.glob("compare-*")):
        if other.resolve() in leaving or not other.is_dir():
            continue
        for entry in other.iterdir():
            if entry.is_symlink() and (entry.resolve() == target or
                                       target in entry.resolve().parents):
                return (f"reused by {other.name} ({entry.name} links to it); remove that "
                        f"comparison too, or keep this one")
    return None


def _refusal(folder: Path, kind: str, real_root: Path, now: float) -> str | None:
    if folder.is_symlink():
        return "a symbolic link; remove the link itself if you mean to"
    if kind == "folder":
        return "not a run or compare folder (no config.yaml, result.json or sweep.json)"
    parent = folder.resolve().parent
    if parent != real_root:
        if _kind(parent) == "compare" and parent.parent == real_root:
            return f"one run of the comparison {parent.name}; remove the whole comparison"
        return f"not directly under the runs folder {real_root}; give --dir"
    for path in [folder, *(run_folders(folder) if kind == "compare" else [])]:
        pid = lock_owner(path)
        if pid is not None and pid_alive(pid):
            return f"running (pid {pid} holds {path / '.lock'})"
        if kind == "run" or path != folder:
            metrics = path / "metrics.csv"
            if not (path / "result.json").exists() and metrics.exists() and \
                    now - metrics.stat().st_mtime < RECENT_S:
                return (f"{path.name} has no result.json and wrote metrics.csv "
                        f"{now - metrics.stat().st_mtime:.0f} s ago: it may be running")
    return None


def remove(folder: Path) -> None:
    """Delete ``folder`` while holding its lock: first renamed to a dot-folder (so listings never
    show a half-deleted run), then removed."""
    with folder_lock(folder, "running; not removed"):
        hidden = folder.with_name(f".removing-{folder.name}-{os.getpid()}")
        os.rename(folder, hidden)
        shutil.rmtree(hidden)


def total_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
