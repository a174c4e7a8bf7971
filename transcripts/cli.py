"""``aoi transcripts``: list, show, export and import episodes."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from transcripts.store import DEFAULT_DB, TranscriptStore, TranscriptStoreError

app = typer.Typer(help="The transcript store: every episode, step, tool call, plan and grade.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)  # error lines stay whole (paths, commands)
out = Console()

DB_OPTION = typer.Option(DEFAULT_DB, "--db", envvar="AOI_TRANSCRIPTS_DB", help="The transcript database (SQLite).")


class GradeFilter(StrEnum):
    success = "success"
    failure = "failure"
    all = "all"


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def _open(db: Path, *, create: bool = False) -> TranscriptStore:
    if not create and not db.exists():
        raise _fail(f"no transcript database at {db}: run `aoi observe` or `aoi transcripts import ...` first, "
                    "or pass --db PATH")
    try:
        # Opening marks interrupted the episodes whose writing process is gone (never those of live processes).
        return TranscriptStore(db, create=create)
    except TranscriptStoreError as e:
        raise _fail(str(e)) from None


def _when(t: float | None, short: bool = False) -> str:
    return "" if not t else datetime.fromtimestamp(t, UTC).strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S")


def _short(text: str | None, n: int) -> str:
    text = (text or "").replace("\n", " ⏎ ")
    return text if len(text) <= n else text[: n - 1] + "…"


def _outcome(success: bool | None) -> str:
    return {True: "[green]success[/green]", False: "[red]failure[/red]", None: ""}[success]


@app.command("list")
def list_(
    db: Path = DB_OPTION,
    problem: str | None = typer.Option(None, "--problem", help="Only this problem id."),
    policy: str | None = typer.Option(None, help="Only this policy."),
    status: str | None = typer.Option(None, help="running, completed, failed or interrupted."),
    source: str | None = typer.Option(None, help="observer, jsonl, calllog or audit."),
    limit: int = typer.Option(50, help="How many (newest first)."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
) -> None:
    """List episodes, newest first."""
    with _open(db) as store:
        rows = store.episodes(problem_id=problem, policy=policy, status=status, source=source, limit=limit)
    if as_json:
        for r in rows:
            sys.stdout.write(r.model_dump_json() + "\n")
        return
    table = Table(title=f"{len(rows)} episode(s) in {db}")
    table.add_column("id", no_wrap=True, min_width=8)
    table.add_column("started", no_wrap=True)
    table.add_column("problem / target", overflow="fold", ratio=3)
    table.add_column("policy", overflow="fold", ratio=2)
    table.add_column("status", no_wrap=True)
    table.add_column("steps", justify="right")
    table.add_column("grade", no_wrap=True)
    for r in rows:
        target = r.problem_id or (f"{r.task}: {r.target}" if r.task else r.target)
        policy = r.policy + (f" ({r.model})" if r.model else "")
        table.add_row(r.id[:8], _when(r.started_at, short=True), escape(target), escape(policy), r.status,
                      str(r.n_steps), _outcome(r.success))
    out.print(table)


@app.command("show")
def show(
    episode_id: str = typer.Argument(..., metavar="ID", help="Episode id (a unique prefix is enough)."),
    db: Path = DB_OPTION,
    full: bool = typer.Option(False, help="Show texts, arguments and results in full."),
    as_json: bool = typer.Option(False, "--json", help="The whole episode as JSON."),
) -> None:
    """Show one episode: its steps, plans, submission, grade and timings."""
    with _open(db) as store:
        try:
            ep = store.episode(episode_id)
        except TranscriptStoreError as e:
            raise _fail(str(e)) from None
    if as_json:
        sys.stdout.write(ep.model_dump_json(indent=2) + "\n")
        return
    width = 10_000 if full else 160
    out.print(f"[bold]episode {ep.id}[/bold]  {ep.status}  source={ep.source}")
    out.print(f"target={escape(ep.target)} problem={ep.problem_id or '-'} task={ep.task or '-'} "
              f"namespace={ep.namespace or '-'} policy={escape(ep.policy)} model={escape(ep.model or '-')} "
              f"seed={ep.seed if ep.seed is not None else '-'}")
    took = "" if ep.duration_s is None else f"  ({ep.duration_s:.1f}s)"
    out.print(f"started {_when(ep.started_at)}  finished {_when(ep.finished_at) or '-'}{took}")
    table = Table("#", "role", "tool", "content", "ms", "tok in/out", show_lines=True)
    for s in ep.steps:
        parts = []
        if s.text:
            parts.append(s.text)
        if s.decision:
            parts.append("decision: " + json.dumps(s.decision, ensure_ascii=False))
        if s.arguments is not None:
            parts.append("args: " + json.dumps(s.arguments, ensure_ascii=False))
        if s.result is not None:
            parts.append(("ERROR: " if s.is_error else "-> ") + s.result)
        content = "\n".join(_short(p, width) for p in parts) if not full else "\n".join(parts)
        tokens = "" if s.tokens_in is None and s.tokens_out is None else f"{s.tokens_in or 0}/{s.tokens_out or 0}"
        table.add_row(str(s.idx), s.role, escape(s.tool or ""), escape(content),
                      "" if s.latency_ms is None else f"{s.latency_ms:.0f}", tokens)
    out.print(table)
    if ep.plans:
        plans = Table("plan", "hash", "status", "token id", "token sha256", "signer", title="plans")
        for p in ep.plans:
            plans.add_row(escape(p.plan_id or ""), p.plan_hash[:12], p.status, escape(p.token_id or ""),
                          (p.token_sha256 or "")[:12], escape(p.signer or ""))
        out.print(plans)
    for name, value in (("submission", ep.submission), ("grade", ep.grade), ("timings", ep.timings)):
        if value is not None:
            out.print(f"[bold]{name}[/bold]: {escape(json.dumps(value, ensure_ascii=False))}")


@app.command("export")
def export(
    db: Path = DB_OPTION,
    out_path: Path | None = typer.Option(None, "--out", help="JSONL file to write (default: stdout)."),
    grade: GradeFilter = typer.Option(GradeFilter.all, help="Only graded successes, graded failures, or all."),
    problem: str | None = typer.Option(None, "--problem", help="Only this problem id."),
    policy: str | None = typer.Option(None, help="Only this policy."),
    status: str | None = typer.Option(None, help="Only this status (e.g. completed)."),
    source: str | None = typer.Option(None, help="Only this source (observer, jsonl, calllog, audit)."),
    ids: list[str] = typer.Option([], "--id", help="Only these episodes (repeatable)."),
    arguments_as_object: bool = typer.Option(False, help="Tool-call arguments as objects (what Hugging Face chat "
                                             "templates expect) instead of JSON strings (OpenAI's format)."),
    aoi_metadata: bool = typer.Option(True, help="Keep metadata.aoi (what `import` needs to restore an episode "
                                      "exactly)."),
) -> None:
    """Export episodes as JSONL in the OpenAI chat format with tool calls (what TRL and most trainers read)."""
    from transcripts.export import export_jsonl

    success = {GradeFilter.success: True, GradeFilter.failure: False, GradeFilter.all: None}[grade]
    with _open(db) as store:
        try:
            selected = [store.episode(i).id for i in ids] if ids else None
        except TranscriptStoreError as e:
            raise _fail(str(e)) from None
        kwargs = dict(episode_ids=selected, problem_id=problem, policy=policy, status=status, success=success,
                      source=source, arguments_as_object=arguments_as_object, include_aoi=aoi_metadata)
        if out_path is None:
            n = export_jsonl(store, sys.stdout, **kwargs)  # type: ignore[arg-type]
        else:
            out_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = out_path.with_name(out_path.name + ".tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                n = export_jsonl(store, f, **kwargs)  # type: ignore[arg-type]
            tmp.replace(out_path)
    err.print(f"exported {n} episode(s)" + (f" to {out_path}" if out_path else ""))


def _report(what: str, imported: int, skipped: int, db: Path) -> None:
    note = f" ({skipped} already present; --replace to refresh)" if skipped else ""
    err.print(f"imported {imported} episode(s) from {escape(what)} into {db}{note}")


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="JSONL in the OpenAI chat format (e.g. from `aoi transcripts export`)."),
    db: Path = DB_OPTION,
    replace: bool = typer.Option(False, help="Replace episodes that are already present."),
) -> None:
    """Import chat records (JSONL) as episodes."""
    from transcripts.export import ImportFormatError, import_jsonl

    if not file.is_file():
        raise _fail(f"no file {file}")
    with _open(db, create=True) as store:
        try:
            imported, skipped = import_jsonl(store, file, replace=replace)
        except (ImportFormatError, UnicodeDecodeError) as e:
            raise _fail(str(e)) from None
    _report(str(file), imported, skipped, db)


@app.command("import-calllog")
def import_calllog_(
    path: Path = typer.Argument(..., help="The probe's call log (`aoi probe --transcripts PATH`)."),
    db: Path = DB_OPTION,
    replace: bool = typer.Option(False, help="Replace sessions that are already present (e.g. that grew)."),
) -> None:
    """Import the probe's SQLite call log: one episode per probe session (an external agent's)."""
    from transcripts.importers import LogImportError, import_calllog

    with _open(db, create=True) as store:
        try:
            imported, skipped = import_calllog(store, path, replace=replace)
        except LogImportError as e:
            raise _fail(str(e)) from None
    _report(str(path), imported, skipped, db)


@app.command("import-audit")
def import_audit_(
    path: Path = typer.Argument(..., help="The executor's audit log (JSON lines)."),
    db: Path = DB_OPTION,
    gap_s: float = typer.Option(1800.0, help="Without session ids, a pause longer than this starts a new episode."),
    replace: bool = typer.Option(False, help="Replace episodes that are already present."),
) -> None:
    """Import the executor's audit log: its requests as episodes of an external agent."""
    from transcripts.importers import LogImportError, import_audit

    with _open(db, create=True) as store:
        try:
            imported, skipped = import_audit(store, path, gap_s=gap_s, replace=replace)
        except (LogImportError, UnicodeDecodeError) as e:
            raise _fail(str(e)) from None
    _report(str(path), imported, skipped, db)
