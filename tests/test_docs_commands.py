"""Every ``dlcli`` command shown in README.md and docs/ runs as shown (issue 14).

The commands are read from the fenced blocks of each page, in order, and run in a working folder
laid out as a user's would be: ``configs/``, a tiny CIFAR-10 in ``data/`` (both official
forms), a King County CSV at ``data/kc_house_data.csv`` and a ``runs/`` folder holding a
finished quickstart run, a stopped one and a comparison ``pair`` (variants ``sgd`` and ``mom``).
The pages' example ids (``compare-20261130-100826-pair-0fc09f``, ``20261130-1008``,
``<run id or folder>``) are replaced by the ids of those runs; ``path/to/...`` and ``PATH/`` by
the files in ``data/``.

- A short command runs and must exit 0, or with the code its comment names (``exit 1``).
- A ``$ dlcli ...`` line followed by output must print that output: every shown line, numbers
  masked and spaces collapsed, is found in what the command prints (except ``runs`` commands,
  whose output is the reader's own runs).
- A long command (a minute of training, a server, a full-size dataset) is parsed by the command
  line without running, and every config it names is validated with its ``--set`` overrides.
- A few are not run at all, each for the reason in :data:`NOT_RUN` (tested elsewhere).
- Synopses (``dlcli runs tag ID TAG... [--remove TAG]``) are documentation of the syntax.
"""

from __future__ import annotations

import glob
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import typer
import yaml
from typer.testing import CliRunner

from dlcli import api
from dlcli.cli import app
from dlcli.config import validate
from tests.cifar_fixtures import make_tiny_cifar, write_python_folder, write_tar
from tests.conftest import write_kc_csv
from tests.test_resume import SignalAt

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Substrings of a command → why it is only parsed and its configs validated, not run here.
LONG = {
    "configs/synthetic-*.yaml": "seven strategies, ~35 s (each is run shrunk in test_configs)",
    "compare configs/strategies.yaml": "six strategies, ~20 s (run shrunk in test_sweep)",
    "compare configs/houses-lr-sweep.yaml": "five 2000-step runs, ~10 s (shrunk in test_sweep)",
    "compare configs/quickstart.yaml --strategy": "12–18 quickstart runs (test_cli_compare)",
    "compare configs/quickstart.yaml --sample": "20 trials (test_search_cli)",
    "cifar10-sgd-search": "CIFAR-10 search, 30 trials on 49,000 images (test_sweep)",
    "--mlflow": "an MLflow store or server (test_tracking)",
    "compare --refine runs/compare-<id>": "a search around a finished one (test_search_cli)",
    "cifar10-sgd.yaml --set data.path=data/": "49,000 images: the real download",
    "runs rm compare-2026  ": "asks on a terminal (test_runs_housekeeping)",
}
# Substrings → why the command is not run nor parsed.
NOT_RUN = {
    "--install-completion": "writes the user's shell start-up file (test_conventions)",
    "data download": "the network (test_download serves the archive locally)",
    "--refine runs/compare-...": "a finished CIFAR-10 search (test_search_cli)",
}
SYNOPSIS = re.compile(r"\[|\.\.\.|\b(ID|TAG|URI|A B|RUN_OR_COMPARE|CONFIG|GLOB|KEY|FILE)\b")


@dataclass
class Shown:
    page: str
    line: int
    text: str  # the command as printed, continuation lines joined, comment removed
    comment: str
    output: list[str]  # the lines shown after a ``$ dlcli`` command

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text}"


def shown_commands(page: Path) -> list[Shown]:
    """The ``dlcli`` commands in the fenced blocks of a page, in order."""
    found: list[Shown] = []
    lines = page.read_text().splitlines()
    fenced, i = False, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            fenced = not fenced
            i += 1
            continue
        stripped = line.strip()
        prompt = stripped.startswith("$ dlcli ")
        if not fenced or not (prompt or stripped.startswith("dlcli ")):
            i += 1
            continue
        start, text = i + 1, stripped.removeprefix("$ ")
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text[:-1].rstrip() + " " + lines[i].strip()
        command, comment = (re.split(r"\s+# ", text, maxsplit=1) + [""])[:2]
        output: list[str] = []
        while prompt and i + 1 < len(lines) and not lines[i + 1].startswith("```"):
            if lines[i + 1].lstrip().startswith("$ "):
                break
            i += 1
            output.append(lines[i])
        found.append(Shown(page.relative_to(ROOT).as_posix(), start, command.strip(),
                           comment.strip(), output))
        i += 1
    return found


def kind(cmd: Shown) -> tuple[str, str]:
    """("run" | "parse" | "skip", why) for one command."""
    for where, why in NOT_RUN.items():
        if where in cmd.text:
            return "skip", why
    if SYNOPSIS.search(cmd.text.replace("PATH/cifar", "")):
        return "skip", "a synopsis of the syntax"
    for where, why in LONG.items():
        if where in cmd.text + "  ":
            return "parse", why
    return "run", ""


ALL = [cmd for page in PAGES for cmd in shown_commands(page)]


def test_the_pages_show_commands_and_most_of_them_run():
    kinds = [kind(cmd)[0] for cmd in ALL]
    assert len(ALL) >= 60 and kinds.count("run") >= 35, kinds
    assert {c.page for c in ALL} >= {"README.md", "docs/compare.md", "docs/runs.md",
                                     "docs/gradients.md", "docs/search.md", "docs/report.md"}
    # The exceptions match something, so that none outlives the command it was written for.
    for table in (LONG, NOT_RUN):
        for where in table:
            assert any(where in c.text + "  " for c in ALL), where


# --- the working folder -------------------------------------------------------------------

PAIR_SWEEP = {"name": "pair", "base": "../configs/quickstart.yaml",
              "variants": [{"name": "sgd", "strategy.name": "sgd"},
                           {"name": "mom", "strategy.name": "momentum"}],
              "sweep": {"strategy.iterations": [40]}}


@dataclass
class Workspace:
    root: Path
    done: str  # a completed quickstart run
    stopped: str  # a quickstart run stopped at iteration 30
    pair: str  # a comparison with children 01-sgd and 02-mom


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("user")
    tiny = make_tiny_cifar(n_per_batch=200, n_test=200)
    write_tar(write_python_folder(root / "data", tiny), root / "data" / "cifar-10-python.tar.gz")
    write_kc_csv(root / "data" / "kc_house_data.csv", 400)
    runs = root / "runs"
    quick = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    quick["strategy"]["iterations"] = 60
    done = api.train(validate(quick), out=runs)
    stopped = api.train(validate(quick), out=runs, callbacks=[SignalAt(30)])
    (root / "sweeps").mkdir()
    (root / "sweeps" / "pair.yaml").write_text(yaml.safe_dump(PAIR_SWEEP))
    (root / "configs").symlink_to(ROOT / "configs")
    res = CliRunner().invoke(app, ["compare", str(root / "sweeps" / "pair.yaml"),
                                   "--out", str(runs)])
    assert res.exit_code == 0, res.output
    (pair,) = [p.name for p in runs.iterdir() if p.name.startswith("compare-")]
    (root / "configs").unlink()
    return Workspace(root, Path(done["run_dir"]).name, Path(stopped["run_dir"]).name, pair)


@pytest.fixture
def workspace(prepared, tmp_path, monkeypatch) -> Workspace:
    """A copy of the prepared folder for one page, as the working directory."""
    root = tmp_path / "user"
    shutil.copytree(prepared.root, root)
    (root / "configs").symlink_to(ROOT / "configs")
    monkeypatch.chdir(root)
    for var in ("DLCLI_RUNS_DIR", "DLCLI_MLFLOW_URI", "DLCLI_DEBUG", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DLCLI_CACHE_DIR", str(tmp_path / "cache"))
    return Workspace(root, prepared.done, prepared.stopped, prepared.pair)


def concrete(text: str, ws: Workspace) -> str:
    """The command with the page's example ids and paths replaced by the workspace's."""
    text = text.replace("<run id or folder>", ws.stopped).replace("<run>", ws.done)
    text = text.replace("<other run>", ws.stopped)
    text = text.replace("<id prefix>", ws.done[:-3]).replace("compare-<id>", ws.pair)
    text = re.sub(r"compare-2026\d{4}-\d{6}-[a-z0-9-]+?-[0-9a-f]{6}/\d\d-[a-z-]+",
                  lambda m: f"{ws.pair}/01-sgd" if "/01-" in m[0] or "/04-" in m[0]
                  else f"{ws.pair}/02-mom", text)
    text = re.sub(r"compare-2026\d{4}-\d{6}-[a-z0-9-]+?-[0-9a-f]{6}", ws.pair, text)
    text = re.sub(r"(?<![-\w])2026\d{4}-\d{4}(?![\d-])", ws.done[:-3], text)
    text = text.replace("old-run", ws.stopped)
    return text.replace("path/to/", "data/").replace("PATH/", "data/")


def argv(text: str, cwd: Path) -> tuple[list[str], str | None]:
    """The arguments after ``dlcli``, globs expanded as a shell would, and a ``> FILE``."""
    words = shlex.split(text)
    assert words[0] == "dlcli"
    redirect = None
    if ">" in words:
        at = words.index(">")
        redirect, words = words[at + 1], words[:at]
    args: list[str] = []
    for word in words[1:]:
        matches = sorted(glob.glob(word, root_dir=cwd)) if "*" in word else []
        args += matches or [word]
    return args, redirect


def parses(args: list[str]) -> None:
    """The command line is accepted (commands, options and values) without running it."""
    cmd: click.Command = typer.main.get_command(app)
    ctx = cmd.make_context("dlcli", list(args))
    while isinstance(cmd, click.Group):
        rest = [*ctx._protected_args, *ctx.args]
        name, sub, rest = cmd.resolve_command(ctx, rest)
        assert sub is not None and name is not None, args
        cmd, ctx = sub, sub.make_context(name, rest, parent=ctx)


MASK = re.compile(r"[-+]?\d[\d,]*(\.\d+)?(e[-+]?\d+)?")


def masked(text: str) -> str:
    return " ".join(MASK.sub("#", text).split())


def expected_exit(cmd: Shown) -> int:
    said = re.search(r"\(exit (\d+)\)", cmd.comment)
    if said:
        return int(said[1])
    return 2 if cmd.output and cmd.output[0].startswith("error:") else 0


def check(cmd: Shown, ws: Workspace) -> None:
    runner = CliRunner(env={"COLUMNS": "200"})
    args, redirect = argv(concrete(cmd.text, ws), ws.root)
    how, _ = kind(cmd)
    if how == "parse":
        parses(args)
        configs = [a for a in args if a.endswith(".yaml")]
        sets = [a for i, a in enumerate(args) if i and args[i - 1] in ("--set", "-s")]
        if configs:
            res = runner.invoke(app, ["validate", *configs, *(f"--set={s}" for s in sets)])
            assert res.exit_code == 0, f"{cmd}\n{res.output}"
        return
    res = runner.invoke(app, args)
    assert res.exit_code == expected_exit(cmd), f"{cmd}\n{res.output}"
    assert "Traceback" not in res.output, f"{cmd}\n{res.output}"
    if redirect:
        Path(redirect).write_text(res.stdout)
    if cmd.output and args[0] != "runs":
        printed = masked(res.output)
        for line in cmd.output:
            if line.strip() and line.strip() != "...":
                assert masked(line) in printed, f"{cmd}\nshown:   {line}\nprinted: {res.output}"


@pytest.mark.parametrize("page", [p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_command_of_the_page_runs_as_shown(page, workspace):
    commands = [c for c in ALL if c.page == page]
    for cmd in commands:
        if kind(cmd)[0] != "skip":
            check(cmd, workspace)
