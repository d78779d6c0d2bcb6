"""``dlcli runs list`` and ``dlcli runs show``: browse the run and compare folders.

Thin commands over :func:`dlcli.api.list_runs` and :func:`dlcli.api.show_run`; errors go
through :func:`dlcli.cli.guarded` (imported late: cli.py imports this module).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

runs_app = typer.Typer(help="Browse run folders: list them, show one.", no_args_is_help=True)

# A run's "metric" is what it would be chosen by (validation; the final loss without a
# validation split or for a landscape); its test figure is shown beside it, never instead.
METRIC_SHORT = {"val_accuracy": "val acc", "val_r2": "val R²", "final_loss": "loss"}
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout instead of a table.")]


@runs_app.command("list")
def list_runs(
    root: Annotated[Path, typer.Argument(help="The runs folder.")] = Path("runs"),
    all_: Annotated[bool, typer.Option("--all", "-a", help="Also list the runs inside each "
                                       "compare folder.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """A table of runs and compare folders, newest first: each with the validation metric it is
    chosen by and its test metric (a comparison: its chosen variant's)."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from dlcli import api
    from dlcli.cli_common import err_console, guarded, out_console

    rows = guarded(lambda: api.list_runs(root, descend=all_))
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        err_console.print(f"no runs under {root}", highlight=False, markup=False, soft_wrap=True)
        return
    table = Table(title=escape(f"runs in {root}, newest first"), title_justify="left",
                  box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False, show_edge=False)
    heads = ("id", "name", "data", "model", "strategy", "status", "metric", "test", "wall s")
    lines = [_listing_cells(r) for r in rows]
    widths = [max(len(head), *(len(cells[i]) for cells in lines)) for i, head in enumerate(heads)]
    # When the table is too wide, the names shrink (…); an id, a status or a number never.
    names = slice(1, 5)
    room = out_console().width - 2 * (len(heads) - 1) - sum(widths) + sum(widths[names])
    widths[names] = _shrink(widths[names], room)
    for head, width in zip(heads, widths, strict=True):
        table.add_column(head, justify="right" if head in ("test", "wall s") else "left",
                         no_wrap=True, width=width, overflow="ellipsis")
    for r, cells in zip(rows, lines, strict=True):
        table.add_row(*map(escape, cells),
                      style=None if r["status"] == "completed" else "yellow")
    out_console().print(table)


def _shrink(widths: list[int], room: int, least: int = 6) -> list[int]:
    """The widths capped at one level so that they fit in ``room`` (the widest give first),
    none below ``least``."""
    cap = max(widths, default=0)
    while cap > least and sum(min(w, cap) for w in widths) > room:
        cap -= 1
    return [min(w, cap) for w in widths]


def _listing_cells(r: dict[str, Any]) -> list[str]:
    """A row of ``runs list``: the metric it is chosen by (validation), then its test figure."""
    from dlcli.report import fmt

    metric = "-" if r["metric"] is None else \
        f"{METRIC_SHORT.get(r['metric'], r['metric'])} {fmt(r['metric'], r['value'])}"
    test = "-" if r["report_metric"] is None else fmt(r["report_metric"], r["report_value"])
    ident = ("  " + r["id"].split("/", 1)[-1]) if "/" in r["id"] else r["id"]
    return [ident, *(str(r[k] or "-") for k in ("name", "data", "model", "strategy")),
            r["status"], metric, test, fmt("wall_time_s", r["wall_time_s"])]


@runs_app.command("show")
def show(
    run: Annotated[str, typer.Argument(help="A run or compare folder: its path, or an id "
                                       "prefix under --dir.", show_default=False)],
    root: Annotated[Path, typer.Option("--dir", help="Where ids are looked up.")] = Path("runs"),
    as_json: JsonOpt = False,
) -> None:
    """A run's result, a sparkline of its loss and its config (a compare folder: its table)."""
    from dlcli import api
    from dlcli.cli_common import guarded, out_console

    info = guarded(lambda: api.show_run(run, root))
    if as_json:
        print(json.dumps(info, indent=2, default=str))
    else:
        console = out_console()
        (_show_compare if info["kind"] == "compare" else _show_run)(info, console)


def _show_run(info: dict[str, Any], console: Any) -> None:
    import yaml
    from rich.markup import escape

    from dlcli.report import fmt, sparkline

    res = info["result"] if isinstance(info["result"], dict) else {}
    losses = info["losses"]
    console.print(f"[bold]{escape(info['path'])}[/]", highlight=False)
    status = res.get("status", "incomplete (no result.json yet)")
    console.print(f"status {status}, {res.get('iterations', len(losses))} iterations, seed "
                  f"{res.get('seed', '-')}, {fmt('wall_time_s', res.get('wall_time_s'))} s",
                  highlight=False, markup=False, soft_wrap=True)
    if res.get("error"):
        console.print(f"[red]{escape(str(res['error']))}[/]", highlight=False)
    metrics = res.get("metrics") if isinstance(res.get("metrics"), dict) else {}
    if metrics:
        console.print("  ".join(f"{k} {fmt(k, v)}" for k, v in metrics.items()), highlight=False,
                      markup=False, soft_wrap=True)
    if losses:
        console.print(f"loss {losses[0]:.4g} {sparkline(losses, 60)} {losses[-1]:.4g} "
                      f"(min {min(losses):.4g})", highlight=False, markup=False, soft_wrap=True)
    if res.get("command"):
        console.print(f"command: {res['command']}", highlight=False, soft_wrap=True, markup=False)
    if info["config"]:
        console.print("config:", highlight=False)
        console.print(yaml.safe_dump(info["config"], sort_keys=False).rstrip(), highlight=False,
                      markup=False)


def _show_compare(info: dict[str, Any], console: Any) -> None:
    from rich.markup import escape

    from dlcli.cli_compare import print_tables
    from dlcli.report import Summary, sparkline

    runs = info["runs"]
    summary = Summary.from_json(Path(info["path"]), info["summary"]) if info.get("summary") \
        else None
    console.print(f"[bold]{escape(info['path'])}[/]: {len(runs)} runs", highlight=False)
    if summary is None or not summary.rows:
        return
    lines = {Path(r["path"]).name: sparkline(r["losses"], 12) for r in runs}
    print_tables(summary, None, console, extra=lines)
