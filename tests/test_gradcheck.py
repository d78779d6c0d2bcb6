import json

import numpy as np
import pytest
from typer.testing import CliRunner

from dlcli import api
from dlcli.cli import app
from dlcli.config import validate
from dlcli.gradcheck import band, check_gradients
from dlcli.models.linear import LinearModel, svm
from tests.conftest import small_raw

runner = CliRunner()


def _landscape_raw(function="rosenbrock"):
    return {"name": "land", "data": {"source": "landscape", "function": function},
            "strategy": {"name": "gd", "lr": 1e-3, "iterations": 5}}


@pytest.mark.parametrize("model", ["softmax", "svm"])
def test_gradcheck_passes_for_the_linear_models(model):
    raw = small_raw()
    raw["model"]["name"] = model
    report = api.gradcheck(validate(raw), samples=10)
    assert report.passed and report.verdict == "good"
    (t,) = report.tensors
    assert t.name == "W" and t.shape == (3073, 10) and t.checked == 200
    assert report.samples == 10 and len(report.worst) == 5


@pytest.mark.parametrize("function", ["ill-conditioned", "saddle", "rosenbrock"])
def test_gradcheck_passes_for_every_landscape(function):
    report = api.gradcheck(validate(_landscape_raw(function)))
    assert report.passed and report.tensors[0].checked == 2


def test_full_check_covers_every_coordinate():
    report = api.gradcheck(validate(small_raw()), samples=5, full=True)
    assert report.passed and report.tensors[0].checked == 30_730 and report.full


def test_kinks_are_rechecked_with_a_smaller_step():
    # Many rows, large weights: hinge margins sit within ±h of their kinks somewhere.
    rng = np.random.default_rng(0)
    X = rng.normal(scale=50, size=(400, 30))
    y = rng.integers(0, 4, size=400)
    params = {"W": rng.normal(scale=0.05, size=(30, 4))}
    model = svm(0.0, 1e-4)
    report = check_gradients(model, params, X, y, rng=rng, h=1e-3, full=True)
    assert report.tensors[0].rechecked > 0 and report.passed


def test_bands():
    assert [band(e) for e in (1e-9, 1e-7, 1e-5, 1e-3, 0.5)] == [
        "good", "good", "fine near kinks", "doubtful", "wrong"]


def test_cli_gradcheck_passes_with_tables(write_config):
    res = runner.invoke(app, ["gradcheck", str(write_config(small_raw())), "--samples", "8"])
    assert res.exit_code == 0, res.output
    assert "PASS" in res.output and "worst coordinates" in res.output and "3073×10" in res.output


def test_cli_gradcheck_fails_on_a_broken_gradient(write_config, monkeypatch):
    real = LinearModel.loss_and_grad

    def broken(self, params, X, y):
        loss, grads = real(self, params, X, y)
        grads["W"][5] *= 1.1  # one row of dW off by 10%: a typical slip
        return loss, grads

    monkeypatch.setattr(LinearModel, "loss_and_grad", broken)
    path = write_config(small_raw())
    res = runner.invoke(app, ["gradcheck", str(path), "--full", "-k", "4"])
    assert res.exit_code == 1, res.output
    assert "FAIL" in res.output and "W[5, " in res.output
    res = runner.invoke(app, ["gradcheck", str(path), "--json", "-k", "4", "--full"])
    out = json.loads(res.stdout)
    assert res.exit_code == 1 and out["passed"] is False and out["verdict"] == "wrong"


def test_cli_gradcheck_json_and_bad_config(write_config):
    res = runner.invoke(app, ["gradcheck", str(write_config(_landscape_raw())), "--json"])
    out = json.loads(res.stdout)
    assert res.exit_code == 0 and out["passed"] and out["tensors"][0]["name"] == "w"
    res = runner.invoke(app, ["gradcheck", str(write_config(small_raw(name="sgdd")))])
    assert res.exit_code == 2 and "did you mean 'sgd'" in res.output


def test_full_check_over_budget_is_refused(write_config):
    path = write_config(small_raw(max_seconds=1e-6))
    res = runner.invoke(app, ["gradcheck", str(path), "--full"])
    assert res.exit_code == 2 and "strategy.max_seconds" in res.output


@pytest.mark.parametrize("config", ["synthetic-mlp-momentum.yaml", "houses-synthetic-linear.yaml",
                                    "houses-synthetic-mlp.yaml"])
def test_gradcheck_passes_for_the_other_models(config):
    from pathlib import Path

    from dlcli.config import load_config

    path = Path(__file__).resolve().parents[1] / "configs" / config
    sets = ["data.num_train=50", "data.num_val=10", "data.num_test=10"]  # small: a fast test
    sets += ["model.hidden=[16]"] if "mlp" in config else []
    report = api.gradcheck(load_config(path, sets), samples=10, coords=50)
    assert report.passed, [(t.name, t.max_error) for t in report.tensors]
