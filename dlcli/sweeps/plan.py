"""A sweep as data: the frozen :class:`Variant` runs of a :class:`Plan`, their hashes, labels and
folder names. :mod:`dlcli.sweeps.files` reads sweep files into plans;
:mod:`dlcli.sweeps.compare` runs them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from dlcli.sweeps.search import Search


@dataclass(frozen=True)
class Variant:
    """One frozen run of a sweep: its resolved config and the hash that identifies it."""

    index: int  # 1-based, in sweep order (a search asked of Optuna: in the order asked)
    name: str
    grid: dict[str, Any]  # grid (or searched) key -> the resolved value
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
    """``variants`` in sweep order. A search (``search``) names its keys in ``grid_keys``; an
    adaptive one (``sampler: tpe``) starts with no variants and adds each trial as it is asked,
    built from ``recipe`` (the base config with ``--set``, the variant overrides, the seeds).
    ``reuse``: variants that already completed under the same ``--out`` root are linked, not
    run (``--rerun``: False). ``origin``: a sweep file to save beside sweep.json (a refined
    search writes the one it made)."""

    name: str
    source: str
    grid_keys: list[str]
    variants: list[Variant]
    search: Search | None = None
    recipe: dict[str, Any] | None = field(default=None, repr=False)
    reuse: bool = True
    origin: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def adaptive(self) -> bool:
        return self.search is not None and self.search.sampler != "random"

    @property
    def needs_study(self) -> bool:
        return self.search is not None and self.search.needs_study

    @property
    def total(self) -> int:
        """How many runs the plan makes: an adaptive search's trials x variants x seeds."""
        if not self.adaptive or self.search is None or self.recipe is None:
            return len(self.variants)
        specs = self.recipe.get("variants") or [None]
        return self.search.trials * len(specs) * len(self.recipe.get("seeds") or [None])

    def to_json(self) -> dict[str, Any]:
        return {"format": 1, "name": self.name, "source": self.source,
                "grid_keys": self.grid_keys, "variants": [asdict(v) for v in self.variants],
                "search": self.search.to_json() if self.search else None,
                "recipe": self.recipe, "reuse": self.reuse}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Plan:
        search = obj.get("search")
        return cls(obj["name"], obj["source"], list(obj["grid_keys"]),
                   [Variant(**v) for v in obj["variants"]],
                   Search.from_json(search) if search else None, obj.get("recipe"),
                   bool(obj.get("reuse", True)))


def config_hash(config: Mapping[str, Any]) -> str:
    """A stable hash of a resolved config (the same dict always gives the same 16 hex digits)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
