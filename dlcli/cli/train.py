"""``dlcli train``: one run per config, or ``--resume RUN [--iterations N]``; the live display
on a terminal (a plain line every few seconds otherwise) and the summary of each run."""

from __future__ import annotations

import json
import shlex
import sys
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from dlcli.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    OutOpt,
    SetOpt,
    ThreadsOpt,
    check_tags,
    complete_run_id,
    err_console,
    guarded,
    interrupted_code,
    load_configs,
    out_console,
)


def train(
    configs: Annotated[list[Path] | None, typer.Argument(
        help="YAML config files, run in order.", show_default=False,
        metavar="CONFIG...")] = None,
    set_: SetOpt = None,
    out: OutOpt = Path("runs"),
    seed: Annotated[int | None, typer.Option(help="Override the config's seed.", min=0,
                                             metavar="N")] = None,
    resume: Annotated[str | None, typer.Option(
        "--resume", help="Continue a run from its checkpoint.npz: its folder, or its id under "
        "--out.", show_default=False, autocompletion=complete_run_id, metavar="RUN")] = None,
    iterations: Annotated[int | None, typer.Option(
        "--iterations", min=1, help="With --resume: the new total of iterations (extends a "
        "completed run).", show_default=False, metavar="N")] = None,
    tag: Annotated[list[str] | None, typer.Option(
        "--tag", help="A tag kept in result.json (runs list --tag finds it); repeatable.",
        show_default=False, metavar="TAG")] = None,
    note: Annotated[str | None, typer.Option(
        "--note", help="A note kept in result.json.", show_default=False,
        metavar="TEXT")] = None,
    mlflow: Annotated[str | None, typer.Option(
        "--mlflow", envvar="DLCLI_MLFLOW_URI", metavar="URI", show_default=False,
        help="Also log each run to this MLflow tracking URI (./mlruns, sqlite:///mlflow.db, "
             "http://host:5000); an unreachable server only warns.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON result per run on stdout."
                                          )] = False,
    threads: ThreadsOpt = None,
) -> None:
    """Train one experiment per CONFIG; each writes a run folder under --out.

    With --resume RUN, continue that run from its checkpoint instead (same folder, same bits as
    if it had never stopped); --iterations N extends it to N iterations in all.
    """
    from dlcli import api

    if resume is not None:
        _resume(resume, configs, set_, seed, iterations, out, quiet, as_json, threads, mlflow)
    if not configs:
        guarded(_usage("give one or more CONFIG files, or --resume RUN"))
    if iterations is not None:
        guarded(_usage("--iterations goes with --resume (a config sets "
                       "strategy.iterations: --set strategy.iterations=N)"))
    sets = [*(set_ or []), *([f"seed={seed}"] if seed is not None else [])]
    assert configs is not None
    labels: dict[str, Any] = {"tags": guarded(lambda: check_tags(tag))} if tag else {}
    if note is not None:
        from dlcli.runs.housekeeping import check_note

        labels["note"] = guarded(lambda: check_note(note))
    if mlflow:
        from dlcli.tracking.export import require

        guarded(require)  # the extra is there, before anything runs
    cfgs = load_configs(configs, sets)
    code = EXIT_OK
    for path, cfg in zip(configs, cfgs, strict=True):
        extra = ["--out", str(out)] + (["--threads", str(threads)] if threads else [])
        extra += [w for t in labels.get("tags", []) for w in ("--tag", t)]
        extra += ["--note", note] if note is not None else []
        command = _command_line("train", path, sets, extra)
        result = guarded(partial(api.train, cfg, out=out, callbacks=_displays(quiet),
                                 command=command, threads=threads, extra=labels,
                                 mlflow=mlflow))
        code = max(code, _finish_run(result, as_json))
    raise typer.Exit(code)


def _usage(message: str) -> Any:
    from dlcli.errors import UsageError

    def raise_it() -> None:
        raise UsageError(message)

    return raise_it


def _resume(ref: str, configs: list[Path] | None, set_: list[str] | None, seed: int | None,
            iterations: int | None, out: Path, quiet: bool, as_json: bool,
            threads: int | None, mlflow: str | None) -> None:
    """``dlcli train --resume RUN [--iterations N]``: continue one run in place."""
    from dlcli import api
    from dlcli.runs import resolve_run

    if configs or set_ or seed is not None:
        guarded(_usage("--resume continues a run with its own config; CONFIG files, --set "
                       "and --seed do not apply"))
    run_dir = guarded(lambda: resolve_run(ref, out))
    words = ["dlcli", "train", "--resume", str(run_dir)]
    words += ["--iterations", str(iterations)] if iterations else []
    result = guarded(partial(api.resume_run, run_dir, iterations=iterations,
                             callbacks=_displays(quiet), command=shlex.join(words),
                             threads=threads, mlflow=mlflow))
    raise typer.Exit(_finish_run(result, as_json))


def _finish_run(result: dict[str, Any], as_json: bool) -> int:
    """Print a run's summary; its exit code (interrupted ends the whole command at once)."""
    _report(result, as_json)
    if result["status"] == "interrupted":
        raise typer.Exit(interrupted_code())
    return EXIT_OK if result["status"] == "completed" else EXIT_FAILED


def _command_line(name: str, path: Path, sets: list[str], extra: list[str]) -> str:
    """The command that reproduces one run, for result.json (one config per line)."""
    words = ["dlcli", name, str(path), *extra]
    for item in sets:
        words += ["--set", item]
    return shlex.join(words)


def _displays(quiet: bool) -> list[Any]:
    from dlcli.callbacks import LiveProgress, PlainProgress

    if quiet:
        return []
    if sys.stderr.isatty():
        return [LiveProgress(err_console)]
    return [PlainProgress(sys.stderr)]


def _report(result: dict[str, Any], as_json: bool) -> None:
    """The final summary: JSON on stdout with --json (decoration on stderr), else one block."""
    if as_json:
        print(json.dumps(result, default=str), flush=True)
    m = result["metrics"]
    status = result["status"]
    colour = "green" if status == "completed" else "red"
    parts = [f"{k.replace('_accuracy', ' acc').replace('_', ' ')} {_num(v)}" for k, v in m.items()
             if k.split("_", 1)[0] in ("train", "val", "test") and v is not None]
    if m.get("final_x") is not None:  # a landscape: where the point ended
        parts.append(f"final point ({m['final_x']:.4g}, {m['final_y']:.4g})")
    loss = m.get("final_loss")
    if result.get("rows_dropped"):
        n = result["rows_dropped"]
        parts.append(f"{n:,} invalid row{'s' if n != 1 else ''} dropped")
    lines = [
        f"[{colour}]{status}[/] {result['run_dir']}",
        f"  {', '.join(parts)}; final loss {'-' if loss is None else f'{loss:.4g}'}; "
        f"{result['iterations']} iterations in {result['wall_time_s']:.1f}s",
    ]
    kept = result.get("kept") or {}
    if result.get("stopped_early"):
        lines.append(f"  stopped early at iteration {result['iterations']} (no validation "
                     f"improvement for early_stopping.patience evaluations)")
    if kept.get("weights") == "best" and kept.get("iteration") is not None:
        lines.append(f"  kept the weights of iteration {kept['iteration']} (best validation, "
                     f"keep: best); the metrics above are theirs")
    if result.get("error"):
        lines.append(f"  [red]{escape(result['error'])}[/]")
    console = err_console if as_json else out_console()
    console.print("\n".join(lines), highlight=False, soft_wrap=True)


def _num(v: float) -> str:
    if abs(v) < 1e4:
        return f"{v:.3f}"
    return f"{v:,.0f}" if abs(v) < 1e12 else f"{v:.3g}"  # a diverged run's error in dollars


