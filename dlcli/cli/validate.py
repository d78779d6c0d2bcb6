"""``dlcli validate``: check config and sweep files without running them, one verdict per file
on stdout (``--json``: one object per file); exit 2 if any is not valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from dlcli.cli.common import (
    EXIT_OK,
    SetOpt,
    out_console,
)


def validate(
    configs: Annotated[list[Path], typer.Argument(help="YAML config or sweep files.",
                                                  metavar="FILE...")],
    set_: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file on stdout."
                                          )] = False,
) -> None:
    """Check config files (and sweep files: every variant) without running them.

    One verdict per file on stdout; exit 2 if any file is not valid.
    """
    code = EXIT_OK
    for path in configs:
        verdict = _verdict(path, set_ or [])
        code = max(code, EXIT_OK if verdict["ok"] else verdict["exit_code"])
        if as_json:
            print(json.dumps(verdict), flush=True)
        else:
            error = str(verdict.get("error", "")).removeprefix(f"{path}: ")
            text = (f"{path}: ok ({verdict['what']})" if verdict["ok"]
                    else f"{path}: invalid: {error}")
            out_console().print(text, highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(code)


def _verdict(path: Path, sets: list[str]) -> dict[str, Any]:
    """What ``validate`` says of one file: ok and what it is, or the one-line error."""
    from dlcli.config import load_config
    from dlcli.errors import DlcliError
    from dlcli.sweeps.files import Plan, is_sweep_file, load_plan

    try:
        item = load_plan(path, sets=sets) if is_sweep_file(path) else load_config(path, sets)
        if not isinstance(item, Plan):
            _check_data_path(item, path)
    except DlcliError as exc:
        return {"file": str(path), "ok": False, "error": str(exc), "exit_code": exc.exit_code}
    if isinstance(item, Plan):
        search = item.search
        what = (f"search {item.name}, {item.total} runs: {search.trials} trials, "
                f"{search.sampler} sampler" + (f", {search.pruner} pruner" if search.pruner
                                               else "")
                if search is not None else f"sweep {item.name}, {item.total} variants")
        return {"file": str(path), "ok": True, "kind": "search" if search else "sweep",
                "name": item.name, "variants": item.total, "what": what}
    return {"file": str(path), "ok": True, "kind": "config", "name": item.name,
            "what": _what(item)}


def _what(cfg: Any) -> str:
    """``momentum on cifar10-synthetic with softmax``; ``gd with adam updates on the
    rosenbrock landscape`` (an update rule named only when it is not the strategy's own)."""
    strategy = cfg.strategy.name
    if cfg.strategy.update and cfg.strategy.update != strategy:
        strategy += f" with {cfg.strategy.update} updates"
    if cfg.data.source == "landscape":
        return f"{strategy} on the {cfg.data.function} landscape"
    return f"{strategy} on {cfg.data.source} with {cfg.model.name}"


def _check_data_path(cfg: Any, path: Path) -> None:
    """A config naming a data file that is not there is not ready to run: say so now."""
    from dlcli.config.data import data_path
    from dlcli.errors import ConfigError

    where = data_path(cfg.data)
    if where and not Path(where).expanduser().exists():
        raise ConfigError(f"{path}: data.path: {where} does not exist (relative paths "
                          f"are from the working directory; --set data.path=... to point "
                          f"elsewhere)")


