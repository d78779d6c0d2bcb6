"""Models: a plain registry from ``model.name`` to a builder taking the model config.

Every model follows one small protocol (see ``Model``); parameters are a ``dict[str, ndarray]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from dlcli.config import ModelConfig
from dlcli.data import Dataset
from dlcli.models import linear
from dlcli.models.landscape import LandscapeModel
from dlcli.models.losses import mse_loss, softmax_loss, svm_loss
from dlcli.models.mlp import MLP

Params = dict[str, np.ndarray]


class Model(Protocol):
    def init_params(self, n_features: int, n_outputs: int, rng: np.random.Generator) -> Params: ...
    def loss_and_grad(
        self, params: Params, X: np.ndarray, y: np.ndarray, out: Params | None = None
    ) -> tuple[float, Params]: ...  # out: gradient arrays to fill in place (the caller's)
    def loss(self, params: Params, X: np.ndarray, y: np.ndarray) -> float: ...
    def predict(self, params: Params, X: np.ndarray) -> np.ndarray: ...


def _scale(cfg: ModelConfig) -> float:
    assert cfg.init_scale is not None  # the schema fills it in for linear models
    return cfg.init_scale


MODELS: dict[str, Callable[[ModelConfig], Model]] = {
    "svm": lambda cfg: linear.svm(cfg.reg, _scale(cfg)),
    "softmax": lambda cfg: linear.softmax(cfg.reg, _scale(cfg)),
    "linear-regression": lambda cfg: linear.linear_regression(cfg.reg, _scale(cfg)),
    "mlp": lambda cfg: MLP(tuple(cfg.hidden), {"softmax": softmax_loss, "svm": svm_loss}[cfg.head],
                           cfg.reg, cfg.init_scale),
    "mlp-regression": lambda cfg: MLP(tuple(cfg.hidden), mse_loss, cfg.reg, cfg.init_scale,
                                      regression=True),
    "landscape": lambda cfg: _needs_data(cfg),
}


def build_model(cfg: ModelConfig, data: Dataset | None = None) -> Model:
    """The configured model; a landscape's model is the function its data names."""
    if data is not None and data.task == "landscape":
        return LandscapeModel.from_dataset(data)
    return MODELS[cfg.name](cfg)


def _needs_data(cfg: ModelConfig) -> Model:
    raise ValueError("model.name: landscape is built from its data: build_model(cfg, data)")
