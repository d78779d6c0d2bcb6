"""The ``search:`` section of a sweep file: distributions over config keys, drawn up front
(``sampler: random``) or asked of Optuna one trial at a time (``sampler: tpe``, see
:mod:`dlcli.sweeps.search_run`)::

    search:
      trials: 50
      sampler: random            # random | tpe
      seed: 0                    # the draws; absent: the base config's seed
      params:
        strategy.lr: {loguniform: [1.0e-8, 1.0e-5]}
        strategy.batch_size: {int: [32, 512], log: true}
        model.hidden: {choice: [[128], [256]]}
        strategy.rho: {uniform: [0.5, 0.99]}
      pruner: null               # null | median | halving | hyperband

A random trial's value of a key comes from a stream of its own,
``SeedSequence([seed, 11, trial, crc32(key)])``, through ``Generator.random()`` only: the same
file gives the same trials on any machine, raising ``trials`` keeps the first ones, and adding
a key leaves the other keys' draws as they were.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dlcli.config import Config, Int, describe_error, did_you_mean
from dlcli.errors import ConfigError, UsageError

KINDS = ("uniform", "loguniform", "int", "choice")
SAMPLERS = ("random", "tpe")
PRUNERS = ("median", "halving", "hyperband")
SEARCH_STREAM = 11  # beside the data (1), the weights and strategy (2), gradcheck (3), rows (4)
NOT_SEARCHED = ("name", "seed")  # a label, and what `seeds:` repeats trials over
EXTRA = "pip install 'dlcli[search]'"


class SearchSection(BaseModel):
    """The section as written; the distributions are checked by :func:`parse_dist`."""

    model_config = ConfigDict(extra="forbid")
    trials: Annotated[Int, Field(gt=0)]
    sampler: Literal["random", "tpe"] = "random"
    seed: Annotated[Int, Field(ge=0)] | None = None
    params: dict[str, Any] = Field(min_length=1)
    pruner: Literal["median", "halving", "hyperband"] | None = None


@dataclass(frozen=True)
class Dist:
    """One key's distribution. ``low``/``high`` bound uniform, loguniform and int (inclusive);
    ``choices`` lists a choice's values."""

    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False  # int only (loguniform is the log-scale float)
    step: int | None = None  # int only
    choices: tuple[Any, ...] = ()

    @property
    def log_scale(self) -> bool:
        return self.kind == "loguniform" or (self.kind == "int" and self.log)

    def draw(self, u: float) -> Any:
        """The value at ``u`` in [0, 1) (a uniform draw): the transforms are ours, so the
        numbers do not depend on how a numpy version implements its distributions."""
        if self.kind == "choice":
            return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]
        if self.kind == "uniform":
            return min(self.low + u * (self.high - self.low), self.high)
        if self.kind == "loguniform":
            lo, hi = math.log(self.low), math.log(self.high)
            return min(max(math.exp(lo + u * (hi - lo)), self.low), self.high)
        if self.log:  # as Optuna draws a log-scale integer: each integer gets its own width
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            return int(min(max(round(math.exp(lo + u * (hi - lo))), self.low), self.high))
        step = self.step or 1
        count = int(self.high - self.low) // step + 1
        return int(self.low) + min(int(u * count), count - 1) * step

    def probes(self) -> list[Any]:
        """The values every drawn value lies between (or among): checked before anything runs."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return [int(self.low), int(self.draw(1.0 - 1e-12))]
        return [self.low, self.high]

    def show(self, value: Any) -> str:
        """A drawn value as labels name it: ``3.2e-07``, ``1.1e+04``, ``128``, ``[256]``."""
        if isinstance(value, float) and self.kind != "choice":
            return f"{value:.2g}"
        from dlcli.sweeps.labels import show_value

        return show_value(value)

    def to_json(self) -> dict[str, Any]:
        """As a sweep file spells it: ``{"int": [32, 512], "log": true}``."""
        if self.kind == "choice":
            return {"choice": list(self.choices)}
        if self.kind == "int":
            out: dict[str, Any] = {"int": [int(self.low), int(self.high)]}
            return {**out, **({"log": True} if self.log else {}),
                    **({"step": self.step} if self.step else {})}
        return {self.kind: [self.low, self.high]}


@dataclass(frozen=True)
class Search:
    """A validated search section; ``storage`` is the Optuna storage (``--storage``), None for
    the study file in the compare folder."""

    trials: int
    sampler: str
    seed: int
    params: dict[str, Dist]
    pruner: str | None = None
    storage: str | None = None
    keys: list[str] = field(default_factory=list)  # params' keys, in the file's order

    @property
    def needs_study(self) -> bool:
        """Whether trials run through an Optuna study (an adaptive sampler or a pruner)."""
        return self.sampler != "random" or self.pruner is not None

    def draw_points(self) -> list[dict[str, Any]]:
        """Every trial's values, drawn up front (``sampler: random``)."""
        return [{key: self.params[key].draw(_uniform(self.seed, trial, key))
                 for key in self.keys} for trial in range(self.trials)]

    def to_json(self) -> dict[str, Any]:
        return {"trials": self.trials, "sampler": self.sampler, "seed": self.seed,
                "pruner": self.pruner, "storage": self.storage,
                "params": {k: self.params[k].to_json() for k in self.keys}}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Search:
        params = {k: parse_dist(k, v, "sweep.json") for k, v in obj["params"].items()}
        return cls(int(obj["trials"]), str(obj["sampler"]), int(obj["seed"]), params,
                   obj.get("pruner"), obj.get("storage"), list(params))


def _uniform(seed: int, trial: int, key: str) -> float:
    seq = np.random.SeedSequence([seed, SEARCH_STREAM, trial, zlib.crc32(key.encode())])
    return float(np.random.default_rng(seq).random())


# --------------------------------------------------------------------------- parsing


def parse_search(raw: Any, source: str, base_seed: Any, storage: str | None = None) -> Search:
    """The ``search:`` mapping as a :class:`Search`; the first problem is one ConfigError line."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: search: expected a section (trials, sampler, seed, params, "
                          f"pruner), got {raw!r}")
    try:
        section = SearchSection.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        if err["type"] == "extra_forbidden" and len(loc) == 1:
            valid = list(SearchSection.model_fields)
            raise ConfigError(f"{source}: search.{loc[0]}: unknown key"
                              f"{did_you_mean(loc[0], valid)}; valid keys: "
                              f"{', '.join(valid)}") from None
        raise ConfigError(f"{source}: search.{describe_error(err, raw)}") from None
    params = {key: parse_dist(key, spec, source) for key, spec in section.params.items()}
    seed = section.seed if section.seed is not None else base_seed
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        seed = 0  # the base's own seed is checked with the config
    if section.sampler == "random" and section.pruner is None and storage:
        raise UsageError("--storage: a random search without a pruner needs no study; give "
                         "search.sampler: tpe or a search.pruner")
    return Search(section.trials, section.sampler, seed, params, section.pruner, storage,
                  list(params))


def parse_dist(key: str, spec: Any, source: str) -> Dist:
    """``{loguniform: [1e-8, 1e-5]}`` and the like, checked: a config key, a known kind, ordered
    bounds (positive on a log scale), whole numbers for int."""
    where = f"{source}: search.params.{key}"
    check_key(key, where)
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a distribution such as {{loguniform: [1.0e-8, "
                          f"1.0e-5]}}, got {spec!r}")
    kinds = [k for k in spec if k in KINDS]
    unknown = [str(k) for k in spec if k not in (*KINDS, "log", "step")]
    if unknown or len(kinds) != 1:
        word = unknown[0] if unknown else ", ".join(map(str, spec)) or "nothing"
        raise ConfigError(f"{where}: unknown distribution {word!r}{did_you_mean(word, KINDS)}; "
                          f"expected one of: {', '.join(KINDS)} (int may add log or step)")
    kind = kinds[0]
    extra = [k for k in ("log", "step") if k in spec]
    if extra and kind != "int":
        hint = " (use loguniform)" if extra[0] == "log" else ""
        raise ConfigError(f"{where}: {extra[0]} applies to int only{hint}")
    if kind == "choice":
        values = spec["choice"]
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: choice: expected a non-empty list of values, "
                              f"got {values!r}")
        return Dist("choice", choices=tuple(values))
    return _bounded(kind, spec, where)


def _bounded(kind: str, spec: Mapping[str, Any], where: str) -> Dist:
    bounds = spec[kind]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise ConfigError(f"{where}: {kind}: expected [low, high], got {bounds!r}")
    low, high = (_number(b, kind, where) for b in bounds)
    log = spec.get("log", False)
    step = spec.get("step")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log: expected true or false, got {log!r}")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool) or step <= 0):
        raise ConfigError(f"{where}: step: expected a whole number > 0, got {step!r}")
    if log and step is not None:
        raise ConfigError(f"{where}: int: log and step do not go together (choose one)")
    if not low < high:
        raise ConfigError(f"{where}: {kind}: low must be below high, got [{low!r}, {high!r}]")
    if (kind == "loguniform" or log) and low <= 0:
        raise ConfigError(f"{where}: {kind}: a log scale needs low > 0, got {low!r}")
    return Dist(kind, low, high, log, step)


def _number(value: Any, kind: str, where: str) -> Any:
    """A bound: a number (YAML 1.1 reads ``1e-8`` as text: such text is taken as a number)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{where}: int: bounds must be whole numbers, got {value!r}")
        return value
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ConfigError(f"{where}: {kind}: bounds must be finite numbers, got {value!r}")
    return float(value)


def config_keys(model: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    """Every dotted key of the config schema: ``strategy.lr``, ``early_stopping.patience``;
    the data section's keys of every source (a union tagged by data.source)."""
    import typing

    out: list[str] = []
    for name, info in model.model_fields.items():
        args = [a for a in (info.annotation, *typing.get_args(info.annotation))
                if isinstance(a, type) and issubclass(a, BaseModel)]
        if not args:
            out.append(f"{prefix}{name}")
        for sub in args:
            out += [k for k in config_keys(sub, f"{prefix}{name}.") if k not in out]
    return out


def check_key(key: str, where: str) -> None:
    keys = [k for k in config_keys() if k not in NOT_SEARCHED]
    if key in NOT_SEARCHED:
        what = "a label" if key == "name" else "repeated over with seeds:"
        raise ConfigError(f"{where}: {key} is {what}, not a hyper-parameter to search")
    if key not in keys:
        raise ConfigError(f"{where}: not a config key{did_you_mean(key, keys)}")
