"""What every command module shares: exit codes, consoles, options, and the one place where a
DlcliError (or Ctrl-C, SIGTERM, or the machine's refusal) becomes a one-line message and an exit
code: 0 ok, 1 a run failed, 2 bad usage/config/data, 3 the environment failed (out of memory,
disk full, permission denied), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM)."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from dlcli.errors import DlcliError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ENVIRONMENT = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # Ctrl-C, SIGTERM: see interrupted_code()

err_console = Console(stderr=True)
PIPE_WIDTH = 160  # tables written to a pipe or file: rich would otherwise assume 80 columns


def out_console() -> Console:
    """A console for stdout, made per command so its width follows the terminal of the run;
    when stdout is not a terminal, wide enough that tables are not cut."""
    return Console() if sys.stdout.isatty() else Console(width=PIPE_WIDTH)


T = TypeVar("T")

ThreadsOpt = Annotated[
    int | None,
    typer.Option("--threads", "--blas-threads", min=1, show_default="every core", metavar="N",
                 help="Threads for the big matrix products. Any count gives the same numbers, "
                      "bit for bit (the products are split the same way whatever runs them)."),
]
ConfigArg = Annotated[Path, typer.Argument(help="A YAML config file.", show_default=False,
                                           metavar="CONFIG")]
RUNS_ENV = "DLCLI_RUNS_DIR"
OutOpt = Annotated[Path, typer.Option(
    "--out", "-o", envvar=RUNS_ENV, show_envvar=True, metavar="DIR",
    help="Root of the run folders (default runs, or $DLCLI_RUNS_DIR).")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", metavar="KEY=VALUE",
                 help="Override a key: KEY.PATH=VALUE (YAML value); repeatable.",
                 autocompletion=lambda incomplete: complete_set(incomplete)),
]


def check_tags(tags: list[str] | None) -> list[str]:
    """Tags as a run keeps them (:func:`dlcli.runs.housekeeping.check_tag` each: one word, at most
    64 characters); duplicates dropped, order kept."""
    from dlcli.runs.housekeeping import check_tag

    return list(dict.fromkeys(check_tag(t, "--tag") for t in tags or []))


_debug = [os.environ.get("DLCLI_DEBUG", "") not in ("", "0")]


def set_debug(on: bool) -> None:
    """--debug (or DLCLI_DEBUG=1): every error also prints its full traceback."""
    _debug[0] = _debug[0] or on


def debugging() -> bool:
    return _debug[0]


def fail(message: str, code: int) -> NoReturn:
    """Print one line on stderr and exit with ``code``; never a traceback."""
    message = " ".join(message.splitlines())  # one line, whatever a file managed to put in it
    if _debug[0] and sys.exc_info()[0] is not None:  # for a bug report: where it came from
        traceback.print_exc(file=sys.stderr)
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def interrupted_code() -> int:
    """The exit code of an interrupted command: 143 after SIGTERM, else 130 (Ctrl-C)."""
    from dlcli.runtime.signals import interrupt_exit_code

    return interrupt_exit_code()


def guarded(fn: Callable[[], T]) -> T:
    """Call ``fn``; a DlcliError, Ctrl-C or SIGTERM becomes its one-line message and exit code,
    and so do the machine's refusals (out of memory, a full or read-only disk): exit 3."""
    try:
        return fn()
    except DlcliError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt as exc:
        from dlcli.runtime.signals import interrupt_message

        fail(interrupt_message(exc), interrupted_code())
    except MemoryError:
        fail("out of memory (try fewer samples: data.num_train, data.num_val, data.num_test)",
             EXIT_ENVIRONMENT)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"{where}{exc.strerror or exc}", EXIT_ENVIRONMENT)


def load_configs(paths: list[Path], sets: list[str] | None) -> list[Any]:
    """Load and validate every config before anything runs (one bad file -> exit 2)."""
    from dlcli.config import load_config

    return guarded(lambda: [load_config(p, sets or []) for p in paths])


# --------------------------------------------------------------------------- shell completion
# Typer calls these with what the user has typed so far; each answers fast, from names and
# folder listings only, and never raises (a completion must not print a traceback).


def complete_run_id(incomplete: str) -> list[str]:
    """Run and comparison ids under the runs root ($DLCLI_RUNS_DIR, else runs), and the runs
    inside comparisons as ``compare-.../NN-name``."""
    root = Path(os.environ.get(RUNS_ENV) or "runs")
    try:
        names = []
        for p in sorted(root.iterdir()):
            if p.is_dir():
                names.append(p.name)
                if p.name.startswith("compare-") and incomplete.startswith(p.name):
                    names += [f"{p.name}/{c.name}" for c in sorted(p.iterdir()) if c.is_dir()]
    except OSError:
        return []
    return [n for n in names if n.startswith(incomplete)]


def _names(field: str) -> list[str]:
    from typing import get_args

    from dlcli import config

    return list(get_args(getattr(config, field)))


def complete_strategy(incomplete: str) -> list[str]:
    return [n for n in _names("StrategyName") if n.startswith(incomplete)]


def complete_set(incomplete: str) -> list[str]:
    """``--set``: the dotted keys of the schema, then the names where a key takes a name."""
    from dlcli.config import Config

    key, sep, value = incomplete.partition("=")
    choices = {"model.name": "ModelName", "strategy.name": "StrategyName",
               "data.source": "DataSource", "strategy.update": "UpdateName",
               "strategy.schedule": "ScheduleName", "data.function": "LandscapeName"}
    if sep:
        names = _names(choices[key]) if key in choices else []
        return [f"{key}={n}" for n in names if n.startswith(value)]
    keys = []
    for name, field in Config.model_fields.items():
        sub = getattr(field.annotation, "model_fields", None)
        keys += [f"{name}.{k}=" for k in sub] if sub else [f"{name}="]
    return [k for k in keys if k.startswith(incomplete)]
