"""The official Kubernetes Python client against the simulator over HTTPS: CRUD, watches, logs, scale,
optimistic concurrency, authentication, and errors answered as real ``Status`` objects.

Raw requests (no token, a wrong token, garbage bodies) go through ``urllib`` with the kubeconfig's CA, so
the server's TLS and authentication are exercised exactly as a client sees them.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from cluster.sim.server import SimServer
from tests.conftest import wait_for

# ------------------------------------------------------------------------------------------------ helpers


@pytest.fixture
def api_client(live_server: SimServer) -> Iterator[k8s.ApiClient]:
    assert live_server.kubeconfig_path is not None
    client = k8s_config.new_client_from_config(config_file=str(live_server.kubeconfig_path))
    yield client
    client.close()


@pytest.fixture
def core(api_client: k8s.ApiClient) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: k8s.ApiClient) -> k8s.AppsV1Api:
    return k8s.AppsV1Api(api_client)


def status_of(e: ApiException) -> dict:
    """The Status object a failed call answered with."""
    assert e.body, f"no body in the {e.status} answer"
    body = json.loads(e.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure", body
    assert body["code"] == e.status, body
    return body


def deployment(name: str, image: str = "nginx:1.27", replicas: int = 2, labels: dict | None = None,
               selector: dict | None = None) -> dict:
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": selector or labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


def pod(name: str, image: str = "nginx:1.27", command: list[str] | None = None, **spec: Any) -> dict:
    ctr: dict[str, Any] = {"name": "main", "image": image}
    if command:
        ctr["command"] = command
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [ctr], **spec}}


class Raw:
    """Plain HTTPS requests to the simulator, trusting only the kubeconfig's CA."""

    def __init__(self, server: SimServer):
        assert server.kubeconfig_path is not None
        cfg = yaml.safe_load(server.kubeconfig_path.read_text())
        cluster = cfg["clusters"][0]["cluster"]
        self.url = cluster["server"]
        self.token = cfg["users"][0]["user"]["token"]
        self.ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())

    def __call__(self, method: str, path: str, body: bytes | None = None, token: str | None = "default",
                 content_type: str = "application/json") -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if token == "default":
            token = self.token
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as resp:
                code, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            code, raw = e.code, e.read()
        try:
            return code, json.loads(raw)
        except ValueError:
            return code, raw.decode()


@pytest.fixture
def raw(live_server: SimServer) -> Raw:
    return Raw(live_server)


# ------------------------------------------------------------------------------------------- basic CRUD
def test_create_read_list_and_delete_a_pod(core: k8s.CoreV1Api, namespace: str) -> None:
    created = core.create_namespaced_pod(namespace, pod("web"))
    assert created.metadata.uid and created.metadata.resource_version
    assert created.spec.restart_policy == "Always"  # defaulted by the server
    assert created.spec.containers[0].image_pull_policy == "IfNotPresent"

    def running() -> k8s.V1Pod | None:
        p = core.read_namespaced_pod("web", namespace)
        return p if p.status.phase == "Running" and p.status.pod_ip else None

    p = wait_for(running, what="pod web Running")
    assert p.spec.node_name in ("kind-worker", "kind-worker2")
    assert p.status.container_statuses[0].ready
    assert p.status.container_statuses[0].state.running.started_at is not None
    names = [x.metadata.name for x in core.list_namespaced_pod(namespace).items]
    assert names == ["web"]
    core.delete_namespaced_pod("web", namespace)
    wait_for(lambda: not core.list_namespaced_pod(namespace).items, what="pod web gone")


def test_list_pagination_with_limit_and_continue(core: k8s.CoreV1Api, namespace: str) -> None:
    for i in range(5):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"cm-{i}"}, "data": {"i": str(i)}})
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_namespaced_config_map(namespace, limit=2, _continue=token)
        pages += 1
        seen += [c.metadata.name for c in page.items]
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count is not None
    assert seen == ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4", "kube-root-ca.crt"]
    assert pages == 3


def test_watch_streams_a_pod_from_creation_to_running(core: k8s.CoreV1Api, namespace: str) -> None:
    created = core.create_namespaced_pod(namespace, pod("watched"))
    w = watch.Watch()
    events: list[tuple[str, str | None, str | None]] = []
    # Watching from the creation's resourceVersion replays every change since, in order.
    for ev in w.stream(core.list_namespaced_pod, namespace, resource_version=created.metadata.resource_version,
                       timeout_seconds=20):
        obj = ev["object"]
        events.append((ev["type"], obj.status.phase if obj.status else None, obj.spec.node_name))
        if obj.status and obj.status.phase == "Running":
            w.stop()
    assert events, "the watch saw nothing"
    assert all(t == "MODIFIED" for t, _, _ in events), events
    assert events[0][2] is not None, "the first change after creation is the scheduler's binding"
    assert events[-1][1] == "Running", events
    assert [p for _, p, _ in events].count("Running") == 1
    rvs = []
    for ev in w.stream(core.list_namespaced_pod, namespace, timeout_seconds=1):
        rvs.append((ev["type"], ev["object"].metadata.name))
        w.stop()
    assert rvs == [("ADDED", "watched")]  # a watch without a resourceVersion starts with the current state


def test_logs_tail_and_previous(core: k8s.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod("talker", "busybox", ["sh", "-c", "echo one; echo two; echo three; "
                                                                     "sleep infinity"]))
    core.create_namespaced_pod(namespace, pod("crasher", "busybox", ["sh", "-c", "echo boom; exit 1"]))
    wait_for(lambda: core.read_namespaced_pod("talker", namespace).status.phase == "Running")
    assert core.read_namespaced_pod_log("talker", namespace) == "one\ntwo\nthree\n"
    assert core.read_namespaced_pod_log("talker", namespace, tail_lines=1) == "three\n"
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log("talker", namespace, previous=True)
    assert exc.value.status == 400
    assert "previous terminated container" in status_of(exc.value)["message"]
    wait_for(lambda: core.read_namespaced_pod("crasher", namespace).status.container_statuses[0].restart_count >= 1)
    assert core.read_namespaced_pod_log("crasher", namespace, previous=True) == "boom\n"


def test_scale_subresource_and_deployment_status(apps: k8s.AppsV1Api, core: k8s.CoreV1Api,
                                                  namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=1))
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert scale.spec.replicas == 1 and scale.status.selector == "app=web"
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 3}})

    def available() -> bool:
        d = apps.read_namespaced_deployment("web", namespace)
        return d.status.available_replicas == 3 and d.status.ready_replicas == 3

    wait_for(available, what="3 available replicas")
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 3 and all(p.status.phase == "Running" for p in pods)
    rs = apps.list_namespaced_replica_set(namespace).items
    assert len(rs) == 1 and rs[0].metadata.owner_references[0].kind == "Deployment"
    assert rs[0].metadata.annotations["deployment.kubernetes.io/revision"] == "1"


def test_delete_propagation_orphan_keeps_replicasets(apps: k8s.AppsV1Api, core: k8s.CoreV1Api,
                                                     namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    wait_for(lambda: len(apps.list_namespaced_replica_set(namespace).items) == 1)
    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Orphan")
    (rs,) = apps.list_namespaced_replica_set(namespace).items
    assert not rs.metadata.owner_references
    wait_for(lambda: len(core.list_namespaced_pod(namespace).items) == 2)
    apps.delete_namespaced_replica_set(rs.metadata.name, namespace, propagation_policy="Foreground")
    wait_for(lambda: not core.list_namespaced_pod(namespace).items, what="pods collected")


# ---------------------------------------------------------------------------------------- concurrency
def test_stale_update_is_409_conflict(core: k8s.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}, "data": {"v": "0"}})
    stale = core.read_namespaced_config_map("cfg", namespace)
    first = core.read_namespaced_config_map("cfg", namespace)
    first.data = {"v": "1"}
    updated = core.replace_namespaced_config_map("cfg", namespace, first)
    assert int(updated.metadata.resource_version) > int(stale.metadata.resource_version)
    stale.data = {"v": "2"}
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map("cfg", namespace, stale)
    assert exc.value.status == 409
    status = status_of(exc.value)
    assert status["reason"] == "Conflict"
    assert "the object has been modified" in status["message"]
    assert status["details"]["name"] == "cfg"
    assert core.read_namespaced_config_map("cfg", namespace).data == {"v": "1"}
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}})
    assert exc.value.status == 409 and status_of(exc.value)["reason"] == "AlreadyExists"


def test_not_found_is_a_404_status(core: k8s.CoreV1Api, apps: k8s.AppsV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod("nope", namespace)
    status = status_of(exc.value)
    assert exc.value.status == 404 and status["reason"] == "NotFound"
    assert status["message"] == 'pods "nope" not found'
    assert status["details"] == {"name": "nope", "group": "", "kind": "pods"}
    with pytest.raises(ApiException) as exc:
        apps.read_namespaced_deployment("nope", namespace)
    assert status_of(exc.value)["message"] == 'deployments.apps "nope" not found'
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("no-such-namespace-xyz", {"metadata": {"name": "x"}})
    assert exc.value.status == 404 and status_of(exc.value)["reason"] == "NotFound"


def test_invalid_objects_are_422_with_causes(apps: k8s.AppsV1Api, core: k8s.CoreV1Api, namespace: str) -> None:
    bad = deployment("web", labels={"app": "web"}, selector={"app": "other"})
    with pytest.raises(ApiException) as exc:
        apps.create_namespaced_deployment(namespace, bad)
    status = status_of(exc.value)
    assert exc.value.status == 422 and status["reason"] == "Invalid"
    assert status["message"].startswith('Deployment.apps "web" is invalid') or \
        status["message"].startswith('Deployment "web" is invalid'), status["message"]
    fields = [c["field"] for c in status["details"]["causes"]]
    assert "spec.template.metadata.labels" in fields, status
    assert apps.list_namespaced_deployment(namespace).items == []
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "Not_A_Valid_Name"}})
    assert exc.value.status == 422 and status_of(exc.value)["reason"] == "Invalid"
    # An immutable field cannot change.
    apps.create_namespaced_deployment(namespace, deployment("ok"))
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("ok", namespace, {"spec": {"selector": {"matchLabels": {"app": "x"}},
                                                                     "template": {"metadata": {"labels": {
                                                                         "app": "x"}}}}})
    assert exc.value.status == 422 and "field is immutable" in status_of(exc.value)["message"]


# ------------------------------------------------------------------------------------- authentication
def test_requests_without_a_valid_token_are_401(raw: Raw, namespace: str) -> None:
    for token in (None, "wrong-token", ""):
        code, body = raw("GET", f"/api/v1/namespaces/{namespace}/pods", token=token)
        assert code == 401, (token, body)
        assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["code"] == 401
    code, body = raw("GET", f"/api/v1/namespaces/{namespace}/pods")
    assert code == 200 and body["kind"] == "PodList"
    # Health and version are public, as on kube-apiserver.
    assert raw("GET", "/healthz", token=None) == (200, "ok")
    code, version = raw("GET", "/version", token=None)
    assert code == 200 and version["gitVersion"].startswith("v1.32")


def test_untrusted_ca_is_rejected(live_server: SimServer) -> None:
    ctx = ssl.create_default_context()  # the system CAs do not know the simulator's CA
    with pytest.raises(urllib.error.URLError) as exc:
        urllib.request.urlopen(live_server.url + "/healthz", context=ctx, timeout=10)
    assert isinstance(exc.value.reason, ssl.SSLCertVerificationError)


# ----------------------------------------------------------------------------------------- bad requests
def test_bad_requests_are_answered_and_never_crash_the_server(raw: Raw, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}"
    code, body = raw("POST", f"{base}/configmaps", b'{"metadata": {"name": ')
    assert code == 400 and body["kind"] == "Status" and body["reason"] == "BadRequest", body
    code, body = raw("POST", f"{base}/configmaps", b"\xff\xfe\x00garbage")
    assert code == 400 and body["reason"] == "BadRequest", body
    code, body = raw("POST", f"{base}/configmaps", b'"just a string"')
    assert code == 400 and body["reason"] == "BadRequest", body
    code, body = raw("POST", f"{base}/configmaps", b'{"kind": "Pod", "metadata": {"name": "x"}}')
    assert code == 400 and body["reason"] == "BadRequest", body
    code, body = raw("GET", f"{base}/frobnicators")
    assert code == 404 and body["reason"] == "NotFound", body
    code, body = raw("GET", "/apis/no.such.group/v1/things")
    assert code == 404 and body["reason"] == "NotFound", body
    for selector in ("app in (a", "!!x", "a=b=c", "app notin"):
        q = urllib.parse.urlencode({"labelSelector": selector})
        code, body = raw("GET", f"{base}/pods?{q}")
        assert code == 400 and body["reason"] == "BadRequest", (selector, body)
    q = urllib.parse.urlencode({"fieldSelector": "spec.noSuchField=1"})
    code, body = raw("GET", f"{base}/pods?{q}")
    assert code == 400 and body["reason"] == "BadRequest", body
    code, body = raw("GET", f"{base}/pods?limit=abc")
    assert code == 400 and body["reason"] == "BadRequest", body
    code, body = raw("PATCH", f"{base}/configmaps/kube-root-ca.crt", b"{}", content_type="text/plain")
    assert code == 415 and body["reason"] == "UnsupportedMediaType", body
    code, body = raw("PATCH", f"{base}/configmaps/kube-root-ca.crt", b'{"op": "add"}',
                     content_type="application/json-patch+json")
    assert code in (400, 422), body
    code, body = raw("PUT", f"{base}/configmaps/kube-root-ca.crt", b"[1, 2]")
    assert code == 400 and body["kind"] == "Status", body
    code, body = raw("DELETE", f"{base}/pods?watch=maybe&gracePeriodSeconds=x")
    assert code == 400 and body["kind"] == "Status", body
    # The server still answers, and still writes.
    code, body = raw("POST", f"{base}/configmaps", json.dumps({"metadata": {"name": "after"}}).encode())
    assert code == 201 and body["metadata"]["name"] == "after", body
    code, body = raw("GET", f"{base}/configmaps/after")
    assert code == 200 and body["kind"] == "ConfigMap"
    assert raw("GET", "/healthz", token=None) == (200, "ok")
