"""Tests for cluster.sim.printers: server-side Table output as kube-apiserver prints it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cluster.sim.printers import (
    COLUMNS,
    GENERIC_COLUMNS,
    Column,
    build_table,
    columns_for,
    custom_resource_columns,
    human_duration,
)

NOW = datetime(2026, 11, 25, 21, 0, 0, tzinfo=UTC)


def ts(delta: timedelta) -> str:
    """An RFC3339 timestamp ``delta`` before NOW."""
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, age: timedelta = timedelta(hours=1), **extra: object) -> dict:
    return {"name": name, "namespace": "default", "creationTimestamp": ts(age), **extra}


def row(key: str, obj: dict) -> dict[str, object]:
    """The single row of a table, keyed by column name."""
    table = build_table(key, [obj], NOW)
    names = [c["name"] for c in table["columnDefinitions"]]
    (only,) = table["rows"]
    assert len(only["cells"]) == len(names)
    return dict(zip(names, only["cells"], strict=True))


# --------------------------------------------------------------------------------------------------------
# human_duration: k8s.io/apimachinery/pkg/util/duration/duration_test.go

SECOND, MINUTE, HOUR, DAY, YEAR = 1.0, 60.0, 3600.0, 86400.0, 365 * 86400.0
MS, NS = 1e-3, 1e-9


@pytest.mark.parametrize(
    ("seconds", "want"),
    [
        # TestHumanDuration
        (SECOND, "1s"),
        (70 * SECOND, "70s"),
        (190 * SECOND, "3m10s"),
        (70 * MINUTE, "70m"),
        (47 * HOUR, "47h"),
        (49 * HOUR, "2d1h"),
        ((8 * 24 + 2) * HOUR, "8d"),
        (367 * 24 * HOUR, "367d"),
        ((365 * 2 * 24 + 25) * HOUR, "2y1d"),
        ((365 * 8 * 24 + 2) * HOUR, "8y"),
        # TestHumanDurationBoundaries
        (-2 * SECOND, "<invalid>"),
        (-2 * SECOND + NS, "0s"),
        (0, "0s"),
        (SECOND - MS, "0s"),
        (2 * MINUTE - MS, "119s"),
        (2 * MINUTE, "2m"),
        (2 * MINUTE + SECOND, "2m1s"),
        (10 * MINUTE - MS, "9m59s"),
        (10 * MINUTE, "10m"),
        (10 * MINUTE + SECOND, "10m"),
        (3 * HOUR - MS, "179m"),
        (3 * HOUR, "3h"),
        (3 * HOUR + MINUTE, "3h1m"),
        (8 * HOUR - MS, "7h59m"),
        (8 * HOUR, "8h"),
        (8 * HOUR + 59 * MINUTE, "8h"),
        (2 * DAY - MS, "47h"),
        (2 * DAY, "2d"),
        (2 * DAY + HOUR, "2d1h"),
        (8 * DAY - MS, "7d23h"),
        (8 * DAY, "8d"),
        (8 * DAY + 23 * HOUR, "8d"),
        (2 * YEAR - MS, "729d"),
        (2 * YEAR, "2y"),
        (2 * YEAR + 23 * HOUR, "2y"),
        (2 * YEAR + 23 * HOUR + 59 * MINUTE, "2y"),
        (2 * YEAR + DAY - MS, "2y"),
        (2 * YEAR + DAY, "2y1d"),
        (3 * YEAR, "3y"),
        (4 * YEAR, "4y"),
        (5 * YEAR, "5y"),
        (6 * YEAR, "6y"),
        (7 * YEAR, "7y"),
        (8 * YEAR - MS, "7y364d"),
        (8 * YEAR, "8y"),
        (8 * YEAR + 364 * DAY, "8y"),
        (9 * YEAR, "9y"),
        # the brief's examples
        (182, "3m2s"),
        (3 * HOUR + 5 * MINUTE, "3h5m"),
        (2 * DAY + 5 * HOUR, "2d5h"),
        (2 * YEAR + 100 * DAY, "2y100d"),
    ],
)
def test_human_duration_matches_upstream(seconds: float, want: str) -> None:
    assert human_duration(seconds) == want


# --------------------------------------------------------------------------------------------------------
# pods


def container_status(
    name: str = "app",
    *,
    ready: bool = False,
    restarts: int = 0,
    state: dict | None = None,
    last_finished: timedelta | None = None,
) -> dict:
    status: dict = {"name": name, "ready": ready, "restartCount": restarts, "state": state or {}}
    if last_finished is not None:
        status["lastState"] = {
            "terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ts(last_finished)}
        }
    return status


def pod(
    statuses: list[dict],
    *,
    phase: str = "Running",
    init: list[dict] | None = None,
    init_statuses: list[dict] | None = None,
    conditions: list[dict] | None = None,
    containers: int | None = None,
    **meta_extra: object,
) -> dict:
    n = containers if containers is not None else len(statuses)
    spec: dict = {"containers": [{"name": f"c{i}", "image": "img"} for i in range(n)], "nodeName": "node-1"}
    status: dict = {
        "phase": phase,
        "containerStatuses": statuses,
        "podIP": "10.0.0.5",
        "podIPs": [{"ip": "10.0.0.5"}],
    }
    if init is not None:
        spec["initContainers"] = init
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    if conditions is not None:
        status["conditions"] = conditions
    return {"metadata": meta("web-abc", **meta_extra), "spec": spec, "status": status}


def test_crashloopbackoff_pod_row() -> None:
    p = pod(
        [
            container_status(
                restarts=4,
                state={"waiting": {"reason": "CrashLoopBackOff"}},
                last_finished=timedelta(seconds=30),
            )
        ]
    )
    r = row("pods", p)
    assert r["Name"] == "web-abc"
    assert r["Ready"] == "0/1"
    assert r["Status"] == "CrashLoopBackOff"
    assert r["Restarts"] == "4 (30s ago)"
    assert r["Age"] == "60m"


def test_restarts_use_most_recent_finish_across_containers() -> None:
    p = pod(
        [
            container_status(
                "a", ready=True, restarts=1, state={"running": {}}, last_finished=timedelta(hours=2)
            ),
            container_status(
                "b", ready=True, restarts=2, state={"running": {}}, last_finished=timedelta(minutes=5)
            ),
        ]
    )
    r = row("pods", p)
    assert r["Ready"] == "2/2"
    assert r["Status"] == "Running"
    assert r["Restarts"] == "3 (5m ago)"


def test_running_pod_without_restarts() -> None:
    r = row(
        "pods", pod([container_status(ready=True, state={"running": {"startedAt": ts(timedelta(hours=1))}})])
    )
    assert (r["Ready"], r["Status"], r["Restarts"]) == ("1/1", "Running", "0")


def test_completed_pod_and_row_condition() -> None:
    p = pod(
        [container_status(state={"terminated": {"exitCode": 0, "reason": "Completed"}})], phase="Succeeded"
    )
    table = build_table("pods", [p], NOW)
    cells = table["rows"][0]["cells"]
    assert cells[1:4] == ["0/1", "Completed", "0"]
    assert table["rows"][0]["conditions"] == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]


def test_running_pod_has_no_row_conditions() -> None:
    table = build_table("pods", [pod([container_status(ready=True, state={"running": {}})])], NOW)
    assert "conditions" not in table["rows"][0]


@pytest.mark.parametrize(
    ("terminated", "want"),
    [
        ({"exitCode": 137, "reason": "OOMKilled"}, "OOMKilled"),
        ({"exitCode": 1, "reason": "Error"}, "Error"),
        ({"exitCode": 0, "signal": 9}, "Signal:9"),
        ({"exitCode": 2}, "ExitCode:2"),
    ],
)
def test_terminated_container_reasons(terminated: dict, want: str) -> None:
    r = row("pods", pod([container_status(state={"terminated": terminated})], phase="Failed"))
    assert r["Status"] == want


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff", "ContainerCreating"])
def test_waiting_container_reasons(reason: str) -> None:
    r = row("pods", pod([container_status(state={"waiting": {"reason": reason}})], phase="Pending"))
    assert r["Status"] == reason


def test_first_container_reason_wins() -> None:
    p = pod(
        [
            container_status("a", state={"waiting": {"reason": "ImagePullBackOff"}}),
            container_status("b", state={"waiting": {"reason": "CrashLoopBackOff"}}),
        ]
    )
    assert row("pods", p)["Status"] == "ImagePullBackOff"


def test_terminating_pod() -> None:
    p = pod([container_status(ready=True, state={"running": {}})], deletionTimestamp=ts(timedelta(seconds=5)))
    r = row("pods", p)
    assert r["Status"] == "Terminating"
    assert r["Ready"] == "1/1"


def test_deleted_finished_pod_keeps_its_status() -> None:
    p = pod(
        [container_status(state={"terminated": {"exitCode": 0, "reason": "Completed"}})],
        phase="Succeeded",
        deletionTimestamp=ts(timedelta(seconds=5)),
    )
    assert row("pods", p)["Status"] == "Completed"


def test_node_lost_pod_is_unknown() -> None:
    p = pod([container_status(ready=True, state={"running": {}})], deletionTimestamp=ts(timedelta(seconds=5)))
    p["status"]["reason"] = "NodeLost"
    assert row("pods", p)["Status"] == "Unknown"


def test_evicted_pod() -> None:
    p = pod([], phase="Failed", containers=1)
    p["status"]["reason"] = "Evicted"
    r = row("pods", p)
    assert (r["Ready"], r["Status"]) == ("0/1", "Evicted")


def test_pending_pod_without_statuses() -> None:
    p = pod([], phase="Pending", containers=2)
    assert (row("pods", p)["Ready"], row("pods", p)["Status"]) == ("0/2", "Pending")


def test_scheduling_gated_pod() -> None:
    p = pod(
        [],
        phase="Pending",
        containers=1,
        conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}],
    )
    assert row("pods", p)["Status"] == "SchedulingGated"


def test_completed_and_running_containers_show_running_or_notready() -> None:
    statuses = [
        container_status("a", ready=True, state={"running": {}}),
        container_status("b", state={"terminated": {"exitCode": 0, "reason": "Completed"}}),
    ]
    ready = pod(statuses, conditions=[{"type": "Ready", "status": "True"}])
    assert row("pods", ready)["Status"] == "Running"
    not_ready = pod(statuses, conditions=[{"type": "Ready", "status": "False"}])
    assert row("pods", not_ready)["Status"] == "NotReady"


INIT_SPECS = [{"name": "init-a", "image": "busybox"}, {"name": "init-b", "image": "busybox"}]


@pytest.mark.parametrize(
    ("init_statuses", "want"),
    [
        ([container_status("init-a", state={"running": {}}), container_status("init-b")], "Init:0/2"),
        (
            [
                container_status("init-a", state={"terminated": {"exitCode": 0, "reason": "Completed"}}),
                container_status("init-b", state={"running": {}}),
            ],
            "Init:1/2",
        ),
        (
            [container_status("init-a", state={"waiting": {"reason": "CrashLoopBackOff"}})],
            "Init:CrashLoopBackOff",
        ),
        (
            [container_status("init-a", state={"terminated": {"exitCode": 1, "reason": "Error"}})],
            "Init:Error",
        ),
        ([container_status("init-a", state={"terminated": {"exitCode": 3}})], "Init:ExitCode:3"),
        (
            [
                container_status("init-a", state={"terminated": {"exitCode": 0, "signal": 15}}),
                container_status("init-b", state={"waiting": {}}),
            ],
            "Init:1/2",
        ),
        ([container_status("init-a", state={"terminated": {"exitCode": 1, "signal": 15}})], "Init:Signal:15"),
        ([container_status("init-a", state={"waiting": {"reason": "PodInitializing"}})], "Init:0/2"),
    ],
)
def test_init_container_status(init_statuses: list[dict], want: str) -> None:
    p = pod(
        [container_status("c0", state={"waiting": {"reason": "PodInitializing"}})],
        phase="Pending",
        init=INIT_SPECS,
        init_statuses=init_statuses,
    )
    assert row("pods", p)["Status"] == want


def test_init_restarts_count_while_initializing() -> None:
    p = pod(
        [container_status("c0", state={"waiting": {"reason": "PodInitializing"}})],
        phase="Pending",
        init=INIT_SPECS,
        init_statuses=[
            container_status(
                "init-a",
                restarts=2,
                state={"waiting": {"reason": "CrashLoopBackOff"}},
                last_finished=timedelta(seconds=10),
            )
        ],
    )
    r = row("pods", p)
    assert r["Status"] == "Init:CrashLoopBackOff"
    assert r["Restarts"] == "2 (10s ago)"


def test_pod_initializing_after_init_done() -> None:
    done = {"terminated": {"exitCode": 0, "reason": "Completed"}}
    p = pod(
        [container_status("c0", state={"waiting": {"reason": "PodInitializing"}})],
        phase="Pending",
        init=INIT_SPECS,
        init_statuses=[container_status("init-a", state=done), container_status("init-b", state=done)],
    )
    assert row("pods", p)["Status"] == "PodInitializing"


def test_sidecar_init_containers_count_as_containers() -> None:
    init = [{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}]
    init_statuses = [container_status("proxy", ready=True, state={"running": {}})]
    init_statuses[0]["started"] = True
    p = pod(
        [container_status("c0", ready=True, state={"running": {}})],
        init=init,
        init_statuses=init_statuses,
        conditions=[{"type": "Initialized", "status": "True"}],
    )
    r = row("pods", p)
    assert (r["Ready"], r["Status"]) == ("2/2", "Running")


def test_pod_wide_cells() -> None:
    p = pod(
        [container_status(ready=True, state={"running": {}})],
        conditions=[{"type": "Ready", "status": "True"}, {"type": "example.com/lb", "status": "True"}],
    )
    p["spec"]["readinessGates"] = [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]
    r = row("pods", p)
    assert (r["IP"], r["Node"], r["Nominated Node"], r["Readiness Gates"]) == (
        "10.0.0.5",
        "node-1",
        "<none>",
        "1/2",
    )
    unscheduled = {
        "metadata": meta("p"),
        "spec": {"containers": [{"name": "a"}]},
        "status": {"phase": "Pending"},
    }
    r = row("pods", unscheduled)
    assert (r["IP"], r["Node"], r["Readiness Gates"]) == ("<none>", "<none>", "<none>")


# --------------------------------------------------------------------------------------------------------
# workloads


def test_deployment_row() -> None:
    deploy = {
        "metadata": meta("web", timedelta(minutes=5)),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web", "tier": "front"}},
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1.25"},
                        {"name": "proxy", "image": "envoy:v1"},
                    ]
                }
            },
        },
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    table = build_table("deployments.apps", [deploy], NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name",
        "Ready",
        "Up-to-date",
        "Available",
        "Age",
        "Containers",
        "Images",
        "Selector",
    ]
    assert table["rows"][0]["cells"] == [
        "web",
        "2/3",
        3,
        2,
        "5m",
        "web,proxy",
        "nginx:1.25,envoy:v1",
        "app=web,tier=front",
    ]


def test_deployment_with_no_status_and_expression_selector() -> None:
    deploy = {
        "metadata": meta("api"),
        "spec": {
            "replicas": 0,
            "selector": {
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["b", "a"]},
                    {"key": "app", "operator": "Exists"},
                    {"key": "legacy", "operator": "DoesNotExist"},
                    {"key": "env", "operator": "NotIn", "values": ["prod"]},
                ]
            },
        },
    }
    r = row("deployments.apps", deploy)
    assert (r["Ready"], r["Up-to-date"], r["Available"]) == ("0/0", 0, 0)
    assert r["Selector"] == "app,env notin (prod),!legacy,tier in (a,b)"


def test_replicaset_statefulset_daemonset_rows() -> None:
    template = {"spec": {"containers": [{"name": "app", "image": "app:1"}], "nodeSelector": {"disk": "ssd"}}}
    rs = {
        "metadata": meta("web-7d4b9"),
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template},
        "status": {"replicas": 2, "readyReplicas": 1},
    }
    assert build_table("replicasets.apps", [rs], NOW)["rows"][0]["cells"] == [
        "web-7d4b9",
        2,
        2,
        1,
        "60m",
        "app",
        "app:1",
        "app=web",
    ]
    sts = {
        "metadata": meta("db"),
        "spec": {"replicas": 3, "template": template},
        "status": {"readyReplicas": 3},
    }
    assert build_table("statefulsets.apps", [sts], NOW)["rows"][0]["cells"] == [
        "db",
        "3/3",
        "60m",
        "app",
        "app:1",
    ]
    ds = {
        "metadata": meta("agent"),
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template},
        "status": {
            "desiredNumberScheduled": 3,
            "currentNumberScheduled": 3,
            "numberReady": 2,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
        },
    }
    assert build_table("daemonsets.apps", [ds], NOW)["rows"][0]["cells"] == [
        "agent",
        3,
        3,
        2,
        3,
        2,
        "disk=ssd",
        "60m",
        "app",
        "app:1",
        "app=agent",
    ]


def test_job_rows() -> None:
    template = {"spec": {"containers": [{"name": "job", "image": "busybox"}]}}
    complete = {
        "metadata": meta("backup"),
        "spec": {
            "completions": 1,
            "template": template,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}},
        },
        "status": {
            "succeeded": 1,
            "startTime": ts(timedelta(minutes=50)),
            "completionTime": ts(timedelta(minutes=47)),
            "conditions": [{"type": "Complete", "status": "True"}],
        },
    }
    assert build_table("jobs.batch", [complete], NOW)["rows"][0]["cells"] == [
        "backup",
        "Complete",
        "1/1",
        "3m",
        "60m",
        "job",
        "busybox",
        "batch.kubernetes.io/controller-uid=abc",
    ]
    running = {
        "metadata": meta("work"),
        "spec": {"parallelism": 3, "template": template},
        "status": {"startTime": ts(timedelta(seconds=90))},
    }
    r = row("jobs.batch", running)
    assert (r["Status"], r["Completions"], r["Duration"], r["Selector"]) == (
        "Running",
        "0/1 of 3",
        "90s",
        "<none>",
    )
    failed = {
        "metadata": meta("bad"),
        "spec": {"completions": 2},
        "status": {"failed": 6, "conditions": [{"type": "Failed", "status": "True"}]},
    }
    r = row("jobs.batch", failed)
    assert (r["Status"], r["Completions"], r["Duration"]) == ("Failed", "0/2", "")
    suspended = {
        "metadata": meta("later"),
        "spec": {"suspend": True},
        "status": {"conditions": [{"type": "Suspended", "status": "True"}]},
    }
    assert row("jobs.batch", suspended)["Status"] == "Suspended"


def test_cronjob_row() -> None:
    cj = {
        "metadata": meta("nightly", timedelta(days=3)),
        "spec": {
            "schedule": "0 2 * * *",
            "suspend": False,
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "bk"}]}}}},
        },
        "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ts(timedelta(hours=19))},
    }
    assert build_table("cronjobs.batch", [cj], NOW)["rows"][0]["cells"] == [
        "nightly",
        "0 2 * * *",
        "<none>",
        "False",
        1,
        "19h",
        "3d",
        "b",
        "bk",
        "<none>",
    ]
    never = {"metadata": meta("new"), "spec": {"schedule": "@hourly", "timeZone": "Etc/UTC"}}
    r = row("cronjobs.batch", never)
    assert (r["Timezone"], r["Suspend"], r["Active"], r["Last Schedule"]) == (
        "Etc/UTC",
        "<unset>",
        0,
        "<none>",
    )


def test_hpa_row() -> None:
    hpa = {
        "metadata": meta("web"),
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
                },
                {
                    "type": "Resource",
                    "resource": {
                        "name": "memory",
                        "target": {"type": "AverageValue", "averageValue": "500Mi"},
                    },
                },
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": "rps"},
                        "target": {"type": "AverageValue", "averageValue": "10"},
                    },
                },
            ],
        },
        "status": {
            "currentReplicas": 3,
            "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 45}}},
            ],
        },
    }
    r = row("horizontalpodautoscalers.autoscaling", hpa)
    assert r["Reference"] == "Deployment/web"
    assert r["Targets"] == "cpu: 45%/80%, memory: <unknown>/500Mi + 1 more..."
    assert (r["MinPods"], r["MaxPods"], r["Replicas"]) == ("2", 10, 3)
    bare = {
        "metadata": meta("x"),
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 1},
    }
    r = row("horizontalpodautoscalers.autoscaling", bare)
    assert (r["Targets"], r["MinPods"]) == ("<none>", "<unset>")
    v1 = {
        "metadata": meta("y"),
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "y"},
            "maxReplicas": 4,
            "targetCPUUtilizationPercentage": 50,
        },
    }
    assert row("horizontalpodautoscalers.autoscaling", v1)["Targets"] == "cpu: <unknown>/50%"


# --------------------------------------------------------------------------------------------------------
# services, endpoints, ingresses


def service(svc_type: str, **spec: object) -> dict:
    return {
        "metadata": meta("web"),
        "spec": {"type": svc_type, "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], **spec},
    }


def test_service_rows() -> None:
    svc = service(
        "ClusterIP",
        ports=[{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}],
        selector={"app": "web"},
    )
    assert build_table("services", [svc], NOW)["rows"][0]["cells"] == [
        "web",
        "ClusterIP",
        "10.96.0.10",
        "<none>",
        "80/TCP,443/TCP",
        "60m",
        "app=web",
    ]
    node_port = service(
        "NodePort",
        ports=[
            {"port": 80, "nodePort": 30080, "protocol": "TCP"},
            {"port": 443, "nodePort": 30443, "protocol": "TCP"},
        ],
    )
    r = row("services", node_port)
    assert (r["Port(s)"], r["Selector"]) == ("80:30080/TCP,443:30443/TCP", "<none>")
    pending = service("LoadBalancer", ports=[{"port": 80, "nodePort": 31000, "protocol": "TCP"}])
    assert row("services", pending)["External-IP"] == "<pending>"
    lb = service("LoadBalancer", externalIPs=["1.2.3.4"])
    lb["status"] = {
        "loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "a-very-long-elb.example.com"}]}
    }
    r = row("services", lb)
    # The server always prints wide, so nothing is truncated to 16 characters.
    assert r["External-IP"] == "203.0.113.9,a-very-long-elb.example.com,1.2.3.4"
    assert r["Port(s)"] == "<none>"
    ext = {"metadata": meta("db"), "spec": {"type": "ExternalName", "externalName": "db.example.com"}}
    assert row("services", ext)["External-IP"] == "db.example.com"
    headless = service("ClusterIP", clusterIP="None", clusterIPs=["None"], ports=[{"port": 5432}])
    assert (row("services", headless)["Cluster-IP"], row("services", headless)["Port(s)"]) == (
        "None",
        "5432/TCP",
    )


def test_endpoints_rows() -> None:
    ep = {
        "metadata": meta("web"),
        "subsets": [
            {
                "addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 4)],
                "ports": [{"port": 80}, {"port": 443}],
            },
        ],
    }
    assert row("endpoints", ep)["Endpoints"] == "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 3 more..."
    two = {
        "metadata": meta("db"),
        "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::2"}], "ports": [{"port": 5432}]}],
    }
    assert row("endpoints", two)["Endpoints"] == "10.0.0.1:5432,[fd00::2]:5432"
    headless = {"metadata": meta("h"), "subsets": [{"addresses": [{"ip": "10.0.0.9"}]}]}
    assert row("endpoints", headless)["Endpoints"] == "10.0.0.9"
    assert row("endpoints", {"metadata": meta("none")})["Endpoints"] == "<none>"


def test_endpointslice_row() -> None:
    eps = {
        "metadata": meta("web-abcde"),
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}],
        "endpoints": [{"addresses": [f"10.0.0.{i}"]} for i in range(1, 6)],
    }
    assert build_table("endpointslices.discovery.k8s.io", [eps], NOW)["rows"][0]["cells"] == [
        "web-abcde",
        "IPv4",
        "80,443",
        "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...",
        "60m",
    ]
    empty = {"metadata": meta("e"), "addressType": "IPv4"}
    r = row("endpointslices.discovery.k8s.io", empty)
    assert (r["Ports"], r["Endpoints"]) == ("<unset>", "<unset>")


def test_ingress_row() -> None:
    ing = {
        "metadata": meta("web"),
        "spec": {
            "ingressClassName": "nginx",
            "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}],
            "tls": [{"hosts": ["a.example.com"]}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}},
    }
    assert build_table("ingresses.networking.k8s.io", [ing], NOW)["rows"][0]["cells"] == [
        "web",
        "nginx",
        "a.example.com,b.example.com",
        "192.0.2.1",
        "80, 443",
        "60m",
    ]
    bare = {"metadata": meta("catch-all"), "spec": {"defaultBackend": {}}}
    r = row("ingresses.networking.k8s.io", bare)
    assert (r["Class"], r["Hosts"], r["Address"], r["Ports"]) == ("<none>", "*", "", "80")


# --------------------------------------------------------------------------------------------------------
# nodes, events, the simple types


def node(name: str, ready: str | None = "True", **spec: object) -> dict:
    conditions = [{"type": "MemoryPressure", "status": "False"}]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready})
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": ts(timedelta(days=10)),
            "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "infra"},
        },
        "spec": spec,
        "status": {
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": "172.18.0.2"},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.32.0",
                "osImage": "Debian GNU/Linux 12",
                "kernelVersion": "6.1.0",
                "containerRuntimeVersion": "containerd://1.7.24",
            },
        },
    }


def test_node_rows() -> None:
    assert build_table("nodes", [node("cp-1")], NOW)["rows"][0]["cells"] == [
        "cp-1",
        "Ready",
        "control-plane,infra",
        "10d",
        "v1.32.0",
        "172.18.0.2",
        "<none>",
        "Debian GNU/Linux 12",
        "6.1.0",
        "containerd://1.7.24",
    ]
    assert row("nodes", node("n2", "False", unschedulable=True))["Status"] == "NotReady,SchedulingDisabled"
    assert row("nodes", node("n3", "Unknown"))["Status"] == "NotReady"
    assert row("nodes", node("n4", None))["Status"] == "Unknown"
    worker = {"metadata": {"name": "w"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    r = row("nodes", worker)
    assert (r["Roles"], r["Age"], r["Version"], r["OS-Image"]) == ("<none>", "<unknown>", "", "<unknown>")


def core_event(**extra: object) -> dict:
    return {
        "metadata": meta("web-abc.17f3a", timedelta(minutes=10)),
        "involvedObject": {
            "kind": "Pod",
            "name": "web-abc",
            "namespace": "default",
            "fieldPath": "spec.containers{web}",
        },
        "reason": "BackOff",
        "type": "Warning",
        "message": "Back-off restarting failed container web in pod web-abc_default(123)\n",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ts(timedelta(minutes=10)),
        "lastTimestamp": ts(timedelta(seconds=30)),
        "count": 7,
        **extra,
    }


def test_core_event_row() -> None:
    table = build_table("events", [core_event()], NOW)
    assert [(c["name"], c["priority"]) for c in table["columnDefinitions"]] == [
        ("Last Seen", 0),
        ("Type", 0),
        ("Reason", 0),
        ("Object", 0),
        ("Subobject", 1),
        ("Source", 1),
        ("Message", 0),
        ("First Seen", 1),
        ("Count", 1),
        ("Name", 1),
    ]
    assert table["rows"][0]["cells"] == [
        "30s",
        "Warning",
        "BackOff",
        "pod/web-abc",
        "spec.containers{web}",
        "kubelet, node-1",
        "Back-off restarting failed container web in pod web-abc_default(123)",
        "10m",
        7,
        "web-abc.17f3a",
    ]


def test_event_timestamp_fallbacks() -> None:
    new_api = core_event(
        firstTimestamp=None,
        lastTimestamp=None,
        count=None,
        source={},
        eventTime="2026-11-25T20:57:59.500000000Z",
        reportingComponent="scheduler",
        reportingInstance="scheduler-node-1",
    )
    r = row("events", new_api)
    assert (r["Last Seen"], r["First Seen"], r["Count"]) == ("2m", "2m", 1)
    assert r["Source"] == "scheduler, scheduler-node-1"
    series = core_event(series={"count": 12, "lastObservedTime": "2026-11-25T20:59:55.000000Z"})
    r = row("events", series)
    assert (r["Last Seen"], r["Count"]) == ("5s", 12)
    cluster_scoped = core_event(involvedObject={"kind": "Node"})
    assert row("events", cluster_scoped)["Object"] == "node"
    nothing = {"metadata": meta("e"), "involvedObject": {"kind": "Pod", "name": "x"}}
    r = row("events", nothing)
    assert (r["Last Seen"], r["First Seen"], r["Source"]) == ("<unknown>", "<unknown>", "")


def test_events_k8s_io_row() -> None:
    ev = {
        "metadata": meta("web-abc.17f3a"),
        "regarding": {"kind": "Pod", "name": "web-abc", "fieldPath": "spec.containers{web}"},
        "note": "Started container web",
        "reason": "Started",
        "type": "Normal",
        "reportingController": "kubelet",
        "reportingInstance": "node-1",
        "eventTime": ts(timedelta(minutes=3)),
        "deprecatedCount": 2,
        "deprecatedFirstTimestamp": ts(timedelta(minutes=3)),
        "deprecatedLastTimestamp": ts(timedelta(minutes=1)),
    }
    assert build_table("events.events.k8s.io", [ev], NOW)["rows"][0]["cells"] == [
        "60s",
        "Normal",
        "Started",
        "pod/web-abc",
        "spec.containers{web}",
        "kubelet, node-1",
        "Started container web",
        "3m",
        2,
        "web-abc.17f3a",
    ]
    # Objects stored in core shape print the same way through the events.k8s.io key.
    assert (
        build_table("events.events.k8s.io", [core_event()], NOW)["rows"][0]["cells"]
        == build_table("events", [core_event()], NOW)["rows"][0]["cells"]
    )


def test_simple_core_rows() -> None:
    assert row("namespaces", {"metadata": meta("prod"), "status": {"phase": "Active"}}) == {
        "Name": "prod",
        "Status": "Active",
        "Age": "60m",
    }
    cm = {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert row("configmaps", cm)["Data"] == 3
    secret = {"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "x", "tls.key": "y"}}
    assert build_table("secrets", [secret], NOW)["rows"][0]["cells"] == ["tls", "kubernetes.io/tls", 2, "60m"]
    sa = {"metadata": meta("default"), "secrets": [{"name": "t"}]}
    assert build_table("serviceaccounts", [sa], NOW)["rows"][0]["cells"] == ["default", 1, "60m"]
    lease = {"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "node-1_abc"}}
    assert build_table("leases.coordination.k8s.io", [lease], NOW)["rows"][0]["cells"] == [
        "kube-scheduler",
        "node-1_abc",
        "60m",
    ]
    assert row("leases.coordination.k8s.io", {"metadata": meta("free"), "spec": {}})["Holder"] == ""


def test_storage_rows() -> None:
    pv = {
        "metadata": meta("pv-1"),
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "standard",
            "claimRef": {"namespace": "default", "name": "data"},
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Bound"},
    }
    assert build_table("persistentvolumes", [pv], NOW)["rows"][0]["cells"] == [
        "pv-1",
        "10Gi",
        "RWO,RWX",
        "Retain",
        "Bound",
        "default/data",
        "standard",
        "<unset>",
        "",
        "60m",
        "Filesystem",
    ]
    pvc = {
        "metadata": meta("data"),
        "spec": {
            "volumeName": "pv-1",
            "storageClassName": "standard",
            "resources": {"requests": {"storage": "5Gi"}},
        },
        "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOncePod"]},
    }
    assert build_table("persistentvolumeclaims", [pvc], NOW)["rows"][0]["cells"] == [
        "data",
        "Bound",
        "pv-1",
        "10Gi",
        "RWOP",
        "standard",
        "<unset>",
        "60m",
        "<unset>",
    ]
    pending = {
        "metadata": meta("new", deletionTimestamp=ts(timedelta(seconds=1))),
        "spec": {},
        "status": {"phase": "Pending"},
    }
    r = row("persistentvolumeclaims", pending)
    assert (r["Status"], r["Volume"], r["Capacity"], r["Access Modes"]) == ("Terminating", "", "", "")
    sc = {
        "metadata": {
            "name": "standard",
            "creationTimestamp": ts(timedelta(days=1)),
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "rancher.io/local-path",
        "volumeBindingMode": "WaitForFirstConsumer",
    }
    assert build_table("storageclasses.storage.k8s.io", [sc], NOW)["rows"][0]["cells"] == [
        "standard (default)",
        "rancher.io/local-path",
        "Delete",
        "WaitForFirstConsumer",
        False,
        "24h",
    ]


def test_rbac_and_policy_rows() -> None:
    rb = {
        "metadata": meta("view"),
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"kind": "User", "name": "alice"},
            {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "namespace": "ci", "name": "runner"},
            {"kind": "User", "name": "bob"},
        ],
    }
    assert build_table("rolebindings.rbac.authorization.k8s.io", [rb], NOW)["rows"][0]["cells"] == [
        "view",
        "ClusterRole/view",
        "60m",
        "alice, bob",
        "devs",
        "ci/runner",
    ]
    pdb = {"metadata": meta("web"), "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}}
    assert build_table("poddisruptionbudgets.policy", [pdb], NOW)["rows"][0]["cells"] == [
        "web",
        "50%",
        "N/A",
        1,
        "60m",
    ]
    quota = {
        "metadata": meta("q"),
        "status": {
            "hard": {"limits.cpu": "4", "requests.cpu": "2", "pods": "10"},
            "used": {"requests.cpu": "500m", "pods": "3"},
        },
    }
    r = row("resourcequotas", quota)
    assert (r["Request"], r["Limit"]) == ("pods: 3/10, requests.cpu: 500m/2", "limits.cpu: 0/4")


# --------------------------------------------------------------------------------------------------------
# generic fallback, custom resources, table shape


def test_generic_fallback_columns() -> None:
    role = {
        "metadata": {
            "name": "reader",
            "namespace": "default",
            "creationTimestamp": "2026-11-25T22:30:00+01:00",
        }
    }
    table = build_table("roles.rbac.authorization.k8s.io", [role], NOW)
    assert [(c["name"], c["type"], c["format"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", "name"),
        ("Created At", "date", ""),
    ]
    assert table["rows"][0]["cells"] == ["reader", "2026-11-25T21:30:00Z"]
    assert columns_for("limitranges") is GENERIC_COLUMNS
    assert build_table("limitranges", [{"metadata": {"name": "x"}}], NOW)["rows"][0]["cells"] == [
        "x",
        "0001-01-01T00:00:00Z",
    ]


def test_crds_use_the_default_convertor() -> None:
    crd = {"metadata": {"name": "widgets.example.com", "creationTimestamp": "2026-11-20T00:00:00Z"}}
    table = build_table("customresourcedefinitions.apiextensions.k8s.io", [crd], NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Created At"]
    assert table["rows"][0]["cells"] == ["widgets.example.com", "2026-11-20T00:00:00Z"]


def test_custom_resource_columns() -> None:
    columns = custom_resource_columns(
        [
            {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "First", "type": "string", "jsonPath": ".spec.items[0].name", "priority": 1},
            {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio", "description": "how much"},
            {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
            {"name": "Labels", "type": "string", "jsonPath": ".metadata.labels"},
            {"name": "Missing", "type": "string", "jsonPath": ".status.nothing"},
            {"name": "Last", "type": "date", "jsonPath": ".status.lastSync"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ]
    )
    obj = {
        "metadata": {
            "name": "w1",
            "creationTimestamp": ts(timedelta(hours=3)),
            "labels": {"b": "2", "a": "1"},
        },
        "spec": {"replicas": 3, "items": [{"name": "first"}, {"name": "second"}], "ratio": 2, "paused": True},
        "status": {
            "conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}],
            "lastSync": "garbage",
        },
    }
    table = build_table("widgets.example.com", [obj], NOW, column_defs_for=lambda: columns)
    defs = table["columnDefinitions"]
    assert [d["name"] for d in defs] == [
        "Name",
        "Ready",
        "Replicas",
        "First",
        "Ratio",
        "Paused",
        "Labels",
        "Missing",
        "Last",
        "Age",
    ]
    assert defs[1]["description"] == (
        "Custom resource definition column (in JSONPath format): "
        '.status.conditions[?(@.type=="Ready")].status'
    )
    assert (defs[3]["priority"], defs[4]["description"]) == (1, "how much")
    assert table["rows"][0]["cells"] == [
        "w1",
        "True",
        3,
        "first",
        2.0,
        True,
        '{"a":"1","b":"2"}',
        None,
        "<invalid>",
        "3h",
    ]


def test_custom_resource_without_printer_columns_gets_age() -> None:
    columns = custom_resource_columns([])
    assert [(c.name, c.type) for c in columns] == [("Name", "string"), ("Age", "date")]
    obj = {"metadata": {"name": "w2", "creationTimestamp": ts(timedelta(days=2, hours=5))}}
    assert build_table("widgets.example.com", [obj], NOW, column_defs_for=lambda: columns)["rows"][0][
        "cells"
    ] == ["w2", "2d5h"]


def test_custom_resource_jsonpath_variants() -> None:
    columns = custom_resource_columns(
        [
            {"name": "A", "type": "string", "jsonPath": "{.spec['odd.key']}"},
            {"name": "B", "type": "integer", "jsonPath": "$.spec.list[-1]"},
            {"name": "C", "type": "string", "jsonPath": ".spec.list[*]"},
            {"name": "D", "type": "integer", "jsonPath": ".spec.list[9]"},
            {"name": "E", "type": "string", "jsonPath": ".spec.broken["},
        ]
    )
    obj = {"metadata": {"name": "x"}, "spec": {"odd.key": "v", "list": [4, 5, 6]}}
    cells = build_table("x.example.com", [obj], NOW, column_defs_for=lambda: columns)["rows"][0]["cells"]
    assert cells == ["x", "v", 6, "4", None, None]


def test_include_object_modes() -> None:
    obj = {"metadata": meta("cfg", labels={"a": "b"}), "data": {"k": "v"}}
    meta_table = build_table("configmaps", [obj], NOW)
    assert meta_table["kind"] == "Table"
    assert meta_table["apiVersion"] == "meta.k8s.io/v1"
    assert meta_table["metadata"] == {}
    assert meta_table["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }
    assert build_table("configmaps", [obj], NOW, include_object="Object")["rows"][0]["object"] == obj
    assert "object" not in build_table("configmaps", [obj], NOW, include_object="None")["rows"][0]
    assert build_table("configmaps", [obj], NOW, include_object="")["rows"][0] == meta_table["rows"][0]
    with pytest.raises(ValueError, match="includeObject"):
        build_table("configmaps", [obj], NOW, include_object="Everything")


def test_empty_list_still_has_column_definitions() -> None:
    table = build_table("pods", [], NOW)
    assert table["rows"] == []
    assert [c["name"] for c in table["columnDefinitions"]][:5] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]


def test_column_definitions_have_every_field() -> None:
    for key in COLUMNS:
        for definition in build_table(key, [], NOW)["columnDefinitions"]:
            assert set(definition) == {"name", "type", "format", "description", "priority"}, key
            assert definition["description"], (key, definition["name"])


WIDE = {
    "pods": ["IP", "Node", "Nominated Node", "Readiness Gates"],
    "nodes": ["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"],
    "services": ["Selector"],
    "events": ["Subobject", "Source", "First Seen", "Count", "Name"],
    "persistentvolumes": ["VolumeMode"],
    "persistentvolumeclaims": ["VolumeMode"],
    "deployments.apps": ["Containers", "Images", "Selector"],
    "replicasets.apps": ["Containers", "Images", "Selector"],
    "statefulsets.apps": ["Containers", "Images"],
    "daemonsets.apps": ["Containers", "Images", "Selector"],
    "jobs.batch": ["Containers", "Images", "Selector"],
    "cronjobs.batch": ["Containers", "Images", "Selector"],
    "namespaces": [],
    "endpoints": [],
    "horizontalpodautoscalers.autoscaling": [],
    "ingresses.networking.k8s.io": [],
}


@pytest.mark.parametrize(("key", "wide"), sorted(WIDE.items()))
def test_wide_priorities(key: str, wide: list[str]) -> None:
    assert [c.name for c in COLUMNS[key] if c.priority == 1] == wide
    assert all(c.priority in (0, 1) for c in COLUMNS[key])


def test_name_columns_have_name_format() -> None:
    for key, columns in COLUMNS.items():
        names = [c for c in columns if c.name == "Name"]
        assert len(names) == 1, key
        assert names[0].format == "name", key


@pytest.mark.parametrize("key", sorted(COLUMNS))
def test_every_printer_tolerates_a_bare_object(key: str) -> None:
    # Cells must never raise on sparse objects (defaults not applied, status not yet written).
    for obj in ({}, {"metadata": {"name": "x"}}, {"metadata": meta("x"), "spec": {}, "status": {}}):
        table = build_table(key, [obj], NOW)
        assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"])


def test_column_is_frozen_and_keyword_cell() -> None:
    col = Column("X", cell=lambda o, n: 1)
    assert col.definition() == {"name": "X", "type": "string", "format": "", "description": "", "priority": 0}
    with pytest.raises(AttributeError):
        col.name = "Y"  # type: ignore[misc]


def test_naive_now_is_treated_as_utc() -> None:
    obj = {"metadata": meta("cfg", timedelta(minutes=5))}
    naive = NOW.replace(tzinfo=None)
    assert build_table("configmaps", [obj], naive)["rows"][0]["cells"][2] == "5m"
