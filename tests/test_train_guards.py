"""Divergence, early stopping, keep: best|last, and the numerical-gd time budget."""

import functools
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dlcli import api
from dlcli.cli import app
from dlcli.config import validate
from dlcli.data.sources import load_dataset
from dlcli.models import build_model
from dlcli.train import train
from tests.conftest import small_raw

runner = CliRunner()


@functools.lru_cache(maxsize=4)
def _data(cfg_data, seed):
    return load_dataset(cfg_data, seed)


def _train(raw):
    cfg = validate(raw)
    data = _data(cfg.data, cfg.seed)
    return train(cfg, data, build_model(cfg.model, data))


def test_a_loss_blown_up_by_the_factor_stops_the_run():
    raw = {"data": {"source": "landscape", "function": "ill-conditioned"},
           "strategy": {"name": "gd", "lr": 0.045, "iterations": 500, "diverge_factor": 10}}
    out = _train(raw)
    assert out.status == "diverged" and out.iterations < 500
    assert out.records[-1].loss > 10 * out.records[0].loss
    assert out.error.startswith(f"loss {out.records[-1].loss:.4g} at iteration "
                                f"{out.iterations} is over 10 x the first loss")
    raw["strategy"]["diverge_factor"] = None  # off: runs on while the loss stays finite
    assert _train({**raw, "strategy": {**raw["strategy"], "iterations": 50}}).status == \
        "completed"


def test_non_finite_loss_names_the_iteration_and_lr(write_config, tmp_path):
    path = write_config(small_raw(name="sgd", lr=1e6, iterations=50, diverge_factor=None))
    res = runner.invoke(app, ["train", str(path), "--out", str(tmp_path), "-q"])
    assert res.exit_code == 1
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "diverged" and "lower strategy.lr (now 1e+06)" in result["error"]
    assert result["error"].startswith("loss became ")


def test_early_stopping_waits_patience_evaluations():
    # Noise-free descent on a bowl improves every evaluation; an lr too small to matter
    # does not (by more than min_delta), so patience runs out after 3 evaluations.
    raw = {"data": {"source": "landscape", "function": "ill-conditioned"},
           "strategy": {"name": "gd", "lr": 1e-9, "iterations": 1000}, "eval_every": 10,
           "early_stopping": {"patience": 3, "min_delta": 1e-3}}
    out = _train(raw)
    assert out.stopped_early and out.status == "completed" and out.iterations == 40
    raw["strategy"]["lr"] = 0.02
    out = _train(raw)
    assert out.stopped_early and out.iterations < 1000  # converged: improvements < min_delta
    assert out.metrics["final_loss"] < 1e-3


def test_keep_best_returns_the_weights_of_the_best_validation():
    raw = small_raw(name="sgd", lr=3e-6, iterations=40)
    raw.update(eval_every=5, keep="best")
    cfg = validate(raw)
    data = _data(cfg.data, cfg.seed)
    model = build_model(cfg.model)
    out = train(cfg, data, model)
    evals = {r.iteration: r.val_metric for r in out.records if r.val_metric is not None}
    best_it = max(evals, key=lambda k: (evals[k], -k))  # the first of the best
    assert out.kept == "best" and out.kept_iteration == best_it
    assert out.metrics["val_accuracy"] == pytest.approx(evals[best_it])
    last = train(validate({**raw, "keep": "last"}), data, model)
    assert last.kept == "last" and last.kept_iteration == 40


def test_keep_best_on_a_diverged_run_keeps_finite_weights(tmp_path):
    raw = {"name": "blowup", "data": {"source": "landscape", "function": "ill-conditioned"},
           "strategy": {"name": "gd", "lr": 0.05, "iterations": 200}, "eval_every": 1,
           "keep": "best"}
    result = api.train(validate(raw), out=tmp_path)
    assert result["status"] == "diverged" and result["kept"]["weights"] == "best"
    assert result["kept"]["iteration"] < result["iterations"]
    assert np.isfinite(result["metrics"]["final_loss"]) and result["stopped_early"] is False


def test_result_json_says_stopped_early_and_kept(write_config, tmp_path):
    raw = small_raw(name="sgd", lr=1e-12, iterations=200)
    raw["early_stopping"] = {"patience": 2}
    res = runner.invoke(app, ["train", str(write_config(raw)), "--out", str(tmp_path), "-q"])
    assert res.exit_code == 0, res.output
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    result = json.loads((run / "result.json").read_text())
    assert result["stopped_early"] is True and result["iterations"] < 200
    assert result["kept"] == {"weights": "last", "iteration": result["iterations"]}


def test_numerical_gd_over_its_budget_is_refused_before_running(write_config, tmp_path):
    raw = small_raw(name="numerical-gd", iterations=1000, eval_batch=None, max_seconds=1)
    res = runner.invoke(app, ["train", str(write_config(raw)), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "strategy.max_seconds: numerical-gd would take about" in \
        res.output and "dlcli gradcheck" in res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_schedule_weight_decay_and_clipping_change_the_steps():
    base = small_raw(name="sgd", lr=1e-6, iterations=10)
    plain = _train(base).params["W"]
    for extra in ({"schedule": "cosine"}, {"weight_decay": 1e3}, {"clip_norm": 1.0},
                  {"update": "nesterov"}, {"update": "adam", "lr": 1e-4}):
        other = _train({**base, "strategy": {**base["strategy"], **extra}})
        assert other.status == "completed" and not np.array_equal(other.params["W"], plain)


@pytest.mark.parametrize("update", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])
def test_every_update_rule_lowers_the_loss_on_cifar(update):
    lr = {"adagrad": 1e-3, "rmsprop": 1e-4, "adam": 1e-4}.get(update, 1e-6)
    out = _train(small_raw(name="sgd", update=update, lr=lr, iterations=30))
    assert out.status == "completed" and out.records[-1].best_loss < out.records[0].loss


def test_config_errors_for_the_new_keys(write_config, tmp_path):
    for strategy, expected in (
        ({"name": "random-search", "update": "adam"}, "strategy.update applies to"),
        ({"name": "momentum", "update": "adam"}, "contradicts strategy.name 'momentum'"),
        ({"update": "adma"}, "did you mean 'adam'"),
        ({"schedule": "cosin"}, "did you mean 'cosine'"),
        ({"clip_norm": 0}, "strategy.clip_norm: must be greater than 0"),
    ):
        raw = small_raw(**strategy)
        res = runner.invoke(app, ["validate", str(write_config(raw))])
        assert res.exit_code == 2 and expected in res.output, (strategy, res.output)
    raw = {**small_raw(), "keep": "bset"}
    res = runner.invoke(app, ["validate", str(write_config(raw))])
    assert res.exit_code == 2 and "did you mean 'best'" in res.output
    assert Path(tmp_path).exists()


def test_a_last_step_that_makes_the_weights_infinite_is_diverged(tmp_path):
    # One step at lr 1e39 overflows every weight to inf in float32, while the loss the step
    # measured (before its update) is finite: the weights kept must be checked.
    raw = small_raw(name="sgd", lr=1e39, iterations=1)
    result = api.train(validate(raw), out=tmp_path)
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    params = np.load(run / "params.npz")
    assert not np.isfinite(params["W"]).all()  # what was saved is what is reported on
    assert result["status"] == "diverged"
    assert "not finite" in result["error"] and "lower strategy.lr" in result["error"]
    assert result["metrics"]["final_loss"] is None


@pytest.mark.parametrize("keep", ["last", "best"])
def test_final_loss_is_the_loss_of_the_saved_weights(tmp_path, keep):
    raw = small_raw(name="sgd", lr=1e-6, iterations=12)
    raw["keep"] = keep
    cfg = validate(raw)
    result = api.train(cfg, out=tmp_path / keep)
    (run,) = [p for p in (tmp_path / keep).iterdir() if p.is_dir()]
    with np.load(run / "params.npz") as npz:
        params = {k: npz[k] for k in npz.files}
    data = _data(cfg.data, cfg.seed)
    expected = build_model(cfg.model, data).loss(params, data.X_train, data.y_train)
    assert result["metrics"]["final_loss"] == pytest.approx(expected, rel=1e-6)


def test_the_numerical_gd_budget_message_multiplies_out(write_config, tmp_path):
    import re

    raw = small_raw(name="numerical-gd", iterations=1000, eval_batch=None, max_seconds=1)
    res = runner.invoke(app, ["train", str(write_config(raw)), "--out", str(tmp_path)])
    found = re.search(r"about ([\d.]+) (s|min|h) \(([\d.e+-]+) s per gradient x (\d+) "
                      r"iterations", res.output)
    assert found, res.output
    total = float(found[1]) * {"s": 1, "min": 60, "h": 3600}[found[2]]
    assert total == pytest.approx(float(found[3]) * int(found[4]), rel=0.06)


def test_the_summary_says_it_stopped_early_and_which_weights_it_kept(write_config, tmp_path):
    raw = small_raw(name="sgd", lr=1e-12, iterations=200)
    raw.update(early_stopping={"patience": 2}, keep="best", eval_every=5)
    res = runner.invoke(app, ["train", str(write_config(raw)), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "stopped early at iteration" in res.output
    assert "kept the weights of iteration" in res.output
