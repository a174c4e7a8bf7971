"""Each grader against right, wrong and malformed submissions, as AIOpsLab grades them."""

from __future__ import annotations

from typing import Any

import pytest

from bench.graders import GradeContext, grade
from bench.problems import ProblemSet
from cluster.sim import SimCluster, SimConfig
from cluster.sim.faults.setup import bring_up

PS = ProblemSet.builtin()


def g(pid: str, submission: Any, submitted: bool = True) -> dict[str, Any]:
    return grade(PS.get(pid), submission, submitted)


# ------------------------------------------------------------------------------------------------ detection
@pytest.mark.parametrize(("submission", "ok", "verdict"), [
    ("Yes", True, "Correct"), (" yes\n", True, "Correct"), ("YES", True, "Correct"),
    ("No", False, "Incorrect"), ("Yes, the text-service is down", False, "Incorrect"),
    (["Yes"], False, "Invalid Format"), (True, False, "Invalid Format"), ({"answer": "Yes"}, False, "Invalid Format"),
    (None, False, "Invalid Format"),
])
def test_detection(submission: Any, ok: bool, verdict: str) -> None:
    r = g("k8s_target_port-misconfig-detection-1", submission)
    assert r["success"] is ok and r["score"] == float(ok) and r["detection_accuracy"] == verdict
    assert r["expected"] == "Yes" and r["task"] == "detection"


def test_detection_noop_expects_no_and_unsubmitted_is_invalid() -> None:
    assert g("noop_detection_hotel_reservation-1", "no")["success"] is True
    assert g("noop_detection_hotel_reservation-1", "Yes")["success"] is False
    r = g("k8s_target_port-misconfig-detection-1", "Yes", submitted=False)  # never submitted: nothing to grade
    assert r["success"] is False and r["detection_accuracy"] == "Invalid Format" and r["submitted"] is None


# ------------------------------------------------------------------------------------------------ localization
LOC = "revoke_auth_mongodb-localization-1"  # target mongodb-geo; AIOpsLab also accepts "geo" for this family


@pytest.mark.parametrize(("submission", "ok", "accuracy", "at1", "at3"), [
    (["mongodb-geo"], True, 100.0, True, True),
    ("mongodb-geo", True, 100.0, True, True),  # a bare name is a one-name list
    (["geo"], True, 100.0, True, True),  # the mongodb- allowance
    (["geo", "mongodb-geo"], False, 50.0, True, True),  # a subset: not a success, half accuracy
    (["frontend", "search", "mongodb-geo"], False, 100.0 / 3, False, True),  # Acc@3 but not Acc@1
    (["frontend", "search", "rate", "mongodb-geo"], False, 25.0, False, False),  # beyond the first three
    (["Mongodb-Geo"], False, 0.0, False, False),  # case-sensitive, as AIOpsLab
    (["mongodb-rate"], False, 0.0, False, False),
    ([], False, 0.0, False, False),
])
def test_localization(submission: Any, ok: bool, accuracy: float, at1: bool, at3: bool) -> None:
    r = g(LOC, submission)
    assert r["success"] is ok
    assert r["localization_accuracy"] == pytest.approx(accuracy)
    assert (r["acc_at_1"], r["acc_at_3"]) == (at1, at3)
    assert r["valid_format"] is True


@pytest.mark.parametrize("submission", [{"service": "mongodb-geo"}, ["mongodb-geo", 3], 42, None])
def test_localization_malformed(submission: Any) -> None:
    r = g(LOC, submission)
    assert r["success"] is False and r["valid_format"] is False and r["localization_accuracy"] == 0.0
    assert not r["acc_at_1"] and not r["acc_at_3"]


def test_localization_without_allowance() -> None:
    # k8s_target_port-misconfig grades the exact service name only
    assert g("k8s_target_port-misconfig-localization-1", ["user-service"])["success"] is True
    assert g("k8s_target_port-misconfig-localization-1", ["user"])["success"] is False


# ------------------------------------------------------------------------------------------------ analysis
ANA = "assign_to_non_existent_node_social_net-analysis-1"  # Virtualization / Dependency Problem


@pytest.mark.parametrize(("submission", "ok", "level", "ftype", "valid"), [
    ({"system_level": "Virtualization", "fault_type": "Dependency Problem"}, True, True, True, True),
    ({"system_level": " virtualization ", "fault_type": "DEPENDENCY PROBLEM"}, True, True, True, True),
    ({"system_level": "Virtualization", "fault_type": "Misconfiguration"}, False, True, False, True),
    ({"system_level": "Application", "fault_type": "Dependency Problem"}, False, False, True, True),
    ({"system_level": "Virtualization"}, False, True, False, True),  # a field missing
    ({"system_level": ["Virtualization"], "fault_type": 7}, False, False, False, True),
    ("Virtualization, Dependency Problem", False, False, False, False),
    (None, False, False, False, False),
])
def test_analysis(submission: Any, ok: bool, level: bool, ftype: bool, valid: bool) -> None:
    r = g(ANA, submission)
    assert r["success"] is ok
    assert (r["system_level_correct"], r["fault_type_correct"], r["valid_format"]) == (level, ftype, valid)
    assert r["expected"] == {"system_level": "Virtualization", "fault_type": "Dependency Problem"}


# ------------------------------------------------------------------------------------------------ mitigation
MIT = "scale_pod_zero_social_net-mitigation-1"


@pytest.fixture
def broken() -> tuple[SimCluster, Any]:
    """A cluster with the problem's fault in place (no HTTP server: the grader reads the cluster's state)."""
    cluster = SimCluster(SimConfig(seed=5))
    incident = bring_up(cluster, PS.get(MIT).sim)
    return cluster, incident.fault


def test_mitigation_unsolved_cluster(broken: tuple[SimCluster, Any]) -> None:
    cluster, fault = broken
    r = grade(PS.get(MIT), None, True, GradeContext(cluster=cluster, fault=fault))
    assert r["success"] is False and r["reasons"]  # the oracle says what is still wrong
    assert r["oracle"] == PS.get(MIT).answer


def test_mitigation_solved_cluster_whatever_was_submitted(broken: tuple[SimCluster, Any]) -> None:
    cluster, fault = broken
    fault.recover(cluster)  # AIOpsLab's own recovery: scale the deployment back
    cluster.advance(60)
    for submission, submitted in ((None, True), ("garbage", True), ({"x": 1}, True), (None, False)):
        r = grade(PS.get(MIT), submission, submitted, GradeContext(cluster=cluster, fault=fault))
        assert r["success"] is True and r["score"] == 1.0, r  # the state is graded, not the submission


def test_mitigation_needs_the_cluster() -> None:
    with pytest.raises(ValueError, match="needs the cluster"):
        g(MIT, None)
