"""The ways to find good weights, written as the lecture writes them; a name registry.

A strategy is a generator: given a model, the data, its config, the initial params and a
random generator, it yields one :class:`Step` per iteration, forever. Only ``train()`` decides
when to stop and when to evaluate. ``Step.params`` are the weights the strategy would hand
back now (the best seen for the random strategies, the current ones for gradient methods).

Its state is data: the variables the lecture names (``bestW`` and ``bestloss`` of random
search, ``W`` of random local search, the weights and the update rule's ``v``/``grad_squared``/
``m``) live in a small dataclass that every Step carries (``Step.state``). The loop saves it in
a checkpoint; passing it back as ``state=`` continues the run exactly where it stopped, to the
same bits (with the random generator restored to the state saved with it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcli import optim
from dlcli.config import StrategyConfig
from dlcli.data import Dataset
from dlcli.errors import ConfigError
from dlcli.models import Model, Params
from dlcli.numgrad import estimate_seconds, human_seconds, numerical_gradient_fast


@dataclass
class Step:
    iteration: int  # 1-based
    # The loss this iteration measured before its update (a minibatch's for sgd/momentum); for
    # the random strategies, the loss of the weights kept after this iteration.
    loss: float
    params: Params  # the weights kept so far
    evals: int  # loss evaluations this iteration cost (a gradient counts as one)
    state: Any = None  # the strategy's state after this iteration: enough to continue from


@dataclass
class RandomSearchState:
    """Random search: the best weights drawn so far and their loss."""

    iteration: int
    bestW: Params
    bestloss: float
    rows: np.ndarray | None  # the fixed training rows scored (None: all of them)
    # Where to continue drawing from: the start of the pass in progress (None: the random
    # generator's own state, at a pass boundary). Saved in checkpoints in place of it.
    rng_state: dict[str, Any] | None = None


CANDIDATES_PER_PASS = 64  # linear models: candidates scored per pass over the training rows


@dataclass
class LocalSearchState:
    """Random local search: the weights we stand on and their loss."""

    iteration: int
    W: Params
    bestloss: float
    rows: np.ndarray | None


@dataclass
class DescentState:
    """The gradient methods: the weights ``x`` and, per tensor, the update rule's buffers
    (``v`` of momentum, ``grad_squared`` of AdaGrad/RMSProp, ``m``, ``v``, ``t`` of Adam).
    The schedule's step is ``iteration`` itself."""

    iteration: int
    x: Params
    rule: dict[str, optim.State] = field(default_factory=dict)
    rows: np.ndarray | None = None  # numerical-gd: the fixed rows it differentiates on


Strategy = Callable[..., Iterator[Step]]


def _eval_rows(data: Dataset, cfg: StrategyConfig, rng: np.random.Generator
               ) -> np.ndarray | None:
    """The training rows a loss-only strategy scores on: all (None), or one fixed random
    subset, drawn once, so that the comparison between candidates is fair."""
    if cfg.eval_batch is None or cfg.eval_batch >= data.X_train.shape[0]:
        return None
    return rng.choice(data.X_train.shape[0], size=cfg.eval_batch, replace=False)


def _rows(data: Dataset, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if rows is None:
        return data.X_train, data.y_train
    return data.X_train[rows], data.y_train[rows]


def random_search(model: Model, data: Dataset, cfg: StrategyConfig, params: Params,
                  rng: np.random.Generator, state: RandomSearchState | None = None
                  ) -> Iterator[Step]:
    """Each iteration draws a fresh ``W = init_scale * randn``; keep the lowest loss seen.

    The draws come one after the other from ``rng``, as the lecture's loop makes them; a
    linear model scores CANDIDATES_PER_PASS of them per pass over X (one wide product instead
    of one product per candidate, which reads the whole training matrix each time), so the
    same candidate wins as in the one-at-a-time loop. A model may say how to draw instead
    (``sample_params(rng)``): a landscape draws a point of its plotting box.
    """
    s = state
    score = _scorer(model)
    if s is None:
        rows = _eval_rows(data, cfg, rng)
        X, y = _rows(data, rows)
        s = RandomSearchState(0, params, float(score([params], X, y)[0]), rows)
    X, y = _rows(data, s.rows)
    sample = getattr(model, "sample_params", None)
    k = CANDIDATES_PER_PASS if getattr(model, "candidate_losses", None) else 1
    while True:
        # Passes are aligned to iteration numbers (k, 2k, ...), so a run resumed in the middle
        # of one draws and scores that very pass again (its rng_state is the pass's start).
        start = dict(rng.bit_generator.state)
        Ws = [sample(rng) if sample is not None
              else model.init_params(data.n_features, data.n_outputs, rng) for _ in range(k)]
        losses = score(Ws, X, y)
        for j in range(s.iteration % k, k):
            s.iteration += 1
            if losses[j] < s.bestloss:
                s.bestW, s.bestloss = Ws[j], float(losses[j])
            s.rng_state = start if j < k - 1 else None  # None: the generator's own state
            yield Step(s.iteration, s.bestloss, s.bestW, 1, s)


def _scorer(model: Model) -> Callable[[list[Params], np.ndarray, np.ndarray], np.ndarray]:
    """Losses of a list of candidates: at once where the model can (linear), else one by one."""
    many = getattr(model, "candidate_losses", None)
    if many is not None:
        return many
    return lambda Ws, X, y: np.array([model.loss(W, X, y) for W in Ws])


def random_local_search(model: Model, data: Dataset, cfg: StrategyConfig, params: Params,
                        rng: np.random.Generator, state: LocalSearchState | None = None
                        ) -> Iterator[Step]:
    """``Wtry = W + step_size * randn``, accepted only if the loss goes down."""
    s = state
    if s is None:
        rows = _eval_rows(data, cfg, rng)
        X, y = _rows(data, rows)
        s = LocalSearchState(0, params, model.loss(params, X, y), rows)
    X, y = _rows(data, s.rows)
    while True:
        s.iteration += 1
        Wtry = {k: w + cfg.step_size * rng.standard_normal(w.shape, dtype=w.dtype)
                for k, w in s.W.items()}
        loss = model.loss(Wtry, X, y)
        if loss < s.bestloss:
            s.W, s.bestloss = Wtry, loss
        yield Step(s.iteration, s.bestloss, s.W, 1, s)


GradFn = Callable[[Params, "np.ndarray | None"], tuple[float, Params]]
Batches = Callable[[], "np.ndarray | None"]


def _batches(data: Dataset, batch: int | None, rng: np.random.Generator) -> Batches:
    """The rows of each step: the whole training split (None), or ``batch`` random rows."""
    n = data.X_train.shape[0]
    if batch is None or batch >= n:
        return lambda: None
    return lambda: rng.integers(0, n, size=batch)


def _descend(data: Dataset, cfg: StrategyConfig, s: DescentState, rng: np.random.Generator,
             grad_fn: GradFn, batches: Batches, evals: int = 1) -> Iterator[Step]:
    """Shared loop of the gradient methods: rows, gradient, noise, clipping, learning rate of
    this step, update rule, weight decay. ``s.x`` is updated in place."""
    rule = cfg.update_rule
    schedule = optim.SCHEDULES[cfg.schedule]
    hyper = {"rho": cfg.rho, "beta1": cfg.beta1, "beta2": cfg.beta2, "eps": cfg.eps,
             "decay_rate": cfg.decay_rate}
    noise = float(data.info.get("gradient_noise", 0.0))  # landscapes: noisy gradients
    for k in s.x:
        s.rule.setdefault(k, {})
    while True:
        s.iteration += 1
        loss, grads = grad_fn(s.x, batches())
        if noise:
            for g in grads.values():
                g += noise * rng.standard_normal(g.shape, dtype=g.dtype)
        if cfg.clip_norm is not None:
            optim.clip_by_global_norm(grads, cfg.clip_norm)
        lr = schedule(s.iteration - 1, lr=cfg.lr, decay=cfg.lr_decay, every=cfg.lr_step_every,
                      total=cfg.iterations)
        for k, w in s.x.items():
            s.rule[k] = optim.apply(rule, w, grads[k], s.rule[k], lr=lr, **hyper)
        optim.decay_weights(s.x.values(), lr, cfg.weight_decay)
        yield Step(s.iteration, loss, s.x, evals, s)


def numerical_gd(model: Model, data: Dataset, cfg: StrategyConfig, params: Params,
                 rng: np.random.Generator, state: DescentState | None = None
                 ) -> Iterator[Step]:
    """Follow the slope: ``dW`` by centred differences with step ``h``, then the update rule
    (``W -= lr * dW`` by default).

    Uses the fast numerical gradient (:mod:`dlcli.numgrad`) on the fixed ``eval_batch`` rows,
    in float64 so that ``L(w + h) - L(w - h)`` keeps its digits.
    """
    s = state or DescentState(0, {k: v.astype(np.float64) for k, v in params.items()},
                              rows=_eval_rows(data, cfg, rng))
    X, y = _rows(data, s.rows)
    n_coords = sum(v.size for v in s.x.values())

    def grad_fn(p: Params, rows: np.ndarray | None) -> tuple[float, Params]:
        return model.loss(p, X, y), numerical_gradient_fast(model, p, X, y, cfg.h)

    for step in _descend(data, cfg, s, rng, grad_fn, lambda: None, 1 + 2 * n_coords):
        step.params = {k: v.astype(params[k].dtype) for k, v in s.x.items()}
        yield step


def gd(model: Model, data: Dataset, cfg: StrategyConfig, params: Params,
       rng: np.random.Generator, state: DescentState | None = None) -> Iterator[Step]:
    """Full-batch gradient descent on the whole training split: ``W -= lr * dW`` (or the rule
    ``strategy.update`` names)."""
    s = state or DescentState(0, _copy(params))
    return _descend(data, cfg, s, rng, _analytic(model, data), _batches(data, None, rng))


def sgd(model: Model, data: Dataset, cfg: StrategyConfig, params: Params,
        rng: np.random.Generator, state: DescentState | None = None) -> Iterator[Step]:
    """Minibatch SGD: ``batch_size`` random training rows per step, ``W -= lr * dW`` (or the
    rule ``strategy.update`` names)."""
    s = state or DescentState(0, _copy(params))
    return _descend(data, cfg, s, rng, _analytic(model, data),
                    _batches(data, cfg.batch_size, rng))


def momentum(model: Model, data: Dataset, cfg: StrategyConfig, params: Params,
             rng: np.random.Generator, state: DescentState | None = None) -> Iterator[Step]:
    """Minibatch SGD with momentum: ``v = rho * v + dW; W -= lr * v``."""
    s = state or DescentState(0, _copy(params))
    return _descend(data, cfg, s, rng, _analytic(model, data),
                    _batches(data, cfg.batch_size, rng))


def _analytic(model: Model, data: Dataset) -> GradFn:
    """The model's gradient on the step's rows, written into the same arrays at every step (no
    new allocation per step; the update rule reads them before the next step overwrites them).
    A model that gathers the rows itself (a linear one, on every thread) is given their
    indices; the others, the rows."""
    grads: Params = {}
    X, y = data.X_train, data.y_train
    if getattr(model, "gathers_rows", False):
        return lambda p, rows: model.loss_and_grad(p, X, y, out=grads,  # type: ignore[call-arg]
                                                   rows=rows)

    def gathered(p: Params, rows: np.ndarray | None) -> tuple[float, Params]:
        if rows is None:
            return model.loss_and_grad(p, X, y, out=grads)
        return model.loss_and_grad(p, X[rows], y[rows], out=grads)

    return gathered


def _copy(params: Params) -> Params:
    return {k: v.copy() for k, v in params.items()}


def check_budget(model: Model, data: Dataset, cfg: StrategyConfig, params: Params) -> None:
    """Refuse, before anything runs, a numerical-gd run estimated to take longer than
    ``strategy.max_seconds`` (its numerical gradients, all iterations together)."""
    if cfg.name != "numerical-gd":
        return
    rows = data.X_train.shape[0] if cfg.eval_batch is None else cfg.eval_batch
    X, y = data.X_train[:rows], data.y_train[:rows]
    w64 = {k: v.astype(np.float64) for k, v in params.items()}
    per_step = estimate_seconds(model, w64, X, y, cfg.h)
    total = per_step * cfg.iterations
    if total > cfg.max_seconds:
        raise ConfigError(
            f"strategy.max_seconds: numerical-gd would take about {human_seconds(total)} "
            f"({per_step:.3g} s per gradient x {cfg.iterations} iterations on "
            f"{rows:,} rows), over the limit of {cfg.max_seconds:g} s; use fewer rows "
            f"(strategy.eval_batch) or iterations, raise strategy.max_seconds, or compare "
            f"gradients with `dlcli gradcheck`")


STRATEGIES: dict[str, Strategy] = {
    "random-search": random_search,
    "random-local-search": random_local_search,
    "numerical-gd": numerical_gd,
    "gd": gd,
    "sgd": sgd,
    "momentum": momentum,
}
def held_params(state: Any) -> Params:
    """The weights a state holds: the best (random search), the current ones (the others)."""
    if isinstance(state, RandomSearchState):
        return state.bestW
    if isinstance(state, LocalSearchState):
        return state.W
    return state.x


# The class of each strategy's state, to rebuild it from a checkpoint (a file never names one).
STATES: dict[str, type] = {
    "random-search": RandomSearchState,
    "random-local-search": LocalSearchState,
    "numerical-gd": DescentState,
    "gd": DescentState,
    "sgd": DescentState,
    "momentum": DescentState,
}
