"""Traces of one simulated application, generated on demand from its model, health history, clock and seed.

``AppTraces(cluster, namespace)`` is a ``TraceSource``. Nothing is stored: request ``k`` of an application is a
pure function of (cluster seed, namespace, k) and the health snapshot in force at its time.

* **Arrivals.** Requests reach the app's entry at ``model.request_rate`` per second times the entry's
  ``rate_factor`` (as ``health.traffic`` computes it), from ``deployed_at``. The expected count N(t) is piecewise
  linear over the history's snapshots; request k happens at N⁻¹(k + u_k) with u_k a seeded uniform in [0, 1),
  so times are increasing in k and a snapshot that floods the entry packs requests closer. Its type is drawn by
  weight. A request that arrives while the entry serves nothing leaves no trace (nobody received it).
* **Trace ids** encode k: a keyed, invertible 64-bit mix of (app tag, k), so ``get_trace`` recovers k without an
  index. jaeger-client (hotel, social) ids are 64-bit (16 hex); OpenTelemetry's (astronomy) are 128-bit, the high
  half a keyed hash of the low half.
* **Call tree.** Each request walks ``RequestType.root`` under its snapshot: an instrumented service (a role not
  in ``DATASTORES``) gets a SERVER span; its call to another instrumented service gets a CLIENT span around the
  callee's SERVER span; a datastore call is one CLIENT span of the caller (PRODUCER for a queue) with the tags the
  real instrumentation sets. Children run one after another inside the parent; the first failure ends the parent
  (as the Go/C++ handlers return on error), is not descended into, and propagates up to the root.
  A call fails with the edge's ``fail`` probability (its message is the edge's), then with the callee's
  ``op_fail``. Kafka consumers (astronomy) follow a successful publish with a CONSUMER span that starts after
  the producer finished: the one place where a child is not nested inside its parent, as in the real demo.
* **Durations.** A span's own time is the component's ``base_latency_ms`` plus the snapshot's ``latency_ms``
  with mean-preserving log-normal jitter; calls add a small network overhead and the edge's added latency; a
  dropped call waits ``TIMEOUT_MS``; a refused one returns at once.
* **Tags** follow each app's instrumentation. hotel (Go, jaeger-client-go + grpc-opentracing): ``component``,
  ``response_code``/``response_class`` on gRPC spans, ``http.*`` on the frontend's; process tags ``hostname``,
  ``ip``, ``jaeger.version``, ``client-uuid``. social (C++ Thrift, jaeger-client-cpp; nginx-opentracing at the
  gateway). astronomy (OpenTelemetry SDKs through Jaeger's OTLP translator): ``rpc.*``/``http.route``/``db.*``/
  ``messaging.*`` attributes, ``otel.status_code=ERROR`` and ``otel.status_description`` on failures, and
  resource attributes (``k8s.pod.name``, ``telemetry.sdk.language``, ...) as process tags; ``service.name``
  becomes the process' serviceName, since the translator drops it from the tags. A failed span has ``error=true``
  and a log: ``{event: error, message}`` (OpenTracing) or ``{event: exception, exception.message}`` (an OTel
  exception event). The process of a span is one of the component's current pods (a stable stand-in when none).
* **Visibility.** A trace is returned once every span of it has finished (its end <= now).
* **Work is capped**: a query scans at most ``MAX_SCANNED`` requests (newest first) and generates at most
  ``MAX_CANDIDATES`` traces; past either cap it returns what it found, fewer than ``limit`` if so.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from cluster.sim.apps.health import DATASTORES, TIMEOUT_MS, Snapshot, op_fail
from cluster.sim.apps.model import AppModel, Call, Component, RequestType
from cluster.sim.telemetry.sources import TraceQuery
from cluster.sim.telemetry.traces import SpanSpec, TagValue, build_trace, matches, normalize_trace_id, tag_string

if TYPE_CHECKING:
    from cluster.sim.apps.runtime import AppRuntime
    from cluster.sim.cluster import SimCluster

MAX_SCANNED = 200_000  # requests enumerated per query (a hash each) ...
MAX_CANDIDATES = 20_000  # ... of which at most this many have their trace generated and matched
START_MARGIN_S = 30.0  # a trace that began this much before the window may still have spans inside it
JITTER_SIGMA = 0.3  # log-normal sigma of a span's own time
RPC_OVERHEAD_MS = 0.12  # serialization and one in-cluster round trip, split around the callee's server span
FAILED_CALL_MS = {"refused": 0.4, "nohost": 2.0, "tls": 3.0, "auth": 2.5, "unregistered": 2.5}
CONSUMER_DELAY_MS = 3.0  # a message waits this long in kafka (plus kafka's added latency) before it is consumed
K_BITS = 40  # request numbers fit in 40 bits of the 64-bit id; the other 24 tag the app
Style = Literal["go", "thrift", "otel"]

_M64 = (1 << 64) - 1
_C1, _C2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_C1_INV, _C2_INV = pow(_C1, -1, 1 << 64), pow(_C2, -1, 1 << 64)
_UNIX0 = datetime(1970, 1, 1, tzinfo=UTC)
_GRPC_CODES = {"OK": 0, "Unknown": 2, "DeadlineExceeded": 4, "Internal": 13, "Unavailable": 14,
               "Unauthenticated": 16}
_STYLES: dict[str, Style] = {"hotel-reservation": "go", "social-network": "thrift", "astronomy-shop": "otel"}
_SDK_LANGUAGE = {"typescript": "nodejs", "javascript": "nodejs", "kotlin": "java", "envoy": "cpp", "nginx": "cpp",
                 "cpp": "cpp", "c++": "cpp"}
_PRODUCT_IDS = ("OLJCESPC7Z", "66VCHSJNUP", "1YMWWN1N4O", "L9ECAV7KIM", "2ZYFJ3GM2N", "0PUK6V6EV0", "LS4PSXUNUM",
                "9SIQT8TOJO", "6E92ZMYYFZ", "HQTGWGPNH4")
# Tags that only a failed span carries: a query for one of them skips requests that cannot fail.
_ERROR_TAGS = {"error": "true", "otel.status_code": "ERROR", "http.status_code": "500",
               "http.response.status_code": "500", "response_class": "5xx"}
_HTTP_OP = re.compile(r"^(?:HTTP )?(GET|POST|PUT|DELETE|PATCH|HEAD) (\S+)$")


# ---------------------------------------------------------------------------------------------- hashing
def _mix64(x: int) -> int:
    """splitmix64's finalizer: a bijection on 64-bit integers."""
    x = ((x ^ (x >> 30)) * _C1) & _M64
    x = ((x ^ (x >> 27)) * _C2) & _M64
    return x ^ (x >> 31)


def _unshift(x: int, s: int) -> int:
    y = x
    for _ in range(64 // s + 1):
        y = x ^ (y >> s)
    return y


def _unmix64(x: int) -> int:
    x = _unshift(x, 31)
    x = _unshift((x * _C2_INV) & _M64, 27)
    return _unshift((x * _C1_INV) & _M64, 30)


def _key(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "big")


def _unit(h: int) -> float:
    return (h >> 11) / float(1 << 53)


# ------------------------------------------------------------------------------------------ timeline
@dataclass(frozen=True)
class _Segment:
    start: float  # simulated seconds
    end: float
    rate: float  # requests per second
    count0: float  # expected requests before ``start``
    snap: Snapshot


@dataclass(frozen=True)
class _Pod:
    name: str
    ip: str
    uid: str
    node: str


@dataclass(frozen=True)
class _View:
    """What a query reads from the cluster, copied under its lock: the clock and the request timeline."""

    now: float
    epoch_us: int
    segments: tuple[_Segment, ...]
    pods: Mapping[str, tuple[_Pod, ...]]

    def count(self, t: float) -> float:
        """N(t): the expected number of requests before ``t``."""
        i = bisect.bisect_right([s.start for s in self.segments], t) - 1
        if i < 0:
            return 0.0
        s = self.segments[i]
        return s.count0 + s.rate * (min(t, s.end) - s.start)

    def locate(self, x: float) -> tuple[float, Snapshot] | None:
        """N⁻¹(x): the time at which the expected count reaches ``x`` and the snapshot in force then."""
        i = bisect.bisect_right([s.count0 for s in self.segments], x) - 1
        while i >= 0 and self.segments[i].rate <= 0:
            i -= 1
        if i < 0:
            return None
        s = self.segments[i]
        t = s.start + (x - s.count0) / s.rate
        return (t, s.snap) if t < s.end else None

    def us(self, t: float) -> int:
        return self.epoch_us + round(t * 1e6)


def entry_rate(app: AppModel, snap: Snapshot) -> float:
    """Requests per second reaching the app under ``snap`` (``health.traffic``'s entry factor)."""
    factor = snap.component(app.entry).rate_factor
    if app.has("frontend") and app.entry != "frontend":
        factor *= snap.component("frontend").rate_factor
    return app.request_rate * factor


# ------------------------------------------------------------------------------------------ generation
@dataclass(frozen=True)
class _Err:
    message: str
    grpc: str = "Unknown"  # gRPC status code name
    timeout: bool = False


@dataclass
class _Gen:
    """The state of one request's walk."""

    rng: random.Random
    snap: Snapshot
    seed: int  # the request's seed: its URL parameters derive from it, so every span of it shows the same

    def ms(self, mean_ms: float, sigma: float = JITTER_SIGMA) -> int:
        """A duration in µs: ``mean_ms`` with mean-preserving log-normal jitter, at least 1 µs."""
        if mean_ms <= 0:
            return 1
        return max(1, round(mean_ms * 1000.0 * self.rng.lognormvariate(-sigma * sigma / 2, sigma)))


def _grpc_code(kind: str, message: str) -> str:
    m = re.search(r"code = (\w+)", message)
    if m and m.group(1) in _GRPC_CODES:
        return m.group(1)
    if kind == "timeout" or "deadline" in message.lower():
        return "DeadlineExceeded"
    if kind in ("refused", "nohost", "tls", "unavailable") or "UNAVAILABLE" in message:
        return "Unavailable"
    return "Unknown"


def _http_parts(op: str) -> tuple[str, str] | None:
    m = _HTTP_OP.match(op)
    return (m.group(1), m.group(2)) if m else None


class AppTraces:
    """A ``TraceSource`` over one deployed application's requests (see the module docstring)."""

    def __init__(self, cluster: SimCluster, namespace: str):
        apps = getattr(cluster, "apps", None)
        run: AppRuntime | None = apps.by_namespace.get(namespace) if apps is not None else None
        if run is None:
            raise KeyError(f"no application is deployed in namespace {namespace!r}")
        self.cluster = cluster
        self.run = run
        self.app: AppModel = run.model
        self.namespace = namespace
        self.style: Style = _STYLES.get(self.app.name, "otel" if self.app.pod_labels == "otel" else "go")
        seed = cluster.config.seed
        self._key_id = _key(seed, namespace, "trace-id")
        self._key_hi = _key(seed, namespace, "trace-id-high")
        self._key_time = _key(seed, namespace, "arrival")
        self._key_type = _key(seed, namespace, "request-type")
        self._key_rng = _key(seed, namespace, "request-rng")
        self._tag = _key(seed, namespace, "app-tag") >> 40  # 24 bits
        self._components = {c.name: c for c in self.app.components}
        self._total_weight = sum(r.weight for r in self.app.requests) or 1.0
        self._cum_weights: list[float] = []
        acc = 0.0
        for r in self.app.requests:
            acc += r.weight
            self._cum_weights.append(acc / self._total_weight)
        self._services_of: list[frozenset[str]] = []
        self._ops_of: list[frozenset[tuple[str, str]]] = []
        for r in self.app.requests:
            ops = self._operations(r.root)
            self._ops_of.append(frozenset((s, op) for s, op, _ in ops))
            self._services_of.append(frozenset(s for s, _, _ in ops))

    # ----------------------------------------------------------------------------------- the model
    def _comp(self, name: str) -> Component | None:
        return self._components.get(name)

    def _instrumented(self, name: str) -> bool:
        comp = self._comp(name)
        return comp is not None and comp.role not in DATASTORES

    def _consumers(self, queue: str) -> list[Component]:
        """Components that consume from ``queue`` without serving calls (accounting, fraud-detection)."""
        return [c for c in self.app.components
                if queue in c.stores and not c.service and c.role not in DATASTORES]

    def _client_name(self, caller: str, call: Call) -> tuple[str, str]:
        """(span name, kind) of the span ``caller`` emits for ``call``."""
        comp = self._comp(call.service)
        role = comp.role if comp else ""
        if role == "queue":
            return call.operation, "producer"
        if role == "flags":
            return call.operation.split(" ")[0], "client"
        if self.style == "otel" and comp is not None and comp.role not in DATASTORES:
            caller_comp = self._comp(caller)
            if caller_comp is not None and caller_comp.language == "envoy":
                return f"router {call.service} egress", "client"
            http = _http_parts(call.operation)
            if http:
                return http[0], "client"
        return call.operation, "client"

    def _operations(self, node: Call) -> list[tuple[str, str, str]]:
        """(service, span name, kind) of every span a call tree can produce."""
        out: list[tuple[str, str, str]] = []
        if not self._instrumented(node.service):
            return out
        out.append((node.service, node.operation, "server"))
        for child in node.children:
            name, kind = self._client_name(node.service, child)
            out.append((node.service, name, kind))
            comp = self._comp(child.service)
            if comp is not None and comp.role == "queue":
                out.extend((c.name, f"{child.operation.split(' ')[0]} process", "consumer")
                           for c in self._consumers(child.service))
            out.extend(self._operations(child))
        return out

    # ------------------------------------------------------------------------------------- the view
    def _view(self) -> _View:
        c = self.cluster
        with c.lock:
            c.sync()
            now = c.clock.now
            epoch_us = (c.clock.epoch - _UNIX0) // timedelta(microseconds=1)
            times, snaps = list(self.run.history.times), list(self.run.history.snaps)
            pods: dict[str, list[_Pod]] = {}
            key = self.app.label_key
            for p in c.store.list("pods", self.namespace):
                meta, status = p["metadata"], p.get("status") or {}
                name = (meta.get("labels") or {}).get(key)
                if not name or meta.get("deletionTimestamp") or not status.get("podIP"):
                    continue
                if status.get("phase") in ("Succeeded", "Failed"):
                    continue
                pods.setdefault(name, []).append(_Pod(meta["name"], status["podIP"], meta.get("uid", ""),
                                                      p["spec"].get("nodeName", "")))
        deployed = self.run.deployed_at
        segments: list[_Segment] = []
        count = 0.0
        for i, snap in enumerate(snaps):
            start = max(times[i], deployed)
            end = times[i + 1] if i + 1 < len(times) else math.inf
            if end <= start:
                continue
            rate = entry_rate(self.app, snap)
            segments.append(_Segment(start, end, rate, count, snap))
            if math.isfinite(end):
                count += rate * (end - start)
        return _View(now, epoch_us, tuple(segments),
                     {k: tuple(sorted(v, key=lambda p: p.name)) for k, v in pods.items()})

    # ----------------------------------------------------------------------------------- requests
    def _when(self, view: _View, k: int) -> tuple[float, Snapshot] | None:
        return view.locate(k + _unit(_mix64((k + self._key_time) & _M64)))

    def _type(self, k: int) -> int:
        u = _unit(_mix64((k ^ self._key_type) & _M64))
        return min(bisect.bisect_right(self._cum_weights, u), len(self.app.requests) - 1)

    def trace_id(self, k: int) -> str:
        low = _mix64(((self._tag << K_BITS) | k) ^ self._key_id)
        if self.style != "otel":
            return f"{low:016x}"
        high = _mix64(low ^ self._key_hi) or 1
        return f"{high:016x}{low:016x}"

    def request_of(self, trace_id: str) -> int | None:
        """The request number a trace id of this app encodes, or None."""
        try:
            value = int(normalize_trace_id(trace_id), 16)
        except ValueError:
            return None
        low, high = value & _M64, value >> 64
        if self.style == "otel":
            if high != (_mix64(low ^ self._key_hi) or 1):
                return None
        elif high:
            return None
        x = _unmix64(low) ^ self._key_id
        if x >> K_BITS != self._tag:
            return None
        return x & ((1 << K_BITS) - 1)

    # -------------------------------------------------------------------------------- the span tree
    def _spec(self, view: _View, k: int, t: float, snap: Snapshot, rtype: RequestType) -> SpanSpec | None:
        """The span tree of request ``k`` (None when the entry served nothing then)."""
        root = rtype.root
        if snap.component(root.service).serving <= 0 or not self._instrumented(root.service):
            return None
        seed = self._seed(k)
        g = _Gen(random.Random(seed), snap, seed)
        spec, _err = self._serve(g, root, view.us(t))
        return spec

    def _seed(self, k: int) -> int:
        return _mix64((k ^ self._key_rng) & _M64)

    def _serve(self, g: _Gen, call: Call, start: int) -> tuple[SpanSpec, _Err | None]:
        comp = self._comp(call.service)
        h = g.snap.component(call.service)
        own = g.ms((comp.base_latency_ms if comp else 1.0) + h.latency_ms)
        p_fail, fail_msg = op_fail(h, call.operation)
        n = len(call.children)
        pre = round(own * g.rng.uniform(0.2, 0.5)) if n else own
        gap, rest = divmod(own - pre, n) if n else (0, 0)
        t = start + pre
        children: list[SpanSpec] = []
        err: _Err | None = None
        for i, child in enumerate(call.children):
            specs, end, cerr = self._call(g, call.service, child, t)
            children.extend(specs)
            t = end + gap + (rest if i == n - 1 else 0)
            if cerr is not None:
                err = cerr
                break
        if err is None and p_fail > 0 and g.rng.random() < p_fail:
            err = _Err(fail_msg or h.message or f"{call.service}: {call.operation} failed",
                       _grpc_code("", fail_msg or h.message))
        tags, logs = self._server_tags(g, call, err, t)
        return SpanSpec(call.service, call.operation, "server", start, t - start, error=err is not None,
                        tags=tags, logs=logs, children=tuple(children)), err

    def _call(self, g: _Gen, caller: str, call: Call, start: int) -> tuple[list[SpanSpec], int, _Err | None]:
        """The spans of ``caller`` calling ``call`` at ``start``: its client span (holding the callee's server
        span) and, after a kafka publish, the consumers' spans; the call's end; its error."""
        comp = self._comp(call.service)
        e = g.snap.edge(caller, call.service)
        h = g.snap.component(call.service)
        name, kind = self._client_name(caller, call)
        err: _Err | None = None
        server: SpanSpec | None = None
        after: list[SpanSpec] = []
        if e.fail > 0 and g.rng.random() < e.fail:
            err = _Err(e.message or f"call to {call.service} failed", _grpc_code(e.error, e.message),
                       timeout=e.error == "timeout")
            dur = g.ms(TIMEOUT_MS, 0.01) if err.timeout else g.ms(FAILED_CALL_MS.get(e.error, 1.0))
            end = start + dur
        else:
            added = e.latency_ms
            if e.error == "timeout" and e.fail < 1:
                added = max(0.0, (e.latency_ms - e.fail * TIMEOUT_MS) / (1 - e.fail))
            added_us = round(added * 1000)
            if comp is not None and comp.role not in DATASTORES:
                net = g.ms(RPC_OVERHEAD_MS) + added_us
                half = net // 2
                server, serr = self._serve(g, call, start + half)
                end = server.start_us + server.duration_us + (net - half)
                if serr is not None:
                    msg = serr.message
                    if self.style == "go" and not msg.startswith("rpc error:"):
                        msg = f"rpc error: code = {serr.grpc} desc = {msg}"
                    err = _Err(msg, serr.grpc, serr.timeout)
            else:
                end = start + g.ms((comp.base_latency_ms if comp else 1.0) + h.latency_ms) + added_us
                p, msg = op_fail(h, call.operation)
                if p > 0 and g.rng.random() < p:
                    err = _Err(msg or h.message or f"{call.service}: {call.operation} failed", _grpc_code("", msg))
                elif comp is not None and comp.role == "queue":
                    after = self._consume(g, call, end, h.latency_ms)
        tags, logs = self._client_tags(g, caller, call, comp, err, end)
        client = SpanSpec(caller, name, kind, start, end - start, error=err is not None, tags=tags, logs=logs,
                          children=(server,) if server is not None else ())
        if after:  # the consumers are children of the producer span, starting after it ended
            client = SpanSpec(client.service, client.operation, client.kind, client.start_us, client.duration_us,
                              error=client.error, tags=client.tags, logs=client.logs, children=tuple(after))
        return [client], end, err

    def _consume(self, g: _Gen, call: Call, published: int, queue_latency_ms: float) -> list[SpanSpec]:
        out: list[SpanSpec] = []
        topic, _, _ = call.operation.partition(" ")
        for c in self._consumers(call.service):
            h = g.snap.component(c.name)
            if h.serving <= 0:
                continue
            start = published + g.ms(CONSUMER_DELAY_MS + queue_latency_ms)
            dur = g.ms(c.base_latency_ms + h.latency_ms)
            tags: dict[str, TagValue] = {"messaging.system": "kafka", "messaging.destination.name": topic,
                                         "messaging.operation": "process"}
            out.append(SpanSpec(c.name, f"{topic} process", "consumer", start, dur, tags=tags))
        return out

    # ---------------------------------------------------------------------------------------- tags
    def _error_tags(self, err: _Err | None, at: int, tags: dict[str, TagValue],
                    ) -> tuple[tuple[int, Mapping[str, TagValue]], ...]:
        if err is None:
            return ()
        if self.style == "otel":
            tags["otel.status_code"] = "ERROR"
            tags["otel.status_description"] = err.message
            return ((at, {"event": "exception", "exception.message": err.message}),)
        return ((at, {"event": "error", "message": err.message}),)

    def _url(self, g: _Gen, path: str) -> str:
        rng = random.Random(g.seed ^ 0x5EED)
        if self.style == "go":
            d = rng.randint(9, 23)
            lat, lon = 38.0235 + (rng.randint(0, 481) - 240.5) / 1000, -122.095 + (rng.randint(0, 325) - 157) / 1000
            stay = f"inDate=2015-04-{d:02d}&outDate=2015-04-{d + rng.randint(1, 5):02d}"
            user = rng.randint(0, 500)
            return {
                "/hotels": f"/hotels?{stay}&lat={lat:.4f}&lon={lon:.4f}",
                "/recommendations": f"/recommendations?require={rng.choice(('dis', 'rate', 'price'))}"
                                    f"&lat={lat:.4f}&lon={lon:.4f}",
                "/user": f"/user?username=Cornell_{user}&password={str(user) * 10}",
                "/reservation": f"/reservation?{stay}&lat={lat:.4f}&lon={lon:.4f}&hotelId={rng.randint(1, 80)}"
                                f"&customerName=Cornell_{user}&username=Cornell_{user}&password={str(user) * 10}"
                                "&number=1",
            }.get(path, path)
        if "{productId}" in path:
            return path.replace("{productId}", rng.choice(_PRODUCT_IDS))
        if "{file}" in path:
            return path.replace("{file}", f"{rng.choice(_PRODUCT_IDS).lower()}.jpg")
        return path

    def _server_tags(self, g: _Gen, call: Call, err: _Err | None, end: int,
                     ) -> tuple[dict[str, TagValue], tuple[tuple[int, Mapping[str, TagValue]], ...]]:
        tags: dict[str, TagValue] = {}
        comp = self._comp(call.service)
        http = _http_parts(call.operation)
        status = 500 if err else 200
        if self.style == "go":
            if http:
                tags.update({"component": "net/http", "http.method": http[0], "http.url": self._url(g, http[1]),
                             "http.status_code": status})
            else:
                tags.update(self._otgrpc(err))
        elif self.style == "thrift":
            if comp is not None and comp.role in ("gateway", "frontend"):
                path = call.operation
                tags.update({"component": "nginx", "http.method": "GET" if "/read" in path else "POST",
                             "http.url": f"http://localhost:8080{path}", "http.status_code": status})
        else:
            if comp is not None and comp.language == "envoy":  # the route is the upstream's
                upstream = call.children[0] if call.children else call
                route = _http_parts(upstream.operation) or ("GET", "/")
                tags.update({"component": "proxy", "http.method": route[0], "http.protocol": "HTTP/1.1",
                             "http.url": f"http://frontend-proxy:8080{self._url(g, route[1])}",
                             "http.status_code": status, "upstream_cluster": upstream.service})
            elif http:
                tags.update({"http.request.method": http[0], "http.route": http[1],
                             "url.path": self._url(g, http[1]), "http.response.status_code": status})
            elif "/" in call.operation:
                service, _, method = call.operation.partition("/")
                tags.update({"rpc.system": "grpc", "rpc.service": service, "rpc.method": method,
                             "rpc.grpc.status_code": _GRPC_CODES.get(err.grpc, 2) if err else 0})
        logs = self._error_tags(err, end, tags)
        return tags, logs

    @staticmethod
    def _otgrpc(err: _Err | None) -> dict[str, TagValue]:
        """What grpc-opentracing's interceptors tag (otgrpc.SetSpanTags)."""
        if err is None:
            return {"component": "gRPC", "response_code": "OK", "response_class": "2xx"}
        return {"component": "gRPC", "response_code": err.grpc,
                "response_class": "4xx" if err.grpc == "Unauthenticated" else "5xx"}

    def _client_tags(self, g: _Gen, caller: str, call: Call, comp: Component | None, err: _Err | None, end: int,
                     ) -> tuple[dict[str, TagValue], tuple[tuple[int, Mapping[str, TagValue]], ...]]:
        tags: dict[str, TagValue] = {}
        otel = self.style == "otel"
        peer_name, peer_port = ("server.address", "server.port") if otel else ("net.peer.name", "net.peer.port")
        port = comp.ports[0].port if comp is not None and comp.ports else 0
        role = comp.role if comp is not None else ""
        if role == "mongodb":
            db = comp.database if comp is not None and comp.database else call.service
            tags.update({"db.system": "mongodb", "db.name": db, "db.operation": call.operation,
                         "db.mongodb.collection": db.removesuffix("-db"), peer_name: call.service, peer_port: port})
        elif role in ("memcached", "redis", "cache"):
            system = "memcached" if role == "memcached" else "redis"
            tags.update({"db.system": system, "db.operation": call.operation, peer_name: call.service,
                         peer_port: port})
            if system == "redis":
                tags["db.statement"] = f"{call.operation.upper()} ?"
        elif role == "queue":
            topic, _, op = call.operation.partition(" ")
            tags.update({"messaging.system": "kafka", "messaging.destination.name": topic,
                         "messaging.operation": op or "publish", peer_name: call.service, peer_port: port})
        elif role == "flags":
            method, _, flag = call.operation.partition(" ")
            service, _, rpc = method.partition("/")
            tags.update({"rpc.system": "grpc", "rpc.service": service, "rpc.method": rpc, "feature_flag.key": flag,
                         peer_name: call.service, peer_port: port,
                         "rpc.grpc.status_code": _GRPC_CODES.get(err.grpc, 2) if err else 0})
        elif self.style == "go":
            tags.update(self._otgrpc(err))
        elif otel:
            caller_comp = self._comp(caller)
            http = _http_parts(call.operation)
            status = 500 if err else 200
            if caller_comp is not None and caller_comp.language == "envoy":
                tags.update({"component": "proxy", "upstream_cluster": call.service,
                             "upstream_address": f"{call.service}:{port}", "http.status_code": status})
            elif http:
                tags.update({"http.request.method": http[0], "url.full": f"http://{call.service}:{port}{http[1]}",
                             peer_name: call.service, peer_port: port, "http.response.status_code": status})
            else:
                service, _, method = call.operation.partition("/")
                tags.update({"rpc.system": "grpc", "rpc.service": service, "rpc.method": method,
                             peer_name: call.service, peer_port: port,
                             "rpc.grpc.status_code": _GRPC_CODES.get(err.grpc, 2) if err else 0})
        else:
            tags.update({peer_name: call.service, peer_port: port})
        logs = self._error_tags(err, end, tags)
        return tags, logs

    # ------------------------------------------------------------------------------ process tags
    def _process_tags(self, view: _View, pod_seed: int, service: str) -> dict[str, str]:
        pods = view.pods.get(service, ())
        if pods:
            pod = pods[_mix64(pod_seed ^ _key(service)) % len(pods)]
            name, ip, uid, node = pod.name, pod.ip, pod.uid, pod.node
        else:  # the component has no pod now: a stable stand-in, as a trace from before it was deleted shows
            h = hashlib.sha256(f"{self.namespace}/{service}".encode()).digest()
            name, ip, uid, node = f"{service}-{h[:3].hex()}", f"10.244.{h[3] % 4}.{h[4] % 250 + 2}", "", ""
        if self.style == "otel":
            comp = self._comp(service)
            lang = comp.language if comp else "go"
            tags = {"k8s.namespace.name": self.namespace, "k8s.pod.name": name, "k8s.pod.ip": ip,
                    "k8s.deployment.name": service, "service.namespace": "opentelemetry-demo",
                    "telemetry.sdk.language": _SDK_LANGUAGE.get(lang, lang), "telemetry.sdk.name": "opentelemetry"}
            if uid:
                tags["k8s.pod.uid"] = uid
            if node:
                tags["k8s.node.name"] = node
            return tags
        version = "Go-2.30.0" if self.style == "go" else "C++-0.4.2"
        tags = {"hostname": name, "ip": ip, "jaeger.version": version}
        if self.style == "go":
            tags["client-uuid"] = hashlib.sha256(f"{uid or name}".encode()).hexdigest()[:16]
        return tags

    # ----------------------------------------------------------------------------------- matching
    def _spec_matches(self, view: _View, k: int, root: SpanSpec, query: TraceQuery) -> bool:
        """``traces.span_matches`` over the span tree, so that only matching traces are built."""
        ptags: dict[str, dict[str, str]] = {}
        stack = [root]
        while stack:
            s = stack.pop()
            stack.extend(s.children)
            if query.service and s.service != query.service:
                continue
            if query.operation and s.operation != query.operation:
                continue
            if query.min_duration_us is not None and s.duration_us < query.min_duration_us:
                continue
            if query.max_duration_us is not None and s.duration_us > query.max_duration_us:
                continue
            if (query.start_us and s.start_us < query.start_us) or (query.end_us and s.start_us > query.end_us):
                continue
            if not query.tags:
                return True
            if s.service not in ptags:
                ptags[s.service] = self._process_tags(view, self._seed(k), s.service)
            kvs: list[tuple[str, str]] = [(k, tag_string(v)) for k, v in s.tags.items() if k != "span.kind"]
            if s.kind:
                kvs.append(("span.kind", s.kind))
            if s.error:
                kvs.append(("error", "true"))
            kvs.extend(ptags[s.service].items())
            for _ts, fields in s.logs:
                kvs.extend((k, tag_string(v)) for k, v in fields.items())
            if all((k, str(v)) in kvs for k, v in query.tags.items()):
                return True
        return False

    @staticmethod
    def _end_us(root: SpanSpec) -> int:
        end, stack = 0, [root]
        while stack:
            s = stack.pop()
            end = max(end, s.start_us + s.duration_us)
            stack.extend(s.children)
        return end

    def _build(self, view: _View, k: int, root: SpanSpec) -> dict:
        seed = self._seed(k)
        return build_trace(self.trace_id(k), root, lambda service: self._process_tags(view, seed, service))

    # ------------------------------------------------------------------------------- TraceSource
    def now_us(self) -> int:
        view = self._view()
        return view.us(view.now)

    def services(self) -> list[str]:
        """Instrumented services that received traffic: reachable, through edges that do not always fail,
        from the entry while it served, in a stretch of history with at least one request."""
        view = self._view()
        possible = set().union(*self._services_of) if self._services_of else set()
        found: set[str] = set()
        for seg in view.segments:
            if seg.start >= view.now:
                continue
            lo, hi = seg.count0, view.count(min(seg.end, view.now))
            if hi - lo < 1 and math.floor(hi) == math.floor(lo):  # no request arrived in this stretch
                continue
            for r in self.app.requests:
                if seg.snap.component(r.root.service).serving > 0:
                    self._reach(seg.snap, r.root, found)
            if found >= possible:
                break
        return sorted(found)

    def _reach(self, snap: Snapshot, node: Call, found: set[str]) -> None:
        if not self._instrumented(node.service):
            return
        found.add(node.service)
        for child in node.children:
            if snap.edge(node.service, child.service).fail >= 1.0:
                continue
            comp = self._comp(child.service)
            if comp is not None and comp.role == "queue":
                found.update(c.name for c in self._consumers(child.service) if snap.component(c.name).serving > 0)
            self._reach(snap, child, found)

    def _may_fail(self, snap: Snapshot, node: Call) -> bool:
        """Can a request through ``node`` fail under ``snap`` (any failure probability on its tree)?"""
        if op_fail(snap.component(node.service), node.operation)[0] > 0:
            return True
        return any(snap.edge(node.service, child.service).fail > 0 or self._may_fail(snap, child)
                   for child in node.children)

    def operations(self, service: str) -> list[tuple[str, str]]:
        if service not in self.services():
            return []
        ops: set[tuple[str, str]] = set()
        for r in self.app.requests:
            ops.update((name, kind) for s, name, kind in self._operations(r.root) if s == service)
        return sorted(ops)

    def find_traces(self, query: TraceQuery) -> list[dict]:
        """Matching traces newest first, at most ``query.limit`` (non-positive: up to the caps), scanning at most
        MAX_SCANNED requests and generating at most MAX_CANDIDATES traces."""
        view = self._view()
        if not view.segments:
            return []
        now_us = view.us(view.now)
        end_us = min(query.end_us or now_us, now_us)
        start_us = max(query.start_us, 0)
        if end_us < start_us:
            return []
        t_hi = (end_us - view.epoch_us) / 1e6
        t_lo = (start_us - view.epoch_us) / 1e6 - START_MARGIN_S
        wanted = [i for i, svc in enumerate(self._services_of)
                  if (not query.service or query.service in svc)
                  and (not query.operation or (query.service, query.operation) in self._ops_of[i]
                       or (not query.service and any(op == query.operation for _, op in self._ops_of[i])))]
        if not wanted:
            return []
        wanted_set = set(wanted)
        needs_error = any(_ERROR_TAGS.get(k) == str(v) for k, v in query.tags.items())
        may_fail: dict[tuple[int, int], bool] = {}
        out: list[dict] = []
        scanned = generated = 0
        for k in range(int(view.count(t_hi)), -1, -1):
            if scanned >= MAX_SCANNED or generated >= MAX_CANDIDATES:
                break
            scanned += 1
            when = self._when(view, k)
            if when is None or when[0] > t_hi:
                continue
            t, snap = when
            if t < t_lo:
                break
            i = self._type(k)
            if i not in wanted_set:
                continue
            if needs_error:
                key = (id(snap), i)
                if key not in may_fail:
                    may_fail[key] = self._may_fail(snap, self.app.requests[i].root)
                if not may_fail[key]:
                    continue
            generated += 1
            root = self._spec(view, k, t, snap, self.app.requests[i])
            if root is None or self._end_us(root) > now_us or not self._spec_matches(view, k, root, query):
                continue
            trace = self._build(view, k, root)
            if matches(trace, query):
                out.append(trace)
                if 0 < query.limit <= len(out):
                    break
        return out

    def get_trace(self, trace_id: str) -> dict | None:
        k = self.request_of(trace_id)
        if k is None:
            return None
        view = self._view()
        when = self._when(view, k)
        if when is None or when[0] > view.now:
            return None
        t, snap = when
        root = self._spec(view, k, t, snap, self.app.requests[self._type(k)])
        if root is None or self._end_us(root) > view.us(view.now):
            return None
        return self._build(view, k, root)
