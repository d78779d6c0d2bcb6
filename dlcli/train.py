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
from dataclasses import replace

import numpy as np

from dlcli.config import Config
from dlcli.data import Dataset
from dlcli.events import Callback, Outcome, Record, RunStart, Snapshot, StopRun
from dlcli.metrics import final_metrics, split_metrics, validation_metric, validation_name
from dlcli.models import Model, Params
from dlcli.runtime import signals
from dlcli.strategies import STRATEGIES, Step, held_params
from dlcli.watch import Checkpoints, Watch, hint

__all__ = ["Callback", "Outcome", "Record", "RunStart", "Snapshot", "StopRun", "Watch",
           "streams", "train"]  # the loop's events are named here too, as they always were

def streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(init, strategy) generators from one seed; the data has a stream of its own.

    Every variant with the same seed therefore starts from the same weights.
    """
    init, strat = np.random.SeedSequence([seed, 2]).spawn(2)
    return np.random.default_rng(init), np.random.default_rng(strat)


def train_rows(data: Dataset, cfg: Config) -> Dataset:
    """The training rows the training metric is measured on: ``eval_train_rows`` of them,
    drawn once from the seed (a stream of their own), or all when there are fewer."""
    n = data.X_train.shape[0]
    if data.task == "landscape" or cfg.eval_train_rows >= n:
        return data
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 4]))
    idx = np.sort(rng.choice(n, size=cfg.eval_train_rows, replace=False))
    return replace(data, X_train=data.X_train[idx], y_train=data.y_train[idx])


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
    checkpoints = Checkpoints(cfg.checkpoint_every)
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
