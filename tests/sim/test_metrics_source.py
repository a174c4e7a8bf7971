"""The simulator's Prometheus metrics (``ClusterMetrics``) on a real simulated cluster running HotelReservation:
cAdvisor counters and gauges per container run, kube-state-metrics from the pods' recorded states, spanmetrics from
the application's health history, deleted pods' pasts, retention and determinism."""

from __future__ import annotations

import itertools
import math

import pytest

from cluster.sim import SimCluster, SimConfig
from cluster.sim.apps import ASTRONOMY, HOTEL
from cluster.sim.apps.deploy import deploy
from cluster.sim.faults import ops
from cluster.sim.telemetry.metrics import SPAN_BUCKETS_MS, ClusterMetrics
from cluster.sim.telemetry.sources import MetricSeries

NS = "test-hotel-reservation"
S = 15.0


def hotel(seed: int = 1, warmup: float = 600, **kw: float) -> tuple[SimCluster, ClusterMetrics]:
    cluster = SimCluster(SimConfig(seed=seed))
    metrics = ClusterMetrics(cluster, **kw)
    deploy(cluster, HOTEL)
    cluster.advance(warmup)
    return cluster, metrics


def select(m: ClusterMetrics, name: str, **match: str) -> list[MetricSeries]:
    return [s for s in m.series(name) if all(s.labels.get(k, "") == v for k, v in match.items())]


def one(m: ClusterMetrics, name: str, **match: str) -> MetricSeries:
    found = select(m, name, **match)
    assert len(found) == 1, f"{name}{match}: {len(found)} series: {[dict(s.labels) for s in found]}"
    return found[0]


def last(m: ClusterMetrics, s: MetricSeries, window: float = 120) -> float:
    samples = s.samples(m.now() - window, m.now())
    assert samples, f"no recent samples for {dict(s.labels)}"
    return samples[-1][1]


def pod_name(c: SimCluster, component: str) -> str:
    pods = ops.pods_with(c, NS, "io.kompose.service", component)
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]["metadata"]["name"]


def monotonic(samples: list[tuple[float, float]]) -> bool:
    return all(b[1] >= a[1] for a, b in itertools.pairwise(samples))


# --------------------------------------------------------------------------------------------- basics
def test_samples_sit_on_the_scrape_grid_and_never_in_the_future() -> None:
    c, m = hotel()
    assert m.scrape_interval == S
    assert m.now() == c.clock.epoch.timestamp() + c.clock.now
    names = m.names()
    for expected in ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                     "container_network_receive_bytes_total", "kube_pod_status_phase",
                     "kube_deployment_spec_replicas", "traces_span_metrics_calls_total",
                     "traces_span_metrics_duration_milliseconds_bucket"):
        assert expected in names
    now = m.now()
    for s in m.series("container_cpu_usage_seconds_total")[:10]:
        samples = s.samples(now - 600, now + 3600)
        assert samples, dict(s.labels)
        assert all(t % S == 0 and now - 600 <= t <= now for t, _ in samples)
        assert [t for t, _ in samples] == sorted({t for t, _ in samples})


def test_cadvisor_labels_are_the_kubelets() -> None:
    c, m = hotel()
    pod = pod_name(c, "frontend")
    s = one(m, "container_cpu_usage_seconds_total", pod=pod, container="hotel-reserv-frontend")
    uid = ops.get(c, "pods", NS, pod)["metadata"]["uid"]  # type: ignore[index]
    status = ops.get(c, "pods", NS, pod)["status"]["containerStatuses"][0]  # type: ignore[index]
    cid = status["containerID"].removeprefix("containerd://")
    assert dict(s.labels) == {
        "__name__": "container_cpu_usage_seconds_total", "container": "hotel-reserv-frontend", "cpu": "total",
        "id": f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid.replace('-', '_')}.slice/"
              f"cri-containerd-{cid}.scope",
        "image": "docker.io/yinfangchen/hotelreservation:latest", "name": cid, "namespace": NS, "pod": pod,
        "job": "kubernetes-cadvisor", "instance": "kubernetes.default.svc:443",
        "beta_kubernetes_io_arch": "amd64", "beta_kubernetes_io_os": "linux", "kubernetes_io_arch": "amd64",
        "kubernetes_io_hostname": s.labels["kubernetes_io_hostname"], "kubernetes_io_os": "linux"}
    assert s.kind == "counter"
    # The pod's cgroup has its own series (no container label), and network series live there.
    pod_level = one(m, "container_cpu_usage_seconds_total", pod=pod, container="")
    assert "image" not in pod_level.labels and pod_level.labels["id"].endswith(".slice")
    net = one(m, "container_network_receive_bytes_total", pod=pod)
    assert net.labels["interface"] == "eth0" and "container" not in net.labels
    assert one(m, "container_memory_working_set_bytes", pod=pod, container="hotel-reserv-frontend").kind == "gauge"


# ------------------------------------------------------------------------------------------- cAdvisor
def test_cpu_counter_grows_at_the_containers_rate() -> None:
    c, m = hotel()
    now = m.now()
    pod = pod_name(c, "frontend")
    samples = one(m, "container_cpu_usage_seconds_total", pod=pod, container="hotel-reserv-frontend").samples(
        now - 300, now)
    assert len(samples) == 21 and monotonic(samples)
    rate = (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0])
    cores = HOTEL.component("frontend").cpu_cores  # healthy, at its nominal request rate
    assert rate == pytest.approx(cores, rel=0.1)
    steps = [(b[1] - a[1]) / S for a, b in itertools.pairwise(samples)]
    assert len(set(steps)) > 10 and min(steps) > 0.5 * cores and max(steps) < 1.5 * cores  # jitter, no jumps
    # The pod cgroup holds the container plus the sandbox.
    pod_level = one(m, "container_cpu_usage_seconds_total", pod=pod, container="").samples(now - 300, now)
    assert all(p[1] >= s[1] for p, s in zip(pod_level, samples, strict=True))


def test_memory_follows_the_containers_behaviour() -> None:
    c, m = hotel()
    pod = pod_name(c, "mongodb-geo")
    ws = last(m, one(m, "container_memory_working_set_bytes", pod=pod, container="hotel-reserv-geo-mongo"))
    assert ws == pytest.approx(HOTEL.component("mongodb-geo").memory_mib * 2**20, rel=0.05)
    usage = last(m, one(m, "container_memory_usage_bytes", pod=pod, container="hotel-reserv-geo-mongo"))
    rss = last(m, one(m, "container_memory_rss", pod=pod, container="hotel-reserv-geo-mongo"))
    assert rss < ws < usage
    threads = last(m, one(m, "container_threads", pod=pod, container="hotel-reserv-geo-mongo"))
    assert 30 <= threads <= 40


def test_a_flood_of_requests_raises_cpu_and_network() -> None:
    from cluster.sim.faults.families import flag_fault

    c = SimCluster(SimConfig(seed=2))
    m = ClusterMetrics(c)
    deploy(c, ASTRONOMY)
    c.advance(600)
    frontend = ASTRONOMY.component("frontend")
    pods = ops.pods_with(c, ASTRONOMY.namespace, ASTRONOMY.label_key, "frontend")
    assert len(pods) == 1
    pod = pods[0]["metadata"]["name"]
    flood = m.now()
    flag_fault("astronomy_shop_loadgenerator_flood_homepage").inject(c)
    c.advance(600)
    now = m.now()

    def rates(name: str, **match: str) -> tuple[float, float]:
        by_t = dict(one(m, name, pod=pod, **match).samples(now - 1200, now))

        def r(a: float, b: float) -> float:
            return (by_t[b] - by_t[a]) / (b - a)

        return r(flood - 300, flood), r(now - 300, now)

    cpu_before, cpu_after = rates("container_cpu_usage_seconds_total", container=frontend.container)
    assert cpu_after > 20 * cpu_before  # 12x the CPU per request, 20x the requests
    rx_before, rx_after = rates("container_network_receive_bytes_total")
    assert rx_after > 5 * rx_before


def test_each_run_is_a_series_starting_from_zero_with_gaps_between() -> None:
    c, m = hotel(warmup=10)
    ops.create(c, "pods", NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "flaky"},
                               "spec": {"containers": [{"name": "main", "image": "busybox:1.36",
                                                        "command": ["sh", "-c", "sleep 40; exit 1"]}]}})
    c.advance(600)
    now = m.now()
    runs = select(m, "container_cpu_usage_seconds_total", pod="flaky", container="main")
    runs = [s.samples(now - 900, now) for s in runs]
    runs = sorted((r for r in runs if r), key=lambda r: r[0][0])
    assert len(runs) >= 4  # 40 s runs, back-off 0, 10, 20, 40, 80 s...
    cores = 0.005  # busybox's default behaviour
    gaps = [b[0][0] - a[-1][0] for a, b in itertools.pairwise(runs)]
    assert all(g > 0 for g in gaps)  # runs never overlap
    assert sum(g > S for g in gaps) >= 2  # and after the immediate first restart, back-off leaves holes
    for r in runs:
        assert monotonic(r) and r[0][1] < cores * (S + 1) and len(r) <= 3
    merged = [v for r in runs for _, v in r]
    assert any(b < a for a, b in itertools.pairwise(merged))  # sum by (pod, container): resets
    restarts = one(m, "kube_pod_container_status_restarts_total", pod="flaky", container="main")
    assert last(m, restarts) >= len(runs) - 1
    # The pod's cgroup outlives its container's runs: one series, never reset.
    pod_level = one(m, "container_cpu_usage_seconds_total", pod="flaky", container="").samples(now - 900, now)
    assert monotonic(pod_level) and len(pod_level) > sum(len(r) for r in runs)


# ---------------------------------------------------------------------------------- kube-state-metrics
def test_a_crash_looping_container_restarts_and_waits_in_back_off() -> None:
    c, m = hotel()
    ops.set_container(c, NS, "geo", "hotel-reserv-geo", image="yinfangchen/geo:app3")
    c.advance(900)
    now = m.now()
    pod = pod_name(c, "geo")
    restarts = one(m, "kube_pod_container_status_restarts_total", pod=pod, container="hotel-reserv-geo")
    assert restarts.kind == "counter"
    samples = restarts.samples(now - 900, now)
    assert monotonic(samples) and samples[-1][1] >= 5 and samples[-1][1] > samples[len(samples) // 2][1]
    waiting = one(m, "kube_pod_container_status_waiting_reason", pod=pod, container="hotel-reserv-geo",
                  reason="CrashLoopBackOff")
    assert waiting.samples(now - 60, now)[-1][1] == 1.0
    assert all(v == 1.0 for _, v in waiting.samples(now - 900, now))  # present only while that is the reason
    last_reason = one(m, "kube_pod_container_status_last_terminated_reason", pod=pod, container="hotel-reserv-geo")
    assert last_reason.labels["reason"] == "Error"
    assert last(m, one(m, "kube_pod_status_phase", pod=pod, phase="Running")) == 1.0
    assert last(m, one(m, "kube_pod_status_phase", pod=pod, phase="Pending")) == 0.0
    assert last(m, one(m, "kube_pod_status_ready", pod=pod, condition="false")) == 1.0
    assert last(m, one(m, "kube_pod_container_status_ready", pod=pod, container="hotel-reserv-geo")) == 0.0
    assert last(m, one(m, "kube_deployment_status_replicas_unavailable", deployment="geo")) == 1.0


def test_scaling_to_zero_shows_in_deployment_series_and_the_pod_disappears() -> None:
    c, m = hotel()
    old = pod_name(c, "user")
    ops.scale(c, NS, "user", 0)
    c.advance(300)
    now = m.now()
    spec = one(m, "kube_deployment_spec_replicas", deployment="user", namespace=NS).samples(now - 600, now)
    assert spec[0][1] == 1.0 and spec[-1][1] == 0.0
    assert last(m, one(m, "kube_deployment_status_replicas_available", deployment="user")) == 0.0
    info = one(m, "kube_pod_info", pod=old)
    assert info.labels["created_by_kind"] == "ReplicaSet" and info.labels["node"].startswith("kind-worker")
    assert info.samples(now - 120, now) == []


def test_a_deleted_pods_past_remains() -> None:
    c, m = hotel()
    old = pod_name(c, "frontend")
    deleted_at = m.now()
    ops.delete(c, "pods", NS, old)
    c.advance(600)
    now = m.now()
    new = pod_name(c, "frontend")
    assert new != old
    for name in ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes"):
        past = one(m, name, pod=old, container="hotel-reserv-frontend").samples(now - 1200, now)
        assert past and past[0][0] <= now - 1170 and deleted_at - S <= past[-1][0] <= deleted_at + 1
        assert one(m, name, pod=new, container="hotel-reserv-frontend").samples(now - 60, now)
    net = one(m, "container_network_transmit_bytes_total", pod=old).samples(now - 1200, now)
    assert net and net[-1][0] <= deleted_at + 1
    phase = one(m, "kube_pod_status_phase", pod=old, phase="Running").samples(now - 1200, now)
    assert phase[-1][0] <= deleted_at + 1 and phase[-1][1] == 1.0


def test_records_older_than_the_retention_are_dropped() -> None:
    c, m = hotel(retention=900)
    old = pod_name(c, "frontend")
    ops.delete(c, "pods", NS, old)
    c.advance(600)
    assert select(m, "container_cpu_usage_seconds_total", pod=old)
    c.advance(600)
    assert not select(m, "container_cpu_usage_seconds_total", pod=old)
    assert not select(m, "kube_pod_status_phase", pod=old)
    assert all(r.name != old for r in m._pods.values())


def test_a_late_source_reconstructs_restarts_from_the_runtime() -> None:
    c = SimCluster(SimConfig(seed=1))
    deploy(c, HOTEL)
    c.advance(300)
    ops.set_container(c, NS, "geo", "hotel-reserv-geo", image="yinfangchen/geo:app3")
    c.advance(900)
    m = ClusterMetrics(c)
    now = m.now()
    pod = pod_name(c, "geo")
    samples = one(m, "kube_pod_container_status_restarts_total", pod=pod).samples(now - 900, now)
    assert samples[0][0] < now - 800 and samples[0][1] < samples[-1][1] and monotonic(samples)
    back_off = one(m, "kube_pod_container_status_waiting_reason", pod=pod, reason="CrashLoopBackOff")
    assert len(back_off.samples(now - 900, now)) > 30


# -------------------------------------------------------------------------------------------- spanmetrics
def test_span_errors_grow_when_a_dependency_is_scaled_to_zero() -> None:
    c, m = hotel()
    assert not select(m, "traces_span_metrics_calls_total", service_name="frontend", span_name="HTTP POST /user",
                      status_code="STATUS_CODE_ERROR")
    broke = m.now()
    ops.scale(c, NS, "user", 0)
    c.advance(1200)
    now = m.now()
    labels = {"namespace": NS, "service_name": "frontend", "span_name": "HTTP POST /user"}
    errors = one(m, "traces_span_metrics_calls_total", status_code="STATUS_CODE_ERROR", **labels)
    assert errors.labels["span_kind"] == "SPAN_KIND_SERVER" and errors.kind == "counter"
    samples = errors.samples(now - 1800, now)
    assert samples[0][0] >= broke and monotonic(samples)
    # 10 req/s x 0.5 % login requests, all failing now
    assert (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0]) == pytest.approx(0.05, rel=0.25)
    ok = one(m, "traces_span_metrics_calls_total", status_code="STATUS_CODE_UNSET", **labels)
    ok_samples = ok.samples(now - 1800, now)
    assert ok_samples[0][0] < broke and ok_samples[-1][1] == ok.samples(broke + 60, broke + 75)[0][1]
    # The user service itself serves nothing while it has no pods.
    user = select(m, "traces_span_metrics_calls_total", service_name="user", status_code="STATUS_CODE_UNSET")
    assert user and all(s.samples(now - 900, now)[-1][1] == s.samples(now - 900, now)[0][1] for s in user)


def test_span_histograms_are_consistent() -> None:
    c, m = hotel()
    now = m.now()
    match = {"service_name": "frontend", "span_name": "HTTP GET /hotels", "status_code": "STATUS_CODE_UNSET"}
    calls = one(m, "traces_span_metrics_calls_total", **match).samples(now - 600, now)
    count = one(m, "traces_span_metrics_duration_milliseconds_count", **match).samples(now - 600, now)
    total = one(m, "traces_span_metrics_duration_milliseconds_sum", **match).samples(now - 600, now)
    buckets = {s.labels["le"]: s.samples(now - 600, now)
               for s in select(m, "traces_span_metrics_duration_milliseconds_bucket", **match)}
    assert list(buckets) == [*(str(b) for b in SPAN_BUCKETS_MS), "+Inf"]
    assert calls == count == buckets["+Inf"]
    assert all(v == int(v) for _, v in calls)
    for i in range(len(calls)):
        values = [buckets[le][i][1] for le in buckets]
        assert values == sorted(values)
    mean = (total[-1][1] - total[0][1]) / (count[-1][1] - count[0][1])
    run = c.apps.by_namespace[NS]  # type: ignore[attr-defined]
    from cluster.sim.apps.health import traffic

    expected = traffic(HOTEL, run.history.snaps[-1])["frontend"].by_op["HTTP GET /hotels"][2]
    assert mean == pytest.approx(expected, rel=0.05)
    # The median falls in the bucket around the mean: most calls are faster than 2x the mean, few faster than 2 ms.
    n = count[-1][1] - count[0][1]
    assert (buckets["2"][-1][1] - buckets["2"][0][1]) < 0.05 * n < (buckets["50"][-1][1] - buckets["50"][0][1])


# ------------------------------------------------------------------------------------------------ chaos
def test_dropped_packets_follow_chaos_network_loss() -> None:
    from cluster.sim.chaos import install_chaos_mesh

    c, m = hotel(warmup=60)
    install_chaos_mesh(c)
    c.advance(240)
    pod = pod_name(c, "geo")
    start = m.now()
    loss = {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos", "metadata": {"name": "loss"},
            "spec": {"action": "loss", "mode": "one", "duration": "300s", "loss": {"loss": "50", "correlation": "0"},
                     "selector": {"labelSelectors": {"io.kompose.service": "geo"}}}}
    ops.create(c, "networkchaos.chaos-mesh.org", NS, loss)
    c.advance(600)
    now = m.now()
    dropped = dict(one(m, "container_network_receive_packets_dropped_total", pod=pod).samples(now - 1200, now))
    assert dropped[start - 60] == dropped[start]  # nothing lost before
    during = dropped[start + 300] - dropped[start + 15]
    assert during > 100  # search calls geo ~6/s; half of them lost
    assert dropped[now] == dropped[start + 330]  # the chaos ended after 300 s


# -------------------------------------------------------------------------------------------- determinism
def _everything(m: ClusterMetrics, window: float = 900) -> list[tuple[tuple[tuple[str, str], ...], tuple]]:
    now = m.now()
    return sorted((tuple(sorted(s.labels.items())), tuple(s.samples(now - window, now))) for s in m.series())


def test_same_seed_same_samples() -> None:
    def run(seed: int) -> list:
        c, m = hotel(seed=seed)
        ops.set_container(c, NS, "geo", "hotel-reserv-geo", image="yinfangchen/geo:app3")
        ops.delete(c, "pods", NS, pod_name(c, "frontend"))
        c.advance(300)
        return _everything(m)

    first = run(5)
    assert first == run(5)
    assert first != run(6)


# -------------------------------------------------------------------------------------------- PromQL
def test_rate_through_the_promql_evaluator() -> None:
    promql = pytest.importorskip("cluster.sim.telemetry.promql")
    c, m = hotel()
    now_ms = round(m.now() * 1000)
    data = promql.instant_query(
        m, 'rate(container_cpu_usage_seconds_total{namespace="test-hotel-reservation"}[5m])', now_ms)
    assert data["resultType"] == "vector"
    result = {(r["metric"].get("pod"), r["metric"].get("container", "")): float(r["value"][1])
              for r in data["result"]}
    assert len(result) == 2 * len(HOTEL.components)  # each container, and each pod's cgroup
    frontend = result[(pod_name(c, "frontend"), "hotel-reserv-frontend")]
    assert frontend == pytest.approx(HOTEL.component("frontend").cpu_cores, rel=0.15)
    assert all(not math.isnan(v) and v > 0 for v in result.values())
