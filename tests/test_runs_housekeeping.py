"""Run housekeeping without training: ids, listing filters and sorting, tags, diff, removal
plans, over run folders written by hand."""

import json
import os
import time
from pathlib import Path

import pytest
import yaml

from dlcli.errors import UsageError
from dlcli.runs import folder_id, housekeeping, listing, read_run, resolve_run


def fake_run(folder: Path, name: str = "r", *, status: str | None = "completed",
             metrics: dict | None = None, tags: list | None = None, **config) -> Path:
    """A run folder: config.yaml, and result.json unless ``status`` is None."""
    folder.mkdir(parents=True)
    cfg = {"name": name, "seed": 0, "data": {"source": "cifar10-synthetic"},
           "model": {"name": "softmax"}, "strategy": {"name": "sgd", "lr": 0.1}, **config}
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    if status is not None:
        result = {"status": status, "metrics": metrics or {}, "iterations": 10,
                  "wall_time_s": 1.0, **({"tags": tags} if tags is not None else {})}
        (folder / "result.json").write_text(json.dumps(result))
    return folder


def fake_compare(folder: Path, name: str, runs: dict[str, dict]) -> Path:
    folder.mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps({"name": name, "variants": [
        {"folder": k, "label": k} for k in runs]}))
    for child, kw in runs.items():
        fake_run(folder / child, child, **kw)
    return folder


@pytest.fixture
def root(tmp_path) -> Path:
    root = tmp_path / "runs"
    fake_run(root / "20260101-000000-a-111111", "a", metrics={"val_accuracy": 0.3,
             "final_loss": 2.0, "val_rmse": 5.0}, tags=["base"])
    fake_run(root / "20260102-000000-b-222222", "b", status="diverged",
             metrics={"val_accuracy": 0.1, "final_loss": 9.0, "val_rmse": 1.0})
    fake_compare(root / "compare-20260103-000000-c-333333", "c", {
        "01-sgd": {"metrics": {"val_accuracy": 0.5}}, "02-gd": {"status": None}})
    fake_compare(root / "compare-20260104-000000-d-444444", "d", {
        "01-sgd": {"metrics": {"val_accuracy": 0.2}, "tags": ["x"]}})
    return root


# --------------------------------------------------------------------------- resolving ids


def test_a_run_of_one_comparison_is_found_by_its_short_id(root):
    assert resolve_run("02-gd", root).name == "02-gd"
    assert resolve_run("compare-20260103/01", root).parent.name.startswith("compare-20260103")
    assert resolve_run("compare-20260104-000000-d-444444/01-sgd", root).parent.name.endswith(
        "444444")


def test_an_id_two_comparisons_share_is_ambiguous_and_named_in_full(root):
    with pytest.raises(UsageError, match=r"01-sgd: matches 2 runs .*compare-20260103-000000-c"
                                         r"-333333/01-sgd"):
        resolve_run("01-sgd", root)
    with pytest.raises(UsageError, match="is a run, not a comparison"):
        resolve_run("20260101/01", root)
    with pytest.raises(UsageError, match="no such run"):
        resolve_run("zzz", root)


def test_a_missing_runs_folder_says_to_give_dir(tmp_path):
    with pytest.raises(UsageError, match="give --dir"):
        resolve_run("abc", tmp_path / "nowhere")


def test_folder_ids(root):
    child = root / "compare-20260103-000000-c-333333" / "01-sgd"
    assert folder_id(child) == "compare-20260103-000000-c-333333/01-sgd"
    assert folder_id(root / "20260101-000000-a-111111") == "20260101-000000-a-111111"


# --------------------------------------------------------------------------- listing


def test_listing_filters(root):
    rows = listing.listing_rows(root, descend=True)
    assert [r["id"].split("-")[-1] for r in rows][:2] == ["444444", "sgd"]  # newest first
    assert {r["name"] for r in listing.select(rows, status=["diverged"])} == {"b"}
    partial = listing.select(rows, status=["incomplete"])  # c is 1/2 done; its 02-gd too
    assert [r["name"] for r in partial] == ["c", "02-gd"]
    assert [r["name"] for r in listing.select(rows, name="[ab]")] == ["b", "a"]
    assert [r["id"][-6:] for r in listing.select(rows, tags=["x"])] == ["444444", "01-sgd"]
    assert listing.select(rows, tags=["x", "base"]) == []


def test_listing_sorts_metrics_best_first_and_missing_last(root):
    rows = [r for r in listing.listing_rows(root, descend=True) if r["kind"] == "run"]
    by = {k: [r["name"] for r in listing.sort_listing(rows, k)]
          for k in ("val_accuracy", "-val_accuracy", "final_loss", "val_rmse", "name")}
    assert by["val_accuracy"] == ["01-sgd", "a", "01-sgd", "b", "02-gd"]
    assert by["-val_accuracy"] == ["b", "01-sgd", "a", "01-sgd", "02-gd"]
    assert by["final_loss"][:2] == ["a", "b"]  # lower is better; the others have none
    assert by["val_rmse"][:2] == ["b", "a"]
    assert by["name"] == ["01-sgd", "01-sgd", "02-gd", "a", "b"]
    with pytest.raises(UsageError, match="--sort 'nope': unknown column or metric; valid: id,"):
        listing.sort_listing(rows, "nope")


def test_a_damaged_result_lists_with_missing_values(root):
    (root / "20260101-000000-a-111111" / "result.json").write_text('{"tags": "x", "note": 3}')
    row = next(r for r in listing.listing_rows(root) if r["name"] == "a")
    assert row["tags"] == [] and row["note"] is None and row["status"] == "incomplete"


# --------------------------------------------------------------------------- tags


@pytest.mark.parametrize("bad, why", [("", "cannot be empty"), ("a b", "no spaces"),
                                      ("a\tb", "no spaces"), ("x\x07", "control"),
                                      ("t" * 65, "at most 64")])
def test_bad_tags_are_one_line_usage_errors(bad, why):
    with pytest.raises(UsageError, match=why) as err:
        housekeeping.check_tag(bad)
    assert "\n" not in str(err.value)


def test_retag_adds_and_removes_keeping_the_rest_of_result_json(root):
    run = root / "20260101-000000-a-111111"
    assert housekeeping.retag(run, ["new", "base"], ["old"]) == {run: ["base", "new"]}
    assert housekeeping.retag(run, (), ["base"]) == {run: ["new"]}
    result = json.loads((run / "result.json").read_text())
    assert result["tags"] == ["new"] and result["metrics"]["val_accuracy"] == 0.3
    assert not list(run.glob(".*"))  # no lock or temp file left behind


def test_retag_refuses_a_run_without_result_and_a_locked_run(root):
    with pytest.raises(UsageError, match="no result.json yet"):
        housekeeping.retag(root / "compare-20260103-000000-c-333333", ["t"])
    run = root / "20260101-000000-a-111111"
    (run / ".lock").write_text(str(os.getpid()))
    with pytest.raises(UsageError, match="running; tag it once it has ended"):
        housekeeping.retag(run, ["t"])


# --------------------------------------------------------------------------- diff


def test_diff_lists_differing_dotted_keys_and_metric_changes(tmp_path):
    a = fake_run(tmp_path / "a", "a", metrics={"val_accuracy": 0.3, "final_loss": 2.0},
                 model={"name": "mlp", "hidden": [10]})
    b = fake_run(tmp_path / "b", "a", metrics={"val_accuracy": 0.4, "final_loss": 2.5},
                 strategy={"name": "sgd", "lr": 0.01}, eval_every=5)
    found = housekeeping.diff_runs(read_run(a), read_run(b))
    config = {c["key"]: c for c in found["config"]}
    assert set(config) == {"model.name", "model.hidden", "strategy.lr", "eval_every"}
    assert config["strategy.lr"]["a"] == 0.1 and config["strategy.lr"]["b"] == 0.01
    assert "b" not in config["model.hidden"] and "a" not in config["eval_every"]
    metrics = {m["key"]: m for m in found["metrics"]}
    assert metrics["val_accuracy"]["change"] == pytest.approx(0.1)
    assert metrics["val_accuracy"]["better"] is True and metrics["final_loss"]["better"] is False
    assert metrics["iterations"]["change"] == 0 and metrics["iterations"]["better"] is None


def test_diff_of_a_comparison_says_to_pick_its_runs(root):
    with pytest.raises(UsageError, match="a comparison; diff two of its runs"):
        housekeeping.diff_runs(read_run(root / "compare-20260103-000000-c-333333"),
                               read_run(root / "20260101-000000-a-111111"))


# --------------------------------------------------------------------------- removal


def test_removal_plan_refusals(root, tmp_path):
    compare = root / "compare-20260103-000000-c-333333"
    outside = fake_run(tmp_path / "elsewhere" / "run", "o")
    (root / "link").symlink_to(outside, target_is_directory=True)
    plan = housekeeping.plan_removal(
        [root / "20260101-000000-a-111111", compare / "01-sgd", outside, root / "link"], root)
    why = [p.refused for p in plan]
    assert why[0] is None
    assert "one run of the comparison" in why[1]
    assert "not directly under the runs folder" in why[2]
    assert "symbolic link" in why[3]


def test_a_run_still_writing_or_locked_is_not_removed(root):
    compare = root / "compare-20260103-000000-c-333333"
    (compare / "02-gd" / "metrics.csv").write_text("iteration,loss\n1,2.0\n")
    now = time.time()
    assert "it may be running" in housekeeping.plan_removal([compare], root, now)[0].refused
    assert housekeeping.plan_removal([compare], root, now + 60)[0].refused is None
    run = root / "20260101-000000-a-111111"
    (run / ".lock").write_text(str(os.getpid()))
    assert "running (pid" in housekeeping.plan_removal([run], root)[0].refused
    (run / ".lock").write_text("999999999")  # a process that is gone: its lock is stale
    assert housekeeping.plan_removal([run], root)[0].refused is None


def test_remove_deletes_the_whole_folder(root):
    compare = root / "compare-20260104-000000-d-444444"
    housekeeping.remove(compare)
    assert not compare.exists() and not [p for p in root.iterdir() if p.name.startswith(".")]


def test_rm_ids_are_prefixes_never_a_part_of_a_name(root):
    assert resolve_run("a-111", root).name.endswith("a-111111")  # browsing: a part is enough
    with pytest.raises(UsageError, match="no such run"):
        resolve_run("a-111", root, partial=False)
    assert resolve_run("20260101", root, partial=False).name.endswith("a-111111")


def test_retag_of_a_comparison_changes_nothing_when_one_run_cannot_be_tagged(root):
    compare = root / "compare-20260103-000000-c-333333"
    with pytest.raises(UsageError, match="02-gd: no result.json yet"):
        housekeeping.retag(compare, ["t"])
    assert "tags" not in json.loads((compare / "01-sgd" / "result.json").read_text())


def test_a_run_reused_by_a_later_comparison_is_not_removed_alone(tmp_path):
    from dlcli.runs.housekeeping import plan_removal

    old = tmp_path / "compare-20260101-000000-a-aaaaaa"
    (old / "01-sgd").mkdir(parents=True)
    (old / "sweep.json").write_text("{}")
    (old / "01-sgd" / "result.json").write_text("{}")
    new = tmp_path / "compare-20260102-000000-b-bbbbbb"
    new.mkdir()
    (new / "sweep.json").write_text("{}")
    (new / "01-sgd").symlink_to("../" + old.name + "/01-sgd")
    (refused,) = plan_removal([old], tmp_path, now=0)
    assert refused.refused and "reused by compare-20260102" in refused.refused
    both = plan_removal([old, new], tmp_path, now=0)
    assert [r.refused for r in both] == [None, None]
