"""The training loop: drives a strategy, decides when to evaluate and stop, emits events.

The loop never prints and never touches files: whatever a person or a file sees is a
:class:`Callback` listening to ``on_start`` / ``on_step`` / ``on_end``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dlcli.config import Config
from dlcli.data import Dataset
from dlcli.metrics import final_metrics, validation_metric, validation_name
from dlcli.models import Model, Params
from dlcli.strategies import STRATEGIES

# A run ends in one of these; only "completed" is a success.
STATUSES = ("completed", "failed", "diverged", "interrupted")


@dataclass(frozen=True)
class Record:
    """One iteration as the listeners see it."""

    iteration: int
    loss: float
    best_loss: float
    elapsed_s: float
    val_metric: float | None = None  # set on evaluation iterations only; see RunStart


@dataclass(frozen=True)
class RunStart:
    config: Config
    total_iterations: int
    n_train: int
    n_features: int
    val_metric_name: str = "val_accuracy"  # or val_r2 for regression


@dataclass
class Outcome:
    """What the loop hands back: the status, the kept weights and their final metrics."""

    status: str
    iterations: int
    wall_time_s: float
    metrics: dict[str, float | None]
    params: Params
    error: str | None = None
    records: list[Record] = field(default_factory=list, repr=False)


class Callback:
    """A listener; override what you need. Methods must not raise for ordinary events."""

    def on_start(self, start: RunStart) -> None: ...
    def on_step(self, record: Record) -> None: ...
    def on_end(self, outcome: Outcome) -> None: ...


def streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(init, strategy) generators from one seed; the data has a stream of its own.

    Every variant with the same seed therefore starts from the same weights.
    """
    init, strat = np.random.SeedSequence([seed, 2]).spawn(2)
    return np.random.default_rng(init), np.random.default_rng(strat)


def train(cfg: Config, data: Dataset, model: Model,
          callbacks: Sequence[Callback] = ()) -> Outcome:
    """Run ``cfg.strategy`` for ``cfg.strategy.iterations`` steps; evaluate every ``eval_every``.

    Ctrl-C, a non-finite loss or an exception inside the strategy end the run early with the
    matching status; the listeners still get ``on_end`` with everything measured so far.
    """
    init_rng, strat_rng = streams(cfg.seed)
    params = model.init_params(data.n_features, data.n_outputs, init_rng)
    total = cfg.strategy.iterations
    for cb in callbacks:
        cb.on_start(RunStart(cfg, total, data.X_train.shape[0], data.n_features,
                             validation_name(data)))

    start = time.perf_counter()
    records: list[Record] = []
    status, error = "completed", None
    best_loss = math.inf
    try:
        steps = STRATEGIES[cfg.strategy.name](model, data, cfg.strategy, params, strat_rng)
        for step in steps:
            params = step.params
            if not math.isfinite(step.loss):
                status = "diverged"
                error = (f"loss became {step.loss} at iteration {step.iteration}; "
                         f"lower strategy.lr (now {cfg.strategy.lr:g})")
                break
            best_loss = min(best_loss, step.loss)
            val = None
            if step.iteration % cfg.eval_every == 0 or step.iteration == total:
                val = validation_metric(model, params, data)
            rec = Record(step.iteration, step.loss, best_loss, time.perf_counter() - start, val)
            records.append(rec)
            for cb in callbacks:
                cb.on_step(rec)
            if step.iteration >= total:
                break
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by the user (Ctrl-C)"
    except (ArithmeticError, ValueError, MemoryError) as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"

    final_loss = records[-1].loss if records else None
    outcome = Outcome(
        status=status,
        iterations=len(records),
        wall_time_s=time.perf_counter() - start,
        metrics=final_metrics(model, params, data, final_loss,
                              best_loss if records else None),
        params=params,
        error=error,
        records=records,
    )
    for cb in callbacks:
        cb.on_end(outcome)
    return outcome
