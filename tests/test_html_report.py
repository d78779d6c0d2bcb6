"""report.html: one self-contained page (everything inline, nothing fetched) for a run or a
comparison; hostile strings escaped; embedded images bounded; rendered by Chromium when there."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import typer
import yaml
from typer.testing import CliRunner

from dlcli.cli.report import report
from dlcli.errors import UsageError
from dlcli.report import blocks as html_blocks
from dlcli.report.page import write_report
from dlcli.sweeps.summary import Summary

PNG = b"\x89PNG\r\n\x1a\n"
EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def tiny_png(seed: int = 0, w: int = 24, h: int = 16) -> bytes:
    """A valid RGB PNG of random colours, written without any imaging library."""
    rng = np.random.default_rng(seed)
    raw = b"".join(b"\x00" + rng.integers(0, 256, w * 3, dtype=np.uint8).tobytes()
                   for _ in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data))

    return PNG + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


class Page(HTMLParser):
    """What a test needs of a page: every tag with its attributes, and the tables' rows."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: list[list[dict[str, str | None]]] = []  # tbody rows' attributes
        self._in_body = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self.tables.append([])
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.tables[-1].append(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]


def self_contained(page: Page) -> None:
    """Every image inline, no script or style from elsewhere, no event handler, no link out."""
    assert all((a.get("src") or "").startswith("data:image/png;base64,") for a in page.all("img"))
    assert all("src" not in a for a in page.all("script")) and not page.all("link")
    for _, attrs in page.tags:
        assert not any(k.startswith("on") for k in attrs)
        for key in ("src", "href", "action"):
            assert not (attrs.get(key) or "").lower().startswith(("http:", "https:", "//"))
    policy = next(a["content"] for a in page.all("meta") if a.get("http-equiv"))
    assert policy and "default-src 'none'" in policy and "img-src data:" in policy


def make_run(folder: Path, name: str, *, seed: int = 0, val: float = 0.5,
             status: str = "completed", pngs: tuple[str, ...] = ("loss.png",)) -> Path:
    folder.mkdir(parents=True)
    cfg = {"name": name, "seed": seed, "data": {"source": "cifar10-synthetic"},
           "model": {"name": "softmax"}, "strategy": {"name": "sgd", "lr": 1e-6}}
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    result = {"status": status, "metrics": {"val_accuracy": val, "test_accuracy": val - 0.1,
                                            "final_loss": 2.0 - val},
              "iterations": 20, "seed": seed, "wall_time_s": 0.5, "error": None}
    (folder / "result.json").write_text(json.dumps(result))
    for i, png in enumerate(pngs):
        (folder / png).write_bytes(tiny_png(seed * 10 + i))
    return folder


def make_compare(root: Path, variants: tuple[str, ...] = ("sgd", "momentum"),
                 seeds: tuple[int, ...] = (0, 1)) -> Path:
    folder = root / "compare-20250101-000000-demo-abcdef"
    folder.mkdir(parents=True)
    rows = []
    for v, name in enumerate(variants):
        for seed in seeds:
            index = len(rows) + 1
            run_dir = f"{index:02d}-{name}-seed{seed}"
            val = 0.3 + 0.1 * v + 0.01 * seed
            make_run(folder / run_dir, "demo", seed=seed, val=val, pngs=("loss.png",
                                                                         "weights.png"))
            rows.append({"index": index, "label": f"{name} seed={seed}", "variant": name,
                         "seed": seed, "status": "completed",
                         "metrics": {"val_accuracy": val, "test_accuracy": val - 0.1,
                                     "final_loss": 2.0 - val},
                         "iterations": 20, "wall_time_s": 0.5, "error": None,
                         "run_dir": run_dir, "hash": "h"})
    (folder / "sweep.json").write_text(json.dumps({"name": "demo", "variants": rows}))
    summary = Summary(folder, "demo", [], len(rows), rows=rows)
    (folder / "summary.json").write_text(json.dumps(summary.to_json(), default=str))
    for i, png in enumerate(("loss.png", "metric.png")):
        (folder / png).write_bytes(tiny_png(100 + i))
    return folder


def test_a_comparison_page_has_the_table_the_plots_and_a_section_per_variant(tmp_path):
    folder = make_compare(tmp_path)
    out = write_report(folder)
    assert out == folder / "report.html"
    text = out.read_text()
    page = Page(text)
    self_contained(page)
    assert len(page.all("img")) == 2 + 4 * 2  # the comparison's plots, each run's two
    variants, groups = page.tables[0], page.tables[1]
    assert len(variants) == 4 and len(groups) == 2  # four runs; two variants across seeds
    chosen = [r for r in variants if r.get("class") == "chosen"]
    assert len(chosen) == 2 and [r.get("class") for r in groups] == ["chosen", None]
    ids = {a["id"] for _, a in page.tags if a.get("id")}
    links = [a["href"] for a in page.all("a") if (a.get("href") or "").startswith("#")]
    assert len(links) == 4 and {h[1:] for h in links} <= ids
    assert "chosen on validation: momentum — val_accuracy 0.405, test_accuracy 0.305 " \
           "(means of 2 seeds)" in text
    assert '<td data-v="0.405">0.405 ± 0.007</td>' in text
    assert len(page.all("script")) == 1 and 'class="sortable"' in text


def test_a_run_page_and_the_command(tmp_path):
    root = tmp_path / "runs"
    run = make_run(root / "20250101-000000-demo-123456", "demo", pngs=("loss.png", "a.png"))
    app = typer.Typer()
    app.command()(report)
    out = tmp_path / "page.html"
    res = CliRunner().invoke(app, ["20250101", "--dir", str(root), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == str(out)
    page = Page(out.read_text())
    self_contained(page)
    assert [a["alt"] for a in page.all("img")] == ["loss.png", "a.png"]
    assert "val_accuracy" in out.read_text() and "config.yaml" in out.read_text()
    assert not (run / "report.html").exists()
    res = CliRunner().invoke(app, [str(tmp_path), "--dir", str(root)])
    assert res.exit_code == 2 and "no such run" in res.output


def test_strings_from_files_are_escaped_and_only_real_pngs_inside_are_embedded(tmp_path):
    folder = make_compare(tmp_path, variants=("sgd",), seeds=(0,))
    child = next(p for p in folder.iterdir() if p.is_dir())
    result = json.loads((child / "result.json").read_text())
    result.update(error=EVIL, note=EVIL, metrics={EVIL: 1.0})
    (child / "result.json").write_text(json.dumps(result))
    (child / "config.yaml").write_text(yaml.safe_dump({"name": EVIL}))
    summary = json.loads((folder / "summary.json").read_text())
    summary["rows"][0]["label"] = EVIL
    summary["rows"][0]["run_dir"] = child.name
    (folder / "summary.json").write_text(json.dumps(summary))
    (child / "fake.png").write_text("<svg onload=alert(3)>")  # a PNG by name only
    outside = tmp_path / "secret.png"
    outside.write_bytes(tiny_png(7))
    (child / "linked.png").symlink_to(outside)
    text = write_report(folder).read_text()
    page = Page(text)
    self_contained(page)
    assert "<script>alert" not in text and "<svg" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img" in text
    assert "fake.png: not shown (not a PNG file)" in text
    assert "linked.png: not shown (not a file inside the folder)" in text
    assert [a["alt"] for a in page.all("img")].count("linked.png") == 0


def test_images_past_the_budget_are_linked_not_embedded(tmp_path, monkeypatch):
    folder = make_compare(tmp_path, variants=("sgd",), seeds=(0,))
    monkeypatch.setattr(html_blocks, "MAX_IMAGES", 2 * len(tiny_png()))
    (tmp_path / "elsewhere").mkdir()
    text = write_report(folder, tmp_path / "elsewhere" / "r.html").read_text()
    page = Page(text)
    self_contained(page)
    assert len(page.all("img")) == 2  # the comparison's two plots used the budget
    assert "kB) not embedded (the page's image budget is spent)" in text
    hrefs = [a["href"] for a in page.all("a") if not (a.get("href") or "#").startswith("#")]
    assert hrefs and all(h.startswith("../compare-") for h in hrefs)


def test_a_folder_without_a_summary_still_gets_its_variants(tmp_path):
    folder = make_compare(tmp_path, variants=("sgd",), seeds=(0, 1))
    (folder / "summary.json").write_text('{"rows": 3}')
    page = Page(write_report(folder).read_text())
    assert sum(a.get("class") == "variant" for a in page.all("section")) == 2
    with pytest.raises(UsageError, match="not a run or compare folder"):
        write_report(tmp_path)


def test_a_real_comparison(tmp_path):
    from dlcli import api
    from tests.conftest import small_raw

    base = small_raw(iterations=6)
    base["eval_every"] = 3
    sweep = {"name": "demo", "base": base, "seeds": [0, 1],
             "variants": [{"name": "sgd"}, {"name": "gd", "strategy": {"name": "gd"}}]}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    summary = api.compare(tmp_path / "sweep.yaml", out=tmp_path / "runs")
    page = Page(write_report(summary.folder).read_text())
    self_contained(page)
    assert len(page.tables[0]) == 4 and len(page.tables[1]) == 2
    assert {a["alt"] for a in page.all("img")} >= {"loss.png", "metric.png"}


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_chromium_renders_the_page_and_sorts_the_table(tmp_path):
    import base64
    import hashlib

    from matplotlib.image import imread

    out = write_report(make_compare(tmp_path))
    # The page's own script, allowed by its hash, sorts on a click: add a clicker the same way.
    click = ("var t=document.querySelector('table.sortable');"
             "[].find.call(t.tHead.rows[0].cells,function(h){return h.textContent==="
             "'val_accuracy'}).click();document.body.dataset.order=[].map.call("
             "t.tBodies[0].rows,function(r){return r.cells[1].textContent}).join();")
    digest = base64.b64encode(hashlib.sha256(click.encode()).digest()).decode()
    text = out.read_text().replace("script-src ", f"script-src 'sha256-{digest}' ", 1)
    out.write_text(text.replace("</body>", f"<script>{click}</script></body>"))
    shot = tmp_path / "shot.png"
    dom = _chromium(tmp_path, f"--screenshot={shot}", "--dump-dom", "--window-size=1200,900",
                    out.as_uri()).stdout
    assert 'data-order="01-sgd-seed0,02-sgd-seed1,03-momentum-seed0,04-momentum-seed1"' in dom
    pixels = imread(shot)
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 100  # not blank
