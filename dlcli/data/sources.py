"""The registry from ``data.source`` to a loader: ``(its data section, seed) -> Dataset``.

Every source draws its randomness from ``SeedSequence([seed, 1])``, a stream of its own, so
the split never depends on the model or the strategy: variants with one seed see one split.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.config.data import (
    AnyData,
    CifarData,
    CifarSyntheticData,
    HousesData,
    HousesSyntheticData,
    LandscapeData,
)
from dlcli.data import Dataset
from dlcli.data.cifar import image_dataset, synthetic_dataset
from dlcli.data.landscape import landscape_dataset
from dlcli.errors import DataError


def _data_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, 1]))


def _count(value: int | float) -> int:
    assert isinstance(value, int)  # the schema admits fractions for the house table only
    return value


def _cifar10_synthetic(cfg: CifarSyntheticData, seed: int) -> Dataset:
    return synthetic_dataset(_count(cfg.num_train), _count(cfg.num_val), _count(cfg.num_test),
                             seed, cfg.normalize)


def _cifar10(cfg: CifarData, seed: int) -> Dataset:
    """CS231n's split: the first ``num_train`` training images, the next ``num_val`` for
    validation, the first ``num_test`` of the test batch. Deterministic: no shuffling."""
    from dlcli.data.cifar_files import load_cifar10

    assert cfg.path is not None
    arrays = load_cifar10(cfg.path, cfg.cache_dir)
    n_tr, n_va, n_te = _count(cfg.num_train), _count(cfg.num_val), _count(cfg.num_test)
    have_tr, have_te = len(arrays.y_train), len(arrays.y_test)
    if n_tr + n_va > have_tr:
        raise DataError(f"{cfg.path}: data.num_train + data.num_val = {n_tr + n_va}, but the "
                        f"training batches hold {have_tr} images")
    if n_te > have_te:
        raise DataError(f"{cfg.path}: data.num_test = {n_te}, but the test batch holds "
                        f"{have_te} images")
    x, y = arrays.x_train, arrays.y_train
    ds = image_dataset(x[:n_tr], y[:n_tr], x[n_tr:n_tr + n_va], y[n_tr:n_tr + n_va],
                       arrays.x_test[:n_te], arrays.y_test[:n_te], cfg.normalize)
    ds.info["path"] = str(Path(cfg.path).expanduser())
    return ds


def _houses(cfg: HousesData, seed: int) -> Dataset:
    from dlcli.data.houses import houses_dataset, read_houses_csv

    assert cfg.path is not None
    table = read_houses_csv(Path(cfg.path).expanduser(), features=cfg.features, date=cfg.date,
                            zipcode=cfg.zipcode, drop_invalid=cfg.drop_invalid)
    return houses_dataset(table, num_train=cfg.num_train, num_val=cfg.num_val,
                          num_test=cfg.num_test, log_target=cfg.log_target, rng=_data_rng(seed))


def _houses_synthetic(cfg: HousesSyntheticData, seed: int) -> Dataset:
    """Each split from its own stream: the training rows depend on (seed, num_train) only."""
    from dlcli.data.houses_synthetic import houses_synthetic_dataset

    return houses_synthetic_dataset(cfg, seed)


def _landscape(cfg: LandscapeData, seed: int) -> Dataset:
    return landscape_dataset(cfg.function, cfg.start, cfg.noise)


# Each loader takes its own section (dlcli.config.data): its keys and no others.
SOURCES: dict[str, Callable[[Any, int], Dataset]] = {
    "cifar10-synthetic": _cifar10_synthetic,
    "cifar10": _cifar10,
    "houses": _houses,
    "houses-synthetic": _houses_synthetic,
    "landscape": _landscape,
}


def load_dataset(cfg: AnyData, seed: int) -> Dataset:
    return SOURCES[cfg.source](cfg, seed)
