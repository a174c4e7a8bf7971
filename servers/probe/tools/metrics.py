"""metrics and metrics_overview: PromQL against Prometheus, summarised per series (last, min, max, mean, trend,
anomalies) instead of raw points, and a canned health overview of one namespace."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field

from servers.probe.context import ProbeContext, ToolOutput
from servers.probe.kube import ProbeError
from servers.probe.tools.common import Budget, Cursor
from servers.probe.tools.logs import parse_duration, short_duration
from servers.probe.untrusted import note

NOISE_LABELS = frozenset({"id", "name", "instance", "job", "uid", "image", "image_id", "container_id",
                          "pod_template_hash", "prometheus", "prometheus_replica", "endpoint", "metrics_path",
                          "otel_scope_name", "otel_scope_version", "service_instance_id"})
COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
MIN_STEP = 15.0  # Prometheus' usual scrape interval: a finer step only repeats samples
TARGET_POINTS = 60


# ------------------------------------------------------------------------------------------------ times
def server_now(ctx: ProbeContext) -> float:
    """Prometheus' clock (``time()``), which is the simulator's clock on a simulated cluster; the local clock if
    Prometheus cannot say."""
    try:
        doc = ctx.prometheus.get("/api/v1/query", {"query": "time()"})
        return float(doc["data"]["result"][1])
    except (ProbeError, KeyError, TypeError, ValueError, IndexError):
        return datetime.now(UTC).timestamp()


def parse_when(text: str | None, now: float, what: str) -> float:
    """'now', '-15m', 'now-1h', RFC 3339 or unix seconds -> unix seconds."""
    if text is None or text.strip().lower() in ("", "now"):
        return now
    s = text.strip()
    m = re.fullmatch(r"(?i)(?:now)?\s*-\s*(.+)", s)
    if m:
        return now - parse_duration(m.group(1), what)
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    try:
        t = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ProbeError(f"cannot read {what} {text!r}: use 'now', a relative time like '-15m', RFC 3339 "
                         "(2025-01-01T12:00:00Z) or unix seconds") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


def stamp(t: float, date: bool = False) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ" if date else "%H:%M:%S")


def auto_step(span: float) -> float:
    step = max(MIN_STEP, span / TARGET_POINTS)
    return math.ceil(step / MIN_STEP) * MIN_STEP


# ------------------------------------------------------------------------------------------- formatting
def fmt(v: float, unit: str = "") -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if unit == "bytes":
        for suffix, size in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
            if abs(v) >= size:
                return f"{v / size:.3g}{suffix}"
        return f"{v:.0f}B"
    if unit == "ms":
        return short_duration(v / 1000) if abs(v) >= 1 else f"{v:.3g}ms"
    a = abs(v)
    if a >= 1e4:
        for suffix, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
            if a >= size:
                return f"{v / size:.3g}{suffix}"
    if a == 0 or a >= 0.01:
        return f"{v:.4g}"
    return f"{v:.3g}"


def unit_of(labels: dict[str, str], query: str = "") -> str:
    name = labels.get("__name__", "") or query
    if "bytes" in name and "rate(" not in query:
        return "bytes"
    return ""


NOISE_PREFIXES = ("beta_kubernetes_io_", "kubernetes_io_", "node_kubernetes_io_", "topology_kubernetes_io_",
                  "failure_domain_beta_kubernetes_io_", "label_")


def noise(key: str) -> bool:
    return key in NOISE_LABELS or key.startswith(NOISE_PREFIXES)


def compact_labels(labels: dict[str, str], common: dict[str, str], keys: set[str] | None = None) -> str:
    """``{k="v",...}`` without noise and without the labels every series shares; ``keys`` (the labels that vary)
    names the missing ones of a series that would otherwise print as ``{}``."""
    items = [(k, v) for k, v in sorted(labels.items()) if k not in common and not noise(k) and k != "__name__"]
    if not items and keys:
        items = [(k, labels.get(k, "")) for k in sorted(keys)]
    name = labels.get("__name__", "") if "__name__" not in common else ""
    body = ",".join(f'{k}="{note(v)}"' for k, v in items)
    return f"{name}{{{body}}}" if body or not name else name


def common_labels(series: list[dict[str, str]]) -> dict[str, str]:
    if len(series) < 2:
        return {k: v for k, v in (series[0] if series else {}).items() if k == "__name__"}
    first = series[0]
    return {k: v for k, v in first.items() if all(s.get(k) == v for s in series[1:])}


# --------------------------------------------------------------------------------------------- analysis
@dataclass
class Summary:
    labels: dict[str, str]
    points: list[tuple[float, float]]
    last: float = math.nan
    min: float = math.nan
    max: float = math.nan
    mean: float = math.nan
    trend: str = "flat"
    slope_per_min: float = 0.0
    anomalies: list[str] = field(default_factory=list)

    def as_dict(self, raw: bool, unit: str = "") -> dict[str, Any]:
        d: dict[str, Any] = {"labels": {k: v for k, v in self.labels.items() if not noise(k)},
                             "last": _num(self.last), "min": _num(self.min), "max": _num(self.max),
                             "mean": _num(self.mean), "trend": self.trend, "slope_per_min": _num(self.slope_per_min),
                             "anomalies": self.anomalies, "samples": len(self.points)}
        if raw:
            d["points"] = [[t, _num(v)] for t, v in self.points]
        return d


def _num(v: float) -> float | str:
    return v if math.isfinite(v) else str(v)


def _mean_sd(xs: list[float]) -> tuple[float, float]:
    n = len(xs)
    mu = sum(xs) / n
    return mu, math.sqrt(sum((x - mu) ** 2 for x in xs) / n)


def _linfit(ts: list[float], vs: list[float]) -> tuple[float, float]:
    """Least squares: (slope per second, sum of squared residuals)."""
    n = len(ts)
    mt, mv = sum(ts) / n, sum(vs) / n
    sxx = sum((t - mt) ** 2 for t in ts)
    slope = sum((t - mt) * (v - mv) for t, v in zip(ts, vs, strict=True)) / sxx if sxx else 0.0
    sse = sum((v - (mv + slope * (t - mt))) ** 2 for t, v in zip(ts, vs, strict=True))
    return slope, sse


def summarise(labels: dict[str, str], points: list[tuple[float, float]], start: float | None = None,
              end: float | None = None, step: float | None = None, unit: str = "") -> Summary:
    s = Summary(labels=labels, points=points)
    finite = [(t, v) for t, v in points if math.isfinite(v)]
    bad = len(points) - len(finite)
    if bad:
        s.anomalies.append(f"{bad} NaN/Inf samples")
    if not finite:
        return s
    ts, vs = [t for t, _ in finite], [v for _, v in finite]
    s.last, s.min, s.max = vs[-1], min(vs), max(vs)
    s.mean, sd = _mean_sd(vs)
    n = len(vs)
    if n >= 3:
        slope, sse_lin = _linfit(ts, vs)
        change = slope * (ts[-1] - ts[0])
        scale = max(abs(s.mean), s.max - s.min, 1e-12)
        s.slope_per_min = slope * 60
        if abs(change) >= 0.1 * max(abs(s.mean), 1e-12) and abs(change) >= 0.2 * scale and abs(change) > sd * 0.5:
            s.trend = "rising" if change > 0 else "falling"
        # step change: the split that best separates two flat levels, clearly better than a straight line
        step_found = False
        if n >= 6:
            best: tuple[float, int, float, float] | None = None
            for k in range(3, n - 2):
                a, b = vs[:k], vs[k:]
                ma, sa = _mean_sd(a)
                mb, sb = _mean_sd(b)
                sse = sa * sa * len(a) + sb * sb * len(b)
                if best is None or sse < best[0]:
                    best = (sse, k, ma, mb)
            if best is not None:
                sse_step, k, ma, mb = best
                pooled = math.sqrt(sse_step / n)
                if (abs(mb - ma) > 4 * pooled and abs(mb - ma) > 0.1 * max(abs(ma), abs(mb), 1e-12)
                        and sse_step < 0.5 * sse_lin):
                    step_found = True
                    s.anomalies.append(f"step {'up' if mb > ma else 'down'} from {fmt(ma, unit)} to {fmt(mb, unit)} "
                                       f"at {stamp(ts[k])}")
        # a new level at the end (traffic stopped, errors began): a run of equal-ish last values unlike before
        if n >= 5 and not step_found:
            tol = 0.05 * scale
            k = n - 1
            while k > 0 and abs(vs[k - 1] - vs[-1]) <= tol:
                k -= 1
            if 2 <= n - k <= n - 3:
                before = sum(vs[:k]) / k
                # sharp (within three samples, as a rate window smears it), not the top of a ramp
                if abs(before - vs[-1]) > 0.5 * scale and abs(vs[max(k - 3, 0)] - vs[-1]) > 0.5 * scale:
                    step_found = True
                    s.anomalies.append(f"{'down' if vs[-1] < before else 'up'} to {fmt(vs[-1], unit)} since "
                                       f"{stamp(ts[k])} (mean before {fmt(before, unit)})")
        # the last value far from the rest of the window
        if n >= 6 and not step_found:
            mu, sdev = _mean_sd(vs[:-1])
            if sdev > 0 and abs(vs[-1] - mu) > 3 * sdev and abs(vs[-1] - mu) > 0.05 * max(abs(mu), 1e-12):
                z = (vs[-1] - mu) / sdev
                s.anomalies.append(f"last {fmt(vs[-1], unit)} is {abs(z):.1f}σ {'above' if z > 0 else 'below'} the "
                                   f"window mean {fmt(mu, unit)}")
            elif sdev == 0 and vs[-1] != mu:
                s.anomalies.append(f"last {fmt(vs[-1], unit)} departs from a constant {fmt(mu, unit)}")
            # a spike inside the window (median/MAD, robust to the spike itself)
            med = sorted(vs)[n // 2]
            mad = sorted(abs(v - med) for v in vs)[n // 2] * 1.4826
            if mad > 0:
                i = max(range(min(2, n - 2), n - 1), key=lambda j: abs(vs[j] - med))  # a first sample is often odd
                if abs(vs[i] - med) > 8 * mad and abs(vs[i] - med) > 0.1 * max(abs(med), 1e-12):
                    s.anomalies.append(f"spike to {fmt(vs[i], unit)} at {stamp(ts[i])} (typical {fmt(med, unit)})")
    name = labels.get("__name__", "")
    if name.endswith(COUNTER_SUFFIXES):
        resets = [ts[i] for i in range(1, n) if vs[i] < vs[i - 1]]
        if resets:
            s.anomalies.append(f"counter reset{'s' if len(resets) > 1 else ''} at "
                               f"{', '.join(stamp(t) for t in resets[:3])}{' …' if len(resets) > 3 else ''} "
                               "(process restarted?)")
    if step:
        tol = 1.5 * step
        gaps = [(ts[i - 1], ts[i]) for i in range(1, n) if ts[i] - ts[i - 1] > tol]
        for a, b in gaps[:3]:
            s.anomalies.append(f"no data {stamp(a)} → {stamp(b)}")
        if start is not None and ts[0] - start > tol:
            s.anomalies.append(f"no data before {stamp(ts[0])}")
        if end is not None and end - ts[-1] > tol:
            s.anomalies.append(f"no data after {stamp(ts[-1])} (series gone)")
    return s


def summary_line(s: Summary, common: dict[str, str], unit: str, raw: bool, instant: bool,
                 keys: set[str] | None = None) -> str:
    lab = compact_labels(s.labels, common, keys) or "{}"
    if instant or len(s.points) == 1:
        line = f"{lab} = {fmt(s.last, unit)}"
    else:
        trend = s.trend if s.trend == "flat" else f"{s.trend} ({'+' if s.slope_per_min > 0 else ''}" \
                                                   f"{fmt(s.slope_per_min, unit)}/min)"
        line = (f"{lab} last={fmt(s.last, unit)} min={fmt(s.min, unit)} max={fmt(s.max, unit)} "
                f"mean={fmt(s.mean, unit)} {trend}")
    if s.anomalies:
        line += " ⚠ " + "; ".join(s.anomalies)
    if raw and len(s.points) > 1:
        line += "\n  points: " + " ".join(f"{stamp(t)}={fmt(v, unit)}" for t, v in s.points)
    return line


# -------------------------------------------------------------------------------------------- querying
@dataclass
class QueryResult:
    kind: str  # vector, matrix, scalar, string
    series: list[tuple[dict[str, str], list[tuple[float, float]]]]
    warnings: list[str]


def _val(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def run_query(ctx: ProbeContext, query: str, start: float | None = None, end: float | None = None,
              step: float | None = None, at: float | None = None) -> QueryResult:
    """An instant query (``start`` None) or a range query; Prometheus' error text becomes the tool's error."""
    try:
        if start is None:
            doc = ctx.prometheus.get("/api/v1/query", {"query": query, "time": at})
        else:
            doc = ctx.prometheus.get("/api/v1/query_range", {"query": query, "start": start, "end": end,
                                                              "step": step})
    except ProbeError as e:
        msg = str(e)
        if "answered 4" in msg or "answered 5" in msg:
            raise ProbeError(f"PromQL query failed: {msg} (query: {query})") from e
        raise
    if not isinstance(doc, dict) or doc.get("status") != "success":
        raise ProbeError(f"PromQL query failed: {(doc or {}).get('error', doc)} (query: {query})")
    data = doc.get("data") or {}
    kind = data.get("resultType", "")
    result = data.get("result")
    series: list[tuple[dict[str, str], list[tuple[float, float]]]] = []
    if kind in ("scalar", "string"):
        series = [({}, [(float(result[0]), _val(result[1]))])] if result else []
    elif kind == "vector":
        series = [(r.get("metric") or {}, [(float(r["value"][0]), _val(r["value"][1]))]) for r in result or []]
    elif kind == "matrix":
        series = [(r.get("metric") or {}, [(float(t), _val(v)) for t, v in r.get("values") or []])
                  for r in result or []]
    return QueryResult(kind, series, list(doc.get("warnings") or []))


# ------------------------------------------------------------------------------------------------ tools
def metrics(ctx: ProbeContext,
            query: Annotated[str, Field(description="PromQL, e.g. rate(container_cpu_usage_seconds_total"
                                                    "{namespace=\"shop\"}[5m])", min_length=1, max_length=4000)],
            start: Annotated[str | None, Field(description="Range start: '-15m', 'now-1h', RFC 3339 or unix "
                                                           "seconds. Giving it makes a range query.")] = None,
            end: Annotated[str | None, Field(description="Range end (default now), same forms as start.")] = None,
            step: Annotated[str | None, Field(description="Range resolution, e.g. '30s', '1m' (default: about 60 "
                                                          "points).")] = None,
            instant: Annotated[bool | None, Field(description="Force an instant (true) or a range (false, last 15m "
                                                              "unless start is given) query; default: instant "
                                                              "when no start/step is given.")] = None,
            raw: Annotated[bool, Field(description="Also return every sample, not only the summary.")] = False,
            budget: Budget = None, cursor: Cursor = None) -> ToolOutput:
    """Run a PromQL query against Prometheus. Instant queries list each series' value; range queries summarise
    each series (last, min, max, mean, trend with slope, and anomalies: spikes, step changes, counter resets,
    gaps, series that appear or vanish), anomalous series first. Use a range (start='-30m') to see how something
    changed around an incident. raw=True adds the samples."""
    if cursor:
        return ctx.resume(cursor, budget)
    is_instant = instant if instant is not None else (start is None and step is None)
    step_s = parse_duration(step, "step") if step else None
    if step_s is not None and step_s <= 0:
        raise ProbeError("step must be positive, e.g. '30s'")
    relative = any(x and not re.fullmatch(r"\d+(\.\d+)?|\d{4}-.*", x.strip()) for x in (start, end))
    now = server_now(ctx) if (relative or not is_instant) else datetime.now(UTC).timestamp()
    if is_instant:
        at = parse_when(end, now, "end") if end else None
        res = run_query(ctx, query, at=at)
        t0 = t1 = None
    else:
        t1 = parse_when(end, now, "end")
        t0 = parse_when(start, now, "start") if start else t1 - 900
        if t0 >= t1:
            raise ProbeError(f"start ({stamp(t0, True)}) must be before end ({stamp(t1, True)})")
        step_s = step_s or auto_step(t1 - t0)
        if (t1 - t0) / step_s > 11000:
            raise ProbeError(f"{int((t1 - t0) / step_s)} points per series is too many: use a larger step")
        res = run_query(ctx, query, t0, t1, step_s)

    # A series is 'late' only against the others: a namespace younger than the window is no anomaly per series.
    firsts = [pts[0][0] for _, pts in res.series if pts]
    born = min(firsts) if len(firsts) > 1 else t0
    sums = [summarise(labels, pts, born, t1, step_s, unit_of(labels, query)) for labels, pts in res.series]
    if res.kind == "vector" or (is_instant and res.kind != "matrix"):
        sums.sort(key=lambda s: -s.last if math.isfinite(s.last) else math.inf)
    else:
        sums.sort(key=lambda s: (-len(s.anomalies), -(s.max if math.isfinite(s.max) else -math.inf)))
    common = common_labels([s.labels for s in sums])
    shown_common = {k: v for k, v in common.items() if not noise(k)}
    varying = {k for s in sums for k in s.labels if k not in common and not noise(k) and k != "__name__"}
    if is_instant:
        when = "instant" + (f" at {stamp(at, True)}" if at else " (now)")  # type: ignore[arg-type]
    else:
        assert t0 is not None and t1 is not None and step_s is not None
        when = f"range {stamp(t0, True)} → {stamp(t1)} step {short_duration(step_s)}"
    header = f"PromQL {query}\n{when}: {res.kind or 'no'} result, {len(sums)} series"
    if shown_common and len(sums) > 1:
        header += " sharing " + compact_labels(shown_common, {})
    for w in res.warnings:
        header += f"\nwarning: {note(w)}"
    if not sums:
        header += ("\n(no data: check the metric and label names, e.g. metrics(query='count by (__name__) "
                   "({__name__=~\"container_.*\"})'), and the time range)")
    items = [summary_line(s, common if len(sums) > 1 else {}, unit_of(s.labels, query), raw,
                          is_instant and res.kind != "matrix", varying) for s in sums]
    out = ctx.page(header, items, budget, unit="series")
    out.data.update({"query": query, "result_type": res.kind, "instant": is_instant,
                     "start": t0, "end": t1, "step": step_s, "warnings": res.warnings, "count": len(sums),
                     "series": [s.as_dict(raw) for s in sums[: out.data["shown"]]]})
    return out


def _q(ctx: ProbeContext, query: str, t0: float, t1: float, step: float, failures: list[str], unit: str = "",
       settle: float = 0.0) -> list[Summary]:
    """A range query of the overview. A series is 'new' only when it starts after the others did (a pod that
    replaced another), not when the whole namespace is younger than the window. ``settle``: for a rate over that
    window, the first ``settle`` seconds of a young series are left out (the rate of a series younger than its
    window jumps when the window fills, which is no anomaly)."""
    try:
        res = run_query(ctx, query, t0, t1, step)
    except ProbeError as e:
        failures.append(str(e))
        return []
    firsts = [pts[0][0] for _, pts in res.series if pts]
    born = min(firsts) if firsts else t0
    out = []
    for labels, pts in res.series:
        young = bool(pts) and pts[0][0] > t0 + step
        settled = [p for p in pts if p[0] >= pts[0][0] + settle] if young and settle else pts
        if len(settled) < 3:
            settled = pts
        s = summarise(labels, settled, None if settled is not pts else born, t1, step, unit)
        if settled is not pts and pts[0][0] - born > 1.5 * step:
            s.anomalies.append(f"no data before {stamp(pts[0][0])}")
        s.points = pts
        out.append(s)
    return out


def _instant(ctx: ProbeContext, selector: str, condition: str, at: float, failures: list[str]
             ) -> list[tuple[dict[str, str], float]]:
    """Series of ``selector condition`` whose latest sample is fresh (a series that stopped being scraped lingers
    for the 5m lookback where no staleness marker ends it): ``timestamp(selector)`` says when each was sampled."""
    try:
        res = run_query(ctx, f"{selector} {condition}", at=at)
        stamps = run_query(ctx, f"timestamp({selector})", at=at)
    except ProbeError as e:
        failures.append(str(e))
        return []
    newest = max((pts[-1][1] for _, pts in stamps.series if pts), default=at)
    fresh = {tuple(sorted((k, v) for k, v in labels.items() if k != "__name__"))
             for labels, pts in stamps.series if pts and pts[-1][1] >= newest - 0.75 * MIN_STEP}
    return [(labels, pts[-1][1]) for labels, pts in res.series
            if pts and tuple(sorted((k, v) for k, v in labels.items() if k != "__name__")) in fresh]


def metrics_overview(ctx: ProbeContext,
                     namespace: Annotated[str, Field(description="Namespace to review.", min_length=1)],
                     window: Annotated[str, Field(description="How far back to look, e.g. '15m', '1h'.")] = "15m",
                     budget: Budget = None, cursor: Cursor = None) -> ToolOutput:
    """Health of one namespace from Prometheus in one call: per-container CPU and memory (with trends and
    anomalies), restarts, waiting reasons, unavailable deployments, and per-service request rate, error rate and
    p95 latency from span metrics when present. Lists what stands out first, then the per-pod and per-service
    tables."""
    if cursor:
        return ctx.resume(cursor, budget)
    span = parse_duration(window, "window")
    if span < 60:
        raise ProbeError("window must be at least 1m")
    t1 = server_now(ctx)
    t0 = t1 - span
    step = auto_step(span) if span > 1800 else max(MIN_STEP, math.ceil(span / 30 / MIN_STEP) * MIN_STEP)
    ns = namespace.replace("\\", "\\\\").replace('"', '\\"')
    rng = "5m" if span >= 600 else "2m"
    failures: list[str] = []
    cont = f'namespace="{ns}",container!="",container!="POD"'
    settle = parse_duration(rng) + step
    cpu = _q(ctx, f"sum by (pod, container) (rate(container_cpu_usage_seconds_total{{{cont}}}[{rng}]))",
             t0, t1, step, failures, settle=settle)
    mem = _q(ctx, f"sum by (pod, container) (container_memory_working_set_bytes{{{cont}}})", t0, t1, step, failures,
             "bytes")
    restarts = _q(ctx, f'sum by (pod, container) (kube_pod_container_status_restarts_total{{namespace="{ns}"}})',
                  t0, t1, step, failures)
    waiting = _instant(ctx, f'kube_pod_container_status_waiting_reason{{namespace="{ns}"}}', "== 1", t1, failures)
    unavailable = _instant(ctx, f'kube_deployment_status_replicas_unavailable{{namespace="{ns}"}}', "> 0", t1,
                           failures)
    srv = f'namespace="{ns}",span_kind="SPAN_KIND_SERVER"'
    req = _q(ctx, f"sum by (service_name) (rate(traces_span_metrics_calls_total{{{srv}}}[{rng}]))", t0, t1, step,
             failures, settle=settle)
    err = _q(ctx, f'sum by (service_name) (rate(traces_span_metrics_calls_total{{{srv},status_code="STATUS_CODE_ERROR"'
                  f"}}[{rng}]))", t0, t1, step, failures,
             settle=settle)
    p95 = _q(ctx, f"histogram_quantile(0.95, sum by (service_name, le) (rate("
                  f"traces_span_metrics_duration_milliseconds_bucket{{{srv}}}[{rng}])))", t0, t1, step, failures, "ms",
             settle)
    if len(failures) >= 8:
        raise ProbeError(f"Prometheus could not answer: {failures[0]}")

    def key(s: Summary) -> tuple[str, str]:
        return s.labels.get("pod", ""), s.labels.get("container", "")

    stands: list[str] = []
    # restarts
    rmap = {key(s): s for s in restarts}
    for k, s in sorted(rmap.items()):
        vals = [v for _, v in s.points if math.isfinite(v)]
        if not vals:
            continue
        grew = vals[-1] - vals[0]
        if grew > 0:
            stands.append(f"{k[0]}/{k[1]} restarted {int(grew)} time{'s' if grew > 1 else ''} in the window "
                          f"({int(vals[-1])} in all)")
        elif vals[-1] >= 3:
            stands.append(f"{k[0]}/{k[1]} has restarted {int(vals[-1])} times (none in the window)")
    for labels, _ in sorted(waiting, key=lambda x: (x[0].get("pod", ""), x[0].get("container", ""))):
        stands.append(f"{labels.get('pod')}/{labels.get('container')} is waiting: {labels.get('reason')}")
    for labels, v in unavailable:
        stands.append(f"deployment {labels.get('deployment')} has {int(v)} unavailable replica(s)")
    # services
    by_svc: dict[str, dict[str, Summary]] = {}
    for name, group in (("req", req), ("err", err), ("p95", p95)):
        for s in group:
            by_svc.setdefault(s.labels.get("service_name", "?"), {})[name] = s
    services = []
    for svc, m in sorted(by_svc.items()):
        r = m.get("req")
        e = m.get("err")
        p = m.get("p95")
        rate = r.last if r and math.isfinite(r.last) else 0.0
        erate = e.last if e and math.isfinite(e.last) else 0.0
        ratio = erate / rate if rate > 0 else (1.0 if erate > 0 else 0.0)
        lat = p.last if p and math.isfinite(p.last) else math.nan
        services.append({"service": svc, "req_per_s": rate, "err_per_s": erate, "error_ratio": ratio,
                         "p95_ms": None if math.isnan(lat) else lat,
                         "p95_trend": p.trend if p else None, "anomalies": (p.anomalies if p else []) +
                         (r.anomalies if r else [])})
        if ratio >= 0.01:
            stands.append(f"service {svc}: {ratio:.0%} of requests fail ({fmt(erate)}/s of {fmt(rate)}/s)")
        if p and p.anomalies:
            stands.append(f"service {svc} p95 latency: {'; '.join(p.anomalies)}")
        if r and any(a.startswith(("step down", "no data after")) for a in r.anomalies):
            stands.append(f"service {svc} request rate: {'; '.join(r.anomalies)}")
    # containers
    cmap = {key(s): s for s in cpu}
    mmap = {key(s): s for s in mem}
    pods = []
    odd_by_pod: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for k in sorted(set(cmap) | set(mmap) | set(rmap)):
        c, m, r = cmap.get(k), mmap.get(k), rmap.get(k)
        born = min((x.points[0][0] for x in (c, m, r) if x is not None and x.points), default=t0)
        pods.append({"pod": k[0], "container": k[1], "old": born <= t0 + 2 * step, "cpu_cores": c.last if c else None,
                     "cpu_max": c.max if c else None, "cpu_trend": c.trend if c else None,
                     "memory_bytes": m.last if m else None, "memory_trend": m.trend if m else None,
                     "restarts": int(r.last) if r and math.isfinite(r.last) else None,
                     "anomalies": [f"cpu: {a}" for a in (c.anomalies if c else [])]
                     + [f"memory: {a}" for a in (m.anomalies if m else [])]})
        odd = [("cpu", a) for a in (c.anomalies if c else [])] + [("memory", a) for a in (m.anomalies if m else [])]
        if m and pods[-1]["old"] and m.trend == "rising" and m.max > 0 and (m.max - m.min) / m.max > 0.3:
            odd.append(("memory", f"rising {fmt(m.min, 'bytes')} → {fmt(m.last, 'bytes')} over the window"))
        odd_by_pod[k] = odd
    stands += _common_mode(odd_by_pod)

    header = (f"metrics of namespace {namespace}, last {window} ({stamp(t0, True)} → {stamp(t1)}, step "
              f"{short_duration(step)}): {len(pods)} containers, {len(services)} services with span metrics")
    if failures:
        header += "\n" + "\n".join(f"note: {note(f)}" for f in dict.fromkeys(failures))
    items: list[str] = []
    items.append("stands out:" if stands else "nothing stands out (no restarts, waiting containers, failing "
                 "services or anomalies)")
    items += [f"- {s}" for s in stands]
    if services:
        items.append("services (server spans): req/s, errors, p95 latency, trend")
        for s in sorted(services, key=lambda s: (-s["error_ratio"], -(s["p95_ms"] or 0))):
            lat = fmt(s["p95_ms"], "ms") if s["p95_ms"] is not None else "-"
            items.append(f"  {s['service']}: {fmt(s['req_per_s'])}/s, {s['error_ratio']:.1%} errors, p95 {lat}"
                         + (f" ({s['p95_trend']})" if s["p95_trend"] and s["p95_trend"] != "flat" else ""))
    elif not any("traces_span" in f for f in failures):
        items.append("no span metrics for this namespace (request rates and latency: use traces)")
    if pods:
        all_new = not any(p["old"] for p in pods)
        items.append("containers: cpu cores now (max), memory now, restarts"
                     + (" (all started within the window: trends not judged)" if all_new else ""))

        def badness(p: dict) -> tuple:
            return (-(len(p["anomalies"]) + (p["restarts"] or 0)), -(p["cpu_cores"] or 0))

        for p in sorted(pods, key=badness):
            cpu_s = f"{fmt(p['cpu_cores'])} ({fmt(p['cpu_max'])})" if p["cpu_cores"] is not None else "-"
            mem_s = fmt(p["memory_bytes"], "bytes") if p["memory_bytes"] is not None else "-"
            trends = [f"{what} {p[what + '_trend']}" for what in ("cpu", "memory")
                      if p[what + "_trend"] not in (None, "flat") and p["old"]]
            if not p["old"] and not all_new:
                trends.append("started in the window")
            items.append(f"  {p['pod']}/{p['container']}: cpu {cpu_s}, mem {mem_s}, restarts "
                         f"{p['restarts'] if p['restarts'] is not None else '-'}"
                         + (f" ({', '.join(trends)})" if trends else ""))
    elif not failures:
        items.append(f"no container metrics for namespace {namespace} (does it exist and run pods?)")
    out = ctx.page(header, items, budget, unit="lines")
    out.data.update({"namespace": namespace, "window": window, "start": t0, "end": t1, "step": step,
                     "stands_out": stands, "services": [_clean(s) for s in services],
                     "containers": [_clean(p) for p in pods], "failures": failures})
    return out


_WHEN = re.compile(r"\d\d:\d\d:\d\d")


def _common_mode(odd_by_pod: dict[tuple[str, str], list[tuple[str, str]]]) -> list[str]:
    """Per-container anomalies, with those that hit three or more containers at the same moment folded into one
    line (a namespace-wide change: traffic, a node, the scrape; not one container's problem)."""

    def key(what: str, anomaly: str) -> tuple[str, str, str]:
        when = _WHEN.search(anomaly)
        return what, " ".join(anomaly.split()[:2]), when.group(0) if when else ""

    groups: dict[tuple[str, str, str], list[str]] = {}
    for (pod, cont), odd in odd_by_pod.items():
        for what, a in odd:
            groups.setdefault(key(what, a), []).append(f"{pod}/{cont}")
    folded = {k for k, members in groups.items() if len(members) >= 3 and k[2]}
    out = [f"{what} {kind} at {when} in {len(groups[(what, kind, when)])} containers at once "
           f"({', '.join(groups[(what, kind, when)][:3])} …): namespace-wide"
           for what, kind, when in sorted(folded)]
    for (pod, cont), odd in sorted(odd_by_pod.items()):
        mine = [f"{what} {a}" for what, a in odd if key(what, a) not in folded]
        if mine:
            out.append(f"{pod}/{cont}: {'; '.join(mine)}")
    return out


def _clean(d: dict) -> dict:
    return {k: (_num(v) if isinstance(v, float) else v) for k, v in d.items()}
