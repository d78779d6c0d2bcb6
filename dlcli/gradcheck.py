"""Numerical gradients by centred differences, and the relative error used to compare them.

``f`` is a loss of the parameters; gradients are shaped like their params.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

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
