"""How requests fare, computed from the cluster's state: the physics that turns a fault into symptoms.

After every settle the simulator looks at each application the way its clients would: does the Service
exist, does it have ready endpoints, does the pod behind each endpoint listen on the targeted port and run
the right program, can the caller authenticate to its database, is Chaos Mesh dropping or delaying packets,
which feature flags did flagd load. The result is a ``Snapshot`` (per component and per call edge: failure
probability, the error the caller sees, added latency, resource factors). Snapshots are kept as a history
of changes, so logs, metrics and traces for any past instant are computed from the snapshot in force then.
Nothing here knows which fault was injected: symptoms come only from state.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cluster.sim.apps.model import AppModel, Call, Component
from cluster.sim.runtime.images import normalize

if TYPE_CHECKING:
    from cluster.sim.apps.runtime import AppRuntime
    from cluster.sim.cluster import SimCluster

TIMEOUT_MS = 1000.0  # what a caller waits before a dropped call is reported as a timeout
PAUSE_IMAGE = "gcr.io/google-containers/pause:latest"
DATASTORES = ("mongodb", "memcached", "redis", "queue", "flags", "cache")


@dataclass(frozen=True)
class EdgeHealth:
    fail: float = 0.0
    error: str = ""  # refused | nohost | timeout | auth | unregistered | tls | unavailable | flag
    message: str = ""
    latency_ms: float = 0.0


OK_EDGE = EdgeHealth()


@dataclass(frozen=True)
class ComponentHealth:
    pods: int = 0
    serving: int = 0
    fail: float = 0.0  # a request the component receives fails on its own (flags, code defects)
    fail_ops: tuple[tuple[str, float, str], ...] = ()  # (operation substring, failure probability, message)
    message: str = ""
    latency_ms: float = 0.0
    cpu_factor: float = 1.0
    mem_factor: float = 1.0
    rate_factor: float = 1.0  # traffic multiplier (a flood)


@dataclass(frozen=True)
class Snapshot:
    t: float
    components: dict[str, ComponentHealth] = field(default_factory=dict)
    edges: dict[tuple[str, str], EdgeHealth] = field(default_factory=dict)

    def edge(self, caller: str, callee: str) -> EdgeHealth:
        return self.edges.get((caller, callee), OK_EDGE)

    def component(self, name: str) -> ComponentHealth:
        return self.components.get(name, ComponentHealth())

    def same(self, other: Snapshot) -> bool:
        return self.components == other.components and self.edges == other.edges


class History:
    """Snapshots in time order, one per change."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.snaps: list[Snapshot] = []

    def add(self, snap: Snapshot) -> bool:
        if self.snaps and self.snaps[-1].same(snap):
            return False
        if self.times and snap.t <= self.times[-1]:
            self.times[-1], self.snaps[-1] = snap.t, snap
            return True
        self.times.append(snap.t)
        self.snaps.append(snap)
        return True

    def at(self, t: float) -> Snapshot | None:
        i = bisect.bisect_right(self.times, t) - 1
        return self.snaps[i] if i >= 0 else None

    def changes(self, start: float, end: float) -> list[Snapshot]:
        """The snapshot in force at ``start`` and every one that took over before ``end``."""
        i = max(bisect.bisect_right(self.times, start) - 1, 0)
        j = bisect.bisect_right(self.times, end)
        return self.snaps[i:j]


# ------------------------------------------------------------------------------------------------ pods
def component_pods(c: SimCluster, app: AppModel, comp: Component) -> list[dict]:
    return [
        p
        for p in c.store.list("pods", app.namespace)
        if (p["metadata"].get("labels") or {}).get(app.label_key) == comp.name
        and not p["metadata"].get("deletionTimestamp")
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]


def program_of(app: AppModel, comp: Component, pod: dict) -> Component | None:
    """Which component's code a pod runs: by binary for multi-binary images, by image otherwise."""
    ctr = next(
        (x for x in pod["spec"].get("containers") or [] if x["name"] == comp.container),
        (pod["spec"].get("containers") or [None])[0],
    )
    if ctr is None:
        return None
    repo = normalize(ctr.get("image", ""))[0]
    if repo != normalize(comp.image)[0]:
        return None
    if comp.command:
        binary = (ctr.get("command") or ctr.get("args") or [""])[0]
        for other in app.components:
            if other.command and other.command[0] == binary and normalize(other.image)[0] == repo:
                return other
        return None
    return comp


def running(c: SimCluster, pod: dict) -> bool:
    rt = c.runtime.pods.get(pod["metadata"]["uid"])
    if rt is None or (pod.get("status") or {}).get("phase") != "Running":
        return False
    return all(cs.phase == "running" for cs in rt.containers.values() if not cs.init)


# ------------------------------------------------------------------------------------------------ snapshot
def compute(c: SimCluster, run: AppRuntime) -> Snapshot:
    app, state, now = run.model, run.state, c.clock.now
    ns = app.namespace
    comps: dict[str, ComponentHealth] = {}
    serving_ips: dict[str, dict[str, tuple[int, ...]]] = {}  # component -> {pod ip: listening ports}
    pods_by_ip: dict[str, dict] = {}
    for comp in app.components:
        pods = component_pods(c, app, comp)
        listening: dict[str, tuple[int, ...]] = {}
        for pod in pods:
            ip = (pod.get("status") or {}).get("podIP")
            if not ip:
                continue
            pods_by_ip[ip] = pod
            prog = program_of(app, comp, pod)
            if prog is not None and running(c, pod):
                listening[ip] = prog.container_ports
        serving_ips[comp.name] = listening
        comps[comp.name] = ComponentHealth(pods=len(pods), serving=len(listening))
    flags = state.flags.get(ns, {})
    for name, effect in _flag_effects(app, flags).items():
        comps[name] = _merge(comps.get(name, ComponentHealth()), effect)
    edges: dict[tuple[str, str], EdgeHealth] = {}
    for comp in app.components:
        for callee in (*comp.calls, *comp.stores):
            if not app.has(callee):
                continue
            e = _edge(c, run, comp, app.component(callee), serving_ips[callee], pods_by_ip, now)
            if e != OK_EDGE:
                edges[(comp.name, callee)] = e
    for (caller, callee), e in _flag_edges(app, flags).items():
        edges[(caller, callee)] = e
    return Snapshot(t=now, components=comps, edges=edges)


def _merge(h: ComponentHealth, e: ComponentHealth) -> ComponentHealth:
    from dataclasses import replace

    return replace(
        h,
        fail=e.fail,
        fail_ops=e.fail_ops,
        message=e.message,
        latency_ms=e.latency_ms,
        cpu_factor=e.cpu_factor,
        mem_factor=e.mem_factor,
        rate_factor=e.rate_factor,
    )


def _edge(
    c: SimCluster,
    run: AppRuntime,
    caller: Component,
    callee: Component,
    listening: dict[str, tuple[int, ...]],
    pods_by_ip: dict[str, dict],
    now: float,
) -> EdgeHealth:
    app = run.model
    svc = c.store.get("services", app.namespace, callee.name)
    lang = caller.language
    if svc is None or not callee.service:
        if not callee.service:
            return OK_EDGE  # reached another way (a queue consumer): judged by the callee's own health
        return EdgeHealth(1.0, "nohost", _msg(lang, "nohost", callee, "", 0))
    port = callee.ports[0].port if callee.ports else 0
    ip = (svc.get("spec") or {}).get("clusterIP", "")
    ep = c.store.get("endpoints", app.namespace, callee.name) or {}
    targets: list[tuple[str, int]] = []
    for subset in ep.get("subsets") or []:
        ports = [
            p["port"]
            for p in subset.get("ports") or []
            if p.get("name", "") == (callee.ports[0].name or p.get("name", ""))
        ] or [p["port"] for p in subset.get("ports") or []][:1]
        for addr in subset.get("addresses") or []:
            for p in ports[:1]:
                targets.append((addr["ip"], p))
    if not targets:
        return EdgeHealth(1.0, "refused", _msg(lang, "refused", callee, ip, port))
    good = [(a, p) for a, p in targets if p in listening.get(a, ())]
    if not good:
        return EdgeHealth(1.0, "refused", _msg(lang, "refused", callee, ip, port))
    fail = 1.0 - len(good) / len(targets)
    latency = 0.0
    loss_part = 0.0
    for a, _ in good:
        pod = pods_by_ip.get(a)
        if pod is None:
            continue
        for eff in run.state.chaos_on(pod["metadata"]["uid"], now):
            if eff.kind == "network-loss":
                loss_part += eff.loss / len(good)
            elif eff.kind == "network-delay":
                latency += eff.delay_ms / len(good)
    if loss_part:
        fail = min(1.0, fail + (1 - fail) * loss_part)
        return EdgeHealth(fail, "timeout", _msg(lang, "timeout", callee, ip, port), latency + TIMEOUT_MS * loss_part)
    if callee.role == "mongodb":
        db = _mongo_problem(c, run, caller, callee, good, pods_by_ip)
        if db is not None:
            return db
    if fail:
        return EdgeHealth(fail, "refused", _msg(lang, "refused", callee, ip, port), latency)
    return EdgeHealth(0.0, "", "", latency) if latency else OK_EDGE


def _mongo_problem(
    c: SimCluster,
    run: AppRuntime,
    caller: Component,
    mongo: Component,
    good: list[tuple[str, int]],
    pods_by_ip: dict[str, dict],
) -> EdgeHealth | None:
    pod = pods_by_ip.get(good[0][0])
    if pod is None:
        return None
    tls = run.state.mongo_tls.get((run.model.namespace, mongo.name), "disabled")
    if tls == "requireTLS":
        return EdgeHealth(1.0, "tls", _msg(caller.language, "tls", mongo, "", 27017))
    if "--auth" not in _args(pod, mongo):
        return None
    data = run.state.mongo.get(run.data_key(mongo, pod))
    if data is None or not data.initialized:
        return None
    if "admin" not in data.users:
        return EdgeHealth(1.0, "unregistered", _msg(caller.language, "unregistered", mongo, "", 27017))
    if mongo.database and not data.has_role("admin", "readWrite", mongo.database):
        return EdgeHealth(1.0, "auth", _msg(caller.language, "auth", mongo, "", 27017))
    return None


def _args(pod: dict, comp: Component) -> list[str]:
    for ctr in pod["spec"].get("containers") or []:
        if ctr["name"] == comp.container:
            return [*(ctr.get("command") or []), *(ctr.get("args") or [])]
    return []


def _msg(lang: str, kind: str, callee: Component, ip: str, port: int) -> str:
    """The error text a caller of this language logs for a failed call."""
    host = callee.name
    db = callee.database or ""
    if kind == "auth":
        return (
            f'not authorized on {db} to execute command {{ find: "{db.removesuffix("-db")}", '
            f'filter: {{}}, $db: "{db}" }}'
        )
    if kind == "unregistered":
        return "server returned error on SASL authentication step: Authentication failed."
    if kind == "tls":
        if lang == "c++":
            return (
                f"No suitable servers found (`serverSelectionTryOnce` set): [connection closed calling hello on "
                f"'{host}:27017']"
            )
        return "connection() error occurred during connection handshake: connection reset by peer"
    if lang == "go":
        if kind == "nohost":
            return (
                f'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while '
                f'dialing: dial tcp: lookup {host} on 10.96.0.10:53: no such host"'
            )
        if kind == "timeout":
            return "rpc error: code = DeadlineExceeded desc = context deadline exceeded"
        if callee.role in ("mongodb",):
            return f"no reachable servers ({host}:{port})"
        if callee.role in ("memcached",):
            return f"dial tcp {ip}:{port}: connect: connection refused"
        return (
            f'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: '
            f'dial tcp {ip}:{port}: connect: connection refused"'
        )
    if lang in ("c++", "lua"):
        if kind == "timeout":
            return f"TSocket::read() THRIFT_EAGAIN (timed out) <Host: {host} Port: {port}>"
        if kind == "nohost":
            return f"TSocket::open() getaddrinfo() <Host: {host} Port: {port}>: Name or service not known"
        return f"TSocket::open() connect() <Host: {host} Port: {port}>: Connection refused"
    if kind == "timeout":
        return f"14 UNAVAILABLE: deadline exceeded calling {host}:{port}"
    if kind == "nohost":
        return f"14 UNAVAILABLE: Name resolution failed for target dns:{host}:{port}"
    return f"14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED {ip}:{port}"


# ---------------------------------------------------------------------------------------- feature flags
def _flag_on(flags: dict[str, object], name: str) -> object:
    value = flags.get(name)
    return value if value not in (None, False, 0, "off") else None


def _flag_effects(app: AppModel, flags: dict[str, object]) -> dict[str, ComponentHealth]:
    out: dict[str, ComponentHealth] = {}
    if not flags:
        return out
    if _flag_on(flags, "adFailure"):
        out["ad"] = ComponentHealth(
            fail_ops=(
                ("GetAds", 0.1, "GetAds Failed with status Status{code=UNAVAILABLE, description=null, cause=null}"),
            )
        )
    if _flag_on(flags, "adHighCpu"):
        out["ad"] = ComponentHealth(cpu_factor=40.0, latency_ms=180.0)
    if _flag_on(flags, "adManualGc"):
        out["ad"] = ComponentHealth(latency_ms=600.0, mem_factor=1.8, cpu_factor=8.0)
    if _flag_on(flags, "cartFailure"):
        out["cart"] = ComponentHealth(
            fail_ops=(
                (
                    "EmptyCart",
                    1.0,
                    "Can't access cart storage. System.ApplicationException: Wasn't able to connect to redis",
                ),
            )
        )
    slow = _flag_on(flags, "imageSlowLoad")
    if slow:
        out["image-provider"] = ComponentHealth(latency_ms=float(slow) if isinstance(slow, (int, float)) else 10000.0)
    if _flag_on(flags, "kafkaQueueProblems"):
        out["kafka"] = ComponentHealth(latency_ms=2500.0, cpu_factor=6.0, mem_factor=1.6)
        out["accounting"] = ComponentHealth(latency_ms=1500.0)
        out["fraud-detection"] = ComponentHealth(latency_ms=1500.0)
    if _flag_on(flags, "loadGeneratorFloodHomepage"):
        out["frontend"] = ComponentHealth(cpu_factor=12.0, latency_ms=120.0, rate_factor=20.0)
    pf = _flag_on(flags, "paymentFailure")
    if pf:
        out["payment"] = ComponentHealth(
            fail_ops=(
                (
                    "Charge",
                    float(pf) if isinstance(pf, (int, float)) else 1.0,
                    "Payment request failed. Invalid token. app.loyalty.level=gold",
                ),
            )
        )
    if _flag_on(flags, "productCatalogFailure"):
        out["product-catalog"] = ComponentHealth(
            fail_ops=(("GetProduct", 0.1, "Error: Product Catalog Fail Feature Flag Enabled"),)
        )
    if _flag_on(flags, "recommendationCacheFailure"):
        out["recommendation"] = ComponentHealth(mem_factor=4.0, latency_ms=350.0, cpu_factor=3.0)
    return out


def _flag_edges(app: AppModel, flags: dict[str, object]) -> dict[tuple[str, str], EdgeHealth]:
    if flags and _flag_on(flags, "paymentUnreachable") and app.has("checkout"):
        return {
            ("checkout", "payment"): EdgeHealth(
                1.0,
                "nohost",
                "failed to charge card: could not charge the card: rpc error: code = Unavailable desc = "
                'connection error: desc = "transport: Error while dialing: dial tcp: lookup badAddress on '
                '10.96.0.10:53: no such host"',
            )
        }
    return {}


# ---------------------------------------------------------------------------------------------- traffic
@dataclass
class Traffic:
    """Expected per-second traffic at one component under one snapshot."""

    rate: float = 0.0  # requests received per second
    errors: float = 0.0  # of which fail, per second
    latency_ms: float = 0.0  # mean latency of what it serves
    by_op: dict[str, list[float]] = field(default_factory=dict)  # op -> [rate, errors, latency]
    # errors it saw calling others: (callee, message) -> per second
    call_errors: dict[tuple[str, str], float] = field(default_factory=dict)


def op_fail(h: ComponentHealth, op: str) -> tuple[float, str]:
    for sub, p, msg in h.fail_ops:
        if sub in op:
            return p, msg
    return h.fail, h.message


def traffic(app: AppModel, snap: Snapshot) -> dict[str, Traffic]:
    out: dict[str, Traffic] = {c.name: Traffic() for c in app.components}
    total = sum(r.weight for r in app.requests) or 1.0
    entry_factor = (
        snap.component(app.entry).rate_factor * snap.component("frontend").rate_factor
        if app.has("frontend") and app.entry != "frontend"
        else snap.component(app.entry).rate_factor
    )
    for req in app.requests:
        rate = app.request_rate * entry_factor * req.weight / total
        _walk(app, snap, req.root, rate, out)
    for t in out.values():
        if t.rate:
            t.latency_ms = sum(v[0] * v[2] for v in t.by_op.values()) / t.rate
    return out


def _walk(app: AppModel, snap: Snapshot, node: Call, rate: float, out: dict[str, Traffic]) -> tuple[float, float]:
    """Deliver ``rate`` calls to ``node``; returns (failure probability, latency ms) seen by its caller."""
    comp = app.component(node.service) if app.has(node.service) else None
    h = snap.component(node.service)
    own_fail, _ = op_fail(h, node.operation)
    if comp is not None and comp.role not in DATASTORES and h.serving == 0 and h.pods == 0:
        own_fail = 1.0
    ok = 1.0 - own_fail
    latency = (comp.base_latency_ms if comp else 1.0) + h.latency_ms
    t = out.setdefault(node.service, Traffic())
    for child in node.children:
        e = snap.edge(node.service, child.service)
        delivered = rate * (1 - e.fail)
        child_fail, child_lat = _walk(app, snap, child, delivered, out) if delivered > 0 else (0.0, 0.0)
        total_fail = e.fail + (1 - e.fail) * child_fail
        if e.fail:
            t.call_errors[(child.service, e.message)] = t.call_errors.get((child.service, e.message), 0) + rate * e.fail
        latency += child_lat * (1 - e.fail) + e.latency_ms
        ok *= 1 - total_fail
    fail = 1 - ok
    t.rate += rate
    t.errors += rate * fail
    op = t.by_op.setdefault(node.operation, [0.0, 0.0, 0.0])
    op[2] = (op[2] * op[0] + latency * rate) / (op[0] + rate) if op[0] + rate else latency
    op[0] += rate
    op[1] += rate * fail
    return fail, latency
