"""Linear models ``scores = X @ W`` (the bias lives in W's last row: the bias trick).

Shapes: ``X (N, D)``, ``W (D, C)``, scores ``(N, C)``, ``dW`` shaped like ``W``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlcli.models.losses import LOSS_SUMS, l2_penalty, mse_loss, softmax_loss, svm_loss
from dlcli.runtime import linalg
from dlcli.runtime.linalg import matmul

Params = dict[str, np.ndarray]
CHUNK_VALUES = 4 << 20  # scores computed per chunk of rows when scoring many candidates
LossFn = Callable[..., tuple[float, "np.ndarray | None"]]


@dataclass(frozen=True)
class LinearModel:
    """``loss = data_loss(X @ W, y) + reg * sum(W * W)``; ``init``: ``W = init_scale * randn``.

    A classifier predicts the highest-scoring class; a regressor (one output) the score itself.
    """

    data_loss: LossFn
    reg: float
    init_scale: float
    regression: bool = False
    gathers_rows = True  # loss_and_grad(..., rows=) gathers a minibatch itself, on every thread

    def init_params(self, n_features: int, n_outputs: int, rng: np.random.Generator) -> Params:
        w = rng.standard_normal((n_features, n_outputs), dtype=np.float32)
        w *= self.init_scale
        return {"W": w}

    def loss_and_grad(self, params: Params, X: np.ndarray, y: np.ndarray,
                      out: Params | None = None, rows: np.ndarray | None = None
                      ) -> tuple[float, Params]:
        """The loss and ``dW = X.T @ dscores + 2 reg W`` on ``X`` (or on its ``rows``: the
        minibatch, gathered here); ``out["W"]`` receives dW in place when it fits (the
        caller's array), else a new one is made.

        The batch is cut into parts (:func:`dlcli.runtime.linalg.row_parts`: fixed by its size
        and the machine, never by the threads in use), each part's ``X_p.T @ dscores_p``
        computed on its own thread, gathering its rows too, and the parts added in order: a
        step of a linear model is ~1 ms, so one hand-off per step, not one per product."""
        W = params["W"]
        n = X.shape[0] if rows is None else len(rows)
        parts = linalg.row_parts(n)

        def part(lo: int, hi: int) -> tuple[float, np.ndarray]:
            Xp, yp = (X[lo:hi], y[lo:hi]) if rows is None else (X[rows[lo:hi]], y[rows[lo:hi]])
            loss, dscores = self.data_loss(np.matmul(Xp, W), yp, count=n)
            assert dscores is not None
            return loss, np.matmul(dscores.T, Xp).T  # (C, N) @ (N, D): the faster form here

        results = linalg.each(part, parts)
        grads: Params = out if out is not None else {}
        dW = grads.get("W")
        first = results[0][1]
        if dW is None or dW.shape != W.shape or dW.dtype != first.dtype:
            dW = grads["W"] = np.empty(W.shape, dtype=first.dtype)
        np.copyto(dW, first)
        data_loss = results[0][0]
        for loss, partial in results[1:]:  # in order: the same sums for any thread count
            data_loss += loss
            dW += partial
        if self.reg:
            dW += (2 * self.reg) * W
        return data_loss + l2_penalty(params, self.reg, ("W",)), grads

    def loss(self, params: Params, X: np.ndarray, y: np.ndarray) -> float:
        data_loss, _ = self.data_loss(matmul(X, params["W"]), y, grad=False)
        return data_loss + l2_penalty(params, self.reg, ("W",))

    def candidate_losses(self, candidates: list[Params], X: np.ndarray, y: np.ndarray
                         ) -> np.ndarray:
        """The loss of each of k candidate ``W (D, C)`` on ``X (N, D)``, ``(k,)`` float64: one
        product ``X @ [W_1 ... W_k]`` per chunk of rows, so X is read once for all k (the same
        numbers as :meth:`loss` up to float32 rounding)."""
        Wcat = np.concatenate([c["W"] for c in candidates], axis=1)  # (D, k C)
        k, C = len(candidates), candidates[0]["W"].shape[1]
        sums = LOSS_SUMS[self.data_loss]
        total = np.zeros(k, dtype=np.float64)
        rows = max(1, CHUNK_VALUES // Wcat.shape[1])  # (rows, k C) scores: ~16 MB of float32
        buf = np.empty((min(rows, X.shape[0]), Wcat.shape[1]), dtype=np.result_type(X, Wcat))
        for start in range(0, X.shape[0], rows):
            part = X[start:start + rows]
            S = matmul(part, Wcat, out=buf[:len(part)])
            total += sums(S.reshape(len(part), k, C), y[start:start + rows])
        penalty = [l2_penalty(c, self.reg, ("W",)) for c in candidates]
        return total / max(1, X.shape[0]) + np.asarray(penalty)

    def loss_and_predict(self, params: Params, X: np.ndarray, y: np.ndarray
                         ) -> tuple[float, np.ndarray]:
        """:meth:`loss` and :meth:`predict` from the same scores (one product)."""
        scores = matmul(X, params["W"])
        data_loss, _ = self.data_loss(scores, y, grad=False)
        predicted = scores[:, 0] if self.regression else np.argmax(scores, axis=1)
        return data_loss + l2_penalty(params, self.reg, ("W",)), predicted

    def predict(self, params: Params, X: np.ndarray) -> np.ndarray:
        """``(N,)``: class labels (the highest score), or the predicted target."""
        scores = matmul(X, params["W"])
        return scores[:, 0] if self.regression else np.argmax(scores, axis=1)


def svm(reg: float, init_scale: float) -> LinearModel:
    return LinearModel(svm_loss, reg, init_scale)


def softmax(reg: float, init_scale: float) -> LinearModel:
    return LinearModel(softmax_loss, reg, init_scale)


def linear_regression(reg: float, init_scale: float) -> LinearModel:
    """``y_hat = X @ W`` with W ``(D, 1)``, mean squared error."""
    return LinearModel(mse_loss, reg, init_scale, regression=True)
