"""``dlcli report PATH [-o FILE]``: one self-contained HTML page for a run or a comparison.

A thin command over :func:`dlcli.report.page.write_report`; ``cli.py`` registers it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    path: Annotated[str, typer.Argument(help="A run or compare folder: its path, or an id "
                                        "prefix under --dir.", show_default=False)],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="The HTML file to write (default: PATH/report.html).",
        show_default=False)] = None,
    root: Annotated[Path, typer.Option("--dir", help="Where ids are looked up.")] = Path("runs"),
) -> None:
    """Write one HTML page for a run (result, plots, config) or a comparison (the sortable
    table with the chosen variant marked, mean ± std across seeds, every plot, a section per
    variant). Everything is inline: it opens offline and fetches nothing. Prints its path."""
    from dlcli.cli.common import guarded
    from dlcli.report.page import write_report
    from dlcli.runs import resolve_run

    written = guarded(lambda: write_report(resolve_run(path, root), out))
    print(written)
