"""Update rules as small pure functions: hyper-parameters apart from state.

Each rule takes one parameter tensor ``w``, its gradient ``dw`` (same shape), the rule's state
for that tensor (a dict, empty on the first step) and keyword hyper-parameters. It updates
``w`` in place and returns the new state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

State = dict[str, np.ndarray]
UpdateRule = Callable[..., State]


def sgd(w: np.ndarray, dw: np.ndarray, state: State, *, lr: float, **_: Any) -> State:
    """Vanilla update: ``x -= lr * dx``."""
    w -= lr * dw
    return state


def momentum(w: np.ndarray, dw: np.ndarray, state: State, *, lr: float, rho: float = 0.9,
             **_: Any) -> State:
    """SGD with momentum: ``v = rho * v + dx; x -= lr * v`` (v starts at zero)."""
    v = state.get("v")
    if v is None:
        v = np.zeros_like(w)
    v *= rho
    v += dw
    w -= lr * v
    return {"v": v}


UPDATES: dict[str, UpdateRule] = {"sgd": sgd, "momentum": momentum}
