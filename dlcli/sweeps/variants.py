"""One variant of a sweep, made from the base config, the variant's overrides, a grid point or
a drawn trial, and a seed: validated, resolved, hashed and labelled. What reading a sweep file
(:mod:`dlcli.sweeps.files`), checking a search (:mod:`dlcli.sweeps.search_check`) and asking
Optuna for a trial (:mod:`dlcli.sweeps.search_run`) all build."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dlcli.config import set_path, validate
from dlcli.sweeps.labels import label, show_value, slug
from dlcli.sweeps.plan import Variant, config_hash
from dlcli.sweeps.search import Search

NAME = r"^[A-Za-z0-9._-]+$"
PATH_KEYS = ("path", "cache_dir")  # data keys holding a file or folder
Show = Callable[[str, Any], str]


class VariantSpec(BaseModel):
    """One named partial override; every key but ``name`` is a config key (nested or dotted)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field(min_length=1, max_length=64, pattern=NAME)



def shower(search: Search | None) -> Show:
    """How a key's value is shown in labels: a search's drawn floats with 2 digits."""
    if search is None:
        return lambda key, value: show_value(value)
    return lambda key, value: search.params[key].show(value)


def make_variant(index: int, base: Mapping[str, Any], vspec: Any, point: Mapping[str, Any],
                 seed: int | None, source: str, width: int, show: Show) -> Variant:
    """One validated variant: base, the variant's overrides (a VariantSpec or its dict), the
    point's values, the seed."""
    if isinstance(vspec, Mapping):
        vspec = VariantSpec.model_validate(vspec)
    raw = resolve_raw(base, vspec, point, seed, source)
    where = f"{source} (variant {label(raw.get('name'), _shown(point, show), seed)})"
    cfg = validate(raw, where).model_dump(mode="json")
    grid = {k: lookup(cfg, k) for k in point}
    text = label(cfg["name"], _shown(grid, show), seed)
    return Variant(index, cfg["name"], grid, cfg["seed"], text,
                   f"{index:0{width}d}-{slug(text)}", config_hash(cfg), cfg, raw)


def _shown(point: Mapping[str, Any], show: Show) -> dict[str, str]:
    return {k: show(k, v) for k, v in point.items()}


def resolve_raw(base: Mapping[str, Any], vspec: VariantSpec | None, point: Mapping[str, Any],
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
    return absolute_paths(raw)


def absolute_paths(raw: dict[str, Any]) -> dict[str, Any]:
    """Relative data paths are from the working directory of ``dlcli compare``; freeze them
    as absolute so a worker started elsewhere (a Dask worker) reads the same files."""
    data = raw.get("data")
    if not isinstance(data, dict):
        return raw
    for key in PATH_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value and not value.startswith("~"):
            data[key] = os.path.abspath(value)
    return raw


def _leaves(mapping: Mapping[str, Any], prefix: tuple[str, ...] = ()
            ) -> Iterator[tuple[list[str], Any]]:
    """Nested and dotted keys alike, as (path, value) pairs; a section is merged, not replaced."""
    for key, value in mapping.items():
        path = (*prefix, *str(key).split("."))
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, path)
        else:
            yield list(path), value


def lookup(cfg: Mapping[str, Any], key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = node[part]
    return node


