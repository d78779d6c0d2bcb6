"""``make bench``: dlcli against PyTorch CPU, scikit-learn and the lecture's loops, on the real
CIFAR-10 shapes; writes docs/benchmarks.md (machine, versions, command, medians, ratios, and
each target with whether it is met).

    python -m benchmarks.run                      # everything (~10 min on 2 cores)
    python -m benchmarks.run --quick --out /tmp/b.md   # tiny sizes, one repeat: a smoke test
    python -m benchmarks.run --only mlp --only help     # some rows
    python -m benchmarks.run --list
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks import numerical_gradient as numgrad
from benchmarks import processes, search, training
from benchmarks.harness import FULL, QUICK, Context, Row, dlcli_policy
from benchmarks.report import render

ROOT = Path(__file__).resolve().parents[1]
Bench = Callable[[Context], list[Row]]
FAILED = "rows that failed"

BENCHES: dict[str, tuple[Bench, str]] = {
    "peak": (search.peaks, "the machine: np.matmul GFLOP/s, memory copy GB/s"),
    "softmax": (lambda c: training.linear(c, "softmax"),
                "softmax SGD+momentum vs PyTorch and SGDClassifier(log_loss)"),
    "svm": (lambda c: training.linear(c, "svm"),
            "svm SGD+momentum vs PyTorch and SGDClassifier(hinge)"),
    "mlp": (training.mlp, "MLP 3073-512-10 vs PyTorch, MLPClassifier, np.matmul alone"),
    "random-search": (search.random_search, "1,000 candidates vs the lecture's loop"),
    "random-local-search": (search.local_search, "steps/s and GB/s"),
    "numgrad": (numgrad.rows, "full numerical gradient vs the per-coordinate loop"),
    "memory": (processes.memory, "peak RSS of a full-CIFAR dlcli train, uncached and cached"),
    "help": (processes.help_time, "dlcli --help wall time"),
    "quickstart": (processes.quickstart,
                   "dlcli train configs/quickstart.yaml end to end; checkpoint overhead"),
}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="rows: " + ", ".join(BENCHES))
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes and one repeat (a smoke test; targets not judged)")
    ap.add_argument("--only", action="append", metavar="NAME", choices=list(BENCHES),
                    help="run only this row group (repeatable; see --list)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md",
                    help="the markdown file to write (default: docs/benchmarks.md)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="rounds of each interleaved comparison (default 5; 1 with --quick)")
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    ap.add_argument("--list", action="store_true", help="list the row groups and exit")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.list:
        for name, (_, what) in BENCHES.items():
            print(f"{name:22} {what}")
        return 0
    from benchmarks.machine import blas_pools, busy, describe, load_average

    start = time.perf_counter()
    facts = describe()
    repeats = args.repeats or (1 if args.quick else 5)
    names = args.only or list(BENCHES)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="dlcli-bench-") as tmp:
        ctx = Context(QUICK if args.quick else FULL, repeats, Path(tmp),
                      use_torch=not args.no_torch)
        for name in names:
            found = measure(ctx, name)
            for row in found:
                print(f"{row.what}: {row.dlcli} | {row.peer} | {row.ratio}", flush=True)
            rows += found
    facts["BLAS and OpenMP pools (after the run)"] = "; ".join(blas_pools())
    facts["load average at the end"] = load_average()
    if not args.quick and busy(facts):
        ctx.notes.append("The machine was busy (load average above 0.5 per core at the start "
                         "or the end): timings are noisy, and PyTorch's OpenMP threads suffer "
                         "most from a busy machine; rerun on a quiet one.")
    facts["dlcli train's default threads"] = dlcli_policy()
    command = "python -m benchmarks.run" + "".join(
        f" {shlex.quote(a)}" for a in (sys.argv[1:] if argv is None else argv))
    text = render(rows, facts, command, time.perf_counter() - start, ctx.notes, args.quick,
                  repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    ctx.log(f"wrote {args.out} ({len(rows)} rows, {(time.perf_counter() - start) / 60:.1f} min)")
    return 1 if any(r.section == FAILED for r in rows) else 0


def measure(ctx: Context, name: str) -> list[Row]:
    """One row group; a failure becomes a row (and a traceback on stderr), the rest goes on."""
    ctx.log(f"== {name}")
    try:
        return BENCHES[name][0](ctx)
    except Exception as exc:  # dlcli may be mid-change: report it, measure the rest
        traceback.print_exc()
        return [Row(FAILED, name, f"failed: {type(exc).__name__}: {exc}")]


if __name__ == "__main__":
    sys.exit(main())
