"""The command line: the ``dlcli`` app, its global options (--version, --debug, completion) and
the entry point ``main``. Each command lives in its own module (train, validate, compare,
gradcheck, data, runs, ops, report): thin Typer commands that parse options, call the API and
print. Errors become exit codes in one place, :func:`dlcli.cli.common.guarded`: 0 ok, 1 a run
failed, 2 bad usage/config/data, 3 the environment failed, 130 interrupted, 143 terminated.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from dlcli.cli.common import EXIT_FAILED, EXIT_OK, debugging, fail, set_debug

EPILOG = (
    "Environment: DLCLI_RUNS_DIR (the default --out / --dir: runs), DLCLI_CACHE_DIR (the CIFAR-10 "
    "cache; else $XDG_CACHE_HOME/dlcli, else ~/.cache/dlcli), DLCLI_MLFLOW_URI (the default "
    "--mlflow), DLCLI_DEBUG=1 (as --debug), NO_COLOR / FORCE_COLOR (colours). "
    "Exit codes: 0 ok, 1 a run failed or diverged, 2 bad usage, config or data, 3 the machine "
    "refused (out of memory, disk full, permission denied, a lost scheduler), 130 Ctrl-C, "
    "143 SIGTERM (docs/errors.md)."
)

app = typer.Typer(
    name="dlcli",
    help="Train and compare the ways to find good weights: random search to SGD with momentum.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,  # click's plain help: flags without a <bool> metavar, whole lines
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from dlcli.runtime.versions import describe

        print(describe())
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option(
        "--version", "-V", callback=_version, is_eager=True,
        help="Versions of dlcli, Python, numpy and the BLAS in use.")] = False,
    debug: Annotated[bool, typer.Option(
        "--debug", envvar="DLCLI_DEBUG", help="Show the full traceback of any error (for a "
        "bug report).")] = False,
) -> None:
    from dlcli.runtime.signals import forget

    set_debug(debug)
    forget()  # this command's exit code comes from this command's signals


def main() -> None:
    from dlcli.runtime.signals import install

    install()  # SIGTERM ends a run or a comparison cleanly, as Ctrl-C does (exit 143)
    try:
        app()
    except Exception as exc:  # a bug in dlcli: one line, the traceback with --debug
        if debugging():
            raise
        try:
            fail(f"internal error, a bug in dlcli: {type(exc).__name__}: {exc} (rerun with "
                 f"--debug or DLCLI_DEBUG=1 for the traceback, and please report it)",
                 EXIT_FAILED)
        except typer.Exit as done:  # outside the app: exit here
            sys.exit(done.exit_code)


def _register() -> None:
    """Each command lives in its own module; registered here, in the order --help lists them."""
    from dlcli.cli.compare import compare
    from dlcli.cli.data import data_app
    from dlcli.cli.gradcheck import gradcheck
    from dlcli.cli.ops import ops_app
    from dlcli.cli.report import report
    from dlcli.cli.runs import runs_app
    from dlcli.cli.train import train
    from dlcli.cli.validate import validate

    app.command()(validate)
    app.command()(train)
    app.add_typer(data_app, name="data")
    app.command()(compare)
    app.add_typer(runs_app, name="runs")
    app.add_typer(ops_app, name="ops")
    app.command()(gradcheck)
    app.command()(report)


_register()
