"""``dlcli ops``: see, check and time the tensor operations a Dense layer is made of.

Thin commands: parse options, call :mod:`dlcli.ops.operations` (pure computation) and the
API, print rich tables on stdout (progress and notes on stderr). numpy, the ops module and
matplotlib are imported inside the commands so ``dlcli --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich import box
from rich.table import Table

from dlcli.cli.common import SetOpt, err_console, guarded, out_console
from dlcli.errors import UsageError

if TYPE_CHECKING:
    from dlcli.config import Config
    from dlcli.data import Dataset
    from dlcli.ops.examples import DenseStep, TensorExample
    from dlcli.ops.operations import Op

T = TypeVar("T")

ops_app = typer.Typer(
    help="The tensor operations of a Dense layer relu(dot(x, W) + b): naive loops vs numpy.",
    no_args_is_help=True,
)


def _register_bench() -> None:
    from dlcli.cli.ops_bench import bench

    ops_app.command()(bench)




# A small built-in data set when no --config is given: enough rows for a batch, generated fast.
DEFAULT_DATA = {"data": {"num_train": 256, "num_val": 0, "num_test": 1}}

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="A YAML config whose data to use (default: built-in)."),
]




def _load_config(path: Path | None, sets: list[str] | None) -> Config:
    from dlcli.config import TABLE_SOURCES, apply_sets, load_config, validate

    if path is not None:
        return load_config(path, sets or [])
    raw = apply_sets(DEFAULT_DATA, sets or [])
    data = raw.get("data")
    # These commands use the data only, but a config must pair a table with a regression model.
    if isinstance(data, dict) and data.get("source") in TABLE_SOURCES:
        model = raw.setdefault("model", {})
        if isinstance(model, dict):
            model.setdefault("name", "linear-regression")
    return validate(raw, "built-in data" + (" (with --set)" if sets else ""))


# ---------------------------------------------------------------------------------- check


@ops_app.command()
def check(seed: Annotated[int, typer.Option(help="Seed of the tensors.", min=0)] = 0) -> None:
    """Run every naive operation against numpy on random tensors (the lecture's shapes too)."""
    import numpy as np

    from dlcli.ops import operations as ops

    out, err = out_console(), err_console
    rows = guarded(lambda: ops.check(np.random.default_rng(seed)))
    out.print(_ops_table(ops.OPS.values()))
    table = Table(box=box.SIMPLE_HEAD, title="naive loops vs numpy on random float64 tensors")
    table.add_column("operation", min_width=21)
    for column in ("input shapes", "output shape"):
        table.add_column(column)
    table.add_column("max |diff|", justify="right")
    table.add_column("pass")
    for r in rows:
        mark = "[green]ok[/]" if r.passed else "[bold red]FAIL[/]"
        table.add_row(r.op, r.shapes, str(r.out_shape), f"{r.max_abs_diff:.1e}", mark)
    out.print(table)
    failed = sum(not r.passed for r in rows)
    if failed:
        err.print(f"[bold red]{failed} of {len(rows)} checks failed[/]")
        raise typer.Exit(1)
    err.print(f"all {len(rows)} checks passed")


def _ops_table(ops: Iterable[Op]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="the operations")
    for column in ("operation", "naive loops", "numpy"):
        table.add_column(column)
    for op in ops:
        table.add_row(op.name, op.naive.__name__, op.numpy_text)
    return table


# ---------------------------------------------------------------------------------- dense


@ops_app.command()
def dense(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    batch: Annotated[int, typer.Option(help="Rows of the training split to use.", min=1)] = 8,
    units: Annotated[int, typer.Option(help="Units of the Dense layer.", min=1)] = 16,
    seed: Annotated[int, typer.Option(help="Seed of W and b.", min=0)] = 0,
) -> None:
    """One Dense layer relu(dot(x, W) + b) on a real batch, step by step, numpy and naive."""
    out, err = out_console(), err_console
    from dlcli.ops import examples as ops_examples

    cfg, data = _data_rows(config, set_)
    X = data.X_train
    steps = guarded(lambda: ops_examples.dense_on_batch(X, batch, units, seed))
    err.print(
        f"data: {cfg.data.source}, training split X_train {X.shape} {X.dtype}; "
        f"x = X_train[:{batch}]; W ({X.shape[1]}, {units}) and b ({units},) drawn with seed {seed}"
    )
    out.print(_dense_table(steps))
    out.print(_naive_table(steps))
    first = ", ".join(f"{v:.3f}" for v in steps[-1].value[0, :8])
    out.print(f"output[0, :8] = [{first}]")
    if "image_shape" in data.info and X.shape[1] == _pixels(data.info) + 1:
        err.print(
            f"note: the last of the {X.shape[1]} input columns is the bias trick's 1s, so W's "
            "last row acts as a bias too; + b is the lecture's explicit form."
        )


def _data_rows(config: Path | None, sets: list[str] | None) -> tuple[Config, Dataset]:
    """The config and its data for a command that feeds data rows to the operations (a
    landscape has none: one line, exit 2)."""
    from dlcli import api

    cfg = guarded(lambda: _load_config(config, sets))
    if cfg.data.source == "landscape":
        guarded(_landscape_has_no_rows)
    return cfg, guarded(lambda: api.load_data(cfg))


def _landscape_has_no_rows() -> None:
    raise UsageError("ops dense needs data rows to feed the layer, and data.source: landscape "
                     "has none (its parameters are a 2-D point); use an image or house-table "
                     "config, e.g. configs/quickstart.yaml")


def _dense_table(steps: Sequence[DenseStep]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="relu(dot(x, W) + b), one operation at a time")
    for column in ("step", "numpy", "shapes"):
        table.add_column(column)
    for s in steps:
        shapes = s.operands if s.name == "input" else f"{s.operands} -> {s.shape}"
        table.add_row(s.name, s.numpy_expr, shapes)
    return table


def _naive_table(steps: Sequence[DenseStep]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="the same with the naive loops")
    for column in ("naive loops", "shape"):
        table.add_column(column)
    table.add_column("max |naive - numpy|", justify="right")
    for s in steps[1:]:
        table.add_row(s.naive_expr, str(s.shape), f"{s.max_abs_diff:.1e}")
    return table


def _pixels(info: dict[str, Any]) -> int:
    height, width, channels = info["image_shape"]
    return int(height * width * channels)


# ---------------------------------------------------------------------------------- shapes


@ops_app.command()
def shapes(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """The lecture's data tensors built from our data, and its reshape example."""
    out, err = out_console(), err_console
    from dlcli.ops import examples as ops_examples

    cfg, data = _data_rows(config, set_)
    X = data.X_train
    if "image_shape" not in data.info:
        err.print(f"data: {cfg.data.source}; X_train is the training split")
        vectors = ops_examples.vector_examples(X, data.feature_names, "X_train")
        out.print(_examples_table(f"vector data from {cfg.data.source}", [vectors]))
    else:
        pixels = _pixels(data.info)
        images = guarded(
            lambda: ops_examples.image_examples(X[:, :pixels], data.info["image_shape"]))
        vectors = guarded(lambda: _house_vectors(cfg.seed))
        err.print(
            f"data: {cfg.data.source}; X = X_train[:, :{pixels}], the training split without "
            "its bias column; vector data from the built-in synthetic houses"
        )
        out.print(_examples_table("vector data: the built-in synthetic house table", [vectors]))
        out.print(_examples_table(f"image data from {cfg.data.source}", images))
    out.print(_reshape_table(ops_examples.reshape_examples()))


# The vector-data example when the configured data are images; zipcodes (70 one-hot columns)
# are left out so the feature names stay readable.
HOUSES = {
    "data": {"source": "houses-synthetic", "num_train": 256, "num_val": 0, "num_test": 1,
             "zipcode": "drop"},
    "model": {"name": "linear-regression"},
}  # fmt: skip


def _house_vectors(seed: int) -> TensorExample:
    """The training split of the built-in synthetic house table, as the lecture's vector data."""
    from dlcli import api
    from dlcli.config import validate
    from dlcli.ops import examples as ops_examples

    data = api.load_data(validate({**HOUSES, "seed": seed}, "built-in houses"))
    return ops_examples.vector_examples(data.X_train, data.feature_names,
                                        "X_train (houses-synthetic)")


def _examples_table(title: str, examples: Sequence[TensorExample]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=title, show_lines=True)
    table.add_column("tensor  [dim](axes)[/]")
    table.add_column("expression", overflow="fold")
    for column in ("shape", "ndim", "dtype"):
        table.add_column(column)
    for e in examples:
        lines = [f"[bold]{e.name}[/]", f"[dim]{e.axes}[/]", *([e.note] if e.note else [])]
        table.add_row("\n".join(lines), e.expression, str(e.shape), str(e.value.ndim),
                      str(e.value.dtype))  # fmt: skip
    return table


def _reshape_table(examples: Sequence[TensorExample]) -> Table:
    import numpy as np

    table = Table(box=box.SIMPLE_HEAD, title="reshaping (the lecture's example)")
    for column in ("expression", "shape", "value"):
        table.add_column(column)
    for e in examples:
        shown = np.array2string(e.value) if e.value.size <= 6 else "..."
        table.add_row(e.expression, str(e.shape), shown)
    return table


_register_bench()
