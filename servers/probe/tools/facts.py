"""What an investigator reads off Kubernetes objects, shared by cluster_overview, describe, events, topology and the
kubectl tool: pod and workload health, de-duplicated events, Service port checks, quantities, and a line builder
whose structured data follows exactly what the budget let into the text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from servers.probe.context import ProbeContext, ToolOutput
from servers.probe.kube import Kind, ProbeError
from servers.probe.tools.common import age, parse_time
from servers.probe.untrusted import OPEN, note

CLOSE_INLINE = "<<end untrusted>>"


def inline(text: str | None) -> str:
    """Cluster text inside one line of the probe's prose (an event or status message), fenced as untrusted."""
    return f"{OPEN}>> {note(text or '')[:600]} {CLOSE_INLINE}"


def ago(stamp: str | None) -> str:
    return "?" if not stamp else f"{age(stamp)} ago"


def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def ref(obj: dict, with_ns: bool = False) -> str:
    m = meta(obj)
    kind = str(obj.get("kind", "")).lower()
    name = f"{m.get('namespace')}/{m.get('name')}" if with_ns and m.get("namespace") else m.get("name", "?")
    return f"{kind}/{name}"


# ----------------------------------------------------------------------------------------------- output builder
@dataclass
class Report:
    """Lines of text (paged by the budget) with the structured record each line stands for, so that ``data``
    carries the same facts as the text that was shown: a section cut by the budget is left out of ``data`` too
    (``truncated`` and the cursor say so). ``add(..., many=True)`` (default) collects a section's records in a list;
    ``one()`` sets a section to a single record."""

    items: list[str] = field(default_factory=list)
    records: list[tuple[str, Any] | None] = field(default_factory=list)
    sections: dict[str, list[int]] = field(default_factory=dict)
    singles: set[str] = field(default_factory=set)

    def section(self, name: str) -> None:
        self.sections.setdefault(name, [])

    def add(self, line: str, section: str | None = None, record: Any = None) -> None:
        if section is not None:
            self.sections.setdefault(section, []).append(len(self.items))
        self.items.append(line)
        self.records.append((section, record) if section is not None and record is not None else None)

    def one(self, line: str, section: str, record: Any) -> None:
        self.singles.add(section)
        self.add(line, section, record)

    def finish(self, ctx: ProbeContext, header: str, budget: int | None, unit: str = "lines",
               extra: dict | None = None) -> ToolOutput:
        out = ctx.page(header, self.items, budget, unit=unit)
        shown = out.data["shown"]
        data: dict[str, Any] = dict(extra or {})
        for name, idx in self.sections.items():
            visible = [i for i in idx if i < shown]
            if len(visible) < len(idx) and not visible:
                continue  # wholly behind the cursor
            records = [rec[1] for i in visible if (rec := self.records[i]) is not None]
            if name in self.singles:
                if records:
                    data[name] = records[0]
            else:
                data[name] = records
        out.data.update(data)
        return out


# --------------------------------------------------------------------------------------------------- time
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.I)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """'90s', '10m', '1h', '1h30m', '2d' -> timedelta; a clear error otherwise."""
    s = text.strip().lower().replace(" ", "")
    if s.isdigit():
        return timedelta(seconds=int(s))
    pos, total = 0, 0.0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2).lower()]
        pos = m.end()
    if pos != len(s) or not s:
        raise ProbeError(f"cannot read the duration {text!r}: use a number and a unit, e.g. 30s, 10m, 1h, 1h30m, 2d")
    return timedelta(seconds=total)


def now() -> datetime:
    return datetime.now(UTC)


# -------------------------------------------------------------------------------------------------- events
@dataclass
class EventGroup:
    """Events about one object with one reason and one message, aggregated."""

    namespace: str
    kind: str
    name: str
    type: str
    reason: str
    message: str
    count: int
    first: str | None
    last: str | None
    source: str

    def record(self) -> dict:
        return {"namespace": self.namespace, "kind": self.kind, "name": self.name, "type": self.type,
                "reason": self.reason, "message": self.message, "count": self.count, "first_seen": self.first,
                "last_seen": self.last, "source": self.source}

    def line(self, with_ns: bool = True, with_object: bool = True) -> str:
        obj = f"{self.kind.lower()}/{self.namespace + '/' if with_ns and self.namespace else ''}{self.name}"
        times = ago(self.last) + (f" (first {ago(self.first)})" if self.count > 1 and self.first != self.last else "")
        about = f" {obj}" if with_object else ""
        return f"- {times} x{self.count} {self.type} {note(self.reason)}{about}: {inline(self.message)}"


def _event_times(e: dict) -> tuple[str | None, str | None, int]:
    series = e.get("series") or {}
    created = meta(e).get("creationTimestamp")
    first = e.get("firstTimestamp") or e.get("eventTime") or created
    last = series.get("lastObservedTime") or e.get("lastTimestamp") or e.get("eventTime") or first
    count = int(e.get("count") or series.get("count") or 1)
    return first, last, count


def _sort_key(stamp: str | None) -> float:
    t = parse_time(stamp)
    return t.timestamp() if t else 0.0


def group_events(events: Iterable[dict]) -> list[EventGroup]:
    """Same object + type + reason + message -> one group with the total count and first/last seen; newest first."""
    groups: dict[tuple[str, ...], EventGroup] = {}
    for e in events:
        io = e.get("involvedObject") or e.get("regarding") or {}
        first, last, count = _event_times(e)
        key = (io.get("namespace") or meta(e).get("namespace") or "", io.get("kind", ""), io.get("name", ""),
               e.get("type", ""), e.get("reason", ""), e.get("message") or e.get("note") or "")
        g = groups.get(key)
        if g is None:
            src = (e.get("source") or {}).get("component") or e.get("reportingComponent") or ""
            groups[key] = EventGroup(key[0], key[1], key[2], key[3], key[4], key[5], count, first, last, src)
            continue
        g.count += count
        if _sort_key(first) < _sort_key(g.first):
            g.first = first
        if _sort_key(last) > _sort_key(g.last):
            g.last = last
    return sorted(groups.values(), key=lambda g: (-_sort_key(g.last), g.namespace, g.name, g.reason))


def list_events(ctx: ProbeContext, namespace: str | None = None, kind: str | None = None, name: str | None = None,
                type_: str | None = None, reason: str | None = None) -> list[dict]:
    parts = [f"involvedObject.kind={kind}" if kind else "", f"involvedObject.name={name}" if name else "",
             f"type={type_}" if type_ else "", f"reason={reason}" if reason else ""]
    selector = ",".join(p for p in parts if p) or None
    return ctx.kube.list(ctx.kube.resolve("events"), namespace, field_selector=selector)


# ---------------------------------------------------------------------------------------------------- pods
BAD_WAITING = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
               "CreateContainerError", "InvalidImageName", "RunContainerError", "ErrImageNeverPull")


def pod_status(pod: dict) -> str:
    """The STATUS column of ``kubectl get pods``."""
    st = pod.get("status") or {}
    reason = st.get("reason") or st.get("phase") or "Unknown"
    inits = st.get("initContainerStatuses") or []
    for i, c in enumerate(inits):
        state = c.get("state") or {}
        term = state.get("terminated")
        if term and term.get("exitCode", 0) == 0:
            continue
        if term:
            return "Init:" + (term.get("reason") or f"ExitCode:{term.get('exitCode')}")
        waiting = state.get("waiting")
        if waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return "Init:" + waiting["reason"]
        return f"Init:{i}/{len((pod.get('spec') or {}).get('initContainers') or [])}"
    running = False
    for c in reversed(st.get("containerStatuses") or []):
        state = c.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif state.get("terminated"):
            t = state["terminated"]
            reason = f"Signal:{t['signal']}" if t.get("signal") else f"ExitCode:{t.get('exitCode')}"
        elif state.get("running") and c.get("ready"):
            running = True
    if running and reason == "Completed":
        reason = "Running"
    if meta(pod).get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def owner_of(obj: dict) -> dict | None:
    refs = meta(obj).get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), refs[0] if refs else None)


def workload_name(pod: dict) -> str | None:
    """deployment/x for a pod of a ReplicaSet named x-<hash> (by the pod-template-hash label), else owner kind/name."""
    o = owner_of(pod)
    if not o:
        return None
    if o.get("kind") == "ReplicaSet":
        h = (meta(pod).get("labels") or {}).get("pod-template-hash")
        if h and o["name"].endswith("-" + h):
            return "deployment/" + o["name"][: -len(h) - 1]
    return f"{str(o.get('kind', '')).lower()}/{o.get('name')}"


@dataclass
class PodHealth:
    namespace: str
    name: str
    phase: str
    status: str
    ready: int
    total: int
    restarts: int
    node: str | None
    owner: str | None
    problem: str | None = None  # None: healthy
    waiting: list[dict] = field(default_factory=list)
    last_terminations: list[dict] = field(default_factory=list)
    scheduling: str | None = None
    conditions: list[dict] = field(default_factory=list)

    def record(self) -> dict:
        return {"namespace": self.namespace, "name": self.name, "phase": self.phase, "status": self.status,
                "ready": f"{self.ready}/{self.total}", "restarts": self.restarts, "node": self.node,
                "owner": self.owner, "problem": self.problem, "waiting": self.waiting,
                "last_terminations": self.last_terminations, "scheduling": self.scheduling}

    def line(self, with_ns: bool = True, with_node: bool = True) -> str:
        who = f"{self.namespace}/{self.name}" if with_ns else self.name
        parts = [f"- {who}: {self.status}", f"{self.ready}/{self.total} ready"]
        if self.restarts:
            parts.append(f"{self.restarts} restart{'s' if self.restarts != 1 else ''}")
        for t in self.last_terminations[:2]:
            parts.append(f"last exit {t.get('exit_code')} ({t.get('reason')}) {ago(t.get('finished'))}"
                         + (f" [{t['container']}]" if self.total > 1 else ""))
        if self.scheduling:
            parts.append("not scheduled: " + inline(self.scheduling))
        for w in self.waiting[:1]:
            if w.get("message") and w.get("reason") not in ("CrashLoopBackOff",):
                parts.append(f"{w['reason']}: {inline(w['message'])}")
        if self.owner:
            parts.append(f"owner {self.owner}")
        if self.node and with_node:
            parts.append(f"node {self.node}")
        return ", ".join(parts)


def pod_health(pod: dict) -> PodHealth:
    m, st, spec = meta(pod), pod.get("status") or {}, pod.get("spec") or {}
    cs = st.get("containerStatuses") or []
    phase = st.get("phase") or "Unknown"
    h = PodHealth(namespace=m.get("namespace", ""), name=m.get("name", ""), phase=phase, status=pod_status(pod),
                  ready=sum(1 for c in cs if c.get("ready")), total=len(spec.get("containers") or cs),
                  restarts=sum(int(c.get("restartCount") or 0) for c in cs), node=spec.get("nodeName"),
                  owner=workload_name(pod))
    for c in [*(st.get("initContainerStatuses") or []), *cs]:
        state, last = c.get("state") or {}, c.get("lastState") or {}
        w = state.get("waiting")
        if w:
            h.waiting.append({"container": c.get("name"), "reason": w.get("reason", "Waiting"),
                              "message": w.get("message", "")})
        t = last.get("terminated") or (state.get("terminated") if phase != "Succeeded" else None)
        if t and (t.get("exitCode", 0) != 0 or c.get("restartCount")):
            h.last_terminations.append({"container": c.get("name"), "reason": t.get("reason", ""),
                                        "exit_code": t.get("exitCode"), "signal": t.get("signal"),
                                        "started": t.get("startedAt"), "finished": t.get("finishedAt"),
                                        "message": t.get("message", "")})
    for cond in st.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            h.scheduling = cond.get("message") or cond.get("reason") or "Unschedulable"
        if cond.get("status") != "True":
            h.conditions.append({"type": cond.get("type"), "status": cond.get("status"),
                                 "reason": cond.get("reason"), "message": cond.get("message")})
    if m.get("deletionTimestamp"):
        h.problem = "terminating"
    elif phase == "Failed":
        h.problem = "failed"
    elif phase == "Pending":
        h.problem = "pending"
    elif phase == "Unknown":
        h.problem = "unknown"
    elif phase == "Running" and (h.ready < h.total or any(w["reason"] in BAD_WAITING for w in h.waiting)):
        reasons = {w["reason"] for w in h.waiting}
        h.problem = ("crash-looping" if "CrashLoopBackOff" in reasons else
                     "image pull failing" if reasons & {"ImagePullBackOff", "ErrImagePull", "InvalidImageName"} else
                     "not ready")
    return h


# ----------------------------------------------------------------------------------------------- workloads
def _cond(obj: dict, kind: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def workload_health(obj: dict) -> dict:
    """Replica counts and what is wrong (``problem`` None when healthy) for a Deployment, StatefulSet, DaemonSet or
    ReplicaSet."""
    kind, spec, st, m = obj.get("kind"), obj.get("spec") or {}, obj.get("status") or {}, meta(obj)
    rec: dict[str, Any] = {"kind": kind, "namespace": m.get("namespace"), "name": m.get("name"), "problem": None}
    if kind == "DaemonSet":
        desired = int(st.get("desiredNumberScheduled") or 0)
        ready = int(st.get("numberReady") or 0)
        available = int(st.get("numberAvailable") or 0)
        rec.update(desired=desired, ready=ready, available=available, updated=int(st.get("updatedNumberScheduled")
                                                                                  or 0))
        if available < desired:
            rec["problem"] = f"{desired - available} of {desired} unavailable"
        if st.get("numberMisscheduled"):
            rec["problem"] = (rec["problem"] + "; " if rec["problem"] else "") + \
                f"{st['numberMisscheduled']} misscheduled"
        return rec
    desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    ready = int(st.get("readyReplicas") or 0)
    available = int(st.get("availableReplicas") or (ready if kind == "StatefulSet" else 0))
    rec.update(desired=desired, ready=ready, available=available, updated=int(st.get("updatedReplicas") or 0))
    problems = []
    if desired == 0 and kind in ("Deployment", "StatefulSet"):
        problems.append("scaled to 0 replicas")
    elif available < desired:
        problems.append(f"{desired - available} of {desired} unavailable")
    prog = _cond(obj, "Progressing")
    if prog.get("status") == "False":
        problems.append(f"Progressing=False ({prog.get('reason', '')})")
    fail = _cond(obj, "ReplicaFailure")
    if fail.get("status") == "True":
        problems.append(f"ReplicaFailure: {inline(fail.get('message') or fail.get('reason'))}")
    if spec.get("paused"):
        problems.append("rollout paused")
    rec["problem"] = "; ".join(problems) or None
    return rec


def workload_line(rec: dict, with_ns: bool = True) -> str:
    who = f"{rec['kind'].lower()}/{rec['namespace'] + '/' if with_ns else ''}{rec['name']}"
    return (f"- {who}: {rec.get('available', 0)}/{rec.get('desired', 0)} available, {rec.get('ready', 0)} ready"
            f" — {rec['problem']}")


# ------------------------------------------------------------------------------------------------ services
def selects(selector: dict | None, labels: dict | None) -> bool:
    return bool(selector) and all((labels or {}).get(k) == v for k, v in (selector or {}).items())


def label_selector(sel: dict | None) -> str:
    """A LabelSelector ({matchLabels, matchExpressions}) or a Service's plain selector map, as a selector string."""
    sel = sel or {}
    if "matchLabels" not in sel and "matchExpressions" not in sel:
        return ",".join(f"{k}={v}" for k, v in sel.items())
    parts = [f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items()]
    for e in sel.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), ",".join(e.get("values") or [])
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": str(key),
                      "DoesNotExist": f"!{key}"}.get(str(op), f"{key}"))
    return ",".join(parts)


def _declared(pod: dict) -> list[dict]:
    out = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            out.append({"container": c.get("name"), "port": p.get("containerPort"), "name": p.get("name"),
                        "protocol": p.get("protocol", "TCP")})
    return out


def _fmt_declared(ports: list[dict]) -> str:
    seen = dict.fromkeys(f"{p['port']}/{p['protocol']}" + (f" ({p['name']})" if p.get("name") else "")
                         for p in ports)
    return ", ".join(seen) or "none"


def check_service_ports(svc: dict, pods: list[dict]) -> list[dict]:
    """For each Service port: does its targetPort match a container port of every selected pod? A named targetPort
    must resolve to a container port of that name; a numeric one should be declared by the containers (Kubernetes
    does not require the declaration, but a port nobody declares is almost always a misconfiguration)."""
    spec = svc.get("spec") or {}
    out = []
    selected = [p for p in pods if selects(spec.get("selector"), meta(p).get("labels"))]
    for sp in spec.get("ports") or []:
        target = sp.get("targetPort", sp.get("port"))
        proto = sp.get("protocol", "TCP")
        rec: dict[str, Any] = {"port": sp.get("port"), "name": sp.get("name"), "target_port": target,
                               "protocol": proto, "ok": True, "problem": None, "resolved": {}}
        if spec.get("type") == "ExternalName" or not spec.get("selector") or not selected:
            rec["ok"] = None  # nothing to check against
            out.append(rec)
            continue
        declared_all: list[dict] = []
        missing: list[str] = []
        for pod in selected:
            ports = [p for p in _declared(pod) if p["protocol"] == proto]
            declared_all += ports
            if isinstance(target, str) and not target.isdigit():
                hit = next((p for p in ports if p.get("name") == target), None)
            else:
                hit = next((p for p in ports if p["port"] == int(target)), None)
            rec["resolved"][meta(pod).get("name")] = hit["port"] if hit else None
            if hit is None:
                missing.append(meta(pod).get("name", "?"))
        if not missing:
            out.append(rec)
            continue
        rec["ok"] = False
        which = "the selected pods" if len(missing) == len(selected) else \
            f"{len(missing)} of {len(selected)} selected pods ({', '.join(missing[:3])})"
        if isinstance(target, str) and not target.isdigit():
            rec["problem"] = (f"named targetPort {target!r} does not resolve: no {proto} container port named "
                              f"{target!r} in {which} (declared: {_fmt_declared(declared_all)}); those pods get no "
                              "endpoint for this port")
        elif not declared_all:
            rec["ok"] = None
            rec["problem"] = (f"cannot verify targetPort {target}: the selected pods declare no container ports "
                              "(check what the process listens on)")
        else:
            rec["problem"] = (f"targetPort {target} matches no {proto} container port of {which} (they declare "
                              f"{_fmt_declared(declared_all)}): connections to port {sp.get('port')} will be refused")
        out.append(rec)
    return out


def endpoints_of(ctx: ProbeContext, namespace: str, name: str) -> dict:
    """Ready and not-ready addresses behind a Service: from Endpoints, else from EndpointSlices."""
    ready: list[dict] = []
    not_ready: list[dict] = []
    ports: list[dict] = []
    try:
        ep = ctx.kube.get(ctx.kube.resolve("endpoints"), name, namespace)
        for ss in ep.get("subsets") or []:
            for a in ss.get("addresses") or []:
                ready.append({"ip": a.get("ip"), "pod": (a.get("targetRef") or {}).get("name")})
            for a in ss.get("notReadyAddresses") or []:
                not_ready.append({"ip": a.get("ip"), "pod": (a.get("targetRef") or {}).get("name")})
            ports += [{"port": p.get("port"), "name": p.get("name")} for p in ss.get("ports") or []]
        return {"ready": ready, "not_ready": not_ready, "ports": ports, "found": True}
    except ProbeError:
        pass
    try:
        slices = ctx.kube.list(ctx.kube.resolve("endpointslices.discovery.k8s.io"), namespace,
                               label_selector=f"kubernetes.io/service-name={name}")
    except ProbeError:
        return {"ready": [], "not_ready": [], "ports": [], "found": False}
    for s in slices:
        for e in s.get("endpoints") or []:
            item = {"ip": (e.get("addresses") or ["?"])[0], "pod": (e.get("targetRef") or {}).get("name")}
            (ready if (e.get("conditions") or {}).get("ready", True) else not_ready).append(item)
        ports += [{"port": p.get("port"), "name": p.get("name")} for p in s.get("ports") or []]
    return {"ready": ready, "not_ready": not_ready, "ports": ports, "found": bool(slices)}


def service_ports_text(svc: dict) -> str:
    return ", ".join(f"{p.get('port')}->{p.get('targetPort', p.get('port'))}/{p.get('protocol', 'TCP')}"
                     + (f" ({p['name']})" if p.get("name") else "") for p in (svc.get("spec") or {}).get("ports") or [])


# ---------------------------------------------------------------------------------------------- quantities
_SUFFIX = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1), "k": Decimal("1e3"),
           "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"), "P": Decimal("1e15"), "E": Decimal("1e18"),
           "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
           "Pi": Decimal(2**50), "Ei": Decimal(2**60)}
_QTY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def quantity(value: Any) -> Decimal | None:
    m = _QTY.match(str(value).strip())
    if not m:
        return None
    try:
        return Decimal(m.group(1)) * _SUFFIX[m.group(2) or ""]
    except InvalidOperation:
        return None


def fmt_quantity(resource: str, value: Decimal) -> str:
    if resource == "cpu":
        return f"{int(value * 1000)}m" if value < 1 or value % 1 else str(int(value))
    if resource in ("memory", "ephemeral-storage") or resource.startswith("hugepages"):
        for unit in ("Gi", "Mi", "Ki"):
            if value >= _SUFFIX[unit]:
                return f"{(value / _SUFFIX[unit]):.1f}".rstrip("0").rstrip(".") + unit
    return str(int(value)) if value == int(value) else str(value)


def resources_text(res: dict | None) -> str:
    res = res or {}
    parts = []
    for key in ("requests", "limits"):
        if res.get(key):
            parts.append(key + " " + " ".join(f"{k}={v}" for k, v in res[key].items()))
    return "; ".join(parts) or "no requests/limits"


def probe_text(p: dict | None) -> str:
    if not p:
        return "none"
    if p.get("httpGet"):
        g = p["httpGet"]
        how = f"http-get {g.get('scheme', 'HTTP').lower()}://:{g.get('port')}{g.get('path', '/')}"
    elif p.get("tcpSocket"):
        how = f"tcp :{p['tcpSocket'].get('port')}"
    elif p.get("exec"):
        how = "exec " + " ".join(str(a) for a in p["exec"].get("command") or [])
    elif p.get("grpc"):
        how = f"grpc :{p['grpc'].get('port')}"
    else:
        how = "?"
    return (f"{how} delay={p.get('initialDelaySeconds', 0)}s period={p.get('periodSeconds', 10)}s "
            f"timeout={p.get('timeoutSeconds', 1)}s failures={p.get('failureThreshold', 3)}")


def kind_for(ctx: ProbeContext, api_version: str, kind: str) -> Kind | None:
    group, _, _version = api_version.rpartition("/")
    for k in ctx.kube.kinds():
        if k.kind == kind and k.group == group:
            return k
    return None
