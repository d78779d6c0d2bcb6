"""The Python API that scripts (and the CLI) use: load a config, train it, get a result."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlcli.callbacks import RunFolder
from dlcli.config import Config, load_config
from dlcli.data import Dataset
from dlcli.data.sources import load_dataset
from dlcli.models import Model, build_model
from dlcli.runs import create_run_dir
from dlcli.train import Callback
from dlcli.train import train as train_loop

__all__ = ["load_config", "load_data", "train", "Config"]

Result = dict[str, Any]


def load_data(cfg: Config) -> Dataset:
    """The configured data set, split and preprocessed (raises DataError on bad files)."""
    return load_dataset(cfg.data, cfg.seed)


def build(cfg: Config) -> tuple[Dataset, Model]:
    return load_data(cfg), build_model(cfg.model)


def train(cfg: Config, *, out: str | Path = "runs", callbacks: Sequence[Callback] = (),
          command: str | None = None) -> Result:
    """Run one experiment into a fresh run folder under ``out``; returns its result.json."""
    data, model = build(cfg)
    folder = RunFolder(create_run_dir(out, cfg.name), command or shlex.join(sys.argv))
    train_loop(cfg, data, model, [folder, *callbacks])
    return folder.result


def data_info(cfg: Config) -> dict[str, Any]:
    """What the configured data looks like as tensors: per split shape, dtype and memory, the
    labels or target, the feature names, and (for images) the lecture's views of one row."""
    from dlcli.data.describe import describe

    return describe(load_data(cfg), cfg)
