"""Multi-layer perceptrons: a stack of Dense layers ``relu(dot(x, W) + b)`` and a linear head.

Shapes: ``X (N, D)``; layer k has ``Wk (fan_in, fan_out)`` and ``bk (fan_out,)``; hidden
activations ``(N, H_k)``; scores ``(N, C)`` (C = 1 for regression). Parameters are named
``W1, b1, ..., WL, bL``; gradients are shaped like them.

A training step reuses its arrays: the hidden activations and their gradients live in a
workspace kept per batch shape, and ``loss_and_grad(..., out=grads)`` writes the gradients into
the caller's arrays. The arithmetic is the straightforward one, operation for operation (the
tests compare the two bit for bit); only where results go changes. Every product goes through
:func:`dlcli.runtime.linalg.matmul` (all cores, the same bits for any number of threads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcli.models.linear import LossFn
from dlcli.models.losses import l2_penalty
from dlcli.runtime import linalg
from dlcli.runtime.linalg import matmul

Params = dict[str, np.ndarray]


@dataclass(frozen=True)
class MLP:
    """``loss = data_loss(scores, y) + reg * sum_k sum(Wk * Wk)`` (biases not penalized).

    Initialization: He, ``Wk = randn * sqrt(2 / fan_in)``, unless ``init_scale`` is given
    (then ``Wk = init_scale * randn``); biases start at zero.
    """

    hidden: tuple[int, ...]
    data_loss: LossFn
    reg: float
    init_scale: float | None = None
    regression: bool = False
    # (name, shape, dtype) -> a scratch array of a training step; never part of the results
    _work: dict[Any, np.ndarray] = field(default_factory=dict, init=False, repr=False,
                                         compare=False)

    @property
    def n_layers(self) -> int:
        return len(self.hidden) + 1

    def _weights(self) -> tuple[str, ...]:
        return tuple(f"W{k}" for k in range(1, self.n_layers + 1))

    def init_params(self, n_features: int, n_outputs: int, rng: np.random.Generator) -> Params:
        sizes = (n_features, *self.hidden, n_outputs)
        params: Params = {}
        for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), 1):
            scale = self.init_scale if self.init_scale is not None else np.sqrt(2.0 / fan_in)
            w = rng.standard_normal((fan_in, fan_out), dtype=np.float32)
            w *= np.float32(scale)
            params[f"W{k}"] = w
            params[f"b{k}"] = np.zeros(fan_out, dtype=np.float32)
        return params

    def _scratch(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        key = (name, shape, np.dtype(dtype))
        buf = self._work.get(key)
        if buf is None:
            if len(self._work) > 32:  # many batch shapes (the last, smaller batch...): renew
                self._work.clear()
            buf = self._work[key] = np.empty(shape, dtype=dtype)
        return buf

    def _forward(self, params: Params, X: np.ndarray, reuse: bool = False
                 ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Scores and the input of every layer (X, then each ReLU output), for backprop;
        ``reuse``: the hidden activations go into the workspace (a training step)."""
        inputs = [X]
        h = X
        for k in range(1, self.n_layers):
            W = params[f"W{k}"]
            out = (self._scratch(f"h{k}", (h.shape[0], W.shape[1]),
                                 np.result_type(h, W)) if reuse else None)
            h = matmul(h, W, out=out)
            h += params[f"b{k}"]
            np.maximum(h, 0, out=h)
            inputs.append(h)
        last = self.n_layers
        return matmul(h, params[f"W{last}"]) + params[f"b{last}"], inputs

    def loss_and_grad(self, params: Params, X: np.ndarray, y: np.ndarray,
                      out: Params | None = None) -> tuple[float, Params]:
        """The loss and its gradient; ``out`` (arrays shaped like ``params``) receives the
        gradient in place when given (the caller owns them), else new arrays are made."""
        scores, inputs = self._forward(params, X, reuse=True)
        data_loss, dout = self.data_loss(scores, y)
        assert dout is not None
        grads: Params = out if out is not None else {}
        for k in range(self.n_layers, 0, -1):
            h_in, W = inputs[k - 1], params[f"W{k}"]
            dW = _target(grads, f"W{k}", (h_in.shape[1], dout.shape[1]),
                         np.result_type(h_in, dout))
            matmul(h_in.T, dout, out=dW)
            if self.reg:
                self._add_penalty(dW, W)
            db = _target(grads, f"b{k}", (dout.shape[1],), dout.dtype)
            np.sum(dout, axis=0, out=db)
            if k > 1:
                dh = self._scratch(f"dh{k - 1}", (dout.shape[0], W.shape[0]),
                                   np.result_type(dout, W))
                dout = matmul(dout, W.T, out=dh)
                dout *= h_in > 0  # ReLU passes the gradient where its output was positive
        return data_loss + l2_penalty(params, self.reg, self._weights()), grads

    def _add_penalty(self, dW: np.ndarray, W: np.ndarray) -> None:
        """``dW += (2 * reg) * W``, the same operations, a big W cut into row ranges updated on
        several threads (elementwise: the same bits)."""
        penalty = self._scratch("reg", W.shape, np.result_type(W, np.float32))

        def rows(lo: int, hi: int) -> None:
            np.multiply(W[lo:hi], 2 * self.reg, out=penalty[lo:hi])
            dW[lo:hi] += penalty[lo:hi]

        linalg.each(rows, linalg.elementwise_parts(W))

    def loss(self, params: Params, X: np.ndarray, y: np.ndarray) -> float:
        data_loss, _ = self.data_loss(self._forward(params, X)[0], y, grad=False)
        return data_loss + l2_penalty(params, self.reg, self._weights())

    def loss_and_predict(self, params: Params, X: np.ndarray, y: np.ndarray
                         ) -> tuple[float, np.ndarray]:
        """:meth:`loss` and :meth:`predict` from the same forward pass."""
        scores = self._forward(params, X)[0]
        data_loss, _ = self.data_loss(scores, y, grad=False)
        predicted = scores[:, 0] if self.regression else np.argmax(scores, axis=1)
        return data_loss + l2_penalty(params, self.reg, self._weights()), predicted

    def predict(self, params: Params, X: np.ndarray) -> np.ndarray:
        scores = self._forward(params, X)[0]
        return scores[:, 0] if self.regression else np.argmax(scores, axis=1)


def _target(grads: Params, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """The caller's gradient array for ``name`` when it fits, else a new one (kept there)."""
    arr = grads.get(name)
    if arr is None or arr.shape != shape or arr.dtype != dtype:
        arr = grads[name] = np.empty(shape, dtype=dtype)
    return arr
