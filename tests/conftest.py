from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dlcli.config import Config, validate


def small_raw(**strategy: Any) -> dict[str, Any]:
    """A config small enough to train in well under a second."""
    return {
        "name": "small",
        "seed": 0,
        "data": {"source": "cifar10-synthetic", "num_train": 200, "num_val": 50, "num_test": 50},
        "model": {"name": "softmax", "reg": 2.5e-4, "init_scale": 1e-4},
        "strategy": {"name": "sgd", "iterations": 20, "lr": 1e-6, "batch_size": 64, **strategy},
        "eval_every": 5,
    }


@pytest.fixture
def small_cfg() -> Config:
    return validate(small_raw())


@pytest.fixture
def write_config(tmp_path: Path):
    def write(raw: Any, name: str = "cfg.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(raw) if not isinstance(raw, str) else raw)
        return path

    return write


QUOTED = {"id", "date", "floors", "zipcode"}  # as Kaggle's kc_house_data.csv quotes them


def write_kc_csv(path: Path, n: int, seed: int = 0) -> Path:
    """A King County CSV in the original format (quoted id/date/floors/zipcode, 20141013T000000
    dates), with plausible rows from the synthetic generator."""
    import numpy as np

    from dlcli.data.houses_synthetic import synthetic_houses

    cols = synthetic_houses(n, np.random.default_rng(seed))

    def cell(name: str, v: Any) -> str:
        if name == "date":
            text = str(v).replace("-", "") + "T000000"
        elif name in {"id", "zipcode", "floors"} or float(v).is_integer():
            text = f"{float(v):g}" if name == "floors" else str(int(v))
        else:
            text = repr(float(v))
        return f'"{text}"' if name in QUOTED else text

    lines = [",".join(cols)]
    lines += [",".join(cell(k, cols[k][i]) for k in cols) for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(autouse=True)
def no_run_plots(request, monkeypatch):
    """Runs in this process draw no loss.png and weights.png, except in the tests marked
    ``plots`` (the ones that look at them): matplotlib takes about a third of a small run, and
    a plot's errors are swallowed (a picture never fails a run), so drawing one that no test
    looks at checks nothing. Runs in subprocesses draw theirs as users' runs do."""
    if request.node.get_closest_marker("plots") is not None:
        return
    from dlcli.callbacks import LossPlot
    from dlcli.viz.weights import WeightsPlot

    monkeypatch.setattr(LossPlot, "on_end", lambda self, *args, **kwargs: None)
    monkeypatch.setattr(WeightsPlot, "on_end", lambda self, *args, **kwargs: None)
