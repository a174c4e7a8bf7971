"""Fixtures for the evolver: failed episodes of a weakened baseline (a step budget of 6) on real simulated
problems, run once per session, and helpers that build episodes by hand for the classifier."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

from bench.episode import run_problem
from bench.problems import BenchProblem, ProblemSet
from bench.sim import SimProblem
from evolver.replay import REPLAY_EPOCH
from observer.baseline import BaselinePolicy
from transcripts import TranscriptStore
from transcripts.models import Episode, Step

WEAK_STEPS = 6
# An evolving family failed for want of steps (answered before reading: E), an evolving one that followed the wrong
# component (C), and a held-out one that found the component but not the fault (B).
WEAK_PROBLEMS = ("scale_pod_zero_social_net-mitigation-1", "auth_miss_mongodb-localization-1",
                 "revoke_auth_mongodb-analysis-1")


@pytest.fixture(scope="session")
def problems() -> ProblemSet:
    return ProblemSet.builtin()


@pytest.fixture(scope="session")
def weak_db(tmp_path_factory: pytest.TempPathFactory, problems: ProblemSet) -> Path:
    """A store with the weakened baseline's (failed) episodes of WEAK_PROBLEMS."""
    root = tmp_path_factory.mktemp("weak")
    db = root / "weak.db"
    with TranscriptStore(db) as store:
        for pid in WEAK_PROBLEMS:
            sim = SimProblem(problems.get(pid), root / pid, seed=0, epoch=REPLAY_EPOCH).start()
            try:
                _, grade = anyio.run(partial(run_problem, sim, BaselinePolicy(), store, max_steps=WEAK_STEPS))
            finally:
                sim.stop()
            assert grade["success"] is False, f"{pid} was meant to fail with {WEAK_STEPS} steps"
    return db


@pytest.fixture
def weak_copy(weak_db: Path, tmp_path: Path) -> Iterator[Path]:
    """A private copy of the weak store (tests that write to it)."""
    dst = tmp_path / "weak.db"
    shutil.copy(weak_db, dst)
    yield dst


def build_episode(problem: BenchProblem, calls: list[dict[str, Any]], answer: Any = None, *, submitted: bool = True,
                  status: str = "completed", max_steps: int = 30, hypothesis: str = "") -> Episode:
    """An episode as the observer's loop writes it: system and user messages, one assistant step per call (the
    result on the same step), the submission last. ``calls``: {"tool", "arguments", "result", "server",
    "is_error"}."""
    steps = [Step(idx=0, role="system", text="system"), Step(idx=1, role="user", text=problem.task_text())]
    for c in calls:
        server = c.get("server") or ("observer" if c["tool"] in ("plan", "wait") else "probe")
        steps.append(Step(idx=len(steps), role="assistant", tool=c["tool"], server=server,
                          arguments=c.get("arguments") or {"namespace": problem.namespace}, result=c.get("result", ""),
                          is_error=c.get("is_error", False), decision={"hypothesis": hypothesis}))
    if submitted:
        steps.append(Step(idx=len(steps), role="assistant", tool="submit", server="observer",
                          arguments={"answer": answer}, result=f"submitted: {answer}",
                          decision={"hypothesis": hypothesis}))
    return Episode(id=str(uuid.uuid4()), target="sim", problem_id=problem.id, task=problem.task,
                   namespace=problem.namespace, policy="test", status=status,  # type: ignore[arg-type]
                   meta={"max_steps": max_steps}, steps=steps,
                   submission={"task": problem.task, "answer": answer} if submitted else None,
                   grade={"success": False, "score": 0.0})
