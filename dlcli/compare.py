"""Run a sweep's variants into one compare folder: in this process, in joblib worker processes
or on a Dask cluster; write each finished variant's row at once; resume what is missing.

A variant travels as plain data (its resolved config and its run folder) to :func:`run_variant`,
which trains it with ``api.train`` exactly as ``dlcli train`` would (BLAS pinned to one thread
there, so the numbers are the same bit for bit in every mode) and returns the result dict.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from dlcli import safe_yaml
from dlcli.callbacks import now_iso, versions
from dlcli.config import validate
from dlcli.errors import DlcliError, UsageError
from dlcli.report import Summary, make_row, write_summary
from dlcli.runs import create_run_dir, folder_lock, read_json, write_json
from dlcli.sweep import Plan, Variant, config_hash

SWEEP_FILE = "sweep.json"
Task = dict[str, Any]
Outcome = tuple[int, dict[str, Any]]  # (variant index, its result.json content)
Runner = Callable[[list[Task]], Generator[Outcome, None, None]]
OnRow = Callable[[dict[str, Any], Summary], None]
Display = Callable[[], Sequence[Any]]


def run_variant(task: Mapping[str, Any], callbacks: Sequence[Any] = ()) -> Outcome:
    """The worker: train one variant into its run folder. Never raises for a failing variant: a
    run that cannot even start is recorded as failed (in its folder too) and the others go on.
    ``callbacks`` (a live display) only in this process: workers run without."""
    from dlcli import runner
    from dlcli.blas import pin_blas_for_good

    # Pin BLAS for the whole worker process, not just this task: a Dask worker may run several
    # tasks in threads at once, and one task restoring the pool on exit must not un-pin another.
    pin_blas_for_good(1)
    run_dir = Path(task["run_dir"])
    try:
        cfg = validate(task["config"], task["label"])
        if task.get("resume"):  # a variant stopped part-way: continue it from its checkpoint
            return task["index"], runner.resume(run_dir, command=task["command"],
                                                callbacks=callbacks)
        return task["index"], runner.run(cfg, run_dir=run_dir, command=task["command"],
                                         callbacks=callbacks)
    except Exception as exc:  # one variant's crash must never stop the sweep
        return task["index"], _failed(run_dir, exc)


def _failed(run_dir: Path, exc: Exception) -> dict[str, Any]:
    text = str(exc) if isinstance(exc, DlcliError) else f"{type(exc).__name__}: {exc}"
    result = {"run_dir": str(run_dir), "status": "failed", "error": text.strip().splitlines()[0],
              "metrics": {}, "iterations": 0, "wall_time_s": 0.0, "versions": versions(),
              "ended_at": now_iso()}
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "result.json", result)
    except OSError:
        pass  # the row in summary.csv still records the failure
    return result


# --------------------------------------------------------------------------- executors


@contextmanager
def executor(jobs: int = 1, scheduler: str | None = None, connect_timeout: float = 10.0,
             display: Display | None = None) -> Iterator[Runner]:
    """A function that runs tasks and yields their outcomes as they finish (in any order).

    Connecting to a Dask scheduler happens here, before the caller writes anything.
    ``display()`` makes the callbacks that show a serial run's progress live.
    """
    if scheduler and jobs > 1:
        raise UsageError("--jobs and --scheduler: choose one (the cluster sets the parallelism)")
    if scheduler:
        with _dask_client(scheduler, connect_timeout):
            yield partial(_joblib, backend="dask", n_jobs=-1)
    elif jobs > 1:
        yield partial(_joblib, backend="loky", n_jobs=jobs)
    else:
        yield partial(_serial, display=display)


def _serial(tasks: list[Task], display: Display | None = None
            ) -> Generator[Outcome, None, None]:
    for task in tasks:
        yield run_variant(task, display() if display else ())


def _joblib(tasks: list[Task], *, backend: str, n_jobs: int) -> Generator[Outcome, None, None]:
    from joblib import Parallel, delayed, parallel_config

    with parallel_config(backend=backend, n_jobs=n_jobs):
        # One task per variant, results as they finish; closing the generator aborts the rest.
        outcomes = Parallel(return_as="generator_unordered", batch_size=1)(
            delayed(run_variant)(task) for task in tasks)
        with closing(outcomes):
            yield from outcomes


@contextmanager
def _dask_client(address: str, timeout: float) -> Iterator[None]:
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--scheduler needs Dask: pip install 'dlcli[dask]'") from None
    try:
        client = Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"--scheduler {address}: cannot reach the Dask scheduler ({reason})"
                         ) from None
    with client:
        yield


# --------------------------------------------------------------------------- the compare folder


def start(plan: Plan, out: str | Path, command: str) -> Path:
    """Claim ``<out>/compare-<stamp>-<name>-<hex>/`` and freeze the plan into sweep.json."""
    folder = create_run_dir(out, plan.name, prefix="compare-")
    write_json(folder / SWEEP_FILE, {**plan.to_json(), "created_at": now_iso(),
                                     "command": command, "versions": versions()})
    return folder


def load(folder: str | Path) -> Plan:
    path = Path(folder) / SWEEP_FILE
    if not path.is_file():
        raise UsageError(f"--resume {folder}: no {SWEEP_FILE} there; expected a compare folder")
    try:
        return Plan.from_json(read_json(path))
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"--resume {folder}: {SWEEP_FILE} is damaged ({exc})") from None


def finished_rows(folder: Path, plan: Plan) -> dict[int, dict[str, Any]]:
    """The rows of variants whose run folder holds a completed result of the same config."""
    rows = {}
    for v in plan.variants:
        run = folder / v.folder
        try:
            result = read_json(run / "result.json")
            config = safe_yaml.load((run / "config.yaml").read_text(encoding="utf-8"),
                                    str(run / "config.yaml"))
        except (OSError, ValueError, DlcliError):
            continue
        if not isinstance(result, dict):
            continue
        if result.get("status") == "completed" and config_hash(config) == v.hash:
            rows[v.index] = make_row(v, result)
    return rows


def _resumable(run: Path, v: Variant) -> bool:
    """A variant stopped part-way (killed, interrupted) that can continue from its checkpoint:
    one of this very config, not yet at its end, and not failed or diverged."""
    from dlcli.checkpoint import FILE

    if not (run / FILE).is_file():
        return False
    try:
        config = safe_yaml.load((run / "config.yaml").read_text(encoding="utf-8"),
                                str(run / "config.yaml"))
    except (OSError, ValueError, DlcliError):
        return False
    if not isinstance(config, dict) or config_hash(config) != v.hash:
        return False
    try:
        status = read_json(run / "result.json").get("status")
    except (OSError, ValueError, AttributeError):
        status = None  # killed before it could write one
    return status in (None, "interrupted")


def _task(folder: Path, v: Variant, command: str) -> Task:
    return {"index": v.index, "label": v.label, "config": v.raw,
            "run_dir": str(folder / v.folder), "command": command}


def run_plan(plan: Plan, folder: Path, runner: Runner, *,
             done: Mapping[int, dict[str, Any]] | None = None, fail_fast: bool = False,
             sort: str | None = None, on_row: OnRow | None = None, command: str = "") -> Summary:
    """Run every variant not in ``done``; each row is written to the summaries as it arrives.
    ``command`` (the compare command line) goes into each run's result.json."""
    busy = "in use by another dlcli compare"
    with folder_lock(folder, busy):
        return _run_pending(plan, folder, runner, done or {}, fail_fast, sort, on_row, command)


def _run_pending(plan: Plan, folder: Path, runner: Runner, done: Mapping[int, dict[str, Any]],
                 fail_fast: bool, sort: str | None, on_row: OnRow | None, command: str
                 ) -> Summary:
    summary = Summary(folder, plan.name, plan.grid_keys, len(plan.variants),
                      rows=[done[i] for i in sorted(done)])
    pending = [v for v in plan.variants if v.index not in done]
    resumable = {v.index for v in pending if _resumable(folder / v.folder, v)}
    for v in pending:  # an unfinished earlier attempt without a checkpoint: started again
        if v.index not in resumable:
            shutil.rmtree(folder / v.folder, ignore_errors=True)
    by_index = {v.index: v for v in plan.variants}
    write_summary(summary, sort)
    tasks = [{**_task(folder, v, command), "resume": v.index in resumable} for v in pending]
    try:
        with closing(runner(tasks)) as outcomes:
            for index, result in _survive(outcomes, summary):
                row = make_row(by_index[index], result)
                _add(summary, row, sort)
                if on_row:
                    on_row(row, summary)
                if row["status"] == "interrupted":
                    summary.interrupted = True
                if summary.interrupted or (fail_fast and row["status"] != "completed"):
                    break
    except KeyboardInterrupt:
        summary.interrupted = True
    if not summary.interrupted:
        _plots(summary)
    write_summary(summary, sort)  # says interrupted, or links the plots
    return summary


def _survive(outcomes: Iterator[Outcome], summary: Summary) -> Iterator[Outcome]:
    """The outcomes until the executor itself breaks (a worker process killed, say, by the
    out-of-memory killer, or the Dask scheduler gone): then a note, and the rows so far stand;
    the variants left are what ``--resume`` runs."""
    while True:
        try:
            outcome = next(outcomes)
        except StopIteration:
            return
        except Exception as exc:
            text = (str(exc).strip().splitlines() or [""])[0]
            summary.notes.append(f"the workers stopped: {type(exc).__name__}: {text}")
            return
        yield outcome


def _add(summary: Summary, row: dict[str, Any], sort: str | None) -> None:
    summary.rows = sorted([*summary.rows, row], key=lambda r: r["index"])
    write_summary(summary, sort)


def _plots(summary: Summary) -> None:
    from dlcli.plots import compare_plots

    try:
        compare_plots(summary)
    except Exception as exc:  # the results are on disk already; a plot is a nicety
        summary.notes.append(f"plots not written: {type(exc).__name__}: {exc}")
