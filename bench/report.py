"""Writing a bench run's results: results.json (config, scores, every episode), results.csv (one row per episode),
summary.md (Markdown tables) and chart.png (avg@1, avg@K and best@K per task type)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bench.runner import BenchOutcome, EpisodeResult
from bench.scores import GroupScores, Scores

CSV_GRADE = ("acc_at_1", "acc_at_3", "localization_accuracy", "detection_accuracy", "valid_format")
CSV_FIELDS = ("bench_run", "run", "seed", "problem_id", "task", "app", "family", "split", "episode_id", "status",
              "stop_reason", "success", "score", "submitted", "submission", *CSV_GRADE, "steps", "in_tokens",
              "out_tokens", "wall_s", "sim_s", "tool_calls", "plans", "plans_refused", "unsafe_attempts", "error")
SIMULATOR_NOTE = ("A simulator result (AOI's simulated cluster, AIOpsLab's problems and grading), not a run on a "
                  "real cluster.")


class ReportFiles(BaseModel):
    out: Path
    json_path: Path
    csv_path: Path
    summary: Path
    chart: Path


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def csv_row(r: EpisodeResult) -> dict[str, Any]:
    row = r.model_dump(mode="json")
    out = {k: row.get(k) for k in CSV_FIELDS if k not in CSV_GRADE}
    out.update({k: r.grade.get(k) for k in CSV_GRADE})
    out["submission"] = None if r.submission is None else json.dumps(r.submission, sort_keys=True)
    out["tool_calls"] = ";".join(f"{s}={n}" for s, n in sorted(r.tool_calls.items()))
    return out


def write_csv(path: Path, rows: Sequence[EpisodeResult]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(CSV_FIELDS))
        w.writeheader()
        for r in rows:
            w.writerow(csv_row(r))


def _group_table(groups: Sequence[GroupScores], k: int) -> list[str]:
    lines = [f"| group | problems | episodes | avg@1 | avg@{k} | best@{k} | run std | Acc@1 | Acc@3 | steps | "
             "in tokens | out tokens | wall s | sim s | tool calls (mean) | plans refused | unsafe | invalid | "
             "errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for g in groups:
        calls = ", ".join(f"{s} {n:.1f}" for s, n in g.tool_calls.items()) or "–"
        name = f"**{g.group}**" if g.group == "all" else g.group
        lines.append(f"| {name} | {g.problems} | {g.episodes} | {_pct(g.avg_at_1)} | {_pct(g.avg_at_k)} | "
                     f"{_pct(g.best_at_k)} | {_pct(g.run_std)} | {_pct(g.acc_at_1)} | {_pct(g.acc_at_3)} | "
                     f"{_num(g.mean_steps)} | {_num(g.mean_in_tokens, 0)} | {_num(g.mean_out_tokens, 0)} | "
                     f"{_num(g.mean_wall_s, 2)} | {_num(g.mean_sim_s, 0)} | {calls} | {g.plans_refused} | "
                     f"{g.unsafe_attempts} | {g.invalid_format} | {g.failed} |")
    return lines


def summary_markdown(outcome: BenchOutcome, scores: Scores, command: str | None = None) -> str:
    cfg = outcome.config
    k = max(scores.k, 1)
    seeds = [cfg.seed_for(r) for r in range(cfg.runs)]
    lines = [f"# AOI bench: {cfg.policy.label} on {len(cfg.problems)} problems x {cfg.runs} run(s)", ""]
    if outcome.interrupted:
        lines += [f"**Interrupted**: partial results ({len(outcome.rows)} episodes recorded, {scores.interrupted} "
                  f"cut short and left out of the scores, {outcome.not_run} never started).", ""]
    lines += [f"- bench run `{cfg.bench_run}`, started {outcome.started_at:%Y-%m-%d %H:%M:%S} UTC, wall time "
              f"{outcome.wall_s:.1f} s",
              f"- policy `{cfg.policy.name}`" + (f", model `{cfg.policy.model}`" if cfg.policy.model else "")
              + (f", options `{json.dumps(cfg.policy.options, sort_keys=True)}`" if cfg.policy.options else ""),
              f"- {len(cfg.problems)} problems, {cfg.runs} run(s) each (seeds {seeds[0]}..{seeds[-1]}), "
              f"max {cfg.max_steps} steps, {cfg.parallel} worker(s)",
              f"- transcripts: `{cfg.transcripts}` (episodes carry meta `bench_run` = `{cfg.bench_run}`)"]
    if command:
        lines.append(f"- command: `{command}`")
    lines += ["", f"_{SIMULATOR_NOTE}_", "",
              f"avg@1: run 0's success rate; avg@{k}: mean over problems of the success rate over {k} runs; "
              f"best@{k}: problems solved at least once; run std: standard deviation of the per-run success rates. "
              "Steps, tokens, wall s and sim s are means per episode (wall s and sim s are AIOpsLab's "
              "TTD/TTL/TTA/TTM for the row's task type, in wall and in simulated seconds); tool calls are means "
              "per episode by MCP server.",
              "", "## By task type", "",
              *_group_table([*scores.by_task.values(), scores.overall], k), ""]
    if scores.by_split:
        lines += ["## By fault-family split (bench/data/family_split.yaml)", "",
                  *_group_table(list(scores.by_split.values()), k), ""]
    lines += ["## Per problem", "",
              "outcomes: one character per run (1 solved, 0 not, E error).", "",
              "| problem | task | app | split | outcomes | avg | best | steps | wall s | sim s |",
              "|---|---|---|---|---|---:|---|---:|---:|---:|"]
    for p in scores.problems:
        lines.append(f"| {p.problem_id} | {p.task} | {p.app} | {p.split or '–'} | `{p.outcomes}` | {_pct(p.avg)} | "
                     f"{'yes' if p.best else 'no'} | {_num(p.mean_steps)} | {_num(p.mean_wall_s, 2)} | "
                     f"{_num(p.mean_sim_s, 0)} |")
    errors = [r for r in outcome.rows if r.error]
    if errors:
        lines += ["", "## Errors", ""]
        lines += [f"- {r.problem_id} run {r.run}: {r.error}" for r in errors[:50]]
    return "\n".join(lines) + "\n"


def write_chart(path: Path, scores: Scores, title: str) -> None:
    """Grouped bars: avg@1, avg@K and best@K per task type and overall."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups = [*scores.by_task.values(), scores.overall]
    k = max(scores.k, 1)
    series = [("avg@1", [g.avg_at_1 for g in groups]), (f"avg@{k}", [g.avg_at_k for g in groups]),
              (f"best@{k}", [g.best_at_k for g in groups])]
    fig = Figure(figsize=(8, 4.2), dpi=110)
    FigureCanvasAgg(fig)  # the Agg canvas, without pyplot's global state
    ax = fig.add_subplot()
    width = 0.26
    for i, (label, values) in enumerate(series):
        xs = [j + (i - 1) * width for j in range(len(groups))]
        heights = [100 * (v or 0.0) for v in values]
        bars = ax.bar(xs, heights, width, label=label)
        ax.bar_label(bars, labels=[f"{h:.0f}" if v is not None else "" for h, v in zip(heights, values, strict=True)],
                     fontsize=7, padding=1)
    ax.set_xticks(range(len(groups)), [f"{g.group}\n({g.problems})" for g in groups])
    ax.set_ylim(0, 110)
    ax.set_ylabel("success (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=3, fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")


def write_report(out: Path, outcome: BenchOutcome, scores: Scores, command: str | None = None) -> ReportFiles:
    """All four files into ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out=out, json_path=out / "results.json", csv_path=out / "results.csv",
                        summary=out / "summary.md", chart=out / "chart.png")
    data = {"config": outcome.config.summary(), "command": command, "interrupted": outcome.interrupted,
            "started_at": outcome.started_at.isoformat(), "wall_s": outcome.wall_s, "not_run": outcome.not_run,
            "simulator": SIMULATOR_NOTE, "scores": scores.model_dump(mode="json"),
            "episodes": [r.model_dump(mode="json") for r in outcome.rows]}
    files.json_path.write_text(json.dumps(data, indent=1, default=str) + "\n")
    write_csv(files.csv_path, outcome.rows)
    files.summary.write_text(summary_markdown(outcome, scores, command))
    cfg = outcome.config
    write_chart(files.chart, scores, f"{cfg.policy.label}: {len(cfg.problems)} problems x {cfg.runs} run(s) "
                                     f"(simulator){' - interrupted' if outcome.interrupted else ''}")
    return files
