"""The cluster's Prometheus metrics, computed on demand: cAdvisor (through the kubelet), kube-state-metrics and
OpenTelemetry spanmetrics, as AIOpsLab's Prometheus scrapes them every 15 s.

Nothing is simulated request by request. Every sample is a pure function of the seed, the series and the scrape
instant, read from three records:

- the container runtime's runs (``cluster.runtime.pods``): a cAdvisor series is one container *run* (cAdvisor's
  ``id``/``name`` are the run's cgroup and containerd id, so a restart starts a new series from 0), present only
  while that run is up; pod-level cgroup and network series live as long as the pod sandbox;
- the pods' and Deployments' API objects, recorded as changes (time, compact state) from the store's watch events,
  which is what kube-state-metrics reads; deleted pods keep their record (and a copy of their runs) for
  ``retention`` seconds, so range queries over the last hour still see them;
- each application's health history (``apps/health.py``): per component and snapshot, the request rate, errors
  and latency, and the CPU/memory factors a fault causes.

Counters integrate a piecewise-constant rate (one piece per health snapshot) against a per-series "wobbling clock"
``G(u) = u + A·h(u)``, where ``h`` interpolates deterministic noise between scrape instants. Since ``dG/du`` stays
within 1 ± A/15, every counter is exactly monotonic, its rate wobbles by about ±20 % from scrape to scrape, and
the integral has a closed form per piece: prefix sums over the pieces make any sample O(log pieces).
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from cluster.sim.apps.health import ComponentHealth, Snapshot, traffic
from cluster.sim.quantity import QuantityError, cpu_millis, memory_bytes
from cluster.sim.runtime.images import normalize
from cluster.sim.store import WatchEvent
from cluster.sim.telemetry.sources import SCRAPE_INTERVAL, MetricSeries

if TYPE_CHECKING:
    from cluster.sim.apps.model import AppModel
    from cluster.sim.apps.runtime import AppRuntime
    from cluster.sim.cluster import SimCluster
    from cluster.sim.runtime.containers import PodRuntime, Run

S = SCRAPE_INTERVAL
RETENTION_SECONDS = 2 * 3600.0  # how long a deleted pod's record (and any finished run) stays queryable
JITTER_SECONDS = 3.0  # amplitude A of the per-series clock wobble: rates vary by about ±A/15 between scrapes
PRUNE_EVERY = 60.0  # simulated seconds between two retention sweeps
POD_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
READY_CONDITIONS = ("true", "false", "unknown")

# Who scrapes what, as AIOpsLab's Prometheus chart (aiopslab/observer/prometheus) is configured: cAdvisor through
# the API server's node proxy (so every series' instance is the API server's address, plus the node's labels);
# kube-state-metrics and the OpenTelemetry collector's spanmetrics as ordinary targets in the "observe" namespace.
CADVISOR_TARGET = {"job": "kubernetes-cadvisor", "instance": "kubernetes.default.svc:443"}
KSM_TARGET = {"job": "kube-state-metrics", "instance": "prometheus-kube-state-metrics.observe.svc:8080"}
SPAN_TARGET = {"job": "otel-collector", "instance": "otel-collector.observe.svc:8889"}

# spanmetrics connector's histogram buckets (milliseconds), as the brief's collector config sets them
SPAN_BUCKETS_MS = (2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10000, 15000)
LATENCY_SIGMA = 0.6  # spread of the log-normal latency distribution around each operation's mean
UNSET, ERROR = "STATUS_CODE_UNSET", "STATUS_CODE_ERROR"

# Network model: bytes per request received/sent, a background trickle (probes, DNS, gossip) and packet sizes.
REQUEST_BYTES, RESPONSE_BYTES, CALL_BYTES = 620.0, 1450.0, 380.0
IDLE_RX_BYTES, IDLE_TX_BYTES = 900.0, 650.0
RX_PACKET_BYTES, TX_PACKET_BYTES = 310.0, 540.0
PACKETS_PER_CALL = 3.0  # a dropped request costs its SYN/data retransmissions
IDLE_LOAD = 0.3  # a service's CPU at zero traffic, as a share of its CPU at the nominal request rate
PAUSE_BYTES = 300 * 1024  # the sandbox's pause process, which the pod cgroup always holds
PAUSE_CORES = 0.0001

CADVISOR_CONTAINER = (
    "container_cpu_usage_seconds_total", "container_cpu_cfs_periods_total",
    "container_cpu_cfs_throttled_periods_total", "container_cpu_cfs_throttled_seconds_total",
    "container_memory_working_set_bytes", "container_memory_usage_bytes", "container_memory_rss",
    "container_threads", "container_spec_memory_limit_bytes", "container_last_seen",
)
CADVISOR_NETWORK = (
    "container_network_receive_bytes_total", "container_network_transmit_bytes_total",
    "container_network_receive_packets_total", "container_network_transmit_packets_total",
    "container_network_receive_errors_total", "container_network_transmit_errors_total",
    "container_network_receive_packets_dropped_total", "container_network_transmit_packets_dropped_total",
)
KSM_POD = (
    "kube_pod_info", "kube_pod_status_phase", "kube_pod_status_ready", "kube_pod_container_status_restarts_total",
    "kube_pod_container_status_waiting", "kube_pod_container_status_waiting_reason",
    "kube_pod_container_status_running", "kube_pod_container_status_ready",
    "kube_pod_container_status_terminated_reason", "kube_pod_container_status_last_terminated_reason",
    "kube_pod_container_resource_requests", "kube_pod_container_resource_limits",
)
KSM_DEPLOYMENT = (
    "kube_deployment_spec_replicas", "kube_deployment_status_replicas", "kube_deployment_status_replicas_available",
    "kube_deployment_status_replicas_unavailable", "kube_deployment_status_replicas_updated",
)
SPAN_METRICS = (
    "traces_span_metrics_calls_total", "traces_span_metrics_duration_milliseconds_bucket",
    "traces_span_metrics_duration_milliseconds_sum", "traces_span_metrics_duration_milliseconds_count",
)
CADVISOR = CADVISOR_CONTAINER + CADVISOR_NETWORK
ALL_NAMES = CADVISOR + KSM_POD + KSM_DEPLOYMENT + SPAN_METRICS
COUNTERS = frozenset(n for n in ALL_NAMES if n.endswith(("_total", "_bucket", "_sum", "_count")))

# Threads a process of these images typically runs (Go runtimes, mongod's pools, memcached's workers).
THREADS = (("mongo", 33), ("memcached", 10), ("consul", 22), ("jaeger", 18), ("hotelreservation", 11),
           ("redis", 6), ("kafka", 70), ("coredns", 12), ("etcd", 16), ("kube-apiserver", 24))

Sample = tuple[float, float]
SampleFn = Callable[[float, float], list[Sample]]


# ------------------------------------------------------------------------------------------------ noise
_MASK = (1 << 64) - 1


def _noise(seed: int, k: int) -> float:
    """A deterministic value in [0, 1) for (series, scrape index): splitmix64, much cheaper than a digest."""
    z = (seed + (k + 1) * 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return (z ^ (z >> 31)) / 18446744073709551616.0


@lru_cache(maxsize=1 << 16)
def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "big")


def _warp(seed: int, u: float) -> float:
    """G(u) = u + A·h(u), h linear between scrape instants: a clock that runs 1 ± A/15 fast, never backwards."""
    x = u / S
    k = math.floor(x)
    frac = x - k
    h = _noise(seed, k)
    if frac:
        h += (_noise(seed, k + 1) - h) * frac
    return u + JITTER_SECONDS * h


class _Counter:
    """∫ f dG for f piecewise constant (``values[i]`` from ``starts[i]``, the first piece reaching back forever)."""

    __slots__ = ("prefix", "seed", "starts", "values", "warped")

    def __init__(self, starts: list[float], values: list[float], seed: int):
        self.starts, self.values, self.seed = list(starts), values, seed  # a copy: the view's list grows
        self.warped = [_warp(seed, b) for b in starts]
        prefix = [0.0]
        for i in range(1, len(starts)):
            prefix.append(prefix[-1] + values[i - 1] * (self.warped[i] - self.warped[i - 1]))
        self.prefix = prefix

    def at(self, u: float) -> float:
        i = max(bisect.bisect_right(self.starts, u) - 1, 0)
        return self.prefix[i] + self.values[i] * (_warp(self.seed, u) - self.warped[i])


def _grid(lo: float, hi: float) -> range:
    """Indices k of the scrape instants k·15 s within [lo, hi]."""
    if hi < lo:
        return range(0)
    return range(math.ceil(lo / S), math.floor(hi / S) + 1)


# ------------------------------------------------------------------------------------------ applications
@dataclass(frozen=True)
class _CompState:
    """What one component does under one health snapshot."""

    cpu: float = 1.0  # CPU multiplier: fault factor × load
    mem: float = 1.0
    rate: float = 0.0  # requests/s its pods receive, all pods together
    serving: int = 0
    out_rate: float = 0.0  # calls/s it makes
    dropped: float = 0.0  # packets/s lost on the way in (Chaos Mesh loss)
    ops: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # op -> (calls/s, errors/s, mean ms)


_IDLE = _CompState()


class _AppView:
    """An application's health history turned into per-component states, kept in step with the history."""

    def __init__(self, run: AppRuntime):
        self.run = run
        app = run.model
        self.callers = {c.name: max(len(app.callers_of(c.name)), 1) for c in app.components}
        healthy = Snapshot(t=0.0, components={c.name: ComponentHealth(pods=c.replicas, serving=c.replicas)
                                              for c in app.components})
        self.baseline = {name: t.rate for name, t in traffic(app, healthy).items()}
        self.snaps: list[Snapshot] = []
        self.times: list[float] = []  # Unix seconds
        self.states: list[dict[str, _CompState]] = []
        self.epoch = 0.0
        self.version = 0

    def sync(self, epoch: float) -> None:
        hist = self.run.history
        n = len(hist.snaps)
        keep = min(len(self.snaps), n) if epoch == self.epoch else 0
        # The history appends, or replaces its last snapshot when one comes at the same instant.
        while keep and (self.snaps[keep - 1] is not hist.snaps[keep - 1]
                        or self.times[keep - 1] != epoch + hist.times[keep - 1]):
            keep -= 1
        if keep == n == len(self.snaps):
            return
        del self.snaps[keep:], self.times[keep:], self.states[keep:]
        for i in range(keep, n):
            self.snaps.append(hist.snaps[i])
            self.times.append(epoch + hist.times[i])
            self.states.append(self._states(hist.snaps[i]))
        self.epoch = epoch
        self.version += 1

    def _states(self, snap: Snapshot) -> dict[str, _CompState]:
        app: AppModel = self.run.model
        tr = traffic(app, snap)
        out: dict[str, _CompState] = {}
        for comp in app.components:
            h = snap.component(comp.name)
            t = tr.get(comp.name)
            rate = t.rate if t else 0.0
            base = self.baseline.get(comp.name, 0.0)
            if base > 0:
                per_pod = rate / max(h.serving, 1)
                load = IDLE_LOAD + (1 - IDLE_LOAD) * per_pod / (base / max(comp.replicas, 1))
            else:
                load = 1.0
            out_rate = sum(tr[x].rate / self.callers[x] for x in (*comp.calls, *comp.stores) if x in tr)
            dropped = sum(e.fail * self.baseline.get(comp.name, 0.0) / self.callers[comp.name] * PACKETS_PER_CALL
                          for (_, callee), e in snap.edges.items() if callee == comp.name and e.error == "timeout")
            # A component nobody serves emits no server spans: its callers' failures are theirs.
            ops = {op: (v[0], v[1], v[2]) for op, v in t.by_op.items()} if t and h.serving else {}
            out[comp.name] = _CompState(cpu=h.cpu_factor * load, mem=h.mem_factor, rate=rate if h.serving else 0.0,
                                        serving=h.serving, out_rate=out_rate if h.serving else 0.0,
                                        dropped=dropped, ops=ops)
        return out

    def state_at(self, comp: str, t: float) -> _CompState:
        if not self.states:
            return _IDLE
        i = max(bisect.bisect_right(self.times, t) - 1, 0)
        return self.states[i].get(comp, _IDLE)


# ------------------------------------------------------------------------------------------------ records
class _Changes:
    """A value over time, stored as changes only."""

    __slots__ = ("times", "values")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.values: list[Any] = []

    def add(self, t: float, value: Any) -> None:
        if self.values and self.values[-1] == value:
            return
        if self.times and t <= self.times[-1]:
            self.values[-1] = value  # the same instant: the last word wins
            if len(self.values) > 1 and self.values[-2] == value:
                self.times.pop()
                self.values.pop()
            return
        self.times.append(t)
        self.values.append(value)

    def trim(self, cutoff: float) -> None:
        """Forget changes superseded before ``cutoff`` (the one in force then stays)."""
        i = bisect.bisect_right(self.times, cutoff) - 1
        if i > 0:
            del self.times[:i], self.values[:i]


class _Run:
    """One container run as the metrics see it: a live runtime run (read through) or a copy of a finished one."""

    __slots__ = ("cid", "cpu", "index", "mem", "owner", "src", "start", "stop")

    def __init__(self, index: int, cid: str, start: float, stop: float | None, cpu: float, mem: int,
                 src: Run | None, owner: _PodRec | None = None):
        self.index, self.cid, self.start, self.stop, self.cpu, self.mem, self.src, self.owner = \
            index, cid, start, stop, cpu, mem, src, owner

    def end(self, epoch: float) -> float | None:
        """When the run ended (Unix seconds), None while it runs; a run outlives neither its pod nor its sandbox."""
        if self.src is not None and self.src.finished is not None:
            return epoch + self.src.finished
        if self.stop is not None:
            return self.stop
        return self.owner.deleted if self.owner is not None else None


@dataclass
class _Spec:
    image: str
    cpu_request: float = 0.0
    cpu_limit: float = 0.0  # cores, 0 = none
    mem_request: int = 0
    mem_limit: int = 0  # bytes, 0 = none


@dataclass
class _PodRec:
    uid: str
    namespace: str
    name: str
    created: float
    node: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    qos: str = "BestEffort"
    host_network: bool = False
    owner: tuple[str, str] = ("<none>", "<none>")
    ip: str = ""
    host_ip: str = ""
    priority_class: str = ""
    specs: dict[str, _Spec] = field(default_factory=dict)
    images: tuple[str, ...] = ()
    deleted: float | None = None
    rt: PodRuntime | None = None
    sandbox: float | None = None  # Unix seconds the sandbox (and its network namespace) came up
    frozen: dict[str, list[_Run]] | None = None  # runs copied at deletion
    ksm: _Changes = field(default_factory=_Changes)


@dataclass
class _DeployRec:
    uid: str
    namespace: str
    name: str
    created: float
    deleted: float | None = None
    ksm: _Changes = field(default_factory=_Changes)


def _pod_state(pod: dict) -> tuple:
    """What kube-state-metrics reads from a pod: phase, Ready, and per container (name, restarts, waiting reason,
    terminated reason, last terminated reason, ready, running)."""
    st = pod.get("status") or {}
    ready = next(({"True": "true", "False": "false"}.get(c.get("status", ""), "unknown")
                  for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
    containers = []
    for cs in st.get("containerStatuses") or []:
        state, last = cs.get("state") or {}, (cs.get("lastState") or {}).get("terminated") or {}
        containers.append((cs.get("name", ""), int(cs.get("restartCount", 0)),
                           (state.get("waiting") or {}).get("reason", "") if "waiting" in state else "",
                           (state.get("terminated") or {}).get("reason", "") if "terminated" in state else "",
                           last.get("reason", ""), bool(cs.get("ready")), "running" in state))
    return (st.get("phase", "Pending"), ready, tuple(containers))


def _deploy_state(d: dict) -> tuple[int, int, int, int, int]:
    st = d.get("status") or {}
    return (int((d.get("spec") or {}).get("replicas", 1)), int(st.get("replicas", 0)),
            int(st.get("availableReplicas", 0)), int(st.get("unavailableReplicas", 0)),
            int(st.get("updatedReplicas", 0)))


def _specs(pod: dict) -> dict[str, _Spec]:
    out: dict[str, _Spec] = {}
    spec = pod.get("spec") or {}
    for x in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        res = x.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        try:
            out[x["name"]] = _Spec(image=_image(x.get("image", "")),
                                   cpu_request=cpu_millis(req.get("cpu")) / 1000,
                                   cpu_limit=cpu_millis(lim.get("cpu")) / 1000,
                                   mem_request=memory_bytes(req.get("memory")),
                                   mem_limit=memory_bytes(lim.get("memory")))
        except QuantityError:
            out[x["name"]] = _Spec(image=_image(x.get("image", "")))
    return out


def _image(ref: str) -> str:
    """The image reference as containerd (and so cAdvisor) names it: docker.io/library/nginx:1.25."""
    if not ref:
        return ""
    name, tag = normalize(ref)
    return f"{name}@{tag}" if tag.startswith("sha256:") else f"{name}:{tag}"


def _label_name(key: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def _threads(image: str, seed: int) -> float:
    base = next((n for key, n in THREADS if key in image), 7)
    return float(base + seed % 4)


# ------------------------------------------------------------------------------------------------ source
class ClusterMetrics:
    """A ``MetricSource`` over a simulated cluster. Create it early (``ClusterMetrics.of(cluster)`` right after the
    cluster) so it sees every pod that is later deleted; whatever it missed before, it reconstructs from the
    container runtime where it can (pod states and restarts of pods that still exist)."""

    scrape_interval = S

    def __init__(self, cluster: SimCluster, retention: float = RETENTION_SECONDS):
        self.c = cluster
        self.retention = retention
        self._pods: dict[str, _PodRec] = {}
        self._deploys: dict[str, _DeployRec] = {}
        self._views: dict[str, _AppView] = {}
        self._counters: dict[tuple, tuple[int, _Counter]] = {}
        self._last_prune = -math.inf
        with cluster.lock:
            for pod in cluster.store.list("pods"):
                self._on_pod("ADDED", pod, attach=True)
            for d in cluster.store.list("deployments.apps"):
                self._on_deployment("ADDED", d, attach=True)
            cluster.store.subscribe(self._on_event)
            cluster.after_settle.append(self._after_settle)

    @classmethod
    def of(cls, cluster: SimCluster) -> ClusterMetrics:
        """The cluster's one metrics source, created (and subscribed) on first use."""
        with cluster.lock:
            found = getattr(cluster, "metrics", None)
            if not isinstance(found, cls):
                found = cls(cluster)
                cluster.metrics = found  # type: ignore[attr-defined]
            return found

    def close(self) -> None:
        with self.c.lock:
            self.c.store.unsubscribe(self._on_event)
            if self._after_settle in self.c.after_settle:
                self.c.after_settle.remove(self._after_settle)

    # ---------------------------------------------------------------------------------------- interface
    def now(self) -> float:
        with self.c.lock:
            self.c.sync()  # a real-time cluster catches up with the wall clock first, as for an API request
            return self._now()

    def names(self) -> list[str]:
        with self.c.lock:
            return sorted({s.labels["__name__"] for s in self.series()})

    def series(self, name: str | None = None) -> list[MetricSeries]:
        with self.c.lock:
            wanted = set(ALL_NAMES) if name is None else {name} & set(ALL_NAMES)
            if not wanted:
                return []
            self.c.sync()
            self._sync_apps()
            out: list[MetricSeries] = []
            if wanted & set(CADVISOR):
                out += self._cadvisor(wanted)
            if wanted & set(KSM_POD + KSM_DEPLOYMENT):
                out += self._ksm(wanted)
            if wanted & set(SPAN_METRICS):
                out += self._spans(wanted)
            return out

    # ------------------------------------------------------------------------------------------ records
    def _epoch(self) -> float:
        return self.c.clock.epoch.timestamp()

    def _now(self) -> float:
        """The clock as it stands (sample functions never move it: one query sees one instant)."""
        return self._epoch() + self.c.clock.now

    def _on_event(self, event: WatchEvent) -> None:
        if event.resource == "pods":
            self._on_pod(event.type, event.obj)
        elif event.resource == "deployments.apps":
            self._on_deployment(event.type, event.obj)

    def _on_pod(self, kind: str, pod: dict, attach: bool = False) -> None:
        meta = pod["metadata"]
        uid = meta.get("uid", "")
        now = self._now()
        rec = self._pods.get(uid)
        if rec is None:
            if kind == "DELETED":
                return
            created = now
            if attach:
                with contextlib.suppress(KeyError, ValueError):
                    created = self._epoch() + self.c.clock.parse(meta["creationTimestamp"])
            rec = self._pods[uid] = _PodRec(uid=uid, namespace=meta.get("namespace", ""), name=meta["name"],
                                             created=min(created, now))
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        images = tuple(x.get("image", "") for x in [*(spec.get("initContainers") or []), *spec.get("containers", [])])
        if images != rec.images:
            rec.images, rec.specs = images, _specs(pod)
        rec.labels = dict(meta.get("labels") or {})
        rec.node = spec.get("nodeName") or rec.node
        rec.host_network = bool(spec.get("hostNetwork"))
        rec.priority_class = spec.get("priorityClassName", "")
        rec.qos = status.get("qosClass", rec.qos)
        rec.ip = status.get("podIP") or rec.ip
        rec.host_ip = status.get("hostIP") or rec.host_ip
        owner = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
        if owner:
            rec.owner = (owner.get("kind", "<none>"), owner.get("name", "<none>"))
        if rec.rt is None and rec.frozen is None:
            rt = self.c.runtime.pods.get(uid)
            if rt is not None:
                rec.rt, rec.sandbox = rt, self._epoch() + rt.started
                if attach:
                    self._backfill(rec, rt)
        if kind == "DELETED":
            rec.deleted = now
            rec.frozen = self._runs(rec, close=now)
            rec.rt = None
        else:
            rec.ksm.add(now, _pod_state(pod))

    def _on_deployment(self, kind: str, d: dict, attach: bool = False) -> None:
        meta = d["metadata"]
        uid = meta.get("uid", "")
        now = self._now()
        rec = self._deploys.get(uid)
        if rec is None:
            if kind == "DELETED":
                return
            rec = self._deploys[uid] = _DeployRec(uid=uid, namespace=meta.get("namespace", ""), name=meta["name"],
                                                  created=now)
        if kind == "DELETED":
            rec.deleted = now
        else:
            rec.ksm.add(now, _deploy_state(d))

    def _backfill(self, rec: _PodRec, rt: PodRuntime) -> None:
        """States of a pod that existed before this source did, reconstructed from its container runs (the exact
        ones come from the API from now on): restarts, running/waiting, CrashLoopBackOff between runs."""
        epoch = self._epoch()
        apps = [cs for cs in rt.containers.values() if not cs.init]
        points = sorted({rt.started, *(r.started for cs in apps for r in cs.runs),
                         *(r.finished for cs in apps for r in cs.runs if r.finished is not None)})
        for p in points:
            if p >= self.c.clock.now:
                break
            containers, began = [], []
            for cs in apps:
                started = [r for r in cs.runs if r.started <= p]
                cur = started[-1] if started else None
                done = [r for r in started if r.finished is not None and r.finished <= p]
                running = cur is not None and (cur.finished is None or cur.finished > p)
                waiting = terminated = ""
                if cur is None:
                    waiting = "ContainerCreating"
                elif not running and (len(started) < len(cs.runs) or cs.phase in ("backoff", "creating")):
                    waiting = "CrashLoopBackOff"
                elif not running:
                    terminated = cur.reason or "Completed"
                last = (done[-1].reason or "Completed") if done and (running or waiting) else ""
                ready = running and bool(cur and cur.behavior and cur.behavior.ready)
                containers.append((cs.name, max(len(started) - 1, 0), waiting, terminated, last, ready, running))
                began.append(bool(started))
            phase = "Running" if began and all(began) else "Pending"
            ready = "true" if containers and all(c[5] for c in containers) else "false"
            rec.ksm.add(epoch + p, (phase, ready, tuple(containers)))

    def _runs(self, rec: _PodRec, close: float | None = None) -> dict[str, list[_Run]]:
        """Each container's runs; ``close`` copies them, ending any still running then (a pod deleted at once)."""
        if rec.frozen is not None:
            return rec.frozen
        out: dict[str, list[_Run]] = {}
        rt = self.c.runtime.pods.get(rec.uid) or rec.rt  # the live one, should a restored state have replaced it
        if rt is None:
            return out
        epoch = self._epoch()
        for name, cs in rt.containers.items():
            runs = []
            for i, r in enumerate(cs.runs):
                b = r.behavior
                if b is None or b.start_error:
                    continue  # a process that never started has no cgroup to report
                cid = self.c.runtime.container_id(rec.uid, name, i).split("://", 1)[-1]
                stop = epoch + r.finished if r.finished is not None else close
                runs.append(_Run(i, cid, epoch + r.started, stop, b.cpu_cores, b.memory_bytes,
                                 None if close is not None else r, rec))
            out[name] = runs
        return out

    def _after_settle(self, cluster: SimCluster) -> None:
        now = self._now()
        if now - self._last_prune < PRUNE_EVERY:
            return
        self._last_prune = now
        cutoff = now - self.retention
        for uid in [u for u, r in self._pods.items() if r.deleted is not None and r.deleted < cutoff]:
            del self._pods[uid]
        for rec in self._pods.values():
            rec.ksm.trim(cutoff)
        for uid in [u for u, d in self._deploys.items() if d.deleted is not None and d.deleted < cutoff]:
            del self._deploys[uid]
        for d in self._deploys.values():
            d.ksm.trim(cutoff)
        # Counters are a cache: rebuilding one costs a pass over its pieces, so a full reset bounds memory cheaply.
        if len(self._counters) > 20_000:
            self._counters.clear()

    # ------------------------------------------------------------------------------------------ helpers
    def _sync_apps(self) -> None:
        apps = getattr(self.c, "apps", None)
        if apps is None:
            return
        epoch = self._epoch()
        for ns, run in apps.by_namespace.items():
            view = self._views.get(ns)
            if view is None or view.run is not run:
                view = self._views[ns] = _AppView(run)
            view.sync(epoch)

    def _component(self, rec: _PodRec) -> tuple[_AppView | None, str]:
        view = self._views.get(rec.namespace)
        if view is None:
            return None, ""
        model = view.run.model
        name = rec.labels.get(model.label_key, "")
        return (view, name) if name and model.has(name) else (None, "")

    def _counter(self, key: tuple, view: _AppView | None, comp: str, fn: Callable[[_CompState], float],
                 noise: tuple | None = None) -> _Counter:
        """The counter of ``fn`` over the component's history, cached under ``key`` until the history changes;
        its clock wobble is seeded by ``noise`` (default: the key)."""
        if view is not None:
            view.sync(self._epoch())
        version = view.version if view is not None else 0
        hit = self._counters.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        seed = _seed(self.c.config.seed, *(noise or key))
        if view is not None and view.states:
            ctr = _Counter(view.times, [fn(s.get(comp, _IDLE)) for s in view.states], seed)
        else:
            ctr = _Counter([0.0], [fn(_IDLE)], seed)
        self._counters[key] = (version, ctr)
        return ctr

    def _window(self, lo: float, hi: float, start: float, end: float | None) -> range:
        now = self._now()
        return _grid(max(lo, start), min(hi, now if end is None else end, now))

    def _node_labels(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for node in self.c.store.list("nodes"):
            labels = node["metadata"].get("labels") or {}
            out[node["metadata"]["name"]] = {_label_name(k): v for k, v in labels.items() if v}
        return out

    def _live(self, end: float | None) -> bool:
        return end is None or end >= self._now() - self.retention

    # ------------------------------------------------------------------------------------------ cAdvisor
    def _cadvisor(self, wanted: set[str]) -> list[MetricSeries]:
        out: list[MetricSeries] = []
        nodes = self._node_labels()
        epoch = self._epoch()
        seed = self.c.config.seed
        for rec in list(self._pods.values()):
            if rec.sandbox is None:
                continue
            view, comp = self._component(rec)
            runs = self._runs(rec)
            slice_ = self._pod_slice(rec)
            base = {"namespace": rec.namespace, "pod": rec.name, **nodes.get(rec.node, {}), **CADVISOR_TARGET}
            all_runs: list[tuple[str, _Run]] = []
            for cname, cruns in runs.items():
                spec = rec.specs.get(cname) or _Spec(image="")
                for run in cruns:
                    all_runs.append((cname, run))
                    if not self._live(run.end(epoch)):
                        continue
                    labels = {**base, "container": cname, "id": f"{slice_}/cri-containerd-{run.cid}.scope",
                              "image": spec.image, "name": run.cid}
                    out += self._container_series(wanted, labels, rec, cname, spec, run, view, comp, seed)
            pod_end = rec.deleted
            if not self._live(pod_end):
                continue
            labels = {**base, "id": slice_}
            pod_runs = tuple(all_runs)
            if "container_cpu_usage_seconds_total" in wanted:
                out.append(self._mk("container_cpu_usage_seconds_total", {**labels, "cpu": "total"},
                                    partial(self._pod_cpu, rec, pod_runs, view, comp)))
            for metric, scale in (("container_memory_working_set_bytes", 1.0), ("container_memory_usage_bytes", 1.18),
                                  ("container_memory_rss", 0.86)):
                if metric in wanted:
                    out.append(self._mk(metric, labels, partial(self._pod_memory, rec, pod_runs, view, comp, scale)))
            if "container_last_seen" in wanted:
                out.append(self._mk("container_last_seen", labels, partial(self._last_seen, rec.sandbox, pod_end)))
            if not rec.host_network and wanted & set(CADVISOR_NETWORK):
                out += self._network_series(wanted, {**labels, "interface": "eth0"}, rec, view, comp)
        return out

    @staticmethod
    def _pod_slice(rec: _PodRec) -> str:
        uid = rec.uid.replace("-", "_")
        if rec.qos == "Guaranteed":
            return f"/kubepods.slice/kubepods-pod{uid}.slice"
        q = rec.qos.lower()
        return f"/kubepods.slice/kubepods-{q}.slice/kubepods-{q}-pod{uid}.slice"

    def _mk(self, name: str, labels: dict[str, str], fn: SampleFn) -> MetricSeries:
        return MetricSeries(labels={"__name__": name, **{k: v for k, v in labels.items() if v}},
                            kind="counter" if name in COUNTERS else "gauge", samples=fn)

    def _container_series(self, wanted: set[str], labels: dict[str, str], rec: _PodRec, cname: str, spec: _Spec,
                          run: _Run, view: _AppView | None, comp: str, seed: int) -> Iterator[MetricSeries]:
        key = (rec.uid, cname, run.index)
        limit = spec.cpu_limit

        def demand(s: _CompState) -> float:
            return run.cpu * s.cpu

        def usage(s: _CompState) -> float:
            return min(demand(s), limit) if limit else demand(s)

        def throttled(s: _CompState) -> float:
            # CFS throttles once demand passes ~80 % of the quota (bursts within a period hit it first).
            return max(0.0, demand(s) - 0.8 * limit)

        def periods(s: _CompState) -> float:
            return 10.0  # one CFS period per 100 ms while the process runs

        def throttled_periods(s: _CompState) -> float:
            return 10.0 * min(1.0, throttled(s) / (0.2 * limit))

        counters: list[tuple[str, Callable[[_CompState], float], dict[str, str]]] = [
            ("container_cpu_usage_seconds_total", usage, {"cpu": "total"})]
        if limit:
            counters += [("container_cpu_cfs_periods_total", periods, {}),
                         ("container_cpu_cfs_throttled_periods_total", throttled_periods, {}),
                         ("container_cpu_cfs_throttled_seconds_total", throttled, {})]
        for metric, fn, extra in counters:
            if metric in wanted:
                yield self._mk(metric, {**labels, **extra},
                               partial(self._run_counter, (*key, metric), view, comp, fn, run, False))
        for metric, scale in (("container_memory_working_set_bytes", 1.0), ("container_memory_usage_bytes", 1.18),
                              ("container_memory_rss", 0.86)):
            if metric in wanted:
                yield self._mk(metric, labels, partial(self._run_memory, rec, cname, spec, run, view, comp, scale))
        if "container_threads" in wanted:
            threads = _threads(spec.image, _seed(seed, *key, "threads"))
            yield self._mk("container_threads", labels, partial(self._run_const, run, threads))
        if "container_spec_memory_limit_bytes" in wanted:
            yield self._mk("container_spec_memory_limit_bytes", labels,
                           partial(self._run_const, run, float(spec.mem_limit)))
        if "container_last_seen" in wanted:
            yield self._mk("container_last_seen", labels, partial(self._run_last_seen, run))

    # Sample functions: each takes the cluster lock, as the HTTP layer calls them from other threads.
    def _run_counter(self, key: tuple, view: _AppView | None, comp: str, fn: Callable[[_CompState], float],
                     run: _Run, floor: bool, lo: float, hi: float) -> list[Sample]:
        with self.c.lock:
            ks = self._window(lo, hi, run.start, run.end(self._epoch()))
            if not ks:
                return []
            ctr = self._counter(key, view, comp, fn)
            zero = ctr.at(run.start)
            if floor:  # packet counts are whole
                return [(k * S, float(math.floor(ctr.at(k * S) - zero + 1e-9))) for k in ks]
            return [(k * S, ctr.at(k * S) - zero) for k in ks]

    def _memory_at(self, rec: _PodRec, cname: str, spec: _Spec, run: _Run, view: _AppView | None, comp: str,
                   t: float, k: int) -> float:
        mult = view.state_at(comp, t).mem if view is not None else 1.0
        ramp = 0.55 + 0.45 * min(1.0, (t - run.start) / 90.0)  # heaps and caches fill during the first minutes
        wobble = 1.0 + 0.03 * (2 * _noise(_seed(self.c.config.seed, rec.uid, cname, run.index, "mem"), k) - 1)
        ws = run.mem * mult * ramp * wobble
        return min(ws, 0.995 * spec.mem_limit) if spec.mem_limit else ws

    def _run_memory(self, rec: _PodRec, cname: str, spec: _Spec, run: _Run, view: _AppView | None, comp: str,
                    scale: float, lo: float, hi: float) -> list[Sample]:
        with self.c.lock:
            ks = self._window(lo, hi, run.start, run.end(self._epoch()))
            return [(k * S, float(int(scale * self._memory_at(rec, cname, spec, run, view, comp, k * S, k))))
                    for k in ks]

    def _run_const(self, run: _Run, value: float, lo: float, hi: float) -> list[Sample]:
        with self.c.lock:
            return [(k * S, value) for k in self._window(lo, hi, run.start, run.end(self._epoch()))]

    def _run_last_seen(self, run: _Run, lo: float, hi: float) -> list[Sample]:
        with self.c.lock:
            return [(k * S, k * S) for k in self._window(lo, hi, run.start, run.end(self._epoch()))]

    def _last_seen(self, start: float, end: float | None, lo: float, hi: float) -> list[Sample]:
        with self.c.lock:
            return [(k * S, k * S) for k in self._window(lo, hi, start, end)]

    def _pod_cpu(self, rec: _PodRec, runs: tuple[tuple[str, _Run], ...], view: _AppView | None, comp: str,
                 lo: float, hi: float) -> list[Sample]:
        """The pod cgroup's CPU: the sum over every run so far (it outlives container restarts)."""
        with self.c.lock:
            assert rec.sandbox is not None
            ks = self._window(lo, hi, rec.sandbox, rec.deleted)
            if not ks:
                return []
            epoch = self._epoch()
            parts = []
            for cname, run in runs:
                spec = rec.specs.get(cname) or _Spec(image="")
                limit = spec.cpu_limit

                def usage(s: _CompState, run: _Run = run, limit: float = limit) -> float:
                    d = run.cpu * s.cpu
                    return min(d, limit) if limit else d

                ctr = self._counter((rec.uid, cname, run.index, "container_cpu_usage_seconds_total"), view, comp, usage)
                parts.append((run.start, run.end(epoch), ctr, ctr.at(run.start)))
            out = []
            for k in ks:
                t = k * S
                total = PAUSE_CORES * (t - rec.sandbox)
                for start, end, ctr, zero in parts:
                    if start <= t:
                        total += ctr.at(t if end is None or t < end else end) - zero
                out.append((t, total))
            return out

    def _pod_memory(self, rec: _PodRec, runs: tuple[tuple[str, _Run], ...], view: _AppView | None, comp: str,
                    scale: float, lo: float, hi: float) -> list[Sample]:
        with self.c.lock:
            assert rec.sandbox is not None
            ks = self._window(lo, hi, rec.sandbox, rec.deleted)
            epoch = self._epoch()
            spans = [(cname, run, run.end(epoch)) for cname, run in runs]
            out = []
            for k in ks:
                t = k * S
                total = float(PAUSE_BYTES)
                for cname, run, end in spans:
                    if run.start <= t and (end is None or t <= end):
                        spec = rec.specs.get(cname) or _Spec(image="")
                        total += self._memory_at(rec, cname, spec, run, view, comp, t, k)
                out.append((t, float(int(scale * total))))
            return out

    def _network_series(self, wanted: set[str], labels: dict[str, str], rec: _PodRec, view: _AppView | None,
                        comp: str) -> Iterator[MetricSeries]:
        scale = 0.5 + 1.5 * _noise(_seed(self.c.config.seed, rec.uid, "net"), 0)  # system pods: some chatter

        def per_pod(s: _CompState, x: float) -> float:
            return x / max(s.serving, 1)

        def rx(s: _CompState) -> float:
            if view is None:
                return IDLE_RX_BYTES * scale
            return IDLE_RX_BYTES + per_pod(s, s.rate * REQUEST_BYTES + s.out_rate * RESPONSE_BYTES)

        def tx(s: _CompState) -> float:
            if view is None:
                return IDLE_TX_BYTES * scale
            return IDLE_TX_BYTES + per_pod(s, s.rate * RESPONSE_BYTES + s.out_rate * CALL_BYTES)

        def dropped(s: _CompState) -> float:
            return per_pod(s, s.dropped) if view is not None else 0.0

        fns: dict[str, Callable[[_CompState], float]] = {
            "container_network_receive_bytes_total": rx,
            "container_network_transmit_bytes_total": tx,
            "container_network_receive_packets_total": lambda s: rx(s) / RX_PACKET_BYTES,
            "container_network_transmit_packets_total": lambda s: tx(s) / TX_PACKET_BYTES,
            "container_network_receive_errors_total": lambda s: 0.0,
            "container_network_transmit_errors_total": lambda s: 0.0,
            "container_network_receive_packets_dropped_total": dropped,
            "container_network_transmit_packets_dropped_total": lambda s: 0.0,
        }
        assert rec.sandbox is not None
        sandbox = _Run(-1, "", rec.sandbox, None, 0.0, 0, None, rec)
        counts = ("packets", "errors", "dropped")
        for metric, fn in fns.items():
            if metric in wanted:
                yield self._mk(metric, labels, partial(self._run_counter, (rec.uid, "", -1, metric), view, comp, fn,
                                                       sandbox, any(c in metric for c in counts)))

    # ------------------------------------------------------------------------------------ kube-state-metrics
    def _ksm(self, wanted: set[str]) -> list[MetricSeries]:
        out: list[MetricSeries] = []
        for rec in list(self._pods.values()):
            if not self._live(rec.deleted) or not rec.ksm.times:
                continue
            out += self._ksm_pod(wanted, rec)
        for d in list(self._deploys.values()):
            if not self._live(d.deleted) or not d.ksm.times:
                continue
            base = {"namespace": d.namespace, "deployment": d.name, **KSM_TARGET}
            for i, metric in enumerate(KSM_DEPLOYMENT):
                if metric in wanted:
                    out.append(self._mk(metric, base, partial(self._ksm_samples, d.ksm, d.created, d.deleted,
                                                              lambda st, i=i: float(st[i]))))
        return out

    def _ksm_pod(self, wanted: set[str], rec: _PodRec) -> Iterator[MetricSeries]:
        base = {"namespace": rec.namespace, "pod": rec.name, "uid": rec.uid, **KSM_TARGET}

        def mk(metric: str, extra: dict[str, str], fn: Callable[[tuple], float | None]) -> MetricSeries:
            return self._mk(metric, {**base, **extra},
                            partial(self._ksm_samples, rec.ksm, rec.created, rec.deleted, fn))

        if "kube_pod_info" in wanted:
            yield mk("kube_pod_info", {"host_ip": rec.host_ip, "pod_ip": rec.ip, "node": rec.node,
                                       "created_by_kind": rec.owner[0], "created_by_name": rec.owner[1],
                                       "priority_class": rec.priority_class,
                                       "host_network": "true" if rec.host_network else "false"}, lambda st: 1.0)
        if "kube_pod_status_phase" in wanted:
            for phase in POD_PHASES:
                yield mk("kube_pod_status_phase", {"phase": phase}, lambda st, p=phase: float(st[0] == p))
        if "kube_pod_status_ready" in wanted:
            for cond in READY_CONDITIONS:
                yield mk("kube_pod_status_ready", {"condition": cond},
                         lambda st, c=cond: None if st[1] is None else float(st[1] == c))
        names = list(dict.fromkeys(c[0] for st in rec.ksm.values for c in st[2]))
        for cname in names:
            def field_of(st: tuple, cname: str = cname) -> tuple | None:
                return next((c for c in st[2] if c[0] == cname), None)

            per: list[tuple[str, Callable[[tuple], float | None]]] = [
                ("kube_pod_container_status_restarts_total",
                 lambda st, f=field_of: None if (c := f(st)) is None else float(c[1])),
                ("kube_pod_container_status_waiting", lambda st, f=field_of: None if (c := f(st)) is None
                 else float(bool(c[2]))),
                ("kube_pod_container_status_running", lambda st, f=field_of: None if (c := f(st)) is None
                 else float(c[6])),
                ("kube_pod_container_status_ready", lambda st, f=field_of: None if (c := f(st)) is None
                 else float(c[5])),
            ]
            for metric, fn in per:
                if metric in wanted:
                    yield mk(metric, {"container": cname}, fn)
            # KSM 2.x emits a reason series only while that reason holds (value 1), none otherwise.
            for metric, idx in (("kube_pod_container_status_waiting_reason", 2),
                                ("kube_pod_container_status_terminated_reason", 3),
                                ("kube_pod_container_status_last_terminated_reason", 4)):
                if metric not in wanted:
                    continue
                reasons = dict.fromkeys(c[idx] for st in rec.ksm.values for c in st[2] if c[0] == cname and c[idx])
                for reason in reasons:
                    yield mk(metric, {"container": cname, "reason": reason},
                             lambda st, f=field_of, i=idx, r=reason: 1.0 if (c := f(st)) is not None and c[i] == r
                             else None)
            spec = rec.specs.get(cname)
            if spec is None:
                continue
            for metric, cpu, mem in (("kube_pod_container_resource_requests", spec.cpu_request, spec.mem_request),
                                     ("kube_pod_container_resource_limits", spec.cpu_limit, spec.mem_limit)):
                if metric not in wanted:
                    continue
                if cpu:
                    yield mk(metric, {"container": cname, "node": rec.node, "resource": "cpu", "unit": "core"},
                             lambda st, v=cpu: v)
                if mem:
                    yield mk(metric, {"container": cname, "node": rec.node, "resource": "memory", "unit": "byte"},
                             lambda st, v=float(mem): v)

    def _ksm_samples(self, changes: _Changes, start: float, end: float | None, fn: Callable[[Any], float | None],
                     lo: float, hi: float) -> list[Sample]:
        with self.c.lock:
            ks = self._window(lo, hi, start, end)
            if not ks:
                return []
            times, values = changes.times, changes.values
            i = bisect.bisect_right(times, ks[0] * S) - 1
            out: list[Sample] = []
            for k in ks:
                t = k * S
                while i + 1 < len(times) and times[i + 1] <= t:
                    i += 1
                if i < 0:
                    continue
                v = fn(values[i])
                if v is not None:
                    out.append((t, v))
            return out

    # ------------------------------------------------------------------------------------------ spanmetrics
    def _spans(self, wanted: set[str]) -> list[MetricSeries]:
        out: list[MetricSeries] = []
        for ns, view in self._views.items():
            if not view.states:
                continue
            for comp in view.run.model.components:
                ops = list(dict.fromkeys(op for st in view.states for op in st.get(comp.name, _IDLE).ops))
                for op in ops:
                    for status in (UNSET, ERROR):
                        out += self._span_group(wanted, ns, view, comp.name, op, status)
        return out

    def _span_group(self, wanted: set[str], ns: str, view: _AppView, comp: str, op: str,
                    status: str) -> Iterator[MetricSeries]:
        def calls(s: _CompState) -> float:
            r, e, _ = s.ops.get(op, (0.0, 0.0, 0.0))
            return max(r - e, 0.0) if status == UNSET else e

        first = next((i for i, st in enumerate(view.states) if calls(st.get(comp, _IDLE)) > 0), None)
        if first is None:
            return  # the collector creates a series with its first span
        start = view.times[first]
        key = ("span", ns, comp, op, status)
        labels = {"namespace": ns, "service_name": comp, "span_name": op, "span_kind": "SPAN_KIND_SERVER",
                  "status_code": status, **SPAN_TARGET}

        def series(metric: str, fn: Callable[[_CompState], float], floor: bool,
                   extra: dict[str, str] | None = None) -> MetricSeries:
            # One noise key for the whole group keeps buckets ordered and calls == count == +Inf bucket.
            cache = (*key, metric.rsplit("_", 1)[-1], (extra or {}).get("le", ""))
            return self._mk(metric, {**labels, **(extra or {})},
                            partial(self._span_counter, cache, key, view, comp, fn, start, floor))

        if "traces_span_metrics_calls_total" in wanted:
            yield series("traces_span_metrics_calls_total", calls, True)
        if "traces_span_metrics_duration_milliseconds_count" in wanted:
            yield series("traces_span_metrics_duration_milliseconds_count", calls, True)
        if "traces_span_metrics_duration_milliseconds_sum" in wanted:
            yield series("traces_span_metrics_duration_milliseconds_sum",
                         lambda s: calls(s) * s.ops.get(op, (0.0, 0.0, 0.0))[2], False)
        if "traces_span_metrics_duration_milliseconds_bucket" in wanted:
            for le in SPAN_BUCKETS_MS:
                yield series("traces_span_metrics_duration_milliseconds_bucket",
                             lambda s, le=le: calls(s) * _lognormal_cdf(le, s.ops.get(op, (0.0, 0.0, 1.0))[2]),
                             True, {"le": str(le)})
            yield series("traces_span_metrics_duration_milliseconds_bucket", calls, True, {"le": "+Inf"})

    def _span_counter(self, cache: tuple, noise: tuple, view: _AppView, comp: str, fn: Callable[[_CompState], float],
                      start: float, floor: bool, lo: float, hi: float) -> list[Sample]:
        with self.c.lock:
            ks = self._window(lo, hi, start, None)
            if not ks:
                return []
            ctr = self._counter(cache, view, comp, fn, noise)
            zero = ctr.at(start)
            if floor:  # span counts are whole; flooring a monotonic function keeps it monotonic
                return [(k * S, float(math.floor(ctr.at(k * S) - zero + 1e-9))) for k in ks]
            return [(k * S, ctr.at(k * S) - zero) for k in ks]


def _lognormal_cdf(le: float, mean_ms: float) -> float:
    if mean_ms <= 0:
        return 1.0
    mu = math.log(mean_ms) - LATENCY_SIGMA**2 / 2  # so that the distribution's mean is the operation's mean
    return 0.5 * math.erfc(-(math.log(le) - mu) / (LATENCY_SIGMA * math.sqrt(2)))

