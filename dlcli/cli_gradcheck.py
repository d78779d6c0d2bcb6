"""``dlcli gradcheck``: compare a model's analytic gradient with centred differences.

A thin command: parse options, call :func:`dlcli.api.gradcheck`, print rich tables on stdout.
Exit codes go through :func:`dlcli.cli.guarded` (imported late: cli.py imports this module):
0 the gradient passes, 1 it does not, 2 bad usage/config/data.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from functools import partial
from typing import TYPE_CHECKING, Annotated

import typer

from dlcli.cli_common import ConfigArg, SetOpt

if TYPE_CHECKING:
    from dlcli.gradcheck import GradcheckReport



def gradcheck(
    config: ConfigArg,
    samples: Annotated[int, typer.Option("--samples", "-k", min=1,
                                         help="Training rows to check on.")] = 20,
    coords: Annotated[int, typer.Option(min=1, help="Random coordinates checked per tensor "
                                        "(without --full).")] = 200,
    full: Annotated[bool, typer.Option("--full", help="Check every coordinate (fast "
                                       "numerical gradient).")] = False,
    set_: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON on stdout."
                                          )] = False,
) -> None:
    """Analytic vs numerical gradient of CONFIG's model at its initial weights (float64).

    Relative error |a - n| / max(|a| + |n|, tiny) per coordinate: <= 1e-7 good, up to 1e-4
    fine near kinks (hinge, ReLU), above 1e-2 wrong. Exit 0 when every error is <= 1e-4.
    The step is strategy.h (--set strategy.h=1e-6 to change it).
    """
    from dlcli import api
    from dlcli.cli_common import EXIT_FAILED, EXIT_OK, guarded, load_configs

    (cfg,) = load_configs([config], set_)
    report = guarded(partial(api.gradcheck, cfg, samples=samples, coords=coords, full=full))
    if as_json:
        print(json.dumps({**asdict(report), "verdict": report.verdict,
                          "passed": report.passed, "max_error": report.max_error}))
    else:
        _print(report)
    raise typer.Exit(EXIT_OK if report.passed else EXIT_FAILED)


def _print(report: GradcheckReport) -> None:
    from rich import box
    from rich.table import Table

    from dlcli.cli_common import out_console

    console = out_console()
    tensors = Table(box=box.SIMPLE_HEAD, title=(
        f"gradcheck: {report.extra.get('model')} on {report.extra.get('data')}, "
        f"{report.samples} rows, h={report.h:g}, float64"))
    for col in ("tensor", "shape", "checked", "max rel. error", "mean rel. error",
                "smaller h", "verdict"):
        tensors.add_column(col, justify="left" if col in ("tensor", "verdict") else "right")
    for t in report.tensors:
        colour = _colour(t.verdict)
        tensors.add_row(t.name, "×".join(map(str, t.shape)), f"{t.checked:,}",
                        f"{t.max_error:.2e}", f"{t.mean_error:.2e}", str(t.rechecked),
                        f"[{colour}]{t.verdict}[/]")
    console.print(tensors)
    worst = Table(box=box.SIMPLE_HEAD, title="worst coordinates")
    for col in ("coordinate", "analytic", "numerical", "rel. error"):
        worst.add_column(col, justify="left" if col == "coordinate" else "right")
    for c in report.worst:
        worst.add_row(f"{c.tensor}[{', '.join(map(str, c.index))}]", f"{c.analytic:.6e}",
                      f"{c.numerical:.6e}", f"{c.error:.2e}")
    console.print(worst)
    word = "[green]PASS[/]" if report.passed else "[red]FAIL[/]"
    console.print(f"{word}: max relative error {report.max_error:.2e} ({report.verdict}); "
                  f"passes at <= {report.tolerance:g}; {report.seconds:.1f}s", highlight=False)


def _colour(verdict: str) -> str:
    return {"good": "green", "fine near kinks": "yellow"}.get(verdict, "red")
