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


def split_metrics(model: Model, params: Params, data: Dataset, split: str) -> Metrics:
    """``{split}_accuracy``, or ``{split}_rmse/_mae/_r2``; None values for an empty split."""
    X, y = _split(data, split)
    if data.task == "classification":
        acc = None if len(y) == 0 else float(np.mean(model.predict(params, X) == y))
        return {f"{split}_accuracy": acc}
    if len(y) == 0:
        return {f"{split}_{k}": None for k in ("rmse", "mae", "r2")}
    from dlcli.data.houses import regression_metrics

    # A diverged model's predictions overflow exp() and the squares: the metric is then
    # reported as null (not finite), without numpy's warnings on the terminal.
    with np.errstate(over="ignore", invalid="ignore"):
        found = regression_metrics(_to_units(y, data), _to_units(model.predict(params, X), data))
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
    A landscape has no splits: f at the kept point (noise-free) and the point itself."""
    if data.task == "landscape":
        w = params["w"]
        value = model.loss(params, data.X_val, data.y_val)
        return {"final_loss": value if np.isfinite(value) else None, "best_loss": best_loss,
                "final_x": float(w[0]), "final_y": float(w[1])}
    out: Metrics = {}
    for split in SPLITS:
        out.update(split_metrics(model, params, data, split))
    out["final_loss"], out["best_loss"] = final_loss, best_loss
    return out


PRIMARY_KEYS = ("test_accuracy", "test_r2")  # in order of preference; else final_loss


def primary_metric(metrics: Metrics) -> tuple[str, float | None]:
    """The one number a run is ranked by: test accuracy, else test R²."""
    for key in PRIMARY_KEYS:
        if key in metrics:
            return key, metrics[key]
    return "final_loss", metrics.get("final_loss")
