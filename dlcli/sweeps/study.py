"""Optuna, behind the ``search`` extra: where a study is kept, its sampler, pruner and direction,
and the listener that reports a trial's validation metric at every evaluation and stops the run
(status ``pruned``) when the pruner says so.

Where the study is kept: a journal file, ``study.journal`` in the compare folder, unless
``--storage`` names another (an RDB URL such as ``sqlite:///s.db`` or ``postgresql://...``, or a
journal file path). The journal is Optuna's recommended storage for several processes on one
machine: each change is one line appended under a file lock, a killed process leaves at most a
half line that readers skip, and it needs no database schema (creating an SQLite study took
1.1 s and each trial 0.12 s here, against 0.016 s per trial for the journal).
"""

from __future__ import annotations

import math
import statistics
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dlcli.errors import UsageError
from dlcli.events import Callback, Record, RunStart, StopRun
from dlcli.sweeps.search import EXTRA, Search

STUDY_FILE = "study.journal"
OWNER, INDEX, RUN = "dlcli_folder", "dlcli_index", "dlcli_run"  # trial user attributes
REDUCTION = 3  # halving and hyperband keep the best third at each rung
_STUDIES: dict[tuple[str, str, str], Any] = {}  # this process's studies: a worker reuses them
_LOCK = threading.Lock()


def optuna() -> Any:
    try:
        import optuna as module
    except ImportError:
        raise UsageError(f"a search asked of Optuna needs it: {EXTRA}") from None
    module.logging.set_verbosity(module.logging.WARNING)  # no "Trial 3 finished" lines
    warnings.filterwarnings("ignore", category=module.exceptions.ExperimentalWarning)
    return module


def storage_url(search: Search, folder: Path) -> str:
    return search.storage or str(folder.resolve() / STUDY_FILE)


def open_storage(url: str) -> Any:
    """An RDB storage for a URL, a journal file for a path; one line (exit 2) if it fails."""
    op = optuna()
    try:
        if "://" in url:
            sqlite = url.startswith("sqlite")
            kwargs = {"connect_args": {"timeout": 60}} if sqlite else {}
            storage = op.storages.RDBStorage(url, engine_kwargs=kwargs)
        else:
            from optuna.storages.journal import JournalFileBackend

            storage = op.storages.JournalStorage(JournalFileBackend(str(Path(url).resolve())))
        storage.get_all_studies()
    except Exception as exc:  # any driver's error: a bad URL, a server down, a folder missing
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UsageError(f"--storage {url}: cannot open it ({reason})") from None
    return storage


def pruner_spec(search: Search, cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pruner as data (workers build the same one): rungs start at the first evaluation."""
    if search.pruner is None:
        return None
    return {"name": search.pruner, "min_resource": int(cfg["eval_every"]),
            "max_resource": int(cfg["strategy"]["iterations"])}


def make_pruner(spec: Mapping[str, Any] | None) -> Any:
    op = optuna()
    if spec is None:
        return op.pruners.NopPruner()
    if spec["name"] == "median":  # below the median of earlier trials at the same iteration
        return op.pruners.MedianPruner(n_startup_trials=5)
    if spec["name"] == "halving":
        return op.pruners.SuccessiveHalvingPruner(min_resource=spec["min_resource"],
                                                  reduction_factor=REDUCTION)
    return op.pruners.HyperbandPruner(min_resource=spec["min_resource"],
                                      max_resource=spec["max_resource"],
                                      reduction_factor=REDUCTION)


def direction(cfg: Mapping[str, Any]) -> tuple[str, str, str]:
    """(the metric a trial is told, "maximize"/"minimize", what the listener reports: "val"
    the validation metric, "neg" minus it (a landscape's f), "loss" the training loss)."""
    from dlcli.metrics import task_of

    task = task_of(str(cfg["data"]["source"]))
    if task == "landscape":
        return "final_loss", "minimize", "neg"
    if cfg["data"].get("num_val") == 0:
        return "final_loss", "minimize", "loss"
    return ("val_accuracy" if task == "classification" else "val_r2"), "maximize", "val"


def load_study(url: str, name: str, pruner: Mapping[str, Any] | None, *,
               create: Search | None = None, direction_: str = "maximize") -> Any:
    """The study, cached in this process; ``create`` (the search) makes it if it is new, with
    the search's sampler and ``direction_``; without, it must exist (a worker's side)."""
    key = (url, name, repr(pruner))
    with _LOCK:
        if key not in _STUDIES:
            op = optuna()
            storage = open_storage(url)
            if create is None:  # a worker only reports: the cheapest sampler
                _STUDIES[key] = op.load_study(study_name=name, storage=storage,
                                              sampler=op.samplers.RandomSampler(),
                                              pruner=make_pruner(pruner))
                return _STUDIES[key]
            if create.sampler == "tpe":  # running trials count as a lie: no twin asks
                sampler = op.samplers.TPESampler(seed=create.seed, constant_liar=True)
            else:  # trials drawn up front: the study only prunes
                sampler = op.samplers.RandomSampler(seed=create.seed)
            _STUDIES[key] = op.create_study(storage=storage, study_name=name, sampler=sampler,
                                            pruner=make_pruner(pruner), direction=direction_,
                                            load_if_exists=True)
        return _STUDIES[key]


def reseed(study: Any, search: Search, salt: str) -> None:
    """A TPE sampler seeded from the search's seed and the trials the study already has (and
    ``salt``, the compare folder, when the study is shared): a fresh search from the same file
    asks the same trials, while a resumed one, or a second machine, does not replay the
    first process's draws (a sampler seeded alike would ask its first trials again)."""
    import zlib

    import numpy as np

    if search.sampler != "tpe":
        return
    done = len(study.get_trials(deepcopy=False))
    seq = np.random.SeedSequence([search.seed, 12, done, zlib.crc32(salt.encode())])
    seed = int(seq.generate_state(1)[0])
    study.sampler = optuna().samplers.TPESampler(seed=seed, constant_liar=True)


def distributions(search: Search) -> dict[str, Any]:
    """The search's distributions as Optuna's (a choice of lists: their JSON text)."""
    d = optuna().distributions
    out: dict[str, Any] = {}
    for key in search.keys:
        dist = search.params[key]
        if dist.kind == "choice":
            out[key] = d.CategoricalDistribution([_encode(c) for c in dist.choices])
        elif dist.kind == "int":
            out[key] = d.IntDistribution(int(dist.low), int(dist.high), log=dist.log,
                                         step=dist.step or 1)
        else:
            out[key] = d.FloatDistribution(dist.low, dist.high, log=dist.kind == "loguniform")
    return out


def decode(search: Search, params: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's params as config values (a choice's JSON text back to its value)."""
    out = {}
    for key in search.keys:
        dist, value = search.params[key], params[key]
        if dist.kind == "choice":
            value = next(c for c in dist.choices if _encode(c) == value)
        out[key] = value
    return out


def _encode(value: Any) -> Any:
    import json

    scalar = value is None or isinstance(value, (bool, int, float, str))
    return value if scalar else json.dumps(value, sort_keys=True)


# --------------------------------------------------------------------------- the worker's side


class TrialListener(Callback):
    """Reports the validation metric to the trial at every evaluation (the step is the
    iteration) and raises ``StopRun("pruned", ...)`` when the pruner says stop. A storage that
    fails never fails the run: it goes on unpruned, and ``note`` says why."""

    def __init__(self, info: Mapping[str, Any]) -> None:
        self.info = dict(info)
        self.note: str | None = None
        self.trial: Any = None
        self.total = 0
        self.every = 1

    def on_start(self, start: RunStart) -> None:
        self.total, self.every = start.total_iterations, start.config.eval_every
        try:
            study = load_study(self.info["storage"], self.info["name"], self.info["pruner"])
            self.trial = optuna().trial.Trial(study, self.info["trial"])
        except Exception as exc:
            self._broken(exc)

    def on_step(self, record: Record) -> None:
        value = self._value(record)
        if self.trial is None or value is None:
            return
        try:
            with warnings.catch_warnings():  # a step reported before a restart: ignored
                warnings.simplefilter("ignore")
                self.trial.report(value, record.iteration)
            prune = record.iteration < self.total and self.trial.should_prune()
        except Exception as exc:
            self._broken(exc)
            return
        if prune:
            raise StopRun("pruned", self._reason(record.iteration, value))

    def _value(self, record: Record) -> float | None:
        mode = self.info["mode"]
        if mode == "loss":
            evaluated = record.iteration % self.every == 0 or record.iteration == self.total
            return record.loss if evaluated and math.isfinite(record.loss) else None
        if record.val_metric is None or not math.isfinite(record.val_metric):
            return None
        return -record.val_metric if mode == "neg" else record.val_metric

    def _reason(self, iteration: int, value: float) -> str:
        """``pruned by halving at iteration 100: val_accuracy 0.21 below 0.25, the bar of the
        best third of the 9 trials there`` (median: the median of the other trials there)."""
        metric = {"val": self.info["metric"], "neg": "f", "loss": "loss"}[self.info["mode"]]
        higher = self.info["mode"] == "val"
        trials = self.trial.study.get_trials(deepcopy=False)
        at = {t.number: t.intermediate_values[iteration] for t in trials
              if iteration in t.intermediate_values}
        at[self.trial.number] = value
        name, side = self.info["pruner"]["name"], "below" if higher else "above"
        head = f"pruned by {name} at iteration {iteration}: {metric} {value:.4g}"
        if name == "hyperband":  # the bar is its bracket's, which Optuna keeps to itself
            return f"{head}, not in the best third of its bracket's trials there"
        if name == "median":  # over the completed trials, as the pruner counts them
            done = {t.number for t in trials if t.state.name == "COMPLETE"}
            others = [v for n, v in at.items() if n in done]
            if not others:
                return head
            bar, what = statistics.median(others), f"the median of the {len(others)} " \
                                                   f"completed trial{'s' * (len(others) > 1)}"
        else:  # successive halving keeps the best 1/REDUCTION of a rung (at least one)
            ranked = sorted(at.values(), reverse=higher)
            bar = ranked[max(len(ranked) // REDUCTION - 1, 0)]
            what = f"the bar of the best third of the {len(ranked)} trials"
        return f"{head} {side} {bar:.4g}, {what} there"

    def _broken(self, exc: Exception) -> None:
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        self.note = f"the study could not be reached, the run went on unpruned: {text}"
        self.trial = None
