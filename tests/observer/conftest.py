"""Fixtures for the Observer: simulated problems with in-process (or stdio) probe and executor, a transcript store,
and a policy wrapper that records everything the policy was shown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from bench.episode import run_problem
from bench.sim import SimProblem
from cluster.sim.clock import DEFAULT_EPOCH
from observer.baseline import BaselinePolicy
from observer.loop import EpisodeOutcome
from observer.policy import Decision, Observation, TaskSpec, ToolInfo
from transcripts import TranscriptStore


class Recording:
    """Wraps a policy and keeps every task, tool list and observation it was given (to check what it saw)."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.seen: list[str] = []
        self.decisions: list[Decision] = []

    def start(self, task: TaskSpec, tools: list[ToolInfo]) -> None:
        self.seen.append(task.model_dump_json())
        self.seen.append(json.dumps([t.model_dump() for t in tools]))
        self.inner.start(task, tools)

    def decide(self, obs: Observation) -> Decision:
        self.seen.append(obs.model_dump_json())
        self.seen.append(obs.render())
        d = self.inner.decide(obs)
        self.decisions.append(d)
        return d


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TranscriptStore]:
    s = TranscriptStore(tmp_path / "transcripts.db")
    yield s
    s.close()


def start_problem(problem_id: str, tmp_path: Path, **kw: Any) -> SimProblem:
    """A problem on a simulator with a fixed epoch, so every run of a test is the same episode."""
    return SimProblem(problem_id, tmp_path / "sim", epoch=DEFAULT_EPOCH, **kw).start()


def run(sim: SimProblem, store: TranscriptStore, policy: Any = None, **kw: Any
        ) -> tuple[EpisodeOutcome, dict[str, Any]]:
    return anyio.run(lambda: run_problem(sim, policy or BaselinePolicy(), store, **kw))


@pytest.fixture
def sim_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[SimProblem] = []

    def make(problem_id: str, **kw: Any) -> SimProblem:
        sim = start_problem(problem_id, tmp_path / str(len(started)), **kw)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()
