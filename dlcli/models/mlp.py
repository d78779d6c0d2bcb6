"""Multi-layer perceptrons: a stack of Dense layers ``relu(dot(x, W) + b)`` and a linear head.

Shapes: ``X (N, D)``; layer k has ``Wk (fan_in, fan_out)`` and ``bk (fan_out,)``; hidden
activations ``(N, H_k)``; scores ``(N, C)`` (C = 1 for regression). Parameters are named
``W1, b1, ..., WL, bL``; gradients are shaped like them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlcli.models.linear import LossFn
from dlcli.models.losses import l2_penalty

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

    def _forward(self, params: Params, X: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Scores and the input of every layer (X, then each ReLU output), for backprop."""
        inputs = [X]
        h = X
        for k in range(1, self.n_layers):
            h = h @ params[f"W{k}"]
            h += params[f"b{k}"]
            np.maximum(h, 0, out=h)
            inputs.append(h)
        last = self.n_layers
        return h @ params[f"W{last}"] + params[f"b{last}"], inputs

    def loss_and_grad(self, params: Params, X: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        scores, inputs = self._forward(params, X)
        data_loss, dout = self.data_loss(scores, y)
        assert dout is not None
        grads: Params = {}
        for k in range(self.n_layers, 0, -1):
            h_in = inputs[k - 1]
            dW = h_in.T @ dout
            if self.reg:
                dW += (2 * self.reg) * params[f"W{k}"]
            grads[f"W{k}"], grads[f"b{k}"] = dW, dout.sum(axis=0)
            if k > 1:
                dout = dout @ params[f"W{k}"].T
                dout *= h_in > 0  # ReLU passes the gradient where its output was positive
        return data_loss + l2_penalty(params, self.reg, self._weights()), grads

    def loss(self, params: Params, X: np.ndarray, y: np.ndarray) -> float:
        data_loss, _ = self.data_loss(self._forward(params, X)[0], y, grad=False)
        return data_loss + l2_penalty(params, self.reg, self._weights())

    def predict(self, params: Params, X: np.ndarray) -> np.ndarray:
        scores = self._forward(params, X)[0]
        return scores[:, 0] if self.regression else np.argmax(scores, axis=1)
