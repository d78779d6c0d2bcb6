"""Coarse to fine: a new search around the best trials of a finished comparison.

``dlcli compare --refine DIR [--top K] [--trials N]`` ranks DIR's completed trials by the
validation metric, takes the best K, and searches the span of their values again: widened on
each side by a quarter of the span (in decades for log-scale keys, and by at least a factor of
2 there), kept inside the old bounds for linear keys; a choice keeps the values the best K
used. The sweep file it makes is saved in the new compare folder (search.yaml) to run again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from dlcli.config import apply_sets
from dlcli.errors import UsageError
from dlcli.sweeps.plan import Plan
from dlcli.sweeps.search import Dist
from dlcli.sweeps.summary import Summary, value

MARGIN = 0.25  # of the best trials' span, on each side
MIN_DECADES = math.log10(2)  # a log-scale key's range grows by at least x2 on each side


def refine_plan(folder: Path, *, top: int = 5, trials: int | None = None,
                sets: Sequence[str] = (), storage: str | None = None,
                reuse: bool = True) -> tuple[Plan, str]:
    """The refined plan (its sweep file in ``plan.origin``) and a line saying what it searches."""
    from dlcli.sweeps.compare import finished_rows, load
    from dlcli.sweeps.files import build_plan

    old = load(folder, "--refine")
    if not old.grid_keys:
        raise UsageError(f"--refine {folder}: nothing was searched there (no search params or "
                         f"grid keys)")
    rows = list(finished_rows(folder, old).values())
    summary = Summary(folder, old.name, old.grid_keys, old.total, rows=rows)
    metric, higher = summary.metric
    ranked = [r for r in rows if r["status"] == "completed" and value(r, metric) is not None]
    if not ranked:
        raise UsageError(f"--refine {folder}: no completed trial to refine around")
    ranked.sort(key=lambda r: value(r, metric), reverse=higher)
    best = ranked[:top]
    params = {k: narrow(_old_dist(old, k), [r[k] for r in best]) for k in old.grid_keys}
    origin = _sweep_file(old, best, params, trials, sets)
    name = f"{old.name}-fine"
    plan = build_plan(origin, f"--refine {folder}", folder, name, storage=storage,
                      reuse=reuse)
    ranges = ", ".join(f"{k} {_show(params[k])}" for k in old.grid_keys)
    line = (f"refining {folder.name}: the best {len(best)} of {len(ranked)} completed trials by "
            f"{metric} span {ranges}")
    return replace(plan, origin=origin), line


def _sweep_file(old: Plan, best: list[dict[str, Any]], params: Mapping[str, Dist],
                trials: int | None, sets: Sequence[str]) -> dict[str, Any]:
    """The new search as a sweep file: the old recipe (base, variants, seeds) and search."""
    recipe = old.recipe or {}
    base = recipe.get("base")
    if base is None:  # a plan from before recipes were kept: the best run's own config
        base = next(v.raw for v in old.variants if v.index == best[0]["index"])
    search = old.search
    section: dict[str, Any] = {
        "trials": trials or (search.trials if search else len(old.variants)),
        "sampler": search.sampler if search else "random",
        "seed": search.seed if search else base.get("seed", 0),
        "params": {k: d.to_json() for k, d in params.items()},
        "pruner": search.pruner if search else None}
    out: dict[str, Any] = {"name": f"{old.name}-fine", "base": apply_sets(base, sets),
                           "search": section}
    if recipe.get("variants"):
        out["variants"] = recipe["variants"]
    if recipe.get("seeds"):
        out["seeds"] = recipe["seeds"]
    return out


def _old_dist(old: Plan, key: str) -> Dist:
    """The key's distribution in the old search, or one that fits a grid's values."""
    if old.search is not None and key in old.search.params:
        return old.search.params[key]
    values = [v.grid[key] for v in old.variants]
    numbers = [x for x in values if isinstance(x, (int, float)) and not isinstance(x, bool)]
    if len(numbers) < len(values) or len(set(numbers)) < 2:
        return Dist("choice", choices=tuple(dict.fromkeys(map(_hashable, values))))
    lo, hi = min(numbers), max(numbers)
    log = lo > 0 and hi / lo >= 10
    if all(isinstance(x, int) for x in numbers):
        return Dist("int", lo, hi, log=log)
    return Dist("loguniform" if log else "uniform", float(lo), float(hi))


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def narrow(dist: Dist, values: list[Any]) -> Dist:
    """The span of ``values`` under ``dist``, widened by the margin (see the module's doc)."""
    if dist.kind == "choice":
        kept = [c for c in dist.choices if any(c == v or _hashable(c) == _hashable(v)
                                               for v in values)]
        return Dist("choice", choices=tuple(list(c) if isinstance(c, tuple) else c
                                            for c in kept or dist.choices))
    lo, hi = float(min(values)), float(max(values))
    if dist.log_scale:
        decades = max(MARGIN * math.log10(hi / lo), MIN_DECADES)
        lo, hi = lo / 10 ** decades, hi * 10 ** decades
    else:
        pad = MARGIN * (hi - lo) if hi > lo else 0.1 * (dist.high - dist.low)
        lo, hi = max(lo - pad, dist.low), min(hi + pad, dist.high)
    if dist.kind == "int":
        return _int(dist, lo, hi)
    return Dist(dist.kind, lo, hi)


def _int(dist: Dist, lo: float, hi: float) -> Dist:
    """Whole bounds, outward; on the old steps; linear ones inside the old bounds."""
    step, first = dist.step or 1, int(dist.low)
    low, high = math.floor(lo), math.ceil(hi)
    if dist.log:
        low = max(low, 1)
    else:
        top = first + (int(dist.high) - first) // step * step  # the last value on the steps
        low = first + (max(low, first) - first) // step * step
        high = min(first - (first - high) // step * step, top)  # rounded up onto the steps
    if high <= low:  # one value left: a step either side, where there is room
        high = low + step
        if not dist.log and high > dist.high:
            low, high = low - step, low
    return Dist("int", low, high, log=dist.log, step=dist.step)


def _show(dist: Dist) -> str:
    if dist.kind == "choice":
        return f"choice {list(dist.choices)}"
    return f"{dist.kind}{' (log)' if dist.kind == 'int' and dist.log else ''} " \
           f"[{dist.low:.3g}, {dist.high:.3g}]"
