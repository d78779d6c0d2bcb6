"""The building blocks of ``report.html``: the page (its images embedded, bounded and checked to
be PNGs inside the folder; its Content-Security-Policy), tables, cells, escaping, and a run's
section. :mod:`dlcli.report.page` writes the page, :mod:`dlcli.report.compare` a comparison's.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dlcli.report.parts import SCRIPT, STYLE, metric_rows, result_facts, yaml_text
from dlcli.runs import RunInfo

PNG = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE = 4 << 20  # bytes: a PNG larger than this is linked, not embedded
MAX_IMAGES = 48 << 20  # bytes of PNG embedded in one page in all; the rest are linked
FIRST = ("loss.png", "metric.png", "weights.png", "trajectory.png")  # shown first, in order


def esc(value: Any) -> str:
    """Any value from a file as text in HTML (quotes too: it may land in an attribute)."""
    return html.escape(str(value), quote=True)


class Page:
    """What one page has embedded so far (its image budget) and where it will be written (for
    the relative links to PNGs it does not embed)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.left = MAX_IMAGES

    def figure(self, png: Path, root: Path) -> str:
        """A ``<figure>`` with ``png`` inline, or a note linking it when it is not embedded."""
        name = esc(png.name)
        try:
            inside = png.resolve().is_relative_to(root.resolve())
            size = png.stat().st_size
            if not inside or png.is_symlink() or not png.is_file():
                return f'<p class="note">{name}: not shown (not a file inside the folder)</p>'
            if size > MAX_IMAGE or size > self.left:
                why = "over 4 MB" if size > MAX_IMAGE else "the page's image budget is spent"
                return (f'<p class="note">{name} ({_size(size)}) not embedded ({why}): '
                        f'<a href="{esc(self.link(png))}">{name}</a></p>')
            data = png.read_bytes()
        except OSError as exc:
            return f'<p class="note">{name}: not readable ({esc(exc.strerror or exc)})</p>'
        if not data.startswith(PNG):
            return f'<p class="note">{name}: not shown (not a PNG file)</p>'
        self.left -= len(data)
        src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        return f'<figure><img src="{src}" alt="{name}"><figcaption>{name}</figcaption></figure>'

    def link(self, path: Path) -> str:
        return quote(os.path.relpath(path.resolve(), self.base.resolve()))

    def figures(self, folder: Path, root: Path) -> str:
        """Every PNG directly in ``folder``: the known plots first, then the others by name."""
        try:
            pngs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
        except OSError:
            return ""
        pngs.sort(key=lambda p: FIRST.index(p.name) if p.name in FIRST else len(FIRST))
        return "".join(self.figure(p, root) for p in pngs)

    def document(self, title: str, body: str) -> str:
        policy = (f"default-src 'none'; img-src data:; style-src {_hash(STYLE)}; "
                  f"script-src {_hash(SCRIPT)}; base-uri 'none'; form-action 'none'")
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n"
                f"<script>{SCRIPT}</script>\n</body></html>\n")


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _hash(text: str) -> str:
    """A CSP source for exactly this inline text: nothing else inline may run or style."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def name_of(info: RunInfo) -> str:
    source = info.sweep if info.kind == "compare" else info.config
    name = source.get("name") if isinstance(source, Mapping) else None
    return str(name) if name else info.path.name


def table(heads: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "sortable",
          row_attrs: Iterable[str] | None = None) -> str:
    """A table of cells already made HTML (``<td>...</td>``); heads are escaped here."""
    attrs = list(row_attrs) if row_attrs is not None else None
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in heads)
    body = "".join(f"<tr{attrs[i] if attrs else ''}>{''.join(r)}</tr>"
                   for i, r in enumerate(rows))
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def cell(text: Any, sort: Any = None) -> str:
    """A ``<td>``: ``text`` shown, ``sort`` (a number) what the script sorts it by."""
    number = isinstance(sort, (int, float)) and not isinstance(sort, bool) and \
        math.isfinite(sort)
    key = f' data-v="{esc(repr(float(sort)))}"' if number else ""
    return f"<td{key}>{esc(text)}</td>"


def run_body(info: RunInfo, page: Page, *, root: Path | None = None, level: int = 1,
             anchor: str = "", title: str | None = None) -> str:
    """A run's section (a page's whole body at ``level`` 1): status, metrics, the facts of
    result.json, its plots and its config. ``root``: the folder its PNGs must be inside."""
    res = info.result if isinstance(info.result, Mapping) else {}
    h = f"h{level}"
    title = esc(name_of(info) if level == 1 else " · ".join(dict.fromkeys(
        t for t in (title, info.path.name) if t)))
    ident = f' id="{anchor}" class="variant"' if anchor else ""
    status = esc(res.get("status", "incomplete (no result.json yet)"))
    parts = [f'<section{ident}><{h}>{title} <span class="status s-{_css(status)}">{status}'
             f"</span></{h}>", f'<p class="path">{esc(info.path)}</p>']
    if res.get("error"):
        parts.append(f'<p class="error">{esc(res["error"])}</p>')
    metrics = metric_rows(res.get("metrics"))
    if metrics:
        parts.append(table(["metric", "value"], ([cell(k), cell(t, v)] for k, t, v in metrics),
                           cls="facts"))
    facts = result_facts(res)
    if facts:
        parts.append(table(["", ""], ([cell(k), cell(v)] for k, v in facts), cls="facts"))
    parts.append(page.figures(info.path, root or info.path))
    config = yaml_text(info.config)
    if config:
        parts.append(f"<details{' open' if level == 1 else ''}><summary>config.yaml</summary>"
                     f"<pre>{esc(config)}</pre></details>")
    return "\n".join(parts) + "</section>"


def _css(status: str) -> str:
    return "".join(c for c in status if c.isalnum())[:20]
