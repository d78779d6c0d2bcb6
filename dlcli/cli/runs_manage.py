"""``dlcli runs diff``, ``runs tag``, ``runs rm`` and ``runs export``: keeping run folders.

Thin commands over :mod:`dlcli.runs.housekeeping` and :mod:`dlcli.tracking.export`,
registered on the ``runs`` group by :mod:`dlcli.cli.runs`. Errors go through
:func:`dlcli.cli.common.guarded`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from dlcli.cli.common import complete_run_id

DirOpt = Annotated[Path, typer.Option(
    "--dir", "-d", envvar="DLCLI_RUNS_DIR",
    help="The runs folder, where ids are looked up.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout instead of a table.")]
RunArg = Annotated[str, typer.Argument(help="A run: its path, or its id (a prefix is enough).",
                                       show_default=False, metavar="RUN",
                                       autocompletion=complete_run_id)]


def diff(a: RunArg, b: RunArg, root: DirOpt = Path("runs"), as_json: JsonOpt = False) -> None:
    """What differs between two runs, of any comparisons.

    The config keys that differ (dotted), then every metric side by side with the change B - A.
    """
    from dlcli.cli.common import guarded, out_console
    from dlcli.runs import folder_id, read_run, resolve_run
    from dlcli.runs.housekeeping import diff_runs

    def both() -> dict[str, Any]:
        infos = [read_run(resolve_run(ref, root)) for ref in (a, b)]
        for info in infos:
            info.id = folder_id(info.path)
        return diff_runs(*infos)

    found = guarded(both)
    if as_json:
        print(json.dumps(found, indent=2, default=str))
        return
    _print_diff(found, out_console())


def _print_diff(found: dict[str, Any], console: Any) -> None:
    from dlcli.sweeps.summary import fmt

    for side in ("a", "b"):
        s = found[side]
        tags = f", tags {','.join(s['tags'])}" if s["tags"] else ""
        _line(console, f"{side.upper()}: {s['id']} ({s['status']}{tags})")
    if found["config"]:
        rows = [[c["key"], _shown(c, "a"), _shown(c, "b")] for c in found["config"]]
        _line(console, f"config: {len(rows)} keys differ")
        console.print(_table(["key", "A", "B"], rows))
    else:
        _line(console, "config: the same")
    rows = [[m["key"], fmt(m["key"], m["a"]), fmt(m["key"], m["b"]), _change(m)]
            for m in found["metrics"]]
    console.print(_table(["metric", "A", "B", "B - A"], rows))


def _shown(entry: dict[str, Any], side: str) -> str:
    if side not in entry:
        return "(absent)"
    value = entry[side]
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _change(m: dict[str, Any]) -> str:
    from dlcli.sweeps.summary import fmt

    if m["change"] is None:
        return "-"
    text = fmt(m["key"], m["change"])
    text = text if text.startswith("-") else "+" + text
    return text + {True: " better", False: " worse", None: ""}[m["better"]]


def _table(heads: list[str], rows: list[list[str]]) -> Any:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False, show_edge=False)
    for i, head in enumerate(heads):
        table.add_column(head, justify="left" if i == 0 else "right", overflow="fold")
    for row in rows:
        table.add_row(*map(escape, row))
    return table


def _line(console: Any, text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def tag(
    run: RunArg,
    tags: Annotated[list[str] | None, typer.Argument(help="Tags to add.",
                                                     show_default=False)] = None,
    remove: Annotated[list[str] | None, typer.Option(
        "--remove", "-r", help="A tag to remove; repeatable.", show_default=False)] = None,
    root: DirOpt = Path("runs"),
) -> None:
    """Add tags to a run (a comparison: to each of its runs), or remove them.

    Prints the tags each run then has. A tag: 1 to 64 characters, no spaces. Filter with
    dlcli runs list --tag TAG.
    """
    from dlcli.cli.common import guarded
    from dlcli.runs import resolve_run
    from dlcli.runs.housekeeping import retag

    done = guarded(lambda: retag(resolve_run(run, root), tags or (), remove or ()))
    for path, now in done.items():
        print(f"{path}: {', '.join(now) if now else '(no tags)'}")


def rm(
    runs: Annotated[list[str], typer.Argument(
        help="Runs or comparisons: paths, or ids (a prefix is enough; not a part).",
        show_default=False, metavar="RUN...", autocompletion=complete_run_id)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="Only list what would "
                                          "be removed.")] = False,
    root: DirOpt = Path("runs"),
) -> None:
    """Remove run or compare folders under --dir, after asking.

    Refused, and nothing removed, for a folder that is running (its .lock held by a live
    process, or no result.json and metrics.csv written in the last 30 s), a single run of a
    comparison, a symlink, or anything that is not a run or compare folder directly under
    --dir. Without a terminal, --yes is needed.
    """
    from dlcli.cli.common import EXIT_USAGE, fail, guarded
    from dlcli.runs import resolve_run
    from dlcli.runs.housekeeping import plan_removal, remove, total_bytes

    plan = guarded(lambda: plan_removal([resolve_run(r, root, partial=False) for r in runs],
                                        root))
    refused = [p for p in plan if p.refused]
    if refused:
        for p in refused[1:]:
            print(f"error: {p.path}: {p.refused}", file=sys.stderr)
        fail(f"{refused[0].path}: {refused[0].refused}; nothing removed", EXIT_USAGE)
    verb = "would remove" if dry_run else "to remove"
    for p in plan:
        print(f"{verb}: {p.path} ({p.kind}, {total_bytes(p.path) / 1e6:.1f} MB)")
    if dry_run:
        return
    if not yes:
        if not _interactive():
            fail("runs rm: not a terminal, so nothing was asked and nothing removed; add "
                 "--yes", EXIT_USAGE)
        if not typer.confirm(f"Remove {len(plan)} folder{'s' * (len(plan) > 1)}?"):
            print("nothing removed", file=sys.stderr)
            return
    for p in plan:
        guarded(partial(remove, p.path))
        print(f"removed {p.path}")


def _interactive() -> bool:
    return sys.stdin.isatty()


def export(
    runs: Annotated[list[str] | None, typer.Argument(
        help="Runs or comparisons (default: every folder under --dir).", show_default=False,
        metavar="RUN...", autocompletion=complete_run_id)] = None,
    mlflow: Annotated[str, typer.Option(
        "--mlflow", envvar="DLCLI_MLFLOW_URI", show_default=False,
        help="The MLflow tracking URI: sqlite:///mlflow.db, http://HOST:5000, or a folder "
             "(./mlruns).")] = "",
    root: DirOpt = Path("runs"),
) -> None:
    """Log existing run and compare folders to MLflow.

    A comparison becomes a parent run with one nested run per variant; a folder logged before,
    and unchanged since, is skipped. Exit 3 when the tracking store cannot be reached.
    """
    from dlcli.cli.common import EXIT_USAGE, fail, guarded
    from dlcli.runs import list_runs, lock_owner, pid_alive, resolve_run
    from dlcli.tracking import export as tracking

    if not mlflow:
        fail("runs export: give --mlflow URI (or set DLCLI_MLFLOW_URI)", EXIT_USAGE)
    guarded(tracking.require)
    folders = guarded(lambda: [resolve_run(r, root) for r in runs] if runs else
                      [info.path for info in list_runs(root)])
    for folder in folders:
        pid = lock_owner(folder)
        if pid is not None and pid_alive(pid):
            tracking.warn(f"{folder}: running (pid {pid}); not logged")
            continue
        mlflow_id, fresh = guarded(partial(tracking.export_folder, folder, mlflow))
        print(f"{'logged' if fresh else 'already logged'}: {folder} -> MLflow run {mlflow_id}")


COMMANDS: dict[str, Callable[..., None]] = {"diff": diff, "tag": tag, "rm": rm,
                                            "export": export}
