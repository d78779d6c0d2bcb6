"""One Dense layer step by step, and the lecture's data-tensor examples built from our data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcli.errors import UsageError
from dlcli.ops.operations import (
    ShapeError,
    compare,
    naive_add_matrix_and_vector,
    naive_matrix_dot,
    naive_relu,
    require_ndim,
)

# ---------------------------------------------------------------------------------------------
# One Dense layer, step by step, with numpy and with the naive loops.


@dataclass(frozen=True)
class DenseStep:
    name: str
    numpy_expr: str
    naive_expr: str
    operands: str  # the shapes going in, e.g. "(8, 3073) · (3073, 16)"
    value: np.ndarray
    naive_value: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)

    @property
    def max_abs_diff(self) -> float:
        return compare(self.naive_value, self.value)[0]


def init_dense(
    n_in: int, units: int, rng: np.random.Generator, dtype: Any = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """He-initialised W (n_in, units) and a small random b (units,), so the broadcast shows."""
    W = rng.standard_normal((n_in, units)) * np.sqrt(2.0 / n_in)
    b = rng.standard_normal(units) * 0.1
    return W.astype(dtype), b.astype(dtype)


def dense_on_batch(X: np.ndarray, batch: int, units: int, seed: int) -> list[DenseStep]:
    """The first ``batch`` rows of X (N, D) through a fresh Dense layer of ``units`` units.

    W and b are drawn from ``seed``, in X's dtype; returns ``dense_steps`` of x (batch, D).
    """
    require_ndim("dense_on_batch", X, 2)
    if batch < 1 or units < 1:
        raise UsageError(f"--batch and --units must be >= 1, got {batch} and {units}")
    if batch > X.shape[0]:
        raise UsageError(f"--batch {batch} is more than the {X.shape[0]} samples available")
    W, b = init_dense(X.shape[1], units, np.random.default_rng(seed), X.dtype)
    return dense_steps(X[:batch], W, b)


def dense_steps(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> list[DenseStep]:
    """``relu(dot(x, W) + b)`` one operation at a time; x (N, D), W (D, U), b (U,) -> (N, U).

    The naive column chains the naive loops on their own results, so its last difference is the
    whole layer's.
    """
    require_ndim("dense_steps", x, 2)
    require_ndim("dense_steps", W, 2)
    require_ndim("dense_steps", b, 1)
    if x.shape[1] != W.shape[0] or W.shape[1] != b.shape[0]:
        raise ShapeError(
            f"dense layer needs x (N, D), W (D, U), b (U,), got {x.shape}, {W.shape}, {b.shape}"
        )
    h, h_naive = np.dot(x, W), naive_matrix_dot(x, W)
    z, z_naive = h + b, naive_add_matrix_and_vector(h_naive, b)
    out, out_naive = np.maximum(z, 0.0), naive_relu(z_naive)
    return [
        DenseStep("input", "x", "x", str(x.shape), x, x),
        DenseStep("dot", "h = np.dot(x, W)", "naive_matrix_dot(x, W)",
                  f"{x.shape} · {W.shape}", h, h_naive),
        DenseStep("+ b", "z = h + b", "naive_add_matrix_and_vector(h, b)",
                  f"{h.shape} + {b.shape}", z, z_naive),
        DenseStep("relu", "out = np.maximum(z, 0.)", "naive_relu(z)", str(z.shape),
                  out, out_naive),
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The lecture's data-tensor examples, built from our data.


@dataclass(frozen=True)
class TensorExample:
    name: str
    expression: str
    axes: str
    value: np.ndarray
    note: str = ""

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)


def image_examples(
    rows: np.ndarray, image_shape: tuple[int, int, int] = (32, 32, 3), batch: int = 128
) -> list[TensorExample]:
    """CIFAR rows (N, C*H*W) as image tensors and flattened back; image_shape is (H, W, C).

    Rows are in the official CIFAR layout: one row-major H*W plane per channel (all red, then
    all green, then all blue), so a reshape gives channels first and a transpose channels last.
    """
    require_ndim("image_examples", rows, 2)
    height, width, channels = image_shape
    if rows.shape[1] != height * width * channels:
        raise ShapeError(
            f"image rows need {channels}*{height}*{width} = {height * width * channels} columns "
            f"(no bias column), got shape {rows.shape}"
        )
    n = rows.shape[0]
    first = rows.reshape(n, channels, height, width)
    last = first.transpose(0, 2, 3, 1)
    back, interleaved = first.reshape(n, -1), last.reshape(n, -1)
    same = f"equals X: {np.array_equal(back, rows)}"
    return [
        TensorExample("image rows", "X", "(samples, channels*height*width)", rows),
        TensorExample("images, channels first",
                      f"X_cf = X.reshape({n}, {channels}, {height}, {width})",
                      "(samples, channels, height, width)", first),
        TensorExample("images, channels last", "images = X_cf.transpose(0, 2, 3, 1)",
                      "(samples, height, width, channels)", last),
        TensorExample("a batch", f"images[:{batch}]", "(batch, height, width, channels)",
                      last[:batch]),
        TensorExample("flattened back", f"X_cf.reshape({n}, -1)", f"(samples, {rows.shape[1]})",
                      back, same),
        TensorExample("flattened channels last", f"images.reshape({n}, -1)",
                      f"(samples, {rows.shape[1]})", interleaved,
                      f"equals X: {np.array_equal(interleaved, rows)} (pixels interleaved)"),
    ]  # fmt: skip


def vector_examples(
    table: np.ndarray, feature_names: Sequence[str] | None = None, expression: str = "X"
) -> TensorExample:
    """A table as the lecture's vector data: X (samples, features), naming a few features."""
    require_ndim("vector_examples", table, 2)
    names = list(feature_names or [])
    shown = ", ".join(names[:4]) + (f", ... ({len(names)} in all)" if len(names) > 4 else "")
    axes = f"(samples, features: {shown})" if names else "(samples, features)"
    return TensorExample("vector data", expression, axes, table)


def reshape_examples() -> list[TensorExample]:
    """The lecture's reshapes (3, 2) -> (6, 1) -> (2, 3) and transpose (300, 20) -> (20, 300)."""
    x = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    return [
        TensorExample("x", "np.array([[0., 1.], [2., 3.], [4., 5.]])", "", x),
        TensorExample("reshape", "x.reshape((6, 1))", "", x.reshape((6, 1))),
        TensorExample("reshape", "x.reshape((2, 3))", "", x.reshape((2, 3))),
        TensorExample("transpose", "np.transpose(np.zeros((300, 20)))", "",
                      np.transpose(np.zeros((300, 20)))),
    ]  # fmt: skip
