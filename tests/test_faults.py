"""The fault matrix, end to end (issue 9.6): signals mid-run and mid-compare, an output folder
that cannot be made, a disk that fills up, many runs at once, broken run folders."""

import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlcli.cli import app
from tests.conftest import small_raw
from tests.test_config_inputs import _laughs

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
runner = CliRunner()


def _dlcli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dlcli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def _wait_for(pattern: str, folder: Path, min_size: int = 200, timeout: float = 60) -> None:
    """Until a file matching ``pattern`` under ``folder`` holds ``min_size`` bytes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.stat().st_size >= min_size for p in folder.glob(pattern)):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing like {pattern} appeared under {folder}")


def _long_run(write_config) -> Path:
    return write_config(small_raw(name="random-search", iterations=1_000_000))


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_run_keeps_everything(write_config, tmp_path, sig, code):
    proc = _dlcli("train", str(_long_run(write_config)), "--out", str(tmp_path))
    _wait_for("*/metrics.csv", tmp_path)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    result = json.loads((run / "result.json").read_text())
    name = "SIGTERM" if sig == signal.SIGTERM else "Ctrl-C"
    assert result["status"] == "interrupted" and name in result["error"]
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert len(rows) == result["iterations"] > 0
    assert (run / "params.npz").exists() and (run / "config.yaml").exists()


def _sweep(write_config, tmp_path: Path) -> Path:
    base = small_raw(name="x", iterations=3)
    write_config(base, "base.yaml")
    return write_config({"name": "faults", "base": "base.yaml", "variants": [
        {"name": "quick", "strategy": {"name": "sgd", "iterations": 3}},
        {"name": "slow", "strategy": {"name": "random-search", "iterations": 1_000_000}},
        {"name": "never", "strategy": {"name": "sgd", "iterations": 3}},
    ]}, "sweep.yaml")


@pytest.mark.parametrize(("sig", "code", "jobs"), [(signal.SIGTERM, 143, "1"),
                                                    (signal.SIGINT, 130, "1"),
                                                    (signal.SIGTERM, 143, "2")])
def test_a_signal_mid_compare_keeps_the_rows_so_far(write_config, tmp_path, sig, code, jobs):
    out = tmp_path / "runs"
    proc = _dlcli("compare", str(_sweep(write_config, tmp_path)), "--out", str(out), "--jobs",
                  jobs, "--quiet")
    _wait_for("compare-*/*-slow/metrics.csv", out)
    deadline = time.monotonic() + 60  # with --jobs 2 the quick one runs beside the slow one
    while time.monotonic() < deadline and not any(
            "quick" in p.read_text() for p in out.glob("compare-*/summary.csv")):
        time.sleep(0.05)
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err and "--resume" in err
    (folder,) = out.iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert "quick" in {r["variant"] for r in summary["rows"] if r["status"] == "completed"}
    assert not (folder / ".lock").exists()


def test_an_output_folder_that_cannot_be_made_is_one_line(write_config, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    res = runner.invoke(app, ["train", str(write_config(small_raw())), "--out",
                              str(blocker / "runs"), "-q"])
    assert res.exit_code == 2 and "--out" in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_an_environment_failure(write_config, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    res = runner.invoke(app, ["train", str(write_config(small_raw())), "--out", str(ro), "-q"])
    assert res.exit_code in (2, 3) and "Traceback" not in res.output


def test_a_full_disk_keeps_earlier_files_and_no_half_result(write_config, tmp_path,
                                                             monkeypatch):
    import dlcli.runs

    real = dlcli.runs.atomic_file

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            self.fh.write(data[: len(data) // 2])  # half of it reaches the temp file
            raise OSError(errno.ENOSPC, "No space left on device")

    from contextlib import contextmanager

    @contextmanager
    def filling(path, durable=True):
        with real(path, durable) as fh:
            yield Full(fh) if path.name == "result.json" else fh

    monkeypatch.setattr(dlcli.runs, "atomic_file", filling)
    res = runner.invoke(app, ["train", str(write_config(small_raw(iterations=5))), "--out",
                              str(tmp_path), "-q"])
    assert res.exit_code == 3, res.output
    assert "No space left on device" in res.output and "Traceback" not in res.output
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    names = {p.name for p in run.iterdir()}
    assert "result.json" not in names and not [n for n in names if n.endswith(".tmp")]
    assert yaml.safe_load((run / "config.yaml").read_text())["name"] == "small"
    assert len(list(csv.DictReader((run / "metrics.csv").open()))) == 5


def test_eight_runs_started_at_once_into_one_folder(write_config, tmp_path):
    cfg = write_config(small_raw(iterations=2))
    procs = [_dlcli("train", str(cfg), "--out", str(tmp_path), "-q") for _ in range(8)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    runs = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(runs) == 8
    assert all(json.loads((r / "result.json").read_text())["status"] == "completed"
               for r in runs)


def test_runs_list_survives_broken_folders(write_config, tmp_path):
    good = runner.invoke(app, ["train", str(write_config(small_raw(iterations=2))), "--out",
                               str(tmp_path), "-q"])
    assert good.exit_code == 0
    broken = {
        "20260101-000000-junk-aaaaaa": {"result.json": b"{not json", "config.yaml": b"a: ["},
        "20260101-000001-list-bbbbbb": {"result.json": b"[1, 2]", "config.yaml": b"- 1\n"},
        "20260101-000002-binary-cccccc": {"config.yaml": bytes(range(256)),
                                          "metrics.csv": b"\x00\xff"},
        "20260101-000003-types-dddddd": {"result.json": json.dumps(
            {"status": 7, "metrics": [1], "wall_time_s": "x"}).encode(),
            "config.yaml": b"data: 5\nmodel: [1]\nstrategy: null\n"},
        "compare-20260101-000004-cmp-eeeeee": {"sweep.json": b"{\"variants\": 3}",
                                               "summary.json": b"null"},
        "20260101-000005-bomb-ffffff": {"config.yaml": _laughs().encode()},
    }
    for name, files in broken.items():
        (tmp_path / name).mkdir()
        for file, data in files.items():
            (tmp_path / name / file).write_bytes(data)
    (tmp_path / "20260101-000006-empty-000000").mkdir()
    (tmp_path / "not-a-folder").write_text("x")
    for args in (["runs", "list", str(tmp_path)], ["runs", "list", str(tmp_path), "--all"],
                 ["runs", "list", str(tmp_path), "--json"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        assert "Traceback" not in res.output
    for name in broken:
        res = runner.invoke(app, ["runs", "show", name, "--dir", str(tmp_path)])
        assert res.exit_code in (0, 2) and "Traceback" not in res.output, (name, res.output)


def test_an_output_path_through_a_file_says_not_a_directory(write_config, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out, words in ((blocker, "not a directory"), (blocker / "runs", "is a file")):
        res = runner.invoke(app, ["train", str(write_config(small_raw())), "--out", str(out)])
        assert res.exit_code == 2 and words in res.output and "File exists" not in res.output


def test_a_sigterm_in_one_command_does_not_change_the_next_ones_exit_code(tmp_path, monkeypatch,
                                                                           write_config):
    """In one process (a notebook, a test runner), a command stopped by SIGTERM exits 143 and
    the next one stopped by Ctrl-C 130: the code comes from the command's own signal."""
    from dlcli import api
    from dlcli.config import validate
    from dlcli.strategies import STRATEGIES
    from tests.test_resume import SignalAt

    stopped = api.train(validate(small_raw(name="sgd", iterations=30)), out=tmp_path / "a",
                        callbacks=[SignalAt(5, signal.SIGTERM)])
    assert stopped["status"] == "interrupted"

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setitem(STRATEGIES, "sgd", ctrl_c)
    res = runner.invoke(app, ["train", str(write_config(small_raw())), "--out",
                              str(tmp_path / "b"), "-q"])
    assert res.exit_code == 130, res.output
