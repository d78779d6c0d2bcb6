"""weights.png: class templates in the CIFAR row layout, an MLP's first layer, a house model's
coefficients in price units; no picture where none means something; never a failed run."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from dlcli.config import validate
from dlcli.runner import build
from dlcli.train import Outcome, RunStart
from dlcli.viz import weights as plots_weights
from dlcli.viz.weights import WeightsPlot, as_images, mosaic, write_weights_png
from tests.conftest import small_raw

PNG = b"\x89PNG\r\n\x1a\n"


def _setup(raw: dict[str, Any]) -> tuple[Any, Any, dict[str, np.ndarray]]:
    cfg = validate(raw)
    data, model = build(cfg)
    params = model.init_params(data.n_features, data.n_outputs, np.random.default_rng(0))
    return cfg, data, params


def _houses(model: dict[str, Any]) -> dict[str, Any]:
    raw = small_raw()
    raw["data"] = {"source": "houses-synthetic", "num_train": 300, "num_val": 50,
                   "num_test": 50, "log_target": True}
    raw["model"] = model
    return raw


def test_as_images_reads_the_cifar_row_layout_and_rescales_each_column():
    w = np.zeros((3073, 2))
    w[0, 0] = 1.0  # red, row 0, column 0
    w[1024 + 32 * 5 + 7, 0] = -1.0  # green, row 5, column 7
    w[2048 + 32 * 31 + 31, 1] = 3.0  # blue, last pixel; the rest of column 1 is 0
    w[3072] = 1e9  # the bias row never counts
    img = as_images(w)
    assert img.shape == (2, 32, 32, 3) and img.dtype == np.uint8
    assert img[0, 0, 0, 0] == 255 and img[0, 5, 7, 1] == 0 and img[0, 1, 1, 2] == 128
    assert img[1, 31, 31, 2] == 255 and img[1, 0, 0, 0] == 0
    assert as_images(np.ones((3072, 1))).max() == 0  # a flat template: no division by zero


def test_mosaic_pads_images_into_rows():
    tiles = np.zeros((5, 32, 32, 3), dtype=np.uint8)
    grid = mosaic(tiles, cols=3, pad=2)
    assert grid.shape == (2 * 34 + 2, 3 * 34 + 2, 3)
    assert grid[0, 0, 0] == 255 and grid[2, 2, 0] == 0 and grid[-3, -3, 0] == 255  # 6th: empty


def test_class_templates_and_mlp_units_are_drawn(tmp_path):
    cfg, data, params = _setup(small_raw())
    assert write_weights_png(tmp_path, params, data, cfg) == tmp_path / "weights.png"
    assert (tmp_path / "weights.png").read_bytes()[:8] == PNG
    raw = small_raw()
    raw["model"] = {"name": "mlp", "hidden": [12], "reg": 0.0}
    cfg, data, params = _setup(raw)
    fig = plots_weights._first_layer(params, data, cfg)
    assert "all 12 units" in fig.get_axes()[0].get_title()
    params["W1"] = np.ones((3073, 150), dtype=np.float32)
    assert "units 1–100 of 150" in plots_weights._first_layer(params, data, cfg).get_axes()[0] \
        .get_title()


def test_house_coefficients_are_price_changes_per_std_without_zipcodes():
    cfg, data, params = _setup(_houses({"name": "linear-regression", "reg": 0.0}))
    names = data.feature_names
    w = np.zeros((len(names), 1), dtype=np.float32)
    grade, zipcode = names.index("grade"), next(i for i, n in enumerate(names)
                                                if n.startswith("zipcode_"))
    w[grade], w[names.index("long")], w[zipcode], w[-1] = 0.5, -0.25, 9.0, 7.0  # -1: bias
    ax = plots_weights._coefficients({"W": w}, data, cfg).get_axes()[0]
    std = data.info["target_std"]
    widths = [p.get_width() for p in ax.patches]
    numeric = [n for n in names if n != "bias" and not n.startswith("zipcode_")]
    assert len(widths) == len(numeric)  # neither the bias nor a zipcode indicator
    assert widths[-1] == pytest.approx(100 * math.expm1(0.5 * std))  # largest on top
    assert widths[0] == pytest.approx(100 * math.expm1(-0.25 * std))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1].startswith("grade (1 std = ") and labels[0].startswith("long")
    assert "% change in price per +1 std" in ax.get_xlabel()
    assert "zipcode indicators (0/1, not standardized) not shown" in \
        ax.figure.get_supxlabel()


def test_no_picture_where_none_means_something(tmp_path):
    cfg, data, params = _setup(_houses({"name": "mlp-regression", "hidden": [4]}))
    assert write_weights_png(tmp_path, params, data, cfg) is None
    raw = small_raw()
    raw["data"] = {"source": "landscape", "function": "saddle", "start": [1.5, 0.0]}
    raw["model"] = {"name": "landscape"}
    raw["strategy"] = {"name": "gd", "iterations": 3, "lr": 0.1}
    cfg, data, params = _setup(raw)
    assert write_weights_png(tmp_path, params, data, cfg) is None
    cfg, data, params = _setup(small_raw())
    params["W"][5, 2] = np.nan  # diverged weights: nothing honest to draw
    assert write_weights_png(tmp_path, params, data, cfg) is None
    assert not (tmp_path / "weights.png").exists()


def _outcome(params: dict[str, np.ndarray]) -> Outcome:
    return Outcome(status="completed", iterations=1, wall_time_s=0.0, metrics={},
                   params=params)


@pytest.mark.plots
def test_the_callback_draws_at_the_end_and_swallows_its_errors(tmp_path, monkeypatch):
    cfg, data, params = _setup(small_raw())
    cb = WeightsPlot(tmp_path, data)
    cb.on_start(RunStart(cfg, 1, 200, data.n_features))
    cb.on_end(_outcome(params))
    assert (tmp_path / "weights.png").read_bytes()[:8] == PNG

    def broken(*args: Any) -> None:
        raise RuntimeError("no fonts today")

    monkeypatch.setattr(plots_weights, "write_weights_png", broken)
    cb.on_end(_outcome(params))  # no exception: the run's results stand
