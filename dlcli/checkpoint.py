"""``checkpoint.npz``: the training state as data, written atomically and read back as hostile.

A checkpoint holds what :func:`dlcli.train.train` needs to continue a run to the same bits: the
strategy's state (a dataclass of :mod:`dlcli.strategies`: weights, the update rule's buffers,
the best so far, the fixed rows), the random generator's ``bit_generator.state``, the loop's
watch (first loss, best validation score and weights, patience, lowest loss, loss evaluations,
elapsed time) and facts about the run folder (metrics.csv's length at that moment, the
segments so far). Arrays are ``.npy`` members of an uncompressed zip; everything else is one
JSON member, ``meta``. Nothing in the file names a class or a callable: the strategy's name
picks its state class from a registry, and every array is checked against the shapes the
model and data give before it is used.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dlcli import __version__
from dlcli.errors import DataError
from dlcli.runs import write_atomic

FILE = "checkpoint.npz"
FORMAT = 1  # bump when the layout changes: an older checkpoint is then refused, not misread
SEP = ":"
_DTYPES = ("float32", "float64", "int64")
_MAX_MEMBERS = 10_000


def pack(tree: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Split a nested mapping (dataclasses included) into JSON-able scalars and named arrays:
    ``{"state": {"x": {"W": arr}, "iteration": 3}}`` -> ``({"state": {"iteration": 3,
    "x": {}}}, {"state:x:W": arr})``."""
    arrays: dict[str, np.ndarray] = {}

    def walk(value: Any, key: str) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        if isinstance(value, Mapping):
            return {str(k): walk(v, f"{key}{SEP}{k}" if key else str(k)) for k, v in
                    value.items()}
        if isinstance(value, np.ndarray):
            arrays[key] = value
            return {"__array__": key}
        if isinstance(value, (np.floating, np.integer)):
            return value.item()
        if isinstance(value, float) and not np.isfinite(value):
            return {"__float__": repr(value)}  # JSON has no inf/nan
        if isinstance(value, (list, tuple)):
            return [walk(v, f"{key}{SEP}{i}") for i, v in enumerate(value)]
        return value

    return walk(tree, ""), arrays


def unpack(meta: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """The inverse of :func:`pack` (dataclasses come back as dicts)."""
    if isinstance(meta, dict):
        if set(meta) == {"__array__"}:
            return arrays[meta["__array__"]]
        if set(meta) == {"__float__"}:
            return float(meta["__float__"])
        return {k: unpack(v, arrays) for k, v in meta.items()}
    if isinstance(meta, list):
        return [unpack(v, arrays) for v in meta]
    return meta


def save(path: Path, tree: Mapping[str, Any]) -> None:
    """Write ``tree`` (with ``format`` and ``dlcli`` version added) atomically to ``path``."""
    meta, arrays = pack({**tree, "format": FORMAT, "dlcli": __version__})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("meta.json", json.dumps(meta))
        for name, arr in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(f"{name}.npy", member.getvalue())
    write_atomic(path, buf.getvalue(), durable=False)  # atomic; fsync is for results


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint as a nested dict; anything unexpected is a one-line DataError.

    Bounded by the file: members must be stored (not compressed) and no larger than the file,
    arrays plain float32/float64/int64 (no objects, no pickles), the JSON a mapping."""
    where = str(path)
    try:
        size = path.stat().st_size
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > _MAX_MEMBERS:
                raise DataError(f"{where}: {len(infos)} members; not a dlcli checkpoint")
            if len({i.filename for i in infos}) != len(infos):
                raise DataError(f"{where}: a member name appears twice; not a dlcli checkpoint")
            for info in infos:
                if info.compress_type != zipfile.ZIP_STORED or info.file_size > size:
                    raise DataError(f"{where}: member {info.filename!r} is compressed or "
                                    f"larger than the file; not a dlcli checkpoint")
            meta = json.loads(zf.read("meta.json"))
            arrays = {i.filename[:-4]: _array(zf, i, where) for i in infos
                      if i.filename.endswith(".npy")}
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{where}: no such file") from None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError, RecursionError) as exc:
        raise DataError(f"{where}: not a readable checkpoint, truncated or corrupt "
                        f"({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{where}: not a dlcli checkpoint (no meta mapping)")
    if meta.get("format") != FORMAT:
        raise DataError(f"{where}: checkpoint format {meta.get('format')!r} written by dlcli "
                        f"{meta.get('dlcli', '?')}; this dlcli {__version__} reads format "
                        f"{FORMAT} only: start the run again")
    try:
        tree = unpack(meta, arrays)
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{where}: checkpoint refers to a missing array; corrupt") from None
    return dict(tree)


def _array(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise DataError(f"{where}: array {info.filename!r} in .npy format {version}")
        if dtype.name not in _DTYPES or fortran:
            raise DataError(f"{where}: array {info.filename!r} of {dtype} "
                            f"{'(Fortran order)' if fortran else ''}; expected plain "
                            f"{', '.join(_DTYPES)}")
        count = int(np.prod(shape, dtype=np.int64))
        if count * dtype.itemsize > info.file_size:
            raise DataError(f"{where}: array {info.filename!r} claims {shape} but its member "
                            f"holds {info.file_size} bytes; truncated or corrupt")
        data = fh.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise DataError(f"{where}: array {info.filename!r} is truncated")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def expect(arr: Any, shape: tuple[int, ...], dtype: Any, what: str, where: str
           ) -> np.ndarray:
    """``arr`` if it is an array of ``shape`` and ``dtype``, else a one-line DataError."""
    if not isinstance(arr, np.ndarray) or arr.shape != tuple(shape) or arr.dtype != dtype:
        got = (f"{arr.dtype} {arr.shape}" if isinstance(arr, np.ndarray)
               else type(arr).__name__)
        raise DataError(f"{where}: {what} is {got}, expected {np.dtype(dtype)} {tuple(shape)}; "
                        f"the checkpoint does not fit this run")
    return arr


def restore(tree: Mapping[str, Any], template: Mapping[str, np.ndarray], n_train: int,
            where: str) -> Any:
    """A :class:`dlcli.train.Snapshot` from a loaded checkpoint, every value checked against
    the run: ``template`` is the model's initial params (names, shapes, dtypes), ``n_train``
    bounds the row indices."""
    from dlcli.events import Snapshot
    from dlcli.strategies import STATES, DescentState, LocalSearchState, RandomSearchState
    from dlcli.watch import Watch

    name = tree.get("strategy")
    if name not in STATES:
        raise DataError(f"{where}: strategy {name!r} is not one of {', '.join(STATES)}")
    iteration = _int(tree.get("iteration"), "iteration", where)
    raw = _mapping(tree.get("state"), "state", where)
    if _int(raw.get("iteration"), "state.iteration", where) != iteration:
        raise DataError(f"{where}: state.iteration disagrees with iteration {iteration}")
    cls = STATES[name]
    rows = _rows(raw.get("rows"), n_train, where)
    state: Any
    if cls is RandomSearchState:
        state = cls(iteration, _params(raw.get("bestW"), template, "bestW", where),
                    _float(raw.get("bestloss"), "bestloss", where), rows)
        # the loop saved its rng_state as the checkpoint's generator state: start there
    elif cls is LocalSearchState:
        state = cls(iteration, _params(raw.get("W"), template, "W", where),
                    _float(raw.get("bestloss"), "bestloss", where), rows)
    else:
        x = _params(raw.get("x"), template, "x", where, float64_ok=True)
        rule = {k: _rule(v, x[k], f"rule.{k}", where)
                for k, v in _mapping(raw.get("rule"), "rule", where).items() if k in x}
        state = DescentState(iteration, x, rule, rows)
    return Snapshot(name, iteration, state, _mapping(tree.get("rng"), "rng", where),
                    _watch(_mapping(tree.get("watch"), "watch", where), template, where, Watch))


def _watch(raw: Mapping[str, Any], template: Mapping[str, np.ndarray], where: str,
           cls: Any) -> Any:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        v = raw.get(f.name, f.default)
        if f.name == "best_params":
            values[f.name] = None if v is None else _params(v, template, "watch.best_params",
                                                            where)
        elif f.name in ("best_iteration",) or f.name == "first_loss":
            values[f.name] = None if v is None else _float(v, f"watch.{f.name}", where)
        elif f.name in ("waited", "loss_evals"):
            values[f.name] = _int(v, f"watch.{f.name}", where)
        else:
            values[f.name] = _float(v, f"watch.{f.name}", where)
    if values["best_iteration"] is not None:
        values["best_iteration"] = int(values["best_iteration"])
    return cls(**values)


def _mapping(v: Any, what: str, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise DataError(f"{where}: {what} is missing or not a mapping; corrupt checkpoint")
    return v


def _int(v: Any, what: str, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise DataError(f"{where}: {what} is {v!r}, expected a count; corrupt checkpoint")
    return v


def _float(v: Any, what: str, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise DataError(f"{where}: {what} is {v!r}, expected a number; corrupt checkpoint")
    return float(v)


def _params(v: Any, template: Mapping[str, np.ndarray], what: str, where: str,
            float64_ok: bool = False) -> dict[str, np.ndarray]:
    got = _mapping(v, what, where)
    if set(got) != set(template):
        raise DataError(f"{where}: {what} holds {sorted(got)}, this model has "
                        f"{sorted(template)}; the checkpoint does not fit this run")
    out = {}
    for k, t in template.items():
        arr = got[k]
        dtype = np.dtype(np.float64) if float64_ok and isinstance(arr, np.ndarray) and \
            arr.dtype == np.float64 else t.dtype
        out[k] = expect(arr, t.shape, dtype, f"{what}.{k}", where)
    return out


def _rule(v: Any, like: np.ndarray, what: str, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, arr in _mapping(v, what, where).items():
        if k == "t":
            out[k] = _int(arr, f"{what}.t", where)
        else:
            out[k] = expect(arr, like.shape, like.dtype, f"{what}.{k}", where)
    return out


def _rows(v: Any, n_train: int, where: str) -> np.ndarray | None:
    if v is None:
        return None
    if not isinstance(v, np.ndarray) or v.ndim != 1 or v.dtype != np.int64 or (
            v.size and (v.min() < 0 or v.max() >= n_train)):
        raise DataError(f"{where}: state.rows are not row indices of the {n_train:,} training "
                        f"rows; the checkpoint does not fit this run")
    return v


def config_key(config: Mapping[str, Any]) -> str:
    """A hash of a resolved config, ``strategy.iterations`` left out (``--iterations`` may
    extend a run): a checkpoint continues only the config it was written for."""
    import hashlib

    strategy = {k: v for k, v in dict(config.get("strategy") or {}).items()
                if k != "iterations"}
    text = json.dumps({**config, "strategy": strategy}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
