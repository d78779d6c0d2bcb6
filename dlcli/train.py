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

from dlcli.config import GRADIENT_STRATEGIES, Config
from dlcli.data import Dataset
from dlcli.metrics import final_metrics, validation_metric, validation_name
from dlcli.models import Model, Params
from dlcli.signals import interrupt_message
from dlcli.strategies import STRATEGIES, Step


@dataclass(frozen=True)
class Record:
    """One iteration as the listeners see it."""

    iteration: int
    loss: float
    best_loss: float
    elapsed_s: float
    val_metric: float | None = None  # set on evaluation iterations only; see RunStart
    point: tuple[float, ...] | None = None  # landscapes: the point w after this iteration
    loss_evals: int = 0  # loss evaluations so far: what each way of finding weights has cost


@dataclass(frozen=True)
class RunStart:
    config: Config
    total_iterations: int
    n_train: int
    n_features: int
    val_metric_name: str = "val_accuracy"  # or val_r2 for regression, neg_loss for landscapes


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
    stopped_early: bool = False
    kept: str = "last"  # which weights params/metrics are: "best" (validation) or "last"
    kept_iteration: int | None = None


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


class _Watch:
    """What the loop watches besides the strategy: divergence, the best validation score
    (and a copy of its weights for ``keep: best``) and early stopping's patience."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.first_loss: float | None = None
        self.best_score = -math.inf
        self.best: tuple[int, Params] | None = None
        self.reference = -math.inf  # the score the patience counts from
        self.waited = 0  # evaluations since the last improvement of more than min_delta

    def hint(self) -> str:
        s = self.cfg.strategy
        return f"; lower strategy.lr (now {s.lr:g})" if s.name in GRADIENT_STRATEGIES else ""

    def divergence(self, iteration: int, loss: float) -> str | None:
        """A one-line hint if the loss is not finite or has blown up, else None."""
        s = self.cfg.strategy
        hint = self.hint()
        if not math.isfinite(loss):
            return f"loss became {loss} at iteration {iteration}{hint}"
        if self.first_loss is None:
            self.first_loss = loss
        factor = s.diverge_factor
        if factor is not None and self.first_loss > 0 and loss > factor * self.first_loss:
            return (f"loss {loss:.4g} at iteration {iteration} is over {factor:g} x the first "
                    f"loss ({self.first_loss:.4g}){hint}")
        return None

    def evaluated(self, iteration: int, score: float | None, params: Params) -> bool:
        """Record a validation score; True when early stopping says stop."""
        if score is None or math.isnan(score):
            return False
        if score > self.best_score:
            self.best_score = score
            if self.cfg.keep == "best":
                self.best = (iteration, {k: v.copy() for k, v in params.items()})
        stopping = self.cfg.early_stopping
        if stopping is None:
            return False
        if score > self.reference + stopping.min_delta:
            self.reference, self.waited = score, 0
        else:
            self.waited += 1
        return self.waited >= stopping.patience


# Overflow is divergence, which the loop detects and reports in result.json (a diverged model's
# metrics are None), not as numpy warnings on the terminal.
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def train(cfg: Config, data: Dataset, model: Model,
          callbacks: Sequence[Callback] = ()) -> Outcome:
    """Run ``cfg.strategy`` for ``cfg.strategy.iterations`` steps; evaluate every ``eval_every``.

    Ctrl-C, a non-finite or blown-up loss (``strategy.diverge_factor``), early stopping or an
    exception inside the strategy end the run early with the matching status; the listeners
    still get ``on_end`` with everything measured so far, for the weights ``keep`` names.
    """
    init_rng, strat_rng = streams(cfg.seed)
    params = model.init_params(data.n_features, data.n_outputs, init_rng)
    total = cfg.strategy.iterations
    for cb in callbacks:
        cb.on_start(RunStart(cfg, total, data.X_train.shape[0], data.n_features,
                             validation_name(data)))

    start = time.perf_counter()
    records: list[Record] = []
    status, error, stopped_early = "completed", None, False
    best_loss = math.inf
    watch = _Watch(cfg)
    last_iteration: int | None = None  # the iteration whose weights `params` holds
    loss_evals = 0
    try:
        steps = STRATEGIES[cfg.strategy.name](model, data, cfg.strategy, params, strat_rng)
        for step in steps:
            params, last_iteration = step.params, step.iteration
            error = watch.divergence(step.iteration, step.loss)
            if error is not None and not math.isfinite(step.loss):
                status = "diverged"
                break
            best_loss = min(best_loss, step.loss)
            score = validation_metric(model, params, data) if _evaluates(step, cfg) else None
            point = tuple(float(v) for v in params["w"]) if data.task == "landscape" else None
            loss_evals += step.evals
            rec = Record(step.iteration, step.loss, best_loss, time.perf_counter() - start,
                         score, point, loss_evals)
            stopped_early = watch.evaluated(step.iteration, score, params)
            records.append(rec)
            for cb in callbacks:
                cb.on_step(rec)
            if error is not None:
                status = "diverged"
                break
            if stopped_early or step.iteration >= total:
                break
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (dlcli.signals)
        status, error = "interrupted", interrupt_message(exc)
    except (ArithmeticError, ValueError, MemoryError, OSError) as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"

    kept_iteration, kept = last_iteration, params
    if watch.best is not None:
        kept_iteration, kept = watch.best
    if status in ("completed", "interrupted") and not _finite(kept):
        # The last update can overflow the weights after a finite loss was measured: what is
        # saved must be what is reported on, and infinite weights are no result.
        status = "diverged"
        error = (f"the weights became not finite (inf or nan) at iteration {kept_iteration}"
                 f"{watch.hint()}")
    final_loss = records[-1].loss if records else None
    metrics = final_metrics(model, kept, data, final_loss, best_loss if records else None)
    outcome = Outcome(
        status=status,
        iterations=len(records),
        wall_time_s=time.perf_counter() - start,
        metrics=metrics,
        params=kept,
        error=error,
        records=records,
        stopped_early=stopped_early,
        kept=cfg.keep,
        kept_iteration=kept_iteration,
    )
    for cb in callbacks:
        cb.on_end(outcome)
    return outcome


def _finite(params: Params) -> bool:
    return all(bool(np.isfinite(w).all()) for w in params.values())


def _evaluates(step: Step, cfg: Config) -> bool:
    return step.iteration % cfg.eval_every == 0 or step.iteration == cfg.strategy.iterations
