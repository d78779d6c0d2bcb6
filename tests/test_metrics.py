import numpy as np
import pytest

from dlcli.data import Dataset
from dlcli.metrics import final_metrics, primary_metric, split_metrics, validation_name


class _Identity:
    """A stand-in model whose prediction is the first feature."""

    def predict(self, params, X):
        return X[:, 0]


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


def test_final_metrics_and_primary_metric():
    data = _regression_data({"target_mean": 0.0, "target_std": 1.0, "log_target": False})
    m = final_metrics(_Identity(), {}, data, 0.5, 0.25)
    assert {"train_r2", "val_r2", "test_r2", "final_loss", "best_loss"} <= set(m)
    assert primary_metric(m)[0] == "test_r2" and validation_name(data) == "val_r2"
    assert primary_metric({"test_accuracy": 0.4, "final_loss": 1.0}) == ("test_accuracy", 0.4)
