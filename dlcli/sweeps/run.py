"""Running a plan into its compare folder: every variant not done yet, each row written as it
arrives (a search asked of Optuna, or pruned, through :mod:`dlcli.sweeps.search_run`), then the
end of the comparison: plots, summaries, report.html and, when asked, MLflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

from dlcli.runs import folder_lock
from dlcli.sweeps.compare import OnRow, Rows, clear, resumable, reuse_runs, survive, task
from dlcli.sweeps.executors import Runner
from dlcli.sweeps.plan import Plan
from dlcli.sweeps.summary import Summary, make_row
from dlcli.sweeps.tables import write_summary


def run_plan(plan: Plan, folder: Path, runner: Runner, *,
             done: Mapping[int, dict[str, Any]] | None = None, fail_fast: bool = False,
             sort: str | None = None, on_row: OnRow | None = None, command: str = "",
             mlflow: str | None = None) -> Summary:
    """Run every variant not in ``done``; each row is written to the summaries as it arrives.
    ``command`` (the compare command line) goes into each run's result.json; ``mlflow``: a
    tracking URI the finished comparison is logged to."""
    done = done or {}
    with folder_lock(folder, "in use by another dlcli compare"):
        summary = Summary(folder, plan.name, plan.grid_keys, plan.total,
                          rows=[done[i] for i in sorted(done)])
        write_summary(summary, sort)
        rows = Rows(summary, sort, on_row, fail_fast)
        try:
            if plan.needs_study:
                from dlcli.sweeps.search_run import run_study

                run_study(plan, folder, runner, done, rows, command)
            else:
                _run_pending(plan, folder, runner, done, rows, command)
        except KeyboardInterrupt:
            summary.interrupted = True
        finish(summary, plan, sort, mlflow)
        return summary


def _run_pending(plan: Plan, folder: Path, runner: Runner, done: Mapping[int, dict[str, Any]],
                 rows: Rows, command: str) -> None:
    pending = [v for v in plan.variants if v.index not in done]
    reused = reuse_runs(plan, folder, pending)
    for row in reused:
        if rows.add(row):
            return
    linked = {row["index"] for row in reused}
    pending = [v for v in pending if v.index not in linked]
    again = {v.index for v in pending if resumable(folder / v.folder, v)}
    for v in pending:
        if v.index not in again:
            clear(folder / v.folder)
    by_index = {v.index: v for v in plan.variants}
    tasks = [task(folder, v, command, v.index in again) for v in pending]
    with closing(runner(tasks)) as outcomes:
        for index, result in survive(outcomes, rows.summary):
            if rows.add(make_row(by_index[index], result)):
                break


def finish(summary: Summary, plan: Plan, sort: str | None = None,
           mlflow: str | None = None) -> None:
    """The end of a comparison, once every row is in (or it was interrupted): the plots, then
    the summaries once more (they link the plots, or say interrupted), then what reads the
    whole folder: report.html, and the MLflow export when asked. None of these can cost the
    comparison its results: a failure is a note."""
    if not summary.interrupted:
        _plots(summary, plan)
    write_summary(summary, sort)
    try:
        from dlcli.report.page import write_report

        write_report(summary.folder)
    except Exception as exc:
        summary.notes.append(f"report.html not written: {type(exc).__name__}: {exc}")
    if mlflow:
        from dlcli.tracking.export import try_export_compare

        try_export_compare(summary.folder, mlflow)


def _plots(summary: Summary, plan: Plan) -> None:
    from dlcli.viz.plots import compare_plots

    try:
        compare_plots(summary)
        if plan.search is not None:
            from dlcli.sweeps.plots import search_plots

            search_plots(summary, plan.search)
    except Exception as exc:  # the results are on disk already; a plot is a nicety
        summary.notes.append(f"plots not written: {type(exc).__name__}: {exc}")
