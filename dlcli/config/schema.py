"""The config schema, YAML loading, ``--set`` overrides and friendly error text.

Everything a user writes is validated here, once, and turned into one line that names the
file, the dotted key, the bad value and what is expected:
``configs/a.yaml: strategy.lr: must be greater than 0, got -0.1``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    model_validator,
)

from dlcli import safe_yaml
from dlcli.config_data import (
    FILE_SOURCES,
    IMAGE_SOURCES,
    SECTIONS,
    TABLE_SOURCES,
    CifarSyntheticData,
    DataConfig,
    DataSource,
    Float,
    Int,
    LandscapeName,
    Section,
    not_a_bool,
    sources_with,
    with_source,
)
from dlcli.errors import ConfigError

__all__ = ["DataConfig", "DataSource", "Float", "Int", "IMAGE_SOURCES", "TABLE_SOURCES",
           "FILE_SOURCES", "LandscapeName", "not_a_bool"]

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
    data: DataConfig = CifarSyntheticData()  # tagged by data.source: see dlcli.config_data
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


# --------------------------------------------------------------------------- loading


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; every failure is a one-line ConfigError, and
    what the file can make us read, expand or recurse is bounded (:mod:`dlcli.safe_yaml`)."""
    p = Path(path)
    raw = safe_yaml.load(safe_yaml.read_text(p), str(p))
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping of keys, got a {type(raw).__name__}")
    return raw


def parse_set(item: str) -> tuple[list[str], Any]:
    """``"strategy.lr=1e-3"`` -> (["strategy", "lr"], 0.001); the value is parsed as YAML."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")) or not key.isprintable():
        raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE, e.g. strategy.lr=1e-3")
    if not text.strip():  # never a silent "back to the default"
        raise ConfigError(f"--set {item!r}: no value after '='; write the value (null for "
                          f"none, '' for an empty string)")
    return key.split("."), safe_yaml.load(text, f"--set {item!r}: the value")


def apply_sets(raw: Mapping[str, Any], sets: Iterable[str]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``KEY.PATH=VALUE`` override applied (creating sections)."""
    out = _deep_copy(raw)
    for item in sets:
        path, value = parse_set(item)
        set_path(out, path, value, f"--set {item!r}")
    return out


def set_path(raw: dict[str, Any], path: Sequence[str], value: Any, where: str) -> None:
    """``raw[a][b][c] = value`` for path ``[a, b, c]``, creating sections on the way; ``where``
    starts the error when a step of the path is a value, not a section."""
    node = raw
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{where}: {'.'.join(path[: i + 1])} is a value, not a section")
        node = child
    node[path[-1]] = value


def _deep_copy(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in raw.items()}


def validate(raw: Mapping[str, Any], source: str = "<config>") -> Config:
    """Validate a raw mapping; the first problem becomes a one-line ConfigError."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        line = f"{source}: {describe_error(errors[0], raw)}"
        if len(errors) > 1:
            line += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        raise ConfigError(line) from None


SWEEP_KEYS = ("base", "sweep", "variants", "seeds", "search")  # what only a sweep file holds


def load_config(path: str | Path, sets: Sequence[str] = ()) -> Config:
    """Load a YAML config file, apply ``--set`` overrides and validate."""
    raw = read_yaml_mapping(path)
    sweepish = [k for k in SWEEP_KEYS if k in raw]
    if sweepish:
        raise ConfigError(f"{path}: this is a sweep file (it has {sweepish[0]}:), not a config; "
                          f"run it with: dlcli compare {path}")
    raw = apply_sets(raw, sets)
    source = str(path) + (" (with --set)" if sets else "")
    return validate(raw, source)


def to_yaml(cfg: Config) -> str:
    """The fully resolved config (defaults included), as YAML in schema order."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


# --------------------------------------------------------------------------- error text


def describe_error(err: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    """One pydantic error as ``key.path: what is wrong, got VALUE (did you mean X?)``."""
    loc = [_printable(str(p)) for p in err.get("loc", ()) if not isinstance(p, int)]
    tag = loc[1] if loc[:1] == ["data"] and len(loc) > 1 and loc[1] in SECTIONS else None
    if tag is not None:  # the union's tag (data.source) is not a key: data.cifar10.x -> data.x
        loc = [loc[0], *loc[2:]]
    key = ".".join(loc) or "config"
    kind = err.get("type", "")
    value = err.get("input")
    data_error = _data_error(kind, loc, tag, err)
    if data_error is not None:
        return data_error
    if kind == "extra_forbidden":
        section = _section_model(loc[:-1])
        valid = list(section.model_fields) if section else []
        hint = did_you_mean(loc[-1], valid)
        return f"{key}: unknown key{hint}; valid keys here: {', '.join(valid)}"
    if kind == "literal_error":
        allowed = _literal_choices(err)
        hint = did_you_mean(str(value), allowed)
        return f"{key}: unknown name {value!r}{hint}; expected one of: {', '.join(allowed)}"
    if kind == "value_error":  # our own cross-field checks: their text names the keys
        return str(err.get("msg", "")).removeprefix("Value error, ")
    msg = _lower_first(str(err.get("msg", "invalid value")))
    if kind in {"model_type", "dict_type"}:
        return f"{key}: expected a section (a mapping of keys), got {_show(value)}"
    return f"{key}: {msg}, got {_show(value)}"


def _data_error(kind: str, loc: list[str], tag: str | None, err: Mapping[str, Any]
                ) -> str | None:
    """What the tagged data section says in its own words: a key of another source names
    that source; an unknown source lists the sources; a missing path says how to give it."""
    if kind == "union_tag_invalid":
        found = str((err.get("ctx") or {}).get("tag", ""))
        return (f"data.source: unknown name {found!r}{did_you_mean(found, list(SECTIONS))}; "
                f"expected one of: {', '.join(SECTIONS)}")
    if tag is None or len(loc) != 2:
        return None
    if kind == "extra_forbidden":
        owners = sources_with(loc[1])
        valid = ", ".join(SECTIONS[tag].model_fields)
        if owners:
            return (f"data.{loc[1]} applies to data.source {' or '.join(owners)}, not to "
                    f"{tag}; keys for {tag}: {valid}")
        hint = did_you_mean(loc[1], list(SECTIONS[tag].model_fields))
        return f"data.{loc[1]}: unknown key{hint}; keys for {tag}: {valid}"
    if kind == "missing" and loc[1] == "path":
        example = "~/data/cifar-10-batches-py" if tag == "cifar10" else "kc_house_data.csv"
        return (f"data.path is required for data.source {tag} (e.g. --set "
                f"data.path={example})")
    return None


def _section_model(loc: Sequence[str]) -> type[BaseModel] | None:
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(part)
        ann = field.annotation if field else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def _literal_choices(err: Mapping[str, Any]) -> list[str]:
    expected = str((err.get("ctx") or {}).get("expected", ""))
    return [part.strip(" '\"") for part in expected.replace(" or ", ",").split(",") if part.strip()]


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _lower_first(text: str) -> str:
    text = text.replace("Input should be", "must be").replace("input should be", "must be")
    return text[:1].lower() + text[1:]


def _printable(text: str) -> str:
    """A key as typed, or its repr when it holds a newline or another control character."""
    return text if text.isprintable() else repr(text)


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
