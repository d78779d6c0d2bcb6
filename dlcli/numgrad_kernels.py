"""The kernels of the fast numerical gradient of a linear model
(:class:`dlcli.numgrad.LinearProbe`): how one data loss changes when one score column moves by
``±h x``, exactly, for a block of rows of W at a time.

``prepare(probe)`` derives what a kernel needs from the scores once per point;
``apply(probe, Xb)`` gets ``Xb = h * X[:, rows]`` (samples sorted by class) and returns
``(B, C)``: for row i of the block and column j, the sum over samples of
``L_n(W + h e_ij) - L_n(W - h e_ij)``.

Shapes: scores ``S (N, C)``, ``Xb (N, B)``; ``probe`` has ``S``, ``y`` (sorted), ``bounds`` (the
rows of each class) and ``aux`` (what ``prepare`` returned).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from dlcli.models.losses import mse_loss, softmax_loss, svm_loss


class _Softmax:
    @staticmethod
    def prepare(pr: Any) -> np.ndarray:
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
    def apply(pr: Any, Xb: np.ndarray) -> np.ndarray:
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
    def prepare(pr: Any) -> np.ndarray:
        """The margins ``M (N, C)``, ``-inf`` at the true class (it has no margin)."""
        rows = np.arange(pr.S.shape[0])
        M = pr.S - pr.S[rows, pr.y][:, None] + 1
        M[rows, pr.y] = -np.inf
        return M

    @staticmethod
    def apply(pr: Any, Xb: np.ndarray) -> np.ndarray:
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
    def prepare(pr: Any) -> np.ndarray:
        """The residuals ``r = s - y``, ``(N, 1)``."""
        return pr.S - pr.y[:, None].astype(pr.S.dtype)

    @staticmethod
    def apply(pr: Any, Xb: np.ndarray) -> np.ndarray:
        """Squared error: ``(r + d)² - (r - d)² = 4 r d`` for the one score column."""
        return 4 * (pr.aux[:, 0] @ Xb)[:, None]


KERNELS: dict[Callable[..., object], Any] = {
    softmax_loss: _Softmax(),
    svm_loss: _Hinge(),
    mse_loss: _Squares(),
}


