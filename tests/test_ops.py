"""The naive tensor operations against numpy, their shape errors, check, bench and the examples."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dlcli.errors import DlcliError, UsageError
from dlcli.ops import bench as ops_bench
from dlcli.ops import examples as ops_examples
from dlcli.ops import operations as ops
from dlcli.ops.operations import (
    OPS,
    ShapeError,
    broadcast_shape,
    naive_add,
    naive_add_matrix_and_vector,
    naive_matrix_dot,
    naive_maximum,
    naive_relu,
    naive_reshape,
    naive_vector_dot,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def quick_timings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests check what bench reports, not how well it times: skip the extra timing rounds.
    monkeypatch.setattr(ops_bench, "_MIN_TOTAL", 0.0)


def _cases() -> list[tuple[str, Any]]:
    rng = np.random.default_rng(1)
    return [(name, args) for name, op in OPS.items() for args in op.check_cases(rng)]


@pytest.mark.parametrize(("name", "args"), _cases())
def test_each_naive_op_matches_numpy(name: str, args: Any) -> None:
    op = OPS[name]
    naive_out, numpy_out = op.naive(*args), op.numpy(*args)
    assert np.shape(naive_out) == np.shape(numpy_out)
    np.testing.assert_allclose(naive_out, numpy_out, rtol=1e-12, atol=1e-12)


def test_relu_known_answer_and_input_untouched() -> None:
    x = np.array([[-1.0, 2.0], [0.5, -3.0]])
    before = x.copy()
    np.testing.assert_array_equal(naive_relu(x), [[0.0, 2.0], [0.5, 0.0]])
    np.testing.assert_array_equal(x, before)


def test_add_and_add_matrix_and_vector_known_answers() -> None:
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(naive_add(x, x), 2 * x)
    np.testing.assert_array_equal(
        naive_add_matrix_and_vector(x, np.array([10.0, 20.0, 30.0])),
        [[10.0, 21.0, 32.0], [13.0, 24.0, 35.0]],
    )


def test_dots_known_answers() -> None:
    assert naive_vector_dot(np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])) == 32.0
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(naive_matrix_dot(x, x), [[7.0, 10.0], [15.0, 22.0]])


def test_maximum_broadcasts_the_lectures_example(rng: np.random.Generator) -> None:
    x = rng.random((64, 3, 32, 10))
    y = rng.random((32, 10))
    z = naive_maximum(x, y)
    assert z.shape == (64, 3, 32, 10)
    np.testing.assert_array_equal(z, np.maximum(x, y))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((64, 3, 32, 10), (32, 10), (64, 3, 32, 10)),
        ((32, 10), (64, 3, 32, 10), (64, 3, 32, 10)),
        ((4, 1, 3), (5, 1), (4, 5, 3)),
        ((3,), (), (3,)),
        ((1,), (2, 1), (2, 1)),
    ],
)
def test_broadcast_shape_follows_numpy(
    a: tuple[int, ...], b: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    assert broadcast_shape(a, b) == expected == np.broadcast_shapes(a, b)


def test_broadcast_shape_names_the_clashing_axis() -> None:
    with pytest.raises(ShapeError, match=r"\(64, 3, 32, 10\) and \(32, 9\): axis -1 has sizes"):
        broadcast_shape((64, 3, 32, 10), (32, 9))


_v, _m, _m23 = np.zeros(3), np.zeros((2, 2)), np.zeros((2, 3))


def _as_any(value: Any) -> Any:
    return value  # lets a test pass a non-array where an array is typed


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: naive_relu(_v), r"naive_relu expects a 2D tensor, got shape \(3,\)"),
        (lambda: naive_relu(_as_any([[1.0]])), "expects a numpy array, got list"),
        (lambda: naive_add(_m, _m23), r"equal shapes, got \(2, 2\) and \(2, 3\)"),
        (lambda: naive_add(_m, _v), r"naive_add expects a 2D tensor, got shape \(3,\)"),
        (lambda: naive_add_matrix_and_vector(_m, _v), r"got \(2, 2\) and \(3,\)"),
        (lambda: naive_add_matrix_and_vector(_m, _m), "expects a 1D tensor"),
        (lambda: naive_vector_dot(_v, np.zeros(4)), r"equal lengths, got \(3,\) and \(4,\)"),
        (lambda: naive_vector_dot(_m, _m), "expects a 1D tensor"),
        (lambda: naive_matrix_dot(_m23, _m23), r"x.shape\[1\] == y.shape\[0\], got \(2, 3\)"),
        (lambda: naive_matrix_dot(_v, _m), "naive_matrix_dot expects a 2D tensor"),
        (lambda: naive_maximum(_m23, _m), r"cannot broadcast shapes \(2, 3\) and \(2, 2\)"),
        (lambda: naive_maximum(_m, _as_any(1.0)), "expects a numpy array, got float"),
        (lambda: naive_reshape(_m23, (4, 2)), r"cannot reshape \(2, 3\) \(6 entries\)"),
    ],
)
def test_bad_shapes_raise_a_clear_usage_error(call: Any, message: str) -> None:
    with pytest.raises(ShapeError, match=message) as info:
        call()
    assert isinstance(info.value, DlcliError) and info.value.exit_code == 2
    assert "\n" not in str(info.value)


def test_check_passes_and_covers_the_lectures_shapes(rng: np.random.Generator) -> None:
    rows = ops.check(rng)
    assert rows and all(r.passed for r in rows)
    assert {r.op for r in rows} == set(OPS)
    lecture = [r for r in rows if r.shapes == "(64, 3, 32, 10), (32, 10)"]
    assert lecture and lecture[0].out_shape == (64, 3, 32, 10)
    assert any(r.shapes == "(3, 2) -> (6, 1)" for r in rows)


def test_check_reports_a_wrong_naive_op(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = ops.Op(**{**OPS["relu"].__dict__, "naive": lambda x: naive_relu(x) + 1e-3})
    monkeypatch.setitem(OPS, "relu", wrong)
    rows = ops.check(rng, ["relu", "add"])
    assert [r.passed for r in rows if r.op == "relu"] == [False, False]
    assert all(r.passed for r in rows if r.op == "add")
    assert all(r.max_abs_diff == pytest.approx(1e-3) for r in rows if r.op == "relu")


def test_compare_fails_on_a_shape_mismatch() -> None:
    assert ops.compare(np.zeros((2, 1)), np.zeros(2)) == (float("inf"), False)


def test_unknown_op_lists_the_valid_ones(rng: np.random.Generator) -> None:
    with pytest.raises(UsageError, match="unknown operation 'relux'; choose from relu, add"):
        ops.check(rng, ["relux"])


def test_bench_times_every_op_and_size(rng: np.random.Generator) -> None:
    seen: list[ops_bench.BenchRow] = []
    rows = ops_bench.bench(sizes=[8, 4], repeats=1, rng=rng, on_row=seen.append)
    assert [(r.op, r.size) for r in rows] == [(name, n) for name in OPS for n in (4, 8)]
    assert len(seen) == len(rows)
    for r in rows:
        assert r.naive_s is not None and r.naive_s > 0 and r.numpy_s > 0
        assert r.speedup == pytest.approx(r.naive_s / r.numpy_s)
    assert next(r for r in rows if r.op == "matrix_dot" and r.size == 4).shapes == "(4, 4), (4, 4)"


def test_bench_limits_blas_threads_only_while_timing() -> None:
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    seen: list[list[int]] = []
    ops_bench.bench(
        sizes=[2], repeats=1, ops=["matrix_dot"], on_row=lambda r: seen.append(blas_threads())
    )
    assert seen == [[1] * len(before)]
    assert blas_threads() == before
    assert ops_bench.bench(sizes=[2], repeats=1, ops=["add"], blas_threads=None)[0].numpy_s > 0


def test_bench_skips_naive_timings_over_the_budget() -> None:
    rows = ops_bench.bench(sizes=[2, 4], repeats=1, time_budget=1e-9, ops=["add"])
    assert [(r.naive_s, r.speedup) for r in rows] == [(None, None), (None, None)]
    assert all(r.numpy_s > 0 for r in rows)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sizes": []}, "at least one size"),
        ({"sizes": [4, 0]}, r"sizes must be >= 1, got \[4, 0\]"),
        ({"repeats": 0}, "repeats must be >= 1, got 0"),
        ({"time_budget": 0.0}, "budget must be > 0 seconds"),
        ({"blas_threads": 0}, r"BLAS threads must be >= 1 \(or None\), got 0"),
    ],
)
def test_bench_rejects_bad_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ops_bench.bench(**kwargs)


def test_best_time_is_positive() -> None:
    assert ops_bench.best_time(np.add, (np.ones(3), np.ones(3)), repeats=2) > 0


def test_dense_steps_show_each_shape_and_match_the_naive_loops(rng: np.random.Generator) -> None:
    x = rng.standard_normal((4, 3073)).astype(np.float32)
    W, b = ops_examples.init_dense(3073, 5, rng)
    steps = ops_examples.dense_steps(x, W, b)
    assert [s.shape for s in steps] == [(4, 3073), (4, 5), (4, 5), (4, 5)]
    assert steps[1].operands == "(4, 3073) · (3073, 5)"
    assert steps[2].operands == "(4, 5) + (5,)"
    np.testing.assert_allclose(steps[-1].value, np.maximum(x @ W + b, 0.0), rtol=1e-5, atol=1e-5)
    assert (steps[-1].value >= 0).all()
    # float32 sums in a different order: close, not equal.
    assert all(s.max_abs_diff < 1e-3 for s in steps)


def test_dense_steps_reject_mismatched_shapes(rng: np.random.Generator) -> None:
    W, b = ops_examples.init_dense(3, 2, rng)
    with pytest.raises(ShapeError, match=r"got \(4, 5\), \(3, 2\), \(2,\)"):
        ops_examples.dense_steps(np.zeros((4, 5)), W, b)


def test_image_examples_round_trip(rng: np.random.Generator) -> None:
    rows = rng.integers(0, 256, (10, 3072), dtype=np.uint8)
    examples = ops_examples.image_examples(rows, batch=4)
    shapes = [e.shape for e in examples]
    assert shapes == [
        (10, 3072), (10, 3, 32, 32), (10, 32, 32, 3), (4, 32, 32, 3), (10, 3072), (10, 3072),
    ]  # fmt: skip
    rows_, first, last, _, back, interleaved = (e.value for e in examples)
    # The CIFAR layout: the first 1024 values are the red plane, row by row.
    np.testing.assert_array_equal(first[2, 0, 5, 7], rows[2, 5 * 32 + 7])
    np.testing.assert_array_equal(
        last[2, 5, 7, :], rows[2, [5 * 32 + 7 + c * 1024 for c in range(3)]]
    )
    np.testing.assert_array_equal(back, rows)
    assert examples[4].note == "equals X: True"
    assert not np.array_equal(interleaved, rows) and "False" in examples[5].note


def test_image_examples_reject_the_bias_column() -> None:
    with pytest.raises(ShapeError, match=r"3\*32\*32 = 3072 columns \(no bias column\)"):
        ops_examples.image_examples(np.zeros((2, 3073)))


def test_vector_and_reshape_examples() -> None:
    vec = ops_examples.vector_examples(np.zeros((5, 2)), ["area", "rooms"])
    assert vec.shape == (5, 2) and vec.axes == "(samples, features: area, rooms)"
    many = ops_examples.vector_examples(np.zeros((5, 6)), list("abcdef"), "T")
    assert many.expression == "T" and many.axes == "(samples, features: a, b, c, d, ... (6 in all))"
    x, six, two, transposed = ops_examples.reshape_examples()
    assert (x.shape, six.shape, two.shape, transposed.shape) == ((3, 2), (6, 1), (2, 3), (20, 300))
    np.testing.assert_array_equal(two.value, [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    np.testing.assert_array_equal(naive_reshape(x.value, (2, 3)), two.value)


def test_dense_on_batch_takes_the_first_rows(rng: np.random.Generator) -> None:
    X = rng.standard_normal((20, 7)).astype(np.float32)
    steps = ops_examples.dense_on_batch(X, batch=3, units=2, seed=5)
    np.testing.assert_array_equal(steps[0].value, X[:3])
    assert steps[-1].shape == (3, 2) and steps[-1].value.dtype == np.float32
    again = ops_examples.dense_on_batch(X, batch=3, units=2, seed=5)
    np.testing.assert_array_equal(again[-1].value, steps[-1].value)
    with pytest.raises(UsageError, match="--batch 21 is more than the 20 samples"):
        ops_examples.dense_on_batch(X, batch=21, units=2, seed=5)
    with pytest.raises(UsageError, match="must be >= 1, got 3 and 0"):
        ops_examples.dense_on_batch(X, batch=3, units=0, seed=5)
