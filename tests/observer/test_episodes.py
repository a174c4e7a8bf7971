"""Full episodes over real MCP: the baseline policy on the simulator, one problem per row, graded as AIOpsLab
grades, with the transcript checked for what it must (and must not) hold."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cluster.sim.faults.problems import PROBLEMS
from observer.baseline import BaselinePolicy
from tests.observer.conftest import Recording, run
from transcripts import TranscriptStore
from transcripts.export import episode_to_record, validate_record

JWS = re.compile(rb"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{8,}")

CASES = [
    # (problem, what the baseline should submit)
    ("k8s_target_port-misconfig-detection-1", "Yes"),
    ("noop_detection_hotel_reservation-1", "No"),
    ("revoke_auth_mongodb-localization-1", ["mongodb-geo"]),
    ("wrong_bin_usage-localization-1", ["profile"]),
    ("network_delay_hotel_res-localization-1", ["user"]),
    ("assign_to_non_existent_node_social_net-analysis-1",
     {"system_level": "Virtualization", "fault_type": "Dependency Problem"}),
    ("user_unregistered_mongodb-analysis-2", {"system_level": "Application", "fault_type": "Network/Storage Issue"}),
    ("scale_pod_zero_social_net-mitigation-1", None),
    ("k8s_target_port-misconfig-mitigation-1", None),
    ("revoke_auth_mongodb-mitigation-1", None),
    ("misconfig_app_hotel_res-mitigation-1", None),
]


@pytest.mark.parametrize(("problem_id", "answer"), CASES, ids=[c[0] for c in CASES])
def test_baseline_solves(problem_id: str, answer: Any, sim_factory: Any, store: TranscriptStore,
                         tmp_path: Path) -> None:
    sim = sim_factory(problem_id)
    policy = Recording(BaselinePolicy())
    outcome, graded = run(sim, store, policy)
    assert outcome.status == "completed" and outcome.stop_reason == "submitted", outcome
    assert outcome.submission == answer
    assert graded["success"] is True, graded

    # The policy saw the task as AIOpsLab words it, never the problem's id or fault family.
    problem = PROBLEMS[problem_id]
    seen = "\n".join(policy.seen)
    assert problem_id not in seen and problem.family not in seen

    ep = store.episode(outcome.episode_id)
    assert ep.status == "completed" and ep.success is True and ep.problem_id == problem_id
    assert ep.policy == "baseline" and ep.task == problem.task and ep.namespace == problem.namespace
    assert ep.submission == {"task": problem.task, "answer": answer}
    assert ep.grade and ep.grade["success"] is True
    assert ep.timings and ep.timings["steps"] == outcome.steps
    assert {t["name"] for t in ep.tools or []} >= {"cluster_overview", "describe", "logs", "plan", "submit"}
    assert not {t["name"] for t in ep.tools or []} & {"execute_plan", "check_plan"}  # only through `plan`
    roles = [s.role for s in ep.steps]
    assert roles[:2] == ["system", "user"] and set(roles[2:]) == {"assistant"}
    calls = ep.steps[2:]
    assert len(calls) == outcome.steps
    for s in calls:  # every call: tool, arguments, result, latency and the decision behind it
        assert s.tool and s.arguments is not None and s.result is not None and s.latency_ms is not None
        assert s.decision and s.decision["phase"] and "confidence" in s.decision
    assert calls[0].tool == "cluster_overview" and calls[-1].tool == "submit"
    assert not validate_record(episode_to_record(ep))  # exports as a valid OpenAI-format chat record

    if problem.task == "mitigation":
        assert len(ep.plans) >= 1
        plan = ep.plans[0]
        assert plan.status == "executed" and plan.signer == "observer"
        assert plan.token_id and re.fullmatch(r"[0-9a-f]{64}", plan.token_sha256 or "")
        assert plan.plan["cluster"] == sim.server.url
        assert all(a.get("namespace") == problem.namespace for a in plan.plan["actions"])
        calls_made = [c["tool"] for c in plan.result["calls"]]
        assert "propose_plan" in calls_made and "execute_plan" in calls_made
        assert any(s.tool == "wait" for s in calls)  # verified after waiting, through the probe
        assert [s.tool for s in calls].index("plan") < max(i for i, s in enumerate(calls)
                                                            if s.tool == "cluster_overview")
    # Never a token, anywhere in the store.
    store.close()
    for f in Path(store.path).parent.glob("transcripts.db*"):
        assert not JWS.search(f.read_bytes()), f"a plan token was stored in {f}"
