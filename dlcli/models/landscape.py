"""The model of a landscape run: the parameters are the point ``w (2,)``, the loss is f(w).

Gradient noise (``data.noise``) is not added here but by the strategy that takes the
gradient, from its own random stream, like the noise of a random minibatch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlcli.data import Dataset
from dlcli.data.landscape import LANDSCAPES, Landscape

Params = dict[str, np.ndarray]


@dataclass(frozen=True)
class LandscapeModel:
    landscape: Landscape
    start: tuple[float, float]

    @classmethod
    def from_dataset(cls, data: Dataset) -> LandscapeModel:
        x, y = data.info["start"]
        return cls(LANDSCAPES[data.info["function"]], (float(x), float(y)))

    def init_params(self, n_features: int, n_outputs: int, rng: np.random.Generator) -> Params:
        """The start point itself (float64): ``rng`` is not used, the start is the config's."""
        return {"w": np.array(self.start, dtype=np.float64)}

    def sample_params(self, rng: np.random.Generator) -> Params:
        """A uniform random point of the plotting box: what random search draws here."""
        lo = np.array([self.landscape.xlim[0], self.landscape.ylim[0]])
        hi = np.array([self.landscape.xlim[1], self.landscape.ylim[1]])
        return {"w": rng.uniform(lo, hi)}

    def loss(self, params: Params, X: np.ndarray, y: np.ndarray) -> float:
        return self.landscape.f(params["w"])

    def loss_and_grad(self, params: Params, X: np.ndarray, y: np.ndarray,
                      out: Params | None = None) -> tuple[float, Params]:
        w = params["w"]
        return self.landscape.f(w), {"w": self.landscape.grad(w)}

    def predict(self, params: Params, X: np.ndarray) -> np.ndarray:
        """Nothing to predict: one (meaningless) zero per row, so generic code keeps working."""
        return np.zeros(X.shape[0], dtype=np.int64)
