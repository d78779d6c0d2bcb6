"""Sweeps: read a sweep file (or a plain config plus shortcuts), expand it into frozen variants.

A sweep file::

    name: strategies                 # optional; default: the file's stem
    base: synthetic.yaml             # a config path (relative to this file) or an inline config
    sweep:                           # dotted key -> the values of its grid
      strategy.lr: [1.0e-7, 1.0e-6]
    variants:                        # named partial overrides (nested or dotted keys)
      - {name: sgd, strategy: {name: sgd}}
    seeds: [0, 1, 2]                 # repeats every variant; absent: the config's own seed

Expansion order: variants x grid points (last key fastest) x seeds. Precedence, lowest first:
base, ``--set``, the variant, the grid point, the seed. A variant's ``name`` becomes the
config's ``name``. Every variant is validated here, before anything runs.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dlcli.config import (
    apply_sets,
    describe_error,
    did_you_mean,
    read_yaml_mapping,
    set_path,
    validate,
)
from dlcli.errors import ConfigError, UsageError

SWEEP_KEYS = ("base", "sweep", "variants", "seeds")  # any of them makes a file a sweep file
MAX_VARIANTS = 10_000
NAME = r"^[A-Za-z0-9._-]+$"
PATH_KEYS = ("path", "cache_dir")  # data keys holding a file or folder


class VariantSpec(BaseModel):
    """One named partial override; every key but ``name`` is a config key (nested or dotted)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field(min_length=1, max_length=64, pattern=NAME)


class SweepFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=64, pattern=NAME)
    base: str | dict[str, Any]
    sweep: dict[str, Annotated[list[Any], Field(min_length=1)]] = {}
    variants: list[VariantSpec] | None = Field(None, min_length=1)
    seeds: list[Annotated[int, Field(ge=0)]] | None = Field(None, min_length=1)


@dataclass(frozen=True)
class Variant:
    """One frozen run of a sweep: its resolved config and the hash that identifies it."""

    index: int  # 1-based, in sweep order
    name: str
    grid: dict[str, Any]  # grid key -> the resolved value
    seed: int
    label: str  # "sgd lr=1e-06 seed=1": unique within the sweep
    folder: str  # its run folder inside the compare folder
    hash: str
    config: dict[str, Any] = field(repr=False)  # resolved: every default written out
    # What was validated (base + overrides, defaults left out): a worker validates this again,
    # as a resolved dump does not always validate (validators that look at the keys given).
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Plan:
    name: str
    source: str
    grid_keys: list[str]
    variants: list[Variant]

    def to_json(self) -> dict[str, Any]:
        return {"format": 1, "name": self.name, "source": self.source,
                "grid_keys": self.grid_keys, "variants": [asdict(v) for v in self.variants]}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Plan:
        return cls(obj["name"], obj["source"], list(obj["grid_keys"]),
                   [Variant(**v) for v in obj["variants"]])


def config_hash(config: Mapping[str, Any]) -> str:
    """A stable hash of a resolved config (the same dict always gives the same 16 hex digits)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- reading


def load_plan(path: str | Path, *, sets: Sequence[str] = (), grid: Sequence[str] = (),
              strategies: Sequence[str] = (), seeds: Sequence[int] = ()) -> Plan:
    """Read a sweep file or a plain config, apply the command-line shortcuts, expand, validate.

    Raises ConfigError/UsageError (exit 2) before anything runs if any variant is invalid.
    """
    path = Path(path)
    raw = read_yaml_mapping(path)
    is_sweep = any(key in raw for key in SWEEP_KEYS)
    spec = parse_sweep(raw, str(path)) if is_sweep else SweepFile(base=raw)
    spec = _with_shortcuts(spec, str(path), grid, strategies, seeds)
    # The base alone need not be valid (a variant may complete it); every variant must be.
    base = read_yaml_mapping(path.parent / spec.base) if isinstance(spec.base, str) else spec.base
    base = apply_sets(base, sets)
    name = spec.name or _slug(path.stem if is_sweep else str(base.get("name") or "run"))
    where = str(path) + (" (with --set)" if sets else "")
    return Plan(name, str(path), list(spec.sweep), expand(base, spec, where))


def is_sweep_file(path: str | Path) -> bool:
    """Whether a YAML file is a sweep (it has base/sweep/variants/seeds) rather than a config."""
    return any(key in read_yaml_mapping(path) for key in SWEEP_KEYS)


def parse_sweep(raw: Mapping[str, Any], source: str) -> SweepFile:
    """Validate the sweep file's own keys; the first problem becomes a one-line ConfigError."""
    try:
        return SweepFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        if err["type"] == "extra_forbidden" and len(loc) == 1:
            valid = list(SweepFile.model_fields)
            hint = did_you_mean(loc[0], valid)
            raise ConfigError(f"{source}: {loc[0]}: unknown key{hint}; valid keys in a sweep "
                              f"file: {', '.join(valid)}") from None
        if loc[:1] == ["base"]:  # a union of str and mapping: say once what it must be
            got = "nothing" if err["type"] == "missing" else repr(err["input"])
            raise ConfigError(f"{source}: base: expected a config path or an inline config, "
                              f"got {got}") from None
        raise ConfigError(f"{source}: {describe_error(err, raw)}") from None


def _with_shortcuts(spec: SweepFile, source: str, grid: Sequence[str],
                    strategies: Sequence[str], seeds: Sequence[int]) -> SweepFile:
    """``--grid``, ``--strategy`` and ``--seed`` on top of what the file says."""
    update: dict[str, Any] = {}
    if grid:
        update["sweep"] = {**spec.sweep, **dict(parse_grid(item) for item in grid)}
    if strategies:
        if spec.variants:
            raise UsageError(f"--strategy: {source} already lists variants; add it there")
        if len(set(strategies)) != len(strategies):
            raise UsageError("--strategy: each strategy once, please")
        update["variants"] = [VariantSpec.model_validate({"name": _slug(s), "strategy.name": s})
                              for s in strategies]
    if seeds:
        update["seeds"] = list(dict.fromkeys(seeds))
    return spec.model_copy(update=update)


def parse_grid(item: str) -> tuple[str, list[Any]]:
    """``"strategy.lr=1e-3,1e-2"`` (or ``=[1e-3, 1e-2]``) -> ("strategy.lr", ["1e-3", "1e-2"])."""
    key, sep, text = item.partition("=")
    key, text = key.strip(), text.strip()
    if not sep or not key or not text or any(not p for p in key.split(".")):
        raise UsageError(f"--grid {item!r}: expected KEY.PATH=V1,V2,..., "
                         "e.g. strategy.lr=1e-3,1e-2")
    try:
        values = yaml.safe_load(text) if text.startswith("[") else [
            yaml.safe_load(part) for part in text.split(",")]
    except yaml.YAMLError:
        raise UsageError(f"--grid {item!r}: a value is not valid YAML") from None
    if not isinstance(values, list) or not values:
        raise UsageError(f"--grid {item!r}: expected a comma-separated list of values")
    return key, values


# --------------------------------------------------------------------------- expansion


def expand(base: Mapping[str, Any], spec: SweepFile, source: str) -> list[Variant]:
    """Every (variant, grid point, seed) as a validated, frozen :class:`Variant`."""
    specs: list[VariantSpec | None] = [*spec.variants] if spec.variants else [None]
    keys = list(spec.sweep)
    points = list(itertools.product(*spec.sweep.values()))
    seeds: list[int | None] = [*spec.seeds] if spec.seeds else [None]
    total = len(specs) * len(points) * len(seeds)
    if total > MAX_VARIANTS:
        raise ConfigError(f"{source}: the sweep expands to {total} variants (at most "
                          f"{MAX_VARIANTS}); narrow the grid")
    names = [v.name for v in specs if v is not None]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{source}: variants: the name {name!r} is used twice")
    out: list[Variant] = []
    width = max(2, len(str(total)))
    for index, (vspec, point, seed) in enumerate(itertools.product(specs, points, seeds), 1):
        values = dict(zip(keys, point, strict=True))
        raw = _resolve_raw(base, vspec, values, seed, source)
        where = f"{source} (variant {_label(raw.get('name'), values, seed)})"
        cfg = validate(raw, where).model_dump(mode="json")
        grid = {k: _lookup(cfg, k) for k in keys}
        label = _label(cfg["name"], grid, seed)
        out.append(Variant(index, cfg["name"], grid, cfg["seed"], label,
                           f"{index:0{width}d}-{_slug(label)}", config_hash(cfg), cfg, raw))
    _check_unique(out, source)
    return out


def _resolve_raw(base: Mapping[str, Any], vspec: VariantSpec | None, point: dict[str, Any],
                 seed: int | None, source: str) -> dict[str, Any]:
    raw = copy.deepcopy(dict(base))
    if vspec is not None:
        for path, value in _leaves(vspec.model_extra or {}):
            set_path(raw, path, copy.deepcopy(value), f"{source}: variant {vspec.name!r}")
        raw["name"] = vspec.name
    for key, value in point.items():
        set_path(raw, key.split("."), copy.deepcopy(value), f"{source}: sweep key {key!r}")
    if seed is not None:
        raw["seed"] = seed
    _absolute_paths(raw)
    return raw


def _absolute_paths(raw: dict[str, Any]) -> None:
    """Relative data paths are from the working directory of ``dlcli compare``; freeze them
    as absolute so a worker started elsewhere (a Dask worker) reads the same files."""
    data = raw.get("data")
    if not isinstance(data, dict):
        return
    for key in PATH_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value and not value.startswith("~"):
            data[key] = os.path.abspath(value)


def _leaves(mapping: Mapping[str, Any], prefix: tuple[str, ...] = ()
            ) -> Iterator[tuple[list[str], Any]]:
    """Nested and dotted keys alike, as (path, value) pairs; a section is merged, not replaced."""
    for key, value in mapping.items():
        path = (*prefix, *str(key).split("."))
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, path)
        else:
            yield list(path), value


def _lookup(cfg: Mapping[str, Any], key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = node[part]
    return node


def _check_unique(variants: list[Variant], source: str) -> None:
    seen: dict[str, Variant] = {}
    for v in variants:
        if v.hash in seen:
            raise ConfigError(f"{source}: variants {seen[v.hash].label!r} and {v.label!r} "
                              f"resolve to the same config")
        seen[v.hash] = v


def show_value(value: Any) -> str:
    """A grid value as labels and tables show it: ``1e-06``, ``0.5``, ``sgd``."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _label(name: Any, grid: Mapping[str, Any], seed: int | None) -> str:
    leaves = [k.rsplit(".", 1)[-1] for k in grid]
    parts = [str(name)]
    for key, value in grid.items():
        leaf = key.rsplit(".", 1)[-1]
        parts.append(f"{leaf if leaves.count(leaf) == 1 else key}={show_value(value)}")
    if seed is not None:
        parts.append(f"seed={seed}")
    return " ".join(parts)


def _slug(text: str) -> str:
    """A folder-safe name: ``"sgd lr=1e-06 seed=1"`` -> ``"sgd-lr1e-06-seed1"``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text.replace("=", "")).strip("-.")
    return slug[:60] or "sweep"
