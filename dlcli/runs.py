"""Run folders: unique ids, atomic writes.

A run folder is ``<root>/<UTC yyyymmdd-HHMMSS>-<name>-<6 hex>/``. The id is claimed with an
exclusive ``mkdir``, so two processes starting in the same second never share a folder.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import numpy as np

from dlcli.errors import UsageError


def utc_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")


def create_run_dir(root: str | Path, name: str, prefix: str = "") -> Path:
    """Create and return a fresh, never-colliding folder under ``root``."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
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


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a temp file in the same folder + rename: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
