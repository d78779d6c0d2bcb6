"""Preprocessing shared by the image sources: float32, mean image of the training split, bias.

Shapes: raw rows ``(N, 3072)`` uint8 in the CIFAR layout -> features ``(N, 3073)`` float32.
"""

from __future__ import annotations

import numpy as np


def mean_image(x_train: np.ndarray) -> np.ndarray:
    """The per-pixel mean of the training rows, ``(3072,)`` float32 (float64 accumulation)."""
    return x_train.mean(axis=0, dtype=np.float64).astype(np.float32)


def images_to_features(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``(N, 3072)`` uint8 -> ``(N, 3073)``: float32, minus the mean image, then a column of ones.

    The last column is the bias trick: ``dot(x, W)`` with W ``(3073, C)`` includes ``+ b``.
    Written into one preallocated array so a 49,000-row split needs no float64 temporaries.
    """
    n, d = x.shape
    out = np.empty((n, d + 1), dtype=np.float32)
    np.subtract(x, mean, out=out[:, :d], dtype=np.float32)
    out[:, d] = 1.0
    return out
