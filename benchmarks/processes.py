"""Rows measured on whole `dlcli` processes: peak memory of a full-CIFAR run, `dlcli --help`,
`dlcli train configs/quickstart.yaml` end to end, and what its checkpoints cost.

Each process is timed from spawn to exit, and its peak memory (maximum resident set size) read
by a small wrapper process with ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.datasets import official_folder
from benchmarks.harness import Context, Row, Target, interleave, median, spread

ROOT = Path(__file__).resolve().parents[1]
D = 3073  # features per image row: 3072 pixels and the bias column


@dataclass
class Measured:
    seconds: float
    max_rss: int  # bytes
    returncode: int
    stderr: str


# Runs the command and reports its wall time and peak RSS. Why a small process in between: a
# child forked from this (large) process starts with our pages and Linux counts them in its
# ru_maxrss; a child of this small wrapper starts with the wrapper's few MB.
_WRAPPER = """\
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
seconds = time.perf_counter() - t
kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "maxrss": kib * (1 if sys.platform == "darwin" else 1024),
                  "rc": rc}))
"""


def dlcli_command() -> list[str]:
    """The `dlcli` console script next to this Python (as users run it), else ``-m dlcli``."""
    script = Path(sys.executable).with_name("dlcli")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dlcli"]


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run ``cmd`` in the repository: its wall time, peak RSS (``resource.getrusage(
    RUSAGE_CHILDREN).ru_maxrss`` in a wrapper process), exit code and stderr's last lines."""
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], cwd=ROOT, text=True,
                          capture_output=True, env={**os.environ, **(env or {})})
    try:
        facts = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"measuring {cmd[:3]} failed: {proc.stderr.strip()[-300:]}"
                           ) from None
    tail = " / ".join(proc.stderr.strip().splitlines()[-3:])
    return Measured(facts["seconds"], facts["maxrss"], facts["rc"], tail)


def _checked(m: Measured, what: str) -> Measured:
    if m.returncode != 0:
        raise RuntimeError(f"{what} exited {m.returncode}: {m.stderr}")
    return m


def _wall(cmd: list[str], what: str) -> Callable[[], float]:
    return lambda: _checked(run_measured(cmd), what).seconds


def memory(ctx: Context) -> list[Row]:
    """configs/cifar10-sgd.yaml on the official-format stand-in (5 x per_batch training images)
    for a few iterations: first with an empty decoded cache, then with it filled."""
    s = ctx.sizes
    ctx.log(f"memory: the official-format folder ({s.cifar_per_batch:,} images per batch)")
    folder = official_folder(s.cifar_per_batch)
    n_train = 49_000 if not s.quick else 4 * s.cifar_per_batch
    sizes = [] if not s.quick else [f"data.num_train={n_train}", "data.num_val=20",
                                    "data.num_test=20", "strategy.batch_size=50"]
    sets = [f"data.path={folder}", f"strategy.iterations={s.train_iterations}", *sizes]
    cmd = [*dlcli_command(), "train", "configs/cifar10-sgd.yaml", "--out",
           str(ctx.tmp / "runs"), "-q", *[w for x in sets for w in ("--set", x)]]
    cache = ctx.tmp / "decoded-cache"
    cache.mkdir()
    matrix = n_train * D * 4
    rows = []
    for label, bound, text in (("first run: uncached load of the python batches", 2.0, "< 2×"),
                               ("cached run (the decoded cache filled)", 1.5, "≤ 1.5×")):
        ctx.log(f"memory: {label}")
        m = _checked(run_measured(cmd, {"DLCLI_CACHE_DIR": str(cache)}), "dlcli train")
        ratio = m.max_rss / matrix
        rows.append(Row(
            "memory", f"peak RSS of `dlcli train` (cifar10-sgd settings, {s.train_iterations} "
            f"iterations, {n_train:,} training rows): {label}",
            f"{m.max_rss / 1e6:,.0f} MB ({m.seconds:.1f} s)",
            f"float32 training matrix {matrix / 1e6:,.0f} MB", f"{ratio:.2f}×",
            Target("<" if bound == 2.0 else "<=", bound, f"{text} the matrix"), ratio))
    return rows


def help_time(ctx: Context) -> list[Row]:
    n = ctx.sizes.cli_repeats
    ctx.log(f"dlcli --help × {n} (after one untimed run)")
    cmd = [*dlcli_command(), "--help"]
    _checked(run_measured(cmd), "dlcli --help")  # warm-up: the file cache, not the import
    times = [_checked(run_measured(cmd), "dlcli --help").seconds for _ in range(n)]
    return [Row("command line", f"`dlcli --help` wall time (median of {n} after one untimed "
                "run, subprocess)", f"{median(times):.3f} s",
                target=Target("<", 0.2, "< 0.2 s"), value=median(times),
                note=f"seconds: {spread(times)}")]


# Runs `dlcli train ...` in this process with the checkpoint work timed: ``Checkpoints.due`` (is
# one due?), ``_snapshot`` (the state gathered) and ``Checkpoints.emit`` (the file written, the
# first import of dlcli.checkpoint included); writes the seconds and the count to argv[1].
_TIMED_TRAIN = """\
import json, sys, time
from dlcli import cli, train, watch
spent = {"seconds": 0.0, "written": 0}
def timed(fn, count=False):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent["seconds"] += time.perf_counter() - t
            spent["written"] += count
    return wrapper
watch.Checkpoints.due = timed(watch.Checkpoints.due)
watch.Checkpoints.emit = timed(watch.Checkpoints.emit, count=True)
train._snapshot = timed(train._snapshot)
facts, sys.argv = sys.argv[1], ["dlcli", *sys.argv[2:]]
try:
    cli.main()
except SystemExit as exc:
    if exc.code:
        raise
with open(facts, "w") as fh:
    json.dump(spent, fh)
"""


def quickstart(ctx: Context) -> list[Row]:
    """The quickstart end to end (after one untimed run), with its checkpoints (the default)
    and without (``--set checkpoint_every=0``), interleaved; the time its checkpoints take,
    timed inside the process; and a 1-iteration run (time to the first iteration)."""
    args = ["train", "configs/quickstart.yaml", "--out", str(ctx.tmp / "runs"), "-q"]
    if ctx.sizes.quick:
        args += ["--set", "strategy.iterations=20", "--set", "data.num_train=300"]
    base = [*dlcli_command(), *args]
    variants = {"with checkpoints": base, "checkpoint_every=0": [*base, "--set",
                                                                 "checkpoint_every=0"],
                "1 iteration": [*base, "--set", "strategy.iterations=1"]}
    n = ctx.sizes.quickstart_repeats
    ctx.log(f"quickstart: 1 untimed + {n} × {', '.join(variants)}; {n} × checkpoints timed")
    _checked(run_measured(base), "dlcli train")
    runs = interleave({k: _wall(c, k) for k, c in variants.items()}, n, pause=0.0)
    full, bare, first = (median(runs[k]) for k in variants)
    shares, written = [], 0
    for i in range(n):
        facts = ctx.tmp / f"checkpoints-{i}.json"
        m = _checked(run_measured([sys.executable, "-c", _TIMED_TRAIN, str(facts), *args]),
                     "dlcli train (checkpoints timed)")
        spent = json.loads(facts.read_text())
        shares.append(spent["seconds"] / m.seconds)
        written = spent["written"]
    share = median(shares)
    note = "; ".join(f"{k}: {spread(v)} s" for k, v in runs.items())
    return [
        Row("command line", f"`dlcli train configs/quickstart.yaml` end to end (median of {n} "
            "after one untimed run)", f"{full:.2f} s", target=Target("<=", 2.5, "≤ 2.5 s"),
            value=full, note=note),
        Row("command line", "checkpoint overhead: the time the quickstart spends on its "
            "checkpoints (deciding, gathering the state, writing checkpoint.npz), timed inside "
            "the process, over the process's wall time", f"{share:.2%} of the run "
            f"({written} written)", f"with vs without (`--set checkpoint_every=0`), whole "
            f"processes: {full:.2f} s vs {bare:.2f} s ({(full - bare) / full:+.1%}; their "
            "spread is below)", f"{share:.2%}",
            Target("<", 0.02, "< 2% of the run's wall time"), share,
            note=f"checkpoint share of the wall time over {n} runs: "
                 f"{spread([100 * s for s in shares])} %"),
        Row("command line", "time to the first iteration: the quickstart with "
            "`--set strategy.iterations=1`, end to end", f"{first:.2f} s"),
    ]
