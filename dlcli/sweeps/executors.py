"""Where a comparison's variants run: in this process, in joblib worker processes (``--jobs``)
or on a Dask cluster (``--scheduler``), each yielding outcomes as variants finish.

A variant travels as plain data (its resolved config and its run folder) to :func:`run_variant`,
which trains it with ``runner.run`` exactly as ``dlcli train`` would (BLAS pinned to one thread
there, so the numbers are the same bit for bit in every mode) and returns the result dict. A
trial of an Optuna study also carries where the study is kept, so the worker reports to it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from dlcli.callbacks import now_iso, versions
from dlcli.config import validate
from dlcli.errors import DlcliError, EnvironmentFailure, UsageError
from dlcli.runs import write_json

Task = dict[str, Any]
Outcome = tuple[int, dict[str, Any]]  # (variant index, its result.json content)
Runner = Callable[[Iterable[Task]], Generator[Outcome, None, None]]
Display = Callable[[], Sequence[Any]]


def run_variant(task: Mapping[str, Any], callbacks: Sequence[Any] = (),
                threads: int = 1) -> Outcome:
    """The worker: train one variant into its run folder. Never raises for a failing variant: a
    run that cannot even start is recorded as failed (in its folder too) and the others go on.
    ``callbacks`` (a live display) only in this process: workers run without. ``threads``: of
    its matrix products (the numbers are the same bits for any count)."""
    from dlcli import runner
    from dlcli.runtime.blas import pin_blas_for_good

    # Pin BLAS for the whole worker process, not just this task: a Dask worker may run several
    # tasks in threads at once, and one task restoring the pool on exit must not un-pin another.
    pin_blas_for_good(1)
    run_dir = Path(task["run_dir"])
    listener = None
    if task.get("study"):  # a pruned search: report to the trial, stop when it says so
        from dlcli.sweeps.study import TrialListener

        listener = TrialListener(task["study"])
        callbacks = [*callbacks, listener]
    try:
        cfg = validate(task["config"], task["label"])
        if task.get("resume"):  # a variant stopped part-way: continue it from its checkpoint
            result = runner.resume(run_dir, command=task["command"], callbacks=callbacks,
                                   threads=threads)
        else:
            result = runner.run(cfg, run_dir=run_dir, command=task["command"],
                                callbacks=callbacks, threads=threads)
    except Exception as exc:  # one variant's crash must never stop the sweep
        return task["index"], _failed(run_dir, exc)
    if listener is not None and listener.note:
        result = {**result, "search_note": listener.note}
    return task["index"], result


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


def threads_per_variant(jobs: int, scheduler: str | None, threads: int | None) -> int:
    """Each variant's threads: what was asked, else the cores shared among the jobs (serial:
    all of them; --jobs J: cores // J, so jobs x threads <= cores); on a Dask cluster 1 (its
    workers set the parallelism). Any count gives the same numbers (dlcli.runtime.linalg)."""
    from dlcli.runtime.linalg import CORES

    if threads is not None:
        return threads
    return 1 if scheduler else max(1, CORES // max(1, jobs))


@contextmanager
def executor(jobs: int = 1, scheduler: str | None = None, connect_timeout: float = 10.0,
             display: Display | None = None, threads: int | None = None) -> Iterator[Runner]:
    """A function that runs tasks and yields their outcomes as they finish (in any order).

    Tasks may come from a generator (a search asking Optuna for its next trial): it is read
    only as workers free up. Connecting to a Dask scheduler happens here, before the caller
    writes anything. ``display()`` makes the callbacks that show a serial run's progress live.
    ``threads``: per variant (None: see :func:`threads_per_variant`).
    """
    if scheduler and jobs > 1:
        raise UsageError("--jobs and --scheduler: choose one (the cluster sets the parallelism)")
    each = threads_per_variant(jobs, scheduler, threads)
    if scheduler:
        with _dask_client(scheduler, connect_timeout):
            yield partial(_joblib, backend="dask", n_jobs=-1, threads=each)
    elif jobs > 1:
        yield partial(_joblib, backend="loky", n_jobs=jobs, threads=each)
    else:
        yield partial(_serial, display=display, threads=each)


def _serial(tasks: Iterable[Task], display: Display | None = None, threads: int = 1
            ) -> Generator[Outcome, None, None]:
    for task in tasks:
        yield run_variant(task, display() if display else (), threads)


def _joblib(tasks: Iterable[Task], *, backend: str, n_jobs: int, threads: int = 1
            ) -> Generator[Outcome, None, None]:
    from joblib import Parallel, delayed, parallel_config

    with parallel_config(backend=backend, n_jobs=n_jobs):
        # One task per variant, results as they finish; closing the generator aborts the rest.
        # pre_dispatch n_jobs: a search's next trial is asked when a worker is free, not before.
        outcomes = Parallel(return_as="generator_unordered", batch_size=1,
                            pre_dispatch="n_jobs")(delayed(run_variant)(task, threads=threads)
                                                   for task in tasks)
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
    except (ValueError, TypeError) as exc:  # not an address at all
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"--scheduler {address}: not a Dask scheduler address ({reason}); "
                         f"expected tcp://HOST:PORT") from None
    except (OSError, TimeoutError) as exc:  # the environment: nobody answers there
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EnvironmentFailure(f"--scheduler {address}: cannot reach the Dask scheduler "
                                 f"({reason})") from None
    with client:
        yield
