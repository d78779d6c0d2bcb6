"""Preprocessing shared by the image sources: float32, mean image of the training split, bias.

Shapes: raw rows ``(N, 3072)`` uint8 in the CIFAR layout -> features ``(N, 3073)`` float32.
"""

from __future__ import annotations

import numpy as np


def mean_image(x_train: np.ndarray) -> np.ndarray:
    """The per-pixel mean of the training rows, ``(3072,)`` float32 (float64 accumulation)."""
    return x_train.mean(axis=0, dtype=np.float64).astype(np.float32)


def pixel_std(x_train: np.ndarray, mean: np.ndarray) -> float:
    """One number: the standard deviation of the training pixels around the mean image."""
    total = 0.0
    for start in range(0, x_train.shape[0], 4096):  # bounded float64 temporaries
        d = x_train[start:start + 4096] - mean.astype(np.float64)
        total += float(np.einsum("ij,ij->", d, d))
    return float(np.sqrt(total / max(x_train.size, 1))) or 1.0


def images_to_features(x: np.ndarray, mean: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``(N, 3072)`` uint8 -> ``(N, 3073)``: float32, minus the mean image, divided by
    ``scale`` (1: raw pixel units, as CS231n's linear classifiers use), then a column of ones.

    The last column is the bias trick: ``dot(x, W)`` with W ``(3073, C)`` includes ``+ b``.
    Written into one preallocated array so a 49,000-row split needs no float64 temporaries.
    """
    n, d = x.shape
    out = np.empty((n, d + 1), dtype=np.float32)
    np.subtract(x, mean, out=out[:, :d], dtype=np.float32)
    if scale != 1.0:
        out[:, :d] *= np.float32(1.0 / scale)
    out[:, d] = 1.0
    return out
