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
    res = _run("list", "--dir", str(tmp_path / "missing"))
    assert res.exit_code == 2 and "no such folder (the runs folder: give --dir" in res.output
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
    from dlcli.cli.runs import _shrink

    assert _shrink([20, 10, 5], 30) == [15, 10, 5]
    assert _shrink([20, 10, 5], 100) == [20, 10, 5]
    assert _shrink([20, 10, 5], 3) == [6, 6, 5]  # never below 6


# --------------------------------------------------------------------------- ids and folders


def test_child_ids_that_list_all_prints_are_found_by_show(runs):
    """issue 14: `runs list --all` shows a variant as `01-sgd`; `runs show 01-sgd` finds it, and
    so do its full id and `<compare prefix>/<variant prefix>`."""
    rows = json.loads(_run("list", "--dir", str(runs), "--all", "--json").stdout)
    child = next(r for r in rows if "/" in r["id"])
    short = child["id"].split("/", 1)[1]
    for ref in (short, child["id"], "compare-/" + short[:2]):
        res = _run("show", ref, "--dir", str(runs), "--json")
        assert res.exit_code == 0, (ref, res.output)
        assert json.loads(res.stdout)["path"] == child["path"]


def test_list_takes_dir_as_an_option_and_still_the_old_argument(runs):
    by_option = json.loads(_run("list", "--dir", str(runs), "--json").stdout)
    by_argument = json.loads(_run("list", str(runs), "--json").stdout)
    assert by_option == by_argument and len(by_option) == 2


def test_list_on_a_pipe_never_truncates(tmp_path):
    long = ("a-rather-long-config-name-" * 3)[:64]  # the longest a name may be
    api.train(validate({**small_raw(iterations=3), "name": long}), out=tmp_path)
    res = _run("list", "--dir", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert long in res.output and "cifar10-synthetic" in res.output and "…" not in res.output


# --------------------------------------------------------------------------- housekeeping


@pytest.fixture
def copy(runs, tmp_path) -> Path:
    """A copy of the runs folder to change, with a second comparison (the first, copied)."""
    root = tmp_path / "runs"
    shutil.copytree(runs, root, ignore=shutil.ignore_patterns("not-a-run"))
    first = next(root.glob("compare-*"))
    shutil.copytree(first, root / "compare-20991231-000000-pair-000000")
    return root


def _ids(*args: str) -> list[str]:
    res = _run("list", *args, "--json")
    assert res.exit_code == 0, res.output
    return [r["id"] for r in json.loads(res.stdout)]


def test_list_filters_sort_and_limit(copy):
    old = next(copy.glob("2020*"))
    result = json.loads((old / "result.json").read_text())
    (old / "result.json").write_text(json.dumps({**result, "status": "diverged"}))
    assert _ids("--dir", str(copy), "--status", "diverged") == [old.name]
    assert len(_ids("--dir", str(copy), "--status", "completed", "--all")) == 6
    assert _ids("--dir", str(copy), "--all", "--name", "mo?") == [
        f"{c.name}/02-mom" for c in sorted(copy.glob("compare-*"), reverse=True)]
    by_loss = json.loads(_run("list", "--dir", str(copy), "-a", "--sort", "final_loss",
                              "--json").stdout)
    losses = [r["metrics"]["final_loss"] for r in by_loss if "final_loss" in r["metrics"]]
    assert losses == sorted(losses) and len(losses) == 5  # the runs; comparisons go last
    assert _ids("--dir", str(copy), "--sort", "-started", "--limit", "1") == \
        _ids("--dir", str(copy), "--limit", "1")
    res = _run("list", "--dir", str(copy), "--sort", "nope")
    assert res.exit_code == 2 and "--sort 'nope': unknown column" in res.output
    res = _run("list", "--dir", str(copy), "--name", "zzz*")
    assert res.exit_code == 0 and "no runs match under" in res.output


def test_tag_list_show_and_remove(copy):
    res = _run("tag", "20200101", "baseline", "lr-1e-6", "--dir", str(copy))
    assert res.exit_code == 0 and res.stdout.strip().endswith(": baseline, lr-1e-6")
    compare = sorted(copy.glob("compare-*"))[0].name
    assert _run("tag", compare, "pair", "--dir", str(copy)).exit_code == 0
    tagged = json.loads(_run("list", "--dir", str(copy), "-a", "--tag", "pair", "--json").stdout)
    assert [r["id"] for r in tagged] == [compare, f"{compare}/01-sgd", f"{compare}/02-mom"]
    assert tagged[1]["tags"] == ["pair"]
    table = _run("list", "--dir", str(copy)).stdout
    assert "tags" in table.splitlines()[1] and "baseline,lr-1e-6" in table
    shown = _run("show", "20200101", "--dir", str(copy)).stdout
    assert "tags: baseline, lr-1e-6" in shown
    res = _run("tag", "20200101", "--remove", "baseline", "--dir", str(copy))
    assert res.stdout.strip().endswith(": lr-1e-6")
    res = _run("tag", "20200101", "two words", "--dir", str(copy))
    assert res.exit_code == 2 and "no spaces" in res.output and len(res.output.splitlines()) == 1


def test_show_lists_note_and_pictures(copy):
    old = next(copy.glob("2020*"))
    result = json.loads((old / "result.json").read_text())
    (old / "result.json").write_text(json.dumps({**result, "note": "lr from the lecture"}))
    (old / "weights.png").write_bytes(b"\x89PNG")
    res = _run("show", old.name, "--dir", str(copy))
    assert "note: lr from the lecture" in res.stdout
    assert "pictures: loss.png, weights.png" in res.stdout
    assert json.loads(_run("show", str(old), "--json").stdout)["pictures"] == [
        "loss.png", "weights.png"]


def test_diff_two_runs_of_different_comparisons(copy):
    first, second = sorted(copy.glob("compare-*"))
    a, b = f"{first.name}/01-sgd", f"{second.name}/02-mom"
    res = _run("diff", a, b, "--dir", str(copy))
    assert res.exit_code == 0, res.output
    assert f"A: {a} (completed)" in res.stdout and "config: 2 keys differ" in res.stdout
    assert "strategy.name" in res.stdout and "momentum" in res.stdout
    assert "val_accuracy" in res.stdout and "B - A" in res.stdout
    found = json.loads(_run("diff", a, b, "--dir", str(copy), "--json").stdout)
    assert {c["key"] for c in found["config"]} == {"name", "strategy.name"}
    val = next(m for m in found["metrics"] if m["key"] == "val_accuracy")
    assert val["change"] == pytest.approx(val["b"] - val["a"])
    same = _run("diff", a, str(first / "01-sgd"), "--dir", str(copy))
    assert "config: the same" in same.stdout
    assert _run("diff", first.name, a, "--dir", str(copy)).exit_code == 2


def test_rm_dry_run_then_without_a_terminal_then_yes(copy):
    compare = sorted(copy.glob("compare-*"))[0]
    res = _run("rm", compare.name, "20200101", "--dry-run", "--dir", str(copy))
    assert res.exit_code == 0 and res.stdout.count("would remove:") == 2
    res = _run("rm", compare.name, "--dir", str(copy))
    assert res.exit_code == 2 and "add --yes" in res.output and compare.exists()
    res = _run("rm", compare.name, "20200101", "--yes", "--dir", str(copy))
    assert res.exit_code == 0 and res.stdout.count("removed ") == 2
    assert not compare.exists() and len(list(copy.iterdir())) == 1


def test_rm_asks_on_a_terminal(copy, monkeypatch):
    from dlcli.cli import runs_manage as cli_runs_manage

    monkeypatch.setattr(cli_runs_manage, "_interactive", lambda: True)
    res = runner.invoke(app, ["runs", "rm", "20200101", "--dir", str(copy)], input="n\n")
    assert res.exit_code == 0 and "nothing removed" in res.output
    assert next(copy.glob("2020*"), None) is not None
    res = runner.invoke(app, ["runs", "rm", "20200101", "--dir", str(copy)], input="y\n")
    assert res.exit_code == 0 and next(copy.glob("2020*"), None) is None


def test_rm_refuses_a_running_run_a_variant_and_any_other_path(copy, tmp_path):
    import os

    old = next(copy.glob("2020*"))
    (old / ".lock").write_text(str(os.getpid()))
    compare = sorted(copy.glob("compare-*"))[0]
    for args, why in [([old.name], "running (pid"),
                      ([f"{compare.name}/01-sgd"], "remove the whole comparison"),
                      ([str(tmp_path)], "no such run"),
                      ([compare.name, old.name], "running (pid")]:
        res = _run("rm", *args, "--yes", "--dir", str(copy))
        assert res.exit_code == 2 and why in res.output, (args, res.output)
    assert old.exists() and compare.exists()  # nothing removed, not even the first
