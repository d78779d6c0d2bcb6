"""Every shipped config validates and runs, shrunk to seconds (real-data ones on fixtures)."""

from pathlib import Path

import pytest

from dlcli import api
from dlcli.config import load_config
from dlcli.sweeps.files import is_sweep_file
from tests.cifar_fixtures import make_tiny_cifar, write_python_folder
from tests.conftest import write_kc_csv

# Sweep files (base/sweep/variants) run in tests/test_sweep.py.
CONFIGS = [p for p in sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
           if not is_sweep_file(p)]


def _shrink(path: Path, tmp_path: Path) -> list[str]:
    raw = load_config(path)
    sets = [f"strategy.iterations={min(raw.strategy.iterations, 3)}", "eval_every=1"]
    if raw.data.source == "cifar10":
        folder = write_python_folder(tmp_path / "cifar", make_tiny_cifar(12, 10))
        sets += [f"data.path={folder}", "data.num_train=40", "data.num_val=10",
                 "data.num_test=8", f"data.cache_dir={tmp_path / 'cache'}"]
    elif raw.data.source == "houses":
        sets.append(f"data.path={write_kc_csv(tmp_path / 'kc.csv', 60)}")
    elif raw.data.source == "cifar10-synthetic":
        sets += ["data.num_train=60", "data.num_val=10", "data.num_test=10"]
    elif raw.data.source == "houses-synthetic":
        sets += ["data.num_train=60", "data.num_val=10", "data.num_test=10"]
    if raw.strategy.name == "numerical-gd" or raw.strategy.eval_batch is not None:
        sets.append("strategy.eval_batch=2")
    if raw.strategy.name == "numerical-gd" and raw.model.name.startswith("mlp"):
        sets.append("model.hidden=[2]")
    return sets


@pytest.mark.plots
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_runs(path, tmp_path):
    cfg = load_config(path, _shrink(path, tmp_path))
    result = api.train(cfg, out=tmp_path / "runs")
    assert result["status"] == "completed", result["error"]
    # its pictures: a plot's errors are swallowed, so a broken one shows only as a missing file
    run = Path(result["run_dir"])
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    images = cfg.data.source in ("cifar10", "cifar10-synthetic")
    templates = images and cfg.model.name in ("svm", "softmax", "mlp")
    coefficients = cfg.model.name == "linear-regression"
    assert (run / "weights.png").is_file() == (templates or coefficients), sorted(
        q.name for q in run.iterdir())
