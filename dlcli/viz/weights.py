"""A run's ``weights.png``: what the learned weights look like, where a picture means something.

- a linear classifier (svm, softmax) on images: each class's column of W as a 32x32 colour
  image (the course's class templates);
- an MLP on images: the first layer's weights, one 32x32 image per hidden unit (up to 100);
- linear regression on the house table: each feature's coefficient as a bar, in price units
  per standard deviation of the feature.

Landscapes, an MLP on the house table (its first layer mixes features; no single number per
feature) and anything unknown get no picture. matplotlib is imported inside the functions.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.config import Config
from dlcli.data import Dataset
from dlcli.events import Callback, Outcome, RunStart
from dlcli.models import Params

SIDE = 32
PIXELS = 3 * SIDE * SIDE  # the CIFAR row: 1024 red, 1024 green, 1024 blue, each row-major
MAX_UNITS = 100  # first-layer units drawn for an MLP
FILE = "weights.png"


def write_weights_png(run_dir: Path, params: Params, data: Dataset, cfg: Config
                      ) -> Path | None:
    """Draw ``run_dir/weights.png`` for these weights; its path, or None when no picture means
    something here (landscapes, mlp-regression, weights that are not finite)."""
    draw = _drawer(params, data, cfg)
    if draw is None:
        return None
    fig = draw(params, data, cfg)
    path = Path(run_dir) / FILE
    fig.savefig(path)
    return path


def _drawer(params: Params, data: Dataset, cfg: Config) -> Any:
    """The function that draws these weights, or None."""
    images = tuple(data.info.get("image_shape") or ()) == (SIDE, SIDE, 3)
    name = cfg.model.name
    weights = params.get("W1" if name == "mlp" else "W")
    if weights is None or weights.ndim != 2 or not np.isfinite(weights).all():
        return None
    if images and name in ("svm", "softmax") and weights.shape[0] >= PIXELS:
        return _templates
    if images and name == "mlp" and weights.shape[0] >= PIXELS:
        return _first_layer
    if name == "linear-regression" and data.feature_names and "target_std" in data.info \
            and weights.shape == (len(data.feature_names), 1):
        return _coefficients
    return None


def as_images(columns: np.ndarray) -> np.ndarray:
    """Weight columns ``(3072 [+ bias], K)`` in the CIFAR row layout -> ``(K, 32, 32, 3)``
    uint8, each rescaled on its own as the course does: ``255 * (w - min) / (max - min)``
    (the bias row, past 3072, dropped)."""
    w = np.asarray(columns[:PIXELS], dtype=np.float64).T.reshape(-1, 3, SIDE, SIDE)
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    span = w.max(axis=(1, 2, 3), keepdims=True) - lo
    scaled = 255.0 * (w - lo) / np.where(span > 0, span, 1.0)
    return np.rint(scaled).astype(np.uint8).transpose(0, 2, 3, 1)


def mosaic(images: np.ndarray, cols: int, pad: int = 2) -> np.ndarray:
    """``(K, 32, 32, 3)`` -> one white-padded ``(rows*(32+pad)+pad, cols*(32+pad)+pad, 3)``
    image, row by row: one imshow instead of K axes keeps the picture cheap to draw."""
    k = len(images)
    rows = max(1, math.ceil(k / cols))
    cell = SIDE + pad
    out = np.full((rows * cell + pad, cols * cell + pad, 3), 255, dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        out[pad + r * cell:pad + r * cell + SIDE, pad + c * cell:pad + c * cell + SIDE] = img
    return out


def plain(text: str) -> str:
    """``text`` as matplotlib shows it literally: a ``$`` from a file would start mathtext."""
    return text.replace("$", r"\$")


def _title(cfg: Config) -> str:
    return plain(f"{cfg.name}: {cfg.model.name}, {cfg.strategy.name} on {cfg.data.source}")


def _templates(params: Params, data: Dataset, cfg: Config) -> Any:
    """The ten class templates, two rows of five, each named under it."""
    from dlcli.viz.plots import new_figure

    imgs = as_images(params["W"])
    names = [plain(str(n)) for n in data.info.get("class_names") or []]
    names += [f"class {i}" for i in range(len(names), len(imgs))]
    cols, cell = min(5, len(imgs)), SIDE + 8
    rows = math.ceil(len(imgs) / cols)
    fig = new_figure(1.6 * cols, 0.7 + 1.5 * cols * (rows * cell + 8) / (cols * cell + 8))
    ax = fig.add_subplot()
    ax.imshow(mosaic(imgs, cols, pad=8), interpolation="nearest")
    for i, label in enumerate(names[:len(imgs)]):
        r, c = divmod(i, cols)  # the name in the padding under its image
        ax.text(8 + c * cell + SIDE / 2, (r + 1) * cell + 0.3, label, ha="center", va="top",
                fontsize="small")
    ax.set_ylim(rows * cell + 8, 0)
    ax.set_axis_off()
    ax.set_title(f"{_title(cfg)}\nclass templates: W[:, c] as an image, each rescaled to 0–255",
                 fontsize="medium")
    return fig


def _first_layer(params: Params, data: Dataset, cfg: Config) -> Any:
    """The first MLP layer's units (the first MAX_UNITS), each an image rescaled on its own."""
    from dlcli.viz.plots import new_figure

    w1 = params["W1"]
    shown = min(MAX_UNITS, w1.shape[1])
    imgs = as_images(w1[:, :shown])
    grid = mosaic(imgs, math.ceil(math.sqrt(shown)))
    fig = new_figure(7.0, 0.7 + 6.6 * grid.shape[0] / grid.shape[1])
    ax = fig.add_subplot()
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    which = f"all {shown} units" if shown == w1.shape[1] else \
        f"units 1–{shown} of {w1.shape[1]}"
    ax.set_title(f"{_title(cfg)}\nfirst layer W1: {which}, each rescaled to 0–255",
                 fontsize="medium")
    return fig


def _coefficients(params: Params, data: Dataset, cfg: Config) -> Any:
    """The numeric features' coefficients as sorted bars, in price units per standard deviation
    of the feature (one std is the training split's, as the features were standardized).

    The target was standardized too, so a coefficient ``w_j`` moves the target by
    ``w_j * target_std`` per std of feature j, the others held fixed. Without ``log_target``
    that is a change in price (dollars). With it, the change is in log price, i.e. a factor
    ``exp(w_j * target_std)`` on the price whatever the price: the bars show the honest
    ``100 * (exp(w_j * target_std) - 1)`` % change, and a second axis reads the same change in
    dollars for a house at the median price. The zipcode indicators (0/1, not standardized,
    and each only defined relative to the others and the bias) are left out of the bars; a
    note gives the spread of their effects relative to the median zipcode.
    """
    from matplotlib.ticker import MaxNLocator

    from dlcli.viz.plots import new_figure

    names = [plain(n) for n in data.feature_names or []]
    w = np.asarray(params["W"][:, 0], dtype=np.float64) * float(data.info["target_std"])
    log = bool(data.info.get("log_target"))
    numeric = [j for j, n in enumerate(names) if n != "bias" and not n.startswith("zipcode_")]
    zips = [j for j, n in enumerate(names) if n.startswith("zipcode_")]
    effect = 100.0 * np.expm1(w) if log else w
    order = sorted(numeric, key=lambda j: effect[j])
    std = data.info.get("feature_std") or []
    labels = [names[j] + (f" (1 std = {std[j]:.3g})" if j < len(std) else "") for j in order]
    fig = new_figure(7.5, 1.8 + 0.28 * max(1, len(order)))
    ax = fig.add_subplot()
    ax.barh(range(len(order)), [effect[j] for j in order],
            color=["C0" if effect[j] >= 0 else "C3" for j in order])
    ax.set_yticks(range(len(order)), labels, fontsize="small")
    ax.axvline(0, color="k", linewidth=0.8)
    ax.grid(axis="x", alpha=0.3)
    unit = "% change in price" if log else "change in price (\\$)"
    ax.set_xlabel(f"{unit} per +1 std of the feature, the others held fixed")
    median = (data.info.get("price") or {}).get("median")
    if log and median:
        top = ax.secondary_xaxis("top", functions=(lambda p: p * median / 100.0,
                                                  lambda d: d * 100.0 / median))
        top.set_xlabel(f"the same in \\$, for a house at the median price (\\${median:,.0f})")
        top.xaxis.set_major_locator(MaxNLocator(6))
        top.xaxis.set_major_formatter("{x:,.0f}")
    if zips:
        fig.supxlabel(_zip_note(w[zips], log), fontsize="small")
    ax.set_title(f"{_title(cfg)}\ncoefficients of the standardized features (bias left out)",
                 fontsize="medium")
    return fig


def _zip_note(w: np.ndarray, log: bool) -> str:
    """How far the zipcode indicators move the price, relative to the median zipcode."""
    rel = w - np.median(w)
    lo, hi = (100.0 * np.expm1(rel.min()), 100.0 * np.expm1(rel.max())) if log else \
        (rel.min(), rel.max())
    unit = "%" if log else " \\$"
    return (f"{len(w)} zipcode indicators (0/1, not standardized) not shown; relative to the\n"
            f"median zipcode they move the price from {lo:+,.0f}{unit} to {hi:+,.0f}{unit}")


class WeightsPlot(Callback):
    """Draws the run's ``weights.png`` at the end, from the weights the run kept. Wired after
    :class:`dlcli.callbacks.LossPlot`, and like it swallows its own errors: by then result.json
    is on disk, and a picture is only a view."""

    def __init__(self, path: Path, data: Dataset) -> None:
        self.path = Path(path)
        self.data = data
        self._cfg: Config | None = None

    def on_start(self, start: RunStart) -> None:
        self._cfg = start.config

    def on_end(self, outcome: Outcome) -> None:
        if self._cfg is None or not outcome.params:
            return
        try:
            write_weights_png(self.path, outcome.params, self.data, self._cfg)
        except Exception:  # a missing font, a full disk: the run's results must not suffer
            pass
