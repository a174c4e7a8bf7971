"""The probe's Kubernetes investigation tools over the real MCP protocol against the simulator: cluster_overview,
describe, events, topology, kubectl and propose_plan, each on the AIOpsLab fault that it is meant to reveal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from cluster.sim import SimCluster, SimConfig
from cluster.sim.config import wall_epoch
from cluster.sim.faults.problems import PROBLEMS
from cluster.sim.faults.setup import SYMPTOM_SECONDS, WARMUP_SECONDS, bring_up
from cluster.sim.server import SimServer
from servers.executor.plan import parse_plan, plan_hash
from servers.probe.context import ProbeContext
from servers.probe.server import build_server
from servers.probe.settings import ProbeSettings
from servers.probe.telemetry import HttpReader

TARGET_PORT = "k8s_target_port-misconfig-localization-1"  # social-network: user-service's Service -> 9999
REVOKE_AUTH = "revoke_auth_mongodb-localization-1"  # hotel-reservation: geo crash-loops, not authorized on geo-db


@dataclass
class Sim:
    server: SimServer
    mcp: Any
    namespace: str
    kubeconfig: Path

    @property
    def cluster(self) -> SimCluster:
        return self.server.cluster

    def call(self, tool: str, args: dict[str, Any] | None = None) -> Any:
        async def go() -> Any:
            async with Client(self.mcp) as c:
                return await c.call_tool(tool, args or {})

        return anyio.run(go)

    def ok(self, tool: str, args: dict[str, Any] | None = None) -> tuple[str, dict]:
        r = self.call(tool, args)
        text = r.content[0].text
        assert not r.is_error, text
        return text, (r.structured_content or {}).get("result", {})


def _sim(tmp: Path, problem_id: str, extra: Any = None) -> Iterator[Sim]:
    # Simulated "now" lands on the wall clock once the problem is up, so ages and `since` read true.
    cluster = SimCluster(SimConfig(seed=1, epoch=wall_epoch(WARMUP_SECONDS + SYMPTOM_SECONDS)))
    server = SimServer(cluster, kubeconfig=tmp / "kc", telemetry=True).start()
    try:
        problem = PROBLEMS[problem_id]
        bring_up(cluster, problem)
        if extra:
            extra(cluster, problem.namespace)
        yield Sim(server, build_server(ProbeSettings(kubeconfig=str(tmp / "kc"))), problem.namespace, tmp / "kc")
    finally:
        server.stop()


def _named_port_service(cluster: SimCluster, ns: str) -> None:
    """A Service whose named targetPort no container port carries."""
    with cluster.locked():
        cluster.api.system_create("services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "text-grpc", "namespace": ns},
            "spec": {"selector": {"app": "text-service"}, "ports": [{"port": 9090, "targetPort": "grpc"}]}})
    cluster.advance(1)


@pytest.fixture(scope="module")
def port_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    yield from _sim(tmp_path_factory.mktemp("target-port"), TARGET_PORT, _named_port_service)


@pytest.fixture(scope="module")
def auth_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    yield from _sim(tmp_path_factory.mktemp("revoke-auth"), REVOKE_AUTH)


def _geo_pod(sim: Sim) -> str:
    return next(p["metadata"]["name"] for p in sim.cluster.store.list("pods", sim.namespace)
                if p["metadata"]["name"].startswith("geo-"))


# ------------------------------------------------------------------------------------------------ overview
def test_overview_names_the_crashlooping_pod_first(auth_sim: Sim) -> None:
    text, data = auth_sim.ok("cluster_overview")
    pod = _geo_pod(auth_sim)
    assert pod in text and "CrashLoopBackOff" in text
    assert text.index(pod) < text.index("Warning events")  # unhealthy things before the rest
    bad = data["unhealthy_pods"]
    assert [p["name"] for p in bad] == [pod]
    assert bad[0]["problem"] == "crash-looping" and bad[0]["restarts"] >= 2
    assert bad[0]["last_terminations"][0]["exit_code"] == 1
    assert any(w["name"] == "geo" and w["problem"] for w in data["workloads"])
    assert any(e["reason"] == "BackOff" and e["name"] == pod for e in data["warning_events"])
    assert data["summary"]["nodes_ready"] == data["summary"]["nodes"] == 3
    assert len(text) / 4 < 900, "the overview fits a few hundred tokens by default"


def test_overview_of_one_namespace_and_unknown_namespace(auth_sim: Sim) -> None:
    text, data = auth_sim.ok("cluster_overview", {"namespace": auth_sim.namespace})
    assert data["namespaces"] == [{"name": auth_sim.namespace, "pods": data["summary"]["pods"],
                                   "unhealthy_pods": 1}]
    assert "kube-system" not in text
    r = auth_sim.call("cluster_overview", {"namespace": "no-such-ns"})
    assert r.is_error and "no-such-ns" in r.content[0].text


# ------------------------------------------------------------------------------------------------ describe
def test_describe_service_says_the_target_port_matches_no_container_port(port_sim: Sim) -> None:
    text, data = port_sim.ok("describe", {"kind": "svc", "name": "user-service", "namespace": port_sim.namespace})
    assert "MISMATCH" in text and "targetPort 9999 matches no TCP container port" in text
    assert "9090/TCP" in text  # what the pods do declare
    check = data["port_checks"][0]
    assert check["ok"] is False and check["target_port"] == 9999
    assert len(data["endpoints"]["ready"]) == 1


def test_describe_service_with_a_good_and_an_unresolvable_named_port(port_sim: Sim) -> None:
    text, data = port_sim.ok("describe", {"kind": "service", "name": "text-service",
                                          "namespace": port_sim.namespace})
    assert "OK: matches a container port" in text and data["port_checks"][0]["ok"] is True
    text, data = port_sim.ok("describe", {"kind": "svc", "name": "text-grpc", "namespace": port_sim.namespace})
    assert "named targetPort 'grpc' does not resolve" in text
    assert data["port_checks"][0]["ok"] is False


def test_describe_pod_shows_owner_chain_state_and_last_termination(auth_sim: Sim) -> None:
    pod = _geo_pod(auth_sim)
    text, data = auth_sim.ok("describe", {"kind": "po", "name": pod, "namespace": auth_sim.namespace})
    assert "Owner chain: Pod/" in text and "<- Deployment/geo" in text
    assert [o["kind"] for o in data["owner_chain"]] == ["ReplicaSet", "Deployment"]
    assert "CrashLoopBackOff" in text and "exit code 1" in text
    c = data["containers"][0]
    assert c["image"] and c["restarts"] >= 2 and c["last_state"]["terminated"]["exitCode"] == 1
    assert "env (names only): JAEGER_SAMPLE_RATIO" in text
    assert any(e["reason"] == "BackOff" and e["count"] >= 2 for e in data["events"])


def test_describe_deployment_and_node(auth_sim: Sim) -> None:
    text, data = auth_sim.ok("describe", {"kind": "deploy", "name": "geo", "namespace": auth_sim.namespace})
    assert "Rollout: in progress" in text and "Replica sets (1" in text
    assert data["replicas"]["available"] == 0 and data["pods"][0]["status"] == "CrashLoopBackOff"
    text, data = auth_sim.ok("describe", {"kind": "node", "name": "kind-worker"})
    assert "cpu: requested" in text and "of 8 allocatable" in text
    assert {r["resource"] for r in data["allocation"]} >= {"cpu", "memory"}
    r = auth_sim.call("describe", {"kind": "deploy", "name": "nope", "namespace": auth_sim.namespace})
    assert r.is_error and "not found" in r.content[0].text and "list_resources" in r.content[0].text


# -------------------------------------------------------------------------------------------------- events
def test_events_are_deduplicated_newest_first_and_fenced(auth_sim: Sim) -> None:
    pod = _geo_pod(auth_sim)
    raw = [e for e in auth_sim.cluster.store.list("events", auth_sim.namespace)
           if e["involvedObject"]["name"] == pod]
    text, data = auth_sim.ok("events", {"namespace": auth_sim.namespace, "object_kind": "pod", "object_name": pod})
    keys = [(e["kind"], e["name"], e["type"], e["reason"], e["message"]) for e in data["events"]]
    assert len(keys) == len(set(keys)), "one line per object + reason + message"
    assert sum(e["count"] for e in data["events"]) == sum(e.get("count", 1) for e in raw)
    backoff = [e for e in data["events"] if e["reason"] == "BackOff"]
    assert len(backoff) == 1 and backoff[0]["count"] >= 2 and backoff[0]["first_seen"] < backoff[0]["last_seen"]
    seen = [e["last_seen"] for e in data["events"]]
    assert seen == sorted(seen, reverse=True)
    assert text.count("<<untrusted>>") == len(data["events"]) == text.count("<<end untrusted>>")


def test_events_filters(auth_sim: Sim) -> None:
    _, everything = auth_sim.ok("events", {"namespace": auth_sim.namespace, "budget": 50_000})
    _, warnings = auth_sim.ok("events", {"namespace": auth_sim.namespace, "type": "Warning"})
    assert warnings["events"] and all(e["type"] == "Warning" for e in warnings["events"])
    _, backoff = auth_sim.ok("events", {"reason": "BackOff"})
    assert backoff["events"] and {e["reason"] for e in backoff["events"]} == {"BackOff"}
    # the warm-up's events are ~3 minutes old; the fault's are younger
    _, recent = auth_sim.ok("events", {"namespace": auth_sim.namespace, "since": "2m", "budget": 50_000})
    assert len(recent["events"]) < len(everything["events"])
    r = auth_sim.call("events", {"since": "soon"})
    assert r.is_error and "10m" in r.content[0].text


def test_events_page_with_a_cursor(auth_sim: Sim) -> None:
    r = auth_sim.call("events", {"namespace": auth_sim.namespace, "budget": 150})
    data = r.structured_content
    assert data["truncated"] and data["cursor"]
    more, _ = auth_sim.ok("events", {"cursor": data["cursor"], "budget": 50_000})
    assert "(continued)" in more


# ------------------------------------------------------------------------------------------------ topology
def test_topology_flags_the_service_and_maps_the_call_graph(port_sim: Sim) -> None:
    text, data = port_sim.ok("topology", {"namespace": port_sim.namespace, "budget": 5000})
    assert set(data["flagged"]) == {"user-service", "text-grpc"}
    first = text.splitlines()[1]
    assert first.startswith("⚠ svc/") and "PROBLEM" in first
    svc = next(s for s in data["services"] if s["service"] == "user-service")
    assert any("targetPort 9999" in p for p in svc["problems"]) and svc["workloads"] == ["deployment/user-service"]
    edges = {(e["parent"], e["child"]) for e in data["call_graph"]}
    assert ("compose-post-service", "user-service") in edges
    assert "-> user-service:" in text and "callee flagged above" in text


def test_topology_without_jaeger_says_so(port_sim: Sim) -> None:
    ctx = ProbeContext.build(ProbeSettings(kubeconfig=str(port_sim.kubeconfig)))
    ctx.jaeger = HttpReader(None, "Jaeger", None)
    server = build_server(ctx.settings, ctx=ctx)

    async def go() -> Any:
        async with Client(server) as c:
            return await c.call_tool("topology", {"namespace": port_sim.namespace, "budget": 5000})

    r = anyio.run(go)
    assert not r.is_error
    assert "unavailable: Jaeger is not configured" in r.content[0].text
    assert "user-service" in r.structured_content["result"]["flagged"]


# ------------------------------------------------------------------------------------------------- kubectl
@pytest.mark.parametrize("command", ["delete pod x -n default", "kubectl apply -f x.yaml", "scale deploy/geo "
                                     "--replicas=0", "exec -it geo -- sh", "edit svc user-service", "rollout "
                                     "restart deploy/geo", "patch svc x -p {}"])
def test_kubectl_refuses_anything_but_reads(port_sim: Sim, command: str) -> None:
    r = port_sim.call("kubectl", {"command": command})
    assert r.is_error
    msg = r.content[0].text
    assert "read-only" in msg and "propose_plan" in msg


def test_kubectl_refuses_other_clusters_and_shell_syntax(port_sim: Sim) -> None:
    for command, words in (("get secrets -A --kubeconfig /root/.kube/config", "not accepted"),
                           ("get pods --token abc", "not accepted"), ("get pods | grep x", "shell syntax"),
                           ("logs -f geo", "no follow"), ("frobnicate", "unsupported verb")):
        r = port_sim.call("kubectl", {"command": command})
        assert r.is_error and words in r.content[0].text, (command, r.content[0].text)


def test_kubectl_reads_map_to_the_probe_tools(port_sim: Sim) -> None:
    ns = port_sim.namespace
    text, _ = port_sim.ok("kubectl", {"command": f"get pods -n {ns} -l app=user-service -o wide"})
    assert "list_resources(" in text and "user-service-" in text
    text, _ = port_sim.ok("kubectl", {"command": f"kubectl describe svc/user-service -n {ns}"})
    assert "MISMATCH" in text
    text, _ = port_sim.ok("kubectl", {"command": f"get svc user-service -n {ns} -o yaml"})
    assert "targetPort: 9999" in text
    text, data = port_sim.ok("kubectl", {"command": f"top pods -n {ns}"})
    assert "CPU(cores)" in text and data["pods"]
    text, _ = port_sim.ok("kubectl", {"command": "top nodes"})
    assert "kind-worker" in text
    text, _ = port_sim.ok("kubectl", {"command": f"logs deploy/user-service -n {ns} --tail 3"})
    assert "<<untrusted" in text
    text, _ = port_sim.ok("kubectl", {"command": f"events -n {ns} --for deploy/user-service"})
    assert "events(" in text
    text, data = port_sim.ok("kubectl", {"command": "api-resources --api-group apps"})
    assert "deployments" in text and all(r["api_version"] == "apps/v1" for r in data["resources"])
    r = port_sim.call("kubectl", {"command": f"get pod nope -n {ns}"})
    assert r.is_error and "not found" in r.content[0].text


# -------------------------------------------------------------------------------------------- propose_plan
def _plan(sim: Sim, **action: Any) -> dict:
    return {"id": "fix-user-service", "goal": "Point user-service at the port its pods listen on",
            "rationale": "describe svc: targetPort 9999 matches no container port (pods declare 9090)",
            "cluster": sim.server.url, "actions": [{"namespace": sim.namespace, "name": "user-service", **action}]}


def test_propose_plan_returns_canonical_form_hash_and_resource_versions(port_sim: Sim) -> None:
    plan = _plan(port_sim, type="patch_service", ports=[{"port": 9090, "target_port": 9090, "name": "9090"}])
    text, data = port_sim.ok("propose_plan", {"plan": plan})
    assert data["valid"] and not data["problems"] and not data["warnings"]
    parsed = parse_plan(data["canonical_json"])
    assert data["hash"] == plan_hash(parsed) and data["hash"] in text
    svc = port_sim.cluster.store.get("services", port_sim.namespace, "user-service")
    assert svc is not None
    assert data["targets"][0]["resource_version"] == svc["metadata"]["resourceVersion"]
    assert parsed.actions[0].resource_version is None  # the approval pins it, not the probe
    assert "aoi plan approve PLAN.json --key <key>" in text and "signed nothing" in text
    assert "matches the selected pods' container port" in text
    # the same plan as JSON text gives the same hash
    _, again = port_sim.ok("propose_plan", {"plan": json.dumps(plan)})
    assert again["hash"] == data["hash"]


def test_propose_plan_binds_resource_versions_on_request(port_sim: Sim) -> None:
    plan = _plan(port_sim, type="patch_service", ports=[{"port": 9090, "target_port": 9090}])
    _, data = port_sim.ok("propose_plan", {"plan": plan, "bind_resource_versions": True})
    assert parse_plan(data["canonical_json"]).actions[0].resource_version == data["targets"][0]["resource_version"]


def test_propose_plan_finds_a_wrong_fix_and_a_missing_target(port_sim: Sim) -> None:
    plan = _plan(port_sim, type="patch_service", ports=[{"port": 9090, "target_port": 9998}])
    plan["actions"].append({"type": "scale", "namespace": port_sim.namespace, "name": "no-such-deploy",
                            "replicas": 1})
    text, data = port_sim.ok("propose_plan", {"plan": plan})
    assert not data["valid"]
    assert any("targetPort 9998 matches no" in p for p in data["problems"])
    assert any("does not exist" in p for p in data["problems"])
    assert "NOT FOUND" in text


def test_propose_plan_explains_validation_errors_in_plain_words(port_sim: Sim) -> None:
    bad = {"id": "no spaces allowed", "goal": "x", "actions": [
        {"type": "scale", "namespace": port_sim.namespace, "name": "user-service", "replicas": -1},
        {"type": "reboot", "namespace": "x", "name": "y"},
        {"type": "patch_service", "namespace": "x", "name": "Y", "colour": "red"}]}
    text, data = port_sim.ok("propose_plan", {"plan": bad})
    assert not data["valid"] and text.startswith("INVALID plan")
    errors = "\n".join(data["errors"])
    assert "cluster: is required" in errors
    assert "actions[0].replicas: must be greater than or equal to 0" in errors
    assert "actions[1]: type 'reboot' is not an action type" in errors
    assert "actions[2].name: must be lowercase letters" in errors
    assert "actions[2].colour: is not a field here" in errors
    assert "hash" not in data
