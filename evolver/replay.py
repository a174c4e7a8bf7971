"""Verify a candidate by replaying it: a fresh simulator with the failed episode's problem and seed, the real probe
and executor over MCP (in-process, plans signed exactly as the Observer signs them), graded by the benchmark's own
grader (``bench.episode.run_problem``). A candidate is kept only if it grades a success, stays within the step
budget, and its answer is supported by evidence it read (``evolver.evidence``).

Replays use a fixed simulated epoch, so the same steps on the same problem and seed give the same episode.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel

from bench.episode import run_problem
from bench.problems import BenchProblem
from bench.sim import SimProblem
from evolver.evidence import EvidenceCheck, check_evidence
from transcripts import TranscriptStore
from transcripts.models import Episode

REPLAY_EPOCH = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)  # the simulator's default epoch: replays repeat exactly


@dataclass
class Replay:
    episode: Episode
    grade: dict[str, Any]
    steps: int
    stop_reason: str
    wall_s: float


class Verdict(BaseModel):
    verified: bool
    success: bool
    steps: int
    within_budget: bool
    evidence: EvidenceCheck
    reason: str


def replay(problem: BenchProblem, seed: int, policy: Any, store: TranscriptStore, *, max_steps: int,
           workdir: Path | None = None, meta: dict[str, Any] | None = None,
           epoch: datetime = REPLAY_EPOCH) -> Replay:
    """Run ``policy`` on a fresh simulator serving ``problem`` with ``seed``; the episode is graded and stored."""
    t0 = time.perf_counter()
    own = workdir is None
    wd = Path(tempfile.mkdtemp(prefix="aoi-replay-")) if own else Path(workdir)  # type: ignore[arg-type]
    try:
        sim = SimProblem(problem, wd, seed=seed, epoch=epoch).start()
        try:
            outcome, grade = anyio.run(lambda: run_problem(sim, policy, store, max_steps=max_steps,
                                                           meta={"replay": True, **(meta or {})}))
        finally:
            sim.stop()
    finally:
        if own:
            shutil.rmtree(wd, ignore_errors=True)
    return Replay(store.episode(outcome.episode_id), grade, outcome.steps, outcome.stop_reason,
                  round(time.perf_counter() - t0, 3))


def verify(rep: Replay, problem: BenchProblem, budget: int) -> Verdict:
    success = bool(rep.grade.get("success"))
    within = rep.steps <= budget
    evidence = check_evidence(rep.episode, problem)
    if not success:
        reason = f"graded a failure ({_why(rep.grade)})"
    elif not within:
        reason = f"took {rep.steps} steps, over the budget of {budget}"
    elif not evidence.ok:
        reason = f"a success without evidence: {evidence.reason}"
    else:
        reason = "graded a success within the budget, every claim supported by what it read"
    return Verdict(verified=success and within and evidence.ok, success=success, steps=rep.steps,
                   within_budget=within, evidence=evidence, reason=reason)


def _why(grade: dict[str, Any]) -> str:
    if grade.get("reasons"):
        return "; ".join(str(r) for r in grade["reasons"])[:200]
    sub = grade.get("submitted")
    return f"submitted {sub!r}, expected {grade.get('expected')!r}"[:200]
