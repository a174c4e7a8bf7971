"""Each failure class is recognised on a constructed episode, with the steps that show it."""

from __future__ import annotations

from bench.problems import ProblemSet
from evolver.classify import CLASSES, classify
from tests.evolver.conftest import build_episode

NS = "test-social-network"
HEALTHY = ("namespace test-social-network: 27 pods (0 unhealthy)\nUnhealthy pods: none (all pods Running and ready)\n"
           "Workloads: all 27 Deployments/StatefulSets/DaemonSets fully available")
SCALED = ("namespace test-social-network: 26 pods (0 unhealthy), 1 workloads degraded\nWorkloads not fully available "
          "(1):\n- deployment/user-service: 0/0 available, 0 ready — scaled to 0 replicas")
TOPOLOGY = "Topology of test-social-network: 27 services\n- svc/compose-post-service [9090->9090] -> 1 ready endpoints"
EXECUTED = ("plan aoi-1234-1: executed (sha256 ab12)\nexecutor: executed: executed 1 action(s)\n"
            "- [0] scale Deployment/test-social-network/user-service: applied; spec.replicas: 0 -> 1")
SCALE_PLAN = {"goal": "scale user-service back", "actions": [{"type": "scale", "namespace": NS, "name": "user-service",
                                                            "kind": "Deployment", "replicas": 1}]}


def overview(result: str) -> dict[str, object]:
    return {"tool": "cluster_overview", "result": result}


def problem(task: str) -> object:
    return ProblemSet.builtin().get(f"scale_pod_zero_social_net-{task}-1")


def test_missing_resolution() -> None:
    p = problem("mitigation")
    c = classify(build_episode(p, [overview(SCALED)], None, hypothesis="user-service: scaled to 0"), p)
    assert (c.code, c.name) == ("A", CLASSES["A"])
    assert c.evidence[-1].step == 3 and "without a repair" in c.evidence[-1].note


def test_incomplete_diagnosis() -> None:
    p = problem("localization")
    c = classify(build_episode(p, [overview(HEALTHY), {"tool": "topology", "result": TOPOLOGY}],
                               ["compose-post-service"]), p)
    assert c.code == "B" and "never showed up abnormal" in c.reason
    assert [e.step for e in c.evidence] == [2, 3, 4]
    # analysis: the right component in the hypothesis, the wrong fault
    pa = problem("analysis")
    c = classify(build_episode(pa, [overview(SCALED)], {"system_level": "Application", "fault_type": "Code Defect"},
                               hypothesis="user-service: it crashes"), pa)
    assert c.code == "B" and "not the fault" in c.reason


def test_wrong_diagnostic_path() -> None:
    p = problem("localization")
    ep = build_episode(p, [overview(SCALED), {"tool": "describe", "result": "Deployment compose-post-service: ok",
                                              "arguments": {"kind": "deployment", "name": "compose-post-service",
                                                            "namespace": NS}}], ["compose-post-service"])
    c = classify(ep, p)
    assert c.code == "C" and "compose-post-service" in c.reason
    assert {e.step for e in c.evidence} >= {2, 3}  # where the evidence was, and the wrong path followed


def test_missing_verification() -> None:
    p = problem("mitigation")
    ep = build_episode(p, [overview(SCALED), {"tool": "plan", "arguments": SCALE_PLAN, "result": EXECUTED}], None,
                       hypothesis="user-service: scaled to 0")
    c = classify(ep, p)
    assert c.code == "D" and [e.step for e in c.evidence] == [3, 4]


def test_premature_termination() -> None:
    p = problem("mitigation")
    c = classify(build_episode(p, [], None), p)
    assert c.code == "E" and "before reading anything" in c.reason
    cut = build_episode(p, [overview(SCALED)], submitted=False, status="interrupted")
    c = classify(cut, p)
    assert c.code == "E" and "without an answer" in c.reason and c.evidence[0].step == 2


def test_incorrect_fix() -> None:
    p = problem("mitigation")
    restart = {"goal": "restart", "actions": [{"type": "rollout_restart", "namespace": NS,
                                               "name": "compose-post-service", "kind": "Deployment"}]}
    ep = build_episode(p, [overview(SCALED), {"tool": "plan", "arguments": restart, "result": EXECUTED},
                           {"tool": "wait", "arguments": {"seconds": 30}, "result": "waited 30 s"},
                           overview(SCALED)], None, hypothesis="compose-post-service: errors")
    c = classify(ep, p)
    assert c.code == "F" and "fault remained" in c.reason and c.evidence[0].step == 3
    invalid = build_episode(p, [overview(SCALED), {"tool": "plan", "arguments": SCALE_PLAN, "is_error": True,
                                                   "result": "plan aoi-1-1: invalid\nproblems:\n- no such object"}],
                            None)
    assert classify(invalid, p).code == "F"


def test_unsafe_or_refused() -> None:
    p = problem("mitigation")
    waiting = ("plan aoi-1-1: awaiting_approval (sha256 ab)\nthe observer may not sign it: scale is not allowed")
    ep = build_episode(p, [overview(SCALED), {"tool": "plan", "arguments": SCALE_PLAN, "is_error": True,
                                              "result": waiting}], None)
    c = classify(ep, p)
    assert c.code == "U" and c.evidence[0].step == 3 and "awaiting_approval" in c.evidence[0].note
    direct = build_episode(p, [{"tool": "execute_plan", "server": "executor", "is_error": True,
                                "result": "Error: executor.execute_plan changes the cluster: propose a plan"}], None)
    assert classify(direct, p).code == "U"


def test_detection_classes() -> None:
    p = problem("detection")
    assert classify(build_episode(p, [overview(SCALED)], "No"), p).code == "B"
    noop = ProblemSet.builtin().get("noop_detection_social_network-1")
    assert classify(build_episode(noop, [overview(HEALTHY)], "Yes"), noop).code == "C"
