"""Summary rows, mean ± std across seeds, sorting, the summary files, plots and sparklines."""

import csv
import json
from pathlib import Path

import pytest

from dlcli.errors import UsageError
from dlcli.metrics import metric_names
from dlcli.runs import RunInfo
from dlcli.runs.listing import listing_row
from dlcli.sweeps.summary import Summary, chosen_line, fmt, mean_std, rank_metric, sparkline
from dlcli.sweeps.tables import (
    check_sort,
    group_table,
    run_table,
    sort_rows,
    summary_markdown,
    write_summary,
)
from dlcli.viz import plots

PNG = b"\x89PNG\r\n\x1a\n"


def _row(index, variant, lr, seed, acc, loss, status="completed", val=None):
    """A hand-made row; its validation accuracy disagrees with its test accuracy on purpose
    (the inverse order unless given), so a ranking by test would pick another variant."""
    val = round(1.0 - acc, 6) if val is None else val
    return {"index": index, "label": f"{variant} lr={lr} seed={seed}", "variant": variant,
            "strategy.lr": lr, "seed": seed, "status": status,
            "metrics": {"val_accuracy": val, "test_accuracy": acc, "final_loss": loss,
                        "best_loss": loss},
            "iterations": 10, "wall_time_s": 0.5, "error": None if status == "completed"
            else "boom", "run_dir": f"{index:02d}-{variant}", "hash": f"h{index}"}


def _summary(tmp_path: Path) -> Summary:
    rows = [_row(1, "sgd", 1e-6, 0, 0.30, 1.5), _row(2, "sgd", 1e-6, 1, 0.40, 1.4),
            _row(3, "mom", 1e-6, 0, 0.50, 1.0), _row(4, "mom", 1e-6, 1, 0.60, 0.9),
            _row(5, "big", 1e-3, 0, 0.90, 1e30, status="diverged")]
    return Summary(tmp_path, "demo", ["strategy.lr"], 6, rows)


def test_rank_metric_is_validation_then_final_loss_never_test():
    assert rank_metric([{"val_accuracy": 0.2, "test_accuracy": 0.3, "final_loss": 1}]) == (
        "val_accuracy", True)
    assert rank_metric([{"val_r2": 0.1, "test_r2": 0.5, "test_rmse": 3}]) == ("val_r2", True)
    assert rank_metric([{"final_loss": 0.1, "final_x": 1.0}]) == ("final_loss", False)
    assert rank_metric([{}, {"val_r2": 0.4}]) == ("val_r2", True)  # a crash has no say
    assert rank_metric([]) == ("final_loss", False)
    no_val = [{"val_accuracy": None, "test_accuracy": 0.9, "final_loss": 1.0}] * 2  # num_val 0
    assert rank_metric(no_val) == ("final_loss", False)


def test_mean_std_uses_the_sample_std_and_skips_missing():
    assert mean_std([1.0, 3.0, None]) == (2.0, pytest.approx(2 ** 0.5))
    assert mean_std([2.0]) == (2.0, None) and mean_std([]) == (None, None)
    assert mean_std([float("nan"), 1.0]) == (1.0, None)


def test_groups_average_completed_runs_across_seeds(tmp_path):
    groups = {g["variant"]: g for g in _summary(tmp_path).groups()}
    assert groups["mom"]["test_accuracy_mean"] == pytest.approx(0.55)
    assert groups["mom"]["val_accuracy_mean"] == pytest.approx(0.45)
    assert groups["mom"]["runs"] == 2 and groups["mom"]["completed"] == 2
    assert groups["big"]["completed"] == 0 and groups["big"]["test_accuracy_mean"] is None
    heads, cells = group_table(_summary(tmp_path))
    assert heads[:5] == ["variant", "strategy.lr", "runs", "val_accuracy (mean ± std)",
                         "test_accuracy (mean ± std)"]
    # chosen on the mean validation accuracy (sgd 0.65), not on the test one (mom 0.55)
    assert cells[0][:5] == ["sgd", "1e-06", "2/2", "0.650 ± 0.071", "0.350 ± 0.071"]
    assert cells[1][:5] == ["mom", "1e-06", "2/2", "0.450 ± 0.071", "0.550 ± 0.071"]


def test_sort_best_first_failed_last_and_reversible(tmp_path):
    s = _summary(tmp_path)
    by = lambda key: [r["index"] for r in sort_rows(s.rows, key, s.grid_keys)]  # noqa: E731
    assert by("test_accuracy") == [4, 3, 2, 1, 5]  # the diverged run goes last
    assert by("val_accuracy") == [1, 2, 3, 4, 5]
    assert by("final_loss") == [4, 3, 2, 1, 5]  # lower loss first
    assert by("-test_accuracy") == [1, 2, 3, 4, 5]
    assert by("variant") == [5, 3, 4, 1, 2]
    assert by("lr") == by("strategy.lr") == [1, 2, 3, 4, 5]
    heads, cells = run_table(s, "seed")
    assert "seed" in heads and [c[heads.index("seed")] for c in cells] == ["0", "0", "0", "1", "1"]


def test_the_table_ranks_by_validation_and_shows_test_beside_it(tmp_path):
    heads, cells = run_table(_summary(tmp_path))
    assert heads[3:6] == ["status", "val_accuracy", "test_accuracy"]
    assert [c[4] for c in cells] == ["0.700", "0.600", "0.500", "0.400", "0.100"]
    assert [c[5] for c in cells] == ["0.300", "0.400", "0.500", "0.600", "0.900"]
    heads, cells = run_table(_summary(tmp_path), "test_accuracy")  # on request only
    assert [c[5] for c in cells] == ["0.600", "0.500", "0.400", "0.300", "0.900"]


def test_unknown_sort_key_lists_the_valid_ones():
    check_sort("wall_time_s", ["strategy.lr"])
    check_sort("-lr", ["strategy.lr"])
    with pytest.raises(UsageError, match="--sort 'acc': unknown column; valid: index, variant"):
        check_sort("acc", ["strategy.lr"])


@pytest.mark.parametrize("key", ["val_rmse", "train_r2", "val_mae", "-test_mae", "test_r2"])
def test_every_metric_a_regression_run_has_is_a_sort_key(key):
    check_sort(key, ["strategy.lr"], metric_names("regression"))
    check_sort(key, ["strategy.lr"])  # not knowing the task: any known metric


def test_a_landscape_sweep_is_offered_its_own_metrics():
    check_sort("final_x", [], metric_names("landscape"))
    with pytest.raises(UsageError, match="--sort 'test_accuracy': unknown column; valid: .*"
                                         "final_loss, best_loss, final_x, final_y$"):
        check_sort("test_accuracy", [], metric_names("landscape"))


def test_the_chosen_variant_is_the_best_validation_group(tmp_path):
    s = _summary(tmp_path)
    chosen = s.chosen()
    assert chosen["label"] == "sgd lr=1e-06" and chosen["indices"] == [1, 2]
    assert chosen["metric"] == "val_accuracy" and chosen["value"] == pytest.approx(0.65)
    assert chosen["report_metric"] == "test_accuracy"
    assert chosen["report_value"] == pytest.approx(0.35)
    assert chosen_line(s) == ("chosen on validation: sgd lr=1e-06 — val_accuracy 0.650, "
                              "test_accuracy 0.350 (means of 2 seeds) "
                              "(so far: 5 of 6 variants finished)")
    one = Summary(tmp_path, "one", ["strategy.lr"], 2, [_row(1, "a", 1e-6, 0, 0.8, 1.0, val=0.2),
                                                       _row(2, "b", 1e-6, 0, 0.3, 1.0, val=0.4)])
    assert one.chosen()["indices"] == [2]
    assert chosen_line(one) == ("chosen on validation: b lr=1e-06 seed=0 — val_accuracy 0.400, "
                                "test_accuracy 0.300")
    none = Summary(tmp_path, "none", [], 1, [_row(1, "a", 1e-6, 0, 0.8, 1.0, status="failed")])
    assert none.chosen() is None and chosen_line(none) == "chosen: none (no variant completed)"


def _no_val(tmp_path):
    rows = [_row(1, "a", 1e-6, 0, 0.9, 2.0), _row(2, "b", 1e-6, 0, 0.2, 1.0)]
    for row in rows:
        row["metrics"]["val_accuracy"] = None  # num_val: 0
    return Summary(tmp_path, "noval", ["strategy.lr"], 2, rows)


def test_without_a_validation_split_the_final_loss_ranks_and_the_title_says_so(tmp_path):
    s = _no_val(tmp_path)
    assert s.metric == ("final_loss", False)
    assert s.title() == "noval: sorted by final_loss (no validation split: num_val is 0)"
    heads, cells = run_table(s)
    assert heads[2:5] == ["status", "final_loss", "test_accuracy"] and cells[0][0] == "b"
    assert chosen_line(s) == ("chosen on final_loss (no validation split): b lr=1e-06 seed=0 — "
                              "final_loss 1, test_accuracy 0.200")
    write_summary(s)
    assert "sorted by final_loss (no validation split: num_val is 0)" in (
        tmp_path / "summary.md").read_text()
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["metric"] == "final_loss" and data["chosen"]["indices"] == [2]


def test_listing_rows_of_damaged_files_show_missing_values(tmp_path):
    run = RunInfo(tmp_path / "r", "r", "run", {"data": 5, "model": [1]},
                  {"status": 7, "metrics": [1], "wall_time_s": "x"})
    row = listing_row(run)
    assert row["status"] == "7" and row["metric"] is None and row["wall_time_s"] is None
    text = RunInfo(tmp_path / "t", "t", "run", {}, {"metrics": {"val_accuracy": "high"}})
    assert listing_row(text)["metric"] is None
    folder = RunInfo(tmp_path, "c", "compare", None, None, {"variants": 3}, {"rows": 1},
                     [run, text])
    row = listing_row(folder)
    assert row["status"] == "0/2 completed" and row["metric"] is None


def test_listing_rows_show_validation_and_test(tmp_path):
    metrics = {"train_accuracy": 0.9, "val_accuracy": 0.22, "test_accuracy": 0.34,
               "final_loss": 1.0}
    run = RunInfo(tmp_path / "r", "r", "run", {"name": "x"},
                  {"status": "completed", "metrics": metrics, "wall_time_s": 1.0})
    row = listing_row(run)
    assert (row["metric"], row["value"]) == ("val_accuracy", 0.22)
    assert (row["report_metric"], row["report_value"]) == ("test_accuracy", 0.34)
    s = _summary(tmp_path)
    write_summary(s)
    folder = RunInfo(tmp_path, "c", "compare", None, None, {"name": "demo"},
                     json.loads((tmp_path / "summary.json").read_text()))
    row = listing_row(folder)
    assert row["metric"] == "val_accuracy" and row["value"] == pytest.approx(0.65)
    assert row["report_metric"] == "test_accuracy" and row["report_value"] == pytest.approx(0.35)


def test_summary_files(tmp_path):
    s = _summary(tmp_path)
    write_summary(s)
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert [r["index"] for r in rows] == ["1", "2", "3", "4", "5"]  # sweep order
    assert list(rows[0])[:7] == ["index", "variant", "strategy.lr", "seed", "status",
                                 "val_accuracy", "test_accuracy"]
    assert rows[4]["status"] == "diverged" and rows[4]["error"] == "boom"
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["metric"] == "val_accuracy" and data["report_metric"] == "test_accuracy"
    assert data["completed"] == 4 and data["chosen"]["label"] == "sgd lr=1e-06"
    assert len(data["rows"]) == 5 and len(data["groups"]) == 3
    md = (tmp_path / "summary.md").read_text()
    assert md.startswith("# demo") and "| sgd | 1e-06 | 1 | completed | 0.600 | 0.400 |" in md
    assert "sorted by val_accuracy" in md and "## Across seeds" in md and "0.550 ± 0.071" in md
    assert "\n\nchosen on validation: sgd lr=1e-06 — " in md and md == summary_markdown(s)


def test_fmt_keeps_huge_values_short():
    assert fmt("val_r2", 0.79123) == "0.791" and fmt("test_r2", -2.75e49) == "-2.75e+49"
    assert fmt("final_loss", 3196.4) == "3196" and fmt("val_mae", None) == "-"


def test_sparkline():
    assert sparkline([3, 2, 1]) == "█▅▁"
    assert len(sparkline(list(range(1000)), width=40)) == 40
    assert sparkline([]) == "" and set(sparkline([1, 1, 1])) == {"▁"}


def _metrics_csv(folder: Path, losses):
    folder.mkdir(parents=True)
    lines = ["iteration,loss,best_loss,elapsed_s,val_accuracy"]
    lines += [f"{i},{v},{v},0.1," for i, v in enumerate(losses, 1)]
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_compare_plots_are_pngs(tmp_path):
    s = _summary(tmp_path)
    for row in s.rows:
        _metrics_csv(tmp_path / row["run_dir"], [2.3, 1.0, row["metrics"]["final_loss"]])
    plots.compare_plots(s)
    for name in ("loss.png", "metric.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
    rank, report = plots._metric_bars(s).get_axes()  # the bars are validation, best on top
    assert rank.get_xlabel() == "val_accuracy" and report.get_xlabel() == "test_accuracy"
    assert [b.get_width() for b in rank.patches] == pytest.approx([0.65, 0.45])
    assert [b.get_width() for b in report.patches] == pytest.approx([0.35, 0.55])
    ax = plots._loss_overlay(s)
    assert ax.get_xscale() == "linear" and ax.get_ylim()[1] < 10  # the diverged run is cut
    (tmp_path / "05-big" / "metrics.csv").write_text(
        "iteration,loss,best_loss,elapsed_s,val_accuracy\n"
        + "".join(f"{i},2.0,2.0,0.1,\n" for i in range(1, 41)))
    assert plots._loss_overlay(s).get_xscale() == "log"  # 3 steps next to 40


def test_loss_axis_is_logarithmic_when_losses_span_decades(tmp_path):
    fig = plots.new_figure()
    ax = fig.add_subplot()
    plots._axes(ax, [100.0, 1.0, 0.5])
    assert ax.get_yscale() == "log"
    ax2 = fig.add_subplot()
    plots._axes(ax2, [2.3, 1.0])
    assert ax2.get_yscale() == "linear"


def test_a_failing_plot_never_costs_a_run_its_results(tmp_path, monkeypatch):
    from dlcli import api
    from dlcli.config import validate
    from tests.conftest import small_raw

    def broken(*args, **kwargs):
        raise RuntimeError("no fonts today")

    monkeypatch.setattr(plots, "run_figure", broken)
    result = api.train(validate(small_raw(iterations=3)), out=tmp_path)
    run = Path(result["run_dir"])
    assert result["status"] == "completed" and (run / "result.json").exists()
    assert not (run / "loss.png").exists()


def test_reused_rows_notes_and_the_search_pictures_are_in_the_summaries(tmp_path):
    summary = _summary(tmp_path)
    summary.rows[0]["reused"] = "compare-old/01-sgd"
    summary.notes.append("plots not written: no fonts")
    for name in ("search-params.png", "report.html"):
        (tmp_path / name).write_bytes(b"x")
    write_summary(summary)
    md = (tmp_path / "summary.md").read_text()
    assert "![search-params.png](search-params.png)" in md and "(report.html)" in md
    assert "- plots not written: no fonts" in md and "completed (reused)" in md
    header, first = (tmp_path / "summary.csv").read_text().splitlines()[:2]
    assert header.endswith(",reused") and first.endswith(",compare-old/01-sgd")
    assert json.loads((tmp_path / "summary.json").read_text())["reused"] == 1


def test_a_search_with_pruned_trials_lists_as_finished(tmp_path):
    folder = tmp_path / "compare-20260101-000000-s-abcdef"
    folder.mkdir()
    (folder / "sweep.json").write_text(json.dumps({"name": "s", "variants": []}))
    for i, status in enumerate(["completed", "pruned", "pruned"], 1):
        run = folder / f"{i:02d}-t"
        run.mkdir()
        (run / "config.yaml").write_text("name: t\n")
        (run / "result.json").write_text(json.dumps({"status": status, "metrics": {}}))
    from dlcli.runs import read_run

    assert listing_row(read_run(folder, tmp_path))["status"] == "completed, 2 pruned"
