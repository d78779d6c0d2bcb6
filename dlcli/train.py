"""The training loop: drives a strategy, decides when to evaluate, checkpoint and stop; emits
events.

The loop never prints and never touches files: whatever a person or a file sees is a
:class:`Callback` listening to ``on_start`` / ``on_step`` / ``on_checkpoint`` / ``on_end``.
Everything needed to continue a run is data, in a :class:`Snapshot`: the strategy's state, the
random generator's state and the loop's :class:`Watch`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from dlcli.config import GRADIENT_STRATEGIES, Config
from dlcli.data import Dataset
from dlcli.metrics import final_metrics, split_metrics, validation_metric, validation_name
from dlcli.models import Model, Params
from dlcli.runtime import signals
from dlcli.strategies import STRATEGIES, Step, held_params

AUTO_EVERY_S = 60.0  # automatic checkpoints: at least this often (seconds of wall time) ...
AUTO_OVERHEAD = 0.02  # ... and at evaluations, as long as writing them costs under 2%


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
    train_metric: float | None = None  # evaluations: on eval_train_rows training rows


@dataclass(frozen=True)
class RunStart:
    config: Config
    total_iterations: int
    n_train: int
    n_features: int
    val_metric_name: str = "val_accuracy"  # or val_r2 for regression, neg_loss for landscapes
    train_metric_name: str | None = "train_accuracy"  # train_r2; None for landscapes
    resumed_at: int = 0  # the iteration a resumed run continues after (0: a fresh run)


@dataclass
class Watch:
    """What the loop watches besides the strategy, named as the lecture and Keras name it:
    the first loss (divergence), the lowest loss, the best validation score and its weights
    (``keep: best``), early stopping's patience, the loss evaluations and the time so far."""

    first_loss: float | None = None
    best_loss: float = math.inf
    best_score: float = -math.inf
    best_iteration: int | None = None
    best_params: Params | None = None  # keep: best only
    reference: float = -math.inf  # the score early stopping's patience counts from
    waited: int = 0  # evaluations since the last improvement of more than min_delta
    loss_evals: int = 0
    elapsed_s: float = 0.0  # wall time of the segments before this one

    def divergence(self, cfg: Config, iteration: int, loss: float) -> str | None:
        """A one-line hint if the loss is not finite or has blown up, else None."""
        if not math.isfinite(loss):
            return f"loss became {loss} at iteration {iteration}{hint(cfg)}"
        if self.first_loss is None:
            self.first_loss = loss
        factor = cfg.strategy.diverge_factor
        if factor is not None and self.first_loss > 0 and loss > factor * self.first_loss:
            return (f"loss {loss:.4g} at iteration {iteration} is over {factor:g} x the first "
                    f"loss ({self.first_loss:.4g}){hint(cfg)}")
        return None

    def evaluated(self, cfg: Config, iteration: int, score: float | None,
                  params: Params) -> bool:
        """Record a validation score; True when early stopping says stop."""
        if score is None or math.isnan(score):
            return False
        if score > self.best_score:
            self.best_score, self.best_iteration = score, iteration
            if cfg.keep == "best":
                self.best_params = {k: v.copy() for k, v in params.items()}
        stopping = cfg.early_stopping
        if stopping is None:
            return False
        if score > self.reference + stopping.min_delta:
            self.reference, self.waited = score, 0
        else:
            self.waited += 1
        return self.waited >= stopping.patience


@dataclass
class Snapshot:
    """Everything needed to continue a run: the strategy's state (its dataclass), the random
    generator's ``bit_generator.state`` and the loop's watch, after ``iteration``."""

    strategy: str
    iteration: int
    state: Any
    rng: dict[str, Any]
    watch: Watch


@dataclass
class Outcome:
    """What the loop hands back: the status, the kept weights and their final metrics."""

    status: str
    iterations: int  # the last iteration done (of all segments)
    wall_time_s: float
    metrics: dict[str, float | None]
    params: Params
    error: str | None = None
    records: list[Record] = field(default_factory=list, repr=False)  # this segment's
    stopped_early: bool = False
    kept: str = "last"  # which weights params/metrics are: "best" (validation) or "last"
    kept_iteration: int | None = None
    snapshot: Snapshot | None = field(default=None, repr=False)  # the last one taken


class Callback:
    """A listener; override what you need. Methods must not raise for ordinary events."""

    def on_start(self, start: RunStart) -> None: ...
    def on_step(self, record: Record) -> None: ...
    def on_checkpoint(self, snapshot: Snapshot) -> None: ...
    def on_end(self, outcome: Outcome) -> None: ...


class StopRun(Exception):  # noqa: N818 - a request, not an error
    """Raised by a callback's ``on_step`` to end the run early with ``status`` (e.g. a pruner
    of a hyper-parameter search: ``pruned``); everything so far is kept."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(init, strategy) generators from one seed; the data has a stream of its own.

    Every variant with the same seed therefore starts from the same weights.
    """
    init, strat = np.random.SeedSequence([seed, 2]).spawn(2)
    return np.random.default_rng(init), np.random.default_rng(strat)


def hint(cfg: Config) -> str:
    s = cfg.strategy
    return f"; lower strategy.lr (now {s.lr:g})" if s.name in GRADIENT_STRATEGIES else ""


def train_rows(data: Dataset, cfg: Config) -> Dataset:
    """The training rows the training metric is measured on: ``eval_train_rows`` of them,
    drawn once from the seed (a stream of their own), or all when there are fewer."""
    n = data.X_train.shape[0]
    if data.task == "landscape" or cfg.eval_train_rows >= n:
        return data
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 4]))
    idx = np.sort(rng.choice(n, size=cfg.eval_train_rows, replace=False))
    return replace(data, X_train=data.X_train[idx], y_train=data.y_train[idx])


class _Checkpoints:
    """When to emit a snapshot: every ``checkpoint_every`` iterations; automatically (None)
    at an evaluation once the time since the last is 1/AUTO_OVERHEAD times what writing the
    last one cost, and at least every AUTO_EVERY_S seconds; never (0)."""

    def __init__(self, every: int | None) -> None:
        self.every = every
        self.last_at = time.perf_counter()
        self.cost = 0.01  # seconds a checkpoint costs, until one is measured

    def due(self, iteration: int, evaluated: bool) -> bool:
        if self.every is not None:
            return self.every > 0 and iteration % self.every == 0
        since = time.perf_counter() - self.last_at
        return since >= AUTO_EVERY_S or (evaluated and since * AUTO_OVERHEAD >= self.cost)

    def emit(self, snapshot: Snapshot, callbacks: Sequence[Callback]) -> None:
        if self.every == 0:
            return
        t0 = time.perf_counter()
        for cb in callbacks:
            cb.on_checkpoint(snapshot)
        self.last_at = time.perf_counter()
        self.cost = self.last_at - t0


# Overflow is divergence, which the loop detects and reports in result.json (a diverged model's
# metrics are None), not as numpy warnings on the terminal.
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def train(cfg: Config, data: Dataset, model: Model, callbacks: Sequence[Callback] = (), *,
          resume: Snapshot | None = None) -> Outcome:
    """Run ``cfg.strategy`` until ``cfg.strategy.iterations``; evaluate every ``eval_every``.

    Ctrl-C or SIGTERM (after the iteration in progress), a non-finite or blown-up loss
    (``strategy.diverge_factor``), early stopping, a callback's :class:`StopRun` or an
    exception inside the strategy end the run early with the matching status; the listeners
    still get ``on_end`` with everything measured so far, for the weights ``keep`` names.
    ``resume`` continues from a snapshot (same config, same data) to the same bits.
    """
    init_rng, rng = streams(cfg.seed)
    params = model.init_params(data.n_features, data.n_outputs, init_rng)
    watch, state, done = Watch(), None, 0
    if resume is not None:
        rng.bit_generator.state = resume.rng
        watch, state, done = resume.watch, resume.state, resume.iteration
    total = cfg.strategy.iterations
    is_class = data.task == "classification"
    start_event = RunStart(cfg, total, data.X_train.shape[0], data.n_features,
                           validation_name(data),
                           None if data.task == "landscape" else
                           ("train_accuracy" if is_class else "train_r2"), done)
    for cb in callbacks:
        cb.on_start(start_event)
    subset = train_rows(data, cfg)
    checkpoints = _Checkpoints(cfg.checkpoint_every)
    start = time.perf_counter()
    records: list[Record] = []
    status, error, stopped_early = "completed", None, False
    last_iteration: int | None = done or None  # the iteration whose weights `params` holds
    snapshot = resume
    if resume is not None:  # the weights the state holds (numerical-gd's are float64)
        params = {k: v.astype(params[k].dtype) for k, v in held_params(resume.state).items()}
    try:
        with signals.deferred():
            steps = STRATEGIES[cfg.strategy.name](model, data, cfg.strategy, params, rng,
                                                  state=state)
            stopping = cfg.early_stopping
            if resume is not None and stopping is not None and watch.waited >= stopping.patience:
                stopped_early = True  # it had stopped early, and was killed before its end
            for step in (steps if done < total and not stopped_early else ()):
                params, last_iteration = step.params, step.iteration
                loss = _row_loss(step, model, data)
                error = watch.divergence(cfg, step.iteration, loss)
                if error is not None and not math.isfinite(loss):
                    status = "diverged"
                    break
                watch.best_loss = min(watch.best_loss, loss)
                watch.loss_evals += step.evals
                evaluated = _evaluates(step, cfg)
                score = train_score = None
                if evaluated:
                    score = validation_metric(model, params, data)
                    train_score = _train_metric(model, params, subset)
                point = tuple(float(v) for v in params["w"]) if data.task == "landscape" \
                    else None
                rec = Record(step.iteration, loss, watch.best_loss,
                             watch.elapsed_s + time.perf_counter() - start, score, point,
                             watch.loss_evals, train_score)
                stopped_early = watch.evaluated(cfg, step.iteration, score, params)
                records.append(rec)
                try:
                    for cb in callbacks:
                        cb.on_step(rec)
                except StopRun as stop:
                    status, error = stop.status, str(stop)
                if error is not None and status == "completed":
                    status = "diverged"
                if status != "completed":
                    break
                snapshot = None  # the state moved on: the last snapshot is stale
                interrupted = signals.pending()
                finished = stopped_early or step.iteration >= total
                if interrupted is not None or finished or checkpoints.due(step.iteration,
                                                                           evaluated):
                    snapshot = _snapshot(cfg, step, rng, watch, start)
                    checkpoints.emit(snapshot, callbacks)
                if interrupted is not None:
                    status, error = "interrupted", signals.interrupt_message(interrupted)
                    break
                if finished:
                    break
    except KeyboardInterrupt as exc:  # a second Ctrl-C/SIGTERM: mid-iteration, no snapshot
        status, error = "interrupted", signals.interrupt_message(exc)
    except (ArithmeticError, ValueError, MemoryError, OSError) as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    return _end(cfg, data, model, callbacks, watch, params, last_iteration, records,
                status, error, stopped_early, snapshot,
                watch.elapsed_s + time.perf_counter() - start)


def _snapshot(cfg: Config, step: Step, rng: np.random.Generator, watch: Watch,
              start: float) -> Snapshot:
    rng_state = dict(getattr(step.state, "rng_state", None) or rng.bit_generator.state)
    now = replace(watch, elapsed_s=watch.elapsed_s + time.perf_counter() - start)
    return Snapshot(cfg.strategy.name, step.iteration, step.state, rng_state, now)


def _end(cfg: Config, data: Dataset, model: Model, callbacks: Sequence[Callback],
         watch: Watch, params: Params, last_iteration: int | None, records: list[Record],
         status: str, error: str | None, stopped_early: bool, snapshot: Snapshot | None,
         wall: float) -> Outcome:
    """The kept weights, their metrics, and ``on_end`` for every listener."""
    kept_iteration, kept = last_iteration, params
    if watch.best_params is not None:
        kept_iteration, kept = watch.best_iteration, watch.best_params
    if status in ("completed", "interrupted") and not _finite(kept):
        # The last update can overflow the weights after a finite loss was measured: what is
        # saved must be what is reported on, and infinite weights are no result.
        status = "diverged"
        error = (f"the weights became not finite (inf or nan) at iteration {kept_iteration}"
                 f"{hint(cfg)}")
    final_loss = records[-1].loss if records else None
    seen = records or last_iteration
    metrics = final_metrics(model, kept, data, final_loss, watch.best_loss if seen else None)
    outcome = Outcome(status=status, iterations=last_iteration or 0, wall_time_s=wall,
                      metrics=metrics, params=kept, error=error, records=records,
                      stopped_early=stopped_early, kept=cfg.keep,
                      kept_iteration=kept_iteration, snapshot=snapshot)
    for cb in callbacks:
        cb.on_end(outcome)
    return outcome


def _row_loss(step: Step, model: Model, data: Dataset) -> float:
    """The loss a row of metrics.csv shows: what the step measured (before its update: a
    minibatch's for sgd). A landscape's row shows f at its point instead (the point after the
    step, as its x, y and neg_loss are): f costs nothing there, and the row then agrees with
    itself, its best_loss including the final point."""
    if data.task != "landscape":
        return step.loss
    return float(model.loss(step.params, data.X_val, data.y_val))


def _train_metric(model: Model, params: Params, subset: Dataset) -> float | None:
    if subset.task == "landscape":
        return None
    found = split_metrics(model, params, subset, "train")
    return next(iter(found.values()), None) if subset.task == "classification" else \
        found.get("train_r2")


def _finite(params: Params) -> bool:
    return all(bool(np.isfinite(w).all()) for w in params.values())


def _evaluates(step: Step, cfg: Config) -> bool:
    return step.iteration % cfg.eval_every == 0 or step.iteration == cfg.strategy.iterations
