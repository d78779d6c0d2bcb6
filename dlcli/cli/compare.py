"""``dlcli compare``: run a sweep (or a config with --strategy/--grid shortcuts), print the table.

A thin command: parse options, call :func:`dlcli.api.compare` / :func:`dlcli.api.resume`, print.
Exit codes go through :func:`dlcli.cli.guarded` (imported late: cli.py imports this module).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from dlcli.sweeps.summary import Summary

FileArg = Annotated[Path | None, typer.Argument(
    help="A sweep file, or a plain config to vary with --strategy/--grid/--seed/--sample.",
    show_default=False)]
ResumeOpt = Annotated[Path | None, typer.Option(
    "--resume", help="A compare folder: run only its variants that have not completed.",
    show_default=False)]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", "-s", help="Override a key of the base config: KEY.PATH=VALUE; repeatable.")]
StrategyOpt = Annotated[list[str] | None, typer.Option(
    "--strategy", help="One variant per strategy (with the base's settings); repeatable.")]
GridOpt = Annotated[list[str] | None, typer.Option(
    "--grid", help="A grid over one key: KEY.PATH=V1,V2,...; repeatable (the product).")]
SeedOpt = Annotated[list[int] | None, typer.Option(
    "--seed", min=0, help="Run every variant with this seed; repeatable (mean ± std).")]
SampleOpt = Annotated[list[str] | None, typer.Option(
    "--sample", help="A random search over one key: KEY=DIST:LOW,HIGH (DIST: uniform, "
                     "loguniform, int, choice), e.g. strategy.lr=loguniform:1e-8,1e-5; "
                     "repeatable; with --trials.")]
TrialsOpt = Annotated[int | None, typer.Option(
    "--trials", min=1, help="How many trials a search runs (with --sample, or over a search "
                            "file's, or a refined search's).", show_default=False)]
StorageOpt = Annotated[str | None, typer.Option(
    help="Keep an Optuna search's study there (an RDB URL such as sqlite:///study.db, or a "
         "journal file), so several machines search one study; default: the compare "
         "folder's study.journal.", show_default=False)]
RefineOpt = Annotated[Path | None, typer.Option(
    "--refine", help="A finished search (or grid): search again around its best --top "
                     "trials by validation (coarse to fine).", show_default=False)]
TopOpt = Annotated[int | None, typer.Option(
    "--top", min=1, help="With --refine: how many of the best trials the new ranges span "
                         "[default: 5].", show_default=False)]
RerunOpt = Annotated[bool, typer.Option(
    "--rerun", help="Run variants again even when a completed run of the same config exists "
                    "under --out (default: reuse it).")]
OutOpt = Annotated[Path | None, typer.Option(
    "--out", "-o", help="Where the compare folder goes [default: runs; with --refine: beside "
                        "the refined folder].", show_default=False)]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes (joblib).")]
SchedulerOpt = Annotated[str | None, typer.Option(
    help="Run on a Dask cluster: its scheduler address, tcp://HOST:PORT.", show_default=False)]
TimeoutOpt = Annotated[float, typer.Option(
    "--connect-timeout", min=0.1, help="Seconds to wait for the Dask scheduler.")]
FailFastOpt = Annotated[bool, typer.Option(
    "--fail-fast", help="Stop at the first variant that fails or diverges.")]
SortOpt = Annotated[str | None, typer.Option(
    help="Sort the table by this column, e.g. test_accuracy (default: the validation metric, "
         "best first: choose on validation, report test once); -KEY reverses.",
    show_default=False)]
CompareThreadsOpt = Annotated[int | None, typer.Option(
    "--threads", min=1, metavar="N", show_default="the cores shared among the jobs",
    help="Threads per variant for its matrix products (a Dask cluster: 1). The numbers do not "
         "depend on it.")]
MlflowOpt = Annotated[str | None, typer.Option(
    "--mlflow", envvar="DLCLI_MLFLOW_URI", metavar="URI", show_default=False,
    help="Also log the comparison to this MLflow tracking URI at the end (a parent run, one "
         "nested run per variant); an unreachable server only warns.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No line per finished variant.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="The summary as JSON on stdout.")]
FINE = ("completed", "pruned")  # a pruned trial did what a search asks of it
COLOURS = {"completed": "green", "pruned": "yellow"}  # anything else: red


def compare(file: FileArg = None, resume: ResumeOpt = None, refine: RefineOpt = None,
            set_: SetOpt = None, strategy: StrategyOpt = None, grid: GridOpt = None,
            seed: SeedOpt = None, sample: SampleOpt = None, trials: TrialsOpt = None,
            top: TopOpt = None, storage: StorageOpt = None, rerun: RerunOpt = False,
            out: OutOpt = None, jobs: JobsOpt = 1, scheduler: SchedulerOpt = None,
            connect_timeout: TimeoutOpt = 10.0, fail_fast: FailFastOpt = False,
            sort: SortOpt = None, quiet: QuietOpt = False, as_json: JsonOpt = False,
            threads: CompareThreadsOpt = None, mlflow: MlflowOpt = None) -> None:
    """Run several variants on the same data and start; one table, summaries and plots.

    Writes runs/compare-<UTC stamp>-<name>-<6 hex>/: one run folder per variant, sweep.json,
    summary.csv/.json/.md, loss.png and metric.png (a search: also search-*.png) and
    report.html. A variant that already completed under --out is linked, not run again
    (--rerun runs it). Exit 0 all
    completed (or pruned), 1 any failed or diverged, 2 bad sweep (nothing runs), 130
    interrupted (143 after SIGTERM; resume with --resume DIR).
    """
    from dlcli import api
    from dlcli.cli.common import err_console, guarded

    guarded(lambda: _check(file, resume, refine, top, {
        "--set": set_, "--strategy": strategy, "--grid": grid, "--seed": seed,
        "--sample": sample, "--trials": trials, "--storage": storage, "--rerun": rerun}))
    root = out or (refine.parent if refine is not None else Path("runs"))
    words = [str(file) if file else f"--resume={resume}" if resume else f"--refine={refine}",
             *(["--out", str(root)] if resume is None else [])]
    for flag, values in (("--set", set_), ("--strategy", strategy), ("--grid", grid),
                         ("--seed", seed), ("--sample", sample), ("--trials", trials),
                         ("--top", top), ("--storage", storage)):
        items = values if isinstance(values, list) else [] if values is None else [values]
        words += [w for v in items for w in (flag, str(v))]
    words += ["--rerun"] if rerun else []
    if mlflow:
        from dlcli.tracking.export import require

        guarded(require)  # the extra is there, before anything runs
    guarded(lambda: _check_threads(jobs, threads))
    runner: dict[str, Any] = dict(
        threads=threads, mlflow=mlflow,
        jobs=jobs, scheduler=scheduler, connect_timeout=connect_timeout, fail_fast=fail_fast,
        sort=sort, on_row=None if quiet else _progress(err_console),
        display=_live(err_console) if not quiet and err_console.is_terminal else None,
        command=shlex.join(["dlcli", "compare", *words]))  # what reproduces its runs
    if resume is not None:
        guarded(lambda: _check_sort_of(resume, sort))
        err_console.print(f"resuming {resume}", highlight=False, markup=False)
        summary = guarded(lambda: api.resume(resume, **runner))
    else:
        plan = guarded(lambda: _plan(file, refine, top, trials, set_ or [], strategy or [],
                                     grid or [], seed or [], sample or [], storage, rerun))
        guarded(lambda: _check_sort_plan(plan, sort))
        mode = (f"on {scheduler}" if scheduler else f"with {jobs} jobs" if jobs > 1
                else "serially")
        err_console.print(f"{_doing(plan)} {mode}", highlight=False, markup=False)
        summary = guarded(lambda: api.compare(plan, out=root, **runner))
    _finish(summary, sort, as_json)


def _check_threads(jobs: int, threads: int | None) -> None:
    """Asked for more threads than the cores the jobs share: allowed (it was asked), said."""
    from dlcli.cli.common import err_console
    from dlcli.runtime.linalg import CORES

    if threads is not None and jobs * threads > CORES:
        err_console.print(f"note: --jobs {jobs} x --threads {threads} is more threads than the "
                          f"{CORES} cores here; they will share them", highlight=False,
                          markup=False)


def _check(file: Path | None, resume: Path | None, refine: Path | None, top: int | None,
           given: dict[str, Any]) -> None:
    from dlcli.errors import UsageError

    if sum(x is not None for x in (file, resume, refine)) != 1:
        raise UsageError("give a sweep or config FILE, --resume DIR or --refine DIR (one of "
                         "the three)")
    used = [flag for flag, v in given.items() if v]
    if resume is not None and used:
        raise UsageError(f"--resume runs the frozen sweep as it was; {used[0]} does not apply")
    shaping = [f for f in used if f in ("--strategy", "--grid", "--seed", "--sample")]
    if refine is not None and shaping:
        raise UsageError(f"--refine makes its search from the refined folder; {shaping[0]} "
                         f"does not apply (--set, --trials, --storage and --rerun do)")
    if top is not None and refine is None:
        raise UsageError("--top goes with --refine DIR")


def _plan(file: Path | None, refine: Path | None, top: int | None, trials: int | None,
          sets: list[str], strategies: list[str], grid: list[str], seeds: list[int],
          samples: list[str], storage: str | None, rerun: bool) -> Any:
    from dlcli import api
    from dlcli.cli.common import err_console

    if refine is not None:
        from dlcli.sweeps.refine import refine_plan

        plan, line = refine_plan(refine, top=top or 5, trials=trials, sets=sets,
                                 storage=storage, reuse=not rerun)
        err_console.print(line, highlight=False, markup=False, soft_wrap=True)
        return plan
    assert file is not None  # _check: exactly one of the three
    return api.load_plan(file, sets=sets, grid=grid, strategies=strategies, seeds=seeds,
                         samples=samples, trials=trials, storage=storage, reuse=not rerun)


def _doing(plan: Any) -> str:
    """``comparing 6 variants of strategies`` or ``searching svm-search: 30 trials (tpe,
    pruner halving)``."""
    n = plan.total
    if plan.search is None:
        return f"comparing {n} variant{'s' if n != 1 else ''} of {plan.name}"
    s = plan.search
    how = s.sampler + (f", pruner {s.pruner}" if s.pruner else "")
    return f"searching {plan.name}: {n} trial{'s' if n != 1 else ''} ({how})"


def _check_sort_plan(plan: Any, sort: str | None) -> None:
    from dlcli.sweeps.search_check import probe_config
    from dlcli.sweeps.tables import check_sort, plan_metrics

    configs = [v.config for v in plan.variants] or [probe_config(plan)]
    check_sort(sort, plan.grid_keys, plan_metrics(configs))


def _check_sort_of(folder: Path, sort: str | None) -> None:
    """--sort on --resume: a column the frozen sweep's runs have (its metrics by task)."""
    from dlcli.sweeps.compare import load

    if sort is not None:
        plan = load(folder)
        _check_sort_plan(plan, sort)


def _live(console: Any) -> Any:
    """On a terminal, a serial run's variant shows dlcli train's live bar while it runs."""
    def make() -> list[Any]:
        from dlcli.callbacks import LiveProgress

        return [LiveProgress(console)]

    return make


def _progress(console: Any) -> Any:
    def on_row(row: dict[str, Any], summary: Summary) -> None:
        from rich.markup import escape

        from dlcli.sweeps.summary import fmt, value

        metric, _ = summary.metric
        figures = [f"{k} {fmt(k, value(row, k))}" for k in (metric, summary.report_key)
                   if k is not None and k != "final_loss"]
        status, colour = row["status"], COLOURS.get(row["status"], "red")
        if row.get("reused"):
            status = f"reused {row['reused']}"
        console.print(
            f"\\[{len(summary.rows)}/{summary.total}] {escape(row['label'])}  "
            f"[{colour}]{escape(status)}[/]  {'  '.join(figures + [''])}"
            f"loss {fmt('final_loss', value(row, 'final_loss'))}  "
            f"{fmt('wall_time_s', row['wall_time_s'])}s", highlight=False, soft_wrap=True)

    return on_row


def _finish(summary: Summary, sort: str | None, as_json: bool) -> None:
    from rich.markup import escape

    from dlcli.cli.common import EXIT_FAILED, EXIT_OK, err_console, interrupted_code, out_console

    if as_json:
        print(json.dumps(summary.to_json(), default=str), flush=True)
    print_tables(summary, sort, err_console if as_json else out_console())
    for row in summary.rows:  # a pruned trial's reason is in summary.csv and its result.json
        if row["error"] and row["status"] != "pruned":
            err_console.print(f"  {escape(row['run_dir'])}: [red]{row['status']}[/]: "
                              f"{escape(row['error'])}",
                              highlight=False, soft_wrap=True)
    for row in summary.rows:
        if row.get("reused"):
            err_console.print(f"  {row['run_dir']}: reused {row['reused']} (same config; "
                              f"--rerun runs it again)", highlight=False, soft_wrap=True,
                              markup=False)
    for note in summary.notes:
        err_console.print(f"  note: {note}", highlight=False, markup=False)
    finished = len(summary.rows) == summary.total
    ok = finished and all(row["status"] in FINE for row in summary.rows)
    counts = [f"{summary.completed} of {summary.total} variants completed"]
    counts += [f"{n} {what}" for what, n in (
        ("pruned", sum(r["status"] == "pruned" for r in summary.rows)),
        ("reused", sum(bool(r.get("reused")) for r in summary.rows))) if n]
    err_console.print(f"{', '.join(counts)}; summaries and plots in {summary.folder}",
                      highlight=False, soft_wrap=True, markup=False)
    # a diverged run diverges again (same config, same bits): resuming is advice only when
    # something is missing, failed or was interrupted
    if not finished or any(row["status"] not in (*FINE, "diverged") for row in summary.rows):
        err_console.print(f"run what is missing or failed: dlcli compare --resume "
                          f"{shlex.quote(str(summary.folder))}", highlight=False, soft_wrap=True,
                          markup=False)
    if summary.interrupted:
        raise typer.Exit(interrupted_code())  # 130 after Ctrl-C, 143 after SIGTERM
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


def print_tables(summary: Summary, sort: str | None, console: Any,
                 extra: dict[str, str] | None = None) -> None:
    """The per-variant table (sorted by validation unless ``sort`` says otherwise) and, with
    several seeds, mean ± std across them; then the one line naming the chosen variant."""
    from dlcli.sweeps.summary import chosen_line
    from dlcli.sweeps.tables import group_table, run_table

    heads, cells = run_table(summary, sort, extra)
    # The titles print as lines of their own: a table's title wraps to the table's width.
    console.print(summary.title(sort), highlight=False, markup=False, soft_wrap=True)
    console.print(_table(heads, cells))
    groups = group_table(summary)
    if groups:
        console.print()
        console.print("across seeds", highlight=False, markup=False)
        console.print(_table(*groups))
    console.print(chosen_line(summary), highlight=False, markup=False, soft_wrap=True)


SHORT = {"iterations": "iters", "wall_time_s": "wall s", "wall_time_s (mean)": "wall s (mean)"}


def _table(heads: list[str], cells: list[list[str]]) -> Any:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    # Headers wrap at their spaces so the table fits 80 columns; cells keep their width.
    table = Table(box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False, show_edge=False)
    leaves = [h.rsplit(".", 1)[-1] for h in heads]
    for i, head in enumerate(heads):
        name = SHORT.get(head) or (leaves[i] if leaves.count(leaves[i]) == 1 else head)
        width = max([len(row[i]) for row in cells] + [max(len(w) for w in name.split("_"))])
        left = head in ("variant", "status", "loss")
        table.add_column(name.replace("_", " "), justify="left" if left else "right",
                         width=width)
    status = heads.index("status") if "status" in heads else None
    for row in cells:
        state = row[status] if status is not None else "completed"
        style = None if state == "completed" else COLOURS.get(state, "red")
        table.add_row(*map(escape, row), style=style)
    return table
