"""Numerical gradients by centred differences, the relative error, and checking a model.

``f`` is a loss of the parameters; gradients are shaped like their params. The lecture's
per-coordinate loop is :func:`numerical_gradient`; the fast one, for whole models, is
:func:`dlcli.numgrad.numerical_gradient_fast` (re-exported here); :func:`check_gradients`
compares a model's analytic gradient with it, coordinate by coordinate: within the error floor
a float64 centred difference can resolve (:func:`error_floor`), else by the lecture's bands of
the relative error ``|a - n| / max(|a|, |n|)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcli.models import Model
from dlcli.numgrad import LoopProbe, numerical_gradient_fast, probe
from dlcli.runtime.blas import limit_blas

__all__ = ["numerical_gradient", "numerical_gradient_fast", "relative_error", "error_floor",
           "check_gradients", "GradcheckReport", "band"]

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


def relative_error(a: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Elementwise ``|a - n| / max(|a|, |n|)`` (the lecture's), 0 where both are 0; NaN where
    either is NaN or infinite."""
    a, n = np.asarray(a, dtype=np.float64), np.asarray(n, dtype=np.float64)
    top = np.maximum(np.abs(a), np.abs(n))
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.abs(a - n) / top
    err = np.where(top == 0, 0.0, err)
    return np.where(np.isfinite(a) & np.isfinite(n), err, np.nan)


EPS = float(np.finfo(np.float64).eps)
# Over the rounding estimate eps·|L|/h. Measured on the 48 checks of
# tests/test_gradcheck_configs.py at 20 rows, 200 coordinates: all pass at a factor of 1, three
# tiny-weight mlp-regressions fail at 0.5; so real rounding reaches 0.5-1 of it, 10 is a margin.
FLOOR_FACTOR = 10.0


def error_floor(loss: float, h: float) -> float:
    """The smallest ``|a - n|`` a float64 centred difference with step ``h`` can tell from 0:
    ``FLOOR_FACTOR * eps * |L| / h``. Each of the two loss values is rounded by a few ``eps·|L|``
    and their difference is divided by ``2h``; so a gradient much smaller than this is noise
    to the numerical side (torch.autograd.gradcheck's ``atol``, derived instead of fixed).
    0 for a non-finite loss (nothing is judged by it then)."""
    return FLOOR_FACTOR * EPS * abs(loss) / h if math.isfinite(loss) else 0.0


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
# A coordinate still over the tolerance after them may sit on a kink closer than h/100 (a
# ReLU input within 1e-10 of 0 happens with tiny initial weights), which every step
# straddles: its forward and backward slopes are compared at h/10 and h/100 (:func:`_kinks`).
KINK_SCALES = (10.0, 100.0)
KINK_GAP = 0.3  # a smooth loss's slope gap shrinks to 0.1 from one step to the next; a kink's not


NOT_FINITE = "not finite"  # a NaN or infinite gradient, analytic or numerical: a failure


def band(error: float) -> str:
    """The verdict for a relative error: good, fine near kinks, doubtful, wrong, or not finite
    (NaN or inf: a gradient that is not a number fails)."""
    if not math.isfinite(error):
        return NOT_FINITE
    return next(name for top, name in BANDS if error <= top)


@dataclass(frozen=True)
class Coordinate:
    tensor: str
    index: tuple[int, ...]
    analytic: float
    numerical: float  # the centred difference kept (with step h, or h/10, h/100 on a recheck)
    error: float  # relative error; NaN when either side is not finite
    within_floor: bool = False  # over GOOD by relative error, but |a - n| <= the floor
    at_kink: bool = False  # on a kink at the point, a between its one-sided slopes


@dataclass(frozen=True)
class TensorCheck:
    name: str
    shape: tuple[int, ...]
    checked: int  # coordinates compared
    max_error: float  # relative error over the coordinates above the floor (inf: not finite)
    mean_error: float  # over the finite ones
    rechecked: int  # coordinates that agreed only with a smaller h
    verdict: str
    floored: int = 0  # coordinates worse than GOOD by relative error, within the floor by |a - n|
    kinks: int = 0  # coordinates on a kink at the point, passed as between its one-sided slopes


@dataclass(frozen=True)
class GradcheckReport:
    tensors: list[TensorCheck]
    worst: list[Coordinate]  # the worst coordinates over all tensors, worst first
    samples: int
    h: float
    full: bool
    tolerance: float
    seconds: float = 0.0
    floor: float = 0.0  # |a - n| at or below this is agreement (error_floor(loss, h))
    loss: float = 0.0  # the loss at the checked point, which sets the floor
    extra: dict[str, Any] = field(default_factory=dict)  # where it ran: model, data, ...

    @property
    def max_error(self) -> float:
        return max((t.max_error for t in self.tensors), default=0.0)

    @property
    def verdict(self) -> str:
        return band(self.max_error)

    @property
    def passed(self) -> bool:
        return self.max_error <= self.tolerance  # False for inf: a gradient not finite


def check_gradients(model: Model, params: Params, X: np.ndarray, y: np.ndarray, *,
                    rng: np.random.Generator, h: float = 1e-5, coords: int = 200,
                    full: bool = False, tolerance: float = TOLERANCE,
                    n_worst: int = 5) -> GradcheckReport:
    """Analytic vs centred-difference gradient of ``model.loss`` at ``params`` on ``X, y``,
    everything in float64.

    Each tensor is checked on ``coords`` random coordinates (all of them with ``full``, or when
    it has fewer), with the fast numerical gradient. A coordinate agrees when ``|a - n|`` is
    within the error floor (:func:`error_floor`); otherwise its relative error
    ``|a - n| / max(|a|, |n|)`` is judged by the lecture's bands. Passes when every judged
    error is at most ``tolerance``; a NaN or infinite gradient on either side fails.

    BLAS is pinned to one thread meanwhile: thousands of loss evaluations on a few rows gain
    nothing from threads, and lose much more than that to their synchronisation on a busy
    machine (10.4 s against 0.66 s measured for the issue's mlp-regression check).
    """
    with limit_blas(1):
        return _check(model, params, X, y, rng, h, coords, full, tolerance, n_worst)


def _check(model: Model, params: Params, X: np.ndarray, y: np.ndarray,
           rng: np.random.Generator, h: float, coords: int, full: bool, tolerance: float,
           n_worst: int) -> GradcheckReport:
    start = time.perf_counter()
    p64 = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    X64 = np.asarray(X, dtype=np.float64)
    loss, grads = model.loss_and_grad(p64, X64, y)
    floor = error_floor(float(loss), h)
    pr = probe(model, p64, X64, y, h)
    tensors, worst = [], []
    for name, w in p64.items():
        if full or w.size <= coords:
            flat = np.arange(w.size)
        else:
            flat = np.sort(rng.choice(w.size, size=coords, replace=False))
        ana = np.asarray(grads[name], dtype=np.float64).reshape(-1)[flat]
        num = pr.partials(name, flat)
        judged = _judge(ana, num, floor)
        rechecked = _recheck(model, p64, X64, y, h, floor, name, flat, ana, num, judged)
        kink = _kinks(model, p64, X64, y, h, floor, name, flat, ana, judged, tolerance)
        tensors.append(_tensor_check(name, w.shape, ana, num, judged, kink, rechecked))
        worst += _worst(name, w.shape, flat, ana, num, judged, kink, n_worst)
    worst = sorted(worst, key=_badness, reverse=True)[:n_worst]
    return GradcheckReport(tensors, worst, X.shape[0], h, full, tolerance,
                           time.perf_counter() - start, floor, float(loss))


def _judge(ana: np.ndarray, num: np.ndarray, floor: float) -> np.ndarray:
    """The error each coordinate is judged by: its relative error, but 0 where that is over
    GOOD while ``|a - n|`` is within the floor (rounding, not the gradient); inf where either
    side is not finite (so it sorts first and fails)."""
    err = relative_error(ana, num)
    with np.errstate(invalid="ignore"):
        within = np.abs(ana - num) <= floor  # False for NaN
    return np.where(np.isnan(err), np.inf, np.where(within & (err > GOOD), 0.0, err))


def _tensor_check(name: str, shape: tuple[int, ...], ana: np.ndarray, num: np.ndarray,
                  judged: np.ndarray, kink: np.ndarray, rechecked: int) -> TensorCheck:
    """Max and mean relative error over the coordinates neither the floor nor a kink decided."""
    floored = (judged == 0) & (relative_error(ana, num) > GOOD) & ~kink
    rest = judged[~(floored | kink)]
    top, finite = float(rest.max(initial=0)), rest[np.isfinite(rest)]
    return TensorCheck(name, tuple(shape), len(ana), top,
                       float(finite.mean()) if len(finite) else 0.0, rechecked, band(top),
                       int(floored.sum()), int(kink.sum()))


def _worst(name: str, shape: tuple[int, ...], flat: np.ndarray, ana: np.ndarray,
           num: np.ndarray, judged: np.ndarray, kink: np.ndarray, n: int) -> list[Coordinate]:
    """The ``n`` worst coordinates of one tensor by judged error (those the floor or a kink
    decided last, by relative error)."""
    err = relative_error(ana, num)
    order = np.lexsort((np.nan_to_num(err, nan=np.inf), judged))[::-1][:n]
    return [Coordinate(name, tuple(int(i) for i in np.unravel_index(flat[k], shape)),
                       float(ana[k]), float(num[k]), float(err[k]),
                       bool(judged[k] == 0 and err[k] > GOOD and not kink[k]), bool(kink[k]))
            for k in order]


def _badness(c: Coordinate) -> tuple[float, float]:
    error = c.error if math.isfinite(c.error) else math.inf
    return (0.0 if c.within_floor or c.at_kink else error, error)


def _recheck(model: Model, params: Params, X: np.ndarray, y: np.ndarray, h: float,
             floor: float, name: str, flat: np.ndarray, ana: np.ndarray, num: np.ndarray,
             judged: np.ndarray) -> int:
    """Take the coordinates worse than GOOD again with smaller steps; update ``num`` and
    ``judged`` in place where that agrees better. Returns how many improved.

    A step ``h / s`` rounds ``s`` times worse, so its values are judged with the floor
    ``s * floor``: a kink within ±h passes once the step no longer crosses it, at the price
    that a gradient error below ``s * floor`` passes on such a coordinate too."""
    improved = np.zeros(len(flat), dtype=bool)
    for scale in RECHECK_SCALES:
        bad = np.flatnonzero(judged > GOOD)
        if len(bad) == 0:
            break
        again = probe(model, params, X, y, h / scale).partials(name, flat[bad])
        j2 = _judge(ana[bad], again, floor * scale)
        better = j2 < judged[bad]
        num[bad[better]], judged[bad[better]] = again[better], j2[better]
        improved[bad[better]] = True
    return int(improved.sum())


def _kinks(model: Model, params: Params, X: np.ndarray, y: np.ndarray, h: float,
           floor: float, name: str, flat: np.ndarray, ana: np.ndarray, judged: np.ndarray,
           tolerance: float) -> np.ndarray:
    """Which coordinates still over ``tolerance`` sit on a kink at the point itself, with
    the analytic value between the forward and backward slopes (a subgradient there); their
    ``judged`` becomes 0. ``(len(flat),)`` bool.

    A kink: the gap between the two one-sided slopes shrinks less than ``KINK_GAP`` from step
    h/10 to h/100 (a smooth loss's gap, ``t·|f''|``, shrinks 10x) and is over their rounding.
    Only the loss decides that there is a kink, so a wrong analytic gradient cannot fake one;
    on a kink, any value between the slopes is a right (sub)gradient.
    """
    kink = np.zeros(len(flat), dtype=bool)
    bad = np.flatnonzero(np.isfinite(judged) & (judged > tolerance))
    if len(bad) == 0:
        return kink
    at = model.loss(params, X, y)
    gaps = []
    for scale in KINK_SCALES:
        t = h / scale
        plus, minus = LoopProbe(model, params, X, y, t).sides(name, flat[bad])
        fwd, bwd = (plus - at) / t, (at - minus) / t
        gaps.append(np.abs(fwd - bwd))
        noise = 2 * floor * scale  # a one-sided slope rounds twice as much as a centred one
        lo, hi = np.minimum(fwd, bwd) - noise, np.maximum(fwd, bwd) + noise
    jump = (gaps[-1] > KINK_GAP * gaps[0]) & (gaps[-1] > 2 * noise)
    kink[bad[jump & (lo <= ana[bad]) & (ana[bad] <= hi)]] = True
    judged[kink] = 0.0
    return kink
