"""``dlcli compare`` end to end: the compare folder, faults, resume, parallel and Dask runs."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.strategies import STRATEGIES
from tests.conftest import small_raw

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def _run(*args: str):
    return runner.invoke(app, ["compare", *args])


def _sweep(tmp_path: Path, variants, seeds=None, **extra) -> Path:
    base = small_raw(iterations=10)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    spec = {"name": "demo", "base": "base.yaml", "variants": variants, **extra}
    if seeds is not None:
        spec["seeds"] = seeds
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _folder(out: Path) -> Path:
    (folder,) = out.glob("compare-*-demo-*")
    return folder


def _rows(folder: Path) -> dict[str, dict]:
    return {r["variant"] + f"/{r['seed']}": r
            for r in json.loads((folder / "summary.json").read_text())["rows"]}


def _broken(*args, **kwargs):
    raise RuntimeError("kaboom\nand a second line nobody needs")


THREE = [{"name": "sgd"}, {"name": "gd", "strategy.name": "gd"},
         {"name": "momentum", "strategy.name": "momentum"}]


@pytest.mark.plots
def test_compare_writes_runs_summaries_and_plots(tmp_path):
    sweep = _sweep(tmp_path, [{"name": "sgd"}, {"name": "momentum", "strategy.name": "momentum"}],
                   seeds=[0, 1], sweep={"strategy.lr": [1e-6, 2e-6]})
    res = _run(str(sweep), "--out", str(tmp_path / "runs"))
    assert res.exit_code == 0, res.output
    folder = _folder(tmp_path / "runs")
    assert folder.name.startswith("compare-") and folder.name.split("-")[3] == "demo"
    runs = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert runs[0] == "01-sgd-lr1e-06-seed0" and len(runs) == 8
    for run in runs:
        assert {"config.yaml", "metrics.csv", "params.npz", "result.json", "loss.png"} <= {
            p.name for p in (folder / run).iterdir()}
    for name in ("summary.csv", "summary.json", "summary.md", "sweep.json"):
        assert (folder / name).stat().st_size > 0
    for name in ("loss.png", "metric.png"):
        assert (folder / name).read_bytes()[:8] == PNG
    page = (folder / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("data:image/png;base64,") >= 2
    frozen = json.loads((folder / "sweep.json").read_text())
    assert len(frozen["variants"]) == 8 and frozen["variants"][0]["config"]["seed"] == 0
    command = json.loads((folder / runs[0] / "result.json").read_text())["command"]
    assert command == frozen["command"] == f"dlcli compare {sweep} --out {tmp_path / 'runs'}"
    assert "sorted by val_accuracy" in res.output and "across seeds" in res.output
    assert "[8/8]" in res.output and "8 of 8 variants completed" in res.output
    assert res.stdout.rstrip().splitlines()[-1].startswith("chosen on validation: ")


def test_an_invalid_variant_stops_everything_before_running(tmp_path):
    sweep = _sweep(tmp_path, [{"name": "ok"}, {"name": "bad", "strategy": {"lr": 0}}])
    res = _run(str(sweep), "--out", str(tmp_path / "runs"))
    assert res.exit_code == 2
    assert "(variant bad): strategy.lr: must be greater than 0, got 0" in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    assert not (tmp_path / "runs").exists()


def test_failing_and_diverging_variants_are_recorded_and_resume_reruns_them(
        tmp_path, monkeypatch):
    monkeypatch.setitem(STRATEGIES, "gd", _broken)
    variants = [*THREE, {"name": "huge-lr", "strategy": {"lr": 1.0e6, "iterations": 30}}]
    out = tmp_path / "runs"
    res = _run(str(_sweep(tmp_path, variants)), "--out", str(out), "-q")
    assert res.exit_code == 1, res.output
    folder = _folder(out)
    rows = _rows(folder)
    assert rows["gd/0"]["status"] == "failed" and rows["gd/0"]["error"] == "RuntimeError: kaboom"
    assert rows["huge-lr/0"]["status"] == "diverged"
    assert rows["sgd/0"]["status"] == rows["momentum/0"]["status"] == "completed"
    failed = json.loads((folder / "02-gd" / "result.json").read_text())
    assert failed["status"] == "failed"
    assert "--resume" in res.output and "RuntimeError: kaboom" in res.output

    monkeypatch.undo()  # the bug is fixed: resume runs only what did not complete
    kept = {name: (folder / name / "result.json").stat().st_mtime_ns
            for name in ("01-sgd", "03-momentum")}
    res = _run("--resume", str(folder), "-q")
    assert res.exit_code == 1  # huge-lr diverges again
    rows = _rows(folder)
    assert rows["gd/0"]["status"] == "completed" and rows["huge-lr/0"]["status"] == "diverged"
    # a divergence is the same bits every time: no advice to resume, the advice to lower lr
    assert "--resume" not in res.output and "lower strategy.lr" in res.output
    assert all((folder / n / "result.json").stat().st_mtime_ns == t for n, t in kept.items())


def test_resume_runs_only_the_missing_variants(tmp_path):
    out = tmp_path / "runs"
    assert _run(str(_sweep(tmp_path, THREE)), "--out", str(out), "-q").exit_code == 0
    folder = _folder(out)
    before = json.loads((folder / "summary.json").read_text())["rows"]
    kept = (folder / "01-sgd" / "result.json").stat().st_mtime_ns
    for p in (folder / "02-gd").iterdir():  # as if the run had crashed half-way
        if p.name == "result.json":
            p.unlink()
    res = _run("--resume", str(folder), "--sort", "final_x")  # a landscape's, not these runs'
    assert res.exit_code == 2 and "--sort 'final_x': unknown column" in res.output
    res = _run("--resume", str(folder))
    assert res.exit_code == 0, res.output
    assert "[3/3] gd" in res.output and "sgd  completed" not in res.output
    assert (folder / "01-sgd" / "result.json").stat().st_mtime_ns == kept
    after = json.loads((folder / "summary.json").read_text())["rows"]
    assert [r["metrics"] for r in after] == [r["metrics"] for r in before]  # deterministic


def test_fail_fast_stops_at_the_first_failure(tmp_path, monkeypatch):
    monkeypatch.setitem(STRATEGIES, "sgd", _broken)
    res = _run(str(_sweep(tmp_path, THREE)), "--out", str(tmp_path / "r"), "--fail-fast")
    assert res.exit_code == 1
    folder = _folder(tmp_path / "r")
    assert list(_rows(folder)) == ["sgd/0"] and not (folder / "02-gd").exists()
    assert "0 of 3 variants completed" in res.output


def test_ctrl_c_keeps_what_finished_exits_130_and_resume_completes(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setitem(STRATEGIES, "gd", interrupted)
    res = _run(str(_sweep(tmp_path, THREE)), "--out", str(tmp_path / "r"), "-q")
    assert res.exit_code == 130
    folder = _folder(tmp_path / "r")
    rows = _rows(folder)
    assert rows["sgd/0"]["status"] == "completed" and rows["gd/0"]["status"] == "interrupted"
    assert "momentum/0" not in rows
    monkeypatch.undo()
    assert _run("--resume", str(folder), "-q").exit_code == 0
    assert {r["status"] for r in _rows(folder).values()} == {"completed"}


def _numbers(folder: Path) -> dict[str, tuple]:
    """Every variant's metrics, loss curve and final weights, keyed by its config hash."""
    out = {}
    for row in json.loads((folder / "summary.json").read_text())["rows"]:
        run = folder / row["run_dir"]
        losses = [line.split(",")[1] for line in (run / "metrics.csv").read_text().splitlines()]
        out[row["hash"]] = (row["metrics"], losses, np.load(run / "params.npz")["W"].tobytes())
    return out


def test_serial_jobs_and_dask_give_the_same_numbers_bit_for_bit(tmp_path):
    # A random search's trials are drawn up front: the same trials, numbers and weights.
    distributed = pytest.importorskip("distributed")
    search = {"trials": 2, "seed": 5, "params": {"strategy.lr": {"loguniform": [1e-7, 1e-5]},
                                                 "model.reg": {"loguniform": [1e-4, 1.0]}}}
    sweep = _sweep(tmp_path, [{"name": "sgd"}, {"name": "rs", "strategy.name": "random-search"}],
                   search=search)
    assert _run(str(sweep), "--out", str(tmp_path / "serial"), "-q").exit_code == 0
    res = _run(str(sweep), "--out", str(tmp_path / "jobs"), "-q", "--jobs", "2")
    assert res.exit_code == 0, res.output
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        res = _run(str(sweep), "--out", str(tmp_path / "dask"), "-q",
                   "--scheduler", cluster.scheduler_address)
    assert res.exit_code == 0, res.output
    serial = _numbers(_folder(tmp_path / "serial"))
    assert len(serial) == 4
    assert _numbers(_folder(tmp_path / "jobs")) == serial
    assert _numbers(_folder(tmp_path / "dask")) == serial


def test_scheduler_errors_are_one_line_and_nothing_runs(tmp_path, monkeypatch):
    sweep = str(_sweep(tmp_path, [{"name": "a"}]))
    out = str(tmp_path / "runs")
    res = _run(sweep, "--out", out, "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "0.5")
    # nobody answers: the environment (exit 3), not the command line
    assert res.exit_code == 3 and "--scheduler tcp://127.0.0.1:9: cannot reach" in res.output
    res = _run(sweep, "--out", out, "--scheduler", "tcp://127.0.0.1:9", "--jobs", "2")
    assert res.exit_code == 2 and "choose one" in res.output
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra was not installed
    res = _run(sweep, "--out", out, "--scheduler", "tcp://127.0.0.1:9")
    assert res.exit_code == 2 and "pip install 'dlcli[dask]'" in res.output
    assert not (tmp_path / "runs").exists()


def test_shortcuts_on_a_plain_config_sort_and_json(tmp_path):
    cfg = tmp_path / "plain.yaml"
    cfg.write_text(yaml.safe_dump(small_raw(iterations=5)))
    res = _run(str(cfg), "--out", str(tmp_path / "r"), "--strategy", "sgd", "--strategy", "gd",
               "--grid", "strategy.lr=1e-6,3e-6", "--seed", "2", "--sort", "final_loss",
               "--json", "-q")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["name"] == "small" and summary["grid_keys"] == ["strategy.lr"]
    labels = [r["label"] for r in summary["rows"]]
    assert labels == ["sgd lr=1e-06 seed=2", "sgd lr=3e-06 seed=2", "gd lr=1e-06 seed=2",
                      "gd lr=3e-06 seed=2"]
    assert "sorted by final_loss" in res.output
    losses = [r["metrics"]["final_loss"] for r in summary["rows"]]
    shown = [float(line.split()[5]) for line in res.output.splitlines()
             if line.startswith(("sgd ", "gd "))]
    assert shown == pytest.approx(sorted(losses), rel=1e-3)


@pytest.mark.parametrize(("args", "expected"), [
    ([], "give a sweep or config FILE, --resume DIR or --refine DIR"),
    (["--sort", "acc"], "--sort 'acc': unknown column"),
    (["--resume", "nowhere", "--set", "seed=1"], "frozen sweep as it was; --set does not"),
    (["--grid", "strategy.lr"], "--grid 'strategy.lr': expected KEY.PATH=V1,V2"),
])
def test_usage_errors_exit_2(tmp_path, args, expected):
    cfg = tmp_path / "plain.yaml"
    cfg.write_text(yaml.safe_dump(small_raw()))
    if args and args[0] != "--resume":
        args = [str(cfg), *args]
    res = _run(*args, "--out", str(tmp_path / "r"))
    assert res.exit_code == 2 and expected in res.output, res.output
    assert not (tmp_path / "r").exists()


def test_resume_needs_a_compare_folder(tmp_path):
    res = _run("--resume", str(tmp_path))
    assert res.exit_code == 2 and "no sweep.json there" in res.output


def _houses(tmp_path, *args):
    sweep = Path(__file__).resolve().parents[1] / "configs" / "houses-lr-sweep.yaml"
    return _run(str(sweep), "--out", str(tmp_path), "-q", "--json", "--set",
                "strategy.iterations=5", "--set", "data.num_train=80", "--set", "data.num_val=20",
                "--set", "data.num_test=20", "--grid", "strategy.lr=0.01,0.1", *args)


def test_a_regression_sweep_ranks_by_val_r2_and_reports_test_r2(tmp_path):
    res = _houses(tmp_path)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["metric"] == "val_r2" and summary["higher_is_better"]
    assert summary["report_metric"] == "test_r2" and summary["chosen"]["metric"] == "val_r2"
    (folder,) = tmp_path.glob("compare-*-houses-lr-sweep-*")
    header = (folder / "summary.csv").read_text().splitlines()[0].split(",")
    assert header[4:7] == ["status", "val_r2", "test_r2"] and "test_rmse" in header
    assert "sorted by val_r2" in res.output and "chosen on validation: " in res.output


def test_a_regression_sweep_sorts_by_any_of_its_metrics(tmp_path):
    res = _houses(tmp_path, "--sort", "val_mae")  # refused before; the others: test_report.py
    assert res.exit_code == 0, res.output
    assert "sorted by val_mae" in res.output and "chosen on validation: " in res.output


def _lr_sweep(tmp_path: Path, lrs, **data) -> Path:
    base = small_raw(iterations=10)
    base["data"].update(data)
    path = tmp_path / "lrs.yaml"
    path.write_text(yaml.safe_dump({"name": "demo", "base": base, "sweep": {"strategy.lr": lrs}}))
    return path


def _table_lrs(output: str) -> list[str]:
    return [line.split()[0] for line in output.splitlines() if line.strip()[:1].isdigit()
            and "e-" in line.split()[0]]


# On the small data (50 validation and 50 test images) these three learning rates disagree:
# validation prefers 3e-6 (0.30 against 0.28 and 0.26), test prefers 1e-5 (0.40).
DISAGREE = [1e-7, 3e-6, 1e-5]


def test_a_comparison_is_chosen_on_validation_when_test_disagrees(tmp_path):
    res = _run(str(_lr_sweep(tmp_path, DISAGREE)), "--out", str(tmp_path / "r"), "-q")
    assert res.exit_code == 0, res.output
    summary = json.loads((_folder(tmp_path / "r") / "summary.json").read_text())
    rows = {r["strategy.lr"]: r["metrics"] for r in summary["rows"]}
    by_val = max(rows, key=lambda lr: rows[lr]["val_accuracy"])
    by_test = max(rows, key=lambda lr: rows[lr]["test_accuracy"])
    assert (by_val, by_test) == (3e-6, 1e-5), rows  # the premise of this test
    assert "demo: sorted by val_accuracy" in res.stdout
    assert _table_lrs(res.stdout) == ["3e-06", "1e-07", "1e-05"]
    last = res.stdout.rstrip().splitlines()[-1]
    assert last == (f"chosen on validation: small lr=3e-06 — val_accuracy "
                    f"{rows[3e-6]['val_accuracy']:.3f}, test_accuracy "
                    f"{rows[3e-6]['test_accuracy']:.3f}")
    assert summary["metric"] == "val_accuracy" and summary["report_metric"] == "test_accuracy"
    assert summary["chosen"]["label"] == "small lr=3e-06" and summary["chosen"]["indices"] == [2]


def test_sort_by_test_on_request_still_chooses_on_validation(tmp_path):
    res = _run(str(_lr_sweep(tmp_path, DISAGREE)), "--out", str(tmp_path / "r"), "-q",
               "--sort", "test_accuracy")
    assert res.exit_code == 0, res.output
    assert "demo: sorted by test_accuracy" in res.stdout
    assert _table_lrs(res.stdout)[0] == "1e-05"
    assert "chosen on validation: small lr=3e-06" in res.stdout


def test_without_a_validation_split_the_final_loss_ranks_and_says_so(tmp_path):
    res = _run(str(_lr_sweep(tmp_path, DISAGREE, num_val=0)), "--out", str(tmp_path / "r"),
               "-q", "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["metric"] == "final_loss" and not summary["higher_is_better"]
    assert "sorted by final_loss (no validation split: num_val is 0)" in res.output
    losses = {r["strategy.lr"]: r["metrics"]["final_loss"] for r in summary["rows"]}
    best = min(losses, key=losses.get)
    assert summary["chosen"]["label"] == f"small lr={best:g}"
    assert "chosen on final_loss (no validation split): " in res.output


def test_a_landscape_sweep_is_not_offered_test_accuracy(tmp_path):
    cfg = Path(__file__).resolve().parents[1] / "configs" / "landscape-rosenbrock-gd.yaml"
    res = _run(str(cfg), "--out", str(tmp_path / "r"), "--grid", "strategy.lr=1e-4,1e-3",
               "--sort", "test_accuracy")
    assert res.exit_code == 2 and "--sort 'test_accuracy': unknown column" in res.output
    assert "final_x" in res.output and not (tmp_path / "r").exists()


def test_a_broken_executor_keeps_the_rows_so_far(tmp_path):
    from dlcli.sweeps import compare
    from dlcli.sweeps.files import load_plan

    plan = load_plan(_sweep(tmp_path, THREE))

    def dies_after_one(tasks):
        yield compare.run_variant(tasks[0])
        raise RuntimeError("A worker process was terminated abruptly (OOM?)")

    folder = compare.start(plan, tmp_path / "runs", "test")
    from dlcli.sweeps.run import run_plan

    summary = run_plan(plan, folder, dies_after_one)
    assert [r["variant"] for r in summary.rows] == ["sgd"] and not summary.interrupted
    assert summary.notes == ["the workers stopped: RuntimeError: A worker process was "
                             "terminated abruptly (OOM?)"]
    assert len(json.loads((folder / "summary.json").read_text())["rows"]) == 1


def test_a_comparison_in_use_is_not_resumed_twice_and_a_stale_lock_is_taken_over(tmp_path):
    import os

    out = tmp_path / "runs"
    assert _run(str(_sweep(tmp_path, THREE)), "--out", str(out), "-q").exit_code == 0
    folder = _folder(out)
    (folder / "02-gd" / "result.json").unlink()
    lock = folder / ".lock"
    lock.write_text(str(os.getpid()))  # a live process holds it
    res = _run("--resume", str(folder))
    assert res.exit_code == 2 and "in use by another dlcli compare" in res.output
    assert (folder / "01-sgd" / "result.json").exists()
    lock.write_text("999999999")  # its owner is gone
    res = _run("--resume", str(folder))
    assert res.exit_code == 0, res.output
    assert not lock.exists() and (folder / "02-gd" / "result.json").exists()


def test_compare_threads_and_mlflow(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # an SQLite store keeps its artifacts in ./mlruns
    sweep = _sweep(tmp_path, [{"name": "sgd"}, {"name": "momentum", "strategy.name": "momentum"}])
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    res = _run(str(sweep), "--out", str(tmp_path / "runs"), "-q", "--threads", "1",
               "--mlflow", uri)
    assert res.exit_code == 0, res.output
    folder = _folder(tmp_path / "runs")
    for run in (p for p in folder.iterdir() if p.is_dir()):
        assert json.loads((run / "result.json").read_text())["threads"] == 1
    client = MlflowClient(tracking_uri=uri)
    (exp,) = [e for e in client.search_experiments() if e.name == "demo"]
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and len(runs) == 3
