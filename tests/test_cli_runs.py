"""``dlcli runs list`` and ``dlcli runs show`` over a folder with a run and a comparison."""

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlcli import api
from dlcli.cli import app
from dlcli.config import validate
from tests.conftest import small_raw

runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """runs/ with an older train run, a compare folder of two variants, and a broken folder."""
    root = tmp_path_factory.mktemp("browse") / "runs"
    first = api.train(validate(small_raw(iterations=8)), out=root, command="dlcli train x")
    older = root / ("20200101-000000-" + Path(first["run_dir"]).name.split("-", 2)[2])
    Path(first["run_dir"]).rename(older)
    sweep = root.parent / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({
        "name": "pair", "base": small_raw(iterations=6),
        "variants": [{"name": "sgd"}, {"name": "mom", "strategy": {"name": "momentum"}}]}))
    api.compare(sweep, out=root)
    (root / "not-a-run").mkdir()
    return root


def _run(*args: str):
    return runner.invoke(app, ["runs", *args])


def test_list_json_newest_first_with_compare_folders_as_one_row(runs):
    res = _run("list", str(runs), "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["kind"] for r in rows] == ["compare", "run"]  # newest first
    compare, run = rows
    assert compare["id"].startswith("compare-") and compare["name"] == "pair"
    assert compare["strategy"] == "2 strategies" and compare["status"] == "completed"
    assert compare["metric"] == "val_accuracy" and 0 <= compare["value"] <= 1
    assert compare["report_metric"] == "test_accuracy" and 0 <= compare["report_value"] <= 1
    assert run["metric"] == "val_accuracy" and run["report_metric"] == "test_accuracy"
    assert run["id"].startswith("20200101-000000-small-") and run["strategy"] == "sgd"
    assert run["data"] == "cifar10-synthetic" and run["model"] == "softmax"
    assert run["status"] == "completed" and run["wall_time_s"] > 0


def test_list_all_descends_into_compare_folders(runs):
    rows = json.loads(_run("list", str(runs), "--all", "--json").stdout)
    assert [r["kind"] for r in rows] == ["compare", "run", "run", "run"]
    assert rows[1]["id"].endswith("/1-sgd") or rows[1]["id"].split("/")[1] == "01-sgd"
    assert rows[2]["strategy"] == "momentum"


def test_list_table_and_errors(runs, tmp_path):
    res = _run("list", str(runs))
    assert res.exit_code == 0 and "compare-" in res.output and "val acc 0." in res.output
    assert "test" in res.output.splitlines()[1].split()  # the reported test metric beside it
    assert _run("list", str(tmp_path / "missing")).exit_code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    res = _run("list", str(empty))
    assert res.exit_code == 0 and "no runs under" in res.output


def test_show_a_run_by_id_prefix_with_a_sparkline(runs):
    res = _run("show", "20200101", "--dir", str(runs))
    assert res.exit_code == 0, res.output
    assert "status completed, 8 iterations" in res.output
    assert any(ch in res.output for ch in "▁▂▃▄▅▆▇█")
    assert "config:" in res.output and "batch_size: 64" in res.output
    assert "command: dlcli train x" in res.output
    shown = json.loads(_run("show", "20200101", "--dir", str(runs), "--json").stdout)
    assert len(shown["losses"]) == 8 and shown["result"]["status"] == "completed"


def test_show_a_compare_folder_by_path(runs):
    folder = next(runs.glob("compare-*"))
    res = _run("show", str(folder))
    assert res.exit_code == 0, res.output
    assert "2 runs" in res.output and "sorted by val_accuracy" in res.output
    assert "chosen on validation: " in res.output
    assert "mom" in res.output and any(ch in res.output for ch in "▁▂▃▄▅▆▇█")


def test_show_unknown_and_ambiguous(runs, tmp_path):
    res = _run("show", "nope", "--dir", str(runs))
    assert res.exit_code == 2 and "nope: no such run" in res.output
    copy = runs.parent / "copy"
    shutil.copytree(runs, copy)
    older = next(copy.glob("2020*"))
    shutil.copytree(older, copy / (older.name[:-1] + "z"))
    res = _run("show", "2020", "--dir", str(copy))
    assert res.exit_code == 2 and "matches 2 runs" in res.output


def test_a_wide_listing_shrinks_the_names_never_the_ids_or_numbers():
    from dlcli.cli_runs import _shrink

    assert _shrink([20, 10, 5], 30) == [15, 10, 5]
    assert _shrink([20, 10, 5], 100) == [20, 10, 5]
    assert _shrink([20, 10, 5], 3) == [6, 6, 5]  # never below 6
