"""``report.html``: one self-contained page for a run folder or a comparison folder.

Everything is inline (PNGs as base64 ``data:`` URIs, the CSS, a small script that sorts a table
when a column head is clicked) and a Content-Security-Policy forbids the page any other source,
so it opens offline and fetches nothing. A run folder is data, maybe hostile: every string
taken from its files is escaped, only files inside the folder that really are PNGs are
embedded, and what is embedded is bounded (a larger PNG, or one past the page's budget, is
linked by its relative path with a note instead).

A comparison's page: what was chosen and how, the variants' table (sortable; the chosen variant
marked), mean ± std across seeds, every plot of the folder, then one section per variant (its
result, config and plots) that the table links to. A run's page: its result, plots and config.
"""

from __future__ import annotations

from pathlib import Path

from dlcli.errors import UsageError
from dlcli.report.blocks import Page, name_of, run_body
from dlcli.report.compare import compare_sections
from dlcli.runs import RunInfo, read_run, write_atomic

FILE = "report.html"


def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write the page for a run or comparison ``folder`` to ``out`` (default
    ``folder/report.html``), atomically; its path. Not a run folder: UsageError (exit 2)."""
    folder = Path(folder)
    if not any((folder / n).is_file() for n in ("config.yaml", "result.json", "sweep.json")):
        raise UsageError(f"{folder}: not a run or compare folder (no config.yaml, result.json "
                         f"or sweep.json)")
    path = Path(out) if out is not None else folder / FILE
    info = read_run(folder)
    page = Page(path.parent)
    body = compare_body(info, page) if info.kind == "compare" else run_body(info, page)
    title = name_of(info)
    write_atomic(path, page.document(title, body).encode("utf-8"))
    return path


def compare_body(info: RunInfo, page: Page) -> str:
    return compare_sections(info, page)
