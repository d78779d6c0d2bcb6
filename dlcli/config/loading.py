"""Reading a config: the YAML file (bounded: :mod:`dlcli.config.yaml_input`), ``--set``
overrides, validation into a :class:`~dlcli.config.schema.Config` with one-line errors, and the
resolved config written back as YAML."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

import dlcli.config.yaml_input as safe_yaml
from dlcli.config.messages import describe_error
from dlcli.config.schema import Config
from dlcli.errors import ConfigError


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; every failure is a one-line ConfigError, and
    what the file can make us read, expand or recurse is bounded
    (:mod:`dlcli.config.yaml_input`)."""
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


