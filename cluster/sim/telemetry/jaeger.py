"""Jaeger's HTTP query API (what the Jaeger UI and AIOpsLab's ``trace_api`` call) over a ``TraceSource``.

Routes, mounted under ``prefix`` (like ``jaeger-query --query.base-path``) and unauthenticated, as a
port-forwarded Jaeger is:

    GET /api/services                              service names
    GET /api/services/{service}/operations         operation names of a service
    GET /api/operations?service=&spanKind=         [{name, spanKind}]
    GET /api/traces?service=&operation=&tags=&tag=&lookback=&start=&end=&minDuration=&maxDuration=&limit=
    GET /api/traces?traceID=..&traceID=..          those traces; missing ones are listed in errors
    GET /api/traces/{traceID}                      one trace (404 when unknown)
    GET /api/dependencies?endTs=&lookback=&service=  [{parent, child, callCount}] (milliseconds, as Jaeger)

Every answer is Jaeger's envelope ``{"data", "total", "limit", "offset", "errors"}``; failures carry
``errors: [{"code", "msg"}]`` with the same HTTP status, and messages follow jaeger-query's wording.

Departures from jaeger-query, each deliberate: ``lookback`` (``1h``, ``2d``, ``540s``; ``custom`` means "use
start/end") sets the search window when ``start`` is absent, since jaeger-query ignores it and AIOpsLab relies on
it; the default search limit is 20 (the UI's) and is capped; dependencies are computed from a bounded sample
of the newest traces in the window rather than by a batch job.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cluster.sim.telemetry.sources import TraceQuery, TraceSource
from cluster.sim.telemetry.traces import (
    SPAN_KINDS,
    normalize_trace_id,
    parent_span_id,
    span_service,
    tag_string,
    trace_start_us,
)

log = logging.getLogger("aoi.sim.jaeger")

DEFAULT_LIMIT = 20  # the Jaeger UI's default "Limit Results"
MAX_LIMIT = 5000  # a source synthesizes every trace it returns, so one request must stay bounded
DEFAULT_LOOKBACK_US = 2 * 24 * 3600 * 1_000_000  # jaeger-query's --query.lookback default (2 days)
DEFAULT_DEPENDENCY_LOOKBACK_MS = 24 * 3600 * 1000  # jaeger-query's default for /api/dependencies
DEPENDENCY_TRACES_PER_SERVICE = 50  # newest traces sampled per service to build the dependency graph ...
DEPENDENCY_MAX_TRACES = 400  # ... and in all, so the endpoint costs the same whatever the window
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

ENDPOINTS = ("/api/services", "/api/services/{service}/operations", "/api/operations?service=",
             "/api/traces?service=", "/api/traces/{traceID}", "/api/dependencies")


class JaegerError(Exception):
    def __init__(self, code: int, msg: str):
        super().__init__(msg)
        self.code, self.msg = code, msg


# ---------------------------------------------------------------------------------------- responses
def _envelope(data: Any, total: int = 0, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}


def _json(request: Request, body: Any, code: int = 200) -> Response:
    pretty = request.query_params.get("prettyPrint", "").lower() in ("true", "1", "t")
    option = orjson.OPT_INDENT_2 if pretty else 0
    return Response(orjson.dumps(body, option=option), status_code=code, media_type="application/json")


def _error(request: Request, e: JaegerError) -> Response:
    return _json(request, _envelope(None, errors=[{"code": e.code, "msg": e.msg}]), e.code)


# ------------------------------------------------------------------------------------------ parsing
def _first(request: Request, name: str) -> str:
    """Go's FormValue: the first value of a repeated parameter ('' when absent)."""
    values = request.query_params.getlist(name)
    return values[0].strip() if values else ""


_UNITS_US = {"ns": 1e-3, "us": 1.0, "µs": 1.0, "μs": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)([a-zµμ]+)")


def parse_duration_us(text: str, *, allow_days: bool = False) -> int:
    """Go's time.ParseDuration ("100ms", "1.5s", "2m", "1h30m") in microseconds, non-negative only;
    ``allow_days`` adds "d" (24h), which the Jaeger UI's lookback choices use."""
    s = text.strip()
    if s == "0":
        return 0
    if s.startswith("+"):
        s = s[1:]
    if s.startswith("-"):
        raise ValueError(f"time: negative duration {text!r} is not allowed here")
    units = dict(_UNITS_US, d=86400e6) if allow_days else _UNITS_US
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            break
        number, unit = m.groups()
        if unit not in units:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += float(number) * units[unit]
        pos = m.end()
    if pos == 0 or pos != len(s):
        if re.fullmatch(r"\d+\.?\d*", s):
            raise ValueError(f'time: missing unit in duration "{text}" (use ns, us, ms, s, m or h)')
        raise ValueError(f'time: invalid duration "{text}"')
    return round(total)


def _duration_param(request: Request, name: str, *, allow_days: bool = False) -> int | None:
    value = _first(request, name)
    if not value:
        return None
    try:
        return parse_duration_us(value, allow_days=allow_days)
    except ValueError as e:
        raise JaegerError(400, f"unable to parse param '{name}': {e}") from e


def _int_param(request: Request, name: str, what: str) -> int | None:
    value = _first(request, name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError as e:
        raise JaegerError(400, f'unable to parse param \'{name}\': strconv.ParseInt: parsing "{value}": '
                               f"invalid syntax (expected {what})") from e


def _tags(request: Request) -> dict[str, str]:
    tags: dict[str, str] = {}
    for t in request.query_params.getlist("tag"):  # tag=key:value, repeatable
        key, sep, value = t.partition(":")
        if not sep:
            raise JaegerError(400, f"malformed 'tag' parameter, expecting key:value, received: {t}")
        tags[key] = value
    for raw in request.query_params.getlist("tags"):  # tags={"error":"true","http.status_code":"500"}
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise JaegerError(400, f"malformed 'tags' parameter, cannot unmarshal JSON: {e}") from e
        if not isinstance(obj, dict):
            raise JaegerError(400, "malformed 'tags' parameter, cannot unmarshal JSON: expected an object like "
                                   '{"error":"true"}')
        for k, v in obj.items():
            # jaeger-query wants string values; scalars such as {"error": true} are accepted as their strings.
            if isinstance(v, dict | list) or v is None:
                raise JaegerError(400, f"malformed 'tags' parameter, cannot unmarshal JSON: the value of {k!r} "
                                       "must be a string")
            tags[str(k)] = tag_string(v)
    return tags


def _trace_id(raw: str) -> str:
    try:
        return normalize_trace_id(raw)
    except ValueError as e:
        if len(raw.strip()) > 32:
            raise JaegerError(400, f"TraceID cannot be longer than 32 hex characters: {raw}") from e
        raise JaegerError(400, f'strconv.ParseUint: parsing "{raw}": invalid syntax (a trace ID is 16 or 32 '
                               "hex characters)") from e


def search_query(request: Request, now_us: int) -> TraceQuery:
    """The TraceQuery a ``/api/traces`` request asks for (service presence is checked by the caller)."""
    end = _int_param(request, "end", "Unix microseconds")
    start = _int_param(request, "start", "Unix microseconds")
    end_us = now_us if end is None else end
    lookback_text = _first(request, "lookback")
    lookback = None if lookback_text in ("", "custom") else _duration_param(request, "lookback", allow_days=True)
    start_us = start if start is not None else end_us - (DEFAULT_LOOKBACK_US if lookback is None else lookback)
    tags = _tags(request)
    limit = _int_param(request, "limit", "an integer")
    min_d = _duration_param(request, "minDuration")
    max_d = _duration_param(request, "maxDuration") or None  # 0 means "no bound" in jaeger-query
    if min_d is not None and max_d is not None and max_d < min_d:
        raise JaegerError(400, "'maxDuration' should be greater than 'minDuration'")
    return TraceQuery(
        service=_first(request, "service"),
        operation=_first(request, "operation") or None,
        tags=tags,
        start_us=max(start_us, 0),
        end_us=end_us,
        min_duration_us=min_d or None,
        max_duration_us=max_d,
        limit=DEFAULT_LIMIT if limit is None or limit <= 0 else min(limit, MAX_LIMIT),
    )


def _dependency_lookback_ms(value: str) -> int:
    """Jaeger wants integer milliseconds here; a Go duration ("1h") is accepted too, since the trace search's
    lookback takes that form and callers mix the two up."""
    if not value:
        return DEFAULT_DEPENDENCY_LOOKBACK_MS
    try:
        ms = int(value) if re.fullmatch(r"[-+]?\d+", value) else parse_duration_us(value, allow_days=True) // 1000
    except ValueError as e:
        raise JaegerError(400, f"unable to parse param 'lookback': {e} (milliseconds, e.g. 3600000)") from e
    if ms < 0:
        raise JaegerError(400, "unable to parse param 'lookback': must not be negative (milliseconds)")
    return ms


# ----------------------------------------------------------------------------------------- lookups
def _get_trace(source: TraceSource, trace_id: str) -> dict | None:
    """Sources may key traces by the 16- or 32-hex spelling; try the canonical one, then the padded one."""
    for candidate in dict.fromkeys((trace_id, trace_id.zfill(32))):
        trace = source.get_trace(candidate)
        if trace is not None:
            return trace
    return None


def dependency_links(source: TraceSource, start_us: int, end_us: int) -> list[dict[str, Any]]:
    """Caller -> callee service edges with call counts, from the newest traces of each service in the window
    (bounded by DEPENDENCY_TRACES_PER_SERVICE and DEPENDENCY_MAX_TRACES); same-service calls are skipped,
    as in Jaeger's memory store."""
    traces: dict[str, dict] = {}
    for service in source.services():
        if len(traces) >= DEPENDENCY_MAX_TRACES:
            break
        query = TraceQuery(service=service, start_us=start_us, end_us=end_us, limit=DEPENDENCY_TRACES_PER_SERVICE)
        for trace in source.find_traces(query)[:DEPENDENCY_TRACES_PER_SERVICE]:
            traces.setdefault(str(trace.get("traceID")), trace)
    counts: dict[tuple[str, str], int] = {}
    for trace in list(traces.values())[:DEPENDENCY_MAX_TRACES]:
        by_id = {str(s.get("spanID")): s for s in trace.get("spans", ())}
        for span in by_id.values():
            parent = by_id.get(parent_span_id(span) or "")
            if parent is None:
                continue
            caller, callee = span_service(trace, parent), span_service(trace, span)
            if caller != callee:
                counts[(caller, callee)] = counts.get((caller, callee), 0) + 1
    return [{"parent": p, "child": c, "callCount": n} for (p, c), n in sorted(counts.items())]


# ---------------------------------------------------------------------------------------- handlers
class JaegerQueryApi:
    def __init__(self, source: TraceSource):
        self.source = source

    def services(self, request: Request) -> Response:
        names = sorted(set(self.source.services()))
        return _json(request, _envelope(names, len(names)))

    def operations_legacy(self, request: Request) -> Response:
        service = request.path_params["service"]
        names = sorted({name for name, _kind in self.source.operations(service)})
        return _json(request, _envelope(names, len(names)))

    def operations(self, request: Request) -> Response:
        service = _first(request, "service")
        if not service:
            raise JaegerError(400, "parameter 'service' is required")
        kind = _first(request, "spanKind").lower()
        if kind and kind not in SPAN_KINDS:
            raise JaegerError(400, f"unsupported spanKind {kind!r}: use one of {', '.join(SPAN_KINDS)}")
        ops = sorted(set(self.source.operations(service)))
        data = [{"name": name, "spanKind": k} for name, k in ops if not kind or k == kind]
        return _json(request, _envelope(data, len(data)))

    def search(self, request: Request) -> Response:
        raw_ids = request.query_params.getlist("traceID")
        ids = [_trace_id(raw) for raw in raw_ids]
        query = search_query(request, self.source.now_us())
        if ids:  # jaeger-query: explicit trace ids win over every other criterion
            found, errors = [], []
            for tid in ids:
                trace = _get_trace(self.source, tid)
                if trace is None:
                    errors.append({"msg": "trace not found", "traceID": tid})
                else:
                    found.append(trace)
            return _json(request, _envelope(found, errors=errors or None))
        if not query.service:
            raise JaegerError(400, "parameter 'service' is required (e.g. /api/traces?service=frontend&"
                                   "lookback=1h; list services at /api/services)")
        if query.end_us < query.start_us:
            return _json(request, _envelope([]))
        traces = self.source.find_traces(query)[:query.limit]
        traces.sort(key=trace_start_us, reverse=True)  # newest first, whatever order the source kept
        return _json(request, _envelope(traces))

    def trace(self, request: Request) -> Response:
        tid = _trace_id(request.path_params["trace_id"])
        trace = _get_trace(self.source, tid)
        if trace is None:
            raise JaegerError(404, "trace not found")
        return _json(request, _envelope([trace]))

    def dependencies(self, request: Request) -> Response:
        end_ms = _int_param(request, "endTs", "Unix milliseconds")
        if end_ms is None:
            end_ms = self.source.now_us() // 1000
        lookback_ms = _dependency_lookback_ms(_first(request, "lookback"))
        links = dependency_links(self.source, max(end_ms - lookback_ms, 0) * 1000, end_ms * 1000)
        service = _first(request, "service")
        if service:
            links = [link for link in links if service in (link["parent"], link["child"])]
        return _json(request, _envelope(links))

    def not_found(self, request: Request) -> Response:
        raise JaegerError(404, f"404 page not found: {request.url.path}; the Jaeger query API serves "
                               + ", ".join(ENDPOINTS))


def _endpoint(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """A sync Starlette endpoint (run in the threadpool: sources may synthesize traces or take the cluster lock)
    that answers every failure in Jaeger's envelope."""

    def endpoint(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _error(request, JaegerError(405, f"method {request.method} not allowed: the Jaeger query "
                                                    "API is read-only (GET)"))
        try:
            return handler(request)
        except JaegerError as e:
            return _error(request, e)
        except Exception as e:  # a source bug answers 500 in Jaeger's format rather than dropping the connection
            log.exception("jaeger query API failed on %s", request.url.path)
            return _error(request, JaegerError(500, f"internal error: {type(e).__name__}: {e}"))

    return endpoint


def jaeger_routes(source: TraceSource, prefix: str = "/jaeger") -> list[Route]:
    """Starlette routes serving Jaeger's query API for ``source`` under ``prefix`` (no authentication).

    Routes accept every method so a POST gets Jaeger's 405 instead of falling through to the Kubernetes
    catch-all; with a non-empty prefix, unknown ``{prefix}/api/...`` paths get a Jaeger-style 404.
    """
    api = JaegerQueryApi(source)
    p = prefix.rstrip("/")
    table: list[tuple[str, Callable[[Request], Response]]] = [
        ("/api/services", api.services),
        ("/api/services/{service}/operations", api.operations_legacy),
        ("/api/operations", api.operations),
        ("/api/traces", api.search),
        ("/api/traces/{trace_id}", api.trace),
        ("/api/dependencies", api.dependencies),
    ]
    if p:  # never shadow Kubernetes' own /api/... when mounted at the root
        table.append(("/api/{rest:path}", api.not_found))
    return [Route(p + path, _endpoint(handler), methods=ALL_METHODS) for path, handler in table]
