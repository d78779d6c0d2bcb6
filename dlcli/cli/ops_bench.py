"""``dlcli ops bench``: time the naive loops against numpy over growing sizes, print numpy's
speedup, and optionally write the timings as CSV and a log-log plot (the folders checked before
anything is timed)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from dlcli.cli.common import err_console, guarded, out_console
from dlcli.errors import UsageError

if TYPE_CHECKING:
    from dlcli.ops.bench import BenchRow

# The names of dlcli.ops.operations.OPS, spelt out so that --help lists them without importing
# numpy (a test keeps the two equal).
OP_NAMES = ("relu", "add", "add_matrix_and_vector", "vector_dot", "matrix_dot", "maximum",
            "reshape")


def parse_sizes(values: Sequence[str]) -> list[int]:
    """``["16,32", "64"]`` -> [16, 32, 64]; anything else is a one-line UsageError."""
    sizes = []
    for part in ",".join(values).split(","):
        text = part.strip()
        if not text.isdigit() or int(text) < 1:
            raise UsageError(f"--sizes: expected positive integers like 16,32,64, got {text!r}")
        sizes.append(int(text))
    return sizes


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "skipped"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def bench(
    sizes: Annotated[
        list[str] | None,
        typer.Option(
            help="Sizes n (matrices n x n), repeatable or comma-separated.",
            show_default="16,32,64,128,256", metavar="N[,N...]",
        ),
    ] = None,
    repeats: Annotated[int, typer.Option(help="Best of this many timings.", min=1)] = 5,
    budget: Annotated[
        float, typer.Option(help="Seconds for the naive loops; larger sizes are skipped.", min=0.1)
    ] = 25.0,
    op: Annotated[list[str] | None, typer.Option(
        help=f"Only this operation; repeatable. One of: {', '.join(OP_NAMES)}.", metavar="NAME",
        show_default="all")] = None,
    blas_threads: Annotated[
        int, typer.Option(help="BLAS threads for numpy; 0 for numpy's default.", min=0)
    ] = 1,
    csv: Annotated[Path | None, typer.Option(help="Also write the timings to this CSV.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Also plot them, log-log, as PNG.")] = None,
) -> None:
    """Time the naive loops against numpy over growing sizes and print numpy's speedup."""
    out, err = out_console(), err_console
    from dlcli.ops import bench as ops_bench

    chosen = guarded(lambda: parse_sizes(sizes) if sizes else list(ops_bench.DEFAULT_SIZES))
    for path in (csv, plot):  # before the benchmark, not after it
        if path is not None:
            guarded(partial(_writable, path))
    start = time.perf_counter()
    with err.status("timing ...") as status:

        def progress(row: BenchRow) -> None:
            status.update(f"timed {row.op} at n={row.size} ({time.perf_counter() - start:.0f}s)")

        threads = blas_threads or None
        rows = guarded(
            lambda: ops_bench.bench(chosen, repeats, budget, op, on_row=progress,
                                    blas_threads=threads)
        )
    out.print(_bench_table(rows))
    blas = f"{blas_threads} BLAS thread(s)" if blas_threads else "numpy's default BLAS threads"
    err.print(f"{len(rows)} timings in {time.perf_counter() - start:.1f}s, numpy with {blas}")
    if any(r.naive_s is None for r in rows):
        err.print(f"naive loops marked skipped would have overrun --budget {budget:g}s")
    if csv is not None:
        guarded(lambda: write_csv(rows, csv))
        err.print(f"wrote {csv}")
    if plot is not None:
        guarded(lambda: write_plot(rows, plot))
        err.print(f"wrote {plot}")


def _bench_table(rows: Sequence[BenchRow]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="seconds per call, best of the repeats")
    table.add_column("operation", min_width=21)
    table.add_column("n", justify="right")
    table.add_column("input shapes")
    for column in ("naive", "numpy", "speedup"):
        table.add_column(column, justify="right")
    for r in rows:
        speedup = "-" if r.speedup is None else f"{r.speedup:,.0f}x"
        table.add_row(r.op, str(r.size), r.shapes, format_seconds(r.naive_s),
                      format_seconds(r.numpy_s), speedup)  # fmt: skip
    return table


def _writable(path: Path) -> None:
    if not path.parent.is_dir():
        raise UsageError(f"{path}: the folder {path.parent} does not exist")


def write_csv(rows: Sequence[BenchRow], path: Path) -> None:
    """One line per (operation, size); empty naive/speedup cells where the naive run was skipped."""
    import csv

    _writable(path)
    try:
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["op", "size", "shapes", "naive_seconds", "numpy_seconds", "speedup"])
            for r in rows:
                writer.writerow([r.op, r.size, r.shapes, _cell(r.naive_s), _cell(r.numpy_s),
                                 _cell(r.speedup)])  # fmt: skip
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror}") from None


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def write_plot(rows: Sequence[BenchRow], path: Path) -> None:
    """Log-log seconds per call vs n: one colour per operation, naive solid, numpy dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    _writable(path)
    fig = Figure(figsize=(8, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, name in enumerate(dict.fromkeys(r.op for r in rows)):
        mine = [r for r in rows if r.op == name]
        colour = f"C{i % 10}"
        timed = [(r.size, r.naive_s) for r in mine if r.naive_s is not None]
        ax.plot([n for n, _ in timed], [t for _, t in timed], "o-", color=colour, label=name)
        ax.plot([r.size for r in mine], [r.numpy_s for r in mine], "s--", color=colour, alpha=0.6)
    sizes = sorted({r.size for r in rows})
    ax.set(xscale="log", yscale="log", xlabel="size n", ylabel="seconds per call",
           title="naive Python loops (solid) vs numpy (dashed)")  # fmt: skip
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.minorticks_off()
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    try:
        fig.savefig(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot write the plot: {exc}") from None


# ---------------------------------------------------------------------------------- dense


