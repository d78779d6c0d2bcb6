"""Summary rows, mean ± std across seeds, sorting, the summary files, plots and sparklines."""

import csv
import json
from pathlib import Path

import pytest

from dlcli import plots
from dlcli.errors import UsageError
from dlcli.report import (
    Summary,
    check_sort,
    group_table,
    mean_std,
    primary_metric,
    run_table,
    sort_rows,
    sparkline,
    write_summary,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _row(index, variant, lr, seed, acc, loss, status="completed"):
    return {"index": index, "label": f"{variant} lr={lr} seed={seed}", "variant": variant,
            "strategy.lr": lr, "seed": seed, "status": status,
            "metrics": {"test_accuracy": acc, "final_loss": loss, "best_loss": loss},
            "iterations": 10, "wall_time_s": 0.5, "error": None if status == "completed"
            else "boom", "run_dir": f"{index:02d}-{variant}", "hash": f"h{index}"}


def _summary(tmp_path: Path) -> Summary:
    rows = [_row(1, "sgd", 1e-6, 0, 0.30, 1.5), _row(2, "sgd", 1e-6, 1, 0.40, 1.4),
            _row(3, "mom", 1e-6, 0, 0.50, 1.0), _row(4, "mom", 1e-6, 1, 0.60, 0.9),
            _row(5, "big", 1e-3, 0, 0.90, 1e30, status="diverged")]
    return Summary(tmp_path, "demo", ["strategy.lr"], 6, rows)


def test_primary_metric_accuracy_then_r2_then_final_loss():
    assert primary_metric([{"test_accuracy": 0.3, "final_loss": 1}]) == ("test_accuracy", True)
    assert primary_metric([{"val_r2": 0.1, "test_r2": 0.5, "test_rmse": 3}]) == ("test_r2", True)
    assert primary_metric([{"final_loss": 0.1, "final_x": 1.0}]) == ("final_loss", False)
    assert primary_metric([{}, {"test_r2": 0.4}]) == ("test_r2", True)  # a crash has no say
    assert primary_metric([]) == ("final_loss", False)


def test_mean_std_uses_the_sample_std_and_skips_missing():
    assert mean_std([1.0, 3.0, None]) == (2.0, pytest.approx(2 ** 0.5))
    assert mean_std([2.0]) == (2.0, None) and mean_std([]) == (None, None)
    assert mean_std([float("nan"), 1.0]) == (1.0, None)


def test_groups_average_completed_runs_across_seeds(tmp_path):
    groups = {g["variant"]: g for g in _summary(tmp_path).groups()}
    assert groups["mom"]["test_accuracy_mean"] == pytest.approx(0.55)
    assert groups["mom"]["runs"] == 2 and groups["mom"]["completed"] == 2
    assert groups["big"]["completed"] == 0 and groups["big"]["test_accuracy_mean"] is None
    heads, cells = group_table(_summary(tmp_path))
    assert heads[0] == "variant" and cells[0][:3] == ["mom", "1e-06", "2/2"]
    assert cells[0][3] == "0.550 ± 0.071"


def test_sort_best_first_failed_last_and_reversible(tmp_path):
    s = _summary(tmp_path)
    by = lambda key: [r["index"] for r in sort_rows(s.rows, key, s.grid_keys)]  # noqa: E731
    assert by("test_accuracy") == [4, 3, 2, 1, 5]  # the diverged run goes last
    assert by("final_loss") == [4, 3, 2, 1, 5]  # lower loss first
    assert by("-test_accuracy") == [1, 2, 3, 4, 5]
    assert by("variant") == [5, 3, 4, 1, 2]
    assert by("lr") == by("strategy.lr") == [1, 2, 3, 4, 5]
    heads, cells = run_table(s, "seed")
    assert "seed" in heads and [c[heads.index("seed")] for c in cells] == ["0", "0", "0", "1", "1"]


def test_unknown_sort_key_lists_the_valid_ones():
    check_sort("wall_time_s", ["strategy.lr"])
    check_sort("-lr", ["strategy.lr"])
    with pytest.raises(UsageError, match="--sort 'acc': unknown column; valid: index, variant"):
        check_sort("acc", ["strategy.lr"])


def test_summary_files(tmp_path):
    s = _summary(tmp_path)
    write_summary(s)
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert [r["index"] for r in rows] == ["1", "2", "3", "4", "5"]  # sweep order
    assert list(rows[0])[:6] == ["index", "variant", "strategy.lr", "seed", "status",
                                 "test_accuracy"]
    assert rows[4]["status"] == "diverged" and rows[4]["error"] == "boom"
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["metric"] == "test_accuracy" and data["completed"] == 4
    assert len(data["rows"]) == 5 and len(data["groups"]) == 3
    md = (tmp_path / "summary.md").read_text()
    assert md.startswith("# demo") and "| mom | 1e-06 | 1 | completed | 0.600 |" in md
    assert "## Across seeds" in md and "0.550 ± 0.071" in md


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
    plots.run_loss_plot([1, 2, 3], [2.3, 1.1, 0.9], tmp_path / "loss.png", "t")
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG


def test_a_failing_plot_never_costs_a_run_its_results(tmp_path, monkeypatch):
    from dlcli import api
    from dlcli.config import validate
    from tests.conftest import small_raw

    def broken(*args, **kwargs):
        raise RuntimeError("no fonts today")

    monkeypatch.setattr(plots, "run_loss_plot", broken)
    result = api.train(validate(small_raw(iterations=3)), out=tmp_path)
    run = Path(result["run_dir"])
    assert result["status"] == "completed" and (run / "result.json").exists()
    assert not (run / "loss.png").exists()
