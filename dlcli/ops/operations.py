"""The tensor operations a Dense layer ``relu(dot(x, W) + b)`` is made of, from first principles.

Each naive operation is written the way the lecture writes it (plain Python loops over indices,
the same shape checks) and sits beside its numpy equivalent. Bad shapes raise :class:`ShapeError`
with a one-line message naming the shapes, never an ``assert``. ``check`` compares every naive
operation with numpy; ``ops_bench`` times both and ``ops_examples`` runs one Dense layer step by
step and builds the lecture's data-tensor examples. Pure computation: no printing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcli.errors import UsageError


class ShapeError(UsageError):
    """Tensors whose shapes an operation cannot combine (a user's mistake, so exit code 2)."""


# ---------------------------------------------------------------------------------------------
# The naive operations, loop for loop as in the lecture.


def require_ndim(fn: str, x: Any, ndim: int | None = None) -> None:
    if not isinstance(x, np.ndarray):
        raise ShapeError(f"{fn} expects a numpy array, got {type(x).__name__}")
    if ndim is not None and x.ndim != ndim:
        raise ShapeError(f"{fn} expects a {ndim}D tensor, got shape {x.shape}")


def naive_relu(x: np.ndarray) -> np.ndarray:
    """Element-wise ``max(x, 0)``; x (N, D) -> (N, D). numpy: ``np.maximum(x, 0.)``."""
    require_ndim("naive_relu", x, 2)
    x = x.copy()  # never overwrite the caller's tensor
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[i, j] = max(x[i, j], 0)
    return x


def naive_add(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Element-wise sum; x (N, D), y (N, D) -> (N, D). numpy: ``x + y``."""
    require_ndim("naive_add", x, 2)
    require_ndim("naive_add", y, 2)
    if x.shape != y.shape:
        raise ShapeError(f"naive_add needs equal shapes, got {x.shape} and {y.shape}")
    x = x.copy()
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[i, j] += y[i, j]
    return x


def naive_add_matrix_and_vector(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Add y to every row of x (broadcasting); x (N, D), y (D,) -> (N, D). numpy: ``x + y``."""
    require_ndim("naive_add_matrix_and_vector", x, 2)
    require_ndim("naive_add_matrix_and_vector", y, 1)
    if x.shape[1] != y.shape[0]:
        raise ShapeError(
            f"naive_add_matrix_and_vector needs x.shape[1] == y.shape[0], "
            f"got {x.shape} and {y.shape}"
        )
    x = x.copy()
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[i, j] += y[j]
    return x


def naive_vector_dot(x: np.ndarray, y: np.ndarray) -> Any:
    """Dot product of two vectors; x (D,), y (D,) -> scalar. numpy: ``np.dot(x, y)``."""
    require_ndim("naive_vector_dot", x, 1)
    require_ndim("naive_vector_dot", y, 1)
    if x.shape[0] != y.shape[0]:
        raise ShapeError(f"naive_vector_dot needs equal lengths, got {x.shape} and {y.shape}")
    z = 0.0
    for i in range(x.shape[0]):
        z += x[i] * y[i]
    return z


def naive_matrix_dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Matrix product, one vector dot per output entry; x (N, D), y (D, C) -> (N, C).

    numpy: ``np.dot(x, y)``.
    """
    require_ndim("naive_matrix_dot", x, 2)
    require_ndim("naive_matrix_dot", y, 2)
    if x.shape[1] != y.shape[0]:
        raise ShapeError(
            f"naive_matrix_dot needs x.shape[1] == y.shape[0], got {x.shape} and {y.shape}"
        )
    z = np.zeros((x.shape[0], y.shape[1]), dtype=np.result_type(x, y))
    for i in range(x.shape[0]):
        for j in range(y.shape[1]):
            row_x = x[i, :]
            column_y = y[:, j]
            z[i, j] = naive_vector_dot(row_x, column_y)
    return z


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The shape two tensors broadcast to: align on the right, a missing axis or size 1 repeats.

    (64, 3, 32, 10) with (32, 10) -> (64, 3, 32, 10); (4, 1, 3) with (5, 1) -> (4, 5, 3).
    """
    out: list[int] = []
    for k in range(1, max(len(a), len(b)) + 1):
        da = a[-k] if k <= len(a) else 1
        db = b[-k] if k <= len(b) else 1
        if da != db and 1 not in (da, db):
            raise ShapeError(
                f"cannot broadcast shapes {a} and {b}: axis -{k} has sizes {da} and {db}"
            )
        out.append(max(da, db) if 1 in (da, db) else da)
    return tuple(reversed(out))


def _source_index(index: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    # The smaller tensor is virtually repeated: drop the new leading axes, pin size-1 axes to 0.
    tail = index[len(index) - len(shape) :]
    return tuple(0 if size == 1 else i for i, size in zip(tail, shape, strict=True))


def naive_maximum(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Element-wise max with broadcasting, one output entry at a time.

    x (64, 3, 32, 10), y (32, 10) -> (64, 3, 32, 10); any right-aligned compatible shapes.
    numpy: ``np.maximum(x, y)``.
    """
    require_ndim("naive_maximum", x)
    require_ndim("naive_maximum", y)
    shape = broadcast_shape(x.shape, y.shape)
    z = np.empty(shape, dtype=np.result_type(x, y))
    for index in np.ndindex(*shape):
        z[index] = max(x[_source_index(index, x.shape)], y[_source_index(index, y.shape)])
    return z


def naive_reshape(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Copy the entries in row-major order into a new shape with as many entries.

    x (3, 2), shape (6, 1) -> (6, 1). numpy: ``x.reshape(shape)`` (a view, no copy at all).
    """
    require_ndim("naive_reshape", x)
    shape = tuple(shape)
    if any(s < 0 for s in shape) or int(np.prod(shape)) != x.size:
        raise ShapeError(f"cannot reshape {x.shape} ({x.size} entries) into {shape}")
    entries = [x[index] for index in np.ndindex(*x.shape)]
    z = np.empty(shape, dtype=x.dtype)
    for k, index in enumerate(np.ndindex(*shape)):
        z[index] = entries[k]
    return z


# ---------------------------------------------------------------------------------------------
# The registry: each operation with its numpy twin and the inputs to check and time it on.

Args = tuple[Any, ...]


@dataclass(frozen=True)
class Op:
    name: str
    naive: Callable[..., Any]
    numpy: Callable[..., Any]
    numpy_text: str
    check_cases: Callable[[np.random.Generator], list[Args]]  # the lecture's shapes included
    bench_inputs: Callable[[int, np.random.Generator], Args]  # inputs for size n
    work_exponent: int  # naive work grows like n ** work_exponent; predicts the next size's time


def _normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


OPS: dict[str, Op] = {
    op.name: op
    for op in [
        Op("relu", naive_relu, lambda x: np.maximum(x, 0.0), "np.maximum(x, 0.)",
           lambda r: [(_normal(r, 32, 10),), (_normal(r, 1, 7),)],
           lambda n, r: (_normal(r, n, n),), 2),
        Op("add", naive_add, lambda x, y: x + y, "x + y",
           lambda r: [(_normal(r, 32, 10), _normal(r, 32, 10))],
           lambda n, r: (_normal(r, n, n), _normal(r, n, n)), 2),
        Op("add_matrix_and_vector", naive_add_matrix_and_vector, lambda x, y: x + y, "x + y",
           lambda r: [(_normal(r, 32, 10), _normal(r, 10))],
           lambda n, r: (_normal(r, n, n), _normal(r, n)), 2),
        Op("vector_dot", naive_vector_dot, np.dot, "np.dot(x, y)",
           lambda r: [(_normal(r, 100), _normal(r, 100))],
           lambda n, r: (_normal(r, n * n), _normal(r, n * n)), 2),
        Op("matrix_dot", naive_matrix_dot, np.dot, "np.dot(x, y)",
           lambda r: [(_normal(r, 32, 10), _normal(r, 10, 20)), (_normal(r, 8, 3073),
                       _normal(r, 3073, 4))],
           lambda n, r: (_normal(r, n, n), _normal(r, n, n)), 3),
        Op("maximum", naive_maximum, np.maximum, "np.maximum(x, y)",
           lambda r: [(_normal(r, 64, 3, 32, 10), _normal(r, 32, 10)),
                      (_normal(r, 4, 1, 3), _normal(r, 5, 1))],
           lambda n, r: (_normal(r, n, n), _normal(r, n)), 2),
        Op("reshape", naive_reshape, lambda x, s: x.reshape(s), "x.reshape(shape)",
           lambda r: [(_normal(r, 3, 2), (6, 1)), (_normal(r, 6, 1), (2, 3)),
                      (_normal(r, 4, 32, 32, 3), (4, 3072))],
           lambda n, r: (_normal(r, n, n), (n * n, 1)), 2),
    ]
}  # fmt: skip


def describe_args(args: Args) -> str:
    """Shapes of an operation's inputs, e.g. ``(32, 10), (10,)`` or ``(3, 2) -> (6, 1)``."""
    parts = [str(a.shape) if isinstance(a, np.ndarray) else f"-> {tuple(a)}" for a in args]
    return ", ".join(parts).replace(", ->", " ->")


# ---------------------------------------------------------------------------------------------
# check: every naive operation against numpy.


@dataclass(frozen=True)
class CheckRow:
    op: str
    shapes: str
    out_shape: tuple[int, ...]
    max_abs_diff: float
    passed: bool


def compare(naive_out: Any, numpy_out: Any) -> tuple[float, bool]:
    """Max absolute difference and whether it is within float64 round-off of the numpy result."""
    a, b = np.asarray(naive_out, dtype=np.float64), np.asarray(numpy_out, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf"), False
    if a.size == 0:
        return 0.0, True
    diff = float(np.max(np.abs(a - b)))
    # Summation order differs (loops vs BLAS), so allow round-off relative to the magnitude.
    return diff, diff <= 1e-9 * max(1.0, float(np.max(np.abs(b))))


def check(rng: np.random.Generator, ops: Sequence[str] | None = None) -> list[CheckRow]:
    """Run each naive operation and its numpy twin on the same random tensors (float64)."""
    rows = []
    for name in ops if ops is not None else OPS:
        op = get_op(name)
        for args in op.check_cases(rng):
            naive_out, numpy_out = op.naive(*args), op.numpy(*args)
            diff, passed = compare(naive_out, numpy_out)
            rows.append(CheckRow(name, describe_args(args), np.shape(naive_out), diff, passed))
    return rows


def get_op(name: str) -> Op:
    if name not in OPS:
        raise UsageError(f"unknown operation {name!r}; choose from {', '.join(OPS)}")
    return OPS[name]
