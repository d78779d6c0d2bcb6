"""The registry from ``data.source`` to a loader: ``(DataConfig, seed) -> Dataset``."""

from __future__ import annotations

from collections.abc import Callable

from dlcli.config import DataConfig
from dlcli.data import Dataset
from dlcli.data.cifar import synthetic_dataset


def _cifar10_synthetic(cfg: DataConfig, seed: int) -> Dataset:
    return synthetic_dataset(cfg.num_train, cfg.num_val, cfg.num_test, seed)


SOURCES: dict[str, Callable[[DataConfig, int], Dataset]] = {
    "cifar10-synthetic": _cifar10_synthetic,
}


def load_dataset(cfg: DataConfig, seed: int) -> Dataset:
    return SOURCES[cfg.source](cfg, seed)
