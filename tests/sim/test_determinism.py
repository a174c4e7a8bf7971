"""The same seed gives byte-identical logs, metrics and traces: the property reinforcement learning relies on."""

from __future__ import annotations

import orjson

from cluster.sim import SimCluster, SimConfig
from cluster.sim.faults.problems import PROBLEMS
from cluster.sim.faults.setup import bring_up
from cluster.sim.runtime.logs import pod_logs
from cluster.sim.telemetry import promql
from cluster.sim.telemetry.metrics import ClusterMetrics
from cluster.sim.telemetry.sources import TraceQuery
from cluster.sim.telemetry.tracegen import AppTraces

PROBLEM = "revoke_auth_mongodb-localization-1"


def _observe(seed: int) -> dict:
    c = SimCluster(SimConfig(seed=seed))
    problem = PROBLEMS[PROBLEM]
    bring_up(c, problem)
    c.advance(120)
    ns = problem.namespace
    logs = {}
    for pod in c.store.list("pods", ns):
        for ctr in pod["spec"]["containers"]:
            try:
                logs[(pod["metadata"]["name"], ctr["name"])] = pod_logs(c, ns, pod["metadata"]["name"], ctr["name"],
                                                                        timestamps=True)
            except Exception as e:  # a container still waiting to start: its error is part of the observation
                logs[(pod["metadata"]["name"], ctr["name"])] = repr(e)
    source = ClusterMetrics.of(c)
    now = source.now()
    queries = [f'rate(container_cpu_usage_seconds_total{{namespace="{ns}"}}[5m])',
               f'kube_pod_container_status_restarts_total{{namespace="{ns}"}}',
               f'sum by (service_name) (rate(traces_span_metrics_calls_total{{namespace="{ns}"}}[5m]))']
    end_ms = int(now * 1000)
    metrics = [orjson.dumps(promql.range_query(source, q, end_ms - 600_000, end_ms, 15_000)) for q in queries]
    traces_src = AppTraces(c, ns)
    traces = orjson.dumps(traces_src.find_traces(TraceQuery(service="frontend", start_us=int((now - 300) * 1e6),
                                                            end_us=int(now * 1e6), limit=20)))
    return {"logs": logs, "metrics": metrics, "traces": traces, "objects": orjson.dumps(c.store.dump())}


def test_same_seed_same_logs_metrics_and_traces() -> None:
    a, b = _observe(5), _observe(5)
    assert a["objects"] == b["objects"]
    assert a["logs"] == b["logs"]
    assert any("not authorized on geo-db" in text for text in a["logs"].values())
    assert a["metrics"] == b["metrics"]
    assert a["traces"] == b["traces"] and len(a["traces"]) > 1000


def test_another_seed_differs() -> None:
    a, b = _observe(5), _observe(6)
    assert a["traces"] != b["traces"]
    assert a["logs"] != b["logs"]
