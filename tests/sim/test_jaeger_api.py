"""Jaeger query API over HTTPS (mounted in the simulator's app like a port-forwarded Jaeger) and the trace
helpers, against a small in-memory TraceSource built with build_trace."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from cluster.sim import SimCluster, SimConfig
from cluster.sim.server import SimServer
from cluster.sim.telemetry.jaeger import DEFAULT_LIMIT, jaeger_routes, parse_duration_us
from cluster.sim.telemetry.sources import TraceQuery
from cluster.sim.telemetry.traces import SpanSpec, build_trace, matches, normalize_trace_id, span_ids

S = 1_000_000  # microseconds per second
NOW = 1_700_000_000 * S
ENVELOPE_KEYS = ["data", "total", "limit", "offset", "errors"]


def _tid(n: int) -> str:
    return f"{(0x07F3A1C << 100) | (0xABCDEF00 + n):032x}"  # a non-zero high half: 32 hex


def _process_tags(service: str) -> dict[str, str]:
    return {"hostname": f"{service}-pod", "ip": "10.244.0.9", "jaeger.version": "Go-2.30.0"}


def hotels(tid: str, start: int, total_ms: int = 120, search_ms: int = 80) -> dict:
    """frontend -> search -> (geo, rate), with a frontend client span in between, as go-grpc clients emit."""
    geo = SpanSpec("geo", "/geo.Geo/Nearby", "server", start + 20_000, 20_000)
    rate = SpanSpec("rate", "/rate.Rate/GetRates", "server", start + 45_000, 30_000)
    search = SpanSpec("search", "/search.Search/Nearby", "server", start + 11_000, search_ms * 1000,
                      children=(geo, rate))
    call = SpanSpec("frontend", "/search.Search/Nearby", "client", start + 10_000, search_ms * 1000 + 2000,
                    children=(search,))
    root = SpanSpec("frontend", "HTTP GET /hotels", "server", start, total_ms * 1000,
                    tags={"http.method": "GET", "http.status_code": 200, "http.url": "/hotels?inDate=2015-04-09"},
                    children=(call,))
    return build_trace(tid, root, _process_tags)


def failing_login(tid: str, start: int) -> dict:
    user = SpanSpec("user", "/user.User/CheckUser", "server", start + 5000, 3000, error=True,
                    logs=((start + 7000, {"message": "connection refused", "event": "error"}),))
    root = SpanSpec("frontend", "HTTP POST /user", "server", start, 10_000, error=True,
                    tags={"http.method": "POST", "http.status_code": 500, "retry.ratio": 0.25},
                    children=(user,))
    return build_trace(tid, root, _process_tags)


def recommendation(tid: str, start: int) -> dict:
    rec = SpanSpec("recommendation", "/recommendation.Recommendation/GetRecommendations", "server",
                   start + 1000, 4000)
    return build_trace(tid, SpanSpec("frontend", "HTTP GET /recommendations", "server", start, 6000,
                                     children=(rec,)))


def reservation(tid: str, start: int) -> dict:
    res = SpanSpec("reservation", "/reservation.Reservation/MakeReservation", "server", start + 1000, 9000)
    return build_trace(tid, SpanSpec("frontend", "HTTP POST /reservation", "server", start, 12_000,
                                     children=(res,)))


class MemorySource:
    """A TraceSource over a fixed list of traces; it records the queries the API hands it."""

    def __init__(self, traces: list[dict], now_us: int):
        self.traces = sorted(traces, key=lambda t: min(s["startTime"] for s in t["spans"]), reverse=True)
        self.by_id = {t["traceID"]: t for t in traces}
        self.now = now_us
        self.queries: list[TraceQuery] = []

    def now_us(self) -> int:
        return self.now

    def _spans(self) -> Iterator[tuple[str, dict]]:
        for t in self.traces:
            for s in t["spans"]:
                yield t["processes"][s["processID"]]["serviceName"], s

    def services(self) -> list[str]:
        return sorted({svc for svc, _ in self._spans()})

    def operations(self, service: str) -> list[tuple[str, str]]:
        out = set()
        for svc, s in self._spans():
            if svc == service:
                kind = next((t["value"] for t in s["tags"] if t["key"] == "span.kind"), "")
                out.add((s["operationName"], kind))
        return sorted(out)

    def find_traces(self, query: TraceQuery) -> list[dict]:
        self.queries.append(query)
        return [t for t in self.traces if matches(t, query)][:query.limit]

    def get_trace(self, trace_id: str) -> dict | None:
        return self.by_id.get(trace_id)


class BrokenSource(MemorySource):
    def services(self) -> list[str]:
        raise RuntimeError("generator exploded")


T_HOTELS, T_LOGIN, T_SLOW, T_OLD = _tid(1), _tid(2), _tid(3), _tid(4)
RECS = [_tid(100 + i) for i in range(25)]


def _dataset() -> list[dict]:
    return [
        hotels(T_HOTELS, NOW - 600 * S),
        failing_login(T_LOGIN, NOW - 1800 * S),
        hotels(T_SLOW, NOW - 3 * 3600 * S, total_ms=2500, search_ms=2400),
        reservation(T_OLD, NOW - 3 * 86400 * S),
        *(recommendation(tid, NOW - (i + 1) * S) for i, tid in enumerate(RECS)),
    ]


@pytest.fixture(scope="module")
def source() -> MemorySource:
    return MemorySource(_dataset(), NOW)


@pytest.fixture(scope="module")
def server(source: MemorySource, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    routes = [*jaeger_routes(source), *jaeger_routes(BrokenSource([], NOW), prefix="/broken")]
    srv = SimServer(SimCluster(SimConfig(seed=5)), kubeconfig=tmp_path_factory.mktemp("jaeger") / "kubeconfig",
                    extra_routes=routes).start()
    yield srv
    srv.stop()


def call(server: SimServer, path: str, params: dict[str, Any] | list[tuple[str, Any]] | None = None,
         method: str = "GET") -> tuple[int, Any]:
    """No Authorization header: the Jaeger API must be reachable without the cluster's token."""
    url = server.url + path + (("?" + urllib.parse.urlencode(params)) if params else "")
    ctx = ssl.create_default_context(cadata=server.ca_pem.decode())
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            assert resp.headers["content-type"].startswith("application/json")
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def ok(server: SimServer, path: str, params: dict[str, Any] | list[tuple[str, Any]] | None = None) -> Any:
    code, body = call(server, path, params)
    assert code == 200, body
    assert list(body) == ENVELOPE_KEYS
    assert body["limit"] == 0 and body["offset"] == 0
    return body


def error(server: SimServer, path: str, params: dict[str, Any] | None = None, code: int = 400) -> str:
    got, body = call(server, path, params)
    assert got == code, body
    assert body == {"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": code, "msg": body[
        "errors"][0]["msg"]}]}
    return body["errors"][0]["msg"]


def ids(body: dict) -> list[str]:
    return [t["traceID"] for t in body["data"]]


# ------------------------------------------------------------------------------------------ traces.py
def test_build_trace_is_jaeger_json() -> None:
    trace = failing_login(T_LOGIN, NOW)
    assert list(trace) == ["traceID", "spans", "processes", "warnings"]
    assert trace["traceID"] == T_LOGIN and len(T_LOGIN) == 32 and trace["warnings"] is None
    root, user = trace["spans"]
    assert root["spanID"] == T_LOGIN[-16:]  # jaeger-client-go: the root span id is the trace id's low half
    assert len(user["spanID"]) == 16 and int(user["spanID"], 16) != 0
    assert root["references"] == []
    assert user["references"] == [{"refType": "CHILD_OF", "traceID": T_LOGIN, "spanID": root["spanID"]}]
    assert (root["startTime"], root["duration"], root["flags"], root["warnings"]) == (NOW, 10_000, 1, None)
    assert root["tags"] == [
        {"key": "error", "type": "bool", "value": True},
        {"key": "http.method", "type": "string", "value": "POST"},
        {"key": "http.status_code", "type": "int64", "value": 500},
        {"key": "retry.ratio", "type": "float64", "value": 0.25},
        {"key": "span.kind", "type": "string", "value": "server"},
    ]
    assert user["logs"] == [{"timestamp": NOW + 7000, "fields": [
        {"key": "event", "type": "string", "value": "error"},
        {"key": "message", "type": "string", "value": "connection refused"}]}]
    assert root["processID"] == "p1" and user["processID"] == "p2"
    assert trace["processes"]["p2"] == {"serviceName": "user", "tags": [
        {"key": "hostname", "type": "string", "value": "user-pod"},
        {"key": "ip", "type": "string", "value": "10.244.0.9"},
        {"key": "jaeger.version", "type": "string", "value": "Go-2.30.0"}]}
    assert set(root) == {"traceID", "spanID", "flags", "operationName", "references", "startTime", "duration",
                         "tags", "logs", "processID", "warnings"}


def test_build_trace_shares_processes_and_ids_are_deterministic() -> None:
    trace = hotels(T_HOTELS, NOW)
    services = [trace["processes"][s["processID"]]["serviceName"] for s in trace["spans"]]
    assert services == ["frontend", "frontend", "search", "geo", "rate"]  # pre-order, root first
    assert len(trace["processes"]) == 4 and trace["spans"][0]["processID"] == trace["spans"][1]["processID"]
    assert [s["spanID"] for s in trace["spans"]] == span_ids(T_HOTELS, 5)
    assert hotels(T_HOTELS, NOW) == trace
    ids5 = span_ids("ABCDEF0123456789", 5)
    assert len(set(ids5)) == 5 and all(len(i) == 16 for i in ids5) and ids5[0] == "abcdef0123456789"
    assert span_ids("abcdef0123456789", 3) == ids5[:3]


def test_build_trace_default_process_tags_and_short_ids() -> None:
    trace = recommendation("00000000000000000000000000c0ffee", NOW)
    assert trace["traceID"] == "0000000000c0ffee"  # Jaeger drops the zero high half: 16 hex
    tags = {t["key"]: t["value"] for t in trace["processes"]["p1"]["tags"]}
    assert tags["hostname"].startswith("frontend-") and tags["ip"].startswith("10.244.")
    assert tags["jaeger.version"].startswith("Go-") and len(tags["client-uuid"]) == 16
    assert normalize_trace_id("C0FFEE") == "0000000000c0ffee"
    with pytest.raises(ValueError):
        normalize_trace_id("xyz")
    with pytest.raises(ValueError):
        build_trace(T_HOTELS, SpanSpec("a", "op", "server", NOW, -1))


def test_matches_tags_durations_and_window() -> None:
    login = failing_login(T_LOGIN, NOW)
    assert matches(login, TraceQuery("frontend"))
    assert not matches(login, TraceQuery("geo"))
    assert matches(login, TraceQuery("frontend", tags={"error": "true", "http.status_code": "500"}))
    assert matches(login, TraceQuery("frontend", tags={"retry.ratio": "0.25"}))
    assert not matches(login, TraceQuery("frontend", tags={"http.status_code": "200"}))
    assert matches(login, TraceQuery("user", tags={"event": "error"}))  # log fields count, as in Jaeger
    assert matches(login, TraceQuery("user", tags={"hostname": "user-pod"}))  # and process tags
    assert not matches(login, TraceQuery("frontend", tags={"hostname": "user-pod"}))  # of that span's process
    assert matches(login, TraceQuery("user", operation="/user.User/CheckUser", min_duration_us=3000,
                                     max_duration_us=3000))
    assert not matches(login, TraceQuery("user", min_duration_us=3001))
    assert not matches(login, TraceQuery("frontend", operation="HTTP GET /hotels"))
    assert matches(login, TraceQuery("user", start_us=NOW + 5000, end_us=NOW + 5000))
    assert not matches(login, TraceQuery("frontend", start_us=NOW + 1))


def test_parse_duration() -> None:
    assert parse_duration_us("100ms") == 100_000
    assert parse_duration_us("1.5s") == 1_500_000
    assert parse_duration_us("2m") == 120 * S
    assert parse_duration_us("1h30m") == 5400 * S
    assert parse_duration_us("250us") == parse_duration_us("250µs") == 250
    assert parse_duration_us("0") == 0
    assert parse_duration_us("2d", allow_days=True) == 2 * 86400 * S
    for bad in ("2d", "100", "ms", "1x", "-1s", "1s2"):
        with pytest.raises(ValueError):
            parse_duration_us(bad)


def test_routes_under_prefix() -> None:
    src = MemorySource([], NOW)
    assert jaeger_routes(src)[0].path == "/jaeger/api/services"
    root = [r.path for r in jaeger_routes(src, prefix="")]
    assert "/api/traces/{trace_id}" in root and not any("{rest" in p for p in root)  # never shadow /api/v1


# ------------------------------------------------------------------------------------ HTTP endpoints
def test_services(server: SimServer) -> None:
    body = ok(server, "/jaeger/api/services")
    assert body == {"data": ["frontend", "geo", "rate", "recommendation", "reservation", "search", "user"],
                    "total": 7, "limit": 0, "offset": 0, "errors": None}


def test_service_operations(server: SimServer) -> None:
    body = ok(server, "/jaeger/api/services/frontend/operations")
    assert body["data"] == ["/search.Search/Nearby", "HTTP GET /hotels", "HTTP GET /recommendations",
                            "HTTP POST /reservation", "HTTP POST /user"]
    assert body["total"] == 5
    assert ok(server, "/jaeger/api/services/nope/operations")["data"] == []


def test_operations_with_span_kind(server: SimServer) -> None:
    body = ok(server, "/jaeger/api/operations", {"service": "frontend"})
    assert {"name": "/search.Search/Nearby", "spanKind": "client"} in body["data"]
    assert body["total"] == 5
    clients = ok(server, "/jaeger/api/operations", {"service": "frontend", "spanKind": "client"})
    assert clients["data"] == [{"name": "/search.Search/Nearby", "spanKind": "client"}]
    assert error(server, "/jaeger/api/operations") == "parameter 'service' is required"
    assert "spanKind" in error(server, "/jaeger/api/operations", {"service": "frontend", "spanKind": "weird"})


def test_traces_need_a_service(server: SimServer) -> None:
    code, body = call(server, "/jaeger/api/traces", {"lookback": "1h"})
    assert code == 400
    assert body["data"] is None and body["errors"][0]["code"] == 400
    assert body["errors"][0]["msg"].startswith("parameter 'service' is required")
    assert list(body) == ENVELOPE_KEYS


def test_traces_default_window_and_limit(server: SimServer, source: MemorySource) -> None:
    body = ok(server, "/jaeger/api/traces", {"service": "frontend"})
    assert ids(body) == RECS[:DEFAULT_LIMIT]  # newest first
    assert body["total"] == 0 and body["errors"] is None
    q = source.queries[-1]
    assert (q.service, q.limit, q.end_us, q.start_us) == ("frontend", 20, NOW, NOW - 2 * 86400 * S)
    starts = [t["spans"][0]["startTime"] for t in body["data"]]
    assert starts == sorted(starts, reverse=True)


def test_traces_limit(server: SimServer) -> None:
    assert ids(ok(server, "/jaeger/api/traces", {"service": "frontend", "limit": 3})) == RECS[:3]
    everything = ids(ok(server, "/jaeger/api/traces", {"service": "frontend", "limit": 100}))
    assert len(everything) == 28 and T_OLD not in everything  # 2 days back by default
    assert "'limit'" in error(server, "/jaeger/api/traces", {"service": "frontend", "limit": "many"})


def test_traces_lookback(server: SimServer) -> None:
    hour = ids(ok(server, "/jaeger/api/traces", {"service": "frontend", "lookback": "1h", "limit": 100}))
    assert T_HOTELS in hour and T_LOGIN in hour and T_SLOW not in hour
    assert ids(ok(server, "/jaeger/api/traces", {"service": "search", "lookback": "900s"})) == [T_HOTELS]
    assert ok(server, "/jaeger/api/traces", {"service": "search", "lookback": "540s"})["data"] == []
    four_days = ids(ok(server, "/jaeger/api/traces", {"service": "reservation", "lookback": "4d"}))
    assert four_days == [T_OLD]
    assert ok(server, "/jaeger/api/traces", {"service": "reservation", "lookback": "2d"})["data"] == []
    assert "'lookback'" in error(server, "/jaeger/api/traces", {"service": "frontend", "lookback": "lots"})


def test_traces_start_end(server: SimServer) -> None:
    params = {"service": "frontend", "start": NOW - 4 * 3600 * S, "end": NOW - 3600 * S, "lookback": "custom"}
    assert ids(ok(server, "/jaeger/api/traces", params)) == [T_SLOW]
    old = {"service": "frontend", "start": NOW - 4 * 86400 * S, "end": NOW - 2 * 86400 * S}
    assert ids(ok(server, "/jaeger/api/traces", old)) == [T_OLD]
    backwards = {"service": "frontend", "start": NOW, "end": NOW - S}
    assert ok(server, "/jaeger/api/traces", backwards)["data"] == []
    assert "'start'" in error(server, "/jaeger/api/traces", {"service": "frontend", "start": "yesterday"})


def test_traces_by_operation_and_tags(server: SimServer) -> None:
    base = {"service": "frontend", "limit": 100}
    assert ids(ok(server, "/jaeger/api/traces", {**base, "operation": "HTTP GET /hotels"})) == [T_HOTELS, T_SLOW]
    assert ids(ok(server, "/jaeger/api/traces", {**base, "tags": '{"error":"true"}'})) == [T_LOGIN]
    assert ids(ok(server, "/jaeger/api/traces", {**base, "tags": '{"error":true}'})) == [T_LOGIN]
    assert ids(ok(server, "/jaeger/api/traces", {**base, "tags": '{"http.status_code":"200"}'})) == [T_HOTELS,
                                                                                                      T_SLOW]
    assert ids(ok(server, "/jaeger/api/traces", [*base.items(), ("tag", "http.status_code:500")])) == [T_LOGIN]
    both = {**base, "tags": '{"error":"true","http.method":"GET"}'}
    assert ok(server, "/jaeger/api/traces", both)["data"] == []
    assert ids(ok(server, "/jaeger/api/traces", {"service": "user", "tags": '{"event":"error"}'})) == [T_LOGIN]
    assert "'tags'" in error(server, "/jaeger/api/traces", {**base, "tags": "error=true"})
    assert "'tag'" in error(server, "/jaeger/api/traces", {**base, "tag": "error"})


def test_traces_by_duration(server: SimServer) -> None:
    base = {"service": "frontend", "limit": 100}
    assert ids(ok(server, "/jaeger/api/traces", {**base, "minDuration": "1s"})) == [T_SLOW]
    assert ids(ok(server, "/jaeger/api/traces", {**base, "minDuration": "1.5s", "maxDuration": "2.5s"})) == [T_SLOW]
    mid = ids(ok(server, "/jaeger/api/traces", {**base, "minDuration": "100ms", "maxDuration": "1m"}))
    assert mid == [T_HOTELS, T_SLOW]  # the slow trace's client span (2.402s) is in range too
    assert ids(ok(server, "/jaeger/api/traces", {"service": "geo", "maxDuration": "20ms"})) == [T_HOTELS, T_SLOW]
    assert ok(server, "/jaeger/api/traces", {"service": "geo", "maxDuration": "19999us"})["data"] == []
    msg = error(server, "/jaeger/api/traces", {**base, "minDuration": "2s", "maxDuration": "1s"})
    assert msg == "'maxDuration' should be greater than 'minDuration'"
    assert "'minDuration'" in error(server, "/jaeger/api/traces", {**base, "minDuration": "100"})


def test_trace_by_id(server: SimServer) -> None:
    body = ok(server, f"/jaeger/api/traces/{T_LOGIN}")
    assert body["errors"] is None and ids(body) == [T_LOGIN]
    assert body["data"][0]["spans"][1]["processID"] in body["data"][0]["processes"]
    assert ids(ok(server, f"/jaeger/api/traces/{T_LOGIN.upper()}")) == [T_LOGIN]
    assert ids(ok(server, f"/jaeger/api/traces/{T_LOGIN.lstrip('0')}")) == [T_LOGIN]
    assert error(server, "/jaeger/api/traces/00000000000000000000000000bad1d5", code=404) == "trace not found"
    assert "invalid syntax" in error(server, "/jaeger/api/traces/not-a-trace")
    assert "longer than 32" in error(server, "/jaeger/api/traces/" + "a" * 33)


def test_search_by_trace_ids(server: SimServer) -> None:
    missing = "00000000000000000000000000bad1d5"
    body = ok(server, "/jaeger/api/traces", [("traceID", T_SLOW), ("traceID", missing)])  # no service needed
    assert ids(body) == [T_SLOW]
    assert body["errors"] == [{"msg": "trace not found", "traceID": "0000000000bad1d5"}]


def test_dependencies(server: SimServer, source: MemorySource) -> None:
    day = ok(server, "/jaeger/api/dependencies", {"endTs": NOW // 1000, "lookback": 86_400_000})
    assert day["data"] == [
        {"parent": "frontend", "child": "recommendation", "callCount": 25},
        {"parent": "frontend", "child": "search", "callCount": 2},
        {"parent": "frontend", "child": "user", "callCount": 1},
        {"parent": "search", "child": "geo", "callCount": 2},
        {"parent": "search", "child": "rate", "callCount": 2},
    ]
    assert ok(server, "/jaeger/api/dependencies")["data"] == day["data"]  # defaults: now, 24h
    assert all(q.limit <= 200 for q in source.queries[-7:])  # bounded sampling per service
    window = {"endTs": (NOW - 100 * S) // 1000, "lookback": 900_000}  # [now-1000s, now-100s]: T_HOTELS alone
    assert ok(server, "/jaeger/api/dependencies", window)["data"] == [
        {"parent": "frontend", "child": "search", "callCount": 1},
        {"parent": "search", "child": "geo", "callCount": 1},
        {"parent": "search", "child": "rate", "callCount": 1},
    ]
    old = ok(server, "/jaeger/api/dependencies", {"endTs": (NOW - 2 * 86400 * S) // 1000, "lookback": "2d"})
    assert old["data"] == [{"parent": "frontend", "child": "reservation", "callCount": 1}]
    only_user = ok(server, "/jaeger/api/dependencies", {"service": "user"})
    assert only_user["data"] == [{"parent": "frontend", "child": "user", "callCount": 1}]
    assert "'endTs'" in error(server, "/jaeger/api/dependencies", {"endTs": "now"})
    assert "'lookback'" in error(server, "/jaeger/api/dependencies", {"lookback": "-5"})


def test_mounted_beside_kubernetes(server: SimServer) -> None:
    code, body = call(server, "/api/v1/namespaces")
    assert code == 401 and body["kind"] == "Status"  # Kubernetes still wants its token
    code, body = call(server, "/jaeger/api/traces", {"service": "frontend"}, method="POST")
    assert code == 405 and body["errors"][0]["code"] == 405
    msg = error(server, "/jaeger/api/spans", code=404)
    assert "/api/traces" in msg
    code, body = call(server, "/jaeger/api/services", {"prettyPrint": "true"})
    assert code == 200 and body["total"] == 7


def test_source_failure_is_a_jaeger_500(server: SimServer) -> None:
    assert "generator exploded" in error(server, "/broken/api/services", code=500)
    assert "generator exploded" in error(server, "/broken/api/dependencies", code=500)
