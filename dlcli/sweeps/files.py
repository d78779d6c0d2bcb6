"""Sweeps: read a sweep file (or a plain config plus shortcuts), expand it into frozen variants.

A sweep file::

    name: strategies                 # optional; default: the file's stem
    base: synthetic.yaml             # a config path (relative to this file) or an inline config
    sweep:                           # dotted key -> the values of its grid
      strategy.lr: [1.0e-7, 1.0e-6]
    search: {trials: 30, params: {strategy.lr: {loguniform: [1.0e-8, 1.0e-5]}}}  # or a search
    variants:                        # named partial overrides (nested or dotted keys)
      - {name: sgd, strategy: {name: sgd}}
    seeds: [0, 1, 2]                 # repeats every variant; absent: the config's own seed

Expansion order: variants x grid points (last key fastest; or a random search's trials) x
seeds. Precedence, lowest first: base, ``--set``, the variant, the grid point, the seed. A
variant's ``name`` becomes the config's ``name``. Every variant is validated here, before
anything runs; a search asked of Optuna (:mod:`dlcli.sweeps.search`) has its bounds validated.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dlcli.config import (
    apply_sets,
    describe_error,
    did_you_mean,
    read_yaml_mapping,
)
from dlcli.errors import ConfigError, UsageError
from dlcli.sweeps.labels import show_value, slug
from dlcli.sweeps.plan import Plan, Variant, config_hash
from dlcli.sweeps.search import Search, parse_search
from dlcli.sweeps.search_check import check_search, with_shortcuts
from dlcli.sweeps.variants import NAME, VariantSpec, absolute_paths, make_variant, shower

__all__ = ["Plan", "Variant", "config_hash", "show_value", "load_plan", "build_plan",
           "is_sweep_file", "parse_grid", "make_variant"]

SWEEP_KEYS = ("base", "sweep", "search", "variants", "seeds")  # any makes a file a sweep file
MAX_VARIANTS = 10_000


class SweepFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=64, pattern=NAME)
    base: str | dict[str, Any]
    sweep: dict[str, Annotated[list[Any], Field(min_length=1)]] = {}
    search: Any = None  # checked by dlcli.sweeps.search.parse_search
    variants: list[VariantSpec] | None = Field(None, min_length=1)
    seeds: list[Annotated[int, Field(ge=0)]] | None = Field(None, min_length=1)


# --------------------------------------------------------------------------- reading


def load_plan(path: str | Path, *, sets: Sequence[str] = (), grid: Sequence[str] = (),
              strategies: Sequence[str] = (), seeds: Sequence[int] = (),
              samples: Sequence[str] = (), trials: int | None = None,
              storage: str | None = None, reuse: bool = True) -> Plan:
    """Read a sweep file or a plain config, apply the command-line shortcuts, expand, validate.

    ``samples`` (``--sample KEY=DIST:LOW,HIGH``) and ``trials`` make or extend a search;
    ``storage`` is an Optuna storage for a search asked of Optuna. Raises ConfigError/UsageError
    (exit 2) before anything runs if any variant is invalid.
    """
    path = Path(path)
    raw = read_yaml_mapping(path)
    is_sweep = any(key in raw for key in SWEEP_KEYS)
    spec = raw if is_sweep else {"base": raw}
    name = slug(path.stem if is_sweep else str(raw.get("name") or "run"))
    return build_plan(spec, str(path), path.parent, name, sets=sets, grid=grid,
                      strategies=strategies, seeds=seeds, samples=samples, trials=trials,
                      storage=storage, reuse=reuse)


def build_plan(raw: Mapping[str, Any], source: str, folder: Path, name: str, *,
               sets: Sequence[str] = (), grid: Sequence[str] = (),
               strategies: Sequence[str] = (), seeds: Sequence[int] = (),
               samples: Sequence[str] = (), trials: int | None = None,
               storage: str | None = None, reuse: bool = True) -> Plan:
    """A sweep file's mapping (``base`` relative to ``folder``) as a validated :class:`Plan`."""
    spec = parse_sweep(raw, source)
    spec = _with_shortcuts(spec, source, grid, strategies, seeds)
    section = with_shortcuts(spec.search, samples, trials)
    if spec.sweep and section is not None:
        raise ConfigError(f"{source}: sweep and search: a sweep file has a grid or a search, "
                          f"not both")
    if storage and section is None:
        raise UsageError("--storage: only a search keeps a study; give a search: section or "
                         "--sample")
    # The base alone need not be valid (a variant may complete it); every variant must be.
    base = read_yaml_mapping(folder / spec.base) if isinstance(spec.base, str) else spec.base
    base = apply_sets(base, sets)
    where = source + (" (with --set)" if sets else "")
    search = None if section is None else parse_search(section, where, base.get("seed"),
                                                       storage)
    recipe = {"base": absolute_paths(copy.deepcopy(base)),
              "variants": [v.model_dump() for v in spec.variants] if spec.variants else None,
              "seeds": spec.seeds}
    plan = Plan(spec.name or name, source, list(spec.sweep) if search is None else search.keys,
                [], search, recipe, reuse)
    if search is not None:
        check_search(plan, where)
    if plan.adaptive:
        return plan
    return Plan(plan.name, source, plan.grid_keys, expand(base, spec, where, search), search,
                recipe, reuse)


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
        update["variants"] = [VariantSpec.model_validate({"name": slug(s), "strategy.name": s})
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


def expand(base: Mapping[str, Any], spec: SweepFile, source: str,
           search: Search | None = None) -> list[Variant]:
    """Every (variant, grid point or drawn trial, seed) as a validated, frozen :class:`Variant`."""
    specs: list[VariantSpec | None] = [*spec.variants] if spec.variants else [None]
    keys = list(spec.sweep) if search is None else search.keys
    seeds: list[int | None] = [*spec.seeds] if spec.seeds else [None]
    n_points = search.trials if search else math_prod(len(v) for v in spec.sweep.values())
    total = len(specs) * n_points * len(seeds)
    if total > MAX_VARIANTS:
        raise ConfigError(f"{source}: the sweep expands to {total} variants (at most "
                          f"{MAX_VARIANTS}); narrow the grid")
    names = [v.name for v in specs if v is not None]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{source}: variants: the name {name!r} is used twice")
    points = ([dict(zip(keys, p, strict=True)) for p in itertools.product(*spec.sweep.values())]
              if search is None else search.draw_points())
    width = max(2, len(str(total)))
    out = [make_variant(index, base, vspec, point, seed, source, width, shower(search))
           for index, (vspec, point, seed) in
           enumerate(itertools.product(specs, points, seeds), 1)]
    _check_unique(out, source)
    return out


def math_prod(sizes: Iterator[int]) -> int:
    total = 1
    for size in sizes:
        total *= size
    return total


def _check_unique(variants: list[Variant], source: str) -> None:
    seen: dict[str, Variant] = {}
    for v in variants:
        if v.hash in seen:
            raise ConfigError(f"{source}: variants {seen[v.hash].label!r} and {v.label!r} "
                              f"resolve to the same config")
        seen[v.hash] = v
