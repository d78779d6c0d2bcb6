"""docs/benchmarks.md as the harness writes it: machine, versions, command, one table of every
row with its target and whether it is met, then how each row was measured."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness import Row

NOTES = Path(__file__).with_name("notes.md")  # hand-written; copied into every report
BY_HAND = Path(__file__).with_name("by_hand.md")  # the benchmarks run by hand: their results

HOW = """\
## How it measures

* **dlcli's own code.** The training rows drive `dlcli.train.train` — the loop `dlcli train`
  runs — with a config built by `dlcli.config.validate` (no evaluation before the last
  iteration) and a callback stamping each step; the first steps (warm-up) and the last (it
  evaluates) are not timed. dlcli runs under the thread setting `dlcli train` uses when not
  told (its default), or `--threads 1`; the table names the threads in force.
* **Peers.** PyTorch CPU: `nn.Linear(3073, 10, bias=False)` + `CrossEntropyLoss` /
  `MultiMarginLoss`, or `nn.Sequential(Linear, ReLU, Linear)`, `torch.optim.SGD(momentum=0.9,
  weight_decay=2·reg)` on the weights, random minibatches gathered from the same float32
  matrix (`torch.from_numpy`, no copy), loss read every step like dlcli's; default threads =
  `torch.get_num_threads()` at import, one thread = `torch.set_num_threads(1)`.
  scikit-learn: `MLPClassifier(solver="sgd", momentum=0.9, nesterovs_momentum=False,
  hidden_layer_sizes=(512,), batch_size=256).partial_fit` (one epoch over random rows) and
  `SGDClassifier(loss=hinge|log_loss).partial_fit` (one sample per update, one-vs-rest,
  float64).
* **Interleaving.** The contenders of one comparison run in turns (A B, B A, A B, ...), with a
  short pause between blocks, so that a noisy machine slows both alike; every ratio is taken
  from the medians of the same run.
* **The lecture's loops** (random search one candidate at a time, the per-coordinate
  numerical gradient) are timed on a few candidates / coordinates and extrapolated, as said
  in their rows.
* **Peak memory** is the maximum resident set size of one `dlcli train` process, read by a
  small wrapper process (`resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`; a child forked
  straight from the large benchmark process would count its pages), against the float32
  training matrix (N × 3073 × 4 bytes).
"""

def verdict(row: Row, quick: bool) -> str:
    if row.target is None:
        return "—"
    if quick:
        return "(quick run: not judged)"
    met = row.met
    return "**yes**" if met else ("no" if met is not None else "not measured")


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: Sequence[Row], quick: bool, start: int) -> list[str]:
    out = ["| # | what | dlcli | compared with | ratio | target | met |",
           "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows, start):
        target = r.target.text if r.target is not None else "—"
        out.append(f"| {i} | {cell(r.what)} | {cell(r.dlcli)} | {cell(r.peer)} | "
                   f"{cell(r.ratio)} | {cell(target)} | {verdict(r, quick)} |")
    return out


def summary(rows: Sequence[Row]) -> str:
    """``Targets met: 9 of 14; not met: #3, #7.``"""
    judged = [(i, r.met) for i, r in enumerate(rows, 1) if r.target is not None]
    missed = [f"#{i}" for i, met in judged if met is False]
    unknown = [f"#{i}" for i, met in judged if met is None]
    text = f"Targets met: {sum(1 for _, met in judged if met)} of {len(judged)}"
    text += f"; not met: {', '.join(missed)}" if missed else ""
    text += f"; not measured: {', '.join(unknown)}" if unknown else ""
    return f"**{text}.**"


def render(rows: Sequence[Row], facts: dict[str, str], command: str, seconds: float,
           notes: Sequence[str], quick: bool, repeats: int) -> str:
    """The whole markdown file."""
    lines = ["# Benchmarks", "",
             "Written by `make bench` (`python -m benchmarks.run`); rerun it rather than "
             "editing by hand. Timings are medians over repeats on the machine below; "
             "ratios are dlcli ÷ the peer, measured in the same run.", ""]
    if quick:
        lines += ["**A `--quick` run: tiny sizes and one repeat, to try the harness. These "
                  "numbers say nothing about the targets.**", ""]
    lines += [f"Command: `{command}` — {len(rows)} rows in {seconds / 60:.1f} min, "
              f"{repeats} repeat(s) per interleaved comparison.", "", "## Machine", ""]
    lines += [f"* {k}: {v}" for k, v in facts.items()]
    lines += ["", "## Results", ""]
    sections: list[str] = []
    for r in rows:
        if r.section not in sections:
            sections.append(r.section)
    ordered = [r for section in sections for r in rows if r.section == section]
    if not quick:
        lines += [summary(ordered), ""]
    for section in sections:
        part = [r for r in ordered if r.section == section]
        lines += [f"### {section}", "", *table(part, quick, ordered.index(part[0]) + 1), ""]
        lines += [f"* {r.what}: {r.note}" for r in part if r.note]
        lines += [""] if any(r.note for r in part) else []
    if notes:
        lines += ["## Notes from this run", "", *[f"* {n}" for n in notes], ""]
    if NOTES.exists():
        lines += [NOTES.read_text().strip(), ""]
    lines += [HOW]
    if BY_HAND.exists():
        lines += [BY_HAND.read_text().strip(), ""]
    return "\n".join(lines).rstrip() + "\n"
