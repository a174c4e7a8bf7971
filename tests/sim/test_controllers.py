"""End-to-end behaviour of the simulated control plane and kubelets, in process, on a manual clock.

Every test drives the cluster through its API (``cluster.api``) and moves simulated time with
``cluster.advance``; assertions are on simulated time only, so they are exact and deterministic.
"""

from __future__ import annotations

from typing import Any

import pytest

from cluster.sim import SimCluster, SimConfig
from cluster.sim.errors import ApiError
from cluster.sim.resources import ResourceType
from cluster.sim.runtime.logs import pod_logs

NS = "default"


# ------------------------------------------------------------------------------------------------ helpers
def rt(c: SimCluster, group: str, version: str, plural: str) -> ResourceType:
    found = c.registry.lookup(group, version, plural)
    assert found is not None, f"the simulator does not serve {group}/{version}/{plural}"
    return found


def create(c: SimCluster, group: str, version: str, plural: str, body: dict, ns: str = NS) -> dict:
    with c.locked():
        return c.api.create(rt(c, group, version, plural), ns, body)


def get(c: SimCluster, plural: str, name: str, ns: str = NS, group: str = "", version: str = "v1") -> dict:
    return c.api.get(rt(c, group, version, plural), ns, name)


def pods_of(c: SimCluster, ns: str = NS, prefix: str = "") -> list[dict]:
    return [p for p in c.store.list("pods", ns) if p["metadata"]["name"].startswith(prefix)]


def pod_body(name: str, image: str, labels: dict | None = None, restart: str | None = None,
             **container: Any) -> dict:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": image, **container}]}
    if restart:
        spec["restartPolicy"] = restart
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def container_status(pod: dict, index: int = 0) -> dict:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    assert statuses, f"pod {pod['metadata']['name']} has no container statuses: {pod.get('status')}"
    return statuses[index]


def waiting_reason(pod: dict) -> str | None:
    return (container_status(pod)["state"].get("waiting") or {}).get("reason")


def events_for(c: SimCluster, name: str, ns: str = NS) -> list[dict]:
    return [e for e in c.store.list("events", ns) if e["involvedObject"].get("name") == name]


def advance_until(c: SimCluster, predicate, limit: float, step: float = 0.1) -> float:
    """Advance in small steps until ``predicate()`` holds; return the simulated time it first held."""
    end = c.clock.now + limit
    while c.clock.now < end:
        if predicate():
            return c.clock.now
        c.advance(step)
    assert predicate(), f"condition not reached within {limit} simulated seconds"
    return c.clock.now


def is_ready(pod: dict) -> bool:
    return any(x["type"] == "Ready" and x["status"] == "True" for x in (pod.get("status") or {}).get("conditions")
               or [])


def deployment_body(name: str, image: str = "nginx:1.27", replicas: int = 2, port_name: str = "http") -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": image, "ports": [
                                      {"name": port_name, "containerPort": 8080}]}]}}}}


# ----------------------------------------------------------------------------------------- crash loops
def test_crashing_container_backs_off_10_20_40_doubling_to_5_minutes(cluster: SimCluster) -> None:
    create(cluster, "", "v1", "pods", pod_body("crash", "busybox", command=["sh", "-c", "echo hi; exit 1"]))

    def restarts() -> int:
        return container_status(get(cluster, "pods", "crash"))["restartCount"]

    # The first crash restarts at once; from then on the kubelet backs off 10s, doubling, capped at 300s.
    t1 = advance_until(cluster, lambda: restarts() >= 1, limit=30, step=0.05)
    assert restarts() == 1
    expected_gaps = [10, 20, 40, 80, 160, 300, 300]
    t = t1
    for n, gap in enumerate(expected_gaps, start=1):
        pod = get(cluster, "pods", "crash")
        assert waiting_reason(pod) == "CrashLoopBackOff", container_status(pod)
        assert container_status(pod)["state"]["waiting"]["message"].startswith(f"back-off {gap}s restarting")
        assert container_status(pod)["lastState"]["terminated"]["exitCode"] == 1
        assert container_status(pod)["lastState"]["terminated"]["reason"] == "Error"
        cluster.advance_to(t + gap - 0.2)
        assert restarts() == n, f"restarted before its {gap}s back-off ended (restart {n})"
        cluster.advance_to(t + gap + 0.2)
        assert restarts() == n + 1, f"no restart {gap}s after restart {n}"
        t += gap
    pod = get(cluster, "pods", "crash")
    assert pod["status"]["phase"] == "Running"
    assert not is_ready(pod)
    backoffs = [e for e in events_for(cluster, "crash") if e["reason"] == "BackOff"]
    assert backoffs and backoffs[0]["type"] == "Warning"
    assert sum(e.get("count", 1) for e in backoffs) >= len(expected_gaps)
    # The crashed container's output is its log.
    with cluster.locked():
        assert pod_logs(cluster, NS, "crash") == "hi\n"
        assert pod_logs(cluster, NS, "crash", previous=True) == "hi\n"


def test_restart_policy_never_leaves_a_failed_pod_and_onfailure_restarts(cluster: SimCluster) -> None:
    create(cluster, "", "v1", "pods", pod_body("never", "busybox", restart="Never",
                                               command=["sh", "-c", "exit 3"]))
    create(cluster, "", "v1", "pods", pod_body("onfail", "busybox", restart="OnFailure",
                                               command=["sh", "-c", "exit 3"]))
    create(cluster, "", "v1", "pods", pod_body("done", "busybox", restart="OnFailure",
                                               command=["sh", "-c", "exit 0"]))
    cluster.advance(60)
    never = get(cluster, "pods", "never")
    assert never["status"]["phase"] == "Failed"
    assert container_status(never)["restartCount"] == 0
    assert container_status(never)["state"]["terminated"]["exitCode"] == 3
    onfail = get(cluster, "pods", "onfail")
    assert onfail["status"]["phase"] == "Running"
    assert container_status(onfail)["restartCount"] >= 3
    assert get(cluster, "pods", "done")["status"]["phase"] == "Succeeded"


def test_missing_image_goes_from_errimagepull_to_imagepullbackoff(cluster: SimCluster) -> None:
    create(cluster, "", "v1", "pods", pod_body("ghost", "no-such-registry.example/ghost:v1"))
    create(cluster, "", "v1", "pods", pod_body("badtag", "nginx:no-such-tag"))
    seen = set()
    for _ in range(100):
        cluster.advance(0.1)
        seen.add(waiting_reason(get(cluster, "pods", "ghost")))
    assert {"ErrImagePull", "ImagePullBackOff"} <= seen, seen
    cluster.advance(120)
    for name in ("ghost", "badtag"):
        pod = get(cluster, "pods", name)
        assert pod["status"]["phase"] == "Pending"
        assert waiting_reason(pod) == "ImagePullBackOff"
        assert container_status(pod)["restartCount"] == 0
        evs = events_for(cluster, name)
        failed = [e["message"] for e in evs if e["reason"] == "Failed"]
        assert any(m.startswith("Failed to pull image") for m in failed), failed
        assert "Error: ErrImagePull" in failed and "Error: ImagePullBackOff" in failed
        # The kubelet keeps retrying the pull with a back-off.
        pulls = sum(e.get("count", 1) for e in evs if e["reason"] == "Pulling")
        assert 3 <= pulls <= 8, pulls
    with cluster.locked(), pytest.raises(ApiError) as exc:
        pod_logs(cluster, NS, "ghost")
    assert exc.value.code == 400 and "waiting to start" in exc.value.message


def test_memory_limit_below_working_set_is_oomkilled(cluster: SimCluster) -> None:
    create(cluster, "", "v1", "pods", pod_body("small", "mongo:7.0", resources={"limits": {"memory": "64Mi"}}))
    create(cluster, "", "v1", "pods", pod_body("roomy", "mongo:7.0", resources={"limits": {"memory": "1Gi"}}))
    cluster.advance(60)
    small = container_status(get(cluster, "pods", "small"))
    assert small["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert small["lastState"]["terminated"]["exitCode"] == 137
    assert small["restartCount"] >= 2
    roomy = get(cluster, "pods", "roomy")
    assert roomy["status"]["phase"] == "Running" and is_ready(roomy)
    assert container_status(roomy)["restartCount"] == 0


# ------------------------------------------------------------------------------------------ scheduling
def test_impossible_node_selector_stays_pending_with_failedscheduling(cluster: SimCluster) -> None:
    body = pod_body("picky", "nginx")
    body["spec"]["nodeSelector"] = {"disktype": "ssd"}
    create(cluster, "", "v1", "pods", body)
    cluster.advance(30)
    pod = get(cluster, "pods", "picky")
    assert pod["status"]["phase"] == "Pending"
    assert not pod["spec"].get("nodeName")
    cond = next(x for x in pod["status"]["conditions"] if x["type"] == "PodScheduled")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    failed = [e for e in events_for(cluster, "picky") if e["reason"] == "FailedScheduling"]
    assert failed and failed[0]["type"] == "Warning"
    assert failed[0]["message"].startswith("0/3 nodes are available:")
    assert "didn't match Pod's node affinity/selector" in failed[0]["message"]
    # Labelling a worker makes the pod schedulable there.
    nodes = rt(cluster, "", "v1", "nodes")
    with cluster.locked():
        cluster.api.patch(nodes, "", "kind-worker2", "application/merge-patch+json",
                          {"metadata": {"labels": {"disktype": "ssd"}}})
    cluster.advance(30)
    pod = get(cluster, "pods", "picky")
    assert pod["spec"]["nodeName"] == "kind-worker2"
    assert pod["status"]["phase"] == "Running"


def test_service_endpoints_list_ready_pods_on_the_named_target_port(cluster: SimCluster) -> None:
    create(cluster, "apps", "v1", "deployments", deployment_body("web", replicas=2))
    broken = pod_body("web-broken", "busybox", labels={"app": "web"}, command=["sh", "-c", "exit 1"])
    broken["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": 8080}]
    create(cluster, "", "v1", "pods", broken)
    other = pod_body("other", "nginx", labels={"app": "other"})
    other["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": 8080}]
    create(cluster, "", "v1", "pods", other)
    create(cluster, "", "v1", "services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                                            "spec": {"selector": {"app": "web"},
                                                     "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}})
    cluster.advance(30)
    ready = sorted(p["status"]["podIP"] for p in pods_of(cluster, prefix="web-") if is_ready(p))
    assert len(ready) == 2
    ep = get(cluster, "endpoints", "web")
    (subset,) = ep["subsets"]
    assert sorted(a["ip"] for a in subset["addresses"]) == ready
    assert subset["ports"] == [{"name": "web", "port": 8080, "protocol": "TCP"}]
    assert [a["targetRef"]["name"] for a in subset["notReadyAddresses"]] == ["web-broken"]
    assert is_ready(get(cluster, "pods", "other"))  # ready, but not selected
    svc = get(cluster, "services", "web")
    assert svc["spec"]["clusterIP"].startswith("10.96.")
    # Scaling down shrinks the endpoints.
    deployments = rt(cluster, "apps", "v1", "deployments")
    with cluster.locked():
        cluster.api.patch(deployments, NS, "web", "application/merge-patch+json", {"spec": {"replicas": 1}})
    cluster.advance(30)
    ep = get(cluster, "endpoints", "web")
    assert len(ep["subsets"][0]["addresses"]) == 1


# ------------------------------------------------------------------------------------- workload kinds
def test_statefulset_creates_ordered_pods_with_their_own_claims(cluster: SimCluster) -> None:
    create(cluster, "apps", "v1", "statefulsets", {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "redis", "image": "redis:7"}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
    order: list[str] = []
    for _ in range(200):
        cluster.advance(0.1)
        pods = {p["metadata"]["name"]: p for p in pods_of(cluster, prefix="db-")}
        for name in sorted(pods):
            if name not in order:
                order.append(name)
        # OrderedReady: db-N exists only once db-(N-1) is running and ready.
        for i in (1, 2):
            if f"db-{i}" in pods:
                assert is_ready(pods[f"db-{i - 1}"]), f"db-{i} created before db-{i - 1} was ready"
    assert order == ["db-0", "db-1", "db-2"]
    for i in range(3):
        pod = get(cluster, "pods", f"db-{i}")
        assert pod["spec"]["hostname"] == f"db-{i}" and pod["spec"]["subdomain"] == "db"
        claim = {v["name"]: v for v in pod["spec"]["volumes"]}["data"]["persistentVolumeClaim"]["claimName"]
        assert claim == f"data-db-{i}"
        pvc = get(cluster, "persistentvolumeclaims", claim)
        assert pvc["status"]["phase"] == "Bound"
        assert pvc["spec"]["volumeName"]
    sts = get(cluster, "statefulsets", "db", group="apps")
    assert sts["status"]["readyReplicas"] == 3
    # Scaling down removes the highest ordinals and keeps their claims.
    with cluster.locked():
        cluster.api.patch(rt(cluster, "apps", "v1", "statefulsets"), NS, "db", "application/merge-patch+json",
                          {"spec": {"replicas": 1}})
    cluster.advance(60)
    assert [p["metadata"]["name"] for p in pods_of(cluster, prefix="db-")] == ["db-0"]
    assert sorted(p["metadata"]["name"] for p in cluster.store.list("persistentvolumeclaims", NS)) == [
        "data-db-0", "data-db-1", "data-db-2"]


def test_daemonset_runs_one_pod_per_schedulable_node(cluster: SimCluster) -> None:
    def ds(name: str, tolerate: bool) -> dict:
        spec: dict[str, Any] = {"containers": [{"name": "agent", "image": "busybox",
                                                "command": ["sleep", "infinity"]}]}
        if tolerate:
            spec["tolerations"] = [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                                    "effect": "NoSchedule"}]
        return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
                "spec": {"selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}

    create(cluster, "apps", "v1", "daemonsets", ds("agent", tolerate=False))
    create(cluster, "apps", "v1", "daemonsets", ds("everywhere", tolerate=True))
    cluster.advance(30)
    agent_nodes = sorted(p["spec"]["nodeName"] for p in pods_of(cluster, prefix="agent-"))
    assert agent_nodes == ["kind-worker", "kind-worker2"]  # the control plane is tainted
    all_nodes = sorted(p["spec"]["nodeName"] for p in pods_of(cluster, prefix="everywhere-"))
    assert all_nodes == ["kind-control-plane", "kind-worker", "kind-worker2"]
    assert all(p["status"]["phase"] == "Running" for p in pods_of(cluster, prefix="agent-"))
    status = get(cluster, "daemonsets", "agent", group="apps")["status"]
    assert status["desiredNumberScheduled"] == 2 and status["numberReady"] == 2
    # A deleted daemon pod is replaced on the same node.
    victim = pods_of(cluster, prefix="agent-")[0]
    with cluster.locked():
        cluster.api.delete(rt(cluster, "", "v1", "pods"), NS, victim["metadata"]["name"])
    cluster.advance(30)
    assert sorted(p["spec"]["nodeName"] for p in pods_of(cluster, prefix="agent-")) == agent_nodes
    assert victim["metadata"]["name"] not in [p["metadata"]["name"] for p in pods_of(cluster, prefix="agent-")]


def test_job_runs_to_completion(cluster: SimCluster) -> None:
    create(cluster, "batch", "v1", "jobs", {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "main", "image": "busybox", "command": ["sh", "-c", "sleep 1; exit 0"]}]}}}})
    cluster.advance(0.5)
    job = get(cluster, "jobs", "once", group="batch")
    assert job["status"].get("active") == 1
    assert not job["status"].get("conditions")
    cluster.advance(30)
    job = get(cluster, "jobs", "once", group="batch")
    conds = {x["type"]: x for x in job["status"]["conditions"]}
    assert conds["Complete"]["status"] == "True"
    assert job["status"]["succeeded"] == 1 and not job["status"].get("active")
    (pod,) = pods_of(cluster, prefix="once-")
    assert pod["status"]["phase"] == "Succeeded"
    term = container_status(pod)["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    # The pod slept one second: it finished exactly one simulated second after it started.
    assert cluster.clock.parse(term["finishedAt"]) - cluster.clock.parse(term["startedAt"]) in (1.0, 2.0)
    assert any(e["reason"] == "Completed" for e in events_for(cluster, "once"))


def test_failing_job_stops_at_its_backoff_limit(cluster: SimCluster) -> None:
    create(cluster, "batch", "v1", "jobs", {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "flaky"},
        "spec": {"backoffLimit": 1, "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "main", "image": "busybox", "command": ["sh", "-c", "exit 2"]}]}}}})
    cluster.advance(120)
    job = get(cluster, "jobs", "flaky", group="batch")
    conds = {x["type"]: x for x in job["status"]["conditions"]}
    assert conds["Failed"]["status"] == "True" and conds["Failed"]["reason"] == "BackoffLimitExceeded"
    assert "Complete" not in conds
    assert job["status"]["failed"] == 2
    assert [p["status"]["phase"] for p in pods_of(cluster, prefix="flaky-")] == ["Failed", "Failed"]


def test_deployment_rolling_update_replaces_pods_and_keeps_history(cluster: SimCluster) -> None:
    create(cluster, "apps", "v1", "deployments", deployment_body("web", image="nginx:1.26", replicas=3))
    cluster.advance(30)
    first = {p["metadata"]["name"] for p in pods_of(cluster, prefix="web-")}
    assert len(first) == 3
    deployments = rt(cluster, "apps", "v1", "deployments")
    with cluster.locked():
        cluster.api.patch(deployments, NS, "web", "application/strategic-merge-patch+json",
                          {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})
    cluster.advance(60)
    pods = pods_of(cluster, prefix="web-")
    assert len(pods) == 3 and not first & {p["metadata"]["name"] for p in pods}
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.27"}
    rss = sorted(cluster.store.list("replicasets.apps", NS),
                 key=lambda r: int(r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]))
    assert [r["spec"]["replicas"] for r in rss] == [0, 3]
    d = get(cluster, "deployments", "web", group="apps")
    assert d["metadata"]["generation"] == 2 and d["status"]["observedGeneration"] == 2
    assert d["status"]["updatedReplicas"] == 3 and d["status"]["availableReplicas"] == 3
    conds = {x["type"]: x for x in d["status"]["conditions"]}
    assert conds["Available"]["status"] == "True"
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"


def test_deleting_a_deployment_collects_its_replicasets_and_pods(cluster: SimCluster) -> None:
    create(cluster, "apps", "v1", "deployments", deployment_body("gone"))
    create(cluster, "apps", "v1", "deployments", deployment_body("kept"))
    cluster.advance(20)
    deployments = rt(cluster, "apps", "v1", "deployments")
    with cluster.locked():
        cluster.api.delete(deployments, NS, "gone")
        cluster.api.delete(deployments, NS, "kept", propagation="Orphan")
    cluster.advance(60)
    assert not pods_of(cluster, prefix="gone-")
    assert not [r for r in cluster.store.list("replicasets.apps", NS) if r["metadata"]["name"].startswith("gone-")]
    (orphan,) = [r for r in cluster.store.list("replicasets.apps", NS) if r["metadata"]["name"].startswith("kept-")]
    assert not orphan["metadata"].get("ownerReferences")
    assert len(pods_of(cluster, prefix="kept-")) == 2


def test_graceful_pod_deletion_waits_for_the_container_to_stop(cluster: SimCluster) -> None:
    create(cluster, "", "v1", "pods", pod_body("web", "nginx"))
    cluster.advance(10)
    pods = rt(cluster, "", "v1", "pods")
    with cluster.locked():
        deleted = cluster.api.delete(pods, NS, "web")
    assert deleted["metadata"]["deletionTimestamp"]
    assert deleted["metadata"]["deletionGracePeriodSeconds"] == 30
    assert cluster.store.get("pods", NS, "web") is not None  # terminating, not gone
    cluster.advance(5)
    assert cluster.store.get("pods", NS, "web") is None
    assert any(e["reason"] == "Killing" for e in events_for(cluster, "web"))


def test_deleting_a_namespace_removes_everything_in_it(cluster: SimCluster) -> None:
    namespaces = rt(cluster, "", "v1", "namespaces")
    with cluster.locked():
        cluster.api.create(namespaces, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}})
    create(cluster, "apps", "v1", "deployments", deployment_body("web"), ns="doomed")
    create(cluster, "", "v1", "services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                                            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
           ns="doomed")
    create(cluster, "", "v1", "configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
                                              "data": {"a": "1"}}, ns="doomed")
    cluster.advance(20)
    assert len(pods_of(cluster, "doomed")) == 2
    with cluster.locked():
        cluster.api.delete(namespaces, "", "doomed")
    ns = cluster.store.get("namespaces", "", "doomed")
    assert ns is not None and ns["status"]["phase"] == "Terminating"
    with pytest.raises(ApiError) as exc:
        create(cluster, "", "v1", "configmaps", {"metadata": {"name": "late"}}, ns="doomed")
    assert exc.value.code == 403 and exc.value.reason == "Forbidden"
    cluster.advance(60)
    assert cluster.store.get("namespaces", "", "doomed") is None
    leftovers = {r: cluster.store.list(r, "doomed") for r in cluster.store.resources()}
    assert not {r: objs for r, objs in leftovers.items() if objs}, "objects outlived their namespace"


# ------------------------------------------------------------------------------------------- determinism
def _drive(seed: int) -> SimCluster:
    c = SimCluster(SimConfig(seed=seed, token="fixed"))
    create(c, "apps", "v1", "deployments", deployment_body("web", replicas=3))
    create(c, "", "v1", "services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                                      "spec": {"selector": {"app": "web"}, "ports": [{"port": 80,
                                                                                       "targetPort": "http"}]}})
    create(c, "", "v1", "pods", pod_body("crash", "busybox", command=["sh", "-c", "echo hi; exit 1"]))
    create(c, "", "v1", "pods", pod_body("oom", "mongo", resources={"limits": {"memory": "64Mi"}}))
    create(c, "batch", "v1", "jobs", {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "batch-"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "main", "image": "busybox", "command": ["sh", "-c", "sleep 1; exit 0"]}]}}}})
    c.advance(90)
    with c.locked():
        c.api.patch(rt(c, "apps", "v1", "deployments"), NS, "web", "application/merge-patch+json",
                    {"spec": {"replicas": 1}})
    c.advance(600)
    return c


def _logs(c: SimCluster) -> dict[str, str]:
    out = {}
    with c.locked():
        for p in c.store.list("pods", None):
            meta = p["metadata"]
            try:
                out[f"{meta['namespace']}/{meta['name']}"] = pod_logs(c, meta["namespace"], meta["name"])
            except ApiError as e:
                out[f"{meta['namespace']}/{meta['name']}"] = f"error {e.code}"
    return out


def test_same_seed_and_same_calls_give_identical_clusters() -> None:
    a, b = _drive(5), _drive(5)
    assert a.store.dump() == b.store.dump()
    assert a.snapshot() == b.snapshot()
    logs = _logs(a)
    assert logs == _logs(b)
    assert any(text.count("\n") > 5 for text in logs.values()), "expected some non-trivial logs"
    # The seed matters: another seed names pods differently.
    other = _drive(6)
    names = lambda c: sorted(p["metadata"]["name"] for p in c.store.list("pods", NS))  # noqa: E731
    assert names(a) != names(other)
