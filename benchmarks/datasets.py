"""The data the benchmarks train on, cached between runs (generating 50,000 images takes
~15 s): the CIFAR-shaped training matrix as .npy files, and the official-format folder.

The cache lives in ``$DLCLI_BENCH_CACHE`` (default: ``<tmp>/dlcli-bench``); its keys include
a hash of the generator's source, so a changed generator never serves stale data.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from dlcli.data import Dataset

ROOT = Path(__file__).resolve().parents[1]
_SOURCES = ("dlcli/data/cifar.py", "dlcli/data/preprocess.py", "tests/cifar_fixtures.py")
_ARRAYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")


def cache_root() -> Path:
    return Path(os.environ.get("DLCLI_BENCH_CACHE") or
                Path(tempfile.gettempdir()) / "dlcli-bench")


def _key(*parts: object) -> str:
    h = hashlib.sha256(repr(parts).encode())
    for rel in _SOURCES:
        path = ROOT / rel
        h.update(path.read_bytes() if path.exists() else b"")
    return h.hexdigest()[:16]


def cifar_shaped(n_train: int, n_val: int, n_test: int, seed: int = 0) -> Dataset:
    """``dlcli.data.cifar.synthetic_dataset(n_train, n_val, n_test, seed)``: X ``(N, 3073)``
    float32, read from the cache when it holds it."""
    from dlcli.data.cifar import synthetic_dataset

    folder = cache_root() / f"cifar-{n_train}-{n_val}-{n_test}-{seed}-{_key(n_train, seed)}"
    if (folder / "info.json").exists():
        arrays = {k: np.load(folder / f"{k}.npy") for k in _ARRAYS}
        info = json.loads((folder / "info.json").read_text())
        return Dataset(**arrays, task="classification", num_classes=10, info=info)
    data = synthetic_dataset(n_train, n_val, n_test, seed)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    for k in _ARRAYS:
        np.save(tmp / f"{k}.npy", getattr(data, k))
    (tmp / "info.json").write_text(json.dumps(data.info))
    _publish(tmp, folder)
    return data


def normalized(data: Dataset) -> Dataset:
    """The pixels at unit scale (as ``data.normalize: true`` gives the He-initialized MLP):
    every feature but the bias column divided by the training pixels' standard deviation."""
    scale = np.float32(1.0 / float(data.X_train[:, :-1].std(dtype=np.float64)))

    def scaled(X: np.ndarray) -> np.ndarray:
        out = X.copy()
        out[:, :-1] *= scale
        return out

    return replace(data, X_train=scaled(data.X_train), X_val=scaled(data.X_val),
                   X_test=scaled(data.X_test), info={**data.info, "pixel_scale": 1 / scale})


def official_folder(per_batch: int) -> Path:
    """A ``cifar-10-batches-py`` folder of 5 training batches + a test batch of ``per_batch``
    generated images each (``benchmarks.cifar_configs.write_full_set`` for 10,000)."""
    from benchmarks.cifar_configs import write_full_set

    folder = cache_root() / f"batches-py-{per_batch}-{_key(per_batch)}"
    if (folder / "done").exists():
        return folder / "cifar-10-batches-py"
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    write_full_set(tmp, per_batch)
    (tmp / "done").write_text("")
    _publish(tmp, folder)
    return folder / "cifar-10-batches-py"


def _publish(tmp: Path, folder: Path) -> None:
    """Move a finished cache entry into place (another run may have won the race)."""
    try:
        tmp.rename(folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
