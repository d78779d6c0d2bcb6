"""Vectorized losses with their analytic gradients with respect to the scores.

Shapes: scores ``S (N, C)``, labels ``y (N,)`` int; gradients ``dS (N, C)`` are already divided
by N, so ``dW = X.T @ dS``. No Python loop over samples or classes.

``count``: the rows of the whole batch when these scores are a part of it (a step computed
in parts on several threads): the loss and ``dS`` are then this part's share, divided by
``count``, and the parts add up to the batch's mean and gradient.
"""

from __future__ import annotations

import numpy as np


def softmax_loss(
    scores: np.ndarray, y: np.ndarray, *, grad: bool = True, count: int | None = None
) -> tuple[float, np.ndarray | None]:
    """Cross-entropy ``mean(-log softmax(S)[i, y_i])`` and ``dS = (softmax(S) - onehot(y)) / N``."""
    rows = np.arange(scores.shape[0])
    n = count or scores.shape[0]
    shifted = scores - scores.max(axis=1, keepdims=True)  # exp never overflows
    probs = np.exp(shifted)
    norm = probs.sum(axis=1)
    loss = float(np.sum(np.log(norm) - shifted[rows, y]) / n)
    if not grad:
        return loss, None
    probs /= norm[:, None]  # the exponentials once, for the loss and the probabilities
    probs[rows, y] -= 1
    probs /= n
    return loss, probs


def svm_loss(
    scores: np.ndarray, y: np.ndarray, *, grad: bool = True, count: int | None = None
) -> tuple[float, np.ndarray | None]:
    """Multiclass hinge ``mean(sum_{j != y_i} max(0, s_j - s_{y_i} + 1))`` and its ``dS``.

    Each positive margin adds +1 to its class and -1 to the true class (a subgradient at kinks).
    """
    n = count or scores.shape[0]
    rows = np.arange(scores.shape[0])
    margins = scores - scores[rows, y][:, None] + 1.0
    np.maximum(margins, 0, out=margins)
    margins[rows, y] = 0
    loss = float(margins.sum() / n)
    if not grad:
        return loss, None
    active = (margins > 0).astype(scores.dtype)
    active[rows, y] = -active.sum(axis=1)
    active /= n
    return loss, active


def l2_penalty(params: dict[str, np.ndarray], reg: float, names: tuple[str, ...]) -> float:
    """``reg * sum(W * W)`` over the named weight tensors (biases are not penalized)."""
    if reg == 0:
        return 0.0
    return float(reg * sum(float(np.vdot(params[k], params[k])) for k in names))


def mse_loss(
    scores: np.ndarray, y: np.ndarray, *, grad: bool = True, count: int | None = None
) -> tuple[float, np.ndarray | None]:
    """Mean squared error ``mean((s_i - y_i)^2)`` of one-output scores ``S (N, 1)``; ``y (N,)``.

    ``dS = 2 (S - y) / N``, shaped ``(N, 1)`` like the scores.
    """
    n = count or len(y)
    err = scores[:, 0] - y
    loss = float(np.sum(err * err) / n)
    if not grad:
        return loss, None
    return loss, (err * (2.0 / n))[:, None].astype(scores.dtype, copy=False)


# --------------------------------------------------------------------------- many candidates
# Random search scores k candidate weight matrices at once: scores ``S (R, k, C)`` for R rows.
# Each function returns, per candidate, the sum over the rows of the data loss ``(k,)`` float64
# (the caller divides by N once all row chunks are in). ``S`` is scratch: it may be changed.


def softmax_loss_sums(S: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``sum_n log(sum_j e^{s_nj}) - s_{n,y_n}`` per candidate."""
    rows = np.arange(S.shape[0])
    correct = S[rows, :, y].copy()  # (R, k)
    top = S.max(axis=2, keepdims=True)
    S -= top
    np.exp(S, out=S)
    lse = np.log(S.sum(axis=2)) + top[:, :, 0]
    return (lse - correct).sum(axis=0, dtype=np.float64)


def svm_loss_sums(S: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``sum_n sum_{j != y_n} max(0, s_nj - s_{n,y_n} + 1)`` per candidate."""
    rows = np.arange(S.shape[0])
    S -= S[rows, :, y][:, :, None]
    S += 1.0
    np.maximum(S, 0, out=S)
    S[rows, :, y] = 0
    return S.sum(axis=(0, 2), dtype=np.float64)


def mse_loss_sums(S: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``sum_n (s_n - y_n)^2`` per candidate (one output: ``S (R, k, 1)``)."""
    err = S[:, :, 0] - y[:, None]
    return np.einsum("nk,nk->k", err, err, dtype=np.float64)


LOSS_SUMS = {softmax_loss: softmax_loss_sums, svm_loss: svm_loss_sums, mse_loss: mse_loss_sums}
