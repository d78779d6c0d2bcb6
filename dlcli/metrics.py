"""What a run reports about its weights: accuracy for classifiers; RMSE, MAE and R² for
regressors, in the target's own units (price, even when trained on a scaled log price)."""

from __future__ import annotations

import numpy as np

from dlcli.data import Dataset
from dlcli.models import Model, Params

Metrics = dict[str, float | None]
SPLITS = ("train", "val", "test")


def _split(data: Dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    return getattr(data, f"X_{split}"), getattr(data, f"y_{split}")


def _to_units(y: np.ndarray, data: Dataset) -> np.ndarray:
    """Undo the target scaling the source applied (identity when it applied none)."""
    if "target_mean" not in data.info:
        return y.astype(np.float64)
    from dlcli.data.houses import to_price_units

    return to_price_units(y, data.info)


def split_metrics(model: Model, params: Params, data: Dataset, split: str,
                  predicted: np.ndarray | None = None) -> Metrics:
    """``{split}_accuracy``, or ``{split}_rmse/_mae/_r2``; None values for an empty split.
    ``predicted``: the split's predictions, when already computed."""
    X, y = _split(data, split)

    def predict() -> np.ndarray:
        return model.predict(params, X) if predicted is None else predicted

    if data.task == "classification":
        acc = None if len(y) == 0 else float(np.mean(predict() == y))
        return {f"{split}_accuracy": acc}
    if len(y) == 0:
        return {f"{split}_{k}": None for k in ("rmse", "mae", "r2")}
    from dlcli.data.houses import regression_metrics

    # A diverged model's predictions overflow exp() and the squares: the metric is then
    # reported as null (not finite), without numpy's warnings on the terminal.
    with np.errstate(over="ignore", invalid="ignore"):
        found = regression_metrics(_to_units(y, data), _to_units(predict(), data))
    return {f"{split}_{k}": _finite(v) for k, v in found.items()}


def _finite(v: float) -> float | None:
    return v if np.isfinite(v) else None


def validation_name(data: Dataset) -> str:
    """The metric watched during training, the one early stopping and ``keep: best`` follow
    (higher is better): val_accuracy, val_r2, or neg_loss (``-f(w)``) for a landscape."""
    return {"classification": "val_accuracy", "regression": "val_r2"}.get(data.task, "neg_loss")


def validation_metric(model: Model, params: Params, data: Dataset) -> float | None:
    if data.task == "landscape":
        return -model.loss(params, data.X_val, data.y_val)
    return split_metrics(model, params, data, "val")[validation_name(data)]


def final_metrics(model: Model, params: Params, data: Dataset, final_loss: float | None,
                  best_loss: float | None) -> Metrics:
    """Every split's metrics for the kept weights, plus the final and best training loss.

    ``final_loss`` is the loss of the kept weights on the whole training split (what was
    saved, not the last step's minibatch loss measured before its update); the ``final_loss``
    given is used only when the training split is empty. ``best_loss`` is kept as given (the
    lowest loss a step reported). A landscape has no splits: f at the kept point (noise-free)
    and the point itself."""
    if data.task == "landscape":
        w = params["w"]
        return {"final_loss": _loss(model, params, data.X_val, data.y_val),
                "best_loss": best_loss, "final_x": float(w[0]), "final_y": float(w[1])}
    out: Metrics = {}
    kept, train_predicted = final_loss, None
    if len(data.y_train):  # one pass over the training split for its loss and its metric
        kept, train_predicted = _loss_and_predict(model, params, data.X_train, data.y_train)
    for split in SPLITS:
        out.update(split_metrics(model, params, data, split,
                                 train_predicted if split == "train" else None))
    out["final_loss"], out["best_loss"] = kept, best_loss
    return out


def _loss_and_predict(model: Model, params: Params, X: np.ndarray, y: np.ndarray
                      ) -> tuple[float | None, np.ndarray]:
    """The loss (None when not finite) and the predictions, from one forward pass where the
    model offers it (a full CIFAR-10 training split is 150 GFLOP through a 512-unit MLP)."""
    both = getattr(model, "loss_and_predict", None)
    with np.errstate(all="ignore"):
        if both is not None:
            value, predicted = both(params, X, y)
        else:
            value, predicted = model.loss(params, X, y), model.predict(params, X)
    return _finite(float(value)), predicted


def _loss(model: Model, params: Params, X: np.ndarray, y: np.ndarray) -> float | None:
    """The loss of ``params`` on (X, y); None when not finite (diverged weights), quietly."""
    with np.errstate(all="ignore"):
        value = float(model.loss(params, X, y))
    return _finite(value)


# --------------------------------------------------------------------------- ranking runs
# Choose on validation, report test once: a comparison, `runs list` and metric.png rank runs
# by the validation metric; the test metric is shown beside it and never sorted on by default.

RANK_KEYS = ("val_accuracy", "val_r2")  # in order of preference; else final_loss
REPORT_KEYS = ("test_accuracy", "test_r2")  # the figure reported for the chosen run
NO_VALIDATION = "final_loss"  # ranks runs without a validation split (and landscapes)
HIGHER_IS_BETTER = ("_accuracy", "_r2")

_SPLIT_METRICS = {"classification": ("accuracy",), "regression": ("r2", "rmse", "mae")}
_LOSSES = ("final_loss", "best_loss")


def higher_is_better(key: str) -> bool:
    """Accuracy and R² are better higher; losses, RMSE, MAE (and coordinates) lower."""
    return key.endswith(HIGHER_IS_BETTER)


def rank_metric(metrics: Metrics) -> tuple[str, float | None, bool]:
    """(key, value, higher_is_better) of the number a run is chosen by: its validation accuracy,
    else its validation R², else (no validation split, or a landscape) its final loss."""
    for key in RANK_KEYS:
        if metrics.get(key) is not None:
            return key, metrics[key], True
    return NO_VALIDATION, metrics.get(NO_VALIDATION), False


def report_metric(metrics: Metrics) -> str | None:
    """The key of the figure reported for a run once it is chosen: its test accuracy or test R²
    (None for a landscape, which has no test split)."""
    return next((key for key in REPORT_KEYS if key in metrics), None)


def metric_names(task: str) -> tuple[str, ...]:
    """Every metric key a run of this task has in its result ("classification", "regression",
    "landscape")."""
    if task == "landscape":
        return (*_LOSSES, "final_x", "final_y")
    return (*(f"{split}_{name}" for name in _SPLIT_METRICS[task] for split in SPLITS), *_LOSSES)


def task_of(source: str) -> str:
    """The task of a ``data.source``: classification, regression or landscape."""
    from dlcli.config import IMAGE_SOURCES, TABLE_SOURCES

    if source in IMAGE_SOURCES:
        return "classification"
    return "regression" if source in TABLE_SOURCES else "landscape"
