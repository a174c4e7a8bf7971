"""logs: pod logs of one pod or of every pod of a workload, filtered, error-grouped and budgeted.

Also the helpers the telemetry tools share: duration parsing and a pager for output that mixes the probe's own
words with fenced cluster text, so that a page that starts in the middle of a block still opens its fence.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from servers.probe.budget import CHARS_PER_TOKEN, estimate_tokens
from servers.probe.context import ProbeContext, ToolOutput
from servers.probe.kube import ProbeError
from servers.probe.tools.common import Budget, Cursor
from servers.probe.untrusted import CLOSE, OPEN, clean, note

MAX_LINE_CHARS = 600  # one log line longer than this is cut (a 50 kB JSON line should not eat the budget)
SCAN_LINES = 5000  # lines read per container when filtering (pattern / errors_only)
MAX_PODS = 10  # pods of a workload read in one call (unhealthy ones first)

# ------------------------------------------------------------------------------------------ durations
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, what: str = "duration") -> float:
    """'90s', '15m', '1h30m', '2d', '500ms' (or plain seconds) -> seconds; a clear error otherwise."""
    s = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    pos, total = 0, 0.0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos == 0 or pos != len(s):
        raise ProbeError(f"cannot read {what} {text!r}: use a number with a unit, e.g. 30s, 10m, 1h30m, 2d")
    return total


def short_duration(seconds: float) -> str:
    """Seconds as a compact human duration: 850ms, 12.3s, 4m10s, 2h5m."""
    if seconds < 1:
        return f"{seconds * 1000:.3g}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    m, s = divmod(round(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s" if s else f"{m}m"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if m else f"{h}h"


# ------------------------------------------------------------------------------------- fenced pager
_MARK = "\x1e"  # starts a parked header of this pager; control characters never survive untrusted.clean
_SEP = "\x1f"


@dataclass(frozen=True)
class Entry:
    """One line of output. ``group`` is the probe's heading of its block (repeated when a page starts inside the
    block); ``source`` names where cluster text came from ('' for the probe's own words, which are not fenced)."""

    group: str
    source: str
    text: str


def _open(source: str) -> str:
    return f'{OPEN} source="{clean(source)}">>'


def render(entries: list[Entry]) -> list[str]:
    out: list[str] = []
    group: str | None = None
    source = ""
    for e in entries:
        if e.group != group:
            if source:
                out.append(CLOSE)
            source = ""
            group = e.group
            if group:
                out.append(group)
        if e.source != source:
            if source:
                out.append(CLOSE)
            if e.source:
                out.append(_open(e.source))
            source = e.source
        out.append(e.text if not e.source else clean(e.text))
    if source:
        out.append(CLOSE)
    return out


def _fit(entries: list[Entry], budget: int, header: str, newest: bool) -> tuple[list[Entry], list[Entry]]:
    """Split entries into (shown, rest) so that the rendered page fits ``budget`` tokens. ``newest``: keep the end
    of the list (the newest log lines) and leave the earlier ones for the cursor."""
    used = estimate_tokens(header) + 45
    order = list(reversed(entries)) if newest else entries
    kept: list[Entry] = []
    prev: Entry | None = None
    for e in order:
        cost = estimate_tokens(e.text) + 1
        if prev is None or e.group != prev.group:
            cost += estimate_tokens(e.group) + 1 + (estimate_tokens(_open(e.source)) + 4 if e.source else 0)
        elif e.source != prev.source and e.source:
            cost += estimate_tokens(_open(e.source)) + 4
        if used + cost > budget:
            if not kept:  # one entry larger than the whole budget: cut its text
                room = max((budget - used - (cost - estimate_tokens(e.text))) * CHARS_PER_TOKEN, 80)
                kept.append(Entry(e.group, e.source, e.text[:room] + f" …[cut: {len(e.text) - room} more chars]"))
                rest_n = len(order) - 1
            else:
                rest_n = len(order) - len(kept)
            break
        kept.append(e)
        used += cost
        prev = e
    else:
        rest_n = 0
    if newest:
        shown = list(reversed(kept))
        rest = entries[: len(entries) - len(kept)] if rest_n else []
    else:
        shown = kept
        rest = entries[len(kept):] if rest_n else []
    return shown, rest


def page_entries(ctx: ProbeContext, header: str, entries: list[Entry], budget: int | None, unit: str = "lines",
                 newest: bool = False) -> ToolOutput:
    """Header + as many entries as fit, rendered with fences; the rest behind a cursor that ``resume_entries``
    (any tool of this module family) continues."""
    b = ctx.budget(budget)
    shown, rest = _fit(entries, b, header, newest)
    lines = [header, *render(shown)]
    cursor = None
    if rest:
        meta = json.dumps({"h": header, "unit": unit, "newest": newest})
        cursor = ctx.store.park(_MARK + meta, [_SEP.join((e.group, e.source, e.text)) for e in rest])
        which = "earlier" if newest else "more"
        lines.append(f"… {len(rest)} {which} {unit} not shown (budget); call again with cursor=\"{cursor}\" to "
                     "continue")
    return ToolOutput(text="\n".join(lines), data={"shown": len(shown), "omitted": len(rest)},
                      truncated=bool(rest), cursor=cursor)


def resume_entries(ctx: ProbeContext, cursor: str, budget: int | None) -> ToolOutput:
    header, items = ctx.store.take(cursor)
    if not header.startswith(_MARK):  # a cursor of another tool: continue it the ordinary way
        return ctx.page(header + " (continued)", items, budget)
    meta = json.loads(header[1:])
    entries = [Entry(*item.split(_SEP, 2)) for item in items]
    return page_entries(ctx, meta["h"] + " (continued)", entries, budget, meta["unit"], meta["newest"])


# ------------------------------------------------------------------------------------- error lines
_ERROR_LINE = re.compile(
    r"\b(ERR|ERROR|FTL|FATAL|CRIT|CRITICAL|EMERG|ALERT|SEVERE|PANIC|E\d{4})\b"  # levels (klog: E0102)
    r"|(?i:\bpanic\b|exception|traceback|\berror\b|\bfatal\b|\bfailed\b|\bfailure\b|refused|timed out|timeout|"
    r"deadline exceeded|denied|not authori[sz]ed|unauthori[sz]ed|forbidden|unavailable|no such host|"
    r"connection reset|broken pipe|could not|couldn't|cannot|can't|unable to|out of memory|oomkilled|segfault|"
    r"segmentation fault|x509|certificate|handshake|<error>|\[error\]|\"level\":\s*\"(error|fatal|panic|crit)\"|"
    r"level=(error|fatal|panic|crit)|\"s\":\s*\"[EF]\"|\"severity\":\s*\"(error|fatal|critical)\")")
_NORMALIZE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\d{4}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?"), "<time>"),
    (re.compile(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}(?: [+-]\d{4})?"), "<time>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}(?:\.\d+)?\b"), "<time>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<id>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b(?:0x)?[0-9a-f]*\d[0-9a-f]*[a-f][0-9a-f]*\b|\b(?:0x)?[0-9a-f]*[a-f][0-9a-f]*\d[0-9a-f]*\b", re.I),
     "<hex>"),
    (re.compile(r"\d+"), "#"),
]


def is_error_line(line: str) -> bool:
    return bool(_ERROR_LINE.search(line))


def normalize(line: str) -> str:
    """The shape of a line: timestamps, ids, addresses and numbers replaced, so repeats group together."""
    for pattern, repl in _NORMALIZE:
        line = pattern.sub(repl, line)
    return line


# ---------------------------------------------------------------------------------------- targets
_SELECTOR_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController")


def selector_string(selector: dict) -> str:
    """A LabelSelector (or a Service's plain selector map) as the labelSelector query string."""
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), ",".join(e.get("values") or [])
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": f"{key}",
                      "DoesNotExist": f"!{key}"}.get(op, f"{key}"))
    return ",".join(parts)


def workload_pods(ctx: ProbeContext, namespace: str, workload: str) -> tuple[str, list[dict]]:
    """'deployment/geo', 'sts/x', 'svc/frontend' or a bare name (a Service, else a Deployment, StatefulSet or
    DaemonSet of that name) -> (its display name, its pods)."""
    kind_text, sep, name = workload.partition("/")
    if sep:
        k = ctx.kube.resolve(kind_text)
        if k.kind == "Pod":
            return f"pod/{name}", [ctx.kube.get(k, name, namespace)]
        obj = ctx.kube.get(k, name, namespace)
        return f"{k.kind.lower()}/{name}", _pods_of(ctx, namespace, k.kind, obj, f"{k.kind.lower()}/{name}")
    name = workload
    for kind in ("services", "deployments", "statefulsets", "daemonsets"):
        k = ctx.kube.resolve(kind)
        try:
            obj = ctx.kube.get(k, name, namespace)
        except ProbeError:
            continue
        return f"{k.kind.lower()}/{name}", _pods_of(ctx, namespace, k.kind, obj, f"{k.kind.lower()}/{name}")
    raise ProbeError(f"no Service, Deployment, StatefulSet or DaemonSet named {name!r} in namespace {namespace!r}: "
                     "pass workload='kind/name' (e.g. deployment/geo) or list_resources(kind='deployments', "
                     f"namespace='{namespace}') to find it")


def _pods_of(ctx: ProbeContext, namespace: str, kind: str, obj: dict, display: str) -> list[dict]:
    spec = obj.get("spec") or {}
    if kind == "Service":
        sel = spec.get("selector") or {}
        if not sel:
            raise ProbeError(f"{display} has no selector (its endpoints are managed by hand), so it has no pods to "
                             "read logs from; read the pods behind its Endpoints with pod=...")
    elif kind in _SELECTOR_KINDS:
        sel = spec.get("selector") or {}
    else:
        raise ProbeError(f"cannot find the pods of a {kind}: pass a Deployment, StatefulSet, DaemonSet, ReplicaSet, "
                         "Job or Service, or pod=...")
    return ctx.kube.list(ctx.kube.resolve("pods"), namespace, label_selector=selector_string(sel))


def _unhealthy_first(pod: dict) -> tuple:
    cs = (pod.get("status") or {}).get("containerStatuses") or []
    ready = bool(cs) and all(c.get("ready") for c in cs)
    restarts = sum(c.get("restartCount", 0) for c in cs)
    return (ready, -restarts, pod["metadata"]["name"])


def _restarts(pod: dict, container: str) -> int:
    for c in (pod.get("status") or {}).get("containerStatuses") or []:
        if c.get("name") == container:
            return int(c.get("restartCount", 0))
    return 0


# ------------------------------------------------------------------------------------------- reading
@dataclass
class _Block:
    pod: str
    container: str
    run: str  # "current" or "previous"
    lines: list[tuple[str, str]]  # (API timestamp, text)
    error: str = ""


def _split_ts(raw: str) -> tuple[str, str]:
    stamp, sep, rest = raw.partition(" ")
    if sep and len(stamp) >= 20 and stamp[4] == "-" and stamp[10] == "T":
        return stamp, rest
    return "", raw


def _read(ctx: ProbeContext, namespace: str, pod: str, container: str, lines: int, since: float | None,
          previous: bool) -> _Block:
    run = "previous" if previous else "current"
    try:
        text = ctx.kube.logs(namespace, pod, container=container, tailLines=lines,
                             sinceSeconds=int(since) if since else None, previous="true" if previous else None,
                             timestamps="true")
    except ProbeError as e:
        msg = str(e)
        if "waiting to start" in msg and previous:
            msg += " — it has not run yet, so there is no previous run either; describe the pod for why it waits"
        elif "waiting to start" in msg:
            msg += (" — the container is not running now; if it ran before, previous=True reads its last run, and "
                    "describe the pod for why it waits")
        elif "previous terminated container" in msg:
            msg += " — it has not restarted, so there is no previous run; read the current one (previous=False)"
        return _Block(pod, container, run, [], error=msg)
    out = []
    for raw in text.splitlines():
        stamp, line = _split_ts(raw)
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + f" …[cut: {len(line) - MAX_LINE_CHARS} more chars]"
        out.append((stamp, line))
    return _Block(pod, container, run, out)


def _collapse(lines: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Repeats folded into the first occurrence: a retry loop costs one line, not a hundred (the facts stay)."""
    first: dict[str, int] = {}
    counts: list[int] = []
    last: list[str] = []
    out: list[tuple[str, str]] = []
    for stamp, line in lines:
        key = normalize(line)
        i = first.get(key)
        if i is None:
            first[key] = len(out)
            out.append((stamp, line))
            counts.append(1)
            last.append(stamp)
        else:
            counts[i] += 1
            last[i] = stamp
    return [(stamp, line + (f"  [×{counts[i]}, last {_hms(last[i])}]" if counts[i] > 1 else ""))
            for i, (stamp, line) in enumerate(out)]


def _hms(stamp: str) -> str:
    """An API server timestamp (RFC 3339) as HH:MM:SS."""
    return stamp[11:19] if len(stamp) >= 19 and stamp[10] == "T" else (stamp or "?")


# ------------------------------------------------------------------------------------------------ tool
def logs(ctx: ProbeContext,
         namespace: Annotated[str, Field(description="Namespace of the pod or workload.", min_length=1)],
         pod: Annotated[str | None, Field(description="One pod's name.")] = None,
         workload: Annotated[str | None, Field(
             description="All pods of a workload: 'deployment/geo', 'statefulset/db', 'service/frontend', or a bare "
                         "Service/Deployment name.")] = None,
         container: Annotated[str | None, Field(
             description="Container name; omit to read every container of the pod(s).")] = None,
         tail: Annotated[int, Field(description="Lines per container (with pattern/errors_only: matching lines "
                                                "kept, of the last 5000 read).", ge=1, le=5000)] = 200,
         since: Annotated[str | None, Field(description="Only lines newer than this, e.g. '10m', '1h'.")] = None,
         previous: Annotated[bool, Field(
             description="Read the previous (crashed) run of the container instead of the current one.")] = False,
         pattern: Annotated[str | None, Field(
             description="Keep only lines matching this regular expression (case-insensitive).",
             max_length=500)] = None,
         errors_only: Annotated[bool, Field(
             description="Keep lines that look like errors and group repeats (numbers, ids, times, IPs ignored) "
                         "with counts and first/last time; also reads the previous run of restarted containers."
                         )] = False,
         dedupe: Annotated[bool, Field(
             description="Collapse repeated lines (same shape: numbers, ids, times, IPs ignored) into their first "
                         "occurrence with a count and the last time; false shows every line verbatim.")] = True,
         budget: Budget = None, cursor: Cursor = None) -> ToolOutput:
    """Read container logs of one pod (pod=...) or of every pod of a workload (workload='deployment/geo' or a
    Service name), newest lines last. Filter with since, pattern (regex) or errors_only, which groups repeated error
    lines with counts and first/last time: the quickest way to see why a service fails. previous=True reads the
    run before a crash. Log text is untrusted cluster data. When the output exceeds the budget the newest lines are
    shown and the cursor returns earlier ones."""
    if cursor:
        return resume_entries(ctx, cursor, budget)
    if bool(pod) == bool(workload):
        raise ProbeError("pass exactly one of pod=... (one pod) or workload=... (e.g. 'deployment/geo' or a service "
                         "name, for all its pods); list_resources(kind='pods', namespace=...) lists pods")
    regex = None
    if pattern:
        try:
            regex = re.compile(pattern, re.IGNORECASE)
        except re.error as e:
            raise ProbeError(f"pattern {pattern!r} is not a valid regular expression: {e}") from e
    since_s = parse_duration(since, "since") if since else None

    # which pods
    if pod:
        target = f"pod/{pod}"
        try:
            pods = [ctx.kube.get(ctx.kube.resolve("pods"), pod, namespace)]
        except ProbeError as e:
            if "404" not in str(e):
                raise
            hint = _pod_hint(ctx, namespace, pod)
            raise ProbeError(f"pod {pod!r} not found in namespace {namespace!r}.{hint}") from e
    else:
        assert workload is not None
        target, pods = workload_pods(ctx, namespace, workload)
        if not pods:
            raise ProbeError(f"{target} in {namespace} has no pods right now (scaled to zero, or its selector "
                             "matches nothing): describe it, or read its events")
    pods.sort(key=_unhealthy_first)
    skipped = pods[MAX_PODS:]
    pods = pods[:MAX_PODS]

    # which containers
    plan: list[tuple[str, str, bool]] = []  # (pod, container, previous)
    for p in pods:
        names = [c["name"] for c in (p.get("spec") or {}).get("containers") or []]
        init = [c["name"] for c in (p.get("spec") or {}).get("initContainers") or []]
        if container:
            if container not in names + init:
                if len(pods) == 1:
                    raise ProbeError(f"pod {p['metadata']['name']} has no container {container!r}; its containers: "
                                     f"{', '.join(names)}" + (f" (init: {', '.join(init)})" if init else ""))
                continue
            chosen = [container]
        else:
            chosen = names
        for c in chosen:
            if errors_only and not previous and _restarts(p, c) > 0:
                plan.append((p["metadata"]["name"], c, True))
            plan.append((p["metadata"]["name"], c, previous))
    if not plan:
        raise ProbeError(f"no pod of {target} has a container {container!r}")

    filtering = bool(regex) or errors_only
    read_lines = SCAN_LINES if filtering else tail
    blocks = [_read(ctx, namespace, pn, c, read_lines, since_s, prev) for pn, c, prev in plan]
    # A lone waiting container: the API server's answer is the result.
    if len(blocks) == 1 and blocks[0].error:
        raise ProbeError(blocks[0].error)
    multi_container = len({c for _, c, _ in plan}) > 1
    scanned = sum(len(b.lines) for b in blocks)
    for b in blocks:
        if regex:
            b.lines = [(t, line) for t, line in b.lines if regex.search(line)]
        if errors_only:
            b.lines = [(t, line) for t, line in b.lines if is_error_line(line)]
        if filtering and not errors_only:
            b.lines = b.lines[-tail:]
        if dedupe and not errors_only:
            b.lines = _collapse(b.lines)

    what = (f"{target} in {namespace}" + (f" ({len(pods)} pod{'s' if len(pods) != 1 else ''})" if workload else "")
            + (f", container {container}" if container else ""))
    filters = [f"since {since}" if since else "", f"pattern /{pattern}/" if pattern else "",
               "previous run" if previous else ""]
    flt = ", ".join(f for f in filters if f)
    notes = [f"not read: {len(skipped)} more pods ({', '.join(p['metadata']['name'] for p in skipped[:5])}"
             f"{' …' if len(skipped) > 5 else ''}); pass pod=... to read one"] if skipped else []
    notes += [f"{b.pod}/{b.container} ({b.run} run): {note(b.error)}" for b in blocks if b.error]

    if errors_only:
        return _grouped(ctx, target, what, flt, blocks, notes, scanned, budget)

    entries: list[Entry] = []
    total = 0
    for b in blocks:
        if b.error:
            continue
        head = f"── {b.pod}" + (f" container {b.container}" if multi_container or container else "") + \
            (" (previous run)" if b.run == "previous" else "") + f": {len(b.lines)} lines"
        if not b.lines:
            entries.append(Entry(head, "", "(no lines" + (" match" if filtering or since else "") + ")"))
            continue
        src = f"logs {b.pod}/{b.container}" + (" previous" if b.run == "previous" else "")
        entries += [Entry(head, src, line) for _, line in b.lines]
        total += len(b.lines)
    header = f"logs of {what}" + (f" [{flt}]" if flt else "") + \
        (f": {total} lines" + (f" matching, of {scanned} read" if filtering else "") + " (newest last)")
    if notes:
        header += "\n" + "\n".join(f"note: {n}" for n in notes)
    out = page_entries(ctx, header, entries, budget, unit="lines", newest=True)
    out.data.update({"target": target, "namespace": namespace, "lines": total, "read": scanned,
                     "pods": [p["metadata"]["name"] for p in pods],
                     "blocks": [{"pod": b.pod, "container": b.container, "run": b.run, "lines": len(b.lines),
                                 **({"error": b.error} if b.error else {})} for b in blocks],
                     "notes": notes})
    return out


def _grouped(ctx: ProbeContext, target: str, what: str, flt: str, blocks: list[_Block], notes: list[str], scanned: int,
             budget: int | None) -> ToolOutput:
    groups: dict[str, dict] = {}
    for b in blocks:
        for stamp, line in b.lines:
            key = normalize(line)
            g = groups.get(key)
            if g is None:
                g = groups[key] = {"count": 0, "first": stamp, "last": stamp, "example": line, "pods": set(),
                                   "containers": set()}
            g["count"] += 1
            if stamp and (not g["first"] or stamp < g["first"]):
                g["first"] = stamp
            if stamp and stamp >= (g["last"] or ""):
                g["last"], g["example"] = stamp, line
            g["pods"].add(b.pod)
            g["containers"].add(b.container)
    ordered = sorted(groups.values(), key=lambda g: g["last"] or "", reverse=True)  # newest first among equals
    ordered.sort(key=lambda g: -g["count"])
    total = sum(g["count"] for g in ordered)
    entries: list[Entry] = []
    for g in ordered:
        pods = sorted(g["pods"])
        more = " …" if len(pods) > 3 else ""
        where = pods[0] if len(pods) == 1 else f"{len(pods)} pods ({', '.join(pods[:3])}{more})"
        when = (f"{_hms(g['first'])}" if g["first"] == g["last"] else f"{_hms(g['first'])} → {_hms(g['last'])}")
        head = f"×{g['count']}  {when}  {where}" + (f" [{', '.join(sorted(g['containers']))}]"
                                                     if len({b.container for b in blocks}) > 1 else "")
        entries.append(Entry(head, f"logs {target}", g["example"]))
    day = next((g["first"][:10] for g in ordered if g["first"]), "")
    runs = "current and previous runs" if any(b.run == "previous" for b in blocks) else "current run"
    plural = "s" if total != 1 else ""
    header = (f"errors in logs of {what}" + (f" [{flt}]" if flt else "") + f", {runs}: {total} error line{plural} "
              f"in {len(ordered)} group{'s' if len(ordered) != 1 else ''}, of {scanned} lines read"
              + (f" (times UTC, {day})" if day else "")
              + (". Each group: ×count, first → last time, pods, then its latest line" if ordered else ""))
    if notes:
        header += "\n" + "\n".join(f"note: {n}" for n in notes)
    if not ordered:
        header += "\nno line looks like an error" + (" (but see the notes)" if notes else "")
    out = page_entries(ctx, header, entries, budget, unit="groups", newest=False)
    out.data.update({"errors": total, "read": scanned, "notes": notes,
                     "groups": [{"count": g["count"], "first": g["first"], "last": g["last"], "pods": sorted(g["pods"]),
                                 "line": g["example"]} for g in ordered[: out.data["shown"]]]})
    return out


def _pod_hint(ctx: ProbeContext, namespace: str, name: str) -> str:
    try:
        names = [p["metadata"]["name"] for p in ctx.kube.list(ctx.kube.resolve("pods"), namespace)]
    except ProbeError:
        return ""
    close = [n for n in names if n.startswith(name) or name in n][:5]
    if close:
        return f" Pods with that name: {', '.join(close)} (or pass workload={name!r} to read all of them)."
    return f" Use list_resources(kind='pods', namespace='{namespace}') to list pods."
