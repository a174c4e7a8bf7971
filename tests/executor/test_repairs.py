"""Each action type repairs a real simulated fault: approve (pin state, dry-run, sign), execute, let the cluster
run, and the problem's mitigation oracle agrees."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cluster.sim.faults.oracles import mitigated
from tests.executor.conftest import Env, Keys, make_env

MONGO = ["mongo", "admin", "-u", "root", "-p", "root", "--authenticationDatabase", "admin", "--eval"]


def _pods(env: Env, key: str, value: str) -> list[str]:
    return sorted(p["metadata"]["name"] for p in env.srv.cluster.store.list("pods", env.ns)
                  if (p["metadata"].get("labels") or {}).get(key) == value)


def target_port(env: Env) -> list[dict[str, Any]]:
    svc = env.srv.cluster.store.get("services", env.ns, env.target)
    assert svc is not None
    ports = [{"name": p.get("name"), "port": p["port"], "target_port": 9090, "protocol": p.get("protocol")}
             for p in svc["spec"]["ports"]]
    return [{"type": "patch_service", "namespace": env.ns, "name": env.target, "ports": ports}]


def revoke_auth(env: Env) -> list[dict[str, Any]]:
    return [{"type": "exec", "kind": "Deployment", "namespace": env.ns, "name": "mongodb-geo",
             "command": [*MONGO, "db.grantRolesToUser('admin', [{role: 'readWrite', db: 'geo-db'}]);"]},
            {"type": "rollout_restart", "namespace": env.ns, "name": "geo"}]


def user_unregistered(env: Env) -> list[dict[str, Any]]:
    return [{"type": "exec", "kind": "Deployment", "namespace": env.ns, "name": "mongodb-geo",
             "command": ["bash", "/scripts/remove-mitigate-admin-geo-mongo.sh"]},
            *({"type": "delete_pod", "namespace": env.ns, "name": p} for p in _pods(env, "io.kompose.service", "geo"))]


def bad_image(env: Env) -> list[dict[str, Any]]:
    return [{"type": "set_image", "namespace": env.ns, "name": "geo", "container": "hotel-reserv-geo",
             "image": "yinfangchen/hotelreservation:latest"}]


def undo_bad_image(env: Env) -> list[dict[str, Any]]:
    return [{"type": "rollout_undo", "namespace": env.ns, "name": "geo"}]


def node_selector(env: Env) -> list[dict[str, Any]]:
    return [{"type": "patch_scheduling", "namespace": env.ns, "name": env.target, "node_selector": {}}]


def wrong_bin(env: Env) -> list[dict[str, Any]]:
    return [{"type": "patch_container", "namespace": env.ns, "name": "profile", "container": "hotel-reserv-profile",
             "command": ["profile"]}]


def tls(env: Env) -> list[dict[str, Any]]:
    d = env.srv.cluster.store.get("deployments.apps", env.ns, env.target)
    assert d is not None
    ctr = d["spec"]["template"]["spec"]["containers"][0]
    args = [a for a in ctr.get("args") or [] if not a.startswith("--tls") and not a.startswith("/etc/tls")
            and a != "requireTLS"]
    return [{"type": "patch_container", "namespace": env.ns, "name": env.target, "container": ctr["name"],
             "args": args},
            {"type": "rollout_restart", "namespace": env.ns, "name": "url-shorten-service"}]


def kafka_flag(env: Env) -> list[dict[str, Any]]:
    import json

    cm = env.srv.cluster.store.get("configmaps", env.ns, "flagd-config")
    assert cm is not None
    doc = json.loads(cm["data"]["demo.flagd.json"])
    doc["flags"]["kafkaQueueProblems"]["defaultVariant"] = "off"
    return [{"type": "merge_patch", "kind": "ConfigMap", "namespace": env.ns, "name": "flagd-config",
             "patch": {"data": {"demo.flagd.json": json.dumps(doc, indent=2)}}},
            {"type": "rollout_restart", "namespace": env.ns, "name": "flagd"}]


def released_volumes(env: Env) -> list[dict[str, Any]]:
    return [{"type": "merge_patch", "kind": "PersistentVolume", "namespace": "", "name": pv["metadata"]["name"],
             "patch": {"spec": {"claimRef": None}}}
            for pv in env.srv.cluster.store.list("persistentvolumes")
            if (pv.get("status") or {}).get("phase") == "Released"]


REPAIRS: dict[str, Callable[[Env], list[dict[str, Any]]]] = {
    "k8s_target_port-misconfig-mitigation-1": target_port,
    "revoke_auth_mongodb-mitigation-1": revoke_auth,
    "user_unregistered_mongodb-mitigation-1": user_unregistered,
    "misconfig_app_hotel_res-mitigation-1": bad_image,
    "assign_to_non_existent_node_social_net-mitigation-1": node_selector,
    "wrong_bin_usage-mitigation-1": wrong_bin,
    "auth_miss_mongodb-mitigation-1": tls,
    "astronomy_shop_kafka_queue_problems-mitigation-1": kafka_flag,
    "redeploy_without_PV-mitigation-1": released_volumes,
}


@pytest.mark.parametrize("problem", sorted(REPAIRS))
def test_repair(problem: str, tmp_path: Path, keys: Keys) -> None:
    env = make_env(tmp_path, keys, problem)
    try:
        # (AIOpsLab's oracle for the kafka flag checks pod health only, which the flag does not break.)
        assert not mitigated(env.srv.cluster, env.inc.fault).success or "kafka" in problem
        plan = env.plan(REPAIRS[problem](env))
        token = env.approve(plan)
        result = env.executor.execute(plan, token)
        assert result.status == "executed", result.model_dump_json(indent=1)
        assert all(a.status == "applied" for a in result.actions)
        assert all(a.changes for a in result.actions)  # every action reports what it changed
        env.srv.cluster.advance(120)
        verdict = mitigated(env.srv.cluster, env.inc.fault)
        assert verdict.success, verdict.reasons
    finally:
        env.close()


def test_rollout_undo(tmp_path: Path, keys: Keys) -> None:
    env = make_env(tmp_path, keys, "misconfig_app_hotel_res-mitigation-1")
    try:
        plan = env.plan(undo_bad_image(env))
        result = env.executor.execute(plan, env.approve(plan))
        assert result.status == "executed", result.message
        assert "revision" in result.actions[0].note
        image = [c.after for c in result.actions[0].changes if c.path.endswith(".image")]
        assert image == ['"yinfangchen/hotelreservation:latest"']
        env.srv.cluster.advance(120)
        assert mitigated(env.srv.cluster, env.inc.fault).success
    finally:
        env.close()


def test_chaos_and_exec_output(tmp_path: Path, keys: Keys) -> None:
    env = make_env(tmp_path, keys, "network_delay_hotel_res-detection-1")
    try:
        chaos = env.srv.cluster.store.list("networkchaos.chaos-mesh.org", env.ns)
        assert chaos
        name = chaos[0]["metadata"]["name"]
        plan = env.plan([
            {"type": "patch_chaos", "kind": "NetworkChaos", "namespace": env.ns, "name": name,
             "patch": {"metadata": {"annotations": {"experiment.chaos-mesh.org/pause": "true"}}}},
            {"type": "delete_chaos", "kind": "NetworkChaos", "namespace": env.ns, "name": name},
            {"type": "exec", "kind": "Deployment", "namespace": env.ns, "name": "mongodb-geo",
             "command": [*MONGO, "db.getUsers()"]},
        ])
        result = env.executor.execute(plan, env.approve(plan))
        assert result.status == "executed", result.model_dump_json(indent=1)
        assert env.srv.cluster.store.get("networkchaos.chaos-mesh.org", env.ns, name) is None
        assert result.actions[2].exit_code == 0 and "admin" in (result.actions[2].stdout or "")
    finally:
        env.close()


def test_stop_at_first_failure(env: Env) -> None:
    """The exec fails at run time (not in the dry-run): later actions are not run, earlier ones stay."""
    plan = env.plan([
        {"type": "scale", "namespace": env.ns, "name": env.target, "replicas": 1},
        {"type": "exec", "kind": "Deployment", "namespace": env.ns, "name": env.target,
         "command": [*MONGO, "db.getUsers()"]},  # user-service has no mongo binary
        {"type": "rollout_restart", "namespace": env.ns, "name": env.target},
    ])
    env.srv.cluster.advance(30)  # the scaled-up pod must be running for the exec to be attempted
    policy_ok = env.executor.check(plan, env.approve(plan))
    assert policy_ok.status == "refused" and policy_ok.reason == "dry_run_failed"  # no running pod yet
    # Scale first, so that a pod runs; then the exec runs and fails.
    first = env.plan([plan.actions[0].model_dump()], plan_id="scale-first")
    assert env.executor.execute(first, env.approve(first)).status == "executed"
    env.srv.cluster.advance(60)
    plan = env.plan([a.model_dump() for a in plan.actions], plan_id="fix-2")
    result = env.executor.execute(plan, env.approve(plan))
    assert result.status == "failed" and result.failed_action == 1, result.model_dump_json(indent=1)
    assert [a.status for a in result.actions] == ["applied", "failed", "not_run"]
    assert result.actions[1].exit_code != 0 and "mongo" in result.actions[1].message
    entry = env.audit.entries()[-1]
    assert entry["result"] == "failed" and entry["outcomes"] == ["0:applied", "1:failed", "2:not_run"]
