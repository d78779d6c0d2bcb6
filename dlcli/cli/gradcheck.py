"""``dlcli gradcheck``: compare a model's analytic gradient with centred differences.

A thin command: parse options, call :func:`dlcli.api.gradcheck`, print rich tables on stdout.
Exit codes go through :func:`dlcli.cli.guarded` (imported late: cli.py imports this module):
0 the gradient passes, 1 it does not, 2 bad usage/config/data.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dlcli.cli.common import ConfigArg, SetOpt

if TYPE_CHECKING:
    from dlcli.gradcheck import Coordinate, GradcheckReport



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

    A coordinate agrees when |a - n| is within the error floor 10·eps·|L|/h (what rounding
    leaves of two float64 losses of size |L|); above it, its relative error
    |a - n| / max(|a|, |n|): <= 1e-7 good, up to 1e-4 fine near kinks (hinge, ReLU), up to
    1e-2 doubtful, above wrong; a NaN or inf gradient is "not finite". Exit 0 when every
    coordinate agrees or is <= 1e-4, 1 otherwise. The step is strategy.h (--set
    strategy.h=1e-6 to change it).
    """
    from dlcli import api
    from dlcli.cli.common import EXIT_FAILED, EXIT_OK, guarded, load_configs

    (cfg,) = load_configs([config], set_)
    report = guarded(partial(api.gradcheck, cfg, samples=samples, coords=coords, full=full))
    if as_json:
        print(json.dumps(_finite({**asdict(report), "verdict": report.verdict,
                                  "passed": report.passed, "max_error": report.max_error}),
                         allow_nan=False))
    else:
        _print(report)
    raise typer.Exit(EXIT_OK if report.passed else EXIT_FAILED)


def _finite(value: Any) -> Any:
    """The report as strict JSON: a NaN or infinite number becomes null (its verdict says
    "not finite")."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _print(report: GradcheckReport) -> None:
    from rich import box
    from rich.table import Table

    from dlcli.cli.common import out_console

    console = out_console()
    tensors = Table(box=box.SIMPLE_HEAD, title=(
        f"gradcheck: {report.extra.get('model')} on {report.extra.get('data')}, "
        f"{report.samples} rows, h={report.h:g}, float64, loss {report.loss:.4g}"))
    for col in ("tensor", "shape", "checked", "max rel. error", "mean rel. error",
                "≤ floor", "smaller h", "kinks", "verdict"):
        tensors.add_column(col, justify="left" if col in ("tensor", "verdict") else "right")
    for t in report.tensors:
        colour = _colour(t.verdict)
        tensors.add_row(t.name, "×".join(map(str, t.shape)), f"{t.checked:,}",
                        f"{t.max_error:.2e}", f"{t.mean_error:.2e}", f"{t.floored:,}",
                        str(t.rechecked), str(t.kinks), f"[{colour}]{t.verdict}[/]")
    console.print(tensors)
    worst = Table(box=box.SIMPLE_HEAD, title="worst coordinates")
    for col in ("coordinate", "analytic", "numerical", "rel. error", ""):
        worst.add_column(col, justify="left" if col == "coordinate" else "right")
    for c in report.worst:
        worst.add_row(f"{c.tensor}[{', '.join(map(str, c.index))}]", f"{c.analytic:.6e}",
                      f"{c.numerical:.6e}", f"{c.error:.2e}",
                      _coord_verdict(c))
    console.print(worst)
    floored = sum(t.floored for t in report.tensors)
    console.print(f"error floor {report.floor:.2e} (10·eps·|L|/h; ×10, ×100 on a smaller-h "
                  f"recheck): {floored:,} coordinate{'s' if floored != 1 else ''} over 1e-7 "
                  f"differ by less, too little for float64 to resolve", highlight=False)
    kinks = sum(t.kinks for t in report.tensors)
    if kinks:
        console.print(f"{kinks:,} coordinate{'s' if kinks != 1 else ''} on a kink closer than "
                      f"h/100 (the one-sided slopes differ at every step): passed as between "
                      f"them", highlight=False)
    word = "[green]PASS[/]" if report.passed else "[red]FAIL[/]"
    console.print(f"{word}: max relative error {report.max_error:.2e} ({report.verdict}); "
                  f"passes at <= {report.tolerance:g}; {report.seconds:.1f}s", highlight=False)


def _coord_verdict(c: Coordinate) -> str:
    from dlcli.gradcheck import band

    return "≤ floor" if c.within_floor else "at a kink" if c.at_kink else band(c.error)


def _colour(verdict: str) -> str:
    return {"good": "green", "fine near kinks": "yellow"}.get(verdict, "red")
