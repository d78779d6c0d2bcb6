"""MLflow: runs and comparisons logged to a local store and read back with MlflowClient; an
unreachable server only warns; one test logs to a real ``mlflow server`` over HTTP (slow)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlcli import api
from dlcli.cli import app
from dlcli.config import validate
from tests.conftest import small_raw

pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A tagged run and a two-variant comparison, logged to a folder store."""
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # read back without sqlite's 7 s
    from dlcli.tracking import export as tracking

    tmp = tmp_path_factory.mktemp("mlflow")
    root, uri = tmp / "runs", (tmp / "mlruns").as_uri()
    run = api.train(validate(small_raw(iterations=12)), out=root,
                    extra={"tags": ["baseline", "lr:1e-6"], "note": "the lecture's lr"})
    sweep = tmp / "pair.yaml"
    sweep.write_text(yaml.safe_dump({
        "name": "pair", "base": small_raw(iterations=6),
        "variants": [{"name": "sgd"}, {"name": "mom", "strategy": {"name": "momentum"}}]}))
    folder = api.compare(sweep, out=root).folder
    return {"run": Path(run["run_dir"]), "compare": folder, "root": root, "uri": uri,
            "run_id": tracking.export_run(run["run_dir"], uri),
            "parent_id": tracking.export_compare(folder, uri),
            "client": MlflowClient(tracking_uri=uri)}


def test_a_run_has_its_params_metric_curves_tags_and_files(logged):
    client, rid = logged["client"], logged["run_id"]
    run = client.get_run(rid)
    assert client.get_experiment(run.info.experiment_id).name == "small"
    assert run.info.status == "FINISHED" and run.info.run_name == logged["run"].name
    params = run.data.params
    assert params["strategy.name"] == "sgd" and params["strategy.lr"] == "1e-06"
    assert params["data.num_train"] == "200" and params["model.name"] == "softmax"
    loss = client.get_metric_history(rid, "loss")
    assert [m.step for m in loss] == list(range(1, 13))
    val = client.get_metric_history(rid, "eval/val_accuracy")
    assert [m.step for m in val] == [5, 10, 12] and 0 <= val[-1].value <= 1
    assert [m.step for m in client.get_metric_history(rid, "eval/train_accuracy")] == [5, 10, 12]
    result = json.loads((logged["run"] / "result.json").read_text())
    assert run.data.metrics["test_accuracy"] == pytest.approx(result["metrics"]["test_accuracy"])
    tags = run.data.tags
    assert tags["dlcli.status"] == "completed" and tags["dlcli.seed"] == "0"
    assert tags["dlcli.run_id"] == logged["run"].name and tags["baseline"] == "true"
    assert tags["dlcli.tags"] == "baseline,lr:1e-6" and "lr:1e-6" not in tags  # not a key
    assert tags["mlflow.note.content"] == "the lecture's lr"
    files = {f.path for f in client.list_artifacts(rid)}
    assert {"config.yaml", "result.json", "metrics.csv", "params.npz", "loss.png"} <= files


def test_a_comparison_is_a_parent_run_with_one_nested_run_per_variant(logged):
    client, parent = logged["client"], logged["parent_id"]
    top = client.get_run(parent)
    assert client.get_experiment(top.info.experiment_id).name == "pair"
    assert top.data.tags["dlcli.chosen"] in ("sgd", "mom")
    assert "summary.json" in {f.path for f in client.list_artifacts(parent)}
    kids = client.search_runs([top.info.experiment_id],
                              filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
    assert sorted(r.data.tags["dlcli.variant"] for r in kids) == ["mom", "sgd"]
    assert {r.data.tags["dlcli.run_id"].split("/")[1] for r in kids} == {"01-sgd", "02-mom"}


def test_search_runs_finds_them_by_param_and_by_tag(logged):
    import mlflow

    mlflow.set_tracking_uri(logged["uri"])
    try:
        by_param = mlflow.search_runs(experiment_names=["pair"],
                                      filter_string="params.`strategy.name` = 'momentum'")
        by_tag = mlflow.search_runs(experiment_names=["small"],
                                    filter_string="tags.baseline = 'true'")
    finally:
        mlflow.set_tracking_uri(None)
    assert list(by_param["tags.dlcli.variant"]) == ["mom"]
    assert list(by_tag["run_id"]) == [logged["run_id"]]


def test_runs_export_logs_what_is_new_and_skips_what_is_logged(logged, tmp_path):
    uri = (tmp_path / "store").as_uri()
    args = ["runs", "export", "--mlflow", uri, "--dir", str(logged["root"])]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert first.stdout.count("logged: ") == 2  # the run and the comparison
    again = runner.invoke(app, [*args, logged["run"].name])
    assert again.exit_code == 0 and again.stdout.startswith("already logged: ")
    client = MlflowClient(tracking_uri=uri)
    assert len(client.search_runs([client.get_experiment_by_name("pair").experiment_id])) == 3


def test_at_most_ten_thousand_loss_points():
    from dlcli.tracking.records import MAX_LOSS_POINTS, sample

    kept = sample(25_001, MAX_LOSS_POINTS)
    assert len(kept) == MAX_LOSS_POINTS and {0, 25_000} <= kept
    assert sample(7, MAX_LOSS_POINTS) == set(range(7))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_warns_and_the_run_completes(tmp_path, capsys):
    from dlcli.tracking.export import MlflowExport

    uri = f"http://127.0.0.1:{_closed_port()}"
    folder = tmp_path / "run"
    result = api.train(validate(small_raw(iterations=3)), run_dir=folder,
                       callbacks=[MlflowExport(folder, uri)])
    assert result["status"] == "completed" and (folder / "result.json").is_file()
    err = capsys.readouterr().err
    assert err.startswith(f"warning: {folder} not logged to MLflow") and "cannot reach" in err
    assert err.endswith(f"dlcli runs export --mlflow {uri} {folder}\n")
    assert err.count("\n") == 1
    res = runner.invoke(app, ["runs", "export", str(folder), "--mlflow", uri])
    assert res.exit_code == 3 and "cannot reach the tracking server" in res.output


def test_export_needs_a_uri(tmp_path):
    res = runner.invoke(app, ["runs", "export", "--dir", str(tmp_path)],
                        env={"DLCLI_MLFLOW_URI": ""})
    assert res.exit_code == 2 and "give --mlflow URI" in res.output


def test_a_missing_mlflow_names_the_extra(monkeypatch):
    from dlcli.errors import UsageError
    from dlcli.tracking import export as tracking

    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow -> ImportError
    with pytest.raises(UsageError, match=r"pip install 'dlcli\[mlflow\]'"):
        tracking.require()


@pytest.mark.plots
@pytest.mark.slow
def test_logged_over_http_to_a_tracking_server(tmp_path):
    from dlcli.tracking import export as tracking

    port = _closed_port()
    uri = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},  # no job workers
        start_new_session=True)  # its own process group: its workers end with it
    try:
        _wait_for(f"{uri}/health", server)
        folder = tmp_path / "run"
        api.train(validate(small_raw(iterations=4)), run_dir=folder, extra={"tags": ["web"]})
        rid = tracking.export_run(folder, uri)
        client = MlflowClient(tracking_uri=uri)
        assert [m.step for m in client.get_metric_history(rid, "loss")] == [1, 2, 3, 4]
        assert "loss.png" in {f.path for f in client.list_artifacts(rid)}
        with urllib.request.urlopen(f"{uri}/api/2.0/mlflow/runs/get?run_id={rid}") as page:
            seen = json.load(page)["run"]["data"]
        assert {"key": "web", "value": "true"} in seen["tags"]
        assert {"key": "strategy.name", "value": "sgd"} in seen["params"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _wait_for(url: str, server: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow server exited with {server.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"mlflow server did not answer {url} in {seconds} s")


def test_train_with_mlflow_logs_the_run_and_an_unreachable_uri_only_warns(write_config,
                                                                          tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an SQLite store keeps its artifacts in ./mlruns
    cfg = write_config(small_raw(iterations=4))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    res = runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "runs"), "-q",
                              "--tag", "first", "--mlflow", uri])
    assert res.exit_code == 0, res.output
    client = MlflowClient(tracking_uri=uri)
    (exp,) = [e for e in client.search_experiments() if e.name == "small"]
    (run,) = client.search_runs([exp.experiment_id], "params.`strategy.name` = 'sgd'")
    assert run.data.tags.get("first") == "true" and run.data.tags["dlcli.status"] == "completed"
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 4
    down = runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "runs"), "-q",
                               "--mlflow", f"http://127.0.0.1:{_closed_port()}"])
    assert down.exit_code == 0 and "not logged to MLflow" in down.output
