"""The Python API that scripts (and the CLI) use: load a config, train it, get a result."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.callbacks import RunFolder
from dlcli.config import Config, load_config
from dlcli.data import Dataset
from dlcli.data.landscape import LANDSCAPES
from dlcli.data.sources import load_dataset
from dlcli.errors import ConfigError
from dlcli.gradcheck import GradcheckReport, check_gradients
from dlcli.models import Model, build_model
from dlcli.numgrad import estimate_seconds, human_seconds
from dlcli.runs import create_run_dir
from dlcli.strategies import check_budget
from dlcli.train import Callback, streams
from dlcli.train import train as train_loop

__all__ = ["load_config", "load_data", "train", "gradcheck", "Config"]

Result = dict[str, Any]


def load_data(cfg: Config) -> Dataset:
    """The configured data set, split and preprocessed (raises DataError on bad files)."""
    return load_dataset(cfg.data, cfg.seed)


def build(cfg: Config) -> tuple[Dataset, Model]:
    data = load_data(cfg)
    return data, build_model(cfg.model, data)


def train(cfg: Config, *, out: str | Path = "runs", callbacks: Sequence[Callback] = (),
          command: str | None = None) -> Result:
    """Run one experiment into a fresh run folder under ``out``; returns its result.json.

    A numerical-gd run estimated to exceed ``strategy.max_seconds`` is refused (ConfigError)
    before the run folder is created.
    """
    data, model = build(cfg)
    check_budget(model, data, cfg.strategy,
                 model.init_params(data.n_features, data.n_outputs, streams(cfg.seed)[0]))
    folder = RunFolder(create_run_dir(out, cfg.name), command or shlex.join(sys.argv))
    listeners: list[Callback] = [folder]  # the run folder last: result.json means complete
    if data.task == "landscape":
        from dlcli.trajectory import TrajectoryWriter

        land = LANDSCAPES[data.info["function"]]
        listeners.insert(0, TrajectoryWriter(folder.path, land, tuple(data.info["start"])))
    train_loop(cfg, data, model, [*listeners, *callbacks])
    return folder.result


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
