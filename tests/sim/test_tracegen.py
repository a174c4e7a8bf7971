"""Traces generated from a deployed HotelReservation (a real simulated cluster, no mocks): call-tree shape,
a scaled-down service showing up as errors, latencies against the model, determinism, query bounds, and the
Jaeger HTTP API serving them."""

from __future__ import annotations

import json
import ssl
import statistics
import urllib.request
from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from cluster.sim import SimCluster, SimConfig
from cluster.sim.apps import HOTEL
from cluster.sim.apps.deploy import deploy
from cluster.sim.apps.health import traffic
from cluster.sim.server import SimServer
from cluster.sim.telemetry.jaeger import jaeger_routes
from cluster.sim.telemetry.sources import TraceQuery
from cluster.sim.telemetry.tracegen import AppTraces
from cluster.sim.telemetry.traces import parent_span_id, span_service

NS = HOTEL.namespace
S = 1_000_000
HOTEL_SERVICES = ["frontend", "geo", "profile", "rate", "recommendation", "reservation", "search", "user"]


def hotel(seed: int = 1, warmup: float = 120) -> SimCluster:
    cluster = SimCluster(SimConfig(seed=seed))
    deploy(cluster, HOTEL)
    cluster.advance(warmup)
    return cluster


def scale(cluster: SimCluster, name: str, replicas: int) -> None:
    deployments = cluster.registry.lookup("apps", "v1", "deployments")
    assert deployments is not None
    with cluster.locked():
        cluster.api.patch(deployments, NS, name, "application/merge-patch+json", {"spec": {"replicas": replicas}},
                          subresource=None)


def tags_of(span: Mapping[str, Any]) -> dict[str, Any]:
    return {t["key"]: t["value"] for t in span["tags"]}


def log_messages(span: Mapping[str, Any]) -> list[str]:
    return [str(f["value"]) for log in span["logs"] for f in log["fields"] if f["key"] == "message"]


def spans_by_id(trace: Mapping[str, Any]) -> dict[str, dict]:
    return {s["spanID"]: s for s in trace["spans"]}


@pytest.fixture(scope="module")
def healthy() -> SimCluster:
    return hotel()


@pytest.fixture(scope="module")
def source(healthy: SimCluster) -> AppTraces:
    return AppTraces(healthy, NS)


# ---------------------------------------------------------------------------------------------- shape
def test_frontend_traces_nest_search_and_geo(healthy: SimCluster, source: AppTraces) -> None:
    traces = source.find_traces(TraceQuery(service="frontend", operation="HTTP GET /hotels", limit=5))
    assert len(traces) == 5
    frontend_pods = {p["metadata"]["name"] for p in healthy.store.list("pods", NS)
                     if p["metadata"]["labels"].get("io.kompose.service") == "frontend"}
    for trace in traces:
        assert len(trace["traceID"]) == 16  # jaeger-client-go's 64-bit ids
        by_id = spans_by_id(trace)
        root = trace["spans"][0]
        assert (span_service(trace, root), root["operationName"], parent_span_id(root)) == \
            ("frontend", "HTTP GET /hotels", None)
        assert tags_of(root)["span.kind"] == "server" and tags_of(root)["http.status_code"] == 200
        assert "error" not in tags_of(root)
        # frontend CLIENT span -> search SERVER span -> search CLIENT span -> geo SERVER span -> mongo CLIENT span
        search = next(s for s in trace["spans"]
                      if span_service(trace, s) == "search" and tags_of(s)["span.kind"] == "server")
        call = by_id[parent_span_id(search) or ""]
        assert (span_service(trace, call), call["operationName"], tags_of(call)["span.kind"]) == \
            ("frontend", "/search.Search/Nearby", "client")
        assert parent_span_id(call) == root["spanID"]
        geo = next(s for s in trace["spans"] if span_service(trace, s) == "geo" and tags_of(s)["span.kind"] == "server")
        geo_call = by_id[parent_span_id(geo) or ""]
        assert span_service(trace, geo_call) == "search" and parent_span_id(geo_call) == search["spanID"]
        mongo = next(s for s in trace["spans"] if parent_span_id(s) == geo["spanID"])
        assert mongo["operationName"] == "find" and span_service(trace, mongo) == "geo"
        assert {k: tags_of(mongo)[k] for k in ("db.system", "db.name", "net.peer.name", "span.kind")} == \
            {"db.system": "mongodb", "db.name": "geo-db", "net.peer.name": "mongodb-geo", "span.kind": "client"}
        # no span for a datastore's own service; children lie inside their parents in time
        assert {span_service(trace, s) for s in trace["spans"]} <= set(HOTEL_SERVICES)
        for span in trace["spans"]:
            parent = by_id.get(parent_span_id(span) or "")
            assert span["duration"] > 0
            if parent is not None:
                assert parent["startTime"] <= span["startTime"]
                assert span["startTime"] + span["duration"] <= parent["startTime"] + parent["duration"]
        process = trace["processes"][root["processID"]]
        ptags = tags_of(process)
        assert ptags["hostname"] in frontend_pods and ptags["jaeger.version"].startswith("Go-") and ptags["ip"]
    starts = [t["spans"][0]["startTime"] for t in traces]
    assert starts == sorted(starts, reverse=True) and len(set(starts)) == 5  # newest first


def test_services_and_operations(source: AppTraces) -> None:
    assert source.services() == HOTEL_SERVICES  # no datastores, consul or jaeger
    ops = source.operations("frontend")
    assert ("HTTP GET /hotels", "server") in ops and ("/search.Search/Nearby", "client") in ops
    assert ("find", "client") in source.operations("geo") and ("/geo.Geo/Nearby", "server") in source.operations("geo")
    assert source.operations("mongodb-geo") == [] and source.operations("nope") == []


# ------------------------------------------------------------------------------------------- faults
def test_scaled_down_user_shows_connection_refused() -> None:
    cluster = hotel()
    before_us = AppTraces(cluster, NS).now_us()
    scale(cluster, "user", 0)
    cluster.advance(600)
    source = AppTraces(cluster, NS)
    assert not source.find_traces(TraceQuery(service="frontend", tags={"error": "true"}, end_us=before_us,
                                             limit=50)), "the healthy period has no errors"
    failed = source.find_traces(TraceQuery(service="frontend", tags={"error": "true"}, start_us=before_us + S,
                                           limit=1000))
    assert len(failed) >= 10  # login + reserve are 1% of 10 req/s for ~600 s
    for trace in failed:
        root = trace["spans"][0]
        assert root["operationName"] in ("HTTP POST /user", "HTTP POST /reservation")
        assert tags_of(root)["error"] is True and tags_of(root)["http.status_code"] == 500
        check = next(s for s in trace["spans"] if s["operationName"] == "/user.User/CheckUser")
        assert span_service(trace, check) == "frontend" and tags_of(check)["span.kind"] == "client"
        assert tags_of(check)["error"] is True and tags_of(check)["response_code"] == "Unavailable"
        (message,) = log_messages(check)
        assert "connect: connection refused" in message and ":8086" in message
        assert any("connection refused" in m for m in log_messages(root))
        assert "user" not in {span_service(trace, s) for s in trace["spans"]}  # the failed call is not descended
        assert not any(s["operationName"] == "/reservation.Reservation/MakeReservation" for s in trace["spans"])
    # the tag search also finds the message in the logs, and user's own spans stopped when it went away
    by_message = source.find_traces(TraceQuery(service="frontend", tags={"message": message}, limit=5))
    assert len(by_message) == 5
    assert not source.find_traces(TraceQuery(service="user", start_us=before_us + S, limit=5))
    assert "user" in source.services()  # it received traffic before the scale-down
    # other request types are unaffected
    ok = source.find_traces(TraceQuery(service="frontend", operation="HTTP GET /hotels", start_us=before_us + S,
                                       limit=20))
    assert len(ok) == 20 and not any("error" in tags_of(s) for t in ok for s in t["spans"])


def test_healthy_latency_matches_model(healthy: SimCluster, source: AppTraces) -> None:
    run = healthy.apps.by_namespace[NS]
    snap = run.history.at(healthy.clock.now)
    assert snap is not None
    expected_ms = traffic(HOTEL, snap)["frontend"].by_op["HTTP GET /hotels"][2]
    traces = source.find_traces(TraceQuery(service="frontend", operation="HTTP GET /hotels", limit=400,
                                           start_us=source.now_us() - 100 * S))
    assert len(traces) >= 300
    roots = [t["spans"][0]["duration"] / 1000 for t in traces]
    assert statistics.mean(roots) == pytest.approx(expected_ms, rel=0.12)
    assert min(roots) > 0.3 * expected_ms and max(roots) < 3 * expected_ms  # jitter, not outliers
    geo = [s["duration"] / 1000 for t in traces for s in t["spans"]
           if span_service(t, s) == "geo" and tags_of(s)["span.kind"] == "server"]
    geo_model = traffic(HOTEL, snap)["geo"].by_op["/geo.Geo/Nearby"][2]  # 1.5 ms + mongo 0.8 ms
    assert statistics.mean(geo) == pytest.approx(geo_model, rel=0.12)


# ------------------------------------------------------------------------------------- determinism
def test_same_seed_same_traces_byte_for_byte(source: AppTraces) -> None:
    query = TraceQuery(service="frontend", limit=50)
    first = orjson.dumps(source.find_traces(query))
    again = orjson.dumps(AppTraces(hotel(), NS).find_traces(query))
    assert first == again
    other = AppTraces(hotel(seed=2), NS).find_traces(query)
    assert {t["traceID"] for t in other}.isdisjoint(t["traceID"] for t in orjson.loads(first))


def test_get_trace_round_trip(source: AppTraces) -> None:
    (trace,) = source.find_traces(TraceQuery(service="search", limit=1))
    assert source.get_trace(trace["traceID"]) == trace
    assert source.get_trace(trace["traceID"].zfill(32)) == trace  # the padded spelling Jaeger also accepts
    assert source.get_trace("1") is None and source.get_trace(f"{int(trace['traceID'], 16) ^ 1:016x}") is None


# ------------------------------------------------------------------------------------------ queries
def test_query_limit_window_and_durations(source: AppTraces) -> None:
    now = source.now_us()
    window = source.find_traces(TraceQuery(service="frontend", start_us=now - 10 * S, end_us=now - 5 * S,
                                           limit=1000))
    assert 35 <= len(window) <= 65  # about 10 requests per second
    assert all(now - 10 * S <= t["spans"][0]["startTime"] <= now - 5 * S for t in window)
    limited = source.find_traces(TraceQuery(service="frontend", start_us=now - 10 * S, end_us=now - 5 * S, limit=7))
    assert limited == window[:7]
    slow_bound = sorted(t["spans"][0]["duration"] for t in window)[len(window) // 2]
    slow = source.find_traces(TraceQuery(service="frontend", min_duration_us=slow_bound, start_us=now - 10 * S,
                                         end_us=now - 5 * S, limit=1000))
    assert 0 < len(slow) < len(window)
    assert all(any(span_service(t, s) == "frontend" and s["duration"] >= slow_bound for s in t["spans"])
               for t in slow)
    fast = source.find_traces(TraceQuery(service="geo", max_duration_us=1500, limit=10))
    assert fast and all(any(span_service(t, s) == "geo" and s["duration"] <= 1500 for s in t["spans"])
                        for t in fast)
    assert not source.find_traces(TraceQuery(service="frontend", min_duration_us=60 * S, limit=5))
    assert not source.find_traces(TraceQuery(service="mongodb-geo", limit=5))
    assert not source.find_traces(TraceQuery(service="frontend", start_us=now - 5 * S, end_us=now - 6 * S))
    assert not source.find_traces(TraceQuery(service="frontend", end_us=now - 1000 * S))  # before the deployment
    future = source.find_traces(TraceQuery(service="frontend", start_us=now + S, end_us=now + 100 * S))
    assert future == []


# --------------------------------------------------------------------------------------------- HTTP
def test_served_through_the_jaeger_http_api(healthy: SimCluster) -> None:
    server = SimServer(healthy, extra_routes=jaeger_routes(AppTraces(healthy, NS), prefix="/jaeger"))
    with server:
        context = ssl.create_default_context(cadata=server.ca_pem.decode())

        def get(path: str) -> Any:
            with urllib.request.urlopen(server.url + path, context=context, timeout=30) as response:
                assert response.status == 200
                return json.loads(response.read())

        body = get("/jaeger/api/traces?service=frontend&limit=5")
        services = get("/jaeger/api/services")
    assert body["errors"] is None and len(body["data"]) == 5
    assert all(t["spans"][0]["operationName"].startswith("HTTP ") for t in body["data"])
    assert services["data"] == HOTEL_SERVICES
