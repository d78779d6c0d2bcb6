import numpy as np
import pytest

from dlcli.data import Dataset
from dlcli.metrics import (
    final_metrics,
    metric_names,
    rank_metric,
    report_metric,
    split_metrics,
    validation_name,
)


class _Identity:
    """A stand-in model whose prediction is the first feature; its loss is a constant."""

    def predict(self, params, X):
        return X[:, 0]

    def loss(self, params, X, y):
        return 0.75


def _regression_data(info):
    y = np.array([0.0, 1.0, -1.0], dtype=np.float32)
    X = np.stack([y + np.array([0.0, 0.5, 0.0]), np.ones(3)], axis=1).astype(np.float32)
    return Dataset(X, y, X, y, X, y, task="regression", info=info)


def test_regression_metrics_are_reported_in_price_units():
    info = {"target_mean": np.log(300_000.0), "target_std": 0.5, "log_target": True}
    data = _regression_data(info)
    m = split_metrics(_Identity(), {}, data, "test")
    price = np.exp(np.array([0.0, 1.0, -1.0]) * 0.5 + np.log(300_000.0))
    pred = np.exp(np.array([0.0, 1.5, -1.0]) * 0.5 + np.log(300_000.0))
    assert m["test_rmse"] == pytest.approx(np.sqrt(np.mean((pred - price) ** 2)))
    assert m["test_mae"] == pytest.approx(np.mean(np.abs(pred - price)))
    assert set(m) == {"test_rmse", "test_mae", "test_r2"}


def test_final_metrics_rank_on_validation_and_report_test():
    data = _regression_data({"target_mean": 0.0, "target_std": 1.0, "log_target": False})
    m = final_metrics(_Identity(), {}, data, 0.5, 0.25)
    assert {"train_r2", "val_r2", "test_r2", "final_loss", "best_loss"} <= set(m)
    assert m["final_loss"] == 0.75 and m["best_loss"] == 0.25  # the kept weights' loss
    assert rank_metric(m) == ("val_r2", m["val_r2"], True) and validation_name(data) == "val_r2"
    assert report_metric(m) == "test_r2"


def test_rank_metric_is_validation_never_test():
    m = {"train_accuracy": 0.9, "val_accuracy": 0.22, "test_accuracy": 0.34, "final_loss": 1.0}
    assert rank_metric(m) == ("val_accuracy", 0.22, True)
    assert report_metric(m) == "test_accuracy"
    no_val = {"val_accuracy": None, "test_accuracy": 0.34, "final_loss": 1.5}  # num_val: 0
    assert rank_metric(no_val) == ("final_loss", 1.5, False)
    assert report_metric(no_val) == "test_accuracy"
    landscape = {"final_loss": 1e-4, "best_loss": 1e-4, "final_x": 1.0, "final_y": 1.0}
    assert rank_metric(landscape) == ("final_loss", 1e-4, False)
    assert report_metric(landscape) is None


def test_metric_names_are_every_metric_a_run_of_the_task_has():
    from dlcli import api
    from dlcli.config import validate
    from dlcli.metrics import task_of
    from tests.conftest import small_raw

    assert "val_mae" in metric_names("regression") and "train_r2" in metric_names("regression")
    assert "test_accuracy" not in metric_names("landscape")
    regression = _regression_data({"target_mean": 0.0, "target_std": 1.0, "log_target": False})
    assert set(final_metrics(_Identity(), {}, regression, 0.5, 0.25)) == set(
        metric_names("regression"))
    for raw in (small_raw(), {"data": {"source": "landscape", "function": "saddle"}}):
        cfg = validate(raw)
        data, model = api.build(cfg)
        params = model.init_params(data.n_features, data.n_outputs, np.random.default_rng(0))
        assert data.task == task_of(cfg.data.source)
        assert set(final_metrics(model, params, data, 1.0, 1.0)) == set(metric_names(data.task))


def test_final_loss_is_the_loss_of_the_saved_weights(tmp_path):
    from pathlib import Path

    from dlcli import api
    from dlcli.config import validate
    from tests.conftest import small_raw

    cfg = validate(small_raw(iterations=7, batch_size=16))
    result = api.train(cfg, out=tmp_path)
    with np.load(Path(result["run_dir"]) / "params.npz") as saved:
        params = dict(saved)
    data, model = api.build(cfg)
    expected = model.loss(params, data.X_train, data.y_train)
    assert result["metrics"]["final_loss"] == pytest.approx(expected, rel=1e-6)
    # not the last minibatch's loss (measured before its update): that is what metrics.csv has
    last = float((Path(result["run_dir"]) / "metrics.csv").read_text().splitlines()[-1]
                 .split(",")[1])
    assert result["metrics"]["final_loss"] != pytest.approx(last, rel=1e-6)


def test_final_loss_of_non_finite_weights_is_none():
    class _Inf(_Identity):
        def loss(self, params, X, y):
            return float("inf")

    data = _regression_data({"target_mean": 0.0, "target_std": 1.0, "log_target": False})
    assert final_metrics(_Inf(), {}, data, 0.5, 0.25)["final_loss"] is None


def test_final_metrics_take_one_pass_over_the_training_split_and_agree(monkeypatch):
    import numpy as np

    from dlcli.config import validate
    from dlcli.data.sources import load_dataset
    from dlcli.metrics import final_metrics, split_metrics
    from dlcli.models import build_model
    from tests.conftest import small_raw

    raw = small_raw()
    raw["model"] = {"name": "mlp", "hidden": [16]}
    cfg = validate(raw)
    data = load_dataset(cfg.data, cfg.seed)
    model = build_model(cfg.model, data)
    params = model.init_params(data.n_features, data.n_outputs, np.random.default_rng(0))
    forwards = []
    real = type(model)._forward
    monkeypatch.setattr(type(model), "_forward",
                        lambda self, p, X, reuse=False: forwards.append(len(X)) or
                        real(self, p, X, reuse))
    m = final_metrics(model, params, data, None, None)
    assert forwards.count(len(data.X_train)) == 1  # loss and accuracy from one pass
    assert m["final_loss"] == model.loss(params, data.X_train, data.y_train)
    assert m["train_accuracy"] == split_metrics(model, params, data, "train")["train_accuracy"]
