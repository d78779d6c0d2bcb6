"""A description of a loaded Dataset as tensors, for ``dlcli data info``."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcli.config import Config
from dlcli.data import Dataset

SPLITS = ("train", "val", "test")


def describe(data: Dataset, cfg: Config) -> dict[str, Any]:
    out: dict[str, Any] = {
        "source": cfg.data.source,
        "task": data.task,
        "splits": {s: _split(data, s) for s in SPLITS},
    }
    if data.task == "classification":
        names = data.info.get("class_names") or [str(k) for k in range(data.num_classes)]
        out["classes"] = names
        out["class_counts"] = {s: np.bincount(getattr(data, f"y_{s}"),
                                              minlength=data.num_classes).tolist()
                               for s in SPLITS}
    elif data.task == "regression":
        out["target"] = _target(data)
        out["feature_names"] = data.feature_names
        # what the CSV held but is not a feature, and the rows data.drop_invalid left out
        out["ignored_columns"] = list(data.info.get("ignored_columns") or [])
        out["rows_dropped"] = int(data.info.get("n_dropped") or 0)
    else:  # a landscape: no samples, a 2-D function of the parameters
        out["landscape"] = {k: data.info.get(k) for k in ("function", "start", "gradient_noise")}
    if "image_shape" in data.info:
        out["image_views"] = _image_views(data)
    return out


def _split(data: Dataset, split: str) -> dict[str, Any]:
    X, y = getattr(data, f"X_{split}"), getattr(data, f"y_{split}")
    return {"shape": list(X.shape), "dtype": str(X.dtype), "bytes": int(X.nbytes + y.nbytes),
            "y_shape": list(y.shape), "y_dtype": str(y.dtype)}


def _target(data: Dataset) -> dict[str, Any]:
    info = data.info
    target = {"name": "log(price)" if info.get("log_target") else "price",
              "standardized_with": {"mean": info.get("target_mean"), "std": info.get("target_std")}}
    if "price" in info:
        target["price"] = info["price"]
    return target


def _image_views(data: Dataset) -> dict[str, Any]:
    """One row as the lecture draws it: 3072 values = 3 planes of 32x32, channels first, or
    transposed to channels last; the bias feature sits after them."""
    row = data.X_train[0, :3072] if len(data.X_train) else np.zeros(3072, np.float32)
    chw = row.reshape(3, 32, 32)
    hwc = chw.transpose(1, 2, 0)
    return {
        "row": list(data.X_train.shape[1:]),
        "channels_first": list(chw.shape),
        "channels_last": list(hwc.shape),
        "batch_channels_last": [len(data.X_train), *hwc.shape],
        "pixel_0_0_rgb": [round(float(v), 2) for v in hwc[0, 0]],
        "bias_column": int(data.X_train.shape[1] - 1),
    }
