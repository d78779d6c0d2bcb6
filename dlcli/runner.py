"""Run one resolved config into a run folder, fresh or continued from its checkpoint.

What ``dlcli train``, ``dlcli train --resume`` and every variant of ``dlcli compare`` call (the
Python API and the comparison both use it, and neither imports the other). It wires the run
folder and the trajectory writer in front of the caller's listeners, holds the folder's lock
while the loop runs, and pins the BLAS threads.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dlcli import checkpoint
from dlcli.callbacks import LossPlot, RunFolder
from dlcli.config import Config, load_config
from dlcli.data import Dataset
from dlcli.data.landscape import LANDSCAPES
from dlcli.data.sources import load_dataset
from dlcli.errors import ConfigError, DataError, UsageError
from dlcli.models import Model, build_model
from dlcli.runs import create_run_dir, folder_lock, read_json
from dlcli.runtime import linalg
from dlcli.runtime.blas import blas_info, limit_blas
from dlcli.strategies import check_budget
from dlcli.train import Callback, streams
from dlcli.train import train as train_loop

Result = dict[str, Any]
# Schedules whose learning rate at a step does not depend on the total number of steps: a run
# that used one can be extended with --iterations and take the same steps as a longer run.
EXTENSIBLE_SCHEDULES = ("constant", "step", "exponential")


_last_data: dict[str, Dataset] = {}  # the last data set loaded in this process, by its key


def build(cfg: Config) -> tuple[Dataset, Model]:
    """The data (split, preprocessed) and the model of ``cfg``.

    The last data set stays loaded, keyed by its data section and seed: the variants of a
    comparison that share them (a grid over lr, a search) load once per process instead of
    once per variant. Its arrays are read-only, so no run can change what the next one sees.
    """
    key = json.dumps([cfg.data.model_dump(mode="json"), cfg.seed], sort_keys=True)
    data = _last_data.get(key)
    if data is None:
        _last_data.clear()  # one at a time: a full CIFAR-10 split is 600 MB
        data = _last_data[key] = _read_only(load_dataset(cfg.data, cfg.seed))
    return data, build_model(cfg.model, data)


def _read_only(data: Dataset) -> Dataset:
    for name in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
        getattr(data, name).flags.writeable = False
    return data


def run(cfg: Config, *, out: str | Path = "runs", callbacks: Sequence[Callback] = (),
        command: str | None = None, run_dir: str | Path | None = None, threads: int = 1,
        extra: dict[str, Any] | None = None, mlflow: str | None = None) -> Result:
    """Train ``cfg`` into a fresh folder under ``out`` (or into ``run_dir``); its result.json.

    A numerical-gd run estimated to exceed ``strategy.max_seconds`` is refused (ConfigError)
    before the folder is created. ``threads``: how many threads the big matrix products use
    (BLAS itself is pinned to one; the results are the same bits for any count, see
    :mod:`dlcli.runtime.linalg`). ``extra`` adds keys to result.json (tags, a note).
    """
    with computing(threads):
        data, model = build(cfg)
        if cfg.strategy.name == "numerical-gd":  # estimated at the run's own starting weights
            check_budget(model, data, cfg.strategy,
                         model.init_params(data.n_features, data.n_outputs,
                                           streams(cfg.seed)[0]))
        if run_dir is None:
            path = create_run_dir(out, cfg.name)
        else:
            path = Path(run_dir)
            path.mkdir(parents=True, exist_ok=True)
        folder = RunFolder(path, command or shlex.join(sys.argv),
                           config_hash=checkpoint.config_key(cfg.model_dump(mode="json")),
                           extra={**data_facts(data), **compute_facts(threads),
                                  **(extra or {})})
        with folder_lock(path, "in use by another dlcli train"):
            train_loop(cfg, data, model, _listeners(folder, data, callbacks, mlflow))
    return folder.result


@contextmanager
def computing(threads: int) -> Iterator[None]:
    """BLAS pinned to one thread, the big products on ``threads`` (this thread's setting)."""
    before = linalg.threads()
    linalg.set_threads(threads)
    try:
        with limit_blas(1):
            yield
    finally:
        linalg.set_threads(before)


def compute_facts(threads: int) -> dict[str, Any]:
    """How result.json records the computation: threads of the products, the BLAS."""
    return {"threads": threads, "blas": {**blas_info(), "threads": 1}}


def data_facts(data: Dataset) -> dict[str, Any]:
    """What result.json says about the data beyond the config: rows data.drop_invalid left
    out of a house table."""
    if "n_dropped" in data.info:
        return {"rows_dropped": int(data.info["n_dropped"])}
    return {}


def _listeners(folder: RunFolder, data: Dataset, callbacks: Sequence[Callback],
               mlflow: str | None = None) -> list[Callback]:
    listeners: list[Callback] = [folder]  # the run folder last: result.json means complete
    if data.task == "landscape":
        from dlcli.viz.trajectory import TrajectoryWriter

        land = LANDSCAPES[data.info["function"]]
        listeners.insert(0, TrajectoryWriter(folder.path, land, tuple(data.info["start"])))
    # loss.png after result.json: a picture of metrics.csv, never a reason to lose results;
    # the MLflow export last, once the folder is whole (it only warns when it cannot log)
    from dlcli.viz.weights import WeightsPlot

    after: list[Callback] = [LossPlot(folder.path), WeightsPlot(folder.path, data)]
    if mlflow:
        from dlcli.tracking.export import MlflowExport

        after.append(MlflowExport(folder.path, mlflow))
    return [*listeners, *callbacks, *after]


def resume(run_dir: str | Path, *, iterations: int | None = None,
           callbacks: Sequence[Callback] = (), command: str | None = None,
           threads: int = 1, mlflow: str | None = None) -> Result:
    """Continue the run in ``run_dir`` from its checkpoint.npz, in place (metrics.csv appended,
    result.json rewritten with ``resumed_from``); ``iterations`` extends it to that total.

    Refused with one line (exit 2) when there is no checkpoint, the config changed since, the
    folder is in use, or the checkpoint is from another format, corrupt or truncated.
    """
    path = Path(run_dir)
    where = f"--resume {path}"
    if not (path / "config.yaml").is_file():
        raise UsageError(f"{where}: not a run folder (no config.yaml)")
    cfg = load_config(path / "config.yaml")
    ckpt_path = path / checkpoint.FILE
    if not ckpt_path.is_file():
        raise UsageError(f"{where}: no {checkpoint.FILE} (the run had checkpoint_every: 0, or "
                         f"was stopped before its first checkpoint); start it again")
    tree = checkpoint.load(ckpt_path)
    cfg = _with_total(cfg, iterations, tree, path)
    if tree.get("config_hash") != checkpoint.config_key(cfg.model_dump(mode="json")):
        raise UsageError(f"{where}: config.yaml changed since the checkpoint was written; "
                         f"resume continues the run it was, start a new run for a new config")
    with computing(threads), folder_lock(path, "in use by another dlcli train"):
        data, model = build(cfg)
        template = model.init_params(data.n_features, data.n_outputs, streams(cfg.seed)[0])
        snapshot = checkpoint.restore(tree, template, data.X_train.shape[0], str(ckpt_path))
        try:
            old = read_json(path / "result.json")
        except (OSError, ValueError):
            old = {}
        keep = {k: old[k] for k in ("tags", "note") if isinstance(old, dict) and k in old}
        keep.update(data_facts(data))
        keep.update(compute_facts(threads))
        folder = RunFolder(path, command or shlex.join(sys.argv),
                           config_hash=tree["config_hash"], extra=keep,
                           resume={k: tree.get(k) for k in ("metrics_bytes", "segments",
                                                            "started_at")})
        if not isinstance(tree.get("metrics_bytes"), int):
            raise DataError(f"{ckpt_path}: metrics_bytes missing; corrupt checkpoint")
        train_loop(cfg, data, model, _listeners(folder, data, callbacks, mlflow),
                   resume=snapshot)
    return folder.result


def _status(path: Path) -> str | None:
    try:
        result = read_json(path / "result.json")
    except (OSError, ValueError):
        return None
    return result.get("status") if isinstance(result, dict) else None


def _with_total(cfg: Config, iterations: int | None, tree: dict[str, Any], path: Path
                ) -> Config:
    """The config to continue with: ``iterations`` as the new total, when it may be."""
    done = tree.get("iteration")
    where = f"--resume {path}"
    if not isinstance(done, int):
        raise DataError(f"{path / checkpoint.FILE}: no iteration; corrupt checkpoint")
    if iterations is None:
        if done >= cfg.strategy.iterations and _status(path) not in (None, "interrupted"):
            raise UsageError(f"{where}: the run already did its {cfg.strategy.iterations} "
                             f"iterations; extend it with --iterations N (N > {done})")
        return cfg  # (killed after its last checkpoint, before result.json: finish it)
    if iterations <= done:
        raise UsageError(f"{where} --iterations {iterations}: the checkpoint is at iteration "
                         f"{done}; give a larger total")
    s = cfg.strategy
    if iterations != s.iterations and s.schedule not in EXTENSIBLE_SCHEDULES:
        raise ConfigError(f"{where} --iterations {iterations}: strategy.schedule {s.schedule} "
                          f"sets each step's learning rate from the total number of iterations "
                          f"({s.iterations}), so a longer run would not continue this one; "
                          f"extend runs with a constant, step or exponential schedule")
    raw = cfg.model_dump(mode="json")
    raw["strategy"]["iterations"] = iterations
    from dlcli.config import validate

    return validate(raw, str(path / "config.yaml") + " (with --iterations)")
