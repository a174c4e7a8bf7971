"""Read-only by construction, shown two ways.

1. The access-log test: every tool in TOOLS, called over MCP with many argument combinations (derived from its input
   schema plus realistic values, including attempts to make it write), against the simulator, whose access log must
   then hold nothing but reads.
2. The client itself: the read-only Kubernetes client refuses POST/PUT/PATCH/DELETE through the typed API, the
   dynamic client, raw ``call_api`` and the connection pool, and nothing reaches the server.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.dynamic import DynamicClient
from mcp import Client

from cluster.connect import load_api_client
from cluster.readonly import WriteRefused
from cluster.sim import SimCluster, SimConfig
from servers.probe.tools import TOOLS
from tests.probe.argspace import argument_combinations, realistic_values
from tests.probe.conftest import REPO, ProbeSim, run_async

READ_METHODS = {"GET", "HEAD"}
# Prometheus treats a POSTed query form as a read (the issue allows it); nothing else may be anything but GET.
READ_POST_PATHS = ("/prometheus/api/v1/query", "/prometheus/api/v1/query_range")
# Subresources that act on a container or the network even through a GET (a WebSocket upgrade, a proxy); no object
# of the fixture cluster has one of these names, so any path segment so named is one.
ACTING = re.compile(r"/(exec|attach|portforward|proxy)(/|$)")
MAX_CALLS_PER_TOOL = 60
PARTS = 2  # each tool's calls in two halves, so parallel test workers share the slow ones


# ------------------------------------------------------------------------------------------------ the tests
def _non_reads(log: list[tuple[str, str]]) -> list[tuple[str, str]]:
    bad = []
    for method, path in log:
        if method == "POST" and path in READ_POST_PATHS:
            continue
        if method not in READ_METHODS or ACTING.search(path) or "/.." in path:
            bad.append((method, path))
    return bad


@pytest.mark.parametrize("part", range(PARTS))
@pytest.mark.parametrize("tool", [t.name for t in TOOLS])
def test_every_tool_only_reads(probe_sim: ProbeSim, probe_server, tool: str, part: int) -> None:
    pools = realistic_values(probe_sim)
    cluster = probe_sim.cluster
    outcomes: dict[str, int] = {"ok": 0, "error": 0}

    async def main() -> list[dict]:
        async with Client(probe_server) as c:
            listed = {t.name: t for t in (await c.list_tools()).tools}
            schema = listed[tool].input_schema
            every = argument_combinations(schema, pools, seed=len(tool))[:MAX_CALLS_PER_TOOL]
            assert every, f"no argument combinations could be derived for {tool} from {schema}"
            calls = every[part::PARTS]
            for args in calls:
                r = await c.call_tool(tool, args)
                outcomes["error" if r.is_error else "ok"] += 1
                cursor = (r.structured_content or {}).get("cursor")
                if cursor and "cursor" in schema.get("properties", {}):  # follow one continuation too
                    await c.call_tool(tool, {"cursor": cursor})
            # the smallest budget, to make continuations happen
            if part == 0 and "budget" in schema.get("properties", {}):
                small = {**calls[0], "budget": 100}
                r = await c.call_tool(tool, small)
                cursor = (r.structured_content or {}).get("cursor")
                if cursor:
                    await c.call_tool(tool, {"cursor": cursor, "budget": 100})
            return calls

    cluster.access_log = []
    try:
        calls = run_async(main)
        log = list(cluster.access_log)
    finally:
        cluster.access_log = None
    assert len(calls) >= 3 or not _optional_args(probe_server, tool), (tool, calls)
    assert log, f"{tool}: the simulator's access log is empty; the hook is not recording"
    assert _non_reads(log) == [], f"{tool} sent non-read requests: {_non_reads(log)[:10]}"
    assert outcomes["ok"] > 0, f"{tool}: no call succeeded among {len(calls)}, so the test proved little"


def _optional_args(server, tool: str) -> bool:
    t = server._tool_manager.get_tool(tool)
    return bool(t and len(t.parameters.get("properties", {})) > len(t.parameters.get("required", [])))


def test_access_log_records_writes(probe_sim: ProbeSim) -> None:
    """The hook the test above relies on does see a write (through a client that may write)."""
    api = load_api_client(probe_sim.kubeconfig, readonly=False)
    probe_sim.cluster.access_log = []
    try:
        k8s.CoreV1Api(api).create_namespaced_config_map(probe_sim.namespace, k8s.V1ConfigMap(
            metadata=k8s.V1ObjectMeta(name="access-log-check")))
        log = list(probe_sim.cluster.access_log)
    finally:
        probe_sim.cluster.access_log = None
        k8s.CoreV1Api(api).delete_namespaced_config_map("access-log-check", probe_sim.namespace)
    assert ("POST", f"/api/v1/namespaces/{probe_sim.namespace}/configmaps") in log
    assert _non_reads(log)


# ------------------------------------------------------------------------------------- the read-only client
def _writes(api: k8s.ApiClient, ns: str) -> list[tuple[str, Any]]:
    core = k8s.CoreV1Api(api)
    apps = k8s.AppsV1Api(api)
    cm = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="ro-check"), data={"a": "b"})
    return [
        ("typed POST", lambda: core.create_namespaced_config_map(ns, cm)),
        ("typed PUT", lambda: core.replace_namespaced_config_map("ro-check", ns, cm)),
        ("typed PATCH", lambda: apps.patch_namespaced_deployment_scale("billing", ns, {"spec": {"replicas": 0}})),
        ("typed DELETE", lambda: core.delete_namespaced_pod("leaky", ns)),
        ("typed DELETE collection", lambda: core.delete_collection_namespaced_pod(ns)),
        ("typed eviction", lambda: core.create_namespaced_pod_eviction("leaky", ns, k8s.V1Eviction(
            metadata=k8s.V1ObjectMeta(name="leaky", namespace=ns)))),
    ]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_raw_call_api_refuses_writes(probe_sim: ProbeSim, method: str) -> None:
    api = load_api_client(probe_sim.kubeconfig)
    ns = probe_sim.namespace
    path = f"/api/v1/namespaces/{ns}/pods" + ("" if method == "POST" else "/leaky")
    probe_sim.cluster.access_log = []
    try:
        m, url, headers, body, _ = api.param_serialize(method, path, body={"metadata": {"name": "ro-check"}},
                                                       header_params={"Content-Type": "application/json"},
                                                       auth_settings=["BearerToken"])
        with pytest.raises(WriteRefused) as info:
            api.call_api(m, url, header_params=headers, body=body)
        assert info.value.method == method and "read-only" in str(info.value)
        with pytest.raises(WriteRefused):  # the pool beneath, for code that skips the REST layer
            api.rest_client.pool_manager.request(method, url, body=b"{}")
        log = list(probe_sim.cluster.access_log)
    finally:
        probe_sim.cluster.access_log = None
    assert log == [], f"{method}: something reached the server: {log}"


@pytest.mark.parametrize("path", [
    "/api/v1/namespaces/{ns}/pods/leaky/exec?command=id&stdout=true",
    "/api/v1/namespaces/{ns}/pods/leaky/attach",
    "/api/v1/namespaces/{ns}/pods/leaky/portforward?ports=80",
    "/api/v1/namespaces/{ns}/services/user-service/proxy/admin/reset",
    "/api/v1/namespaces/{ns}/services/http:user-service:80/proxy/",
    "/api/v1/nodes/kind-worker/proxy/metrics",
    "/api/v1/namespaces/{ns}/pods/leaky%2Fexec",
    "/api/v1/proxy/namespaces/{ns}/services/user-service",
    "/api/v1/namespaces/{ns}/pods/x/../leaky/exec",
    "/api/v1/namespaces/{ns}/pods/../../../api/v1/nodes",
])
def test_acting_subresources_are_refused_even_as_get(probe_sim: ProbeSim, path: str) -> None:
    """exec/attach/portforward run something and the proxies forward a request to a pod, service or node: a GET
    of them is an action, so the read-only client refuses it however the path was built."""
    api = load_api_client(probe_sim.kubeconfig)
    probe_sim.cluster.access_log = []
    try:
        with pytest.raises(WriteRefused) as info:
            api.call_api("GET", api.configuration.host + path.format(ns=probe_sim.namespace))
        log = list(probe_sim.cluster.access_log)
    finally:
        probe_sim.cluster.access_log = None
    assert info.value.method == "GET"
    assert log == []


def test_reads_named_like_subresources_still_work(probe_sim: ProbeSim) -> None:
    """Objects and namespaces that happen to be called exec or proxy are still readable, and so are logs."""
    from cluster.readonly import check

    for path in ["/api/v1/namespaces/proxy/pods/exec", "/api/v1/namespaces/exec/pods", "/api/v1/nodes/proxy",
                 "/api/v1/namespaces/ns/pods/proxy/log", "/api/v1/namespaces/ns/services/exec",
                 "/apis/apps/v1/namespaces/ns/deployments/attach", "/api/v1/namespaces/ns/pods/leaky/log?tailLines=5"]:
        check("GET", "https://127.0.0.1:6443" + path)
    api = load_api_client(probe_sim.kubeconfig)
    resp = api.call_api("GET", f"{api.configuration.host}/api/v1/namespaces/{probe_sim.namespace}/pods/leaky/log",
                        header_params={"Authorization": f"Bearer {probe_sim.server.token}"})
    resp.read()
    assert resp.status == 200 and b"password=" in resp.data


def test_typed_and_dynamic_clients_refuse_writes(probe_sim: ProbeSim) -> None:
    api = load_api_client(probe_sim.kubeconfig)
    ns = probe_sim.namespace
    dyn = DynamicClient(api)  # discovery: GETs only
    pods = dyn.resources.get(api_version="v1", kind="Pod")
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    attempts = [*_writes(api, ns),
                ("dynamic POST", lambda: pods.create(namespace=ns, body={
                    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ro-check"},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}})),
                ("dynamic PUT", lambda: deployments.replace(namespace=ns, body={
                    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "billing"}})),
                ("dynamic PATCH", lambda: deployments.patch(namespace=ns, name="billing", body={
                    "spec": {"replicas": 0}}, content_type="application/merge-patch+json")),
                ("dynamic DELETE", lambda: pods.delete(namespace=ns, name="leaky")),
                ("dynamic server-side apply", lambda: deployments.server_side_apply(
                    namespace=ns, body={"apiVersion": "apps/v1", "kind": "Deployment",
                                        "metadata": {"name": "billing"}}, field_manager="x"))]
    probe_sim.cluster.access_log = []
    try:
        for label, attempt in attempts:
            with pytest.raises(WriteRefused):
                attempt()
            assert label
        log = list(probe_sim.cluster.access_log)
    finally:
        probe_sim.cluster.access_log = None
    assert log == [], f"something reached the server: {log}"
    # and the world is as it was
    store = probe_sim.cluster.store
    assert store.get("pods", ns, "leaky") is not None
    assert store.get("configmaps", ns, "ro-check") is None
    assert store.get("deployments.apps", ns, "billing")["spec"]["replicas"] == 1


def test_reads_still_work_through_every_client(probe_sim: ProbeSim) -> None:
    api = load_api_client(probe_sim.kubeconfig)
    ns = probe_sim.namespace
    probe_sim.cluster.access_log = []
    try:
        names = {p.metadata.name for p in k8s.CoreV1Api(api).list_namespaced_pod(ns).items}
        dyn = DynamicClient(api).resources.get(api_version="v1", kind="Pod").get(namespace=ns, name="leaky")
        log = list(probe_sim.cluster.access_log)
    finally:
        probe_sim.cluster.access_log = None
    assert "leaky" in names and dyn.metadata.name == "leaky"
    assert log and {m for m, _ in log} <= READ_METHODS


def test_argument_generator_covers_schemas() -> None:
    """The generator behind the access-log test: enums, bounds, booleans, nested objects, required arguments."""
    schema = {"type": "object", "required": ["kind"], "properties": {
        "kind": {"type": "string"},
        "type": {"anyOf": [{"enum": ["Normal", "Warning"], "type": "string"}, {"type": "null"}]},
        "tail": {"type": "integer", "minimum": 1, "maximum": 100},
        "previous": {"type": "boolean"},
        "plan": {"$ref": "#/$defs/Plan"}},
        "$defs": {"Plan": {"type": "object", "required": ["steps"], "properties": {
            "steps": {"type": "array", "items": {"type": "string"}}}}}}
    pools = {"kind": ["pods", "nodes"], "plan": [{"steps": []}], "command": ["get pods"]}
    calls = argument_combinations(schema, pools)
    assert calls[0] == {"kind": "pods"}
    seen = {(k, repr(v)) for c in calls for k, v in c.items()}
    for expected in [("type", "'Warning'"), ("type", "None"), ("tail", "1"), ("tail", "100"), ("previous", "True"),
                     ("kind", "'nodes'")]:
        assert expected in seen, expected
    assert all("kind" in c for c in calls)
    assert not any(c.get("tail") not in (None, *range(1, 101)) for c in calls)
    assert any(isinstance(c.get("plan"), dict) for c in calls)
    assert len(calls) >= 10


# ------------------------------------------------------------------------------------------- the RBAC role
RBAC = REPO / "deploy" / "probe-rbac.yaml"
READ_VERBS = {"get", "list", "watch"}


def _rbac() -> dict[str, dict]:
    return {d["kind"]: d for d in yaml.safe_load_all(RBAC.read_text()) if d}


def test_rbac_role_is_read_only_without_secrets(probe_sim: ProbeSim) -> None:
    docs = _rbac()
    assert docs["ServiceAccount"]["metadata"] == {"name": "aoi-probe", "namespace": "aoi"}
    assert docs["Namespace"]["metadata"]["name"] == "aoi"
    binding = docs["ClusterRoleBinding"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "aoi-probe"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "aoi-probe", "namespace": "aoi"}]
    rules = docs["ClusterRole"]["rules"]
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, rule  # no nonResourceURLs, no resourceNames
        assert set(rule["verbs"]) <= READ_VERBS, rule
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"], rule
        for group in rule["apiGroups"]:
            for res in rule["resources"]:
                granted.setdefault((group, res), set()).update(rule["verbs"])
    assert not any(res == "secrets" or res.startswith("secrets/") for _, res in granted)
    assert [r for _, r in granted if "/" in r] == ["pods/log"]
    assert granted[("", "pods/log")] == {"get"}
    assert granted[("metrics.k8s.io", "pods")] >= {"get", "list"}
    # every resource the simulator serves (a kind cluster's built-ins, CRDs) is readable, except secrets
    missing = [f"{rt.plural}.{rt.group}" if rt.group else rt.plural for rt in probe_sim.cluster.registry
               if (rt.group, rt.plural) != ("", "secrets")
               and not granted.get((rt.group, rt.plural), set()) >= ({"get", "list"} if rt.group == "metrics.k8s.io"
                                                                      else READ_VERBS)]
    assert missing == []


def test_rbac_manifests_are_accepted_by_an_api_server() -> None:
    cluster = SimCluster(SimConfig(seed=2))
    order = ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"]
    docs = _rbac()
    assert sorted(docs) == sorted(order)
    with cluster.locked():
        for kind in order:
            doc = docs[kind]
            rt = cluster.registry.by_kind(doc["apiVersion"], kind)
            assert rt is not None, kind
            created = cluster.api.create(rt, doc["metadata"].get("namespace", ""), doc)
            assert created["metadata"]["uid"]
