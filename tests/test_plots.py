"""Learning curves: metrics.csv read back, the moving average, a run's two-panel loss.png and the
comparison's validation panel; the pictures a folder holds."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dlcli.sweeps.summary import Summary
from dlcli.viz import plots
from dlcli.viz.curves import moving_average, read_curves, window_for

PNG = b"\x89PNG\r\n\x1a\n"
HEAD = "iteration,loss,best_loss,elapsed_s,loss_evals,train_accuracy,val_accuracy"


def _csv(folder: Path, rows: list[str], head: str = HEAD) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.csv").write_text("\n".join([head, *rows]) + "\n")
    return folder


def test_curves_hold_every_loss_and_the_metrics_of_each_evaluation(tmp_path):
    run = _csv(tmp_path, ["1,2.3,2.3,0.1,1,,", "2,2.0,2.0,0.2,2,0.5,0.4", "3,1.9,1.9,0.3,3,,",
                          "4,1.7,1.7,0.4,4,0.7,0.45"])
    with open(run / "metrics.csv", "a") as fh:
        fh.write("5,1.")  # a line still being written: its loss may be 1.25
    c = read_curves(run)
    assert c.iterations == [1, 2, 3, 4] and c.losses == [2.3, 2.0, 1.9, 1.7]
    assert (c.train_name, c.val_name) == ("train_accuracy", "val_accuracy")
    assert c.evals == [2, 4] and c.train == [0.5, 0.7] and c.val == [0.4, 0.45]
    assert c.has_metrics and not c.landscape
    assert read_curves(tmp_path / "missing").iterations == []


def test_a_landscape_has_no_metric_panel(tmp_path):
    run = _csv(tmp_path, ["1,3.0,3.0,0.1,1,-3.0,1.0,2.0"],
               head="iteration,loss,best_loss,elapsed_s,loss_evals,neg_loss,x,y")
    c = read_curves(run)
    assert c.landscape and c.val == [-3.0] and not c.has_metrics and c.train_name is None
    assert len(plots.loss_figure(c, "t").get_axes()) == 1


def test_moving_average_is_centred_skips_non_finite_and_survives_spikes():
    assert moving_average([1, 2, 3, 4, 5], 3) == pytest.approx([1, 2, 3, 4, 5])
    assert moving_average([1, 5, 0, 7, 2, 9, 4], 5) == pytest.approx([1, 2, 3, 4.6, 4.4, 5, 4])
    assert moving_average([1, math.inf, 3, 5], 3) == pytest.approx([1, 2, 4, 5])
    assert moving_average([1e30, 1, 1, 1, 1, 1], 3)[-3:] == [1.0, 1.0, 1.0]  # no cancellation
    assert moving_average([], 5) == [] and moving_average([4.0], 1) == [4.0]
    assert window_for(500) == 25 and window_for(10) == 1 and window_for(10**6) == 100


def test_a_run_figure_has_the_loss_above_training_and_validation(tmp_path):
    rows = [f"{i},{2.3 - i / 100},{2.3 - i / 100},0.1,{i},"
            + (f"{0.3 + i / 200},{0.25 + i / 300}" if i % 10 == 0 else ",") for i in range(1, 61)]
    run = _csv(tmp_path, rows)
    fig = plots.loss_figure(read_curves(run), "demo")
    top, bottom = fig.get_axes()
    assert top.get_ylabel() == "training loss" and bottom.get_ylabel() == "accuracy"
    assert [line.get_label() for line in top.get_lines()] == \
        ["each iteration", "moving average (3 iterations)"]
    train, val = bottom.get_lines()
    assert list(train.get_xdata()) == [10, 20, 30, 40, 50, 60]
    assert val.get_ydata()[0] == pytest.approx(0.25 + 10 / 300)
    assert plots.run_figure(run, "demo") == run / "loss.png"
    assert (run / "loss.png").read_bytes()[:8] == PNG
    assert plots.run_figure(_csv(tmp_path / "empty", [])) is None


def test_a_diverged_r2_axis_is_cut(tmp_path):
    head = HEAD.replace("accuracy", "r2")
    run = _csv(tmp_path, ["1,5,5,0.1,1,-3e40,-2e49", "2,4,4,0.1,2,0.5,0.4"], head=head)
    bottom = plots.loss_figure(read_curves(run), "t").get_axes()[1]
    assert bottom.get_ylim()[0] == -1.0 and "cut at -1" in bottom.get_ylabel()


def test_a_real_run_folder_draws_both_panels(tmp_path):
    from dlcli import api
    from dlcli.config import validate
    from tests.conftest import small_raw

    result = api.train(validate(small_raw(iterations=10)), out=tmp_path)
    curves = read_curves(Path(result["run_dir"]))
    assert curves.evals == [5, 10] and all(v is not None for v in curves.train + curves.val)
    assert len(plots.loss_figure(curves, "t").get_axes()) == 2


def test_the_comparison_plot_gains_a_validation_panel(tmp_path):
    rows = []
    for i, (name, status) in enumerate([("sgd", "completed"), ("gd", "diverged")], 1):
        _csv(tmp_path / f"0{i}-{name}", [f"{k},{2 - k / 10},{2 - k / 10},0.1,{k},"
                                         + (f"0.5,{0.3 + i / 10}" if k % 2 == 0 else ",")
                                         for k in range(1, 7)])
        rows.append({"index": i, "label": name, "variant": name, "seed": 0, "status": status,
                     "metrics": {"val_accuracy": 0.4, "final_loss": 1.0}, "iterations": 6,
                     "wall_time_s": 0.1, "error": None, "run_dir": f"0{i}-{name}"})
    s = Summary(tmp_path, "demo", [], 2, rows=rows)
    ax = plots._loss_overlay(s)
    top, bottom = ax.figure.get_axes()
    assert top is ax and bottom.get_ylabel() == "val_accuracy"
    assert [list(line.get_xdata()) for line in bottom.get_lines()] == [[2, 4, 6], [2, 4, 6]]
    assert bottom.get_lines()[1].get_linestyle() == "--"  # the diverged run, as above
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG


def test_pictures_lists_the_pngs_known_ones_first(tmp_path):
    for name in ("zeta.png", "weights.png", "loss.png", "notes.txt"):
        (tmp_path / name).write_bytes(PNG)
    (tmp_path / "dir.png").mkdir()
    assert plots.pictures(tmp_path) == ["loss.png", "weights.png", "zeta.png"]
    assert plots.pictures(tmp_path / "missing") == []
