"""The comparison page of ``report.html`` (see :mod:`dlcli.report.page`): what was chosen, the
variants' table (sortable, the chosen variant marked, each row linking to its section), mean ±
std across seeds, the folder's plots, and a section per variant.

The tables are the terminal's (:func:`dlcli.sweeps.summary.run_table`, ``group_table``), so
the page and ``dlcli compare`` never disagree. A summary.json that is missing or damaged
leaves a note and the variants' own sections.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dlcli.report.blocks import Page, cell, esc, run_body, table
from dlcli.runs import RunInfo
from dlcli.sweeps.summary import Summary, chosen_line, value
from dlcli.sweeps.tables import group_table, run_table, sort_rows

BROKEN = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def compare_sections(info: RunInfo, page: Page) -> str:
    """The whole body of a comparison's page."""
    folder = info.path
    sweep = info.sweep if isinstance(info.sweep, Mapping) else {}
    inside = [c for c in info.children if _inside(c.path, folder)]
    anchors = {child.path.name: f"variant-{k}" for k, child in enumerate(inside, 1)}
    parts = [f"<h1>{esc(sweep.get('name') or folder.name)}</h1>",
             f'<p class="path">{esc(folder)}</p>']
    labels: dict[str, str] = {}
    try:
        summary = Summary.from_json(folder, info.summary) if isinstance(info.summary, Mapping) \
            else None
        if summary is not None:
            parts.append(overview(summary, info.summary or {}, anchors))
            labels = {_leaf(r.get("run_dir")): str(r.get("label") or r.get("variant"))
                      for r in summary.rows}
    except BROKEN as exc:
        summary = None
        parts.append(f'<p class="note">summary.json could not be read ({esc(type(exc).__name__)}'
                     f"): the variants' own folders follow</p>")
    if summary is None and not labels:
        parts.append('<p class="note">no readable summary.json (the comparison may still be '
                     "starting): the variants' own folders follow</p>")
    plots = page.figures(folder, folder)
    parts.append("<h2>Plots</h2>" + (plots or '<p class="note">no plots in this folder</p>'))
    parts.append(f"<h2>Each variant ({len(info.children)} run folders)</h2>")
    for child in info.children:
        if child.path.name not in anchors:
            parts.append(f'<p class="note">{esc(child.path.name)}: not shown (a link out of '
                         f"the folder)</p>")
            continue
        parts.append(run_body(child, page, root=folder, level=3, anchor=anchors[child.path.name],
                              title=labels.get(child.path.name)))
    return "\n".join(parts)


def _inside(path: Path, folder: Path) -> bool:
    """A variant folder really in the comparison (not a link to elsewhere on the disk)."""
    return not path.is_symlink() and path.resolve().is_relative_to(folder.resolve())


def _leaf(run_dir: Any) -> str:
    return Path(str(run_dir)).name


def overview(summary: Summary, raw: Mapping[str, Any], anchors: Mapping[str, str]) -> str:
    """How many finished, what ranks and what is reported, the chosen line, then the tables."""
    metric, higher = summary.metric
    report = summary.report_key
    lines = [f"{len(summary.rows)} of {summary.total} variants finished, {summary.completed} "
             f"completed" + (" (interrupted)" if raw.get("interrupted") else "") + ".",
             f"Ranked by {metric} ({'higher' if higher else 'lower'} is better"
             + (f"; {summary.rank_note}" if summary.rank_note else "") + ")"
             + (f"; {report} is reported beside it, never used to choose." if report else ".")]
    parts = [f"<p>{esc(' '.join(lines))}</p>",
             f'<p class="chosen-line">{esc(chosen_line(summary))}</p>']
    chosen = _chosen_indices(raw, summary)
    parts += ["<h2>Variants</h2>", '<p class="path">Click a column head to sort; ★ marks the '
              "chosen variant; a run folder links to its section.</p>",
              variants_table(summary, chosen, anchors)]
    groups = group_table(summary)
    if groups:
        parts += ["<h2>Across seeds (mean ± std)</h2>", _groups(summary, groups, chosen)]
    return "\n".join(parts)


def _chosen_indices(raw: Mapping[str, Any], summary: Summary) -> set[Any]:
    """The rows of the chosen variant: summary.json's record of it, else recomputed."""
    chosen = raw.get("chosen")
    if not isinstance(chosen, Mapping):
        chosen = summary.chosen() or {}
    indices = chosen.get("indices")
    return {i for i in indices if isinstance(i, (int, str))} if isinstance(indices, list) \
        else set()


def variants_table(summary: Summary, chosen: set[Any], anchors: Mapping[str, str]) -> str:
    """One row per variant (per seed), best first by the ranking metric; the first column
    marks the chosen variant, the second links to the variant's section."""
    heads, cells = run_table(summary)
    rows = sort_rows(summary.rows, summary.metric[0], summary.grid_keys)
    out, attrs = [], []
    for row, texts in zip(rows, cells, strict=True):
        mark = row.get("index") in chosen
        anchor = anchors.get(_leaf(row.get("run_dir")))
        folder = esc(_leaf(row.get("run_dir")))
        link = f'<td><a href="#{anchor}">{folder}</a></td>' if anchor else f"<td>{folder}</td>"
        out.append([cell("★" if mark else ""), link,
                    *(cell(t, _number(value(row, h))) for h, t in zip(heads, texts,
                                                                       strict=True))])
        attrs.append(' class="chosen"' if mark else "")
    return table(["chosen", "run", *heads], out, row_attrs=attrs)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _groups(summary: Summary, groups: tuple[list[str], list[list[str]]],
            chosen: set[Any]) -> str:
    """The across-seeds table; its sort keys are each cell's mean (the number before ±)."""
    heads, cells = groups
    width = 1 + len(summary.grid_keys)
    picked = {tuple(str(r[k]) for k in ["variant", *summary.grid_keys])
              for r in summary.rows if r.get("index") in chosen}
    rows = [[cell("★" if tuple(c[:width]) in picked else ""),
             *(cell(t, _leading(t)) for t in c)] for c in cells]
    attrs = [' class="chosen"' if tuple(c[:width]) in picked else "" for c in cells]
    return table(["chosen", *heads], rows, row_attrs=attrs)


def _leading(text: str) -> float | None:
    try:
        return float(text.split(" ± ", 1)[0])
    except ValueError:
        return None
