"""Prometheus' HTTP API over real HTTP (uvicorn on 127.0.0.1; starlette's TestClient needs httpx, absent here)."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette

from cluster.sim.telemetry.prometheus import PROMETHEUS_VERSION, parse_duration_ms, parse_time_ms, prometheus_routes
from cluster.sim.telemetry.promql import PromQLError
from tests.sim.test_promql import BASE, NOW, FakeMetrics, T

Query = list[tuple[str, str]] | dict[str, str]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    app = Starlette(routes=prometheus_routes(FakeMetrics(), prefix="/prometheus"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/prometheus"
    server.should_exit = True
    thread.join(5)
    sock.close()


def call(url: str, path: str, params: Query | None = None, *, method: str = "GET",
         form: Query | None = None) -> tuple[int, Any]:
    full = url + path + ("?" + urllib.parse.urlencode(params) if params else "")
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(full, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, body, ctype = resp.status, resp.read(), resp.headers.get("content-type", "")
    except urllib.error.HTTPError as e:
        status, body, ctype = e.code, e.read(), e.headers.get("content-type", "")
    return status, json.loads(body) if ctype.startswith("application/json") else body.decode()


def ok(url: str, path: str, params: Query | None = None, **kw: Any) -> Any:
    status, body = call(url, path, params, **kw)
    assert status == 200, body
    assert body["status"] == "success", body
    return body["data"]


def error(url: str, path: str, params: Query | None = None, **kw: Any) -> tuple[int, str, str]:
    status, body = call(url, path, params, **kw)
    assert body["status"] == "error", body
    return status, body["errorType"], body["error"]


# ------------------------------------------------------------------------------------------ queries
def test_instant_query_vector(url: str):
    data = ok(url, "/api/v1/query", {"query": "node_memory_bytes", "time": str(T)})
    assert data == {"resultType": "vector", "result": [
        {"metric": {"__name__": "node_memory_bytes", "instance": "a", "job": "node"}, "value": [T, "1080"]},
        {"metric": {"__name__": "node_memory_bytes", "instance": "b", "job": "node"}, "value": [T, "500"]},
    ]}


def test_instant_query_times(url: str):
    rfc3339 = datetime.fromtimestamp(T, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    by_rfc = ok(url, "/api/v1/query", {"query": "sum(node_memory_bytes)", "time": rfc3339})
    assert by_rfc == {"resultType": "vector", "result": [{"metric": {}, "value": [T, "1580"]}]}
    fractional = ok(url, "/api/v1/query", {"query": "time()", "time": f"{T}.25"})
    assert fractional == {"resultType": "scalar", "result": [T + 0.25, str(T + 0.25)]}
    default = ok(url, "/api/v1/query", {"query": "time()"})  # no time: the source's now
    assert default["result"][0] == NOW


def test_post_form_and_other_result_types(url: str):
    data = ok(url, "/api/v1/query", method="POST", form={"query": "1 + 1", "time": str(T)})
    assert data == {"resultType": "scalar", "result": [T, "2"]}
    data = ok(url, "/api/v1/query", method="POST", form={"query": '"hi"', "time": str(T)})
    assert data == {"resultType": "string", "result": [T, "hi"]}
    data = ok(url, "/api/v1/query", {"query": 'node_memory_bytes{instance="b"}[30s]', "time": str(T)})
    assert data == {"resultType": "matrix", "result": [{
        "metric": {"__name__": "node_memory_bytes", "instance": "b", "job": "node"},
        "values": [[T - 15, "500"], [T, "500"]]}]}


def test_query_range(url: str):
    params = {"query": 'rate(http_requests_total{instance="a"}[5m]) * 0 + 2', "start": str(T), "end": str(T + 120)}
    by_duration = ok(url, "/api/v1/query_range", {**params, "step": "1m"})
    by_seconds = ok(url, "/api/v1/query_range", method="POST", form={**params, "step": "60"})
    assert by_duration == by_seconds == {"resultType": "matrix", "result": [{
        "metric": {"instance": "a", "job": "api", "method": "GET"},
        "values": [[T, "2"], [T + 60, "2"], [T + 120, "2"]]}]}


def test_query_errors(url: str):
    status, kind, msg = error(url, "/api/v1/query", {"query": "sum("})
    assert (status, kind) == (400, "bad_data") and msg.startswith('invalid parameter "query": parse error: ')
    status, kind, msg = error(url, "/api/v1/query", {})
    assert (status, kind) == (400, "bad_data") and "no expression found" in msg
    status, kind, msg = error(url, "/api/v1/query", {"query": "holt_winters(up[5m], 0.1, 0.1)"})
    assert (status, kind) == (400, "bad_data") and "holt_winters" in msg
    status, kind, msg = error(url, "/api/v1/query", {"query": "mad_over_time(up[5m])"})
    assert (status, kind) == (400, "bad_data") and "mad_over_time() is not supported" in msg
    status, kind, msg = error(url, "/api/v1/query", {"query": "kube_pod_info + on(job) http_requests_total",
                                                     "time": str(T)})
    assert (status, kind) == (422, "execution") and "many-to-many matching not allowed" in msg
    assert error(url, "/api/v1/query", {"query": "up", "time": "yesterday"}) == (
        400, "bad_data", 'invalid parameter "time": cannot parse "yesterday" to a valid timestamp')
    assert error(url, "/api/v1/query", {"query": "up", "timeout": "soon"}) == (
        400, "bad_data", 'invalid parameter "timeout": cannot parse "soon" to a valid duration')


def test_query_range_errors(url: str):
    base = {"query": "up", "start": str(BASE), "end": str(NOW)}
    assert error(url, "/api/v1/query_range", {**base, "step": "0"}) == (
        400, "bad_data", "zero or negative query resolution step widths are not accepted. Try a positive integer")
    assert error(url, "/api/v1/query_range", {**base, "step": "0.1"})[2].startswith(
        "exceeded maximum resolution of 11,000 points per timeseries")
    assert error(url, "/api/v1/query_range", {**base, "start": str(NOW), "end": str(BASE), "step": "15"}) == (
        400, "bad_data", "end timestamp must not be before start time")
    assert error(url, "/api/v1/query_range", {"query": "up", "end": str(NOW), "step": "15"}) == (
        400, "bad_data", 'invalid parameter "start": cannot parse "" to a valid timestamp')
    assert error(url, "/api/v1/query_range", {**base, "query": "up[5m]", "step": "15"}) == (
        400, "bad_data", 'invalid expression type "range vector" for range query, must be Scalar or instant Vector')


# ------------------------------------------------------------------------------------------ metadata
def test_series(url: str):
    params = [("match[]", "node_memory_bytes"), ("match[]", 'kube_pod_info{node="n1"}')]
    assert ok(url, "/api/v1/series", params) == [
        {"__name__": "kube_pod_info", "instance": "a", "node": "n1"},
        {"__name__": "node_memory_bytes", "instance": "a", "job": "node"},
        {"__name__": "node_memory_bytes", "instance": "b", "job": "node"},
    ]
    # Only series with samples in [start, end]: temperature stopped at BASE+1200.
    assert ok(url, "/api/v1/series", {"match[]": "temperature", "start": str(BASE + 1500), "end": str(NOW)}) == []
    assert ok(url, "/api/v1/series", {"match[]": "temperature", "start": str(BASE), "end": str(NOW)}) == [
        {"__name__": "temperature", "room": "x"}]
    assert ok(url, "/api/v1/series", method="POST", form={"match[]": "temperature"}) == [
        {"__name__": "temperature", "room": "x"}]
    assert error(url, "/api/v1/series", {}) == (400, "bad_data", "no match[] parameter provided")
    status, kind, msg = error(url, "/api/v1/series", {"match[]": "rate(up[5m])"})
    assert (status, kind) == (400, "bad_data") and msg.startswith('invalid parameter "match[]"')
    status, body = call(url, "/api/v1/series", {"match[]": "node_memory_bytes", "limit": "1"})
    assert status == 200 and len(body["data"]) == 1 and body["warnings"] == ["results truncated due to limit"]


def test_labels_and_values(url: str):
    assert ok(url, "/api/v1/labels") == ["__name__", "instance", "job", "le", "method", "node", "room"]
    assert ok(url, "/api/v1/labels", {"match[]": "kube_pod_info"}) == ["__name__", "instance", "node"]
    assert ok(url, "/api/v1/label/__name__/values") == [
        "http_requests_total", "kube_pod_info", "latency_seconds_bucket", "latency_seconds_count",
        "latency_seconds_sum", "node_memory_bytes", "temperature"]
    assert ok(url, "/api/v1/label/job/values") == ["api", "node"]
    assert ok(url, "/api/v1/label/instance/values", {"match[]": "node_memory_bytes"}) == ["a", "b"]
    assert ok(url, "/api/v1/label/nope/values") == []


def test_metadata_and_buildinfo(url: str):
    meta = ok(url, "/api/v1/metadata")
    assert meta["latency_seconds"] == [{"type": "histogram", "help": "", "unit": ""}]
    assert meta["http_requests_total"] == [{"type": "counter", "help": "", "unit": ""}]
    assert meta["node_memory_bytes"] == [{"type": "gauge", "help": "", "unit": ""}]
    assert "latency_seconds_bucket" not in meta
    assert list(ok(url, "/api/v1/metadata", {"metric": "temperature"})) == ["temperature"]
    info = ok(url, "/api/v1/status/buildinfo")
    assert info["version"] == PROMETHEUS_VERSION and {"revision", "branch", "goVersion"} <= set(info)


def test_other_paths_and_methods(url: str):
    assert ok(url, "/api/v1/format_query", {"query": "sum(rate(x[5m]))by(job)"}) == "sum by (job) (rate(x[5m]))"
    assert ok(url, "/api/v1/rules") == {"groups": []}
    assert ok(url, "/api/v1/alerts") == {"alerts": []}
    assert call(url, "/-/healthy") == (200, "Prometheus Server is Healthy.\n")
    assert call(url, "/api/v1/nope") == (404, "404 page not found\n")
    assert call(url, "/api/v1/query", {"query": "up"}, method="PUT") == (405, "Method Not Allowed\n")
    assert call(url, "/api/v1/metadata", method="POST", form={}) == (405, "Method Not Allowed\n")


# --------------------------------------------------------------------------------------- parameters
def test_parameter_parsing():
    assert parse_time_ms("1700000000", "t") == 1_700_000_000_000
    assert parse_time_ms("1700000000.1235", "t") == 1_700_000_000_124
    assert parse_time_ms("2023-11-14T22:13:20Z", "t") == 1_700_000_000_000
    assert parse_time_ms("2023-11-14T23:13:20.5+01:00", "t") == 1_700_000_000_500
    assert parse_time_ms("-292273086-05-16T16:47:06Z", "t") is None
    for bad in ("", "2023-11-14", "2023-11-14T22:13:20", "1_000", "NaN"):
        with pytest.raises(PromQLError, match="to a valid timestamp"):
            parse_time_ms(bad, "t")
    assert parse_duration_ms("15", "step") == 15_000
    assert parse_duration_ms("0.5", "step") == 500
    assert parse_duration_ms("1m30s", "step") == 90_000
    assert parse_duration_ms("100ms", "step") == 100
    with pytest.raises(PromQLError, match='cannot parse "abc" to a valid duration'):
        parse_duration_ms("abc", "step")
