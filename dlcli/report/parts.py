"""The pieces of ``report.html`` that are not about layout: its CSS and sorting script (both
inline, allowed by hash in the page's Content-Security-Policy) and the text a page shows of a
result.json and a config. Nothing here is escaped yet: :mod:`dlcli.report.page` escapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_CONFIG = 200_000  # characters of a config shown; a longer one is cut with a note

# Fonts: the reader's own (no web fonts: the page fetches nothing).
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem auto;
max-width:1200px;padding:0 1rem;color:#1b1f24;background:#fff;line-height:1.4}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.25rem;margin-top:2rem;
border-bottom:1px solid #d0d7de}h3{font-size:1.05rem;margin-top:1.6rem}
.path{color:#57606a;font-size:.85rem;margin:.1rem 0 .6rem;word-break:break-all}
.chosen-line{font-weight:600}.note{color:#6e5900;background:#fff8c5;padding:.2rem .5rem}
.error{color:#a40e26;background:#ffebe9;padding:.2rem .5rem;white-space:pre-wrap}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border-bottom:1px solid #d0d7de;padding:.25rem .6rem;text-align:left}
td[data-v]{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer;user-select:none;background:#f6f8fa;white-space:nowrap}
table.sortable th[data-dir=asc]::after{content:" \\25B2"}
table.sortable th[data-dir=desc]::after{content:" \\25BC"}
tr.chosen td{background:#dafbe1;font-weight:600}
table.facts th{display:none}table.facts td:first-child{color:#57606a}
.status{font-size:.8rem;font-weight:400;padding:.05rem .4rem;border-radius:.6rem;
background:#eaeef2}.s-completed{background:#dafbe1}.s-failed,.s-diverged{background:#ffebe9}
figure{display:inline-block;margin:.4rem .8rem .4rem 0;vertical-align:top}
figure img{max-width:100%;height:auto;border:1px solid #d0d7de}
figcaption{font-size:.8rem;color:#57606a}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;font-size:.8rem;max-height:30rem}
section.variant{border-top:1px solid #d0d7de;margin-top:1.2rem}
"""

# Click a column head: sort its table's rows by that column (numbers by data-v, missing
# values last whichever the direction); click again to reverse.
SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    var dir = th.dataset.dir === "asc" ? "desc" : "asc";
    table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = dir;
    function key(tr) {
      var c = tr.cells[col];
      if (!c) { return null; }
      if (c.dataset.v !== undefined) { return parseFloat(c.dataset.v); }
      var t = c.textContent.trim();
      return t === "" || t === "-" ? null : t;
    }
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === null || y === null) { return (x === null) - (y === null); }
      var s = typeof x === "number" && typeof y === "number" ? x - y
        : String(x).localeCompare(String(y), undefined, {numeric: true});
      return dir === "asc" ? s : -s;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

FACTS = ("iterations", "seed", "wall_time_s", "stopped_early", "kept", "rows_dropped", "tags",
         "note", "started_at", "ended_at", "command")


def metric_rows(metrics: Any) -> list[tuple[str, str, Any]]:
    """(name, shown, sort value) of a result's metrics, as the terminal tables format them."""
    from dlcli.sweeps.summary import fmt

    if not isinstance(metrics, Mapping):
        return []
    return [(str(k), fmt(str(k), v), v) for k, v in metrics.items()]


def result_facts(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, text) of what a result.json says besides its metrics."""
    from dlcli.sweeps.summary import fmt

    out = []
    for key in FACTS:
        value = result.get(key)
        if value is None or value == [] or value == "":
            continue
        if key == "kept" and isinstance(value, Mapping):
            value = f"{value.get('weights')} (iteration {value.get('iteration')})"
        elif key == "wall_time_s":
            value = fmt(key, value)
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        out.append((key, str(value)))
    resumed = result.get("resumed_from")
    if isinstance(resumed, list) and resumed:
        out.append(("resumed", f"{len(resumed)} segments"))
    return out


def yaml_text(config: Any) -> str:
    """A parsed config as YAML text (cut at MAX_CONFIG characters), or '' without one."""
    import yaml

    if not isinstance(config, Mapping):
        return ""
    try:
        text = yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        return ""
    if len(text) > MAX_CONFIG:
        text = text[:MAX_CONFIG] + f"\n... (cut: {len(text):,} characters in all)\n"
    return text
