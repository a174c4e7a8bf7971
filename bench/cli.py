"""``aoi bench``: run a policy on AIOpsLab's problems over the simulator, K runs each, and report.

    aoi bench [--policy baseline] [--problems aoi86] [--runs 5] [--parallel 2] [--seed 0] [--out DIR]
    aoi bench list [--problems PATTERN] [--problems-file FILE]
    aoi bench families
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.problems import TASK_TYPES, BenchProblem, ProblemFileError

if TYPE_CHECKING:
    from bench.scores import Scores

DEFAULT_DB = Path(".aoi/transcripts.db")  # transcripts.DEFAULT_DB (not imported: `aoi --help` stays light)
POLICIES = ("baseline", "openai", "hf", "vllm")

bench_app = typer.Typer(help="The benchmark: AIOpsLab's problems on the simulator, graded as AIOpsLab grades them.",
                        invoke_without_command=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def _problems(pattern: str, files: list[Path] | None, tasks: list[str] | None,
              families: list[str] | None = None) -> list[BenchProblem]:
    from bench.runner import select_problems

    bad = sorted(set(tasks or ()) - set(TASK_TYPES))
    if bad:
        raise _fail(f"unknown task type {', '.join(bad)}: --task is one of {', '.join(TASK_TYPES)}")
    try:
        chosen = select_problems(pattern, files or (), tasks or None, families or None)
    except ProblemFileError as e:
        raise _fail(str(e)) from None
    except KeyError as e:
        raise _fail(str(e.args[0])) from None
    if not chosen:
        raise _fail(f"no problem matches --problems {pattern!r}"
                    + (f" with --task {' '.join(tasks)}" if tasks else "") + " (`aoi bench list` shows them)")
    return chosen


def _command(policy: str, model: str | None, adapter: str | None, guidance: Path | None, problems: str,
             files: list[Path] | None, tasks: list[str] | None, runs: int, parallel: int, seed: int,
             max_steps: int, epoch: datetime | None = None) -> str:
    """The command that repeats this bench run (canonical, every choice spelled out)."""
    parts = ["aoi", "bench", "--policy", policy]
    parts += ["--model", model] if model else []
    parts += ["--adapter", adapter] if adapter else []
    parts += ["--guidance", str(guidance)] if guidance else []
    parts += ["--problems", problems]
    for f in files or ():
        parts += ["--problems-file", str(f)]
    for t in tasks or ():
        parts += ["--task", t]
    parts += ["--runs", str(runs), "--parallel", str(parallel), "--seed", str(seed), "--max-steps", str(max_steps)]
    parts += ["--epoch", epoch.strftime("%Y-%m-%dT%H:%M:%S")] if epoch else []
    return shlex.join(parts)


def _out_dir(out: Path | None) -> Path:
    if out is not None:
        return out
    base = Path(".aoi/bench") / datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


@bench_app.callback(invoke_without_command=True)
def bench(
    ctx: typer.Context,
    policy: str = typer.Option("baseline", help="baseline, openai, hf or vllm."),
    model: str | None = typer.Option(None, help="The model for openai/hf/vllm policies."),
    adapter: str | None = typer.Option(None, help="A LoRA adapter for the model (hf policy)."),
    guidance: Path | None = typer.Option(None, exists=True, help="Diagnostic guidance for the policy (the "
                                         "evolver's output)."),
    problems: str = typer.Option("aoi86", help="Which problems: aoi86, all, file (the --problems-file ones), ids "
                                 "or globs over ids, comma-separated."),
    problems_file: list[Path] | None = typer.Option(None, "--problems-file", help="A YAML/JSON file of more "
                                                    "problems (repeatable)."),
    task: list[str] | None = typer.Option(None, "--task", help="Only these task types (repeatable): detection, "
                                          "localization, analysis, mitigation."),
    runs: int = typer.Option(1, min=1, help="Runs per problem (K); run r uses seed SEED + r."),
    parallel: int = typer.Option(1, min=1, max=64, help="Worker processes."),
    seed: int = typer.Option(0, help="The first run's simulator seed."),
    max_steps: int = typer.Option(30, min=2, max=200, help="Step budget per episode (AIOpsLab's baselines: 30)."),
    epoch: datetime | None = typer.Option(None, formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
                                          help="The simulators' start time (UTC), e.g. 2026-01-01T00:00:00: with "
                                          "it a bench run repeats exactly, tool output included (the server's "
                                          "port aside). Default: the wall clock, so ages read true."),
    out: Path | None = typer.Option(None, help="Where results go (default: .aoi/bench/<timestamp>)."),
    transcripts: Path = typer.Option(DEFAULT_DB, "--transcripts", envvar="AOI_TRANSCRIPTS_DB",
                                     help="The transcript database every episode is written to."),
) -> None:
    """Run a policy on the problems, K runs each: avg@1, avg@K, best@K per task type, a per-problem table,
    results.json/.csv, summary.md and chart.png. Every episode is a graded transcript."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from bench.report import write_report
    from bench.runner import BenchConfig, BenchError, EpisodeResult, PolicySpec, run_bench
    from bench.scores import score

    if policy not in POLICIES:
        raise _fail(f"unknown policy {policy!r}: --policy is one of {', '.join(POLICIES)}")
    chosen = _problems(problems, problems_file, task)
    options: dict[str, str] = {}
    if adapter:
        options["adapter"] = adapter
    if guidance:
        options["guidance"] = str(guidance)
    cfg = BenchConfig(policy=PolicySpec(name=policy, model=model, options=options), problems=chosen, runs=runs,
                      parallel=min(parallel, len(chosen) * runs), seed=seed, max_steps=max_steps,
                      transcripts=transcripts, epoch=epoch.replace(tzinfo=UTC) if epoch else None)
    command = _command(policy, model, adapter, guidance, problems, problems_file, task, runs, parallel, seed,
                       max_steps, epoch)
    out_dir = _out_dir(out)
    console = Console()
    console.print(f"[bold]aoi bench[/bold] {cfg.policy.label}: {len(chosen)} problems x {runs} run(s), "
                  f"{cfg.parallel} worker(s), bench run [bold]{cfg.bench_run}[/bold]")
    tally = {"ok": 0, "fail": 0}
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("[green]{task.fields[ok]} solved[/green] [red]{task.fields[fail]} not[/red]"),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)

    with progress:
        bar = progress.add_task("episodes", total=len(chosen) * runs, ok=0, fail=0)

        def on_result(row: EpisodeResult) -> None:
            if row.scored:
                tally["ok" if row.success else "fail"] += 1
            progress.update(bar, advance=1, **tally)

        try:
            outcome = run_bench(cfg, on_result=on_result)
        except BenchError as e:
            raise _fail(str(e)) from None
    scores = score(outcome.rows)
    files = write_report(out_dir, outcome, scores, command)
    _print_scores(console, scores)
    if outcome.interrupted:
        err.print(f"[yellow]interrupted[/yellow]: partial results ({len(outcome.rows)} episodes, "
                  f"{scores.interrupted} cut short, {outcome.not_run} not run); running episodes are marked "
                  "interrupted in the transcript store")
    console.print(f"results: {files.summary}  {files.json_path.name}  {files.csv_path.name}  {files.chart.name}  "
                  f"(wall time {outcome.wall_s:.1f} s)")
    console.print(f"transcripts: aoi transcripts list --db {shlex.quote(str(transcripts))}", style="dim")
    if outcome.interrupted:
        raise typer.Exit(130)


def _print_scores(console: Console, scores: Scores) -> None:
    k = max(scores.k, 1)

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.1f}%"

    table = Table(title=f"success by task type (k = {k})")
    for col in ("task", "problems", "avg@1", f"avg@{k}", f"best@{k}", "run std", "steps", "wall s"):
        table.add_column(col, justify="left" if col == "task" else "right", no_wrap=True)
    groups = [*scores.by_task.values(), scores.overall]
    for g in groups:
        table.add_row(f"[bold]{g.group}[/bold]" if g.group == "all" else g.group, str(g.problems), pct(g.avg_at_1),
                      pct(g.avg_at_k), pct(g.best_at_k), pct(g.run_std),
                      "–" if g.mean_steps is None else f"{g.mean_steps:.1f}",
                      "–" if g.mean_wall_s is None else f"{g.mean_wall_s:.2f}")
    console.print(table)
    loc = scores.by_task.get("localization")
    if loc is not None and loc.acc_at_1 is not None:
        console.print(f"localization Acc@1 {pct(loc.acc_at_1)}, Acc@3 {pct(loc.acc_at_3)}")
    o = scores.overall
    if o.failed or o.invalid_format or o.plans_refused or o.unsafe_attempts:
        console.print(f"errors {o.failed}, invalid format {o.invalid_format}, plans refused {o.plans_refused}, "
                      f"unsafe attempts {o.unsafe_attempts}")


@bench_app.command("list")
def list_problems(
    problems: str = typer.Option("all", help="Which problems: aoi86, all, file, ids or globs, comma-separated."),
    problems_file: list[Path] | None = typer.Option(None, "--problems-file", help="A YAML/JSON problem file "
                                                    "(repeatable)."),
    task: list[str] | None = typer.Option(None, "--task", help="Only these task types (repeatable)."),
) -> None:
    """The problems: id, task type, application, fault family, its side of the family split."""
    from bench.split import load_split

    chosen = _problems(problems, problems_file, task)
    split = load_split()
    from_files = any(p.source != "builtin" for p in chosen)
    table = Table(title=f"{len(chosen)} problem(s)")
    for col in ("id", "task", "app", "family", "target", "split", "aoi86", *(("source",) if from_files else ())):
        table.add_column(col, no_wrap=col == "id", overflow="fold")
    for p in chosen:
        table.add_row(p.id, p.task, p.app, p.family, p.target or "–", split.side(p.family) or "–",
                      "yes" if p.in_aoi86 else "no", *((p.source,) if from_files else ()))
    Console().print(table)


@bench_app.command("families")
def families() -> None:
    """The fault families: application, system level and fault type (the analysis answer), split side."""
    from bench.problems import ProblemSet
    from bench.split import load_split
    from cluster.sim.faults.families import FAMILIES

    split = load_split()
    counts: dict[str, int] = {}
    for p in ProblemSet.builtin():
        if p.in_aoi86:
            counts[p.family] = counts.get(p.family, 0) + 1
    table = Table(title=f"{len(FAMILIES)} fault families (split {split.name}: {len(split.evolving)} evolving, "
                        f"{len(split.held_out)} held out)")
    for col in ("family", "app", "system level", "fault type", "split", "aoi86 problems"):
        table.add_column(col, no_wrap=col == "family", overflow="fold")
    for name, f in FAMILIES.items():
        table.add_row(name, f.app, f.system_level or "–", f.fault_type or "–", split.side(name) or "–",
                      str(counts.get(name, 0)))
    Console().print(table)
