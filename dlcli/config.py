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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dlcli.errors import ConfigError

DataSource = Literal["cifar10-synthetic"]
ModelName = Literal["svm", "softmax"]
StrategyName = Literal[
    "random-search", "random-local-search", "numerical-gd", "gd", "sgd", "momentum"
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    source: DataSource = "cifar10-synthetic"
    num_train: int = Field(5000, gt=0)
    num_val: int = Field(500, ge=0)
    num_test: int = Field(1000, gt=0)


class ModelConfig(_Section):
    name: ModelName = "softmax"
    reg: float = Field(2.5e-4, ge=0)
    init_scale: float = Field(1e-4, gt=0)


class StrategyConfig(_Section):
    name: StrategyName = "momentum"
    iterations: int = Field(500, gt=0)
    lr: float = Field(1e-6, gt=0)
    batch_size: int = Field(256, gt=0)
    rho: float = Field(0.9, ge=0, lt=1)
    step_size: float = Field(1e-4, gt=0)
    h: float = Field(1e-5, gt=0)
    eval_batch: int | None = Field(None, gt=0)


class Config(_Section):
    name: str = Field("run", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    seed: int = Field(0, ge=0)
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    strategy: StrategyConfig = StrategyConfig()
    eval_every: int = Field(50, gt=0)

    @model_validator(mode="after")
    def _fits_the_data(self) -> Config:
        if self.strategy.eval_batch is not None and self.strategy.eval_batch > self.data.num_train:
            raise ValueError(
                f"strategy.eval_batch ({self.strategy.eval_batch}) must be <= "
                f"data.num_train ({self.data.num_train})"
            )
        return self


# --------------------------------------------------------------------------- loading


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; every failure is a one-line ConfigError."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such file")
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory, expected a YAML file")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a text file, expected YAML") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{p}: not valid YAML{where}: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping of keys, got a {type(raw).__name__}")
    return raw


def parse_set(item: str) -> tuple[list[str], Any]:
    """``"strategy.lr=1e-3"`` -> (["strategy", "lr"], 0.001); the value is parsed as YAML."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE, e.g. strategy.lr=1e-3")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        raise ConfigError(f"--set {item!r}: the value is not valid YAML") from None
    return key.split("."), value


def apply_sets(raw: Mapping[str, Any], sets: Iterable[str]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``KEY.PATH=VALUE`` override applied (creating sections)."""
    out = _deep_copy(raw)
    for item in sets:
        path, value = parse_set(item)
        node = out
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(path[: i + 1])
                raise ConfigError(f"--set {item!r}: {where} is a value, not a section")
            node = child
        node[path[-1]] = value
    return out


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


def load_config(path: str | Path, sets: Sequence[str] = ()) -> Config:
    """Load a YAML config file, apply ``--set`` overrides and validate."""
    raw = apply_sets(read_yaml_mapping(path), sets)
    source = str(path) + (" (with --set)" if sets else "")
    return validate(raw, source)


def to_yaml(cfg: Config) -> str:
    """The fully resolved config (defaults included), as YAML in schema order."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


# --------------------------------------------------------------------------- error text


def describe_error(err: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    """One pydantic error as ``key.path: what is wrong, got VALUE (did you mean X?)``."""
    loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
    key = ".".join(loc) or "config"
    kind = err.get("type", "")
    value = err.get("input")
    if kind == "extra_forbidden":
        section = _section_model(loc[:-1])
        valid = list(section.model_fields) if section else []
        hint = _did_you_mean(loc[-1], valid)
        return f"{key}: unknown key{hint}; valid keys here: {', '.join(valid)}"
    if kind == "literal_error":
        allowed = _literal_choices(err)
        hint = _did_you_mean(str(value), allowed)
        return f"{key}: unknown name {value!r}{hint}; expected one of: {', '.join(allowed)}"
    if kind == "value_error" and not loc:
        return str(err.get("msg", "")).removeprefix("Value error, ")
    msg = _lower_first(str(err.get("msg", "invalid value")))
    if kind in {"model_type", "dict_type"}:
        return f"{key}: expected a section (a mapping of keys), got {_show(value)}"
    return f"{key}: {msg}, got {_show(value)}"


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


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _lower_first(text: str) -> str:
    text = text.replace("Input should be", "must be").replace("input should be", "must be")
    return text[:1].lower() + text[1:]


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
