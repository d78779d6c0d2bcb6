"""What the training loop tells its listeners, and what they may tell it.

``on_start(RunStart)``, ``on_step(Record)`` at every iteration, ``on_checkpoint(Snapshot)``
when the state is saved, ``on_end(Outcome)`` once; a listener's ``on_step`` may raise
:class:`StopRun` to end the run with a status of its own (a search's pruner: ``pruned``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dlcli.config import Config
from dlcli.models import Params
from dlcli.watch import Snapshot, Watch

__all__ = ["Callback", "Outcome", "Record", "RunStart", "Snapshot", "StopRun", "Watch"]


@dataclass(frozen=True)
class Record:
    """One iteration as the listeners see it."""

    iteration: int
    loss: float
    best_loss: float
    elapsed_s: float
    val_metric: float | None = None  # set on evaluation iterations only; see RunStart
    point: tuple[float, ...] | None = None  # landscapes: the point w after this iteration
    loss_evals: int = 0  # loss evaluations so far: what each way of finding weights has cost
    train_metric: float | None = None  # evaluations: on eval_train_rows training rows


@dataclass(frozen=True)
class RunStart:
    config: Config
    total_iterations: int
    n_train: int
    n_features: int
    val_metric_name: str = "val_accuracy"  # or val_r2 for regression, neg_loss for landscapes
    train_metric_name: str | None = "train_accuracy"  # train_r2; None for landscapes
    resumed_at: int = 0  # the iteration a resumed run continues after (0: a fresh run)


@dataclass
class Outcome:
    """What the loop hands back: the status, the kept weights and their final metrics."""

    status: str
    iterations: int  # the last iteration done (of all segments)
    wall_time_s: float
    metrics: dict[str, float | None]
    params: Params
    error: str | None = None
    records: list[Record] = field(default_factory=list, repr=False)  # this segment's
    stopped_early: bool = False
    kept: str = "last"  # which weights params/metrics are: "best" (validation) or "last"
    kept_iteration: int | None = None
    snapshot: Snapshot | None = field(default=None, repr=False)  # the last one taken


class Callback:
    """A listener; override what you need. Methods must not raise for ordinary events."""

    def on_start(self, start: RunStart) -> None: ...
    def on_step(self, record: Record) -> None: ...
    def on_checkpoint(self, snapshot: Snapshot) -> None: ...
    def on_end(self, outcome: Outcome) -> None: ...


class StopRun(Exception):  # noqa: N818 - a request, not an error
    """Raised by a callback's ``on_step`` to end the run early with ``status`` (e.g. a pruner
    of a hyper-parameter search: ``pruned``); everything so far is kept."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


