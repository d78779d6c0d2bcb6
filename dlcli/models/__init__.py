"""Models: a plain registry from ``model.name`` to a builder taking the model config.

Every model follows one small protocol (see ``Model``); parameters are a ``dict[str, ndarray]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from dlcli.config import ModelConfig
from dlcli.models import linear

Params = dict[str, np.ndarray]


class Model(Protocol):
    def init_params(self, n_features: int, n_outputs: int, rng: np.random.Generator) -> Params: ...
    def loss_and_grad(
        self, params: Params, X: np.ndarray, y: np.ndarray
    ) -> tuple[float, Params]: ...
    def loss(self, params: Params, X: np.ndarray, y: np.ndarray) -> float: ...
    def predict(self, params: Params, X: np.ndarray) -> np.ndarray: ...


MODELS: dict[str, Callable[[ModelConfig], Model]] = {
    "svm": lambda cfg: linear.svm(cfg.reg, cfg.init_scale),
    "softmax": lambda cfg: linear.softmax(cfg.reg, cfg.init_scale),
}


def build_model(cfg: ModelConfig) -> Model:
    return MODELS[cfg.name](cfg)
