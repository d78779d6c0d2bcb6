"""Run folders: unique ids, atomic writes, and reading them back (listing, resolving an id).

A run folder is ``<root>/<UTC yyyymmdd-HHMMSS>-<name>-<6 hex>/``. The id is claimed with an
exclusive ``mkdir``, so two processes starting in the same second never share a folder.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import yaml

from dlcli.errors import DlcliError, UsageError

_STAMP = re.compile(r"^(?:compare-)?(\d{8}-\d{6})-")


def utc_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")


def create_run_dir(root: str | Path, name: str, prefix: str = "") -> Path:
    """Create and return a fresh, never-colliding folder under ``root``."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"--out {root}: not a directory (a file has that name)") from None
    except NotADirectoryError:
        raise UsageError(f"--out {root}: a part of the path is a file, not a directory") from None
    except OSError as exc:
        raise UsageError(f"--out {root}: cannot create the folder ({exc.strerror})") from None
    for _ in range(100):
        path = root / f"{prefix}{utc_stamp()}-{name}-{secrets.token_hex(3)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise UsageError(f"--out {root}: cannot create a run folder ({exc.strerror})") from None
        return path
    raise UsageError(f"--out {root}: could not find a free run folder name")


@contextmanager
def atomic_file(path: Path, durable: bool = True) -> Iterator[IO[bytes]]:
    """A binary file to write ``path`` through: a temp file in the same folder, renamed over
    ``path`` when the block ends normally and removed when it raises. Readers never see half
    a file, and a killed process never leaves one. ``durable``: also fsync before the rename,
    so that a power loss cannot leave an empty file either (4-8 ms on this project's disk:
    results and the data cache are durable; checkpoints, rewritten often and checked when
    read back, are not)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~umask())  # mkstemp makes 0600; a run's files follow the umask
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)  # already renamed on success: nothing to remove


@cache
def umask() -> int:
    """The process's umask, read without changing it (os.umask can only set it, which would
    race with other threads creating files); falls back to setting it back at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_file`."""
    with atomic_file(path, durable) as fh:
        fh.write(data)


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, indent=2, default=_jsonable) + "\n").encode())


def save_params(path: Path, params: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **cast(dict[str, Any], params))  # names -> arrays, as np.load gives back
    write_atomic(path, buf.getvalue())


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


LOCK = ".lock"


@contextmanager
def folder_lock(folder: Path, busy: str = "in use by another dlcli") -> Iterator[None]:
    """Hold ``folder/.lock`` (our pid) for the block: a run training or resuming, a comparison
    running. A second process is refused with one line; a lock left by a process that is gone
    (same host) is taken over."""
    lock = folder / LOCK
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pid = lock_owner(folder)
            if pid is not None and pid_alive(pid):
                raise UsageError(f"{folder}: {busy} (pid {pid}); wait for it to end, or "
                                 f"remove {lock} if it is not running") from None
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        break
    else:
        raise UsageError(f"{folder}: could not take {lock}; is another dlcli starting?")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def lock_owner(folder: Path) -> int | None:
    """The pid holding ``folder``'s lock, or None."""
    try:
        return int((folder / LOCK).read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- reading run folders


@dataclass
class RunInfo:
    """What a folder under the runs root holds: a run (config + result) or a comparison."""

    path: Path
    id: str  # the path relative to the root, e.g. "compare-.../01-sgd"
    kind: str  # "run" or "compare"
    config: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    sweep: dict[str, Any] | None = None  # compare folders: sweep.json
    summary: dict[str, Any] | None = None  # compare folders: summary.json
    children: list[RunInfo] = field(default_factory=list)  # compare folders: their runs


def _kind(path: Path) -> str | None:
    if (path / "sweep.json").is_file():
        return "compare"
    if (path / "config.yaml").is_file() or (path / "result.json").is_file():
        return "run"
    return None


MAX_READ = 64 << 20  # a run folder's json/yaml file; summary.json of 10,000 variants is ~20 MB


def _read(path: Path, loader: Callable[[str], Any]) -> Any:
    """A run folder's file, or None when it is missing, unreadable, too large or not a mapping
    (a run still writing, or a folder someone broke): browsing never fails on one folder."""
    try:
        if path.stat().st_size > MAX_READ:
            return None
        data = loader(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError, yaml.YAMLError, DlcliError):
        return None
    return data if isinstance(data, dict) else None


def _yaml(text: str) -> Any:
    from dlcli.config.yaml_input import load

    return load(text, "config.yaml")


def read_run(path: Path, root: Path | None = None) -> RunInfo:
    path = Path(path)
    kind = _kind(path) or "run"
    info = RunInfo(path, str(path.relative_to(root)) if root else path.name, kind,
                   _read(path / "config.yaml", _yaml),
                   _read(path / "result.json", json.loads))
    if kind == "compare":
        info.sweep = _read(path / "sweep.json", json.loads)
        info.summary = _read(path / "summary.json", json.loads)
        info.children = [read_run(p, root) for p in sorted(path.iterdir())
                         if p.is_dir() and _kind(p) == "run"]
    return info


def folder_id(path: Path) -> str:
    """The id ``dlcli runs`` knows a folder by: its name, or ``compare-.../01-sgd`` for a run
    of a comparison."""
    path = Path(path)
    return f"{path.parent.name}/{path.name}" if _kind(path.parent) == "compare" else path.name


def _started(path: Path) -> tuple[str, float]:
    match = _STAMP.match(path.name)
    return (match.group(1) if match else "", path.stat().st_mtime)


def list_runs(root: str | Path = "runs") -> list[RunInfo]:
    """Runs and compare folders directly under ``root``, newest first."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root}: no such folder (the runs folder: give --dir, or run from the "
                         f"folder that holds it)")
    return [read_run(p, root) for p in sorted(_folders(root), key=_started, reverse=True)]


def _folders(parent: Path) -> list[Path]:
    """The run and compare folders directly in ``parent``; a dot-folder (``runs rm`` renames a
    folder to ``.removing-...`` before deleting it) is never one."""
    return [p for p in parent.iterdir()
            if not p.name.startswith(".") and p.is_dir() and _kind(p)]


def resolve_run(ref: str, root: str | Path = "runs", *, partial: bool = True) -> Path:
    """A run or compare folder from its path, or its id under ``root``: the whole id or a prefix
    (else, with ``partial``, a part) of a folder's name, a comparison's run included (``04-gd``
    when only one comparison has it; else ``<compare id prefix>/<run prefix>``, e.g.
    ``compare-2026/04``). ``runs rm`` takes prefixes only: a part of a name is too loose to
    delete by."""
    root = Path(root)
    for candidate in (Path(ref), root / ref):
        if candidate.is_dir() and _kind(candidate):
            return candidate
    if not root.is_dir():
        raise UsageError(f"{ref}: no such run (not a folder, and {root} does not exist; "
                         f"give --dir RUNS_FOLDER)")
    if "/" in ref.strip("/") and not Path(ref).is_absolute():
        parent_ref, child_ref = ref.strip("/").split("/", 1)
        parent = _pick(parent_ref, {p.name: p for p in _folders(root)}, root, partial)
        if _kind(parent) != "compare":
            raise UsageError(f"{ref}: {parent.name} is a run, not a comparison")
        return _pick(child_ref, {f"{parent.name}/{p.name}": p for p in _folders(parent)}, root,
                     partial)
    found = {p.name: p for p in _folders(root)}
    for folder in [p for p in found.values() if _kind(p) == "compare"]:
        found.update({f"{folder.name}/{p.name}": p for p in _folders(folder)})
    return _pick(ref, found, root, partial)


def _pick(ref: str, found: dict[str, Path], root: Path, partial: bool) -> Path:
    """The one folder whose name (the id's last part) starts with ``ref``, else (``partial``)
    contains it."""
    names = sorted(found)
    last = {n: n.rsplit("/", 1)[-1] for n in names}
    matches = [n for n in names if last[n].startswith(ref)] or \
        [n for n in names if partial and ref in last[n]]
    if len(matches) == 1:
        return found[matches[0]]
    if not matches:
        raise UsageError(f"{ref}: no such run (not a folder, nor an id under {root})")
    shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
    raise UsageError(f"{ref}: matches {len(matches)} runs under {root}: {shown}")


def read_losses(run_dir: Path) -> tuple[list[int], list[float]]:
    """(iterations, losses) from a run folder's metrics.csv; what there is of it."""
    its: list[int] = []
    losses: list[float] = []
    try:
        with open(run_dir / "metrics.csv", newline="", encoding="utf-8") as fh:
            for rec in csv.DictReader(fh):
                its.append(int(rec["iteration"]))
                losses.append(float(rec["loss"]))
    except (OSError, KeyError, TypeError, ValueError):
        pass  # not started, or a half-written last line of a run still going
    return its, losses
