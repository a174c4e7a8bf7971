"""Build traces in Jaeger's JSON model (what ``/api/traces`` returns) from simple span trees, and match them
against a ``TraceQuery`` the way Jaeger's storage does.

The output mirrors ``jaeger-query``'s UI model (``model/json``) after its standard adjusters: 16- or 32-hex
trace ids, 16-hex span ids, ``CHILD_OF`` references, microsecond times, typed tags sorted by key, log fields
with ``event`` first, one process per distinct (service, tags) named p1..pN, ``flags`` 1, ``warnings`` null.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster.sim.telemetry.sources import TraceQuery

TagValue = str | int | bool | float
SPAN_KINDS = ("server", "client", "producer", "consumer", "internal")
JAEGER_CLIENT_VERSION = "Go-2.30.0"  # jaeger-client-go, as AIOpsLab's hotel-reservation images report it


@dataclass(frozen=True)
class SpanSpec:
    """One span of a synthetic trace; ``children`` are the spans it calls (CHILD_OF this one)."""

    service: str
    operation: str
    kind: str  # "server" | "client" | "producer" | "consumer" | "internal" ("" emits no span.kind tag)
    start_us: int
    duration_us: int
    error: bool = False
    tags: Mapping[str, TagValue] = field(default_factory=dict)
    logs: tuple[tuple[int, Mapping[str, TagValue]], ...] = ()  # (timestamp_us, fields)
    children: tuple[SpanSpec, ...] = ()


# ------------------------------------------------------------------------------------------- ids
def normalize_trace_id(trace_id: str) -> str:
    """Jaeger's canonical form: lowercase, 16 hex when the high 64 bits are zero, else 32 (model.TraceID)."""
    s = trace_id.strip().lower()
    if not s or len(s) > 32:
        raise ValueError(f"TraceID must be 1 to 32 hex characters: {trace_id!r}")
    try:
        value = int(s, 16)
    except ValueError as e:
        raise ValueError(f"TraceID is not hexadecimal: {trace_id!r}") from e
    return f"{value:016x}" if value < 1 << 64 else f"{value:032x}"


def _hash16(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:16]


def span_ids(trace_id: str, n: int) -> list[str]:
    """``n`` distinct, non-zero 16-hex span ids for positions 0..n-1 of a trace (pre-order in build_trace).

    Position 0 (the root) reuses the trace id's low 64 bits, as jaeger-client-go does for root spans; the others
    are hashes of the trace id and position, so rebuilding a trace yields the same ids.
    """
    tid = normalize_trace_id(trace_id)
    out: list[str] = []
    seen: set[str] = set()
    for i in range(n):
        candidate = tid[-16:] if i == 0 else _hash16(tid, i)
        salt = 0
        while int(candidate, 16) == 0 or candidate in seen:  # astronomically rare; keeps ids valid and unique
            salt += 1
            candidate = _hash16(tid, i, salt)
        seen.add(candidate)
        out.append(candidate)
    return out


# ------------------------------------------------------------------------------------------ tags
def tag(key: str, value: TagValue) -> dict[str, Any]:
    """A Jaeger KeyValue; bool is checked before int because bool is an int subclass in Python."""
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    return {"key": key, "type": "string", "value": str(value)}


def tag_string(value: Any) -> str:
    """A tag value as Jaeger's storage compares it in tag searches (KeyValue.AsString)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = format(value, ".10g")  # strconv.FormatFloat(v, 'g', 10, 64)
        return text.replace("inf", "+Inf").replace("-+Inf", "-Inf").replace("nan", "NaN")
    return str(value)


def _tags(items: Mapping[str, TagValue]) -> list[dict[str, Any]]:
    return [tag(k, items[k]) for k in sorted(items)]  # SortTagsAndLogFields adjuster: by key


def _log_fields(items: Mapping[str, TagValue]) -> list[dict[str, Any]]:
    # Jaeger's adjuster puts "event" first, then the rest by key.
    keys = sorted(items, key=lambda k: (k != "event", k))
    return [tag(k, items[k]) for k in keys]


_POD_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for generated name suffixes


def default_process_tags(service: str) -> dict[str, str]:
    """What a jaeger-client-go process reports when the generator gives nothing better: a Deployment-style pod
    hostname, a pod IP and the client version, all derived from the service name (stable across runs)."""
    h = hashlib.sha256(service.encode()).digest()
    suffix = "".join(_POD_ALPHABET[b % len(_POD_ALPHABET)] for b in h[:15])
    return {
        "client-uuid": h[16:24].hex(),
        "hostname": f"{service}-{suffix[:10]}-{suffix[10:]}",
        "ip": f"10.244.{h[24] % 4}.{h[25] % 250 + 2}",
        "jaeger.version": JAEGER_CLIENT_VERSION,
    }


# ----------------------------------------------------------------------------------------- build
def _walk(spec: SpanSpec, parent: int | None) -> Iterator[tuple[SpanSpec, int | None]]:
    """Pre-order (span, parent position); iterative so deep synthetic trees cannot hit the recursion limit."""
    stack: list[tuple[SpanSpec, int | None]] = [(spec, parent)]
    pos = 0
    while stack:
        node, par = stack.pop()
        yield node, par
        me = pos
        pos += 1
        stack.extend((child, me) for child in reversed(node.children))


def build_trace(trace_id: str, root: SpanSpec,
                process_tags: Callable[[str], Mapping[str, str]] | None = None) -> dict:
    """One trace in Jaeger's JSON model: ``{"traceID", "spans", "processes", "warnings"}``.

    Spans come in pre-order (root first). ``process_tags(service)`` supplies each service's process tags
    (hostname, ip, ...); services whose tags are equal share a process, as in Jaeger's UI model.
    """
    tid = normalize_trace_id(trace_id)
    nodes = list(_walk(root, None))
    ids = span_ids(tid, len(nodes))
    tags_for = process_tags or default_process_tags
    processes: dict[str, dict[str, Any]] = {}
    process_key: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
    spans: list[dict[str, Any]] = []
    for pos, (spec, parent) in enumerate(nodes):
        if spec.duration_us < 0 or spec.start_us < 0:
            raise ValueError(f"span {spec.service}/{spec.operation}: negative start or duration")
        ptags = dict(tags_for(spec.service))
        key = (spec.service, tuple(sorted((k, tag_string(v)) for k, v in ptags.items())))
        pid = process_key.get(key)
        if pid is None:
            pid = process_key[key] = f"p{len(processes) + 1}"
            processes[pid] = {"serviceName": spec.service, "tags": _tags(ptags)}
        span_tags: dict[str, TagValue] = {k: v for k, v in spec.tags.items() if k != "span.kind"}
        if spec.kind:
            span_tags["span.kind"] = spec.kind
        if spec.error:
            span_tags["error"] = True  # OpenTracing's convention: a bool tag, present only on failed spans
        refs = [] if parent is None else [{"refType": "CHILD_OF", "traceID": tid, "spanID": ids[parent]}]
        spans.append({
            "traceID": tid,
            "spanID": ids[pos],
            "flags": 1,
            "operationName": spec.operation,
            "references": refs,
            "startTime": int(spec.start_us),
            "duration": int(spec.duration_us),
            "tags": _tags(span_tags),
            "logs": [{"timestamp": int(ts), "fields": _log_fields(fields)} for ts, fields in spec.logs],
            "processID": pid,
            "warnings": None,
        })
    return {"traceID": tid, "spans": spans, "processes": processes, "warnings": None}


# ----------------------------------------------------------------------------------------- query
def span_service(trace: Mapping[str, Any], span: Mapping[str, Any]) -> str:
    """The service of a span, whether the trace uses a processes map (search results) or inline processes."""
    process = span.get("process") or trace.get("processes", {}).get(span.get("processID", ""), {})
    return str(process.get("serviceName", ""))


def _process(trace: Mapping[str, Any], span: Mapping[str, Any]) -> Mapping[str, Any]:
    return span.get("process") or trace.get("processes", {}).get(span.get("processID", ""), {})


def parent_span_id(span: Mapping[str, Any]) -> str | None:
    for ref in span.get("references") or ():
        if ref.get("refType") == "CHILD_OF":
            return str(ref.get("spanID"))
    return None


def trace_start_us(trace: Mapping[str, Any]) -> int:
    return min((int(s["startTime"]) for s in trace.get("spans", ())), default=0)


def span_matches(trace: Mapping[str, Any], span: Mapping[str, Any], query: TraceQuery) -> bool:
    """Jaeger's memory store rule (validSpan): service, operation, duration and start bounds, and every
    queried tag found, as a string, among the span's tags, its process' tags or its log fields."""
    if query.service and span_service(trace, span) != query.service:
        return False
    if query.operation and span.get("operationName") != query.operation:
        return False
    duration, start = int(span.get("duration", 0)), int(span.get("startTime", 0))
    if query.min_duration_us is not None and duration < query.min_duration_us:
        return False
    if query.max_duration_us is not None and duration > query.max_duration_us:
        return False
    if query.start_us and start < query.start_us:
        return False
    if query.end_us and start > query.end_us:
        return False
    if not query.tags:
        return True
    kvs = [*(span.get("tags") or ()), *(_process(trace, span).get("tags") or ())]
    for log in span.get("logs") or ():
        kvs.extend(log.get("fields") or ())
    return all(any(kv.get("key") == k and tag_string(kv.get("value")) == str(v) for kv in kvs)
               for k, v in query.tags.items())


def matches(trace: Mapping[str, Any], query: TraceQuery) -> bool:
    """Does the trace have a span of ``query.service`` matching the operation, tags (``error=true``,
    ``http.status_code=500``: compared as strings), duration bounds and, when set (non-zero), the
    ``start_us``/``end_us`` window on the span's start? The limit is the caller's business."""
    return any(span_matches(trace, span, query) for span in trace.get("spans", ()))
