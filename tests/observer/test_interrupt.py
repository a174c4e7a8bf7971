"""Ctrl-C (or a cancelled task) mid-episode: the episode is marked interrupted, and every step already taken is in
the store; a crash of the policy marks it failed."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from observer.baseline import BaselinePolicy
from observer.policy import Decision, Observation
from tests.observer.conftest import run
from transcripts import TranscriptStore


class StopAt(BaselinePolicy):
    """The baseline, until step ``at``: then what happens when the user presses Ctrl-C (or the policy breaks)."""

    def __init__(self, at: int, what: str):
        super().__init__()
        self.at, self.what = at, what

    def decide(self, obs: Observation) -> Decision:
        if obs.step == self.at:
            if self.what == "ctrl-c":
                raise KeyboardInterrupt
            if self.what == "block":
                anyio.from_thread.run(anyio.sleep, 3600)  # a model call that hangs; the task gets cancelled
            raise RuntimeError("the model server went away")
        return super().decide(obs)


def test_ctrl_c_marks_the_episode_interrupted(sim_factory: Any, store: TranscriptStore) -> None:
    sim = sim_factory("scale_pod_zero_social_net-mitigation-1")
    with pytest.raises(KeyboardInterrupt):
        run(sim, store, StopAt(3, "ctrl-c"))
    [summary] = store.episodes()
    ep = store.episode(summary.id)
    assert ep.status == "interrupted" and ep.finished_at is not None
    assert [s.tool for s in ep.steps[2:]] == ["cluster_overview", "topology", "traces"]  # nothing lost
    assert all(s.result is not None for s in ep.steps[2:])
    assert ep.grade is None and ep.submission is None
    # a later open of the store (another process) leaves it as it is
    again = TranscriptStore(store.path)
    assert again.episode(ep.id).status == "interrupted"
    again.close()


def test_cancelled_task_marks_the_episode_interrupted(sim_factory: Any, store: TranscriptStore) -> None:
    from bench.episode import run_problem

    sim = sim_factory("noop_detection_social_network-1")

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_problem, sim, StopAt(2, "block"), store)
            while not store.episodes() or len(store.episode(store.episodes()[0].id).steps) < 4:
                await anyio.sleep(0.01)
            await anyio.sleep(0.05)
            tg.cancel_scope.cancel()

    anyio.run(main)
    [summary] = store.episodes()
    assert summary.status == "interrupted"


def test_policy_error_marks_the_episode_failed(sim_factory: Any, store: TranscriptStore) -> None:
    sim = sim_factory("noop_detection_social_network-1")
    outcome, graded = run(sim, store, StopAt(1, "crash"))
    assert outcome.status == "failed" and outcome.stop_reason == "error"
    assert "model server went away" in (outcome.error or "")
    ep = store.episode(outcome.episode_id)
    assert ep.status == "failed" and "model server went away" in ep.meta["error"]
    assert graded["success"] is False  # no submission: graded as AIOpsLab does (Invalid Format)
