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
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np

from dlcli.models import Model
from dlcli.models.linear import LinearModel
from dlcli.models.losses import mse_loss, softmax_loss, svm_loss
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
        kernel = _KERNELS.get(model.data_loss)
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


class _Softmax:
    @staticmethod
    def prepare(pr: LinearProbe) -> np.ndarray:
        """``(4, N, C)``: the class probabilities ``P``, ``Q = 1 - P`` and their logs, each
        to full precision (``Q`` sums the other classes rather than subtracting ``P`` from 1)."""
        S = pr.S - pr.S.max(axis=1, keepdims=True)
        log_p = S - np.log(np.exp(S).sum(axis=1, keepdims=True))
        log_q = np.full_like(S, -np.inf)  # stays so with one class: nothing else to move to
        for j in range(S.shape[1]) if S.shape[1] > 1 else ():
            others = np.delete(log_p, j, axis=1)
            top = others.max(axis=1, keepdims=True)  # logsumexp with its own max: no underflow
            log_q[:, j] = top[:, 0] + np.log(np.exp(others - top).sum(axis=1))
        return np.stack([np.exp(log_p), np.exp(log_q), log_p, log_q])

    @staticmethod
    def apply(pr: LinearProbe, Xb: np.ndarray) -> np.ndarray:
        return _softmax_kernel(pr.aux, pr.bounds, Xb)


def _softmax_kernel(aux: np.ndarray, bounds: np.ndarray, Xb: np.ndarray) -> np.ndarray:
    """Softmax: only one term of row n's normalizer moves, ``Z' = Z + e^{s_j} (e^{±d} - 1)``
    with ``d = h x_ni``; with ``p = softmax(s_n)_j`` and ``q = 1 - p`` the centred difference
    of ``log Z_n`` is ``g(d) - g(-d)``, ``g(x) = log(q + p e^x)``. The true-class score
    ``-s_{n,y_n}`` adds ``-2d`` when ``y_n = j``. ``aux`` is ``(P, Q, log P, log Q)``, each
    ``(N, C)``; returns ``(B, C)``. Exact for every ``h``: see the two forms below."""
    near = Xb.size == 0 or float(np.abs(Xb).max()) <= _NEAR
    out = np.empty((Xb.shape[1], aux.shape[2]), dtype=Xb.dtype)
    diff = _near_diff if near else _far_diff
    for j, col in enumerate(diff(aux, Xb)):
        lo, hi = bounds[j], bounds[j + 1]
        out[:, j] = col.sum(axis=0) - 2 * Xb[lo:hi].sum(axis=0)
    return out


# Up to this |d| one log1p does: 1 + q e >= 1 - 0.63 keeps every digit of q; beyond, the
# ratio form would round q away (d -> -inf) and overflow (d -> +inf).
_NEAR = 1.0


def _near_diff(aux: np.ndarray, Xb: np.ndarray) -> Iterator[np.ndarray]:
    """``g(d) - g(-d) = log1p(p e (2 + e) / (1 + q e))`` with ``e = expm1(d)``, for
    ``|d| <= 1``: no cancellation, one log per entry. Yields ``(N, B)`` per class."""
    P, Q = aux[0], aux[1]
    e = np.expm1(Xb)
    q = e * (2 + e)
    num, den = np.empty_like(e), np.empty_like(e)
    for j in range(P.shape[1]):
        np.multiply(q, P[:, j, None], out=num)
        np.multiply(e, Q[:, j, None], out=den)
        den += 1
        num /= den
        yield np.log1p(num, out=num)


def _far_diff(aux: np.ndarray, Xb: np.ndarray) -> Iterator[np.ndarray]:
    """``g(d) - g(-d)`` with ``g(x) = log1p(p expm1(x))``, for any ``d``: ``g(d)`` and
    ``g(-d)`` have opposite signs, so their difference is a sum of magnitudes with no
    cancellation. Where ``1 + p expm1(x)`` would round q away, ``log(q + p e^x)``
    (:func:`_log_lost`); beyond ``|d| = 700`` (float64) ``logaddexp`` in log space.
    Yields ``(N, B)`` per class."""
    P, Q, log_p, log_q = aux
    top = math.log(np.finfo(Xb.dtype).max) - 8  # e^top stays finite: 700 in float64
    D = np.clip(Xb, -top, top)
    up, down = np.expm1(D), np.expm1(-D)
    huge = np.nonzero(np.abs(Xb) > top)
    plus, minus = np.empty_like(Xb), np.empty_like(Xb)
    for j in range(P.shape[1]):
        p, q = P[:, j], Q[:, j]
        _log_lost(np.multiply(up, p[:, None], out=plus), p, q, D)
        _log_lost(np.multiply(down, p[:, None], out=minus), p, q, -D)
        plus -= minus
        if len(huge[0]):
            lp, lq, d = log_p[huge[0], j], log_q[huge[0], j], Xb[huge]
            plus[huge] = np.logaddexp(lq, lp + d) - np.logaddexp(lq, lp - d)
        yield plus


def _log_lost(v: np.ndarray, p: np.ndarray, q: np.ndarray, D: np.ndarray) -> None:
    """``log1p(v)`` in place, for ``v = p expm1(D)`` ``(N, B)``, ``p, q (N,)``.

    ``1 + v`` is ``q + p e^D`` with q's digits rounded away once it falls below 1/2 (only
    where ``p > 1/2``): those entries take ``log(q + p e^D)`` as written.
    """
    sure = np.flatnonzero(p > 0.5)
    rows, cols = np.nonzero(v[sure] < -0.5)
    rows = sure[rows]
    v[rows, cols] = 0.0  # set below; keeps log1p away from -1
    np.log1p(v, out=v)
    v[rows, cols] = np.log(q[rows] + p[rows] * np.exp(D[rows, cols]))


class _Hinge:
    @staticmethod
    def prepare(pr: LinearProbe) -> np.ndarray:
        """The margins ``M (N, C)``, ``-inf`` at the true class (it has no margin)."""
        rows = np.arange(pr.S.shape[0])
        M = pr.S - pr.S[rows, pr.y][:, None] + 1
        M[rows, pr.y] = -np.inf
        return M

    @staticmethod
    def apply(pr: LinearProbe, Xb: np.ndarray) -> np.ndarray:
        return _svm_kernel(pr.aux, pr.bounds, Xb)


def _svm_kernel(M: np.ndarray, bounds: np.ndarray, Xb: np.ndarray) -> np.ndarray:
    """Multiclass hinge: with margins ``m_nk = s_nk - s_{n,y_n} + 1``, moving column j by
    ``d = ±h x_ni`` changes ``max(0, m_nj + d)`` for the rows with ``y_n != j`` and every
    ``max(0, m_nk - d)``, k != j, for the rows with ``y_n = j``."""
    A = np.abs(Xb)
    A2 = 2 * A
    buf = np.empty_like(Xb)
    out = np.empty((Xb.shape[1], M.shape[1]), dtype=Xb.dtype)
    for j in range(M.shape[1]):
        out[:, j] = _hinge_diff(M[:, j, None], Xb, A, A2, buf)
        lo, hi = bounds[j], bounds[j + 1]
        for k in range(M.shape[1]):
            if k != j and hi > lo:
                out[:, j] -= _hinge_diff(M[lo:hi, k, None], Xb[lo:hi], A[lo:hi], A2[lo:hi],
                                         buf[: hi - lo])
    return out


def _hinge_diff(m: np.ndarray, D: np.ndarray, A: np.ndarray, A2: np.ndarray,
                buf: np.ndarray) -> np.ndarray:
    """``sum_n max(0, m_n + D_n) - max(0, m_n - D_n)`` per column of ``D``.

    Written as ``sign(D) * clip(m + |D|, 0, 2|D|)`` (the same number): away from the kink
    (``|m| >= |D|``) it is exactly ``2D`` or ``0``, with no rounding from ``m``.
    """
    np.add(m, A, out=buf)
    np.maximum(buf, 0, out=buf)
    np.minimum(buf, A2, out=buf)
    np.copysign(buf, D, out=buf)
    return buf.sum(axis=0)


class _Squares:
    @staticmethod
    def prepare(pr: LinearProbe) -> np.ndarray:
        """The residuals ``r = s - y``, ``(N, 1)``."""
        return pr.S - pr.y[:, None].astype(pr.S.dtype)

    @staticmethod
    def apply(pr: LinearProbe, Xb: np.ndarray) -> np.ndarray:
        """Squared error: ``(r + d)² - (r - d)² = 4 r d`` for the one score column."""
        return 4 * (pr.aux[:, 0] @ Xb)[:, None]


_KERNELS: dict[Callable[..., object], Kernel] = {
    softmax_loss: _Softmax(),
    svm_loss: _Hinge(),
    mse_loss: _Squares(),
}


def human_seconds(s: float) -> str:
    """``42 s``, ``3.5 min``, ``2.1 h``: for cost estimates in messages."""
    if not math.isfinite(s):
        return "forever"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"
