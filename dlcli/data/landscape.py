"""The lecture's "problems with SGD" as 2-D loss landscapes: ``data.source: landscape``.

There is no data: the parameters are a point ``w = (x, y)`` and the loss is a function of it.
Each :class:`Landscape` gives the value and the analytic gradient, vectorized so the value can
be drawn on a grid (``x``, ``y`` arrays of one shape), a usual start and a plotting box.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlcli.data import Dataset

Fn = Callable[[np.ndarray, np.ndarray], np.ndarray]
Grad = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Landscape:
    name: str
    value: Fn  # f(x, y), elementwise over arrays
    gradient: Grad  # (df/dx, df/dy)
    start: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    minima: tuple[tuple[float, float], ...]  # where f = 0, for the plot
    about: str

    def f(self, w: np.ndarray) -> float:
        """The loss at ``w (2,)``."""
        return float(self.value(w[0], w[1]))

    def grad(self, w: np.ndarray) -> np.ndarray:
        """The gradient at ``w (2,)``, shaped ``(2,)``."""
        gx, gy = self.gradient(w[0], w[1])
        return np.array([gx, gy], dtype=w.dtype)


# Condition number of the ill-conditioned valley: the Hessian is diag(1, KAPPA).
KAPPA = 50.0

LANDSCAPES: dict[str, Landscape] = {
    "ill-conditioned": Landscape(
        "ill-conditioned",
        lambda x, y: 0.5 * (x * x + KAPPA * y * y),
        lambda x, y: (x, KAPPA * y),
        start=(-9.0, 1.5), xlim=(-10.0, 10.0), ylim=(-2.5, 2.5), minima=((0.0, 0.0),),
        about=f"f = (x² + {KAPPA:g} y²) / 2: a narrow valley, steep across and shallow along",
    ),
    "saddle": Landscape(
        "saddle",
        lambda x, y: x * x + 0.25 * (y * y - 1) ** 2,
        lambda x, y: (2 * x, y * (y * y - 1)),
        start=(1.5, 0.0), xlim=(-2.0, 2.0), ylim=(-1.6, 1.6), minima=((0.0, -1.0), (0.0, 1.0)),
        about="f = x² + (y² - 1)² / 4: a saddle at (0, 0) on the ridge y = 0, minima at (0, ±1)",
    ),
    "rosenbrock": Landscape(
        "rosenbrock",
        lambda x, y: (1 - x) ** 2 + 100 * (y - x * x) ** 2,
        lambda x, y: (-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)),
        start=(-1.5, 2.0), xlim=(-2.0, 2.0), ylim=(-1.0, 3.0), minima=((1.0, 1.0),),
        about="f = (1 - x)² + 100 (y - x²)²: a curved, flat-bottomed valley to (1, 1)",
    ),
}


def landscape_dataset(function: str, start: tuple[float, float] | None,
                      noise: float) -> Dataset:
    """An empty Dataset (one dummy row, so minibatch code needs no special case) that names the
    function, the start and the gradient noise in ``info``."""
    land = LANDSCAPES[function]
    empty = np.zeros((0, 2), dtype=np.float32)
    return Dataset(
        X_train=np.zeros((1, 2), dtype=np.float32), y_train=np.zeros(1, dtype=np.float32),
        X_val=empty, y_val=np.zeros(0, dtype=np.float32),
        X_test=empty, y_test=np.zeros(0, dtype=np.float32),
        task="landscape", feature_names=["x", "y"],
        info={"function": function, "start": list(start or land.start),
              "gradient_noise": noise, "about": land.about},
    )
