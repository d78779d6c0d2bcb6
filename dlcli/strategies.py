"""The ways to find good weights, written as the lecture writes them; a name registry.

A strategy is a generator: given a model, the data, its config, the initial params and a
random generator, it yields one :class:`Step` per iteration, forever. Only ``train()`` decides
when to stop and when to evaluate. ``Step.params`` are the weights the strategy would hand
back now (the best seen for the random strategies, the current ones for gradient methods).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from dlcli import optim
from dlcli.config import StrategyConfig
from dlcli.data import Dataset
from dlcli.gradcheck import numerical_gradient
from dlcli.models import Model, Params


@dataclass
class Step:
    iteration: int  # 1-based
    # The loss this iteration measured before its update (a minibatch's for sgd/momentum); for
    # the random strategies, the loss of the weights kept after this iteration.
    loss: float
    params: Params  # the weights kept so far
    evals: int  # loss evaluations this iteration cost (a gradient counts as one)
    accepted: bool | None = None  # random strategies: did this try become the kept one?


Strategy = Callable[[Model, Dataset, StrategyConfig, Params, np.random.Generator], Iterator[Step]]


def _eval_set(data: Dataset, cfg: StrategyConfig, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
    """The training rows a loss-only strategy scores on: all, or one fixed random subset.

    A fixed subset (drawn once) keeps the comparison between candidates fair.
    """
    if cfg.eval_batch is None or cfg.eval_batch >= data.X_train.shape[0]:
        return data.X_train, data.y_train
    idx = rng.choice(data.X_train.shape[0], size=cfg.eval_batch, replace=False)
    return data.X_train[idx], data.y_train[idx]


def random_search(model: Model, data: Dataset, cfg: StrategyConfig, params: Params,
                  rng: np.random.Generator) -> Iterator[Step]:
    """Each iteration draws a fresh ``W = init_scale * randn``; keep the lowest loss seen."""
    X, y = _eval_set(data, cfg, rng)
    best, best_loss = params, model.loss(params, X, y)
    it = 0
    while True:
        it += 1
        trial = model.init_params(data.n_features, data.n_outputs, rng)
        loss = model.loss(trial, X, y)
        accepted = loss < best_loss
        if accepted:
            best, best_loss = trial, loss
        yield Step(it, best_loss, best, 1, accepted)


def random_local_search(model: Model, data: Dataset, cfg: StrategyConfig, params: Params,
                        rng: np.random.Generator) -> Iterator[Step]:
    """``W_try = W + step_size * randn``, accepted only if the loss goes down."""
    X, y = _eval_set(data, cfg, rng)
    current, current_loss = params, model.loss(params, X, y)
    it = 0
    while True:
        it += 1
        trial = {k: w + cfg.step_size * rng.standard_normal(w.shape, dtype=w.dtype)
                 for k, w in current.items()}
        loss = model.loss(trial, X, y)
        accepted = loss < current_loss
        if accepted:
            current, current_loss = trial, loss
        yield Step(it, current_loss, current, 1, accepted)


def numerical_gd(model: Model, data: Dataset, cfg: StrategyConfig, params: Params,
                 rng: np.random.Generator) -> Iterator[Step]:
    """Follow the slope: ``dW`` by centred differences with step ``h``, then ``W -= lr * dW``.

    Computed in float64 so that ``f(w + h) - f(w - h)`` keeps its digits.
    """
    X, y = _eval_set(data, cfg, rng)
    X64 = X.astype(np.float64)
    w64 = {k: v.astype(np.float64) for k, v in params.items()}
    n_coords = sum(v.size for v in w64.values())
    it = 0
    while True:
        it += 1
        loss = model.loss(w64, X64, y)
        grads = numerical_gradient(lambda: model.loss(w64, X64, y), w64, cfg.h)
        for k, w in w64.items():
            w -= cfg.lr * grads[k]
        kept = {k: v.astype(np.float32) for k, v in w64.items()}
        yield Step(it, loss, kept, 1 + 2 * n_coords)


def _gradient_descent(model: Model, data: Dataset, cfg: StrategyConfig, params: Params,
                      rng: np.random.Generator, rule: optim.UpdateRule, batch: int | None
                      ) -> Iterator[Step]:
    """Shared loop of the analytic-gradient methods: (mini)batch, gradient, update rule."""
    params = {k: v.copy() for k, v in params.items()}
    state: dict[str, optim.State] = {k: {} for k in params}
    n = data.X_train.shape[0]
    full = batch is None or batch >= n
    it = 0
    while True:
        it += 1
        if full:
            X, y = data.X_train, data.y_train
        else:
            idx = rng.integers(0, n, size=batch)
            X, y = data.X_train[idx], data.y_train[idx]
        loss, grads = model.loss_and_grad(params, X, y)
        for k, w in params.items():
            state[k] = rule(w, grads[k], state[k], lr=cfg.lr, rho=cfg.rho)
        yield Step(it, loss, params, 1)


def gd(model: Model, data: Dataset, cfg: StrategyConfig, params: Params,
       rng: np.random.Generator) -> Iterator[Step]:
    """Vanilla full-batch gradient descent: ``W -= lr * dW`` on the whole training split."""
    return _gradient_descent(model, data, cfg, params, rng, optim.sgd, None)


def sgd(model: Model, data: Dataset, cfg: StrategyConfig, params: Params,
        rng: np.random.Generator) -> Iterator[Step]:
    """Minibatch SGD: ``batch_size`` random training rows per step, ``W -= lr * dW``."""
    return _gradient_descent(model, data, cfg, params, rng, optim.sgd, cfg.batch_size)


def momentum(model: Model, data: Dataset, cfg: StrategyConfig, params: Params,
             rng: np.random.Generator) -> Iterator[Step]:
    """Minibatch SGD with momentum: ``v = rho * v + dW; W -= lr * v``."""
    return _gradient_descent(model, data, cfg, params, rng, optim.momentum, cfg.batch_size)


STRATEGIES: dict[str, Strategy] = {
    "random-search": random_search,
    "random-local-search": random_local_search,
    "numerical-gd": numerical_gd,
    "gd": gd,
    "sgd": sgd,
    "momentum": momentum,
}
