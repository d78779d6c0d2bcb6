"""How a sweep names its variants: a value as labels and tables show it, a variant's label and
its folder name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def show_value(value: Any) -> str:
    """A grid value as labels and tables show it: ``1e-06``, ``0.5``, ``sgd``."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def label(name: Any, shown: Mapping[str, str], seed: int | None) -> str:
    """``sgd lr=1e-06 seed=1``: the name, each key's last part (the whole key where two share
    it) with its value as shown, the seed."""
    leaves = [k.rsplit(".", 1)[-1] for k in shown]
    parts = [str(name)]
    for key, text in shown.items():
        leaf = key.rsplit(".", 1)[-1]
        parts.append(f"{leaf if leaves.count(leaf) == 1 else key}={text}")
    if seed is not None:
        parts.append(f"seed={seed}")
    return " ".join(parts)


def slug(text: str) -> str:
    """A folder-safe name: ``"sgd lr=1e-06 seed=1"`` -> ``"sgd-lr1e-06-seed1"``, ``1.1e+04`` ->
    ``1.1e04`` (never ``1.1e-04``, which would name another value)."""
    text = text.replace("=", "").replace("e+", "e")
    out = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return out[:60] or "sweep"
