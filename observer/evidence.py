"""Reading the probe's answers: small, tolerant parsers the rule-based baseline builds its evidence with.

Everything here works on what a probe tool returned (its structured content, and for logs and describe the text
lines it shows): durations and anomaly phrases from metrics, hosts and error classes from log lines, which service a
failing trace path blames, the container mounts of a described workload. Nothing here knows which fault was
injected or reads the simulator.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

UNTRUSTED_OPEN = re.compile(r"^<<untrusted[^>]*>>\s*$")
UNTRUSTED_CLOSE = "<<end untrusted>>"
INLINE_FENCE = re.compile(r"<<untrusted[^>]*>>|<<end untrusted>>")


def records(value: Any) -> list[dict[str, Any]]:
    """A dict, a list of dicts or a list of lists of dicts (the probe's reports nest either way) as a flat list."""
    if isinstance(value, dict):
        return [value]
    out: list[dict[str, Any]] = []
    if isinstance(value, list):
        for v in value:
            out += records(v)
    return out


def unfence(text: str) -> str:
    """Cluster text without the probe's untrusted-data fences (the baseline parses it; it never obeys it)."""
    return INLINE_FENCE.sub("", text or "").strip()


def fenced_lines(text: str) -> list[str]:
    """The lines inside untrusted fences (log lines, span messages), in order."""
    out: list[str] = []
    inside = False
    for line in (text or "").splitlines():
        if UNTRUSTED_OPEN.match(line.strip()):
            inside = True
            continue
        if line.strip() == UNTRUSTED_CLOSE:
            inside = False
            continue
        if inside:
            out.append(line)
    return out


# ------------------------------------------------------------------------------------------------ quantities
_DUR = re.compile(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)(ms|s))?")


def duration_ms(text: str) -> float | None:
    """'850ms', '12.3s', '4m10s', '2h5m' -> milliseconds."""
    text = text.strip()
    m = _DUR.fullmatch(text)
    if not m or not any(m.groups()):
        return None
    h, mi, num, unit = m.groups()
    ms = (int(h or 0) * 3600 + int(mi or 0) * 60) * 1000.0
    if num:
        ms += float(num) * (1.0 if unit == "ms" else 1000.0)
    return ms


_NUM = r"([0-9.]+(?:e[-+]?\d+)?)"
_LAT_SPIKE = re.compile(r"spike to (\S+) at \S+ \(typical (\S+)\)")
_LAT_LAST = re.compile(r"last (\S+) is [0-9.e+]+σ above the window mean (\S+)")
_LAT_UP = re.compile(r"up to (\S+) since \S+ \(mean before (\S+)\)")
_NUM_SPIKE = re.compile(rf"spike to {_NUM} at \S+ \(typical {_NUM}\)")
_NUM_LAST = re.compile(rf"last {_NUM} is [0-9.e+]+σ above the window mean {_NUM}")
_NUM_UP = re.compile(rf"up to {_NUM} since \S+ \(mean before {_NUM}\)")


def latency_jumps(anomalies: Iterable[str]) -> list[tuple[float, float]]:
    """(new, typical) milliseconds for each upward latency anomaly phrase."""
    out = []
    for a in anomalies:
        for rx in (_LAT_SPIKE, _LAT_LAST, _LAT_UP):
            m = rx.search(a)
            if m:
                new, base = duration_ms(m.group(1)), duration_ms(m.group(2))
                if new is not None and base is not None:
                    out.append((new, base))
    return out


def number_jumps(anomalies: Iterable[str], prefix: str) -> list[tuple[float, float]]:
    """(new, typical) for upward anomalies of plain numbers (cpu cores), e.g. 'cpu: last 0.16 is 4σ above ...'."""
    out = []
    for a in anomalies:
        if not a.startswith(prefix):
            continue
        for rx in (_NUM_SPIKE, _NUM_LAST, _NUM_UP):
            m = rx.search(a)
            if m:
                try:
                    out.append((float(m.group(1)), float(m.group(2))))
                except ValueError:
                    continue
    return out


def significant_latency(new_ms: float, base_ms: float) -> bool:
    """A latency change that matters to users, not noise around a constant: 3x and +50 ms at least."""
    return new_ms >= 3 * max(base_ms, 0.1) and new_ms - base_ms >= 50


def significant_cpu(new: float, base: float) -> bool:
    return new >= 3 * max(base, 1e-4) and new - base >= 0.015


# ------------------------------------------------------------------------------------------------ logs
_HOSTPORT = re.compile(r"(?<![\w.-])([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*):(\d{2,5})\b")
_DB_URL = re.compile(r"(?:database URL|mongodb://|redis://|connect(?:ing)? to|dial(?:ing)?)\s*:?\s*"
                     r"([a-z][a-z0-9-]*)(?::\d+)?", re.I)
_QUOTED_HOST = re.compile(r"'([a-z][a-z0-9-]*):(\d+)'")
_THRIFT_HOST = re.compile(r"<Host: ([a-z][a-z0-9-]*) Port: (\d+)>")
_NOT_AUTHORIZED = re.compile(r"not authorized on ([\w.-]+)", re.I)
_NO_SUCH_HOST = re.compile(r"lookup ([\w.-]+)(?: on [\d.:]+)?: no such host", re.I)
_DIAL_IP = re.compile(r"dial tcp (\d+\.\d+\.\d+\.\d+):(\d+)")
_GRPC_METHOD = re.compile(r"/(?:[\w]+\.)*([A-Za-z]\w*)/\w+")


@dataclass(frozen=True)
class LogSignal:
    """One thing a log or span line says, e.g. ('auth_denied', 'geo-db') or ('dependency', 'mongodb-geo')."""

    kind: str  # auth_denied | auth_failed | user_not_found | tls_required | unreachable | refused | no_such_host
    #           | dependency | error
    value: str = ""
    line: str = ""


ERROR_WORDS = re.compile(r"\b(FTL|ERR|ERROR|FATAL|panic|Traceback|exception|terminate called|<error>|Failed)\b",
                         re.I)


def hosts_in(line: str) -> list[str]:
    """Host names a line mentions as host:port (or as Thrift's <Host: x Port: n>)."""
    out = [m.group(1) for m in _THRIFT_HOST.finditer(line)]
    out += [m.group(1) for m in _QUOTED_HOST.finditer(line)]
    out += [m.group(1) for m in _HOSTPORT.finditer(line) if not m.group(1)[0].isdigit()]
    return list(dict.fromkeys(out))


def log_signals(lines: Iterable[str]) -> list[LogSignal]:
    out: list[LogSignal] = []
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        low = line.lower()
        if m := _NOT_AUTHORIZED.search(line):
            out.append(LogSignal("auth_denied", m.group(1), line))
        if "usernotfound" in low or "could not find user" in low:
            out.append(LogSignal("user_not_found", "", line))
        elif "authentication failed" in low or "sasl authentication" in low:
            out.append(LogSignal("auth_failed", "", line))
        if "only allow ssl" in low or "sslhandshakefailed" in low or "requiretls" in low:
            out.append(LogSignal("tls_required", "", line))
        if m := _NO_SUCH_HOST.search(line):
            out.append(LogSignal("no_such_host", m.group(1), line))
        if "connection refused" in low:
            out.append(LogSignal("refused", ",".join(hosts_in(line)), line))
        if any(w in low for w in ("no reachable servers", "no suitable servers", "connection closed",
                                  "server selection", "timed out", "connection reset")):
            out.append(LogSignal("unreachable", ",".join(hosts_in(line)), line))
        if m := _DB_URL.search(line):
            out.append(LogSignal("dependency", m.group(1), line))
        for h in hosts_in(line):
            out.append(LogSignal("dependency", h, line))
        if ERROR_WORDS.search(line):
            out.append(LogSignal("error", "", line))
    return out


# ------------------------------------------------------------------------------------------------ traces
def path_callee(path: str) -> str | None:
    """'a op → b op ⇒ c ✗' -> 'c': the service a failing path ends in when the callee recorded no span."""
    if "⇒" in path:
        return path.rsplit("⇒", 1)[1].replace("✗", "").strip().split()[0]
    return None


def grpc_service(operation: str) -> str | None:
    """'/profile.Profile/GetProfiles' or 'oteldemo.PaymentService/Charge' -> 'profile' / 'payment'."""
    m = _GRPC_METHOD.search("/" + operation.lstrip("/"))
    if not m:
        return None
    name = re.sub(r"Service$", "", m.group(1))
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def dialed_ip(message: str) -> tuple[str, int] | None:
    m = _DIAL_IP.search(message or "")
    return (m.group(1), int(m.group(2))) if m else None


def no_such_host(message: str) -> str | None:
    m = _NO_SUCH_HOST.search(message or "")
    return m.group(1) if m else None


# ------------------------------------------------------------------------------------------------ describe
_MOUNTS = re.compile(r"^\s*mounts:\s*(.+)$")


def mounts(describe_text: str) -> dict[str, str]:
    """Mount path -> volume name, from a describe's 'mounts: /scripts<-failure-admin-geo, ...' lines."""
    out: dict[str, str] = {}
    for line in (describe_text or "").splitlines():
        m = _MOUNTS.match(line)
        if not m:
            continue
        for part in m.group(1).split(","):
            if "<-" in part:
                path, vol = part.strip().split("<-", 1)
                out[path.strip()] = vol.strip().split()[0]
    return out


_RS_LINE = re.compile(r"^- (?P<name>\S+) revision (?P<revision>\d+): (?P<desired>\d+) desired, (?P<current>\d+) "
                      r"current, (?P<ready>\d+) ready; (?P<images>[^;]+)")


def replica_sets(describe_text: str, structured: Any) -> list[dict[str, Any]]:
    """A Deployment's replica sets, newest revision first: the structured records, completed from the text lines
    ('- geo-9whm4j66hh revision 2: 1 desired, 1 current, 0 ready; yinfangchen/geo:app3; created 1m ago')."""
    found = {str(r.get("name")): r for r in records(structured)}
    for line in (describe_text or "").splitlines():
        m = _RS_LINE.match(line.strip())
        if m and m.group("name") not in found:
            found[m.group("name")] = {"name": m.group("name"), "revision": m.group("revision"),
                                      "desired": int(m.group("desired")), "current": int(m.group("current")),
                                      "ready": int(m.group("ready")), "images": m.group("images").strip()}
    return sorted(found.values(), key=lambda r: -int(str(r.get("revision") or 0) or 0))


def scaled_down_from(events: Iterable[dict[str, Any]]) -> int | None:
    """The replica count before a scale to zero, from 'Scaled down replica set X from N to 0' events."""
    for e in events:
        m = re.search(r"Scaled down replica set \S+ from (\d+) to 0", str(e.get("message") or ""))
        if m:
            return int(m.group(1))
    return None
