"""Evaluation of trained adapters on the benchmark: the same problems, seeds and step budget for the base model
and for each adapter, through ``bench.runner`` (each episode graded and stored as a transcript), then a side-by-side
table of avg@1 / avg@K / best@K overall, by task type and by split side.

``aoi train eval --model BASE --adapter PATH`` is ``aoi bench --policy hf --model BASE [--adapter PATH]`` twice,
with the comparison written as ``comparison.json`` and ``comparison.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # bench is imported when an evaluation runs
    from bench.problems import BenchProblem
    from bench.runner import EpisodeResult


class ArmResult(BaseModel):
    """One policy's results on the evaluation problems."""

    label: str
    model: str
    adapter: str | None = None
    episodes: int = 0
    avg_at_1: float | None = None
    avg_at_k: float | None = None
    best_at_k: float | None = None
    by_task: dict[str, float | None] = Field(default_factory=dict)  # avg@1 per task type
    by_split: dict[str, float | None] = Field(default_factory=dict)
    failed: int = 0  # episodes that ended in an error (a model that never wrote a usable reply, ...)
    invalid_format: int = 0
    mean_steps: float | None = None
    wall_s: float = 0.0
    report: str | None = None
    interrupted: bool = False


class Comparison(BaseModel):
    problems: list[str]
    runs: int
    seed: int
    max_steps: int
    arms: list[ArmResult]

    def arm(self, label: str) -> ArmResult | None:
        return next((a for a in self.arms if a.label == label), None)


def policy_options(adapter: str | Path | None, *, device: str, max_tokens: int, context_tokens: int | None,
                   temperature: float) -> dict[str, Any]:
    opts: dict[str, Any] = {"device": device, "max_tokens": max_tokens, "temperature": temperature}
    if context_tokens:
        opts["context_tokens"] = context_tokens
    if adapter:
        opts["adapter"] = str(adapter)
    return opts


def evaluate(model: str, arms: dict[str, str | Path | None], problems: Sequence[BenchProblem], *, runs: int = 1,
             seed: int = 0, max_steps: int = 30, out: Path, transcripts: Path | None = None, device: str = "auto",
             max_tokens: int = 512, context_tokens: int | None = None, temperature: float = 0.0, parallel: int = 1,
             on_result: Callable[[str, EpisodeResult], None] | None = None) -> Comparison:
    """Run ``hf`` with ``model`` and each arm's adapter (None: the base) on ``problems``; write each arm's bench
    report under ``out/<label>/`` and the comparison to ``out/comparison.{json,md}``."""
    from bench.report import write_report
    from bench.runner import BenchConfig, PolicySpec, run_bench
    from bench.scores import score

    out.mkdir(parents=True, exist_ok=True)
    db = transcripts or out / "transcripts.db"
    results: list[ArmResult] = []
    for label, adapter in arms.items():
        cfg = BenchConfig(policy=PolicySpec(name="hf", model=model, options=policy_options(
            adapter, device=device, max_tokens=max_tokens, context_tokens=context_tokens, temperature=temperature)),
            problems=list(problems), runs=runs, seed=seed, max_steps=max_steps, transcripts=db,
            parallel=max(1, min(parallel, len(problems) * runs)))
        outcome = run_bench(cfg, on_result=(lambda row, lab=label: on_result(lab, row)) if on_result else None)
        sc = score(outcome.rows)
        files = write_report(out / label, outcome, sc, command=None)
        ov = sc.overall
        results.append(ArmResult(
            label=label, model=model, adapter=str(adapter) if adapter else None, episodes=ov.episodes,
            avg_at_1=ov.avg_at_1, avg_at_k=ov.avg_at_k, best_at_k=ov.best_at_k,
            by_task={k: g.avg_at_1 for k, g in sc.by_task.items()},
            by_split={k: g.avg_at_1 for k, g in sc.by_split.items()}, failed=ov.failed,
            invalid_format=ov.invalid_format, mean_steps=ov.mean_steps, wall_s=outcome.wall_s,
            report=str(files.summary), interrupted=outcome.interrupted))
        if outcome.interrupted:
            break
    comp = Comparison(problems=[p.id for p in problems], runs=runs, seed=seed, max_steps=max_steps, arms=results)
    (out / "comparison.json").write_text(comp.model_dump_json(indent=2) + "\n")
    (out / "comparison.md").write_text(comparison_markdown(comp))
    return comp


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def comparison_markdown(comp: Comparison) -> str:
    tasks = sorted({t for a in comp.arms for t in a.by_task})
    head = ["policy", "avg@1", f"avg@{comp.runs}", f"best@{comp.runs}", *tasks, "errors", "mean steps"]
    lines = [f"{len(comp.problems)} problems x {comp.runs} run(s), seed {comp.seed}, max {comp.max_steps} steps",
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for a in comp.arms:
        cells = [a.label, _pct(a.avg_at_1), _pct(a.avg_at_k), _pct(a.best_at_k),
                 *[_pct(a.by_task.get(t)) for t in tasks], str(a.failed),
                 "-" if a.mean_steps is None else f"{a.mean_steps:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def print_comparison(console: Console, comp: Comparison) -> None:
    tasks = sorted({t for a in comp.arms for t in a.by_task})
    table = Table(title=f"{len(comp.problems)} problems x {comp.runs} run(s) (simulator)")
    for col in ["policy", "avg@1", f"avg@{comp.runs}", f"best@{comp.runs}", *tasks, "errors", "steps"]:
        table.add_column(col, justify="left" if col == "policy" else "right")
    for a in comp.arms:
        table.add_row(a.label, _pct(a.avg_at_1), _pct(a.avg_at_k), _pct(a.best_at_k),
                      *[_pct(a.by_task.get(t)) for t in tasks], str(a.failed),
                      "-" if a.mean_steps is None else f"{a.mean_steps:.1f}")
    console.print(table)


def eval_problems(pattern: str | None, side: str, split: Path | None = None, limit: int | None = None
                  ) -> list[BenchProblem]:
    """The evaluation problems: ``pattern`` (bench's syntax) or AOI's 86, restricted to a side of the split."""
    from bench.runner import select_problems
    from bench.split import load_split

    chosen = select_problems(pattern or "aoi86")
    if side != "all":
        fs = load_split(split)
        chosen = [p for p in chosen if fs.side(p.family) == side]
    if limit is not None:
        chosen = spread(chosen, limit)
    return chosen


def spread(problems: list[Any], n: int) -> list[Any]:
    """``n`` problems taking task types and families in turn, so a small subset still covers each task type."""
    from itertools import zip_longest

    by_task: dict[str, list[Any]] = {}
    for p in sorted(problems, key=lambda p: (p.family, p.id)):
        by_task.setdefault(p.task, []).append(p)
    order = [p for group in zip_longest(*by_task.values()) for p in group if p is not None]
    return order[:n]


def load_comparison(path: Path) -> Comparison:
    return Comparison.model_validate(json.loads(Path(path).read_text()))
