"""Replay verification on the real simulator, probe and executor: deterministic, and strict about what counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.problems import ProblemSet
from evolver.replay import replay, verify
from evolver.scripted import Script, ScriptedPolicy, ScriptStep
from transcripts import TranscriptStore

PID = "scale_pod_zero_social_net-localization-1"  # the faulty component: user-service (scaled to 0)
NS = "test-social-network"


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = TranscriptStore(tmp_path / "replays.db")
    yield s
    s.close()


def play(store: TranscriptStore, tmp: Path, steps: list[ScriptStep], answer: Any, hypothesis: str = "",
         budget: int = 10) -> Any:
    problem = ProblemSet.builtin().get(PID)
    rep = replay(problem, 0, ScriptedPolicy(Script(steps=steps, submission=answer, hypothesis=hypothesis)), store,
                 max_steps=budget, workdir=tmp)
    return rep, verify(rep, problem, budget)


OVERVIEW = ScriptStep(phase="discovery", tool="cluster_overview", arguments={"namespace": NS})
DESCRIBE = ScriptStep(tool="describe", arguments={"kind": "deployment", "name": "user-service", "namespace": NS})


def test_replay_is_deterministic(store: TranscriptStore, tmp_path: Path) -> None:
    steps = [OVERVIEW, ScriptStep(tool="topology", arguments={"namespace": NS}), DESCRIBE]
    a, va = play(store, tmp_path / "a", steps, ["user-service"], "user-service: scaled to 0")
    b, vb = play(store, tmp_path / "b", steps, ["user-service"], "user-service: scaled to 0")
    assert a.episode.id != b.episode.id
    strip = ("metrics",)
    assert {k: v for k, v in a.grade.items() if k not in strip} == {k: v for k, v in b.grade.items() if k not in strip}
    results = [[(s.tool, s.arguments, s.result) for s in r.episode.steps if s.role == "assistant"] for r in (a, b)]
    assert results[0] == results[1] and len(results[0]) == 4
    assert va.verified and vb.verified and va.model_dump() == vb.model_dump()


def test_a_wrong_candidate_is_rejected(store: TranscriptStore, tmp_path: Path) -> None:
    _, v = play(store, tmp_path, [OVERVIEW], ["compose-post-service"], "compose-post-service: errors")
    assert not v.verified and not v.success and v.reason.startswith("graded a failure")


def test_a_lucky_guess_without_evidence_is_rejected(store: TranscriptStore, tmp_path: Path) -> None:
    # right answer, nothing read
    rep, v = play(store, tmp_path / "a", [], ["user-service"], "user-service: a hunch")
    assert rep.grade["success"] and v.success and not v.verified
    assert "without evidence" in v.reason and "user-service" in v.evidence.reason
    # right answer after a read that names it, but shows nothing wrong with it
    rep, v = play(store, tmp_path / "b", [ScriptStep(tool="list_resources", arguments={"kind": "services",
                                                                                      "namespace": NS})],
                  ["user-service"], "user-service")
    assert "user-service" in rep.episode.steps[2].result  # it was named ...
    assert v.success and not v.verified and "no abnormal record" in v.evidence.reason  # ... but never shown faulty


def test_a_supported_answer_within_the_budget_is_kept(store: TranscriptStore, tmp_path: Path) -> None:
    rep, v = play(store, tmp_path, [OVERVIEW], ["user-service"], "user-service: scaled to 0")
    assert v.verified and v.steps == 2
    assert v.evidence.support[0].step == 2 and "scaled-to-zero" in v.evidence.support[0].symptoms
    over = verify(rep, ProblemSet.builtin().get(PID), budget=1)  # the same episode against a smaller budget
    assert over.success and not over.verified and "over the budget" in over.reason
