"""logs, metrics, metrics_overview and traces over the real MCP protocol (in-memory client) against simulated
clusters with AIOpsLab problems brought up: the symptom each fault leaves must be visible in the tool's summary."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from cluster.sim import SimCluster, SimConfig
from cluster.sim.faults.problems import PROBLEMS
from cluster.sim.faults.setup import bring_up
from cluster.sim.server import SimServer
from servers.probe.budget import estimate_tokens
from servers.probe.kube import ProbeError
from servers.probe.server import build_server
from servers.probe.settings import ProbeSettings
from servers.probe.tools.logs import is_error_line, normalize, parse_duration
from servers.probe.tools.metrics import parse_when, summarise
from servers.probe.untrusted import CLOSE, OPEN
from tests.probe.conftest import run_async, text_of

HOTEL = "test-hotel-reservation"
SOCIAL = "test-social-network"
REVOKE = "revoke_auth_mongodb-detection-1"  # mongodb-geo's role revoked: geo crash-loops, not authorized on geo-db
DELAY = "network_delay_hotel_res-detection-1"  # 10 s delay on user's network
SCALE0 = "scale_pod_zero_social_net-detection-1"  # user-service scaled to zero

Call = Callable[[str, str, dict[str, Any]], Any]


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Call]:
    """call(problem, tool, arguments) -> CallToolResult; one simulated cluster and probe server per problem."""
    servers: dict[str, tuple[SimServer, Any]] = {}

    def get(pid: str) -> Any:
        if pid not in servers:
            home: Path = tmp_path_factory.mktemp(pid.split("-")[0])
            sim = SimServer(SimCluster(SimConfig(seed=1)), kubeconfig=home / "kc", telemetry=True).start()
            bring_up(sim.cluster, PROBLEMS[pid])
            servers[pid] = (sim, build_server(ProbeSettings(kubeconfig=str(home / "kc"))))
        return servers[pid][1]

    def do(pid: str, tool: str, args: dict[str, Any]) -> Any:
        async def go() -> Any:
            async with Client(get(pid)) as c:
                return await c.call_tool(tool, args)

        return run_async(go)

    yield do
    for sim, _ in servers.values():
        sim.stop()


def result(r: Any) -> dict[str, Any]:
    assert not r.is_error, text_of(r)
    return r.structured_content["result"]


def fenced(text: str) -> list[str]:
    """The lines of cluster text inside untrusted fences."""
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith(OPEN):
            inside = True
        elif line == CLOSE:
            inside = False
        elif inside:
            out.append(line)
    return out


# ---------------------------------------------------------------------------------------------------- logs
def test_logs_errors_only_groups_the_revoked_auth_line(call: Call) -> None:
    r = call(REVOKE, "logs", {"namespace": HOTEL, "workload": "deployment/geo", "errors_only": True})
    text, data = text_of(r), result(r)
    assert "not authorized on geo-db" in text
    top = data["groups"][0]
    assert "not authorized on geo-db" in top["line"]
    assert top["count"] >= 2  # the crash-looping container's current and previous runs
    assert re.search(rf"×{top['count']}\s+\d\d:\d\d:\d\d → \d\d:\d\d:\d\d", text)
    assert any("not authorized on geo-db" in line for line in fenced(text))
    # the same line from mongod's side, many times, groups into one line with a count
    r = call(REVOKE, "logs", {"namespace": HOTEL, "workload": "mongodb-geo", "errors_only": True})
    data = result(r)
    assert len(data["groups"]) == 1 and data["groups"][0]["count"] > 5
    assert "Unauthorized" in data["groups"][0]["line"]


def test_logs_budget_and_cursor_page_a_long_log(call: Call) -> None:
    args = {"namespace": HOTEL, "workload": "deployment/mongodb-geo", "tail": 40, "dedupe": False}
    r = call(REVOKE, "logs", {**args, "budget": 50_000})
    assert result(r)["lines"] == 40 and not r.structured_content.get("cursor")
    want = fenced(text_of(r))
    assert len(want) == 40

    pages: list[list[str]] = []
    r = call(REVOKE, "logs", {**args, "budget": 400})
    for _ in range(40):
        text = text_of(r)
        assert estimate_tokens(text) <= 400 + 20, "a page must respect the budget"
        assert text.count(OPEN) == text.count(CLOSE), "every page opens and closes its fences"
        pages.append(fenced(text))
        cursor = r.structured_content.get("cursor")
        if not cursor:
            break
        assert r.structured_content["truncated"] is True and "earlier lines not shown" in text
        r = call(REVOKE, "logs", {"namespace": HOTEL, "cursor": cursor, "budget": 400})
    assert len(pages) > 2
    assert pages[0][-1] == want[-1], "the first page holds the newest lines"
    assert [line for page in reversed(pages) for line in page] == want


def test_logs_filters_and_errors(call: Call) -> None:
    r = call(REVOKE, "logs", {"namespace": HOTEL, "workload": "geo", "pattern": "NOT AUTHORIZED"})
    lines = fenced(text_of(r))
    assert lines and all("not authorized" in line for line in lines)
    r = call(REVOKE, "logs", {"namespace": HOTEL, "workload": "geo", "pattern": "(unclosed"})
    assert r.is_error and "not a valid regular expression" in text_of(r)
    r = call(REVOKE, "logs", {"namespace": HOTEL})
    assert r.is_error and "pod=" in text_of(r) and "workload=" in text_of(r)
    r = call(REVOKE, "logs", {"namespace": HOTEL, "pod": "geo"})
    assert r.is_error and "workload='geo'" in text_of(r)
    r = call(REVOKE, "logs", {"namespace": HOTEL, "workload": "deployment/geo", "container": "sidecar"})
    assert r.is_error and "hotel-reserv-geo" in text_of(r)
    r = call(REVOKE, "logs", {"namespace": HOTEL, "workload": "deployment/nope"})
    assert r.is_error and "404" in text_of(r)
    r = call(REVOKE, "logs", {"namespace": HOTEL, "workload": "geo", "since": "ten minutes"})
    assert r.is_error and "10m" in text_of(r)
    # previous run of a pod that never restarted: the API server's message and what to do instead
    pods = result(call(REVOKE, "list_resources", {"kind": "pods", "namespace": HOTEL, "budget": 5000}))["items"]
    calm = next(p["name"] for p in pods if p["name"].startswith("frontend-"))
    r = call(REVOKE, "logs", {"namespace": HOTEL, "pod": calm, "previous": True})
    assert r.is_error and "previous=False" in text_of(r)


def test_error_line_heuristics() -> None:
    assert is_error_line("2026-01-01T12:02:35Z FTL cmd/geo/db.go:35 > not authorized on geo-db")
    assert is_error_line('{"level":"error","msg":"boom"}')
    assert is_error_line("[2026-Jan-01 12:00:00.000000] <error>: (ClientPool.h:114:Pop) TSocket::open() failed")
    assert is_error_line("dial tcp 10.0.0.1:27017: connect: connection refused")
    assert not is_error_line("2026-01-01T12:02:34Z INF cmd/geo/main.go:24 > Reading config...")
    assert not is_error_line('{"level":"info","msg":"errors=0 served"}')
    a = normalize("12:00:01 conn 10.244.1.5:4001 id=5f3a9c0d1e2b took 31ms")
    b = normalize("12:07:44 conn 10.244.1.9:4111 id=0c1d2e3f4a5b took 2ms")
    assert a == b


# ------------------------------------------------------------------------------------------------- traces
def test_traces_show_the_network_delay_on_the_frontend_user_edge(call: Call) -> None:
    r = call(DELAY, "traces", {"namespace": HOTEL})
    data, text = result(r), text_of(r)
    edge = next(e for e in data["edges"] if (e["caller"], e["callee"]) == ("frontend", "user"))
    assert edge["p95_ms"] >= 10_000
    assert edge["callee_p95_ms"] < 100, "user itself is fast: the time is lost on the way"
    assert "frontend → user" in text and "lost between caller and callee" in text
    assert data["entry_services"] == {"frontend": data["traces"]} or "frontend" in data["entry_services"]
    # the service's own view, and a trace as a tree
    r = call(DELAY, "traces", {"namespace": HOTEL, "service": "frontend", "min_duration": "5s", "example": True})
    data, text = result(r), text_of(r)
    assert data["traces"] >= 1 and "example trace" in text and "→ user /user.User/CheckUser" in text
    assert all(e["p50_ms"] >= 5000 for e in data["edges"] if e["callee"] == "user")
    r = call(DELAY, "traces", {"namespace": HOTEL, "service": "nope"})
    assert r.is_error and "frontend" in text_of(r)


def test_traces_show_errors_on_calls_to_the_scaled_down_user_service(call: Call) -> None:
    r = call(SCALE0, "traces", {"namespace": SOCIAL, "errors_only": True, "limit": 20})
    data, text = result(r), text_of(r)
    edges = [e for e in data["edges"] if e["callee"] == "user-service"]
    assert edges and all(e["error_rate"] == 1.0 for e in edges), edges
    assert data["failing_paths"], text
    worst = data["failing_paths"][0]
    assert worst["path"].endswith("user-service ✗")
    assert "Connection refused" in worst["message"]
    assert any("Connection refused" in line for line in fenced(text)), "error messages are fenced"
    # one failing trace, by id
    tid = worst["example_trace"]
    r = call(SCALE0, "traces", {"namespace": SOCIAL, "trace_id": tid})
    data, text = result(r), text_of(r)
    assert data["trace_id"] == tid and any(e["service"] == "compose-post-service" for e in data["errors"])
    assert "error origin:" in text and "⇒ user-service" in text
    r = call(SCALE0, "traces", {"namespace": SOCIAL, "trace_id": "not-hex"})
    assert r.is_error and "hex" in text_of(r)


def test_traces_budget_pages(call: Call) -> None:
    r = call(SCALE0, "traces", {"namespace": SOCIAL, "budget": 300})
    assert estimate_tokens(text_of(r)) <= 320
    cursor = r.structured_content["cursor"]
    assert cursor and r.structured_content["truncated"]
    r2 = call(SCALE0, "traces", {"cursor": cursor, "budget": 5000})
    assert not r2.is_error and "(continued)" in text_of(r2)


# ------------------------------------------------------------------------------------------------ metrics
def test_metrics_overview_shows_the_crash_looping_pod(call: Call) -> None:
    r = call(REVOKE, "metrics_overview", {"namespace": HOTEL, "budget": 5000})
    data, text = result(r), text_of(r)
    geo = [c for c in data["containers"] if c["pod"].startswith("geo-") and c["restarts"]]
    assert geo and max(c["restarts"] for c in geo) >= 2
    crashing = max(geo, key=lambda c: c["restarts"])["pod"]
    assert any(crashing in s and "restarted" in s for s in data["stands_out"])
    assert any(crashing in s and "CrashLoopBackOff" in s for s in data["stands_out"])
    assert text.index("stands out") < text.index("containers:")
    failing = {s["service"]: s for s in data["services"]}
    assert failing["search"]["error_ratio"] > 0.1  # search calls geo, which is down
    r = call(REVOKE, "metrics_overview", {"namespace": HOTEL, "window": "10s"})
    assert r.is_error and "1m" in text_of(r)


def test_metrics_range_summary_has_trend_and_anomalies(call: Call) -> None:
    q = (f'sum by (status_code) (rate(traces_span_metrics_calls_total{{namespace="{HOTEL}",service_name="search"}}'
         "[1m]))")
    data = result(call(REVOKE, "metrics", {"query": q, "start": "-5m", "step": "15s"}))
    assert data["result_type"] == "matrix" and data["step"] == 15
    by = {s["labels"]["status_code"]: s for s in data["series"]}
    ok, err = by["STATUS_CODE_UNSET"], by["STATUS_CODE_ERROR"]
    assert ok["trend"] == "falling" and ok["last"] == 0
    assert any(a.startswith("down to 0") for a in ok["anomalies"])
    assert err["trend"] == "rising" and any(a.startswith("no data before") for a in err["anomalies"])
    assert "points" not in ok
    raw = result(call(REVOKE, "metrics", {"query": q, "start": "-2m", "raw": True}))
    assert all(len(s["points"]) == s["samples"] > 1 for s in raw["series"])
    # instant query: one value per series, biggest first
    data = result(call(REVOKE, "metrics", {
        "query": f'sum by (pod) (kube_pod_container_status_restarts_total{{namespace="{HOTEL}"}})'}))
    assert data["instant"] and data["result_type"] == "vector"
    values = [s["last"] for s in data["series"]]
    assert values == sorted(values, reverse=True) and values[0] >= 2


def test_metrics_errors_carry_the_promql_text(call: Call) -> None:
    r = call(REVOKE, "metrics", {"query": "sum(rate(container_cpu_usage_seconds_total[5m]"})
    assert r.is_error and "PromQL" in text_of(r) and "parse error" in text_of(r)
    r = call(REVOKE, "metrics", {"query": "up", "start": "yesterday"})
    assert r.is_error and "-15m" in text_of(r)
    r = call(REVOKE, "metrics", {"query": "up", "start": "-5m", "end": "-10m"})
    assert r.is_error and "before" in text_of(r)
    r = call(REVOKE, "metrics", {"query": "no_such_metric_at_all", "start": "-5m"})
    assert not r.is_error and "no data" in text_of(r)


def test_summarise_flags_spikes_steps_resets_and_gaps() -> None:
    ts = [float(i * 15) for i in range(40)]
    flat = summarise({"__name__": "x"}, [(t, 10.0 + (i % 2) * 0.1) for i, t in enumerate(ts)], 0, ts[-1], 15)
    assert flat.trend == "flat" and flat.anomalies == []
    wobble = [(t, 10.0 + (i % 2) * 0.1) for i, t in enumerate(ts[:-1])]
    spike = summarise({}, [*wobble, (ts[-1], 30.0)], 0, ts[-1], 15)
    assert any("σ above" in a for a in spike.anomalies)
    step = summarise({}, [(t, 1.0 if i < 20 else 5.0) for i, t in enumerate(ts)], 0, ts[-1], 15)
    assert step.trend == "rising" and any(a.startswith("step up from 1 to 5") for a in step.anomalies)
    ramp = summarise({}, [(t, 2.0 * i) for i, t in enumerate(ts)], 0, ts[-1], 15)
    assert ramp.trend == "rising" and math.isclose(ramp.slope_per_min, 8.0) and ramp.anomalies == []
    counter = summarise({"__name__": "http_requests_total"},
                        [(t, float(i if i < 25 else i - 25)) for i, t in enumerate(ts)], 0, ts[-1], 15)
    assert any("counter reset" in a for a in counter.anomalies)
    gappy = summarise({}, [(t, 1.0) for i, t in enumerate(ts) if not 10 <= i < 20], 0, ts[-1], 15)
    assert any(a.startswith("no data 00:02:15 → 00:05:00") for a in gappy.anomalies)
    gone = summarise({}, [(t, 1.0) for t in ts[:30]], 0, ts[-1], 15)
    assert any("series gone" in a for a in gone.anomalies)


def test_time_and_duration_parsing() -> None:
    now = 1_000_000.0
    assert parse_when("now", now, "t") == now
    assert parse_when("-15m", now, "t") == now - 900
    assert parse_when("now-1h30m", now, "t") == now - 5400
    assert parse_when("1700000000", now, "t") == 1_700_000_000
    assert parse_when("2025-01-01T00:00:00Z", now, "t") == 1_735_689_600
    assert parse_duration("500ms") == 0.5 and parse_duration("2d") == 172_800
    with pytest.raises(ProbeError):
        parse_duration("soon")
