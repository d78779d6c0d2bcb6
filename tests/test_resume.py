"""Checkpoints (issue 12): a run stopped at any iteration and resumed ends with the same bits as
the same run uninterrupted; --iterations extends a run; bad resumes are refused in one line."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dlcli import api, checkpoint
from dlcli.cli import app
from dlcli.config import validate
from dlcli.train import Callback
from tests.conftest import small_raw

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


class SignalAt(Callback):
    """Sends this process ``sig`` while iteration ``at`` is being recorded: the loop finishes
    that iteration, checkpoints and stops, as it does on a real Ctrl-C or SIGTERM."""

    def __init__(self, at: int, sig: int = signal.SIGINT) -> None:
        self.at, self.sig = at, sig

    def on_step(self, record):
        if record.iteration == self.at:
            os.kill(os.getpid(), self.sig)


def _folder(out: Path) -> Path:
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def _rows(run: Path) -> list[dict[str, str]]:
    """metrics.csv without the wall-clock column, which no two runs share."""
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    for row in rows:
        row.pop("elapsed_s")
    return rows


def _same_run(a: Path, b: Path) -> None:
    assert (a / "params.npz").read_bytes() == (b / "params.npz").read_bytes()
    ra, rb = (json.loads((p / "result.json").read_text()) for p in (a, b))
    assert ra["metrics"] == rb["metrics"] and ra["iterations"] == rb["iterations"]
    assert ra["kept"] == rb["kept"] and ra["status"] == rb["status"] == "completed"
    assert _rows(a) == _rows(b)


CASES = {
    "random-search": {"iterations": 12},
    "random-local-search": {"iterations": 12},
    "numerical-gd": {"iterations": 4, "eval_batch": 8},
    "gd": {"iterations": 12},
    "sgd": {"iterations": 12, "schedule": "step", "lr_step_every": 4},
    "momentum": {"iterations": 12},
    "sgd-nesterov": {"name": "sgd", "iterations": 12, "update": "nesterov"},
    "sgd-adagrad": {"name": "sgd", "iterations": 12, "update": "adagrad", "lr": 1e-3},
    "sgd-rmsprop": {"name": "sgd", "iterations": 12, "update": "rmsprop", "lr": 1e-4},
    "sgd-adam": {"name": "gd", "iterations": 12, "update": "adam", "lr": 1e-4,
                 "schedule": "cosine", "clip_norm": 5.0, "weight_decay": 0.1},
}


# Every case once, stopped by Ctrl-C and SIGTERM in turn (the signal changes the status message
# and the exit code, tested in test_faults, not what is saved).
STOPS = [(case, (signal.SIGINT, signal.SIGTERM)[i % 2]) for i, case in enumerate(sorted(CASES))]


@pytest.mark.parametrize(("case", "sig"), STOPS, ids=[f"{c}-{s.name}" for c, s in STOPS])
def test_stopped_and_resumed_equals_uninterrupted(tmp_path, case, sig):
    settings = {"name": case, **CASES[case]}
    raw = small_raw(**settings)
    raw.update(eval_every=3, keep="best", early_stopping={"patience": 50})
    cfg = validate(raw)
    api.train(cfg, out=tmp_path / "whole")
    at = 2 if settings["name"] == "numerical-gd" else 5
    stopped = api.train(cfg, out=tmp_path / "part", callbacks=[SignalAt(at, sig)])
    assert stopped["status"] == "interrupted" and stopped["iterations"] == at
    part = _folder(tmp_path / "part")
    resumed = api.resume_run(part)
    assert resumed["status"] == "completed"
    assert [s["to_iteration"] for s in resumed["resumed_from"]] == [at, cfg.strategy.iterations]
    _same_run(_folder(tmp_path / "whole"), part)


@pytest.mark.parametrize("model", ["mlp", "landscape"])
def test_mlp_and_landscape_runs_resume_to_the_same_bits(tmp_path, model):
    if model == "mlp":
        raw = small_raw(name="momentum", iterations=10)
        raw["model"] = {"name": "mlp", "hidden": [16], "reg": 1e-3}
        raw["strategy"]["lr"] = 1e-3
        raw["data"]["normalize"] = True
    else:
        raw = {"name": "land", "data": {"source": "landscape", "function": "saddle",
                                        "noise": 0.1}, "strategy": {"name": "sgd",
                                                                    "iterations": 10,
                                                                    "lr": 0.05}}
    cfg = validate({**raw, "eval_every": 2})
    api.train(cfg, out=tmp_path / "whole")
    api.train(cfg, out=tmp_path / "part", callbacks=[SignalAt(4)])
    api.resume_run(_folder(tmp_path / "part"))
    _same_run(_folder(tmp_path / "whole"), _folder(tmp_path / "part"))
    if model == "landscape":
        whole, part = (_folder(tmp_path / p) / "trajectory.csv" for p in ("whole", "part"))
        assert whole.read_text() == part.read_text()


def test_iterations_extends_a_completed_run_like_a_longer_one(tmp_path):
    raw = small_raw(name="sgd", iterations=20)
    raw["eval_every"] = 5
    api.train(validate(raw), out=tmp_path / "short")
    api.train(validate({**raw, "strategy": {**raw["strategy"], "iterations": 40}}),
              out=tmp_path / "long")
    short = _folder(tmp_path / "short")
    res = runner.invoke(app, ["train", "--resume", str(short), "--iterations", "40", "-q"])
    assert res.exit_code == 0, res.output
    _same_run(_folder(tmp_path / "long"), short)
    assert yaml.safe_load((short / "config.yaml").read_text())["strategy"]["iterations"] == 40


def _stopped_run(tmp_path: Path, **settings) -> Path:
    cfg = validate(small_raw(name="sgd", iterations=30, **settings))
    api.train(cfg, out=tmp_path, callbacks=[SignalAt(5)])
    return _folder(tmp_path)


def _refused(*args: str) -> str:
    res = runner.invoke(app, ["train", *args])
    assert res.exit_code == 2, res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    return res.output


def test_bad_resumes_are_refused_in_one_line(tmp_path):
    run = _stopped_run(tmp_path / "a")
    assert "no such run" in _refused("--resume", str(tmp_path / "nope"))
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["strategy"]["lr"] = 2e-6
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert "changed since the checkpoint" in _refused("--resume", str(run))

    run = _stopped_run(tmp_path / "b")
    (run / ".lock").write_text(str(os.getppid()))  # a live process holds it
    assert "in use by another dlcli" in _refused("--resume", str(run))
    (run / ".lock").write_text("999999999")  # its owner is gone: taken over
    assert runner.invoke(app, ["train", "--resume", str(run), "-q"]).exit_code == 0
    assert "already did its 30 iterations" in _refused("--resume", str(run))
    assert "give a larger total" in _refused("--resume", str(run), "--iterations", "20")

    run = _stopped_run(tmp_path / "c", schedule="cosine")
    assert "cosine" in _refused("--resume", str(run), "--iterations", "60")
    (run / "checkpoint.npz").unlink()
    assert "no checkpoint.npz" in _refused("--resume", str(run))


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("damage", ["truncated", "garbage", "format", "shape", "object"])
def test_corrupt_checkpoints_are_refused(tmp_path, damage):
    run = _stopped_run(tmp_path)
    path = run / "checkpoint.npz"
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    else:
        tree = checkpoint.load(path)
        if damage == "format":
            checkpoint.save(path, tree)
            with zipfile.ZipFile(path) as zf:
                meta = json.loads(zf.read("meta.json"))
            meta["format"] = 99
            _rewrite_meta(path, meta)
        elif damage == "shape":
            tree["state"]["x"]["W"] = np.zeros((3, 3), np.float32)
            checkpoint.save(path, tree)
        else:
            with zipfile.ZipFile(path, "a") as zf:  # an object array where W belongs
                buf = __import__("io").BytesIO()
                np.save(buf, np.array([None], dtype=object), allow_pickle=True)
                zf.writestr("state:x:W.npy", buf.getvalue())
    out = _refused("--resume", str(run))
    assert "checkpoint" in out or "format" in out


def _rewrite_meta(path: Path, meta: dict) -> None:
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if n != "meta.json"}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("meta.json", json.dumps(meta))
        for name, blob in members.items():
            zf.writestr(name, blob)


def test_sigkill_then_resume_gives_the_uninterrupted_bits(tmp_path):
    """Acceptance: dlcli train of configs/quickstart.yaml killed with SIGKILL part-way."""
    quick = ROOT / "configs" / "quickstart.yaml"
    sets = ["--set", "checkpoint_every=20", "--set", "strategy.iterations=400"]
    whole = subprocess.run([sys.executable, "-m", "dlcli", "train", str(quick), "--out",
                            str(tmp_path / "whole"), "-q", *sets], capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert whole.returncode == 0, whole.stderr
    proc = subprocess.Popen([sys.executable, "-m", "dlcli", "train", str(quick), "--out",
                             str(tmp_path / "part"), "-q", *sets],
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = list((tmp_path / "part").glob("*/checkpoint.npz"))
        if found and checkpoint.load(found[0])["iteration"] >= 100:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    part = _folder(tmp_path / "part")
    assert not (part / "result.json").exists()
    res = subprocess.run([sys.executable, "-m", "dlcli", "train", "--resume", str(part), "-q"],
                         capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    _same_run(_folder(tmp_path / "whole"), part)


def _summary_without_times(folder: Path) -> list[dict[str, str]]:
    rows = list(csv.DictReader((folder / "summary.csv").open()))
    for row in rows:
        row.pop("wall_time_s")
    return rows


def test_a_killed_compare_resumes_its_partial_variant_to_the_same_summary(tmp_path,
                                                                          write_config):
    base = small_raw(name="sgd", iterations=1000, lr=1e-7)
    base.update(checkpoint_every=25, eval_every=100)
    write_config(base, "base.yaml")
    sweep = write_config({"name": "k", "base": "base.yaml", "variants": [
        {"name": "quick", "strategy": {"iterations": 20}},
        {"name": "long", "strategy": {"name": "momentum"}},
        {"name": "after", "strategy": {"iterations": 20}}]}, "sweep.yaml")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    whole = subprocess.run([sys.executable, "-m", "dlcli", "compare", str(sweep), "--out",
                            str(tmp_path / "whole"), "-q"], capture_output=True, text=True,
                           env=env)
    assert whole.returncode == 0, whole.stderr
    proc = subprocess.Popen([sys.executable, "-m", "dlcli", "compare", str(sweep), "--out",
                             str(tmp_path / "part"), "-q"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = list((tmp_path / "part").glob("*/02-long/checkpoint.npz"))
        if found and checkpoint.load(found[0])["iteration"] >= 250:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    folder = _folder(tmp_path / "part")
    res = runner.invoke(app, ["compare", "--resume", str(folder), "-q"])
    assert res.exit_code == 0, res.output
    long = json.loads((folder / "02-long" / "result.json").read_text())
    assert long["resumed_from"][0]["to_iteration"] >= 250  # continued, not started over
    assert _summary_without_times(folder) == _summary_without_times(
        _folder(tmp_path / "whole"))
