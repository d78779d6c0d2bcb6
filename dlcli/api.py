"""The Python API that scripts (and the CLI) use: load a config, train it, compare many, browse."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlcli import runner
from dlcli.config import Config, load_config
from dlcli.data import Dataset
from dlcli.data.sources import load_dataset
from dlcli.errors import ConfigError
from dlcli.gradcheck import GradcheckReport, check_gradients
from dlcli.models import Model, build_model
from dlcli.numgrad import estimate_seconds, human_seconds
from dlcli.runtime import linalg
from dlcli.sweeps.files import Plan, load_plan
from dlcli.sweeps.summary import Summary
from dlcli.sweeps.tables import check_sort
from dlcli.train import Callback, streams

__all__ = ["load_config", "load_data", "train", "resume_run", "gradcheck", "Config",
           "load_plan", "compare", "resume", "Plan", "Summary"]

Result = dict[str, Any]


def load_data(cfg: Config) -> Dataset:
    """The configured data set, split and preprocessed (raises DataError on bad files)."""
    return load_dataset(cfg.data, cfg.seed)


def build(cfg: Config) -> tuple[Dataset, Model]:
    data = load_data(cfg)
    return data, build_model(cfg.model, data)


def train(cfg: Config, *, out: str | Path = "runs", callbacks: Sequence[Callback] = (),
          command: str | None = None, run_dir: str | Path | None = None,
          threads: int | None = None, extra: dict[str, Any] | None = None,
          mlflow: str | None = None) -> Result:
    """Run one experiment into a fresh run folder under ``out`` (or into ``run_dir``); returns
    its result.json. The folder also gets ``loss.png`` and ``checkpoint.npz``.

    A numerical-gd run estimated to exceed ``strategy.max_seconds`` is refused (ConfigError)
    before the run folder is created. ``threads`` (None: every core) compute the big matrix
    products; the numbers are the same bits for any count (:mod:`dlcli.runtime.linalg`), here, in a
    ``--jobs`` worker or on a Dask worker of this machine. ``extra`` adds keys to result.json.
    ``mlflow``: a tracking URI the finished run folder is also logged to (never fails a run).
    """
    return runner.run(cfg, out=out, callbacks=callbacks, command=command, run_dir=run_dir,
                      threads=threads or linalg.CORES, extra=extra, mlflow=mlflow)


def resume_run(run_dir: str | Path, *, iterations: int | None = None,
               callbacks: Sequence[Callback] = (), command: str | None = None,
               threads: int | None = None, mlflow: str | None = None) -> Result:
    """Continue a run from its checkpoint.npz (to ``iterations`` in all, when given), in its
    own folder; returns the rewritten result.json. See :func:`dlcli.runner.resume`."""
    return runner.resume(run_dir, iterations=iterations, callbacks=callbacks, command=command,
                         threads=threads or linalg.CORES, mlflow=mlflow)


def data_info(cfg: Config) -> dict[str, Any]:
    """What the configured data looks like as tensors: per split shape, dtype and memory, the
    labels or target, the feature names, and (for images) the lecture's views of one row."""
    from dlcli.data.describe import describe

    return describe(load_data(cfg), cfg)


def gradcheck(cfg: Config, *, samples: int = 20, coords: int = 200,
              full: bool = False) -> GradcheckReport:
    """Compare the configured model's analytic gradient with centred differences (float64).

    At the run's initial weights, on ``samples`` random training rows, with step
    ``strategy.h``; ``coords`` random coordinates per tensor, or all of them with ``full``
    (refused, as a ConfigError, when estimated to exceed ``strategy.max_seconds``).
    """
    with runner.computing(linalg.CORES):  # every core; the same numbers for any count
        return _gradcheck(cfg, samples, coords, full)


def _gradcheck(cfg: Config, samples: int, coords: int, full: bool) -> GradcheckReport:
    data, model = build(cfg)
    params = model.init_params(data.n_features, data.n_outputs, streams(cfg.seed)[0])
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 3]))
    n = data.X_train.shape[0]
    idx = np.sort(rng.choice(n, size=min(samples, n), replace=False))
    X, y = data.X_train[idx].astype(np.float64), data.y_train[idx]
    if full:
        p64 = {k: v.astype(np.float64) for k, v in params.items()}
        seconds = estimate_seconds(model, p64, X, y, cfg.strategy.h)
        if seconds > cfg.strategy.max_seconds:
            raise ConfigError(
                f"gradcheck --full would take about {human_seconds(seconds)} on {len(idx)} "
                f"rows, over strategy.max_seconds ({cfg.strategy.max_seconds:g} s); use "
                f"fewer --samples, drop --full, or raise strategy.max_seconds")
    report = check_gradients(model, params, X, y, rng=rng, h=cfg.strategy.h, coords=coords,
                             full=full)
    report.extra.update(model=cfg.model.name, data=cfg.data.source, rows=len(idx))
    return report


# --------------------------------------------------------------------------- comparisons


def compare(plan: Plan | str | Path, *, out: str | Path = "runs", jobs: int = 1,
            scheduler: str | None = None, connect_timeout: float = 10.0,
            fail_fast: bool = False, sort: str | None = None, on_row: Any = None,
            command: str | None = None, display: Any = None, threads: int | None = None,
            mlflow: str | None = None) -> Summary:
    """Run every variant of a sweep (a :class:`Plan` or a sweep/config file) into a fresh
    ``<out>/compare-<stamp>-<name>-<hex>/`` with its summaries and plots.

    ``jobs`` > 1 runs variants in that many worker processes (joblib); ``scheduler`` sends them
    to a Dask cluster (``tcp://host:port``). ``on_row(row, summary)`` is called as each ends;
    ``display()`` gives live callbacks for a serial run (as ``dlcli train`` shows).
    ``threads`` per variant (None: the cores shared among the jobs; the numbers do not depend
    on it); ``mlflow``: a tracking URI the comparison is logged to at the end. The folder gets
    ``report.html`` at the end.
    """
    from dlcli.sweeps import compare as runner
    from dlcli.sweeps.run import run_plan

    plan = plan if isinstance(plan, Plan) else load_plan(plan)
    check_sort(sort, plan.grid_keys)
    with runner.executor(jobs, scheduler, connect_timeout, display, threads) as run:
        command = command or shlex.join(sys.argv)
        folder = runner.start(plan, out, command)
        return run_plan(plan, folder, run, fail_fast=fail_fast, sort=sort, on_row=on_row,
                        command=command, mlflow=mlflow)


def resume(folder: str | Path, *, jobs: int = 1, scheduler: str | None = None,
           connect_timeout: float = 10.0, fail_fast: bool = False, sort: str | None = None,
           on_row: Any = None, display: Any = None, command: str | None = None,
           threads: int | None = None, mlflow: str | None = None) -> Summary:
    """Run the variants of a compare folder that have not completed (matched by config hash)."""
    from dlcli.sweeps import compare as runner
    from dlcli.sweeps.run import run_plan

    folder = Path(folder)
    plan = runner.load(folder)
    check_sort(sort, plan.grid_keys)
    with runner.executor(jobs, scheduler, connect_timeout, display, threads) as run:
        done = runner.finished_rows(folder, plan)
        return run_plan(plan, folder, run, done=done, fail_fast=fail_fast, sort=sort,
                        on_row=on_row, command=command or shlex.join(sys.argv), mlflow=mlflow)


# --------------------------------------------------------------------------- browsing runs


def list_runs(root: str | Path = "runs", *, descend: bool = False) -> list[dict[str, Any]]:
    """One row per run or compare folder under ``root``, newest first (``descend``: a compare
    folder's runs follow it)."""
    from dlcli.runs.listing import listing_rows

    return listing_rows(root, descend=descend)


def show_run(ref: str, root: str | Path = "runs") -> dict[str, Any]:
    """A run's config, result and losses (or a compare folder's summary), by path or id prefix."""
    from dlcli.runs import read_losses, read_run, resolve_run

    info = read_run(resolve_run(ref, root))
    out: dict[str, Any] = {"id": info.id, "path": str(info.path), "kind": info.kind,
                           "config": info.config, "result": info.result}
    if info.kind == "compare":
        out["sweep"] = info.sweep
        out["summary"] = info.summary
        out["runs"] = [{**_brief(c), "losses": read_losses(c.path)[1]} for c in info.children]
    else:
        out["losses"] = read_losses(info.path)[1]
    return out


def _brief(info: Any) -> dict[str, Any]:
    from dlcli.runs.listing import listing_row

    return listing_row(info)
