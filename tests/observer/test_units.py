"""The policy interface, context compression, evidence parsing, and the loop's guard rails."""

from __future__ import annotations

from typing import Any

import pytest

from observer.compress import Compressor, Memory, cut_to_budget, fold_repeats
from observer.evidence import (
    duration_ms,
    grpc_service,
    latency_jumps,
    log_signals,
    path_callee,
    replica_sets,
    significant_latency,
)
from observer.policy import Decision, Observation, Submission, TaskSpec, ToolCall, ToolInfo, observer_tools
from tests.observer.conftest import run
from transcripts import TranscriptStore


def test_decision_has_exactly_one_action() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Decision(phase="surface_scan")
    with pytest.raises(ValueError, match="exactly one"):
        Decision(call=ToolCall(server="probe", tool="x"), wait=3)
    d = Decision(call=ToolCall(server="probe", tool="describe", arguments={"kind": "pod"}), confidence=40)
    assert d.action == "call" and d.label() == "probe.describe"
    assert d.as_tool_call() == ("probe", "describe", {"kind": "pod"})


def test_decision_from_a_model_tool_call() -> None:
    tools = [ToolInfo(server="probe", name="logs"), *observer_tools("localization")]
    d = Decision.from_tool_call(None, "logs", {"pod": "a"}, task="localization", tools=tools, phase="depth_analysis")
    assert d.call == ToolCall(server="probe", tool="logs", arguments={"pod": "a"}) and d.phase == "depth_analysis"
    s = Decision.from_tool_call(None, "submit", {"answer": ["geo"]}, task="localization")
    assert s.submit == Submission(task="localization", answer=["geo"])
    assert Decision.from_tool_call("observer", "wait", {"seconds": 20}, task="mitigation").wait == 20
    p = Decision.from_tool_call(None, "plan", {"goal": "fix", "actions": [{"type": "scale"}]}, task="mitigation")
    assert p.plan is not None and p.plan.actions == [{"type": "scale"}]
    with pytest.raises(ValueError, match="invalid submit"):
        Decision.from_tool_call(None, "submit", {"answer": "maybe"}, task="detection")
    with pytest.raises(ValueError, match="unknown tool"):
        Decision.from_tool_call(None, "rm_rf", {}, task="detection", tools=tools)


@pytest.mark.parametrize(("task", "answer", "ok"), [
    ("detection", "yes", True), ("detection", ["Yes"], False), ("localization", ["a", "b"], True),
    ("localization", "a", False), ("analysis", {"system_level": "Application", "fault_type": "Code Defect"}, True),
    ("analysis", {"system_level": "Application"}, False), ("analysis", None, True), ("mitigation", None, True),
    ("mitigation", "done", False)])
def test_submission_shapes(task: Any, answer: Any, ok: bool) -> None:
    if ok:
        Submission(task=task, answer=answer)
    else:
        with pytest.raises(ValueError):
            Submission(task=task, answer=answer)


def test_observation_renders_memory_last_step_and_budget() -> None:
    task = TaskSpec.for_namespace("detection", "shop")
    obs = Observation(step=4, max_steps=5, task=task, memory=["[1] probe.cluster_overview() -> 2 unhealthy"],
                      last_decision=Decision(call=ToolCall(server="probe", tool="logs")),
                      last=None, last_text="", must_submit=True)
    text = obs.render()
    assert "Step 5 of 5" in text and "[1] probe.cluster_overview()" in text and "submit now" in text
    assert "shop" in task.text and '"Yes" or "No"' in task.text


def test_compressor_folds_elides_and_cuts() -> None:
    assert fold_repeats(["a", "a", "a", "b"]) == ["a  [x3]", "b"]
    c = Compressor(budget_tokens=60)
    long = "x" * 50
    first = c.compress(f"{long} 1\n{long} 2\nshort", step=0)
    assert first.count("x" * 50) == 2
    second = c.compress(f"{long} 1\nnew line\nshort", step=1)
    assert "new line" in second and f"{long} 1" not in second and "already shown at step 1" in second
    assert "short" in second  # short lines are always kept
    cut = cut_to_budget([f"line {i} " + "y" * 40 for i in range(100)], budget_tokens=200)
    assert any("cut by the observer's context budget" in x for x in cut) and len(cut) < 100
    m = Memory(budget_tokens=40)
    for i in range(20):
        m.add(i, "probe.describe", {"name": f"svc{i}"}, "ok")
    view = m.view()
    assert view[0].startswith("(") and "earlier steps folded" in view[0] and view[-1].startswith("[20]")


def test_evidence_parsers() -> None:
    assert duration_ms("850ms") == 850 and duration_ms("12.3s") == 12300 and duration_ms("4m10s") == 250000
    assert latency_jumps(["spike to 11s at 22:45:39 (typical 4.87ms)"]) == [(11000.0, 4.87)]
    assert not significant_latency(2.4, 1.9) and significant_latency(672, 25.7)
    kinds = {s.kind: s.value for s in log_signals([
        "FTL cmd/geo/db.go:35 > not authorized on geo-db to execute command",
        "INF cmd/geo/main.go:37 > Read database URL: mongodb-geo:27017",
        "error: No suitable servers found: [connection closed calling hello on 'url-shorten-mongodb:27017']"])}
    assert kinds["auth_denied"] == "geo-db" and kinds["unreachable"] == "url-shorten-mongodb"
    assert grpc_service("/profile.Profile/GetProfiles") == "profile"
    assert grpc_service("oteldemo.ProductCatalogService/GetProduct") == "product-catalog"
    assert path_callee("nginx → compose-post-service Compose ⇒ user-service ✗") == "user-service"
    text = ("Replica sets (2, newest first):\n- geo-9w revision 2: 1 desired, 1 current, 0 ready; geo:app3; created 1m"
            "\n- geo-gv revision 1: 0 desired, 0 current, 0 ready; hotel:latest; created 3m ago")
    rs = replica_sets(text, {"name": "geo-9w", "revision": "2", "ready": 0, "desired": 1, "images": "geo:app3"})
    assert [r["revision"] for r in rs] == ["2", "1"] and rs[1]["images"] == "hotel:latest"


class Scripted:
    """A policy that plays a fixed list of decisions (a test double of a model)."""

    name, model = "scripted", None

    def __init__(self, decisions: list[Decision]):
        self.decisions = decisions
        self.seen: list[Observation] = []

    def start(self, task: TaskSpec, tools: list[ToolInfo]) -> None:
        self.tools = tools

    def decide(self, obs: Observation) -> Decision:
        self.seen.append(obs)
        return self.decisions[min(obs.step, len(self.decisions) - 1)]


def test_loop_guards_and_step_budget(sim_factory: Any, store: TranscriptStore) -> None:
    sim = sim_factory("noop_detection_social_network-1")
    overview = ToolCall(server="probe", tool="cluster_overview", arguments={"namespace": "test-social-network"})
    policy = Scripted([
        Decision(call=ToolCall(server="executor", tool="execute_plan", arguments={"plan": {}, "token": "x"})),
        Decision(call=ToolCall(server="probe", tool="no_such_tool")),
        Decision(call=overview),
        Decision(call=overview),
    ])
    outcome, graded = run(sim, store, policy, max_steps=5)
    assert outcome.stop_reason == "step_budget" and not outcome.submitted and graded["success"] is False
    names = {t.name for t in policy.tools}
    assert "execute_plan" not in names and "check_plan" not in names and {"plan", "wait", "submit"} <= names
    first, second, third, fourth, fifth = policy.seen
    assert not first.memory and first.last is None
    assert second.last is not None and second.last.is_error and "propose a plan" in (second.note or "")
    assert third.note and "no tool probe.no_such_tool" in third.note
    assert fourth.last is not None and not fourth.last.is_error and not fourth.must_submit
    assert fifth.must_submit and len(fifth.memory) == 4 and fifth.memory[0].startswith("[1] executor.execute_plan")
    ep = store.episode(outcome.episode_id)
    assert [s.is_error for s in ep.steps[2:]] == [True, True, False, False, False]
    # the same overview twice: lines already shown are elided from the second observation
    assert "Nodes: 3" in fourth.last_text
    assert "Nodes: 3" not in fifth.last_text and "already shown at step 3" in fifth.last_text
