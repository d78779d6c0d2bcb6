"""Fast numerical gradients: the centred difference of every coordinate, computed by blocks.

Shapes: ``X (N, D)``, ``W (D, C)``, scores ``S = X @ W (N, C)``; gradients shaped like params.

The lecture's loop (:func:`dlcli.gradcheck.numerical_gradient`) evaluates the whole loss twice
per coordinate: 61,460 evaluations for a 3073 x 10 ``W``. Here the same numbers come from a
*probe* prepared once per point ``params``:

* :class:`LinearProbe` uses the structure of ``scores = X @ W``: perturbing ``W[i, j]`` by
  ``±h`` only shifts score column ``j`` by ``±h * X[:, i]``. Each row's loss change then follows
  exactly from its current scores (one or two log1p per row and coordinate for softmax, a few
  maxima for the hinge), vectorized over a block of ``i``'s and reused for every column:
  O(N·D·C). These are still two real loss evaluations per coordinate, not a derivative
  formula, and they equal the loop's for every ``h`` (no overflow, no cancellation).
* :class:`LoopProbe`, for any other model, perturbs one coordinate at a time and calls
  ``model.loss`` twice, in blocks (so the cost of a block can be timed and extrapolated).

Both work in the dtype of the arrays they are given; pass float64 for gradient checks.
"""

from __future__ import annotations

import math
import time
from typing import Protocol

import numpy as np

from dlcli.models import Model
from dlcli.models.linear import LinearModel
from dlcli.numgrad_kernels import KERNELS
from dlcli.runtime import linalg

Params = dict[str, np.ndarray]
# Rows of W per block: (N, BLOCK) float64 temporaries stay small (49,000 rows: 12.5 MB each).
BLOCK = 32
_ROW_CHUNK = 8192  # rows of X converted to float64 at a time when computing the scores


class Probe(Protocol):
    """Centred differences at one point: ``partials(name, flat)`` -> ``(len(flat),)`` values of
    ``(L(w + h e_k) - L(w - h e_k)) / 2h`` for the flat indices ``flat`` of ``params[name]``."""

    block: int

    def partials(self, name: str, flat: np.ndarray) -> np.ndarray: ...


def default_jobs() -> int:
    """Threads for the vectorized kernels (numpy releases the GIL, so cores add up): the run's
    thread count (:func:`dlcli.runtime.linalg.threads`), so a --jobs worker does not take
    every core.
    Each block of rows is computed alike whichever thread takes it: the same bits for any
    count."""
    from dlcli.runtime.linalg import threads

    return threads()


def probe(model: Model, params: Params, X: np.ndarray, y: np.ndarray, h: float = 1e-5,
          jobs: int | None = None) -> Probe:
    """The fastest exact way to take centred differences of ``model.loss`` at ``params``."""
    if isinstance(model, LinearModel) and set(params) == {"W"}:
        kernel = KERNELS.get(model.data_loss)
        if kernel is not None:
            return LinearProbe(model, params, X, y, h, kernel, jobs)
    return LoopProbe(model, params, X, y, h)


def numerical_gradient_fast(model: Model, params: Params, X: np.ndarray, y: np.ndarray,
                            h: float = 1e-5, jobs: int | None = None) -> Params:
    """Every coordinate's centred difference, ``(L(w + h e_k) - L(w - h e_k)) / 2h``, fast."""
    p = probe(model, params, X, y, h, jobs)
    return {k: p.partials(k, np.arange(v.size)).reshape(v.shape) for k, v in params.items()}


def estimate_seconds(model: Model, params: Params, X: np.ndarray, y: np.ndarray,
                     h: float = 1e-5, jobs: int | None = None) -> float:
    """Seconds one full numerical gradient takes in a run: prepare a probe, time blocks of
    coordinates per tensor and extrapolate to all of them.

    A run pays for warming up (first allocations, threads, caches) once, not at every
    gradient: the probe is prepared once untimed, then timed warm; each tensor's blocks (one
    per thread) are timed twice and the faster counts. (Extrapolating a cold first call
    overestimated real runs 2.5-3x and refused runs that would fit.)"""
    probe(model, params, X, y, h, jobs)  # warm-up, untimed
    t0 = time.perf_counter()
    p = probe(model, params, X, y, h, jobs)
    total = time.perf_counter() - t0
    threads = getattr(p, "jobs", 1)
    for name, w in params.items():
        n = min(w.size, 2 * threads * p.block)
        p.partials(name, np.arange(min(w.size, p.block)))  # warm-up, untimed
        best = math.inf
        for _ in range(2):
            t1 = time.perf_counter()
            p.partials(name, np.arange(n))
            best = min(best, time.perf_counter() - t1)
        total += best * w.size / n
    return total


# --------------------------------------------------------------------------- any model


class LoopProbe:
    """One coordinate at a time: ``model.loss`` at ``w + h e_k`` and ``w - h e_k``.

    Works on a private copy of ``params``, restored exactly after each coordinate.
    """

    block = 16

    def __init__(self, model: Model, params: Params, X: np.ndarray, y: np.ndarray,
                 h: float) -> None:
        self.model, self.X, self.y, self.h = model, X, y, h
        self.params = {k: v.copy() for k, v in params.items()}

    def partials(self, name: str, flat: np.ndarray) -> np.ndarray:
        plus, minus = self.sides(name, flat)
        return (plus - minus) / (2 * self.h)

    def sides(self, name: str, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``L(w + h e_k)`` and ``L(w - h e_k)`` for the flat indices ``flat``: ``(len(flat),)``
        each (one-sided differences at a kink need them apart)."""
        w = self.params[name].reshape(-1)
        plus, minus = np.empty(len(flat)), np.empty(len(flat))
        for k, idx in enumerate(flat):
            old = w[idx]
            w[idx] = old + self.h
            plus[k] = self.model.loss(self.params, self.X, self.y)
            w[idx] = old - self.h
            minus[k] = self.model.loss(self.params, self.X, self.y)
            w[idx] = old
        return plus, minus


# --------------------------------------------------------------------------- linear models

class Kernel(Protocol):
    """How one data loss changes when a score column moves. ``prepare`` derives what it needs
    from the scores once per point; ``apply`` gets a block ``Xb = h * X[:, rows]`` (samples
    sorted by class) and returns ``(B, C)``: for row i of the block and column j, the sum over
    samples of ``L_n(W + h e_ij) - L_n(W - h e_ij)``."""

    def prepare(self, pr: LinearProbe) -> np.ndarray: ...
    def apply(self, pr: LinearProbe, Xb: np.ndarray) -> np.ndarray: ...


class LinearProbe:
    """Centred differences of ``data_loss(X @ W, y) + reg * sum(W * W)`` from the scores.

    The samples are sorted by class once, so "the rows whose label is j" is a slice.
    """

    def __init__(self, model: LinearModel, params: Params, X: np.ndarray, y: np.ndarray,
                 h: float, kernel: Kernel, jobs: int | None = None) -> None:
        self.X, self.h, self.reg, self.kernel = X, h, model.reg, kernel
        self.W = params["W"]
        self.dtype = np.result_type(X.dtype, self.W.dtype, np.float32)
        self.order = np.argsort(y, kind="stable")
        self.y = y[self.order]
        n_classes = self.W.shape[1]
        self.bounds = np.searchsorted(self.y, np.arange(n_classes + 1))
        self.S = _scores(X, self.W, self.order, self.dtype)
        self.jobs = jobs or default_jobs()
        self.rows_per_block = BLOCK
        self.block = BLOCK * n_classes  # coordinates per block: BLOCK rows of W
        self.aux = kernel.prepare(self)  # what the kernel derives from S, once per point

    def rows(self, i: np.ndarray) -> np.ndarray:
        """Centred differences for every column of the rows ``i`` of W: ``(len(i), C)``."""
        Xb = self.X[:, i][self.order].astype(self.dtype)
        Xb *= self.h
        data = self.kernel.apply(self, Xb) / (2 * self.h * self.X.shape[0])
        if self.reg:
            # The centred difference of a quadratic is exact: ((w + h)² - (w - h)²) / 2h = 2w;
            # written out, it would lose digits to cancellation at small h.
            data += (2 * self.reg) * self.W[i].astype(self.dtype)
        return data

    def partials(self, name: str, flat: np.ndarray) -> np.ndarray:
        n_cols = self.W.shape[1]
        i_all, j_all = np.divmod(np.asarray(flat), n_cols)
        need = np.unique(i_all)
        step = self.rows_per_block
        blocks = [need[k:k + step] for k in range(0, len(need), step)]
        if self.jobs > 1 and len(blocks) > 1:  # a pool kept for the process: no start-up
            parts = list(linalg.pool(self.jobs).map(self.rows, blocks))
        else:
            parts = [self.rows(b) for b in blocks]
        table = np.concatenate(parts) if parts else np.empty((0, n_cols))
        return table[np.searchsorted(need, i_all), j_all].astype(np.float64)


def _scores(X: np.ndarray, W: np.ndarray, order: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``S = X[order] @ W`` in ``dtype``, converting X a chunk of rows at a time."""
    W = W.astype(dtype)
    S = np.empty((X.shape[0], W.shape[1]), dtype=dtype)
    for start in range(0, X.shape[0], _ROW_CHUNK):
        rows = order[start:start + _ROW_CHUNK]
        np.matmul(X[rows].astype(dtype), W, out=S[start:start + len(rows)])
    return S


def human_seconds(s: float) -> str:
    """``42 s``, ``3.5 min``, ``2.1 h``: for cost estimates in messages."""
    if not math.isfinite(s):
        return "forever"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"
