"""Update rules and learning-rate schedules as small pure functions.

An update rule takes one parameter tensor ``w``, its gradient ``dw`` (same shape), the rule's
state for that tensor (a dict, empty on the first step) and keyword hyper-parameters. It
updates ``w`` in place and returns the new state: ``rule(w, dw, state, *, lr, **hyper)``.
Hyper-parameters a rule does not use are ignored, so one call site serves every rule.

A schedule maps the 0-based step ``k`` (of ``total``) to the learning rate of that step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

State = dict[str, Any]
UpdateRule = Callable[..., State]
Schedule = Callable[..., float]


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


def momentum_lr_in_v(w: np.ndarray, dw: np.ndarray, state: State, *, lr: float,
                     rho: float = 0.9, **_: Any) -> State:
    """The lecture's other form: ``v = rho * v - lr * dx; x += v``.

    With a constant ``lr`` its ``v`` is ``-lr`` times the other form's, so both take the same
    steps; under a schedule they differ (here ``v`` remembers the old learning rates).
    """
    v = state.get("v")
    if v is None:
        v = np.zeros_like(w)
    v *= rho
    v -= lr * dw
    w += v
    return {"v": v}


def nesterov(w: np.ndarray, dw: np.ndarray, state: State, *, lr: float, rho: float = 0.9,
             **_: Any) -> State:
    """Nesterov momentum, in the form that needs the gradient at ``x`` only:
    ``old_v = v; v = rho * v - lr * dx; x += -rho * old_v + (1 + rho) * v``."""
    v = state.get("v")
    if v is None:
        v = np.zeros_like(w)
    old_v = v.copy()
    v *= rho
    v -= lr * dw
    w += -rho * old_v + (1 + rho) * v
    return {"v": v}


def adagrad(w: np.ndarray, dw: np.ndarray, state: State, *, lr: float, eps: float = 1e-7,
            **_: Any) -> State:
    """AdaGrad: ``grad_squared += dx * dx; x -= lr * dx / (sqrt(grad_squared) + eps)``."""
    g2 = state.get("grad_squared")
    if g2 is None:
        g2 = np.zeros_like(w)
    g2 += dw * dw
    w -= lr * dw / (np.sqrt(g2) + eps)
    return {"grad_squared": g2}


def rmsprop(w: np.ndarray, dw: np.ndarray, state: State, *, lr: float,
            decay_rate: float = 0.99, eps: float = 1e-7, **_: Any) -> State:
    """RMSProp: ``grad_squared = decay_rate * grad_squared + (1 - decay_rate) * dx * dx;
    x -= lr * dx / (sqrt(grad_squared) + eps)``."""
    g2 = state.get("grad_squared")
    if g2 is None:
        g2 = np.zeros_like(w)
    g2 *= decay_rate
    g2 += (1 - decay_rate) * dw * dw
    w -= lr * dw / (np.sqrt(g2) + eps)
    return {"grad_squared": g2}


def adam(w: np.ndarray, dw: np.ndarray, state: State, *, lr: float, beta1: float = 0.9,
         beta2: float = 0.999, eps: float = 1e-7, **_: Any) -> State:
    """Adam with bias correction (t counts steps from 1):
    ``m = beta1 * m + (1 - beta1) * dx; v = beta2 * v + (1 - beta2) * dx * dx;
    m_hat = m / (1 - beta1 ** t); v_hat = v / (1 - beta2 ** t);
    x -= lr * m_hat / (sqrt(v_hat) + eps)``."""
    m, v = state.get("m"), state.get("v")
    if m is None or v is None:
        m, v = np.zeros_like(w), np.zeros_like(w)
    t = int(state.get("t", 0)) + 1
    m *= beta1
    m += (1 - beta1) * dw
    v *= beta2
    v += (1 - beta2) * dw * dw
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    w -= lr * m_hat / (np.sqrt(v_hat) + eps)
    return {"m": m, "v": v, "t": t}


# The buffers each rule keeps per tensor, shaped like it (adam also keeps its step count t).
BUFFERS: dict[str, tuple[str, ...]] = {
    "sgd": (), "momentum": ("v",), "nesterov": ("v",), "adagrad": ("grad_squared",),
    "rmsprop": ("grad_squared",), "adam": ("m", "v"),
}


def apply(name: str, w: np.ndarray, dw: np.ndarray, state: State, **hyper: Any) -> State:
    """``UPDATES[name](w, dw, state, **hyper)``, a big tensor cut into row ranges updated on
    several threads (:func:`dlcli.runtime.linalg.elementwise_parts`). Every rule is
    elementwise, so the result is the same bits as in one piece; the buffers are made whole
    first and each range updates its rows of them."""
    from dlcli.runtime import linalg

    rule = UPDATES[name]
    parts = linalg.elementwise_parts(w)
    if len(parts) == 1:
        return rule(w, dw, state, **hyper)
    full = dict(state)
    for key in BUFFERS[name]:
        if full.get(key) is None:
            full[key] = np.zeros_like(w)

    def rows(lo: int, hi: int) -> State:
        part = {k: v[lo:hi] if isinstance(v, np.ndarray) else v for k, v in full.items()}
        return rule(w[lo:hi], dw[lo:hi], part, **hyper)

    first = linalg.each(rows, parts)[0]
    return {**full, **{k: v for k, v in first.items() if not isinstance(v, np.ndarray)}}


UPDATES: dict[str, UpdateRule] = {
    "sgd": sgd,
    "momentum": momentum,
    "nesterov": nesterov,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
}


# --------------------------------------------------------------------------- schedules


def constant(k: int, *, lr: float, **_: Any) -> float:
    """``lr_k = lr``."""
    return lr


def step_decay(k: int, *, lr: float, decay: float = 0.5, every: int = 100, **_: Any) -> float:
    """``lr_k = lr * decay ** floor(k / every)``: multiply by ``decay`` every ``every`` steps."""
    return lr * decay ** (k // every)


def exponential(k: int, *, lr: float, decay: float = 0.5, every: int = 100, **_: Any) -> float:
    """``lr_k = lr * decay ** (k / every)``, i.e. the lecture's ``lr * exp(-c k)`` with
    ``c = -ln(decay) / every``: the smooth version of step decay."""
    return lr * decay ** (k / every)


def cosine(k: int, *, lr: float, total: int, **_: Any) -> float:
    """``lr_k = lr / 2 * (1 + cos(pi * k / total))``: from ``lr`` at the first step to ~0."""
    return 0.5 * lr * (1 + math.cos(math.pi * k / total))


SCHEDULES: dict[str, Schedule] = {
    "constant": constant,
    "step": step_decay,
    "exponential": exponential,
    "cosine": cosine,
}


# --------------------------------------------------------------------------- around the rule


def clip_by_global_norm(grads: dict[str, np.ndarray], max_norm: float | None) -> float:
    """Scale every gradient in place by ``min(1, max_norm / ||g||)``, ``||g||`` the norm of all
    tensors together (so the direction is kept); returns ``||g||`` before clipping."""
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    if max_norm is not None and norm > max_norm:
        scale = max_norm / norm
        for g in grads.values():
            g *= scale
    return norm


def decay_weights(params: Iterable[np.ndarray], lr: float, weight_decay: float) -> None:
    """Decoupled weight decay: ``x -= lr * weight_decay * x`` after the update rule (AdamW's
    form; the L2 term of the loss, ``model.reg``, is the coupled one)."""
    if weight_decay:
        for w in params:
            w -= (lr * weight_decay) * w
