"""``aoi evolve``: failed episodes -> replay-verified corrections; ``aoi evolve lessons``: corrections -> guidance."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.split import DEFAULT_SPLIT, SplitError, load_split
from evolver.engine import EvolveReport, EvolveSettings, FailureResult, evolve
from evolver.generators import GENERATORS, GeneratorUnavailable, make_generator
from transcripts import TranscriptStore
from transcripts.store import TranscriptStoreError

DEFAULT_DB = Path(".aoi/transcripts.db")
err = Console(stderr=True)
app = typer.Typer(help="Turn failed episodes into replay-verified corrections, and corrections into guidance.",
                  invoke_without_command=True, no_args_is_help=False)


def _open(path: Path) -> TranscriptStore:
    try:
        return TranscriptStore(path, create=False)
    except TranscriptStoreError as e:
        err.print(f"[red]error:[/red] {e} (run episodes first, e.g. `aoi bench` or `aoi observe --problem ...`)")
        raise typer.Exit(2) from None


def _table(title: str, rows: dict[str, object], first: str) -> Table:
    t = Table(title=title)
    for col in (first, "failed", "corrected", "rate", "candidates", "replays", "wall s"):
        t.add_column(col, justify="left" if col == first else "right")
    tot = [0, 0, 0, 0, 0.0]
    for key, r in rows.items():
        vals = [r.failed, r.corrected, r.candidates, r.replays, r.wall_s]  # type: ignore[attr-defined]
        tot = [a + b for a, b in zip(tot, vals, strict=True)]
        t.add_row(key, str(vals[0]), str(vals[1]), f"{100 * vals[1] / max(1, vals[0]):.0f}%", str(vals[2]),
                  str(vals[3]), f"{vals[4]:.1f}")
    t.add_row("all", str(tot[0]), str(tot[1]), f"{100 * tot[1] / max(1, tot[0]):.0f}%", str(tot[2]), str(tot[3]),
              f"{tot[4]:.1f}", style="bold")
    return t


def print_report(console: Console, report: EvolveReport, db: Path) -> None:
    console.print(_table("Failed episodes by failure class", report.rows("class"), "class"))
    console.print(_table("By task type", report.rows("task"), "task"))
    errors = [r for r in report.results if r.error]
    for r in errors[:5]:
        err.print(f"[yellow]{r.parent_id[:8]} {r.problem_id}: {r.error}[/yellow]")
    console.print(f"wall time {report.wall_s:.1f} s" + (" (interrupted: what finished is stored)"
                                                        if report.interrupted else ""))
    console.print(f"results: verified corrections are episodes with source=evolver in {db} "
                  f"(`aoi transcripts list --db {db}`); each failed episode's class and attempts are in its "
                  f"meta.failure")
    console.print(f"next: aoi evolve lessons --transcripts {db} --out guidance.yaml")


@app.callback()
def evolve_command(
    ctx: typer.Context,
    transcripts: Path = typer.Option(DEFAULT_DB, "--transcripts", envvar="AOI_TRANSCRIPTS_DB",
                                     help="The transcript database with the failed episodes."),
    generator: str = typer.Option("search", help=f"Candidate generator: {', '.join(GENERATORS)}."),
    candidates: int = typer.Option(3, min=1, max=50, help="Candidates tried per failed episode (at most)."),
    policy: str = typer.Option("openai", help="--generator model: the model policy (openai, hf, vllm)."),
    model: str | None = typer.Option(None, help="--generator model: the model."),
    max_steps: int = typer.Option(30, min=2, max=200, help="Step budget a correction must stay within."),
    parallel: int = typer.Option(1, min=1, max=64, help="Worker processes (each replays its own episodes)."),
    seed: int = typer.Option(0, help="Simulator seed for failed episodes that recorded none."),
    problems: str | None = typer.Option(None, help="Only these problems (comma-separated globs over ids)."),
    limit: int | None = typer.Option(None, min=1, help="At most this many failed episodes."),
    redo: bool = typer.Option(False, help="Also episodes already corrected."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the report as JSON here."),
) -> None:
    """Classify failed episodes, replay candidate corrections, store the verified ones with their lineage."""
    if ctx.invoked_subcommand is not None:
        return
    options = {"policy": policy, "model": model} if generator == "model" else {}
    settings = EvolveSettings(generator=generator, generator_options=options, candidates=candidates,
                              max_steps=max_steps, seed=seed, problems=problems, limit=limit, redo=redo)
    try:
        gen = make_generator(generator, **options) if parallel == 1 else None
    except GeneratorUnavailable as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    console = Console()
    store = _open(transcripts)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as bar:
            task = bar.add_task("correcting", total=None)
            fixed = [0]

            def started(n: int) -> None:
                bar.update(task, total=n, description=f"correcting {n} failed episodes")

            def finished(r: FailureResult) -> None:
                fixed[0] += r.corrected
                bar.update(task, advance=1, description=f"corrected {fixed[0]}; last {r.problem_id[:40]}")

            report = evolve(store, settings, parallel=parallel, generator=gen, on_start=started, on_result=finished)
    finally:
        store.close()
    if report.interrupted and not report.results:
        err.print("[yellow]interrupted[/yellow] before the first failed episode was done; nothing was recorded. "
                  "Run the same command again to start over.")
        raise typer.Exit(130)
    if not report.results:
        console.print(f"no failed episodes to correct in {transcripts}")
        return
    print_report(console, report, transcripts)
    if json_out:
        json_out.write_text(json.dumps({"settings": settings.model_dump(mode="json"), "parallel": parallel,
                                        "report": report.model_dump(mode="json", exclude={"results": {
                                            "__all__": {"correction"}}})}, indent=1))
    if report.interrupted:
        raise typer.Exit(130)


@app.command("lessons")
def lessons_command(
    transcripts: Path = typer.Option(DEFAULT_DB, "--transcripts", envvar="AOI_TRANSCRIPTS_DB",
                                     help="The transcript database with verified corrections (`aoi evolve`)."),
    out: Path = typer.Option(..., "--out", help="Where to write the guidance (YAML)."),
    split: Path = typer.Option(DEFAULT_SPLIT, help="The fault-family split: lessons come only from its evolving "
                               "families."),
    min_helped: int = typer.Option(1, min=1, help="Keep lessons that corrected at least this many failures."),
) -> None:
    """Distil guidance from verified corrections: lessons keyed by symptoms, with supporting episodes."""
    from evolver.lessons import distil, leaks

    try:
        fs = load_split(split)
    except SplitError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    store = _open(transcripts)
    try:
        d = distil(store, fs, min_helped=min_helped)
    finally:
        store.close()
    header = ("# AOI guidance: lessons distilled from replay-verified corrections (`aoi evolve lessons`).\n"
              f"# Only the split's evolving families ({fs.name}) were learnt from. Read, edit and review freely;\n"
              "# use it with `aoi observe --guidance FILE` or `aoi bench --guidance FILE`.")
    tmp = out.with_suffix(out.suffix + ".partial")
    d.guidance.dump(tmp, header)
    found = leaks(tmp.read_text(), split=fs)
    if found:
        tmp.unlink()
        err.print(f"[red]error:[/red] the guidance would name what the agent cannot see: {', '.join(found[:5])}")
        raise typer.Exit(1)
    tmp.replace(out)
    excluded = ", ".join(f"{n} {why}" for why, n in d.excluded.items()) or "none"
    Console().print(f"{len(d.guidance.lessons)} lessons from {d.used} of {d.corrections} corrections "
                    f"(left out: {excluded}) -> {out}")
