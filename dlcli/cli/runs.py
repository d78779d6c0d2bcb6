"""``dlcli runs``: browse the run and compare folders (``list``, ``show``) and keep them
(``diff``, ``tag``, ``rm``, ``export`` in :mod:`dlcli.cli.runs_manage`).

Thin commands over :mod:`dlcli.runs.listing`, :func:`dlcli.api.show_run` and
:mod:`dlcli.runs.housekeeping`; errors go through :func:`dlcli.cli.common.guarded`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

import dlcli.cli.runs_manage as manage
from dlcli.cli.common import complete_run_id

runs_app = typer.Typer(help="Browse and keep run folders: list, show, diff, tag, rm, export.",
                       no_args_is_help=True)

# A run's "metric" is what it would be chosen by (validation; the final loss without a
# validation split or for a landscape); its test figure is shown beside it, never instead.
METRIC_SHORT = {"val_accuracy": "val acc", "val_r2": "val R²", "final_loss": "loss"}
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout instead of a table.")]
DirOpt = manage.DirOpt


@runs_app.command("list")
def list_runs(
    old_root: Annotated[Path | None, typer.Argument(
        hidden=True, show_default=False, metavar="DIR", help="Deprecated: use --dir.")] = None,
    root: DirOpt = Path("runs"),
    all_: Annotated[bool, typer.Option("--all", "-a", help="Also list the runs inside each "
                                       "compare folder.")] = False,
    status: Annotated[list[str] | None, typer.Option(
        "--status", help="Only this status (completed, failed, diverged, interrupted, pruned, "
        "incomplete); repeatable.", show_default=False)] = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="Only names matching this glob, e.g. 'cifar*'.", show_default=False)] = None,
    tag: Annotated[list[str] | None, typer.Option(
        "--tag", help="Only runs with this tag; repeatable (all of them).",
        show_default=False)] = None,
    sort: Annotated[str | None, typer.Option(
        "--sort", help="Sort by a column (name, status, wall_time_s, started, ...) or any metric "
        "(val_accuracy, test_r2, final_loss, ...; best first); -KEY reverses. Default: newest "
        "first.", show_default=False)] = None,
    limit: Annotated[int | None, typer.Option(
        "--limit", "-n", min=1, help="At most N rows.", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """A table of runs and compare folders, newest first.

    Each with the validation metric it is chosen by and its test metric (a comparison: its
    chosen variant's), and its tags. --all adds each comparison's runs.
    """
    from dlcli.cli.common import err_console, guarded
    from dlcli.runs import listing

    folder = old_root or root

    def rows() -> list[dict[str, Any]]:
        found = listing.select(listing.listing_rows(folder, descend=all_), status=status or (),
                               name=name, tags=tag or ())
        return (listing.sort_listing(found, sort) if sort else found)[:limit]

    found = guarded(rows)
    if as_json:
        print(json.dumps(found, indent=2, default=str))
    elif not found:
        what = "no runs" if not (status or name or tag) else "no runs match"
        err_console.print(f"{what} under {folder}", highlight=False, markup=False,
                          soft_wrap=True)
    else:
        _print_listing(found, folder, sort)


def _print_listing(rows: list[dict[str, Any]], root: Path, sort: str | None) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    heads = ["id", "name", "data", "model", "strategy", "status", "metric", "test", "wall s"]
    lines = _listing_lines(rows)
    if any(r["tags"] for r in rows):
        heads.append("tags")
        lines = [cells + [",".join(r["tags"])] for r, cells in zip(rows, lines, strict=True)]
    widths = [max(len(head), *(len(cells[i]) for cells in lines)) for i, head in enumerate(heads)]
    needed = sum(widths) + 2 * (len(heads) - 1)
    if sys.stdout.isatty():  # a wide table shrinks its names (…); an id or a number never
        console = Console()
        shrink = [1, 2, 3, 4, *([9] if len(heads) > 9 else [])]
        room = console.width - needed + sum(widths[i] for i in shrink)
        for i, w in zip(shrink, _shrink([widths[i] for i in shrink], room), strict=True):
            widths[i] = w
    else:  # a pipe or a file: whole cells, however wide, for grep and cut
        console = Console(width=needed)
    order = f"sorted by {sort}" if sort else "newest first"
    # the title as a line of its own: a table's title is padded to the table's width
    console.print(f"runs in {root}, {order}", highlight=False, markup=False, soft_wrap=True)
    table = Table(box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False, show_edge=False)
    for head, width in zip(heads, widths, strict=True):
        table.add_column(head, justify="right" if head in ("test", "wall s") else "left",
                         no_wrap=True, width=width, overflow="ellipsis")
    for r, cells in zip(rows, lines, strict=True):
        table.add_row(*map(escape, cells),
                      style=None if r["status"] == "completed" else "yellow")
    if console.is_terminal:
        console.print(table)
        return
    with console.capture() as text:  # a pipe: without the padding of the last column
        console.print(table)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in text.get().splitlines()))


def _shrink(widths: list[int], room: int, least: int = 6) -> list[int]:
    """The widths capped at one level so that they fit in ``room`` (the widest give first),
    none below ``least``."""
    cap = max(widths, default=0)
    while cap > least and sum(min(w, cap) for w in widths) > room:
        cap -= 1
    return [min(w, cap) for w in widths]


def _listing_lines(rows: list[dict[str, Any]]) -> list[list[str]]:
    """The cells of each row: a comparison's run right under its comparison shows as
    ``  01-sgd`` (an id ``runs show`` finds when no other comparison has it), elsewhere by its
    whole id."""
    out, parent = [], None
    for r in rows:
        ident = r["id"]
        if "/" in ident and ident.rsplit("/", 1)[0] == parent:
            ident = "  " + ident.rsplit("/", 1)[1]
        elif "/" not in ident:
            parent = ident if r["kind"] == "compare" else None
        out.append([ident, *_listing_cells(r)])
    return out


def _listing_cells(r: dict[str, Any]) -> list[str]:
    """A row of ``runs list`` after its id: the metric it is chosen by (validation), then its
    test figure."""
    from dlcli.sweeps.summary import fmt

    metric = "-" if r["metric"] is None else \
        f"{METRIC_SHORT.get(r['metric'], r['metric'])} {fmt(r['metric'], r['value'])}"
    test = "-" if r["report_metric"] is None else fmt(r["report_metric"], r["report_value"])
    return [*(str(r[k] or "-") for k in ("name", "data", "model", "strategy")),
            r["status"], metric, test, fmt("wall_time_s", r["wall_time_s"])]


@runs_app.command("show")
def show(
    run: Annotated[str, typer.Argument(help="A run or compare folder: its path, or its id (a "
                                       "prefix is enough) under --dir.", show_default=False,
                                       metavar="RUN", autocompletion=complete_run_id)],
    root: DirOpt = Path("runs"),
    as_json: JsonOpt = False,
) -> None:
    """A run's result, tags and note, loss sparkline, pictures and config.

    A compare folder: its table, its runs' tags and its pictures.
    """
    from dlcli import api
    from dlcli.cli.common import guarded, out_console

    info = guarded(lambda: api.show_run(run, root))
    info["pictures"] = pictures(Path(info["path"]))
    if as_json:
        print(json.dumps(info, indent=2, default=str))
    else:
        console = out_console()
        (_show_compare if info["kind"] == "compare" else _show_run)(info, console)


def pictures(folder: Path) -> list[str]:
    """The pictures a folder holds (loss.png, weights.png, ...), by name."""
    try:
        return sorted(p.name for p in folder.glob("*.png") if p.is_file())
    except OSError:
        return []


def _show_run(info: dict[str, Any], console: Any) -> None:
    import yaml
    from rich.markup import escape

    from dlcli.runs.listing import tags_of
    from dlcli.sweeps.summary import fmt, sparkline

    res = info["result"] if isinstance(info["result"], dict) else {}
    losses = info["losses"]
    console.print(f"[bold]{escape(info['path'])}[/]", highlight=False)
    status = res.get("status", "incomplete (no result.json yet)")
    _line(console, f"status {status}, {res.get('iterations', len(losses))} iterations, seed "
                   f"{res.get('seed', '-')}, {fmt('wall_time_s', res.get('wall_time_s'))} s")
    if res.get("error"):
        console.print(f"[red]{escape(str(res['error']))}[/]", highlight=False)
    if tags_of(res):
        _line(console, f"tags: {', '.join(tags_of(res))}")
    if isinstance(res.get("note"), str) and res["note"]:
        _line(console, f"note: {res['note']}")
    metrics = res.get("metrics") if isinstance(res.get("metrics"), dict) else {}
    if metrics:
        _line(console, "  ".join(f"{k} {fmt(k, v)}" for k, v in metrics.items()))
    if losses:
        _line(console, f"loss {losses[0]:.4g} {sparkline(losses, 60)} {losses[-1]:.4g} "
                       f"(min {min(losses):.4g})")
    if info["pictures"]:
        _line(console, f"pictures: {', '.join(info['pictures'])}")
    if res.get("command"):
        _line(console, f"command: {res['command']}")
    if info["config"]:
        console.print("config:", highlight=False)
        console.print(yaml.safe_dump(info["config"], sort_keys=False).rstrip(), highlight=False,
                      markup=False)


def _line(console: Any, text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _show_compare(info: dict[str, Any], console: Any) -> None:
    from rich.markup import escape

    from dlcli.cli.compare import print_tables
    from dlcli.sweeps.summary import Summary, sparkline

    runs = info["runs"]
    summary = Summary.from_json(Path(info["path"]), info["summary"]) if info.get("summary") \
        else None
    console.print(f"[bold]{escape(info['path'])}[/]: {len(runs)} runs", highlight=False)
    if summary is not None and summary.rows:
        lines = {Path(r["path"]).name: sparkline(r["losses"], 12) for r in runs}
        print_tables(summary, None, console, extra=lines)
    tags = list(dict.fromkeys(t for r in runs for t in r.get("tags") or []))
    if tags:
        _line(console, f"tags (of its runs): {', '.join(tags)}")
    if info["pictures"]:
        _line(console, f"pictures: {', '.join(info['pictures'])}")


for _name, _command in manage.COMMANDS.items():
    runs_app.command(_name)(_command)
