"""The config schema: one section per part of a run (data, model, strategy), validated once, at
the edge. Every key has a type, a range and a default; cross-field checks name both keys.
``data:`` is a union tagged by ``data.source`` (:mod:`dlcli.config.data`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from dlcli.config.data import (
    FILE_SOURCES,
    IMAGE_SOURCES,
    TABLE_SOURCES,
    CifarSyntheticData,
    DataConfig,
    Float,
    Int,
    Section,
    with_source,
)

__all__ = ["FILE_SOURCES", "IMAGE_SOURCES", "TABLE_SOURCES", "Float", "Int"]

ModelName = Literal["svm", "softmax", "mlp", "linear-regression", "mlp-regression", "landscape"]
CLASSIFIERS = ("svm", "softmax", "mlp")
REGRESSORS = ("linear-regression", "mlp-regression")
StrategyName = Literal[
    "random-search", "random-local-search", "numerical-gd", "gd", "sgd", "momentum"
]
UpdateName = Literal["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
ScheduleName = Literal["constant", "step", "exponential", "cosine"]
# The strategies that take gradient steps, and so use an update rule and a schedule.
GRADIENT_STRATEGIES = ("numerical-gd", "gd", "sgd", "momentum")


_Section = Section


class ModelConfig(_Section):
    name: ModelName = "softmax"
    reg: Float = Field(2.5e-4, ge=0)
    # Linear models: W = init_scale * randn (default 1e-4). MLPs: null = He initialization,
    # W = randn * sqrt(2 / fan_in); a number scales every layer's randn instead.
    init_scale: Float | None = Field(None, gt=0)
    hidden: list[Int] = Field([512], min_length=1)  # mlp, mlp-regression: units per layer
    head: Literal["softmax", "svm"] = "softmax"  # mlp: the loss on the last layer's scores

    @model_validator(mode="after")
    def _model_defaults(self) -> ModelConfig:
        if any(h <= 0 for h in self.hidden):
            raise ValueError(f"model.hidden must list positive layer sizes, got {self.hidden}")
        if self.init_scale is None and not self.name.startswith("mlp"):
            object.__setattr__(self, "init_scale", 1e-4)
        return self


class StrategyConfig(_Section):
    name: StrategyName = "momentum"
    iterations: Int = Field(500, gt=0)
    lr: Float = Field(1e-6, gt=0)
    batch_size: Int = Field(256, gt=0)
    rho: Float = Field(0.9, ge=0, lt=1)
    step_size: Float = Field(1e-4, gt=0)
    h: Float = Field(1e-5, gt=0)
    eval_batch: Int | None = Field(None, gt=0)
    # The update rule of the gradient strategies; None: implied by name (momentum -> momentum,
    # otherwise sgd). name: gd takes full-batch steps with it, name: sgd minibatch steps.
    update: UpdateName | None = None
    beta1: Float = Field(0.9, ge=0, lt=1)  # adam
    beta2: Float = Field(0.999, ge=0, lt=1)  # adam
    decay_rate: Float = Field(0.99, ge=0, lt=1)  # rmsprop
    eps: Float = Field(1e-7, gt=0)  # adagrad, rmsprop, adam
    schedule: ScheduleName = "constant"
    lr_decay: Float = Field(0.5, gt=0, le=1)  # step, exponential: factor per lr_step_every
    lr_step_every: Int = Field(100, gt=0)
    weight_decay: Float = Field(0.0, ge=0)  # decoupled: W -= lr * weight_decay * W
    clip_norm: Float | None = Field(None, gt=0)  # clip the global gradient norm; None: off
    diverge_factor: Float | None = Field(1e3, gt=1)  # stop when loss > factor * first loss
    max_seconds: Float = Field(600.0, gt=0)  # numerical-gd: refuse runs estimated longer

    @model_validator(mode="after")
    def _update_fits_name(self) -> StrategyConfig:
        if self.update is None:
            return self
        if self.name not in GRADIENT_STRATEGIES:
            raise ValueError(f"strategy.update applies to {', '.join(GRADIENT_STRATEGIES)}; "
                             f"{self.name} takes no gradient steps")
        if self.name == "momentum" and self.update != "momentum":
            raise ValueError(f"strategy.update {self.update!r} contradicts strategy.name "
                             f"'momentum'; use name: sgd (minibatch) or gd (full batch)")
        return self

    @property
    def update_rule(self) -> str:
        """The update rule in force: ``update``, else the one ``name`` implies."""
        return self.update or ("momentum" if self.name == "momentum" else "sgd")


class EarlyStopping(_Section):
    """Stop when the validation metric has not improved by more than ``min_delta`` for
    ``patience`` evaluations in a row (evaluations happen every ``eval_every`` iterations)."""

    patience: Int = Field(5, gt=0)
    min_delta: Float = Field(0.0, ge=0)


class Config(_Section):
    name: str = Field("run", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    seed: Int = Field(0, ge=0)
    data: DataConfig = CifarSyntheticData()  # tagged by data.source: see dlcli.config.data
    model: ModelConfig = ModelConfig()
    strategy: StrategyConfig = StrategyConfig()
    eval_every: Int = Field(50, gt=0)
    # The training metric at each evaluation is measured on this many training rows, drawn once
    # from the seed (all rows when there are fewer): a learning curve, cheap on any data size.
    eval_train_rows: Int = Field(1000, gt=0)
    early_stopping: EarlyStopping | None = None
    keep: Literal["best", "last"] = "last"  # the weights saved and tested: best validation
    # checkpoint.npz every N iterations; null: automatic (at evaluations, at most ~2% of the
    # run's time, and at least every 60 s); 0: never. Also on Ctrl-C/SIGTERM and at the end.
    checkpoint_every: Int | None = Field(None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _landscape_model(cls, raw: Any) -> Any:
        """A landscape's function is its model: ``model.name`` defaults to ``landscape``; a
        data section without ``source`` is the built-in images."""
        if not isinstance(raw, Mapping):
            return raw
        if "data" in raw:
            raw = {**raw, "data": with_source(raw["data"])}
        data, model = raw.get("data"), raw.get("model")
        if isinstance(data, Mapping) and data.get("source") == "landscape":
            if model is None:
                return {**raw, "model": {"name": "landscape"}}
            if isinstance(model, Mapping) and "name" not in model:
                return {**raw, "model": {**model, "name": "landscape"}}
        return raw

    @model_validator(mode="after")
    def _fits_the_data(self) -> Config:
        if (self.data.source == "landscape") != (self.model.name == "landscape"):
            raise ValueError(f"model.name {self.model.name!r} does not fit data.source "
                             f"{self.data.source!r}: model.name: landscape goes with "
                             f"data.source: landscape only")
        n_train = getattr(self.data, "num_train", None)
        eval_batch = self.strategy.eval_batch
        if eval_batch is not None and isinstance(n_train, int) and eval_batch > n_train:
            raise ValueError(
                f"strategy.eval_batch ({eval_batch}) must be <= data.num_train ({n_train})"
            )
        self._choose_on_validation()
        table = self.data.source in TABLE_SOURCES
        if table and self.model.name not in REGRESSORS:
            raise ValueError(f"model.name {self.model.name!r} is a classifier; data.source "
                             f"{self.data.source} is a regression table: use one of "
                             f"{', '.join(REGRESSORS)}")
        if not table and self.model.name in REGRESSORS:
            raise ValueError(f"model.name {self.model.name!r} is a regressor; data.source "
                             f"{self.data.source} is classification: use one of "
                             f"{', '.join(CLASSIFIERS)}")
        return self

    def _choose_on_validation(self) -> None:
        """keep: best and early stopping read the validation metric: without validation rows
        they would silently keep the last weights while result.json says "best"."""
        if self.data.source == "landscape" or getattr(self.data, "num_val", None) != 0:
            return
        for key, asks in (("keep: best", self.keep == "best"),
                          ("early_stopping", self.early_stopping is not None)):
            if asks:
                raise ValueError(f"{key} chooses on the validation split, but data.num_val is "
                                 f"0; give data.num_val some rows, or drop {key}")
