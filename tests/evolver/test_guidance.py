"""Guidance in the Observer: retrieved by the symptoms seen, used by the baseline and the chat policies, harmless
when absent, and never a way for ground truth to reach the policy."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

from bench.episode import run_problem
from bench.problems import ProblemSet
from bench.sim import SimProblem
from evolver.lessons import leaks
from evolver.replay import REPLAY_EPOCH
from observer.baseline import BaselinePolicy
from observer.guidance import Guidance, GuidanceError, GuidanceTracker, Match, split_records
from observer.llm.chat import ChatConfig
from observer.llm.openai_policy import OpenAIPolicy
from observer.policies import PolicyUnavailable, make_policy
from observer.policy import Observation, TaskSpec, ToolInfo, ToolResult, observer_tools
from tests.evolver.conftest import WEAK_STEPS
from tests.observer.conftest import Recording
from tests.observer.fake_openai import FakeOpenAI, tool_call
from transcripts import TranscriptStore

HELD_OUT = "revoke_auth_mongodb-analysis-1"  # a held-out family: the weakened baseline answers Code Defect
# What `aoi evolve lessons` writes for crash loops (learnt from evolving families), as a person would keep it.
GUIDANCE = """\
version: 1
lessons:
  - id: crash-loop.logs
    when:
      - symptom: pods crash-looping (CrashLoopBackOff)
        pattern: CrashLoopBackOff|crash-?looping
    advice: "When the probe shows pods crash-looping on a component: read the logs of that component."
    actions:
      - {tool: logs, arguments: {namespace: "{namespace}", workload: "deployment/{subject}", tail: 40}}
    support: [c0ffee00-0000-4000-8000-000000000001]
    helped: 3
"""
NEVER = GUIDANCE.replace("CrashLoopBackOff|crash-?looping", "a symptom no cluster ever shows")


def write(tmp: Path, text: str, name: str = "guidance.yaml") -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def episode(tmp: Path, policy: Any, problem_id: str = HELD_OUT, steps: int = WEAK_STEPS) -> tuple[Any, dict[str, Any]]:
    store = TranscriptStore(tmp / "t.db")
    sim = SimProblem(ProblemSet.builtin().get(problem_id), tmp / "sim", seed=0, epoch=REPLAY_EPOCH).start()
    try:
        outcome, grade = anyio.run(partial(run_problem, sim, policy, store, max_steps=steps))
        return store.episode(outcome.episode_id), grade
    finally:
        sim.stop()
        store.close()


def calls(ep: Any) -> list[tuple[str | None, Any]]:
    return [(s.tool, s.arguments) for s in ep.steps if s.role == "assistant"]


def test_guidance_helps_the_weakened_baseline_without_ground_truth(weak_db: Path, tmp_path: Path) -> None:
    g = write(tmp_path, GUIDANCE)
    assert leaks(g.read_text()) == []
    policy = Recording(BaselinePolicy(guidance=g))
    ep, grade = episode(tmp_path, policy)
    assert grade["success"], grade
    tools = [t for t, _ in calls(ep)]
    assert tools[:2] == ["cluster_overview", "logs"]  # the lesson's read comes right after the symptom
    assert ep.steps[3].arguments["workload"] == "deployment/geo"
    with TranscriptStore(weak_db) as s:  # the same weakened baseline without guidance failed this problem
        assert s.episode(s.episodes(problem_id=HELD_OUT)[0].id).success is False
    problem = ProblemSet.builtin().get(HELD_OUT)
    seen = "\n".join(policy.seen)
    assert HELD_OUT not in seen and problem.family not in seen and "revoke" not in seen.lower()


def test_no_guidance_changes_nothing(weak_db: Path, tmp_path: Path) -> None:
    with TranscriptStore(weak_db) as s:
        before = calls(s.episode(s.episodes(problem_id=HELD_OUT)[0].id))
    empty = write(tmp_path, "version: 1\nlessons: []\n", "empty.yaml")
    assert BaselinePolicy(guidance=None).guidance is None and BaselinePolicy(guidance=empty).guidance.lessons == []
    for i, g in enumerate((empty, write(tmp_path, NEVER, "never.yaml"))):
        ep, grade = episode(tmp_path / str(i), BaselinePolicy(guidance=g))
        assert calls(ep) == before and grade["success"] is False


def test_chat_policy_gets_matching_lessons_in_its_step_message(tmp_path: Path) -> None:
    task = TaskSpec.for_namespace("analysis", "test-hotel-reservation")
    tools = [ToolInfo(server="probe", name="cluster_overview", input_schema={
        "type": "object", "properties": {"namespace": {"type": "string"}}}), *observer_tools("analysis")]
    overview = ("Unhealthy pods (1):\n- geo-gvt4b77cpb-99hkb: CrashLoopBackOff, 0/1 ready, 3 restarts, owner "
                "deployment/geo, node kind-worker2")
    sent, records = [], []
    for guidance in (None, Guidance(), Guidance.load(write(tmp_path, GUIDANCE))):
        with FakeOpenAI([tool_call("cluster_overview", {}), tool_call("cluster_overview", {})]) as srv:
            pol = OpenAIPolicy(srv.base_url, "fake-model", backoff_s=0.0, config=ChatConfig(guidance=guidance))
            pol.start(task, tools)
            d = pol.decide(Observation(step=0, max_steps=6, task=task))
            s, t, a = d.as_tool_call()
            d2 = pol.decide(Observation(step=1, max_steps=6, task=task, last_decision=d, last_text=overview,
                                        last=ToolResult(server=s, tool=t, arguments=a, text=overview)))
            sent.append([r["messages"] for r in srv.requests])
            records.append((d.record(), d2.record()))
    assert sent[0] == sent[1]  # no guidance and an empty one: the same requests
    assert sent[2][0] == sent[0][0]  # nothing seen yet: nothing retrieved
    user = sent[2][1][1]["content"]
    assert user.startswith(sent[0][1][1]["content"]) and "Guidance from verified past repairs" in user
    assert "read the logs of that component" in user and "seen on: geo" in user
    assert sent[2][1][0] == sent[0][1][0]  # the system prompt stays the same all episode
    # the transcript keeps what the model was shown: the lessons go into the decision's record, only when shown
    assert records[0] == records[1] and all("guidance" not in r for pair in records[:2] for r in pair)
    assert "guidance" not in records[2][0] and records[2][1]["guidance"] in user


def test_retrieval_binds_the_component_the_symptom_names() -> None:
    g = Guidance.model_validate({"lessons": [{
        "id": "auth-denied.logs", "when": [{"symptom": "auth", "pattern": "not authorized"}], "advice": "x",
        "actions": [{"tool": "logs", "arguments": {"namespace": "{namespace}", "workload": "deployment/{subject}"}}]}]})
    trace = ("failing paths:\n- ×20 frontend HTTP GET /hotels → geo /geo.Geo/Nearby → geo find ⇒ mongodb-geo ✗\n"
             "<<untrusted source=\"span error message\">>\nnot authorized on geo-db to execute command\n"
             "<<end untrusted>>\n- ×3 frontend → search ✗")
    assert len(split_records(trace)) == 3
    tr = GuidanceTracker(g, TaskSpec.for_namespace("analysis", "ns"))
    tr.observe(ToolResult(server="probe", tool="traces", text=trace))
    (m,) = tr.matches()
    assert isinstance(m, Match) and m.subjects(["frontend", "search", "geo", "mongodb-geo"]) == [
        "frontend", "geo", "mongodb-geo"]
    got = tr.suggestions(["frontend", "geo", "mongodb-geo"], rank=lambda n: 2.0 if n == "mongodb-geo" else 0.0)
    assert [c.arguments["workload"] for _, c, _ in got] == ["deployment/mongodb-geo", "deployment/frontend"]
    again = tr.suggestions(["frontend", "geo", "mongodb-geo"])  # each read is suggested once per episode
    assert [c.arguments["workload"] for _, c, _ in again] == ["deployment/geo"]
    assert tr.suggestions(["frontend", "geo", "mongodb-geo"]) == []
    assert tr.render(5) == ""  # over the budget: nothing rather than a cut lesson


@pytest.mark.parametrize(("text", "expect"), [
    ("lessons:\n  - id: a\n    when: [{symptom: s, pattern: '(unclosed'}]\n    advice: x\n",
     "not a regular expression"),
    ("lessons:\n  - {id: a, when: [{symptom: s, pattern: x}], advice: x}\n"
     "  - {id: a, when: [{symptom: s, pattern: y}], advice: y}\n", "repeated: a"),
    ("- not: a lesson\n", "lessons.0"),
    ("version: 9\nlessons: []\n", "version 9"),
])
def test_bad_guidance_files_say_what_is_wrong(tmp_path: Path, text: str, expect: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(GuidanceError, match=expect.replace("(", r"\(")):
        Guidance.load(p)
    with pytest.raises(PolicyUnavailable, match=str(p.name)):
        make_policy("baseline", guidance=str(p))


def test_aoi_observe_takes_guidance(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from aoi.cli import app

    g = write(tmp_path, GUIDANCE)
    db = tmp_path / "t.db"
    base = ["observe", "--problem", HELD_OUT, "--max-steps", str(WEAK_STEPS), "--transcripts", str(db), "--quiet"]
    r = CliRunner().invoke(app, [*base, "--guidance", str(g)])
    assert r.exit_code == 0, r.output
    assert "grade: success" in r.output
    bad = write(tmp_path, "lessons: [{id: a}]\n", "bad.yaml")
    r = CliRunner().invoke(app, [*base, "--guidance", str(bad)])
    assert r.exit_code == 2 and "bad.yaml" in r.output.replace("\n", "")  # rich wraps long paths
