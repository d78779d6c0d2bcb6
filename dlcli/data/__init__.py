"""Data sources: each turns a validated ``DataConfig`` into a ready-to-train :class:`Dataset`.

Shapes: ``X_* (N, D)`` float32 feature rows (images already mean-subtracted with the bias
column appended, tables standardized); ``y_*`` int64 class labels ``(N,)`` for classification
or float32 targets ``(N,)`` for regression.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Task = Literal["classification", "regression", "landscape"]  # landscape: no data, f(w)


@dataclass
class Dataset:
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: Task = "classification"
    num_classes: int = 0  # 0 for regression and landscapes
    feature_names: list[str] | None = None
    # Source-specific facts: e.g. {"image_shape": (32, 32, 3)} or the target transform.
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_outputs(self) -> int:
        return self.num_classes if self.task == "classification" else 1
