"""``dlcli ops`` driven end to end through the real CLI with typer's CliRunner."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from dlcli.cli import app
from dlcli.cli.ops_bench import format_seconds, parse_sizes
from dlcli.errors import UsageError
from dlcli.ops import bench as ops_bench
from dlcli.ops import operations as ops

# Wide enough that rich never wraps a shape across lines.
runner = CliRunner(env={"COLUMNS": "200"})
SMALL = ["--set", "data.num_train=12"]


@pytest.fixture(autouse=True)
def quick_timings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests check what bench reports, not how well it times: skip the extra timing rounds.
    monkeypatch.setattr(ops_bench, "_MIN_TOTAL", 0.0)


def run(*args: str) -> Result:
    return runner.invoke(app, ["ops", *args])


def test_ops_without_a_command_shows_the_commands() -> None:
    result = run()
    for command in ("check", "bench", "dense", "shapes"):
        assert command in result.output


def test_check_passes_and_prints_the_table() -> None:
    result = run("check")
    assert result.exit_code == 0, result.output
    assert "(64, 3, 32, 10), (32, 10)" in result.stdout
    assert "np.maximum(x, 0.)" in result.stdout and "naive_add_matrix_and_vector" in result.stdout
    assert "FAIL" not in result.stdout
    assert "all 12 checks passed" in result.stderr


def test_check_exits_1_on_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    def off_by_one(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return ops.naive_add(x, y) + 1.0

    broken = ops.Op(**{**ops.OPS["add"].__dict__, "naive": off_by_one})
    monkeypatch.setitem(ops.OPS, "add", broken)
    result = run("check")
    assert result.exit_code == 1
    assert "FAIL" in result.stdout and "1.0e+00" in result.stdout
    assert "1 of 12 checks failed" in result.stderr


def test_bench_with_tiny_sizes_writes_csv_and_png(tmp_path: Path) -> None:
    csv_path, png_path = tmp_path / "bench.csv", tmp_path / "bench.png"
    result = run("bench", "--sizes", "4,8", "--sizes", "2", "--repeats", "1",
                 "--csv", str(csv_path), "--plot", str(png_path))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "speedup" in result.stdout and "matrix_dot" in result.stdout
    with csv_path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(ops.OPS) * 3
    assert {int(r["size"]) for r in rows} == {2, 4, 8}
    assert all(float(r["speedup"]) > 0 for r in rows)
    assert png_path.read_bytes().startswith(b"\x89PNG")


def test_bench_one_operation_reports_skips_over_budget() -> None:
    # The naive 512 x 512 product is predicted from n=4 at about a minute: over a 1 s budget.
    result = run("bench", "--op", "matrix_dot", "--sizes", "4,512", "--repeats", "1",
                 "--budget", "1", "--blas-threads", "0")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "matrix_dot" in result.stdout and "relu" not in result.stdout
    assert "(512, 512), (512, 512)" in result.stdout and "skipped" in result.stdout
    assert "would have overrun --budget 1s" in result.stderr
    assert "numpy with numpy's default BLAS threads" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sizes", "4,x"], "--sizes: expected positive integers like 16,32,64, got 'x'"),
        (["--sizes", "0"], "got '0'"),
        (["--op", "conv", "--sizes", "2"], "unknown operation 'conv'; choose from relu"),
        (["--sizes", "2", "--csv", "no/such/dir/b.csv"], "the folder no/such/dir does not exist"),
    ],
)
def test_bench_bad_usage_exits_2_with_one_line(args: list[str], message: str) -> None:
    result = run("bench", "--repeats", "1", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_dense_shows_each_step_shape() -> None:
    result = run("dense", *SMALL, "--batch", "4", "--units", "3")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "(4, 3073) · (3073, 3) -> (4, 3)" in out
    assert "(4, 3) + (3,) -> (4, 3)" in out
    assert "naive_matrix_dot(x, W)" in out and "naive_relu(z)" in out
    assert "X_train (12, 3073) float32" in result.stderr


def test_dense_reads_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text("data:\n  num_train: 10\n  num_val: 0\n  num_test: 1\n", encoding="utf-8")
    result = run("dense", "--config", str(path), "--batch", "2", "--units", "2")
    assert result.exit_code == 0, result.output
    assert "(2, 3073) · (3073, 2) -> (2, 2)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch", "13"], "--batch 13 is more than the 12 samples available"),
        (["--set", "data.num_train=-1"], "data.num_train"),
        (["--config", "missing.yaml"], "missing.yaml: no such file"),
    ],
)
def test_dense_bad_usage_exits_2(args: list[str], message: str) -> None:
    result = run("dense", *SMALL, *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_shapes_prints_the_lectures_tensors() -> None:
    result = run("shapes", *SMALL)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for shape in ("(12, 3072)", "(12, 3, 32, 32)", "(12, 32, 32, 3)", "(6, 1)", "(2, 3)"):
        assert shape in out
    assert "(samples, height, width, channels)" in out and "equals X: True" in out
    # Vector data from the built-in synthetic house table, whatever the configured images.
    assert "vector data" in out and "X_train (houses-synthetic)" in out and "sale_year" in out


def test_parse_sizes_and_format_seconds() -> None:
    assert parse_sizes(["16, 32", "64"]) == [16, 32, 64]
    with pytest.raises(UsageError):
        parse_sizes([""])
    assert [format_seconds(s) for s in (2.5, 0.0125, 3e-6, 5e-8, None)] == [
        "2.5 s", "12.5 ms", "3 µs", "50 ns", "skipped",
    ]  # fmt: skip


def test_dense_and_shapes_on_the_house_table() -> None:
    houses = ["--set", "data.source=houses-synthetic", *SMALL]
    shapes = run("shapes", *houses)
    assert shapes.exit_code == 0, shapes.output
    assert "vector data from houses-synthetic" in shapes.stdout
    assert re.search(r"\(12, \d+\)", shapes.stdout) and "image data" not in shapes.stdout
    dense = run("dense", *houses, "--batch", "3", "--units", "2")
    assert dense.exit_code == 0, dense.output
    assert re.search(r"\(3, (\d+)\) · \(\1, 2\) -> \(3, 2\)", dense.stdout)
    assert "bias trick" not in dense.stderr


def test_the_help_lists_every_operation():
    from dlcli.cli.ops_bench import OP_NAMES
    from dlcli.ops.operations import OPS

    assert list(OP_NAMES) == list(OPS)


def test_dense_on_a_landscape_and_bench_to_a_missing_folder_are_refused_at_once(tmp_path):
    from typer.testing import CliRunner

    from dlcli.cli import app

    res = CliRunner().invoke(app, ["ops", "dense", "--set", "data.source=landscape"])
    # the built-in config's split sizes do not apply to a landscape: refused either way
    assert res.exit_code == 2 and ("landscape has none" in res.output
                                   or "not to landscape" in res.output)
    assert len(res.output.strip().splitlines()) == 1
    res = CliRunner().invoke(app, ["ops", "bench", "--csv", str(tmp_path / "no" / "x.csv"),
                                   "--budget", "1000"])
    assert res.exit_code == 2 and "does not exist" in res.output
    assert "timings in" not in res.output  # refused before timing anything
