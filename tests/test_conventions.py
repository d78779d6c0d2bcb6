"""The conventions of a command-line tool (issue 14, part 1): --version, completion, the
environment, stdout/stderr, --debug, exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import small_raw

ROOT = Path(__file__).resolve().parents[1]


SCRIPT = Path(sys.executable).parent / "dlcli"  # the installed command: completion keys on it


def _dlcli(*args: str, env: dict | None = None, cwd: Path | None = None, script: bool = False
           ) -> subprocess.CompletedProcess:
    command = [str(SCRIPT)] if script else [sys.executable, "-m", "dlcli"]
    return subprocess.run([*command, *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, cwd=cwd,
                          timeout=120)


needs_script = pytest.mark.skipif(not SCRIPT.exists(), reason="dlcli is not installed here")


def test_version_names_dlcli_python_numpy_and_blas():
    for flag in ("--version", "-V"):
        res = _dlcli(flag)
        assert res.returncode == 0 and res.stderr == ""
        lines = res.stdout.splitlines()
        assert [w.split()[0] for w in lines] == ["dlcli", "python", "numpy", "blas"]


@needs_script
def test_completion_scripts_install_for_bash_and_zsh(tmp_path):
    for shell in ("bash", "zsh"):
        # Typer's own switch: take the shell named instead of detecting the one running us
        pick = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
        shown = _dlcli("--show-completion", shell, env=pick, script=True)
        assert shown.returncode == 0 and "_DLCLI_COMPLETE" in shown.stdout
        home = tmp_path / shell
        home.mkdir()
        done = _dlcli("--install-completion", shell, env={"HOME": str(home), **pick},
                      script=True)
        assert done.returncode == 0, done.stderr
        rc = home / (".bashrc" if shell == "bash" else ".zshrc")
        assert rc.exists()


def _complete(words: str, cwd: Path, env: dict | None = None) -> list[str]:
    res = _dlcli(env={"_DLCLI_COMPLETE": "complete_bash", "COMP_WORDS": f"dlcli {words}",
                      "COMP_CWORD": str(len(words.split())), **(env or {})}, cwd=cwd,
                 script=True)
    return res.stdout.split()


@needs_script
def test_completion_of_run_ids_and_names(tmp_path):
    run = tmp_path / "runs" / "20260101-000000-quick-abcdef"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: quick\n")
    assert _complete("train --resume 2026", tmp_path) == [run.name]
    assert run.name in _complete("runs show 2026", tmp_path)
    other = tmp_path / "elsewhere" / "20270101-000000-x-000000"
    other.mkdir(parents=True)
    assert _complete("train --resume 2027", tmp_path,
                     {"DLCLI_RUNS_DIR": str(tmp_path / "elsewhere")}) == [other.name]
    assert _complete("train --set model.name=sv", tmp_path) == ["model.name=svm"]
    assert "strategy.lr=" in _complete("train --set strategy.l", tmp_path)


def test_validate_writes_verdicts_to_stdout_and_goes_through_every_file(write_config, tmp_path):
    good = write_config(small_raw(), "good.yaml")
    bad = write_config({**small_raw(), "keep": "bset"}, "bad.yaml")
    missing = write_config({**small_raw(), "data": {"source": "houses",
                                                    "path": str(tmp_path / "no.csv")},
                            "model": {"name": "linear-regression"}}, "missing.yaml")
    res = _dlcli("validate", str(good), str(bad), str(missing))
    assert res.returncode == 2
    lines = res.stdout.splitlines()
    assert len(lines) == 3 and lines[0].endswith("ok (sgd on cifar10-synthetic with softmax)")
    assert "did you mean 'best'" in lines[1] and "does not exist" in lines[2]
    assert lines[1].startswith(f"{bad}: invalid: ") and lines[1].count(str(bad)) == 1
    as_json = _dlcli("validate", "--json", str(good), str(bad))
    objs = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [o["ok"] for o in objs] == [True, False] and objs[1]["exit_code"] == 2
    assert as_json.returncode == 2


def test_validate_says_what_a_config_runs(write_config):
    valley = write_config({"data": {"source": "landscape", "function": "ill-conditioned"},
                           "strategy": {"name": "gd", "update": "momentum", "lr": 0.005}},
                          "valley.yaml")
    mlp = write_config({**small_raw(), "model": {"name": "mlp", "hidden": [64]}}, "mlp.yaml")
    res = _dlcli("validate", str(valley), str(mlp))
    assert res.stdout.splitlines() == [
        f"{valley}: ok (gd with momentum updates on the ill-conditioned landscape)",
        f"{mlp}: ok (sgd on cifar10-synthetic with mlp)"], res.stderr


def test_runs_dir_from_the_environment(write_config, tmp_path):
    cfg = write_config(small_raw(iterations=2))
    res = _dlcli("train", str(cfg), "-q", env={"DLCLI_RUNS_DIR": str(tmp_path / "env-runs")},
                 cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert len(list((tmp_path / "env-runs").iterdir())) == 1
    assert not (tmp_path / "runs").exists()


def test_the_cifar_cache_follows_xdg(monkeypatch, tmp_path):
    from dlcli.data.cifar_files import default_cache_dir

    monkeypatch.delenv("DLCLI_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "dlcli"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert default_cache_dir() == Path.home() / ".cache" / "dlcli"
    monkeypatch.setenv("DLCLI_CACHE_DIR", str(tmp_path / "own"))
    assert default_cache_dir() == tmp_path / "own"


def test_debug_shows_the_traceback(write_config):
    bad = write_config({**small_raw(), "keep": "bset"})
    plain = _dlcli("train", str(bad))
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    for args, env in ((["--debug", "train", str(bad)], {}),
                      (["train", str(bad)], {"DLCLI_DEBUG": "1"})):
        res = _dlcli(*args, env=env)
        assert res.returncode == 2 and "Traceback" in res.stderr and "did you mean" in res.stderr


BUG = ("import sys, dlcli.cli, dlcli.api; "
       "dlcli.api.train = lambda *a, **k: 1 / 0; "
       "sys.argv = ['dlcli', *sys.argv[1:]]; dlcli.cli.main()")


def test_a_bug_is_one_line_and_debug_shows_where(write_config, tmp_path):
    cfg = str(write_config(small_raw(iterations=2)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", BUG, "train", cfg, "--out", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "internal error" in res.stderr and "ZeroDivisionError" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = subprocess.run([sys.executable, "-c", BUG, "--debug", "train", cfg], capture_output=True,
                         text=True, env=env, timeout=120)
    assert "Traceback" in res.stderr and "ZeroDivisionError" in res.stderr


@pytest.mark.parametrize(("args", "code"), [
    (["train", "nope.yaml"], 2),
    (["train", "--resume", "nope"], 2),
    (["runs", "show", "nope"], 2),
    (["--no-such-option"], 2),
])
def test_errors_go_to_stderr_with_their_exit_code(args, code, tmp_path):
    res = _dlcli(*args, cwd=tmp_path)
    assert res.returncode == code and res.stdout == "" and res.stderr.strip()


def test_validate_describes_a_search_by_its_trials(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(json.dumps(small_raw()))
    sweep = tmp_path / "s.yaml"
    sweep.write_text(json.dumps({"base": "base.yaml", "search": {
        "trials": 7, "sampler": "tpe", "params": {"strategy.lr": {"loguniform": [1e-7, 1e-5]}}}}))
    res = _dlcli("validate", str(sweep))
    assert res.returncode == 0 and "7 trials, tpe sampler" in res.stdout, res.stdout + res.stderr
