"""YAML a user hands us, read as data whose cost is bounded by its size.

``yaml.safe_load`` builds no objects but plain ones, yet a document can still cost far more than
its bytes: aliases share nodes (a "billion laughs" of 900 bytes names 10^9 values, which any
later walk or copy expands), an alias can refer to its own ancestor (a cycle), and deep nesting
exhausts the recursion of the parser. Here a file is refused before it is parsed when it is
larger than any config, and after parsing when its expanded tree is deeper than a config nests
or holds more values than :data:`MAX_NODES`; both in one line, as a :class:`ConfigError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dlcli.errors import ConfigError

MAX_BYTES = 1 << 20  # a config or sweep file is a few KB; a 1 MiB one is not a config
MAX_NODES = 200_000  # values after expanding every alias (a 10,000-variant sweep needs ~50,000)
MAX_DEPTH = 32  # a config nests 3 deep; a sweep's variant values a few more


def read_text(path: Path) -> str:
    """The text of a YAML file, refused (one line) when missing, a folder, binary or huge."""
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, expected a YAML file")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"{path}: {size:,} bytes is too large for a config "
                              f"(at most {MAX_BYTES:,}); expected a YAML config or sweep file")
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)  # the file may grow between stat and read
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{path}: too large for a config (over {MAX_BYTES:,} bytes)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file, expected YAML") from None


def load(text: str, where: str) -> Any:
    """Parse one YAML document and check what it expands to; errors name ``where``."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{where}: not valid YAML{at}: {problem}") from None
    except RecursionError:  # the parser recurses once per level of nesting
        raise ConfigError(f"{where}: nested too deeply for a config (at most {MAX_DEPTH} "
                          f"levels)") from None
    check_size(doc, where)
    return doc


def check_size(doc: Any, where: str) -> None:
    """Walk ``doc`` as a tree (every alias expanded), without recursion, and stop as soon as it
    nests deeper than :data:`MAX_DEPTH`, holds more than :data:`MAX_NODES` values, or contains
    itself. The walk costs at most MAX_NODES steps, whatever the document."""
    nodes = 0
    path: list[int] = []  # ids of the containers from the root to the current one
    stack: list[tuple[Any, int]] = [(doc, 0)]  # (value, depth), depth-first
    while stack:
        value, depth = stack.pop()
        del path[depth:]
        nodes += 1
        if nodes > MAX_NODES:
            raise ConfigError(f"{where}: expands to more than {MAX_NODES:,} values through its "
                              f"aliases (&name / *name); a config needs far fewer")
        if not isinstance(value, (dict, list)):
            continue
        if id(value) in path:
            raise ConfigError(f"{where}: an alias refers to itself (a recursive structure); "
                              f"a config cannot hold one")
        if depth >= MAX_DEPTH:
            raise ConfigError(f"{where}: nested too deeply for a config (at most {MAX_DEPTH} "
                              f"levels)")
        path.append(id(value))
        children = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in reversed(children))
