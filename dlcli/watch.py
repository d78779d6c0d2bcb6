"""What the training loop watches besides the strategy, as data: the first and lowest loss, the
best validation score and its weights, early stopping's patience, the loss evaluations and the
time so far (:class:`Watch`); what continues a run (:class:`Snapshot`: the strategy's state, the
random generator's and the watch); and when the loop saves it (:class:`Checkpoints`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dlcli.config import GRADIENT_STRATEGIES, Config
from dlcli.models import Params

AUTO_EVERY_S = 60.0  # automatic checkpoints: at least this often (seconds of wall time) ...
AUTO_OVERHEAD = 0.02  # ... and at evaluations, as long as writing them costs under 2%


@dataclass
class Watch:
    """What the loop watches besides the strategy, named as the lecture and Keras name it:
    the first loss (divergence), the lowest loss, the best validation score and its weights
    (``keep: best``), early stopping's patience, the loss evaluations and the time so far."""

    first_loss: float | None = None
    best_loss: float = math.inf
    best_score: float = -math.inf
    best_iteration: int | None = None
    best_params: Params | None = None  # keep: best only
    reference: float = -math.inf  # the score early stopping's patience counts from
    waited: int = 0  # evaluations since the last improvement of more than min_delta
    loss_evals: int = 0
    elapsed_s: float = 0.0  # wall time of the segments before this one

    def divergence(self, cfg: Config, iteration: int, loss: float) -> str | None:
        """A one-line hint if the loss is not finite or has blown up, else None."""
        if not math.isfinite(loss):
            return f"loss became {loss} at iteration {iteration}{hint(cfg)}"
        if self.first_loss is None:
            self.first_loss = loss
        factor = cfg.strategy.diverge_factor
        if factor is not None and self.first_loss > 0 and loss > factor * self.first_loss:
            return (f"loss {loss:.4g} at iteration {iteration} is over {factor:g} x the first "
                    f"loss ({self.first_loss:.4g}){hint(cfg)}")
        return None

    def evaluated(self, cfg: Config, iteration: int, score: float | None,
                  params: Params) -> bool:
        """Record a validation score; True when early stopping says stop."""
        if score is None or math.isnan(score):
            return False
        if score > self.best_score:
            self.best_score, self.best_iteration = score, iteration
            if cfg.keep == "best":
                self.best_params = {k: v.copy() for k, v in params.items()}
        stopping = cfg.early_stopping
        if stopping is None:
            return False
        if score > self.reference + stopping.min_delta:
            self.reference, self.waited = score, 0
        else:
            self.waited += 1
        return self.waited >= stopping.patience




@dataclass
class Snapshot:
    """Everything needed to continue a run: the strategy's state (its dataclass), the random
    generator's ``bit_generator.state`` and the loop's watch, after ``iteration``."""

    strategy: str
    iteration: int
    state: Any
    rng: dict[str, Any]
    watch: Watch


def hint(cfg: Config) -> str:
    s = cfg.strategy
    return f"; lower strategy.lr (now {s.lr:g})" if s.name in GRADIENT_STRATEGIES else ""


class Checkpoints:
    """When to emit a snapshot: every ``checkpoint_every`` iterations; automatically (None)
    at an evaluation once the time since the last is 1/AUTO_OVERHEAD times what writing the
    last one cost, and at least every AUTO_EVERY_S seconds; never (0)."""

    def __init__(self, every: int | None) -> None:
        self.every = every
        self.last_at = time.perf_counter()
        self.cost = 0.01  # seconds a checkpoint costs, until one is measured

    def due(self, iteration: int, evaluated: bool) -> bool:
        if self.every is not None:
            return self.every > 0 and iteration % self.every == 0
        since = time.perf_counter() - self.last_at
        return since >= AUTO_EVERY_S or (evaluated and since * AUTO_OVERHEAD >= self.cost)

    def emit(self, snapshot: Snapshot, callbacks: Sequence[Any]) -> None:
        if self.every == 0:
            return
        t0 = time.perf_counter()
        for cb in callbacks:
            cb.on_checkpoint(snapshot)
        self.last_at = time.perf_counter()
        self.cost = self.last_at - t0


