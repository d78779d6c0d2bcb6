"""Numerical gradients by centred differences, the relative error, and checking a model.

``f`` is a loss of the parameters; gradients are shaped like their params. The lecture's
per-coordinate loop is :func:`numerical_gradient`; the fast one, for whole models, is
:func:`dlcli.numgrad.numerical_gradient_fast` (re-exported here); :func:`check_gradients`
compares a model's analytic gradient with it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcli.models import Model
from dlcli.numgrad import numerical_gradient_fast, probe

__all__ = ["numerical_gradient", "numerical_gradient_fast", "relative_error", "check_gradients",
           "GradcheckReport", "band"]

Params = dict[str, np.ndarray]


def numerical_gradient(f: Callable[[], float], params: Params, h: float = 1e-5) -> Params:
    """``df/dw_i ≈ (f(w + h e_i) - f(w - h e_i)) / 2h`` for every coordinate of every tensor.

    One pair of loss evaluations per coordinate: "slow, approximate, easy to write". ``params``
    is perturbed in place and restored exactly; use float64 params so the difference of two
    nearby losses keeps its digits.
    """
    grads: Params = {}
    for name, w in params.items():
        g = np.zeros(w.shape, dtype=np.float64)
        flat, gflat = w.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + h
            plus = f()
            flat[i] = old - h
            minus = f()
            flat[i] = old
            gflat[i] = (plus - minus) / (2 * h)
        grads[name] = g
    return grads


def relative_error(a: np.ndarray, n: np.ndarray, tiny: float = 1e-12) -> np.ndarray:
    """Elementwise ``|a - n| / max(|a| + |n|, tiny)``."""
    return np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), tiny)


# --------------------------------------------------------------------------- checking a model

# The lecture's bands for the relative error of one coordinate.
BANDS: tuple[tuple[float, str], ...] = (
    (1e-7, "good"),
    (1e-4, "fine near kinks"),
    (1e-2, "doubtful"),
    (math.inf, "wrong"),
)
GOOD, TOLERANCE = 1e-7, 1e-4
# Coordinates worse than GOOD are taken again with h / 10 and h / 100, keeping the best: a
# kink (hinge, ReLU) or strong curvature within ±h fades as h shrinks, a wrong gradient does not.
RECHECK_SCALES = (10.0, 100.0)


def band(error: float) -> str:
    """The verdict for a relative error: good, fine near kinks, doubtful or wrong."""
    return next(name for top, name in BANDS if error <= top)


@dataclass(frozen=True)
class Coordinate:
    tensor: str
    index: tuple[int, ...]
    analytic: float
    numerical: float
    error: float


@dataclass(frozen=True)
class TensorCheck:
    name: str
    shape: tuple[int, ...]
    checked: int  # coordinates compared
    max_error: float
    mean_error: float
    rechecked: int  # coordinates that agreed only with a smaller h
    verdict: str


@dataclass(frozen=True)
class GradcheckReport:
    tensors: list[TensorCheck]
    worst: list[Coordinate]  # the worst coordinates over all tensors, worst first
    samples: int
    h: float
    full: bool
    tolerance: float
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # where it ran: model, data, ...

    @property
    def max_error(self) -> float:
        return max((t.max_error for t in self.tensors), default=0.0)

    @property
    def verdict(self) -> str:
        return band(self.max_error)

    @property
    def passed(self) -> bool:
        return self.max_error <= self.tolerance


def check_gradients(model: Model, params: Params, X: np.ndarray, y: np.ndarray, *,
                    rng: np.random.Generator, h: float = 1e-5, coords: int = 200,
                    full: bool = False, tolerance: float = TOLERANCE,
                    n_worst: int = 5) -> GradcheckReport:
    """Analytic vs centred-difference gradient of ``model.loss`` at ``params`` on ``X, y``,
    everything in float64.

    Each tensor is checked on ``coords`` random coordinates (all of them with ``full``, or when
    it has fewer), with the fast numerical gradient. Passes when every relative error
    ``|a - n| / max(|a| + |n|, tiny)`` is at most ``tolerance``.
    """
    start = time.perf_counter()
    p64 = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    X64 = np.asarray(X, dtype=np.float64)
    _, grads = model.loss_and_grad(p64, X64, y)
    pr = probe(model, p64, X64, y, h)
    tensors, worst = [], []
    for name, w in p64.items():
        if full or w.size <= coords:
            flat = np.arange(w.size)
        else:
            flat = np.sort(rng.choice(w.size, size=coords, replace=False))
        ana = np.asarray(grads[name], dtype=np.float64).reshape(-1)[flat]
        num = pr.partials(name, flat)
        err = relative_error(ana, num)
        rechecked = _recheck(model, p64, X64, y, h, name, flat, ana, num, err)
        tensors.append(TensorCheck(name, tuple(w.shape), len(flat), float(err.max(initial=0)),
                                   float(err.mean()) if len(err) else 0.0, rechecked,
                                   band(float(err.max(initial=0)))))
        for k in np.argsort(err)[::-1][:n_worst]:
            index = tuple(int(i) for i in np.unravel_index(flat[k], w.shape))
            worst.append(Coordinate(name, index, float(ana[k]), float(num[k]), float(err[k])))
    worst = sorted(worst, key=lambda c: -c.error)[:n_worst]
    return GradcheckReport(tensors, worst, X.shape[0], h, full, tolerance,
                           time.perf_counter() - start)


def _recheck(model: Model, params: Params, X: np.ndarray, y: np.ndarray, h: float, name: str,
             flat: np.ndarray, ana: np.ndarray, num: np.ndarray, err: np.ndarray) -> int:
    """Take the coordinates worse than GOOD again with smaller steps; update ``num`` and
    ``err`` in place where that agrees better. Returns how many improved."""
    improved = np.zeros(len(flat), dtype=bool)
    for scale in RECHECK_SCALES:
        bad = np.flatnonzero(err > GOOD)
        if len(bad) == 0:
            break
        again = probe(model, params, X, y, h / scale).partials(name, flat[bad])
        e2 = relative_error(ana[bad], again)
        better = e2 < err[bad]
        num[bad[better]], err[bad[better]] = again[better], e2[better]
        improved[bad[better]] = True
    return int(improved.sum())
