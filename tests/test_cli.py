"""The CLI end to end: typer's CliRunner in-process, and a real subprocess for Ctrl-C."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dlcli.cli import app
from tests.conftest import small_raw

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args))


def _run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir())


@pytest.mark.plots
def test_train_writes_a_complete_run_folder(write_config, tmp_path):
    cfg = write_config(small_raw(name="momentum"))
    out = tmp_path / "runs"
    res = _run("train", str(cfg), "--out", str(out))
    assert res.exit_code == 0, res.output
    (run,) = _run_dirs(out)
    assert run.name.endswith(run.name[-6:]) and "-small-" in run.name
    assert {p.name for p in run.iterdir()} == {"config.yaml", "metrics.csv", "result.json",
                                               "params.npz", "loss.png", "checkpoint.npz",
                                               "weights.png"}
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "completed" and result["iterations"] == 20
    assert set(result["metrics"]) == {"train_accuracy", "val_accuracy", "test_accuracy",
                                      "final_loss", "best_loss"}
    assert set(result["versions"]) == {"dlcli", "python", "numpy"}
    assert result["seed"] == 0 and "train" in result["command"]
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["strategy"]["rho"] == 0.9  # defaults are written out
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["iteration"]) for r in rows] == list(range(1, 21))
    assert [r["val_accuracy"] != "" for r in rows].count(True) == 4  # every 5 iterations
    params = np.load(run / "params.npz")
    assert params["W"].shape == (3073, 10)


def test_set_and_seed_override_and_are_recorded(write_config, tmp_path):
    cfg = write_config(small_raw())
    res = _run("train", str(cfg), "--out", str(tmp_path), "--set", "strategy.iterations=3",
               "--seed", "7", "--quiet")
    assert res.exit_code == 0, res.output
    (run,) = _run_dirs(tmp_path)
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["strategy"]["iterations"] == 3 and resolved["seed"] == 7


def test_json_output_is_one_object_per_run_for_a_batch(write_config, tmp_path):
    a = write_config(small_raw(), "a.yaml")
    b = write_config({**small_raw(name="gd", iterations=2), "name": "second"}, "b.yaml")
    res = runner.invoke(app, ["train", str(a), str(b), "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [Path(r["run_dir"]).name.split("-")[2] for r in lines] == ["small", "second"]
    assert all(r["status"] == "completed" for r in lines)


def test_same_seed_same_result_metrics(write_config, tmp_path):
    cfg = write_config(small_raw(name="momentum"))
    for _ in range(2):
        assert _run("train", str(cfg), "--out", str(tmp_path), "-q").exit_code == 0
    a, b = (json.loads((d / "result.json").read_text()) for d in _run_dirs(tmp_path))
    assert a["metrics"] == b["metrics"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({**small_raw(), "sed": 1}, "sed: unknown key (did you mean 'seed'?)"),
        (small_raw(name="sgdd"), "strategy.name: unknown name 'sgdd' (did you mean 'sgd'?)"),
        (small_raw(lr=-1), "strategy.lr: must be greater than 0, got -1"),
        ("a: [", "not valid YAML"),
        ("just text", "expected a mapping"),
    ],
)
def test_bad_config_exits_2_with_one_line(write_config, tmp_path, content, expected):
    cfg = write_config(content)
    res = _run("train", str(cfg), "--out", str(tmp_path))
    assert res.exit_code == 2
    assert expected in res.output and "Traceback" not in res.output
    assert str(cfg) in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not any(tmp_path.glob("*-*-*"))  # nothing ran


def test_missing_file_and_bad_set(tmp_path, write_config):
    res = _run("train", str(tmp_path / "missing.yaml"))
    assert res.exit_code == 2 and "no such file" in res.output
    res = _run("validate", str(write_config(small_raw())), "--set", "strategy.lrr=1")
    assert res.exit_code == 2 and "did you mean 'lr'" in res.output


def test_a_bad_config_in_a_batch_stops_everything_before_running(write_config, tmp_path):
    good = write_config(small_raw(), "good.yaml")
    bad = write_config(small_raw(lr=0), "bad.yaml")
    res = _run("train", str(good), str(bad), "--out", str(tmp_path / "runs"))
    assert res.exit_code == 2 and not (tmp_path / "runs").exists()


def test_validate_ok(write_config):
    res = _run("validate", str(write_config(small_raw())))
    assert res.exit_code == 0 and "ok" in res.output


def test_diverging_run_exits_1_and_keeps_its_metrics(write_config, tmp_path):
    cfg = write_config(small_raw(name="sgd", lr=1e6, iterations=50))
    res = _run("train", str(cfg), "--out", str(tmp_path), "-q")
    assert res.exit_code == 1, res.output
    (run,) = _run_dirs(tmp_path)
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "diverged" and "lower strategy.lr" in result["error"]
    assert (run / "metrics.csv").exists() and (run / "params.npz").exists()


def test_shipped_configs_validate(tmp_path, monkeypatch):
    root = Path(__file__).resolve().parents[1] / "configs"
    configs = sorted(root.glob("*.yaml"))
    assert configs
    monkeypatch.chdir(tmp_path)  # the real data would be here, where the configs point
    res = _run("validate", *map(str, configs))
    assert res.exit_code == 2 and "data.path: data does not exist" in res.output
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "kc_house_data.csv").write_text("")
    res = _run("validate", *map(str, configs))
    assert res.exit_code == 0, res.output


def _train_in_process(args: list[str]) -> int:
    return runner.invoke(app, args).exit_code


def test_two_runs_started_at_once_get_two_folders(write_config, tmp_path):
    cfg = write_config(small_raw(iterations=2))
    args = ["train", str(cfg), "--out", str(tmp_path), "-q"]
    with ProcessPoolExecutor(2) as pool:
        codes = list(pool.map(_train_in_process, [args, args]))
    assert codes == [0, 0] and len(_run_dirs(tmp_path)) == 2


def test_ctrl_c_stops_cleanly_with_exit_130(write_config, tmp_path):
    cfg = write_config(small_raw(name="random-search", iterations=1_000_000))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlcli", "train", str(cfg), "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until iterations are being written
        runs = list(tmp_path.glob("*/metrics.csv"))
        if runs and runs[0].stat().st_size > 200:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    (run,) = _run_dirs(tmp_path)
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "interrupted" and result["iterations"] > 0
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert len(rows) == result["iterations"]
    assert (run / "params.npz").exists()


def test_python_dash_m_and_help():
    out = subprocess.run([sys.executable, "-m", "dlcli", "--help"], capture_output=True,
                         text=True, check=True)
    assert "train" in out.stdout and "validate" in out.stdout


def test_threads_give_the_same_bits_and_are_recorded(write_config, tmp_path):
    raw = small_raw(name="momentum", iterations=6)
    raw["model"] = {"name": "mlp", "hidden": [96], "reg": 1e-3}
    raw["data"].update(num_train=600, normalize=True)
    cfg = write_config(raw)
    params = {}
    for n in ("1", "2", "3"):
        res = _run("train", str(cfg), "--out", str(tmp_path / n), "-q", "--threads", n)
        assert res.exit_code == 0, res.output
        (run,) = _run_dirs(tmp_path / n)
        result = json.loads((run / "result.json").read_text())
        assert result["threads"] == int(n) and result["blas"]["threads"] == 1
        assert result["blas"]["library"]
        params[n] = (run / "params.npz").read_bytes()
    assert params["1"] == params["2"] == params["3"]
    assert _run("train", str(cfg), "--threads", "0").exit_code == 2


def test_a_failing_trajectory_plot_keeps_the_results(tmp_path, monkeypatch):
    import dlcli.viz.trajectory

    def broken(*args, **kwargs):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(dlcli.viz.trajectory, "plot", broken)
    root = Path(__file__).resolve().parents[1]
    with pytest.warns(RuntimeWarning, match="trajectory.png not drawn"):
        res = _run("train", str(root / "configs" / "landscape-saddle-gd.yaml"), "--out",
                   str(tmp_path), "-q")
    assert res.exit_code == 0, res.output
    (run,) = _run_dirs(tmp_path)
    assert (run / "result.json").exists() and (run / "trajectory.csv").exists()
    assert not (run / "trajectory.png").exists()


def test_out_of_memory_is_one_line(write_config, monkeypatch):
    import dlcli.runner

    def no_memory(cfg):
        raise MemoryError

    monkeypatch.setattr(dlcli.runner, "build", no_memory)
    res = _run("train", str(write_config(small_raw())), "-q")
    assert res.exit_code == 3 and "out of memory" in res.output and "Traceback" not in res.output


@pytest.mark.plots
def test_every_file_of_a_run_folder_follows_the_umask(write_config, tmp_path):
    from dlcli.runs import umask

    umask.cache_clear()
    old = os.umask(0o022)
    try:
        res = _run("train", str(write_config(small_raw(iterations=3))), "--out", str(tmp_path),
                   "-q")
    finally:
        os.umask(old)
        umask.cache_clear()
    assert res.exit_code == 0, res.output
    (run,) = _run_dirs(tmp_path)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in run.iterdir()}
    assert set(modes) >= {"config.yaml", "metrics.csv", "params.npz", "result.json", "loss.png"}
    assert set(modes.values()) == {"0o644"}, modes


def test_tags_and_note_are_kept_in_result_json(write_config, tmp_path):
    res = _run("train", str(write_config(small_raw(iterations=2))), "--out", str(tmp_path),
               "-q", "--tag", "baseline", "--tag", "lr-1e-6", "--tag", "baseline",
               "--note", "first try")
    assert res.exit_code == 0, res.output
    (run,) = _run_dirs(tmp_path)
    result = json.loads((run / "result.json").read_text())
    assert result["tags"] == ["baseline", "lr-1e-6"] and result["note"] == "first try"
    assert "--tag baseline --tag lr-1e-6 --note 'first try'" in result["command"]
    for bad in ("", "two words", "x" * 65):
        res = _run("train", str(write_config(small_raw(iterations=2))), "--tag", bad)
        assert res.exit_code == 2 and "--tag" in res.output
