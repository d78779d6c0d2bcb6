"""The tensor operations a Dense layer ``relu(dot(x, W) + b)`` is made of, from first principles.

Each naive operation is written the way the lecture writes it (plain Python loops over indices,
the same shape checks) and sits beside its numpy equivalent. Bad shapes raise :class:`ShapeError`
with a one-line message naming the shapes, never an ``assert``. ``check`` compares every naive
operation with numpy, ``bench`` times both, ``dense_steps`` runs one Dense layer step by step and
the ``*_examples`` build the lecture's data-tensor examples. Pure computation: no printing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcli.errors import UsageError


class ShapeError(UsageError):
    """Tensors whose shapes an operation cannot combine (a user's mistake, so exit code 2)."""


# ---------------------------------------------------------------------------------------------
# The naive operations, loop for loop as in the lecture.


def _require(fn: str, x: Any, ndim: int | None = None) -> None:
    if not isinstance(x, np.ndarray):
        raise ShapeError(f"{fn} expects a numpy array, got {type(x).__name__}")
    if ndim is not None and x.ndim != ndim:
        raise ShapeError(f"{fn} expects a {ndim}D tensor, got shape {x.shape}")


def naive_relu(x: np.ndarray) -> np.ndarray:
    """Element-wise ``max(x, 0)``; x (N, D) -> (N, D). numpy: ``np.maximum(x, 0.)``."""
    _require("naive_relu", x, 2)
    x = x.copy()  # never overwrite the caller's tensor
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[i, j] = max(x[i, j], 0)
    return x


def naive_add(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Element-wise sum; x (N, D), y (N, D) -> (N, D). numpy: ``x + y``."""
    _require("naive_add", x, 2)
    _require("naive_add", y, 2)
    if x.shape != y.shape:
        raise ShapeError(f"naive_add needs equal shapes, got {x.shape} and {y.shape}")
    x = x.copy()
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[i, j] += y[i, j]
    return x


def naive_add_matrix_and_vector(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Add y to every row of x (broadcasting); x (N, D), y (D,) -> (N, D). numpy: ``x + y``."""
    _require("naive_add_matrix_and_vector", x, 2)
    _require("naive_add_matrix_and_vector", y, 1)
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
    _require("naive_vector_dot", x, 1)
    _require("naive_vector_dot", y, 1)
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
    _require("naive_matrix_dot", x, 2)
    _require("naive_matrix_dot", y, 2)
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
    _require("naive_maximum", x)
    _require("naive_maximum", y)
    shape = broadcast_shape(x.shape, y.shape)
    z = np.empty(shape, dtype=np.result_type(x, y))
    for index in np.ndindex(*shape):
        z[index] = max(x[_source_index(index, x.shape)], y[_source_index(index, y.shape)])
    return z


def naive_reshape(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Copy the entries in row-major order into a new shape with as many entries.

    x (3, 2), shape (6, 1) -> (6, 1). numpy: ``x.reshape(shape)`` (a view, no copy at all).
    """
    _require("naive_reshape", x)
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


# ---------------------------------------------------------------------------------------------
# bench: naive loops vs numpy over growing sizes, within a time budget.

DEFAULT_SIZES = (16, 32, 64, 128, 256)
_SLOW = 0.25  # seconds: one call this slow is timed once; its noise is negligible
_MIN_ROUND = 0.005  # seconds: fast calls are looped so one timing round lasts at least this
# Fast calls get extra rounds up to this many seconds: on a busy machine a BLAS call can wait a
# whole scheduler slice for a thread, and more rounds give a quiet one a chance to show.
_MIN_TOTAL = 0.05


@dataclass(frozen=True)
class BenchRow:
    op: str
    size: int
    shapes: str
    naive_s: float | None  # seconds per call; None when skipped to stay within the budget
    numpy_s: float

    @property
    def speedup(self) -> float | None:
        return None if self.naive_s is None else self.naive_s / self.numpy_s


def best_time(fn: Callable[..., Any], args: Args, repeats: int) -> float:
    """Best-of-``repeats`` seconds per call of ``fn(*args)``, measured with perf_counter."""
    start = time.perf_counter()
    fn(*args)
    best = time.perf_counter() - start
    if best >= _SLOW:
        return best
    number = max(1, int(_MIN_ROUND / max(best, 1e-9)))
    rounds, spent = 0, 0.0
    while rounds < repeats or (spent < _MIN_TOTAL and rounds < 20 * repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn(*args)
        elapsed = time.perf_counter() - start
        best, spent, rounds = min(best, elapsed / number), spent + elapsed, rounds + 1
    return best


def _expected_cost(seconds_per_call: float, repeats: int) -> float:
    # Mirrors best_time: one call when slow, else a first call plus the timing rounds.
    if seconds_per_call >= _SLOW:
        return seconds_per_call
    return seconds_per_call + max(repeats * max(seconds_per_call, _MIN_ROUND), _MIN_TOTAL)


def _validate_bench(
    sizes: Sequence[int], repeats: int, time_budget: float, blas_threads: int | None
) -> None:
    if not sizes:
        raise UsageError("bench needs at least one size")
    if any(n < 1 for n in sizes):
        raise UsageError(f"bench sizes must be >= 1, got {list(sizes)}")
    if repeats < 1:
        raise UsageError(f"bench repeats must be >= 1, got {repeats}")
    if time_budget <= 0:
        raise UsageError(f"bench time budget must be > 0 seconds, got {time_budget}")
    if blas_threads is not None and blas_threads < 1:
        raise UsageError(f"bench BLAS threads must be >= 1 (or None), got {blas_threads}")


def bench(
    sizes: Sequence[int] = DEFAULT_SIZES,
    repeats: int = 5,
    time_budget: float = 25.0,
    ops: Sequence[str] | None = None,
    rng: np.random.Generator | None = None,
    on_row: Callable[[BenchRow], None] | None = None,
    blas_threads: int | None = 1,
) -> list[BenchRow]:
    """Time every operation's naive loops and numpy twin at each size n (see ``Op.bench_inputs``).

    Sizes run smallest first across all operations; a naive timing whose predicted cost (from the
    previous size and the operation's work exponent) would overrun ``time_budget`` seconds is
    skipped, together with the larger sizes of that operation. Rows come back by operation, size.

    ``blas_threads`` caps numpy's BLAS threads while timing (None: numpy's default). One thread
    compares like with like, as the loops use one core, and it avoids a trap on small machines:
    a BLAS worker left idle through a long Python loop cost 10-25 ms per np.dot here (2 vCPUs).
    """
    _validate_bench(sizes, repeats, time_budget, blas_threads)
    names = list(ops) if ops is not None else list(OPS)
    for name in names:
        get_op(name)  # an unknown name fails before any timing starts
    rng = rng if rng is not None else np.random.default_rng(0)
    with _blas_limit(blas_threads):
        rows = _time_all(sorted(set(sizes)), names, repeats, time_budget, rng, on_row)
    return sorted(rows, key=lambda r: (names.index(r.op), r.size))


def _blas_limit(threads: int | None) -> AbstractContextManager[Any]:
    if threads is None:
        return nullcontext()
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    return threadpool_limits(limits=threads, user_api="blas")


def _time_all(
    sizes: Sequence[int],
    names: Sequence[str],
    repeats: int,
    time_budget: float,
    rng: np.random.Generator,
    on_row: Callable[[BenchRow], None] | None,
) -> list[BenchRow]:
    start = time.perf_counter()
    last: dict[str, tuple[int, float]] = {}  # op -> (size, naive seconds) of its last timing
    skipped: set[str] = set()
    rows: list[BenchRow] = []
    for n in sizes:
        for name in names:
            op = OPS[name]
            args = op.bench_inputs(n, rng)
            naive_s = None
            if name not in skipped:
                n0, t0 = last.get(name, (n, 0.0))
                predicted = _expected_cost(t0 * (n / n0) ** op.work_exponent, repeats)
                if time.perf_counter() - start + predicted <= time_budget:
                    naive_s = best_time(op.naive, args, repeats)
                    last[name] = (n, naive_s)
                else:
                    skipped.add(name)
            numpy_s = best_time(op.numpy, args, repeats)
            rows.append(BenchRow(name, n, describe_args(args), naive_s, numpy_s))
            if on_row is not None:
                on_row(rows[-1])
    return rows


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
    _require("dense_on_batch", X, 2)
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
    _require("dense_steps", x, 2)
    _require("dense_steps", W, 2)
    _require("dense_steps", b, 1)
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
    _require("image_examples", rows, 2)
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
    _require("vector_examples", table, 2)
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
