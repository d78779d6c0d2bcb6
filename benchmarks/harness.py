"""The measuring harness of ``make bench``: sizes, rows and targets, interleaved repeats, and
the way dlcli's own training step is driven and timed.

Every measurement is a small function returning a rate; :func:`interleave` runs the contenders
of one comparison in turns (A B, B A, A B, ...) and keeps every rate, so a noisy machine slows
both alike and a ratio is taken within the same run, from medians.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlcli.config import Config, validate
from dlcli.data import Dataset
from dlcli.train import Callback, Record, StopRun, train


@dataclass(frozen=True)
class Sizes:
    """How much work each row does. FULL: the real CIFAR-10 shapes; QUICK: a smoke test."""

    n_train: int = 49_000
    n_val: int = 1_000
    n_test: int = 1_000
    batch: int = 256
    warmup: int = 5  # untimed steps before every timed block
    block_s: float = 1.0  # a timed block of training steps lasts this long ...
    min_steps: int = 5  # ... and has at least this many steps
    max_steps: int = 5_000  # ... and at most this many
    pause_s: float = 0.15  # between two timed blocks: BLAS/OpenMP threads stop spinning
    sklearn_mlp_batches: int = 12  # sklearn MLPClassifier: minibatches per partial_fit
    sgdclassifier_rows: int = 4_000  # SGDClassifier: rows per partial_fit (per-sample SGD)
    candidates: int = 1_000  # random search, as configs/cifar10-random-search.yaml
    lecture_candidates: int = 60  # the one-at-a-time loop: timed on these, extrapolated
    local_steps: int = 30  # random local search: timed steps
    loop_coords: int = 4  # the per-coordinate numerical gradient: timed, extrapolated
    peak_n: int = 2_048  # square float32 matmul for the machine's GFLOP/s
    copy_mb: int = 512  # array copied for the machine's memory bandwidth
    cifar_per_batch: int = 10_000  # images per batch file of the official-format stand-in
    train_iterations: int = 20  # the full-CIFAR `dlcli train` of the memory rows
    cli_repeats: int = 7  # `dlcli --help`
    quickstart_repeats: int = 5  # `dlcli train configs/quickstart.yaml`, each variant
    quick: bool = False


FULL = Sizes()
QUICK = Sizes(n_train=512, n_val=32, n_test=32, warmup=1, block_s=0.0, min_steps=3,
              sklearn_mlp_batches=2, sgdclassifier_rows=256, candidates=12,
              lecture_candidates=6, local_steps=3, loop_coords=2, peak_n=256, copy_mb=8,
              cifar_per_batch=60, train_iterations=3, cli_repeats=1, quickstart_repeats=1,
              pause_s=0.0, quick=True)


@dataclass(frozen=True)
class Target:
    """A bound on one number: ``check(value)`` says whether it is met."""

    op: str  # ">=", "<=", "<"
    bound: float
    text: str  # as the issue writes it: "≥ 1.8× PyTorch"

    def check(self, value: float | None) -> bool | None:
        if value is None or not math.isfinite(value):
            return None
        return {">=": value >= self.bound, "<=": value <= self.bound,
                "<": value < self.bound}[self.op]


@dataclass
class Row:
    """One line of the report: dlcli's number, the peer's, their ratio, the target."""

    section: str
    what: str
    dlcli: str
    peer: str = "—"
    ratio: str = "—"
    target: Target | None = None
    value: float | None = None  # what the target is checked on
    note: str = ""

    @property
    def met(self) -> bool | None:
        return self.target.check(self.value) if self.target is not None else None


@dataclass
class Context:
    """What every row may share: sizes, repeats, folders, the data (loaded once)."""

    sizes: Sizes
    repeats: int
    tmp: Path
    use_torch: bool = True
    cache: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # said once, under the tables

    def log(self, msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]


Rate = Callable[[], float]  # one timed block -> units per second


def interleave(contenders: dict[str, Rate], repeats: int, pause: float
               ) -> dict[str, list[float]]:
    """Every contender once per round, order reversed every other round (A B, B A, ...)."""
    names = list(contenders)
    rates: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            time.sleep(pause)  # OpenBLAS's idle threads spin ~0.1 s before they sleep
            rates[name].append(contenders[name]())
    return rates


def timed_block(step: Callable[[], object], sizes: Sizes) -> tuple[int, float]:
    """``sizes.warmup`` untimed calls of ``step``, then (calls, seconds) of a block as long
    as dlcli's: ``block_s`` seconds, within min_steps..max_steps calls."""
    for _ in range(sizes.warmup):
        step()
    steps, start = 0, time.perf_counter()
    while True:
        step()
        steps += 1
        now = time.perf_counter()
        if steps >= sizes.max_steps or (steps >= sizes.min_steps and
                                        now - start >= sizes.block_s):
            return steps, now - start


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def num(x: float) -> str:
    """``123,456`` for big numbers, three significant digits for small ones."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def spread(values: list[float]) -> str:
    """``median (min–max, n=5)``, for the details under a table."""
    if len(values) < 2:
        return num(median(values))
    return f"{num(median(values))} ({num(min(values))}–{num(max(values))}, n={len(values)})"


# --------------------------------------------------------------------------- dlcli's side


def dlcli_default_threads() -> int:
    """The threads ``dlcli train`` computes on when not told (``--threads``): every core
    since the thread policy of issue 10 (``dlcli.runtime.linalg.CORES``), else one (BLAS pinned)."""
    try:
        from dlcli.runtime import linalg
    except ImportError:
        return 1
    return int(linalg.CORES)


@contextmanager
def dlcli_threads(n: int | None) -> Iterator[None]:
    """The thread setting ``dlcli train --threads n`` runs under (None: its default): the
    runner's own context when it has one (``runner.computing``), else the BLAS pool."""
    from dlcli import runner

    count = dlcli_default_threads() if n is None else n
    computing = getattr(runner, "computing", None)
    if computing is not None:
        with computing(count):
            yield
        return
    from dlcli.runtime.blas import limit_blas

    with limit_blas(count):
        yield


def threads_in_force() -> str:
    """``products on 2 threads, BLAS 1`` as seen from here, now."""
    from threadpoolctl import threadpool_info

    blas = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    pool = f"BLAS {blas[0]}" if blas else "BLAS ?"
    try:
        from dlcli.runtime import linalg
    except ImportError:
        return f"{pool} {plural(blas[0] if blas else 0, 'thread')}"
    return f"products on {plural(linalg.threads(), 'thread')}, {pool}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def dlcli_policy() -> str:
    """What `dlcli train` computes on when not told, as seen inside its thread setting."""
    with dlcli_threads(None):
        return threads_in_force()


class StepClock(Callback):
    """Stamps the time of every ``on_step`` and notes the threads in force at the first. Once
    ``warm`` steps are done, ends the run (``StopRun``) when the timed steps have lasted
    ``budget_s`` and number at least ``least``."""

    def __init__(self, warm: int = 1, budget_s: float = math.inf, least: int = 1) -> None:
        self.stamps: list[float] = []
        self.records: list[Record] = []
        self.threads = ""
        self.warm, self.budget_s, self.least = warm, budget_s, least

    def on_step(self, record: Record) -> None:
        now = time.perf_counter()
        if not self.stamps:
            self.threads = threads_in_force()
        self.stamps.append(now)
        self.records.append(record)
        timed = len(self.stamps) - self.warm
        if timed >= self.least and now - self.stamps[self.warm - 1] >= self.budget_s:
            raise StopRun("timed", "the benchmark's time budget is spent")


def config(raw: dict[str, Any], iterations: int) -> Config:
    """``raw`` with ``strategy.iterations`` set and no evaluation before the end."""
    strategy = {**raw.get("strategy", {}), "iterations": iterations}
    return validate({**raw, "strategy": strategy, "eval_every": iterations + 1})


def dlcli_steps(raw: dict[str, Any], data: Dataset, threads: int | None, sizes: Sizes,
                steps: int | None = None) -> tuple[float, int, StepClock]:
    """(seconds, steps) of a block of ``dlcli.train.train`` steps (the loop `dlcli train`
    runs), after ``sizes.warmup`` untimed ones: ``steps`` of them, or as many as fit in
    ``sizes.block_s`` (within min_steps..max_steps). A run's last step evaluates: not timed."""
    from dlcli.models import build_model

    warm = max(1, sizes.warmup)
    most = steps if steps is not None else sizes.max_steps
    cfg = config(raw, warm + most + 1)
    clock = StepClock(warm, sizes.block_s if steps is None else math.inf,
                      sizes.min_steps if steps is None else most + 1)
    with dlcli_threads(threads):
        outcome = train(cfg, data, build_model(cfg.model, data), [clock])
    if outcome.status not in ("completed", "timed"):
        raise RuntimeError(f"dlcli's run ended early: {outcome.status} {outcome.error or ''}")
    last = len(clock.stamps) - (1 if outcome.status == "completed" else 0)
    return clock.stamps[last - 1] - clock.stamps[warm - 1], last - warm, clock


def with_sizes(raw: dict[str, Any], sizes: Sizes) -> dict[str, Any]:
    """A config section for the built-in CIFAR-shaped source at these sizes."""
    data = {"source": "cifar10-synthetic", "num_train": sizes.n_train,
            "num_val": sizes.n_val, "num_test": sizes.n_test}
    return {**raw, "data": {**data, **raw.get("data", {})}}
