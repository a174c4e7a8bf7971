"""Prometheus' HTTP API (v1) over a ``MetricSource``: what Grafana, ``promtool``, AIOpsLab's ``PrometheusAPI`` and
an SRE's ``curl`` call on a port-forwarded Prometheus.

Routes, mounted under ``prefix`` (like ``--web.route-prefix``) and unauthenticated:

    GET/POST /api/v1/query             query, time, timeout          instant query (see promql.py for the subset)
    GET/POST /api/v1/query_range       query, start, end, step, timeout
    GET/POST /api/v1/series            match[]..., start, end, limit
    GET/POST /api/v1/labels            [match[]...], start, end, limit
    GET      /api/v1/label/<name>/values   [match[]...], start, end, limit
    GET      /api/v1/metadata          [metric], [limit], [limit_per_metric]
    GET      /api/v1/status/buildinfo
    GET/POST /api/v1/format_query      query
    GET/POST /api/v1/query_exemplars   (always empty)
    GET      /api/v1/rules, /api/v1/alerts   (no rules are configured: empty)
    GET      /-/healthy, /-/ready

POST takes ``application/x-www-form-urlencoded`` bodies, merged with the URL's parameters (body first), as Go's
``Request.ParseForm`` does. Times are RFC 3339 or Unix seconds (with decimals); durations are float seconds or
PromQL durations (``15s``, ``1m30s``). Answers are Prometheus' envelope: ``{"status": "success", "data": ...}``
or ``{"status": "error", "errorType": "bad_data"|"execution"|"timeout"|"internal", "error": "..."}`` with HTTP
400, 422, 503 or 500, worded as Prometheus words them.

Departures, each deliberate: ``/api/v1/labels`` and ``/label/<name>/values`` without ``match[]`` list every
series the source knows, whatever ``start``/``end`` (Prometheus is similarly coarse: it answers per TSDB block);
metadata comes from the series' kinds (classic histograms are recognized from ``_bucket``/``_sum``/``_count``)
and has no help texts.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
import promql_parser
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from cluster.sim.telemetry import promql
from cluster.sim.telemetry.promql import DEFAULT_TIMEOUT_S, PromQLError, Selector
from cluster.sim.telemetry.sources import MetricSource

log = logging.getLogger("aoi.sim.prometheus")

PROMETHEUS_VERSION = "3.1.0"  # the PromQL semantics implemented (left-open windows, no holt_winters) are 3.x's
BUILD_INFO = {"version": PROMETHEUS_VERSION, "revision": "simulated", "branch": "HEAD", "buildUser": "aoi@simulator",
              "buildDate": "20250101-00:00:00", "goVersion": "go1.23.4"}
# Clients send these for "unbounded" (Go's time package cannot print the real bounds in RFC 3339).
MIN_TIME_TEXT = "-292273086-05-16T16:47:06Z"
MAX_TIME_TEXT = "292277025-08-18T07:12:54.999999999Z"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_GO_FLOAT = re.compile(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|[iI]nf(inity)?|NaN)")
_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")

Params = dict[str, list[str]]
Result = tuple[Any, list[str]]  # data, warnings


def _q(text: str) -> str:
    """Go's %q, near enough."""
    return json.dumps(text, ensure_ascii=False)


def _value(params: Params, name: str) -> str:
    """Go's FormValue: the first value, '' when absent."""
    values = params.get(name)
    return values[0] if values else ""


def _go_round(x: float) -> int:
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def parse_time_ms(text: str, name: str) -> int | None:
    """A timestamp parameter as Unix milliseconds; None for Prometheus' min/max time (unbounded)."""
    if _GO_FLOAT.fullmatch(text):
        f = float(text)
        if math.isfinite(f):
            whole = math.trunc(f)
            return whole * 1000 + _go_round((f - whole) * 1000)  # Prometheus rounds to milliseconds
    elif _RFC3339.fullmatch(text):
        try:
            dt = datetime.fromisoformat(text.upper())
        except ValueError:
            pass
        else:
            return (dt - _EPOCH) // timedelta(milliseconds=1)
    elif text in (MIN_TIME_TEXT, MAX_TIME_TEXT):
        return None
    raise PromQLError(f"invalid parameter {_q(name)}: cannot parse {_q(text)} to a valid timestamp")


def parse_duration_ms(text: str, name: str) -> int:
    """A duration parameter (float seconds, or a PromQL duration such as ``1m30s``) in whole milliseconds."""
    if _GO_FLOAT.fullmatch(text):
        seconds = float(text)
        if not math.isfinite(seconds) or abs(seconds * 1e9) >= 2.0**63:
            raise PromQLError(f"invalid parameter {_q(name)}: cannot parse {_q(text)} to a valid duration. It "
                              "overflows int64")
        return int(seconds * 1000)
    try:
        delta = promql_parser.parse_duration(text)
    except (ValueError, OverflowError) as e:
        raise PromQLError(f"invalid parameter {_q(name)}: cannot parse {_q(text)} to a valid duration") from e
    return delta // timedelta(milliseconds=1)


def _optional_time(params: Params, name: str) -> int | None:
    text = _value(params, name)
    return parse_time_ms(text, name) if text else None


def _deadline(params: Params) -> float:
    timeout = DEFAULT_TIMEOUT_S
    text = _value(params, "timeout")
    if text:
        timeout = min(timeout, parse_duration_ms(text, "timeout") / 1000)
    return time.monotonic() + timeout


def _parse_query(params: Params) -> promql.Node:
    try:
        return promql.parse(_value(params, "query"))
    except PromQLError as e:
        raise PromQLError(f'invalid parameter "query": {e.message}', e.error_type) from e


def _selectors(params: Params) -> list[Selector]:
    out = []
    for text in params.get("match[]", []):
        try:
            out.append(promql.parse_selector(text))
        except PromQLError as e:
            raise PromQLError(f'invalid parameter "match[]": {e.message}', e.error_type) from e
    return out


def _limit(params: Params) -> int:
    text = _value(params, "limit")
    if not text:
        return 0
    try:
        limit = int(text)
    except ValueError as e:
        raise PromQLError(f'invalid parameter "limit": cannot parse {_q(text)} to a valid limit') from e
    if limit < 0:
        raise PromQLError('invalid parameter "limit": limit must be non-negative')
    return limit


def _truncate(items: list[Any], limit: int) -> Result:
    if limit and len(items) > limit:
        return items[:limit], ["results truncated due to limit"]
    return items, []


def _now_ms(source: MetricSource) -> int:
    return round(source.now() * 1000)


# ------------------------------------------------------------------------------------------ handlers
def query(source: MetricSource, params: Params, _path: dict[str, str]) -> Result:
    text = _value(params, "time")
    t = parse_time_ms(text, "time") if text else None
    deadline = _deadline(params)
    node = _parse_query(params)
    return promql.instant_query(source, node, _now_ms(source) if t is None else t, deadline), []


def query_range(source: MetricSource, params: Params, _path: dict[str, str]) -> Result:
    start = parse_time_ms(_value(params, "start"), "start")
    end = parse_time_ms(_value(params, "end"), "end")
    if start is None or end is None:  # min/max time: 11,000 points could never cover it
        raise PromQLError("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
                          "resolution (?step=XX)")
    if end < start:
        raise PromQLError("end timestamp must not be before start time")
    step = parse_duration_ms(_value(params, "step"), "step")
    if step <= 0:
        raise PromQLError("zero or negative query resolution step widths are not accepted. Try a positive integer")
    if (end - start) // step > promql.MAX_POINTS_PER_SERIES:
        raise PromQLError("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
                          "resolution (?step=XX)")
    deadline = _deadline(params)
    node = _parse_query(params)
    return promql.range_query(source, node, start, end, step, deadline), []


def series(source: MetricSource, params: Params, _path: dict[str, str]) -> Result:
    if not params.get("match[]"):
        raise PromQLError("no match[] parameter provided")
    start, end = _optional_time(params, "start"), _optional_time(params, "end")
    limit = _limit(params)
    found = promql.matching_series(source, _selectors(params), start, end)
    return _truncate([dict(lbls) for lbls in found], limit)


def labels(source: MetricSource, params: Params, _path: dict[str, str]) -> Result:
    start, end = _optional_time(params, "start"), _optional_time(params, "end")
    limit = _limit(params)
    names: set[str] = set()
    if params.get("match[]"):
        for lbls in promql.matching_series(source, _selectors(params), start, end):
            names.update(k for k, _ in lbls)
    else:
        for s in source.series(None):
            names.update(k for k, v in s.labels.items() if v != "")
    return _truncate(sorted(names), limit)


def label_values(source: MetricSource, params: Params, path: dict[str, str]) -> Result:
    name = path["name"]
    start, end = _optional_time(params, "start"), _optional_time(params, "end")
    limit = _limit(params)
    values: set[str] = set()
    if params.get("match[]"):
        for lbls in promql.matching_series(source, _selectors(params), start, end):
            values.update(v for k, v in lbls if k == name)
    elif name == promql.NAME:
        values.update(source.names())
    else:
        for s in source.series(None):
            v = s.labels.get(name, "")
            if v:
                values.add(v)
    return _truncate(sorted(values), limit)


def metadata(source: MetricSource, params: Params, _path: dict[str, str]) -> Result:
    wanted = _value(params, "metric")
    limit = _limit(params)
    kinds: dict[str, str] = {}
    bucket_families: set[str] = set()
    for s in source.series(None):
        name = s.labels.get(promql.NAME, "")
        if not name:
            continue
        kinds.setdefault(name, s.kind)
        if name.endswith("_bucket") and "le" in s.labels:
            bucket_families.add(name[: -len("_bucket")])
    families: dict[str, str] = {}
    for name, kind in kinds.items():
        family = next((name[: -len(sfx)] for sfx in ("_bucket", "_sum", "_count")
                       if name.endswith(sfx) and name[: -len(sfx)] in bucket_families), None)
        if family is not None:  # a classic histogram is one family, as its # TYPE line says
            families[family] = "histogram"
        else:
            families.setdefault(name, kind)
    names = sorted(n for n in families if not wanted or n == wanted)
    if limit:
        names = names[:limit]
    return {n: [{"type": families[n], "help": "", "unit": ""}] for n in names}, []


def buildinfo(source: MetricSource, params: Params, _path: dict[str, str]) -> Result:
    return dict(BUILD_INFO), []


def format_query(source: MetricSource, params: Params, _path: dict[str, str]) -> Result:
    try:
        return promql_parser.parse(_value(params, "query")).prettify(), []
    except ValueError as e:
        raise PromQLError(f'invalid parameter "query": parse error: {e}') from e


def exemplars(source: MetricSource, params: Params, _path: dict[str, str]) -> Result:
    _parse_query(params)
    return [], []


def rules(source: MetricSource, params: Params, _path: dict[str, str]) -> Result:
    return {"groups": []}, []


def alerts(source: MetricSource, params: Params, _path: dict[str, str]) -> Result:
    return {"alerts": []}, []


# ------------------------------------------------------------------------------------------- routing
def _json(body: Any, code: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=code, media_type="application/json")


async def _params(request: Request) -> Params:
    params: Params = {}
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        body = (await request.body()).decode("utf-8", "replace")
        for k, v in urllib.parse.parse_qsl(body, keep_blank_values=True):
            params.setdefault(k, []).append(v)
    for k, v in request.query_params.multi_items():
        params.setdefault(k, []).append(v)
    return params


Handler = Callable[[MetricSource, Params, dict[str, str]], Result]


def _endpoint(source: MetricSource, handler: Handler, methods: tuple[str, ...]) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        if request.method == "OPTIONS":  # Prometheus answers CORS preflights on every API path
            return Response(status_code=204)
        if request.method not in methods:
            return PlainTextResponse("Method Not Allowed\n", status_code=405)
        params = await _params(request)
        try:
            # Off the event loop: evaluation may synthesize many samples and the source takes the cluster lock.
            data, warnings = await run_in_threadpool(handler, source, params, dict(request.path_params))
        except PromQLError as e:
            return _json({"status": "error", "errorType": e.error_type, "error": e.message}, e.status)
        except Exception as e:  # a source bug answers in Prometheus' format rather than dropping the connection
            log.exception("prometheus API failed on %s", request.url.path)
            return _json({"status": "error", "errorType": "internal", "error": f"{type(e).__name__}: {e}"}, 500)
        body: dict[str, Any] = {"status": "success", "data": data}
        if warnings:
            body["warnings"] = warnings
        return _json(body)

    return endpoint


def prometheus_routes(source: MetricSource, prefix: str = "/prometheus") -> list[Route]:
    """Starlette routes serving Prometheus' HTTP API for ``source`` under ``prefix`` (no authentication).

    Routes accept every method so that a wrong one gets Prometheus' 405 rather than falling through to the
    Kubernetes catch-all; with a non-empty prefix, unknown paths under it get Prometheus' plain 404.
    """
    p = prefix.rstrip("/")
    get, get_post = ("GET", "HEAD"), ("GET", "HEAD", "POST")
    table: list[tuple[str, Handler, tuple[str, ...]]] = [
        ("/api/v1/query", query, get_post),
        ("/api/v1/query_range", query_range, get_post),
        ("/api/v1/series", series, get_post),
        ("/api/v1/labels", labels, get_post),
        ("/api/v1/label/{name}/values", label_values, get),
        ("/api/v1/metadata", metadata, get),
        ("/api/v1/status/buildinfo", buildinfo, get),
        ("/api/v1/format_query", format_query, get_post),
        ("/api/v1/query_exemplars", exemplars, get_post),
        ("/api/v1/rules", rules, get),
        ("/api/v1/alerts", alerts, get),
    ]
    routes = [Route(p + path, _endpoint(source, handler, methods), methods=ALL_METHODS)
              for path, handler, methods in table]

    async def healthy(request: Request) -> Response:
        return PlainTextResponse("Prometheus Server is Healthy.\n")

    async def ready(request: Request) -> Response:
        return PlainTextResponse("Prometheus Server is Ready.\n")

    async def not_found(request: Request) -> Response:
        return PlainTextResponse("404 page not found\n", status_code=404)

    routes += [Route(p + "/-/healthy", healthy, methods=["GET", "HEAD"]),
               Route(p + "/-/ready", ready, methods=["GET", "HEAD"])]
    if p:  # never shadow the Kubernetes API when mounted at the root
        routes += [Route(p, not_found, methods=ALL_METHODS), Route(p + "/{rest:path}", not_found, methods=ALL_METHODS)]
    return routes
