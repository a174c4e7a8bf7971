"""The PromQL evaluator against hand-computed Prometheus semantics, over a small in-memory MetricSource."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from cluster.sim.telemetry.promql import (
    PromQLError,
    format_time,
    format_value,
    instant_query,
    parse_selector,
    range_query,
)
from cluster.sim.telemetry.sources import MetricSeries

BASE = 1_700_000_100  # a multiple of 15 s, 1 m and 5 m, so scrapes and subquery steps line up with it
NOW = BASE + 3600
T = BASE + 1200  # the default evaluation time below: every series is live and no counter reset is in its windows


def _points(f: Callable[[int], float], end: int = NOW) -> list[tuple[float, float]]:
    return [(float(t), float(f(t))) for t in range(BASE, end + 1, 15)]


def _bucket(rate: float) -> Callable[[int], float]:
    return lambda t: rate * (t - BASE)


def make_data() -> list[tuple[dict[str, str], str, list[tuple[float, float]]]]:
    data = [
        # 2 requests/s from 0.
        ({"__name__": "http_requests_total", "job": "api", "instance": "a", "method": "GET"}, "counter",
         _points(lambda t: 2 * (t - BASE))),
        # 1 request/s from 100; the process restarts at BASE+1800 and the counter starts again from 0.
        ({"__name__": "http_requests_total", "job": "api", "instance": "b", "method": "POST"}, "counter",
         _points(lambda t: 100 + (t - BASE) if t < BASE + 1800 else t - BASE - 1800)),
        # Grows by 1 every scrape.
        ({"__name__": "node_memory_bytes", "job": "node", "instance": "a"}, "gauge",
         _points(lambda t: 1000 + (t - BASE) // 15)),
        ({"__name__": "node_memory_bytes", "job": "node", "instance": "b"}, "gauge", _points(lambda t: 500)),
        # Scraped until BASE+1200 only (its pod went away).
        ({"__name__": "temperature", "room": "x"}, "gauge", _points(lambda t: 21.5, BASE + 1200)),
        ({"__name__": "kube_pod_info", "instance": "a", "node": "n1"}, "gauge", _points(lambda t: 1)),
        ({"__name__": "kube_pod_info", "instance": "b", "node": "n2"}, "gauge", _points(lambda t: 1)),
        # A classic histogram: 10 observations/s, 2 of them <= 0.1, 6 <= 0.5, 8 <= 1; their sum grows 4/s.
        ({"__name__": "latency_seconds_count", "job": "api"}, "counter", _points(_bucket(10))),
        ({"__name__": "latency_seconds_sum", "job": "api"}, "counter", _points(_bucket(4))),
    ]
    for le, rate in (("0.1", 2), ("0.5", 6), ("1", 8), ("+Inf", 10)):
        data.append(({"__name__": "latency_seconds_bucket", "job": "api", "le": le}, "counter", _points(_bucket(rate))))
    return data


@dataclass
class FakeMetrics:
    """A MetricSource over fixed samples; ``samples`` honours [start, end] and never returns the future."""

    data: list[tuple[dict[str, str], str, list[tuple[float, float]]]] = field(default_factory=make_data)
    clock: float = NOW
    scrape_interval: float = 15.0
    sample_calls: int = 0

    def now(self) -> float:
        return self.clock

    def names(self) -> list[str]:
        return sorted({labels["__name__"] for labels, _, _ in self.data})

    def series(self, name: str | None = None) -> list[MetricSeries]:
        return [MetricSeries(labels, kind, self._reader(points))  # type: ignore[arg-type]
                for labels, kind, points in self.data if name is None or labels["__name__"] == name]

    def _reader(self, points: list[tuple[float, float]]) -> Callable[[float, float], list[tuple[float, float]]]:
        def samples(start: float, end: float) -> list[tuple[float, float]]:
            self.sample_calls += 1
            return [(t, v) for t, v in points if start <= t <= end and t <= self.clock]
        return samples


SRC = FakeMetrics()


def q(expr: str, t: float = T) -> dict[str, Any]:
    return instant_query(SRC, expr, round(t * 1000))


def vec(expr: str, t: float = T) -> dict[tuple[tuple[str, str], ...], float]:
    """An instant vector as {sorted labels: value}."""
    data = q(expr, t)
    assert data["resultType"] == "vector", data
    out = {}
    for el in data["result"]:
        assert el["value"][0] == format_time(round(t * 1000))
        out[tuple(sorted(el["metric"].items()))] = float(el["value"][1])
    return out


def one(expr: str, t: float = T) -> float:
    values = list(vec(expr, t).values())
    assert len(values) == 1, values
    return values[0]


def scalar(expr: str, t: float = T) -> float:
    data = q(expr, t)
    assert data["resultType"] == "scalar", data
    return float(data["result"][1])


def L(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def approx(x: float) -> Any:
    return pytest.approx(x, rel=1e-12, abs=1e-12)


def err(expr: str, t: float = T) -> PromQLError:
    with pytest.raises(PromQLError) as info:
        q(expr, t)
    return info.value


# ------------------------------------------------------------------------------------ rate & friends
def test_rate_of_a_constant_rate_counter_is_the_rate_and_drops_the_name():
    assert vec('rate(http_requests_total[5m])') == {
        L(job="api", instance="a", method="GET"): approx(2.0),
        L(job="api", instance="b", method="POST"): approx(1.0),
    }


def test_increase_extrapolates_to_the_window_edges():
    # Window (T-300, T]: 20 samples T-285..T, 15 s from the start edge (< 1.1 intervals) -> extrapolated to it.
    assert one('increase(http_requests_total{instance="a"}[5m])') == approx(600.0)
    # 2 minutes after the series began: the start is 180 s away, so extrapolate half an interval (7.5 s) ...
    assert one('increase(http_requests_total{instance="b"}[5m])', BASE + 120) == 127.5  # 120 * (127.5/120)
    # ... unless the counter would go below zero first: a started at 0, so no extrapolation before it.
    assert one('increase(http_requests_total{instance="a"}[5m])', BASE + 120) == 240.0


def test_counter_reset_is_added_back():
    # b: 1675..1885 over BASE+1575..1785, reset to 0 at BASE+1800, 60 by BASE+1860: 210 + 60 (+ the 1885 lost).
    t = BASE + 1860
    assert one('increase(http_requests_total{instance="b"}[5m])', t) == approx(270 * 300 / 285)
    assert one('rate(http_requests_total{instance="b"}[5m])', t) == approx(270 * 300 / 285 / 300)
    assert one('resets(http_requests_total{instance="b"}[5m])', t) == 1
    assert one('changes(http_requests_total{instance="b"}[5m])', t) == 19
    assert one('irate(http_requests_total{instance="b"}[5m])', BASE + 1800) == 0  # 0 after reset, over 15 s
    assert one('irate(http_requests_total{instance="b"}[5m])', BASE + 1815) == 1
    assert one('delta(http_requests_total{instance="b"}[5m])', t) == approx((60 - 1675) * 300 / 285)  # no reset logic


def test_gauge_functions():
    # node_memory_bytes{instance="a"} in (T-5m, T]: 1061..1080, one per scrape.
    sel = 'node_memory_bytes{instance="a"}[5m]'
    assert one(f"delta({sel})") == approx(20.0)
    assert one(f"idelta({sel})") == 1
    assert one(f"deriv({sel})") == approx(1 / 15)
    assert one(f"predict_linear({sel}, 60)") == approx(1084.0)
    assert one(f"avg_over_time({sel})") == 1070.5
    assert one(f"min_over_time({sel})") == 1061
    assert one(f"max_over_time({sel})") == 1080
    assert one(f"sum_over_time({sel})") == 21410
    assert one(f"count_over_time({sel})") == 20
    assert one(f"quantile_over_time(0.5, {sel})") == 1070.5
    assert one(f"stddev_over_time({sel})") == approx(math.sqrt((20**2 - 1) / 12))
    assert one(f"stdvar_over_time({sel})") == approx((20**2 - 1) / 12)
    assert one(f"present_over_time({sel})") == 1
    assert vec(f"last_over_time({sel})") == {L(__name__="node_memory_bytes", instance="a", job="node"): 1080}


def test_range_selector_is_left_open_and_keeps_raw_timestamps():
    data = q('node_memory_bytes{instance="a"}[1m]')
    assert data == {"resultType": "matrix", "result": [{
        "metric": {"__name__": "node_memory_bytes", "instance": "a", "job": "node"},
        "values": [[T - 45, "1077"], [T - 30, "1078"], [T - 15, "1079"], [T, "1080"]]}]}


# -------------------------------------------------------------------------------- selectors & time
def test_matchers():
    assert len(vec('http_requests_total{method=~"G.*"}')) == 1
    assert vec('http_requests_total{method=~"G"}') == {}  # regexes are anchored
    assert [dict(k)["instance"] for k in vec('http_requests_total{method!~"GET|PUT"}')] == ["b"]
    assert [dict(k)["instance"] for k in vec('http_requests_total{method!="GET"}')] == ["b"]
    assert len(vec('node_memory_bytes{room=""}')) == 2  # an empty value matches a missing label
    assert len(vec('node_memory_bytes{instance!=""}')) == 2
    assert vec('{__name__=~"node_.*", instance="b"}') == {
        L(__name__="node_memory_bytes", instance="b", job="node"): 500}
    assert len(vec('http_requests_total{instance="a" or method="POST"}')) == 2
    assert one('count({job="api"})') == 8
    assert err('x{a=~"(?<"}').error_type == "bad_data"


def test_lookback_and_staleness():
    assert one("temperature", BASE + 1200 + 299) == 21.5
    assert one("temperature", BASE + 1499.999) == 21.5
    assert vec("temperature", BASE + 1500) == {}  # the last sample is exactly 5m old: out of (t-5m, t]
    assert one('node_memory_bytes{instance="a"}', T + 14) == 1080  # between scrapes: the latest sample


def test_offset_and_at():
    assert vec('node_memory_bytes{instance="a"} offset 5m') == {
        L(__name__="node_memory_bytes", instance="a", job="node"): 1060}
    assert one('node_memory_bytes{instance="a"} offset -1m') == 1084
    assert one(f'node_memory_bytes{{instance="a"}} @ {BASE + 600}', NOW) == 1040
    assert one('rate(http_requests_total{instance="a"}[5m] offset 10m)') == approx(2.0)


def test_timestamp_reports_the_sample_time():
    assert vec("timestamp(node_memory_bytes)", T + 7) == {
        L(instance="a", job="node"): T, L(instance="b", job="node"): T}


# ----------------------------------------------------------------------------------- aggregations
def test_aggregations():
    rate = "rate(http_requests_total[5m])"
    assert vec(f"sum by (job) ({rate})") == {L(job="api"): approx(3.0)}
    assert vec(f"sum without (instance, method) ({rate})") == {L(job="api"): approx(3.0)}
    assert vec(f"sum({rate}) by (method)") == {L(method="GET"): approx(2.0), L(method="POST"): approx(1.0)}
    assert one(f"avg({rate})") == approx(1.5)
    assert one(f"max({rate})") == approx(2.0)
    assert one(f"min({rate})") == approx(1.0)
    assert one(f"count({rate})") == 2
    assert one(f"group({rate})") == 1
    assert one(f"stddev({rate})") == approx(0.5)
    assert one(f"stdvar({rate})") == approx(0.25)
    assert one(f"quantile(0.5, {rate})") == approx(1.5)
    assert vec(f"topk(1, {rate})") == {L(job="api", instance="a", method="GET"): approx(2.0)}
    assert vec(f"bottomk(1, {rate})") == {L(job="api", instance="b", method="POST"): approx(1.0)}
    assert vec("topk(0, node_memory_bytes)") == {}
    assert vec("sum(node_memory_bytes)") == {(): 1580}
    assert vec("sum by (__name__) (node_memory_bytes)") == {L(__name__="node_memory_bytes"): 1580}
    assert vec('count_values("v", node_memory_bytes)') == {L(v="1080"): 1, L(v="500"): 1}
    topk = q("topk(2, node_memory_bytes)")["result"]
    assert [el["metric"]["instance"] for el in topk] == ["a", "b"]  # highest first, as Prometheus returns them
    assert [el["metric"]["instance"] for el in q("bottomk(2, node_memory_bytes)")["result"]] == ["b", "a"]


# -------------------------------------------------------------------------------------- operators
def test_scalar_arithmetic_and_comparisons():
    assert scalar("1 + 2 * 3") == 7
    assert scalar("2 ^ 10") == 1024
    assert scalar("7 % 3") == 1
    assert scalar("-(1 - 3)") == 2
    assert scalar("1 / 0") == math.inf
    assert scalar("-1 / 0") == -math.inf
    assert math.isnan(scalar("0 / 0"))
    assert scalar("1 < bool 2") == 1
    assert scalar("5m") == 300
    assert scalar("time()") == T
    assert q('"hello"') == {"resultType": "string", "result": [T, "hello"]}


def test_vector_scalar_operators():
    assert vec("node_memory_bytes * 2") == {L(instance="a", job="node"): 2160, L(instance="b", job="node"): 1000}
    assert vec("2000 - node_memory_bytes") == {L(instance="a", job="node"): 920, L(instance="b", job="node"): 1500}
    assert vec("-node_memory_bytes") == {L(instance="a", job="node"): -1080, L(instance="b", job="node"): -500}
    # Filtering comparisons keep the sample, name included; with bool they return 0/1 without the name.
    assert vec("node_memory_bytes > 1000") == {L(__name__="node_memory_bytes", instance="a", job="node"): 1080}
    assert vec("1000 < node_memory_bytes") == {L(__name__="node_memory_bytes", instance="a", job="node"): 1080}
    assert vec("node_memory_bytes > bool 1000") == {L(instance="a", job="node"): 1, L(instance="b", job="node"): 0}


def test_vector_matching():
    assert vec("node_memory_bytes - kube_pod_info") == {}  # label sets differ: nothing matches
    assert vec("node_memory_bytes - on(instance) kube_pod_info") == {L(instance="a"): 1079, L(instance="b"): 499}
    assert vec("node_memory_bytes * on(instance) group_left(node) kube_pod_info") == {
        L(instance="a", job="node", node="n1"): 1080, L(instance="b", job="node", node="n2"): 500}
    assert vec("kube_pod_info * on(instance) group_right node_memory_bytes") == {
        L(instance="a", job="node"): 1080, L(instance="b", job="node"): 500}
    # ignoring() drops the ignored labels from a one-to-one result; a filtering comparison keeps the lhs value.
    assert vec('node_memory_bytes{instance="a"} > ignoring(instance) node_memory_bytes{instance="b"}') == {
        L(__name__="node_memory_bytes", job="node"): 1080}
    assert vec("http_requests_total - on(job) group_left max by (job) (http_requests_total)") == {
        L(instance="a", job="api", method="GET"): 0, L(instance="b", job="api", method="POST"): -1100}


def test_vector_matching_errors():
    e = err("kube_pod_info + on(job) http_requests_total")
    assert e.error_type == "execution" and e.status == 422
    assert e.message.startswith('found duplicate series for the match group {job="api"} on the right hand-side')
    e = err("http_requests_total - on(job) max by (job) (http_requests_total)")
    assert e.message == ("multiple matches for labels: many-to-one matching must be explicit "
                         "(group_left/group_right)")
    e = err('rate({__name__=~"latency_seconds_(sum|count)"}[5m])')
    assert e.message == "vector cannot contain metrics with the same labelset"


def test_set_operators():
    assert vec('node_memory_bytes and on(instance) kube_pod_info{node="n1"}') == {
        L(__name__="node_memory_bytes", instance="a", job="node"): 1080}
    assert vec('node_memory_bytes unless on(instance) kube_pod_info{node="n1"}') == {
        L(__name__="node_memory_bytes", instance="b", job="node"): 500}
    assert vec('node_memory_bytes{instance="a"} or node_memory_bytes') == {
        L(__name__="node_memory_bytes", instance="a", job="node"): 1080,
        L(__name__="node_memory_bytes", instance="b", job="node"): 500}
    assert vec("temperature or vector(0)", NOW) == {(): 0}


# -------------------------------------------------------------------------------------- functions
def test_histogram_quantile_interpolates_within_buckets():
    # Buckets per second: 2 (<=0.1), 6 (<=0.5), 8 (<=1), 10 (+Inf).
    rate = "rate(latency_seconds_bucket[5m])"
    assert vec(f"histogram_quantile(0.5, {rate})") == {L(job="api"): approx(0.4)}  # 0.1 + 0.4 * (5-2)/(6-2)
    assert one(f"histogram_quantile(0.75, {rate})") == approx(0.875)  # 0.5 + 0.5 * (7.5-6)/(8-6)
    assert one(f"histogram_quantile(0.05, {rate})") == approx(0.025)  # 0 + 0.1 * 0.5/2
    assert one(f"histogram_quantile(0.99, {rate})") == 1  # in the +Inf bucket: the highest finite bound
    assert vec(f"histogram_quantile(0.5, sum by (le) ({rate}))") == {(): approx(0.4)}
    assert one("histogram_quantile(0.5, latency_seconds_bucket)") == approx(0.4)
    assert one(f"histogram_quantile(2, {rate})") == math.inf


def test_math_functions():
    a = 'node_memory_bytes{instance="a"}'
    assert one(f"abs(-{a})") == 1080
    assert one(f"ceil({a} / 7)") == 155
    assert one(f"floor({a} / 7)") == 154
    assert one(f"round({a} / 7)") == 154
    assert one(f"round({a} / 7, 5)") == 155
    a_, b_ = L(instance="a", job="node"), L(instance="b", job="node")
    assert vec("clamp_max(node_memory_bytes, 600)") == {a_: 600, b_: 500}
    assert vec("clamp_min(node_memory_bytes, 600)") == {a_: 1080, b_: 600}
    assert vec("clamp(node_memory_bytes, 600, 700)") == {a_: 700, b_: 600}
    assert vec("clamp(node_memory_bytes, 5, 1)") == {}
    assert one(f"sqrt({a} - 1080 + 16)") == 4
    assert one(f"ln({a} - 1080)") == -math.inf
    assert one("hour(vector(5 * 3600))") == 5
    assert one("day_of_week(vector(0))") == 4  # 1970-01-01 was a Thursday
    assert scalar(f"scalar({a})") == 1080
    assert math.isnan(scalar("scalar(node_memory_bytes)"))
    assert vec("vector(time())") == {(): T}
    assert [el["metric"]["instance"] for el in q("sort(node_memory_bytes)")["result"]] == ["b", "a"]
    assert [el["metric"]["instance"] for el in q("sort_desc(node_memory_bytes)")["result"]] == ["a", "b"]


def test_absent():
    assert vec('absent(nonexistent{job="x", code=~"5.."})') == {L(job="x"): 1}
    assert vec("absent(node_memory_bytes)") == {}
    assert vec('absent_over_time(temperature{room="x"}[5m])', NOW) == {L(room="x"): 1}
    assert vec("absent_over_time(temperature[5m])", BASE + 1300) == {}


def test_label_replace_and_join():
    assert vec('label_replace(node_memory_bytes{instance="a"}, "host", "$1-${1}x", "instance", "(.*)")') == {
        L(__name__="node_memory_bytes", host="a-ax", instance="a", job="node"): 1080}
    assert vec('label_replace(node_memory_bytes{instance="a"}, "host", "$1", "instance", "b")') == {
        L(__name__="node_memory_bytes", instance="a", job="node"): 1080}  # no match: unchanged
    assert vec('label_join(node_memory_bytes{instance="a"}, "id", "/", "job", "instance")') == {
        L(__name__="node_memory_bytes", id="node/a", instance="a", job="node"): 1080}


def test_subqueries():
    a = 'node_memory_bytes{instance="a"}'
    assert one(f"count_over_time({a}[10m:1m])") == 10  # aligned minutes in (T-10m, T]
    assert one(f"min_over_time({a}[10m:1m])") == 1044  # at T-9m
    assert one(f"max_over_time({a}[10m:1m] offset 1m)") == 1076
    assert one('rate(http_requests_total{instance="a"}[5m:1m])') == approx(2.0)
    assert one('max_over_time(rate(http_requests_total{instance="b"}[1m])[10m:])', BASE + 1860) == approx(1.0)
    data = q(f"{a}[3m:1m]")
    assert data["resultType"] == "matrix"
    assert data["result"][0]["values"] == [[T - 120, "1072"], [T - 60, "1076"], [T, "1080"]]


# ------------------------------------------------------------------------------------- range queries
def test_range_query_steps():
    data = range_query(SRC, 'rate(http_requests_total{instance="a"}[5m])', T * 1000, (T + 300) * 1000, 60_000)
    assert data["resultType"] == "matrix"
    [series] = data["result"]
    assert series["metric"] == {"instance": "a", "job": "api", "method": "GET"}
    assert [p[0] for p in series["values"]] == [T + 60 * i for i in range(6)]
    assert all(float(p[1]) == approx(2.0) for p in series["values"])


def test_range_query_drops_stale_points_and_sorts_series():
    data = range_query(SRC, "temperature", (BASE + 1380) * 1000, (BASE + 1560) * 1000, 60_000)
    assert data["result"] == [{"metric": {"__name__": "temperature", "room": "x"},
                               "values": [[BASE + 1380, "21.5"], [BASE + 1440, "21.5"]]}]
    data = range_query(SRC, "node_memory_bytes or temperature", T * 1000, T * 1000, 1000)
    assert [s["metric"].get("instance", "") for s in data["result"]] == ["a", "b", ""]


def test_range_query_of_a_scalar_and_across_a_reset():
    data = range_query(SRC, "1 + 1", T * 1000, (T + 30) * 1000, 15_000)
    assert data["result"] == [{"metric": {}, "values": [[T, "2"], [T + 15, "2"], [T + 30, "2"]]}]
    data = range_query(SRC, 'irate(http_requests_total{instance="b"}[1m])', (BASE + 1785) * 1000,
                       (BASE + 1815) * 1000, 15_000)
    assert [p[1] for p in data["result"][0]["values"]] == ["1", "0", "1"]


def test_range_query_errors():
    with pytest.raises(PromQLError, match="11,000 points"):
        range_query(SRC, "up", 0, 11_001 * 60_000, 60_000)
    range_query(SRC, "up", 0, 11_000 * 60_000 + 59_999, 60_000)  # Prometheus' integer-division limit: allowed
    with pytest.raises(PromQLError, match='invalid expression type "range vector" for range query'):
        range_query(SRC, "up[5m]", 0, 60_000, 15_000)
    with pytest.raises(PromQLError, match='invalid expression type "string"'):
        range_query(SRC, '"x"', 0, 60_000, 15_000)
    with pytest.raises(PromQLError, match="end timestamp must not be before start time"):
        range_query(SRC, "up", 60_000, 0, 15_000)


def test_range_query_reads_each_series_once():
    src = FakeMetrics()
    range_query(src, "sum(rate(http_requests_total[5m])) / sum(rate(http_requests_total[5m]))",
                BASE * 1000, NOW * 1000, 15_000)
    assert src.sample_calls == 4  # two selectors x two series, whatever the number of steps


# ---------------------------------------------------------------------------------------- errors
def test_unsupported_and_invalid_queries():
    e = err("mad_over_time(node_memory_bytes[5m])")
    assert (e.error_type, e.status) == ("bad_data", 400)
    assert "mad_over_time()" in e.message and "not supported by the simulated Prometheus" in e.message
    assert "rate" in e.message  # lists what is supported
    assert "limitk" in err("limitk(1, node_memory_bytes)").message
    e = err("sum(")
    assert e.error_type == "bad_data" and e.message.startswith("parse error: ")
    assert "expected type matrix" in err("rate(node_memory_bytes)").message
    with pytest.raises(PromQLError, match="expected a series selector"):
        parse_selector("rate(x[5m])")


def test_timeout():
    with pytest.raises(PromQLError) as info:
        instant_query(SRC, "node_memory_bytes", T * 1000, deadline=time.monotonic() - 1)
    assert (info.value.error_type, info.value.status) == ("timeout", 503)


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1"), (0.1, "0.1"), (2.5, "2.5"), (-3.0, "-3"), (-0.0, "-0"), (1e21, "1000000000000000000000"),
    (1e-7, "0.0000001"), (123456789.123, "123456789.123"), (math.inf, "+Inf"), (-math.inf, "-Inf"),
    (math.nan, "NaN"), (1 / 3, "0.3333333333333333"),
])
def test_format_value_matches_go(value: float, text: str):
    assert format_value(value) == text


def test_format_time():
    assert format_time(1_700_000_000_000) == 1_700_000_000
    assert format_time(1_700_000_000_500) == 1_700_000_000.5


def test_duplicate_source_series_are_merged():
    labels: Mapping[str, str] = {"__name__": "restarts", "pod": "web-0"}
    src = FakeMetrics(data=[(dict(labels), "gauge", [(float(BASE), 1.0)]),
                            (dict(labels), "gauge", [(float(BASE + 60), 2.0)])])
    assert instant_query(src, "count_over_time(restarts[5m])", (BASE + 60) * 1000)["result"][0]["value"][1] == "2"
