import csv
import json
from pathlib import Path

import numpy as np
import pytest

from dlcli import api
from dlcli.config import load_config, validate
from dlcli.data.landscape import LANDSCAPES
from dlcli.errors import ConfigError
from dlcli.gradcheck import relative_error
from dlcli.numgrad import numerical_gradient_fast
from dlcli.strategies import STRATEGIES

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _run(tmp_path, path_or_raw, *sets):
    cfg = (load_config(CONFIGS / path_or_raw, sets) if isinstance(path_or_raw, str)
           else validate(path_or_raw))
    return api.train(cfg, out=tmp_path)


def _raw(function, **strategy):
    data = {"source": "landscape", "function": function}
    for key in ("start", "noise"):
        if key in strategy:
            data[key] = strategy.pop(key)
    return {"name": "land", "data": data, "strategy": {"iterations": 50, **strategy},
            "eval_every": 10}


@pytest.mark.parametrize("name", sorted(LANDSCAPES))
def test_gradients_match_centred_differences(name):
    land = LANDSCAPES[name]
    rng = np.random.default_rng(0)
    for _ in range(5):
        w = rng.uniform([land.xlim[0], land.ylim[0]], [land.xlim[1], land.ylim[1]])
        num = numerical_gradient_fast(_model(name), {"w": w}, np.zeros((1, 2)), np.zeros(1),
                                      h=1e-6)["w"]
        assert relative_error(land.grad(w), num).max() < 1e-6


def _model(name):
    from dlcli.models.landscape import LandscapeModel

    return LandscapeModel(LANDSCAPES[name], LANDSCAPES[name].start)


def test_momentum_beats_gradient_descent_in_the_narrow_valley(tmp_path):
    gd = _run(tmp_path, "landscape-ill-conditioned-gd.yaml")
    mom = _run(tmp_path, "landscape-ill-conditioned-momentum.yaml")
    assert gd["iterations"] == mom["iterations"] == 100
    assert mom["metrics"]["final_loss"] < gd["metrics"]["final_loss"] / 5


def test_gd_on_the_ridge_stalls_at_the_saddle_and_noise_escapes(tmp_path):
    stuck = _run(tmp_path, "landscape-saddle-gd.yaml")["metrics"]
    assert stuck["final_y"] == 0.0 and abs(stuck["final_x"]) < 1e-6
    assert stuck["final_loss"] == pytest.approx(0.25)  # the saddle's value
    escaped = _run(tmp_path, "landscape-saddle-noisy.yaml")["metrics"]
    assert abs(abs(escaped["final_y"]) - 1) < 0.1 and escaped["final_loss"] < 0.01


SETTINGS = {
    "random-search": {},
    "random-local-search": {"step_size": 0.1},
    "numerical-gd": {"lr": 1e-3},
    "gd": {"lr": 1e-3},
    "sgd": {"lr": 1e-3, "update": "adam"},
    "momentum": {"lr": 1e-3},
}


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("function", sorted(LANDSCAPES))
def test_every_strategy_works_on_every_landscape(tmp_path, strategy, function):
    settings = dict(SETTINGS[strategy])
    if function == "ill-conditioned" and "lr" in settings:
        settings["lr"] = 0.02
    result = _run(tmp_path, _raw(function, name=strategy, **settings))
    start = LANDSCAPES[function].start
    assert result["status"] == "completed"
    assert result["metrics"]["final_loss"] < LANDSCAPES[function].f(np.array(start))


def test_a_run_writes_its_trajectory(tmp_path):
    result = _run(tmp_path, _raw("rosenbrock", name="gd", lr=1e-3, iterations=30))
    run = Path(result["run_dir"])
    rows = list(csv.DictReader((run / "trajectory.csv").open()))
    assert len(rows) == 31 and rows[0]["x"] == "-1.5" and rows[0]["y"] == "2"
    last = rows[-1]
    assert float(last["x"]) == pytest.approx(result["metrics"]["final_x"])
    assert (run / "trajectory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((run / "result.json").read_text())["status"] == "completed"


def test_noise_follows_the_seed(tmp_path):
    raw = _raw("saddle", name="gd", lr=0.1, noise=0.1)
    a, b = _run(tmp_path, raw)["metrics"], _run(tmp_path, raw)["metrics"]
    c = _run(tmp_path, {**raw, "seed": 1})["metrics"]
    assert a == b and a != c


def test_start_is_configurable_and_keys_are_checked(tmp_path):
    m = _run(tmp_path, _raw("saddle", name="gd", lr=0.1, start=[0.5, 0.3]))["metrics"]
    assert m["final_y"] > 0.9  # started above the ridge: rolls to (0, 1)
    with pytest.raises(ConfigError, match="data.noise applies to data.source landscape"):
        validate({"data": {"noise": 0.1}})
    with pytest.raises(ConfigError, match="model.name 'svm' does not fit"):
        validate({"data": {"source": "landscape"}, "model": {"name": "svm"}})
    with pytest.raises(ConfigError, match="did you mean 'saddle'"):
        validate({"data": {"source": "landscape", "function": "sadle"}})
    assert validate({"data": {"source": "landscape"}}).model.name == "landscape"


def test_a_diverging_landscape_run_is_caught(tmp_path):
    result = _run(tmp_path, _raw("ill-conditioned", name="gd", lr=0.05))  # > 2/50
    assert result["status"] == "diverged"
    assert "x the first loss" in result["error"] and "strategy.lr (now 0.05)" in result["error"]
    assert (Path(result["run_dir"]) / "trajectory.png").exists()


def test_a_landscape_row_agrees_with_itself_and_best_includes_the_end(tmp_path):
    import csv as _csv
    import json as _json

    from dlcli import api
    from dlcli.config import validate

    raw = {"name": "l", "data": {"source": "landscape", "function": "ill-conditioned"},
           "strategy": {"name": "gd", "lr": 0.01, "iterations": 30}, "eval_every": 5}
    result = api.train(validate(raw), out=tmp_path)
    run = next(p for p in tmp_path.iterdir() if p.is_dir())
    rows = list(_csv.DictReader((run / "metrics.csv").open()))
    for row in rows:
        if row["neg_loss"]:
            assert float(row["loss"]) == pytest.approx(-float(row["neg_loss"]), rel=1e-5)
    m = result["metrics"]
    assert m["best_loss"] <= m["final_loss"] + 1e-12
    assert _json.loads((run / "result.json").read_text())["metrics"] == m
