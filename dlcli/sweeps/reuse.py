"""Runs that already completed under the same ``--out`` root, found by the hash of their
resolved config: a comparison links them into its folder instead of running them again
(``--rerun`` runs them anyway). So adding a value to a grid, or raising a search's trials, runs
only what is new.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dlcli.config import yaml_input as safe_yaml
from dlcli.errors import DlcliError
from dlcli.runs import read_json
from dlcli.sweeps.plan import Variant, config_hash
from dlcli.sweeps.summary import make_row


def completed_runs(root: Path, skip: Path) -> dict[str, Path]:
    """Config hash -> the oldest completed run folder with it, among ``root/<run>/`` and
    ``root/compare-*/<run>/`` (links, which are reuses themselves, and ``skip`` left out)."""
    found: dict[str, Path] = {}
    for run in _run_folders(root, skip.resolve()):
        try:
            result = read_json(run / "result.json")
            if not isinstance(result, dict) or result.get("status") != "completed":
                continue
            config = safe_yaml.load((run / "config.yaml").read_text(encoding="utf-8"),
                                    str(run / "config.yaml"))
        except (OSError, ValueError, DlcliError):
            continue
        if isinstance(config, dict):
            found.setdefault(config_hash(config), run)
    return found


def _run_folders(root: Path, skip: Path) -> Iterator[Path]:
    try:
        tops = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return
    for top in tops:
        if top.resolve() == skip:
            continue
        if (top / "result.json").is_file():
            yield top
        elif (top / "sweep.json").is_file():
            try:
                kids = sorted(p for p in top.iterdir() if p.is_dir() and not p.is_symlink())
            except OSError:
                continue
            yield from (k for k in kids if (k / "result.json").is_file())


def link(folder: Path, v: Variant, run: Path) -> None:
    """``<folder>/<v.folder>`` becomes a relative link to ``run`` (a copy where links fail)."""
    path = folder / v.folder
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    try:
        path.symlink_to(os.path.relpath(run, folder))
    except OSError:
        shutil.copytree(run, path)


def reused_row(folder: Path, v: Variant, run: Path) -> dict[str, Any]:
    """The row of a reused variant: the run's result, and ``reused`` naming its folder (relative
    to the ``--out`` root)."""
    row = make_row(v, read_json(run / "result.json"))
    row["reused"] = os.path.relpath(run, folder.parent)
    return row


def reused_from(folder: Path, v: Variant) -> str | None:
    """Where a variant's folder links to (relative to the ``--out`` root), if it is a link."""
    path = folder / v.folder
    if not path.is_symlink():
        return None
    return os.path.relpath((folder / os.readlink(path)).resolve(), folder.parent.resolve())
