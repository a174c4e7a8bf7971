"""The rule-based baseline: an investigator that uses only what the probe (and the executor's show_policy) return.

It knows nothing about the cluster it is pointed at and nothing about any injected fault: it reads the namespace
the way an SRE would and decides from the evidence.

1. **Surface scan**: cluster_overview (unhealthy pods, degraded workloads, warning events), topology (Services whose
   targetPort or selector is wrong), traces (failing paths: where errors originate; call edges: where latency is
   lost between caller and callee), metrics_overview (error rates, latency and CPU jumps), Chaos Mesh experiments.
2. **Point investigation**: describe the unhealthy and the blamed workloads and services, read the logs of
   crashing or erroring services, follow the dependencies their error lines name (a database, a host:port) to
   that dependency's own description and logs, read the node labels a pending pod's selector asks for, the
   volumes a pending claim waits for.
3. **Diagnosis**: every fact becomes a finding with a weight: configuration facts that explain an outage
   (a Deployment scaled to zero, a nodeSelector no node satisfies, a targetPort no container listens on, a
   rollout that broke the pods, a container running another service's binary, a database refusing its client's
   user, a database demanding TLS, a Chaos Mesh experiment, released volumes) outweigh symptoms (errors in
   traces, latency, CPU, crash loops). The component with the strongest evidence is the answer.
4. **Mitigation**: the repair the cause calls for (scale back, drop the impossible selector, point the targetPort
   at the container port, roll back, restore the command, run the database's own repair script through the
   executor's allowlist and restart its clients, delete the experiment, release the volumes), then wait and verify
   through the probe; if the namespace is still unhealthy, restart what still crash-loops, then verify again.

The analysis answer maps the cause to AIOpsLab's vocabularies (copied in ``observer.policy``). One mapping follows
AIOpsLab's taxonomy rather than the plain reading: a database that lost its user is filed under
``Network/Storage Issue`` (AIOpsLab's ``storage_user_unregistered``), while a role missing from an existing user is
an ``Authentication Issue``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from observer.evidence import (
    LogSignal,
    dialed_ip,
    fenced_lines,
    grpc_service,
    latency_jumps,
    log_signals,
    mounts,
    no_such_host,
    number_jumps,
    path_callee,
    records,
    replica_sets,
    scaled_down_from,
    significant_cpu,
    significant_latency,
)
from observer.guidance import Guidance, GuidanceTracker, load_guidance
from observer.policy import Decision, Observation, PlanProposal, Submission, TaskSpec, ToolCall, ToolInfo, ToolResult

PROBE = "probe"
EXECUTOR = "executor"
CHAOS_KINDS = ("podchaos", "networkchaos", "stresschaos")
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "local-path-storage", "chaos-mesh",
                     "observe", "monitoring")
POD_SUFFIX = re.compile(r"^(?P<base>.+?)-[a-z0-9]{6,10}-[a-z0-9]{5}$")
MAX_FOLLOWUPS = 14
VERIFY_WAIT_S = 30.0
MAX_VERIFY_ROUNDS = 3
GUIDED_PRIORITY = -1  # reads a guidance lesson suggests go before the rest of the queue
DB_HINT = re.compile(r"mongo|mysql|postgres|redis|memcache|valkey|db\b|-db-|database|cassandra", re.I)


@dataclass
class Finding:
    kind: str
    component: str
    weight: float
    detail: str
    system_level: str | None = None
    fault_type: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Planned:
    call: ToolCall
    why: str
    priority: int = 50
    phase: str = "point_investigation"
    optional: bool = False  # skipped once a decisive cause is known


@dataclass
class Diagnosis:
    anomalous: bool
    component: str | None
    cause: Finding | None
    findings: list[Finding]

    @property
    def hypothesis(self) -> str:
        if not self.anomalous:
            return "no anomaly: every pod healthy, no failing traces, no metric anomalies"
        if self.cause is None:
            return "something is wrong, but no cause stands out"
        return f"{self.cause.component or 'the namespace'}: {self.cause.detail}"

    @property
    def confidence(self) -> int:
        if self.cause is None:
            return 70 if not self.anomalous else 20
        return int(min(95, 40 + 5 * self.cause.weight))


def _workload_name(ref: str) -> str:
    return ref.split("/", 1)[1] if "/" in ref else ref


def _pod_base(pod: str) -> str:
    m = POD_SUFFIX.match(pod)
    return m.group("base") if m else pod


class BaselinePolicy:
    """The rule-based investigator (``--policy baseline``).

    ``guidance``: a guidance file (``aoi evolve lessons``) or a loaded :class:`Guidance`. The lessons whose symptoms
    the results so far show put their reads first in the queue, and the steps verified repairs needed after the
    plan replace the default reserve kept for mitigation. Without guidance nothing changes."""

    name = "baseline"
    model: str | None = None

    def __init__(self, verify_wait_s: float = VERIFY_WAIT_S, guidance: str | Path | Guidance | None = None):
        self.verify_wait_s = verify_wait_s
        self.guidance = load_guidance(guidance)
        self.inv: Investigation | None = None

    def start(self, task: TaskSpec, tools: list[ToolInfo]) -> None:
        guide = GuidanceTracker(self.guidance, task) if self.guidance and self.guidance.lessons else None
        self.inv = Investigation(task, tools, self.verify_wait_s, guide)

    def decide(self, obs: Observation) -> Decision:
        if self.inv is None:
            raise RuntimeError("start() was not called")
        if obs.last_decision is not None and obs.last is not None:
            self.inv.ingest(obs.last_decision, obs.last)
            if self.inv.guide is not None:
                self.inv.guide.observe(obs.last)
                self.inv.follow_guidance()
        return self.inv.next(obs)


class Investigation:
    """The baseline's state for one episode: what it plans to read, what it has read, what it concluded."""

    def __init__(self, task: TaskSpec, tools: list[ToolInfo], verify_wait_s: float,
                 guide: GuidanceTracker | None = None):
        self.task = task
        self.guide = guide
        self.ns = task.namespace
        self.tools = {(t.server, t.name) for t in tools}
        self.verify_wait_s = verify_wait_s
        self.queue: list[Planned] = []
        self.done: set[str] = set()
        self.followups = 0
        self.last_summary = ""
        # evidence
        self.nodes: list[str] = []
        self.services: dict[str, dict[str, Any]] = {}
        self.unhealthy: dict[str, list[dict[str, Any]]] = {}
        self.degraded: dict[str, dict[str, Any]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self.deploy_text: dict[str, str] = {}
        self.service_desc: dict[str, dict[str, Any]] = {}
        self.signals: dict[str, list[LogSignal]] = {}
        self.chaos: dict[tuple[str, str], dict[str, Any] | None] = {}
        self.pvcs: list[dict[str, Any]] = []
        self.pvs: dict[str, dict[str, Any] | None] = {}
        self.configmaps: dict[str, dict[str, Any]] = {}
        self.policy: dict[str, Any] | None = None
        self.findings: list[Finding] = []
        self.command_checks: dict[str, str] = {}  # workload -> the sibling whose command it runs
        self.selector_checks: dict[str, dict[str, str]] = {}  # workload -> labels asked of nodes
        # mitigation
        self.stage = "investigate"  # investigate | repair | verify | done
        self.plans: list[dict[str, Any]] = []
        self.restarted: set[str] = set()
        self.verify_rounds = 0
        self.pending_wait = False
        self.verify_overview: dict[str, Any] | None = None
        self.current_unhealthy: dict[str, list[dict[str, Any]]] | None = None
        self.diagnosis: Diagnosis | None = None
        if self.ns:
            self._surface()
        else:
            self._add(PROBE, "cluster_overview", {}, "find the namespace in trouble", 0)

    # ------------------------------------------------------------------------------------------------ queue
    def _has(self, server: str, tool: str) -> bool:
        return (server, tool) in self.tools

    def _add(self, server: str, tool: str, args: dict[str, Any], why: str, priority: int = 50,
             followup: bool = False, phase: str = "point_investigation", optional: bool = False) -> None:
        if not self._has(server, tool):
            return
        call = ToolCall(server=server, tool=tool, arguments={k: v for k, v in args.items() if v is not None})
        key = call.key()
        if key in self.done or any(p.call.key() == key for p in self.queue):
            return
        if followup:
            if self.followups >= MAX_FOLLOWUPS:
                return
            self.followups += 1
        self.queue.append(Planned(call, why, priority, phase, optional))
        self.queue.sort(key=lambda p: p.priority)

    def _surface(self) -> None:
        ns = self.ns
        scan = "surface_scan"
        self._add(PROBE, "cluster_overview", {"namespace": ns}, "overview: unhealthy pods and workloads first", 0,
                  phase=scan)
        self._add(PROBE, "topology", {"namespace": ns}, "services, endpoints and targetPorts", 1, phase=scan)
        self._add(PROBE, "traces", {"namespace": ns, "errors_only": True}, "where errors originate", 2, phase=scan)
        self._add(PROBE, "traces", {"namespace": ns}, "where latency is lost", 3, phase=scan, optional=True)
        self._add(PROBE, "metrics_overview", {"namespace": ns}, "error rates, latency and CPU", 4, phase=scan)
        for i, kind in enumerate(CHAOS_KINDS[:2]):
            self._add(PROBE, "list_resources", {"kind": kind, "namespace": ns}, "fault-injection experiments",
                      60 + i, phase=scan, optional=True)

    def _describe(self, kind: str, name: str, why: str, priority: int = 20, optional: bool = False) -> None:
        self._add(PROBE, "describe", {"kind": kind, "name": name, "namespace": self.ns}, why, priority, followup=True,
                  optional=optional)

    def _logs(self, workload: str, why: str, errors_only: bool, priority: int = 30, optional: bool = False) -> None:
        args: dict[str, Any] = {"namespace": self.ns, "workload": workload}
        if errors_only:
            args["errors_only"] = True
        else:
            args["tail"] = 40
        self._add(PROBE, "logs", args, why, priority, followup=True, optional=optional)

    # ------------------------------------------------------------------------------------------------ names
    def svc_of(self, workload: str) -> str:
        """The service name of a workload ('deployment/geo' or 'geo'), as AIOpsLab names components."""
        ref = workload if "/" in workload else f"deployment/{workload}"
        for name, s in self.services.items():
            if ref in (s.get("workloads") or []):
                return name
        return _workload_name(workload)

    def workload_of(self, svc: str) -> str:
        s = self.services.get(svc) or {}
        wl = [w for w in s.get("workloads") or [] if w.startswith(("deployment/", "statefulset/"))]
        return wl[0] if wl else f"deployment/{svc}"

    def is_service(self, name: str) -> bool:
        return name in self.services or f"deployment/{name}" in self.unhealthy or name in self.deployments

    # ------------------------------------------------------------------------------------------------ findings
    def find(self, kind: str, component: str, weight: float, detail: str, level: str | None = None,
             ftype: str | None = None, **data: Any) -> None:
        for f in self.findings:
            if f.kind == kind and f.component == component:
                f.weight = max(f.weight, weight)
                f.data.update(data)
                return
        self.findings.append(Finding(kind, component, weight, detail, level, ftype, dict(data)))

    # ------------------------------------------------------------------------------------------------ ingest
    def ingest(self, d: Decision, r: ToolResult) -> None:
        if d.plan is not None:
            self._plan_result(r)
            return
        if d.wait is not None or d.call is None:
            return
        self.done.add(d.call.key())
        if r.is_error:
            self.last_summary = f"{r.tool} failed: {r.text[:120]}"
            return
        handler = getattr(self, f"_on_{r.server}_{r.tool}", None)
        self.last_summary = ""
        if handler is not None:
            handler(r.arguments, r.result, r.text)

    def _on_executor_show_policy(self, args: dict[str, Any], data: dict[str, Any], text: str) -> None:
        self.policy = data or None

    def _on_probe_cluster_overview(self, args: dict[str, Any], data: dict[str, Any], text: str) -> None:
        if self.stage == "verify":
            self.verify_overview = data
            self.current_unhealthy = {}
            for p in records(data.get("unhealthy_pods")):
                self.current_unhealthy.setdefault(str(p.get("owner") or f"pod/{p.get('name')}"), []).append(p)
            s = data.get("summary") or {}
            self.last_summary = (f"after the repair: {s.get('unhealthy_pods', '?')} unhealthy pods, "
                                 f"{s.get('degraded_workloads', '?')} degraded workloads")
            return
        if self.ns is None:
            nss = [n for n in records(data.get("namespaces")) if n.get("name") not in SYSTEM_NAMESPACES]
            nss.sort(key=lambda n: (-(n.get("unhealthy_pods") or 0), -(n.get("pods") or 0)))
            if not nss:
                return
            self.ns = str(nss[0]["name"])
            self.last_summary = f"namespace {self.ns} looks most affected"
            self._surface()
            return
        self.nodes = [str(n.get("name")) for n in records(data.get("nodes")) if n.get("name")]
        for p in records(data.get("unhealthy_pods")):
            owner = str(p.get("owner") or f"pod/{p.get('name')}")
            self.unhealthy.setdefault(owner, []).append(p)
        for w in records(data.get("workloads")):
            if w.get("problem"):
                self.degraded[f"{str(w.get('kind', 'Deployment')).lower()}/{w.get('name')}"] = w
        order = sorted(self.unhealthy.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        for rank, (owner, pods) in enumerate(order[:6]):
            optional = rank >= 3  # beyond the first few, only while no decisive cause is known
            kind, _, name = owner.partition("/")
            problems = {str(p.get("problem")) for p in pods}
            svc = self.svc_of(owner)
            if "pending" in problems:
                self.find("pending", svc, 3, f"{owner}'s pods are Pending: {pods[0].get('scheduling') or ''}"[:300])
                sched = " ".join(str(p.get("scheduling") or "") for p in pods)
                if "PersistentVolumeClaim" in sched:
                    self._add(PROBE, "list_resources", {"kind": "persistentvolumeclaims", "namespace": self.ns},
                              "pending pods wait for volume claims", 12, followup=True)
                    self._add(PROBE, "list_resources", {"kind": "persistentvolumes"}, "the volumes they could bind",
                              13, followup=True)
            crashing = problems & {"crash-looping", "failed", "not ready", "image pull failing"}
            if crashing:
                last = (pods[0].get("last_terminations") or [{}])[0] or {}
                self.find("crashloop", svc, 3, f"{owner} is {', '.join(sorted(crashing))} (last exit "
                          f"{last.get('exit_code')} {last.get('reason') or ''})".strip())
            if kind in ("deployment", "statefulset", "daemonset"):
                self._describe(kind, name, f"{owner} is unhealthy ({', '.join(sorted(problems))})", 10 + rank,
                               optional=optional)
                if crashing:
                    self._logs(owner, f"why {owner} crashes", errors_only=False, priority=11 + rank,
                               optional=optional)
        for ref, w in self.degraded.items():
            kind, _, name = ref.partition("/")
            svc = self.svc_of(ref)
            if w.get("desired") == 0 or "scaled to 0" in str(w.get("problem")):
                self.find("scaled_to_zero", svc, 10, f"{ref} is scaled to 0 replicas: nothing serves {svc}",
                          "Virtualization", "Operation Error", workload=ref)
            elif ref not in self.unhealthy:
                self.find("degraded", svc, 2, f"{ref}: {w.get('problem')}")
            self._describe(kind, name, f"{ref} is degraded ({w.get('problem')})", 10)
        n_bad = sum(len(p) for p in self.unhealthy.values())
        self.last_summary = (f"{n_bad} unhealthy pods in {len(self.unhealthy)} workloads, {len(self.degraded)} "
                             "degraded workloads" if n_bad or self.degraded else "all pods healthy")

    def _on_probe_topology(self, args: dict[str, Any], data: dict[str, Any], text: str) -> None:
        for s in records(data.get("services")):
            if s.get("service"):
                self.services[str(s["service"])] = s
        flagged = [str(x) for x in data.get("flagged") or []]
        for svc in flagged:
            s = self.services.get(svc) or {}
            problems = "; ".join(str(p) for p in s.get("problems") or [])
            if "targetPort" in problems:
                self.find("port_mismatch", svc, 10, f"Service {svc}: {problems}", "Virtualization",
                          "Misconfiguration", service=svc)
                self._describe("service", svc, f"Service {svc} is flagged: {problems[:80]}", 5)
                wl = self.workload_of(svc)
                self._describe(wl.split("/")[0], _workload_name(wl), f"the container ports behind {svc}", 6)
            elif problems:
                self.find("service_problem", svc, 4, f"Service {svc}: {problems}")
        self.last_summary = (f"{len(self.services)} services; flagged: {', '.join(flagged)}" if flagged
                             else f"{len(self.services)} services, none flagged")

    def _blame(self, fp: dict[str, Any]) -> tuple[str | None, str, float, tuple[str | None, str | None]]:
        """(service blamed, why, weight, (system level, fault type)) for one failing trace path."""
        path, origin, msg = str(fp.get("path") or ""), str(fp.get("origin") or ""), str(fp.get("message") or "")
        origin_svc = origin.split(" ", 1)[0] if origin else None
        op = origin.split(" ", 1)[1] if " " in origin else ""
        host = no_such_host(msg)
        if host and not self.is_service(host) and origin_svc:
            return (origin_svc, f"{origin_svc} calls a host that does not resolve ({host!r}): its own configuration",
                    8, ("Application", "Misconfiguration"))
        callee = path_callee(path)
        low = msg.lower()
        connect = any(w in low for w in ("refused", "unavailable", "dial", "connect", "no such host", "timeout"))
        if callee:
            return callee, f"calls to {callee} fail: {msg[:160]}", 6, (None, None)
        target = grpc_service(op) if op else None
        if target and target != origin_svc and connect and (self.is_service(target) or not self.services):
            return target, f"{origin_svc}'s calls to {target} fail: {msg[:160]}", 6, (None, None)
        if dialed_ip(msg) and target:
            return target, f"{origin_svc} cannot reach {target}: {msg[:160]}", 6, (None, None)
        if origin_svc:
            return origin_svc, f"errors originate in {origin_svc} ({op}): {msg[:160]}", 6, ("Application",
                                                                                           "Code Defect")
        return None, "", 0, (None, None)

    def _on_probe_traces(self, args: dict[str, Any], data: dict[str, Any], text: str) -> None:
        paths = records(data.get("failing_paths"))
        blamed: list[str] = []
        for fp in paths:
            svc, why, weight, (level, ftype) = self._blame(fp)
            if not svc:
                continue
            count = int(fp.get("count") or 1)
            self.find("trace_errors", svc, weight + min(1.0, count / 50), why, level, ftype)
            blamed.append(svc)
        for svc in dict.fromkeys(blamed):
            wl = self.workload_of(svc)
            if wl not in self.unhealthy:
                self._describe(wl.split("/")[0], _workload_name(wl), f"traces blame {svc}", 15)
                self._logs(wl, f"errors logged by {svc}", errors_only=True, priority=16)
        lost = []
        for e in records(data.get("edges")):
            p95, own = e.get("p95_ms"), e.get("callee_p95_ms")
            if isinstance(p95, int | float) and isinstance(own, int | float) and p95 - own >= max(100.0, 5 * own):
                callee = str(e.get("callee"))
                lost.append(callee)
                self.find("network_latency", callee, 7 + min(1.0, (p95 - own) / 10000),
                          f"calls {e.get('caller')} -> {callee} lose {p95 - own:.0f} ms between caller and callee "
                          f"(callee's own p95 {own:.1f} ms)", "Virtualization", "Network/Storage Issue")
        if paths or lost:
            self.last_summary = (f"failing paths blame {', '.join(dict.fromkeys(blamed)) or 'nothing'}"
                                 + (f"; latency lost on calls to {', '.join(lost)}" if lost else ""))
        elif not self.last_summary:
            self.last_summary = "no failing traces" if args.get("errors_only") else "no slow call edges"

    def _on_probe_metrics_overview(self, args: dict[str, Any], data: dict[str, Any], text: str) -> None:
        noted = []
        for s in records(data.get("services")):
            svc = str(s.get("service") or "")
            ratio, rate = s.get("error_ratio") or 0, s.get("err_per_s") or 0
            if ratio >= 0.01 and rate > 0:
                self.find("error_rate", svc, 3 + min(2.0, 4 * ratio), f"{svc}: {ratio:.0%} of requests fail")
                noted.append(f"{svc} errors {ratio:.0%}")
            for new, base in latency_jumps(s.get("anomalies") or []):
                if significant_latency(new, base):
                    factor = new / max(base, 0.1)
                    self.find("latency", svc, 4 + min(3.0, math.log10(factor)),
                              f"{svc}: p95 latency up to {new:.0f} ms (typical {base:.1f} ms)", factor=factor)
                    noted.append(f"{svc} latency x{factor:.0f}")
        for c in records(data.get("containers")):
            pod = str(c.get("pod") or "")
            for new, base in number_jumps(c.get("anomalies") or [], "cpu"):
                if significant_cpu(new, base):
                    svc = self.svc_of(_pod_base(pod))
                    self.find("cpu", svc, 4 + min(2.5, 10 * (new - base)),
                              f"{svc}: CPU up to {new:.3g} cores (typical {base:.3g})", delta=new - base)
                    noted.append(f"{svc} cpu")
        self.last_summary = "metrics: " + (", ".join(dict.fromkeys(noted)) if noted else "nothing significant")

    def _on_probe_list_resources(self, args: dict[str, Any], data: dict[str, Any], text: str) -> None:
        kind = str(args.get("kind") or "").lower()
        items = records(data.get("items"))
        if kind in CHAOS_KINDS:
            for it in items[:3]:
                name = str(it.get("name"))
                self.chaos[(kind, name)] = None
                self._add(PROBE, "get_resource", {"kind": kind, "name": name, "namespace": self.ns},
                          f"what the {kind} experiment {name} does", 8, followup=True)
            self.last_summary = f"{len(items)} {kind} experiments"
        elif kind == "persistentvolumeclaims":
            self.pvcs = items
            pending = [i for i in items if i.get("status") == "Pending"]
            self.last_summary = f"{len(pending)} of {len(items)} claims Pending"
        elif kind == "persistentvolumes":
            released = [i for i in items if i.get("status") == "Released"]
            for i in released:
                self.pvs.setdefault(str(i.get("name")), None)
            if released and any(p.get("status") == "Pending" for p in self.pvcs):
                self.find("volumes_released", "", 10, f"{len(released)} PersistentVolumes are Released (still bound "
                          "to claims that were deleted) while the namespace's claims are Pending: the volumes "
                          "cannot be bound again", "Virtualization", "Operation Error")
            self.last_summary = f"{len(released)} of {len(items)} volumes Released"
        elif kind == "nodes":
            wl = str(args.get("label_selector") or "")
            for ref, labels in self.selector_checks.items():
                if ",".join(f"{k}={v}" for k, v in labels.items()) == wl and not items:
                    self._selector_finding(ref, labels, "no node has these labels")

    def _on_probe_get_resource(self, args: dict[str, Any], data: dict[str, Any], text: str) -> None:
        kind = str(args.get("kind") or "").lower()
        obj = data.get("object") if isinstance(data.get("object"), dict) else {}
        name = str(args.get("name"))
        if kind in CHAOS_KINDS:
            self.chaos[(kind, name)] = obj
            spec = obj.get("spec") or {}
            labels = ((spec.get("selector") or {}).get("labelSelectors") or {})
            targets = [svc for svc, s in self.services.items()
                       if s.get("selector") and all(labels.get(k) == v for k, v in (s.get("selector") or {}).items())]
            if not targets:
                for rec in records(((obj.get("status") or {}).get("experiment") or {}).get("containerRecords")):
                    pod = str(rec.get("id") or "").split("/")[-1]
                    if pod:
                        targets.append(self.svc_of(_pod_base(pod)))
            action = str(spec.get("action") or kind)
            net = kind == "networkchaos"
            for svc in dict.fromkeys(targets) or [""]:
                self.find("chaos", svc, 9, f"a Chaos Mesh {obj.get('kind', kind)} experiment ({action}) "
                          f"targets {svc or 'pods'}", "Virtualization",
                          "Network/Storage Issue" if net else "Operation Error",
                          experiments=[*self._chaos_of(svc), (obj.get("kind") or kind, name)])
            self.last_summary = f"{obj.get('kind', kind)} {name}: {action} on {', '.join(targets) or 'unknown'}"
        elif kind in ("persistentvolumes", "persistentvolume", "pv"):
            self.pvs[name] = obj
        elif kind in ("configmaps", "configmap", "cm"):
            self.configmaps[name] = obj

    def _chaos_of(self, svc: str) -> list[tuple[str, str]]:
        for f in self.findings:
            if f.kind == "chaos" and f.component == svc:
                return list(f.data.get("experiments") or [])
        return []

    def _on_probe_describe(self, args: dict[str, Any], data: dict[str, Any], text: str) -> None:
        kind = str(data.get("kind") or args.get("kind") or "").lower()
        name = str(data.get("name") or args.get("name"))
        if kind == "service":
            self.service_desc[name] = data
            bad = [c for c in records(data.get("port_checks")) if c.get("ok") is False]
            if bad:
                self.find("port_mismatch", name, 10, f"Service {name}: {bad[0].get('problem')}", "Virtualization",
                          "Misconfiguration", service=name)
            self.last_summary = f"Service {name}: " + ("; ".join(str(c.get("problem")) for c in bad) if bad
                                                       else "ports match")
            return
        if kind not in ("deployment", "statefulset"):
            return
        self.deployments[name] = data
        self.deploy_text[name] = text
        ref = f"{kind}/{name}"
        svc = self.svc_of(ref)
        notes = []
        # a rollout that broke the pods: the newest revision is unhealthy and the previous one differed
        rsets = replica_sets(text, data.get("replica_sets"))
        pods = records(data.get("pods"))
        sick = [p for p in pods if p.get("problem")]
        if len(rsets) >= 2:
            new, old = rsets[0], rsets[1]
            if sick and (new.get("ready") or 0) < (new.get("desired") or 0):
                changed = new.get("images") != old.get("images")
                self.find("bad_rollout", svc, 8 if changed else 6,
                          f"{ref} revision {new.get('revision')} ({new.get('images')}) does not become ready; "
                          f"revision {old.get('revision')} ran {old.get('images')}", "Application",
                          "Misconfiguration", workload=ref)
                notes.append(f"revision {new.get('revision')} broke it")
            else:
                self.find("recent_change", svc, 1, f"{ref} was changed recently (revision {new.get('revision')})",
                          workload=ref, revision=new.get("revision"))
        # a pending pod whose nodeSelector no node satisfies
        sched = data.get("scheduling") or {}
        selector = sched.get("node_selector") or {}
        if selector and any(p.get("problem") == "pending" for p in pods):
            host = selector.get("kubernetes.io/hostname")
            if host is not None and self.nodes and host not in self.nodes:
                self._selector_finding(ref, selector, f"node {host!r} does not exist (nodes: "
                                                      f"{', '.join(self.nodes)})")
            else:
                self.selector_checks[ref] = dict(selector)
                self._add(PROBE, "list_resources", {"kind": "nodes", "label_selector": ",".join(
                    f"{k}={v}" for k, v in selector.items())}, f"does any node match {ref}'s nodeSelector", 9,
                    followup=True)
        # a container running another service's program
        for c in records(data.get("template_containers")):
            cmd = c.get("command") or []
            prog = str(cmd[0]).rsplit("/", 1)[-1] if cmd else ""
            if prog and prog != name and prog in self.services and name in self.services:
                self.command_checks[name] = prog
                self._describe("deployment", prog, f"{name} runs {prog}'s program: how does {prog} run it", 14)
        for wl, prog in list(self.command_checks.items()):
            if prog == name:
                self._check_command(wl)
        if name in self.command_checks:
            self._check_command(name)
        self.last_summary = (f"{ref}: {(data.get('replicas') or {}).get('problem') or 'available'}; "
                             f"{len(sick)}/{len(pods)} pods unhealthy" + (f"; {', '.join(notes)}" if notes else ""))

    def _check_command(self, name: str) -> None:
        prog = self.command_checks.get(name)
        sibling = self.deployments.get(prog or "")
        mine = self.deployments.get(name)
        if not prog or sibling is None or mine is None:
            return
        sib_cmds = [c.get("command") for c in records(sibling.get("template_containers"))]
        if [prog] in sib_cmds or any(cmd and str(cmd[0]).endswith(prog) for cmd in sib_cmds if cmd):
            ctr = records(mine.get("template_containers"))[0]
            self.find("wrong_command", self.svc_of(name), 10,
                      f"deployment/{name} runs {ctr.get('command')} — the program of {prog} (which runs it too), "
                      f"not its own", "Application", "Misconfiguration", workload=f"deployment/{name}",
                      container=ctr.get("name"), command=[name])

    def _selector_finding(self, ref: str, selector: dict[str, str], why: str) -> None:
        keep = {k: v for k, v in selector.items() if k != "kubernetes.io/hostname"} \
            if "node" in why and "exist" in why else {}
        self.find("unsatisfiable_selector", self.svc_of(ref), 10,
                  f"{ref} asks for nodeSelector {selector}: {why}; its pods cannot be scheduled", "Virtualization",
                  "Dependency Problem", workload=ref, keep=keep)

    def _on_probe_logs(self, args: dict[str, Any], data: dict[str, Any], text: str) -> None:
        workload = str(args.get("workload") or args.get("pod") or "")
        svc = self.svc_of(workload)
        lines = fenced_lines(text)
        sig = log_signals(lines)
        self.signals.setdefault(svc, []).extend(sig)
        kinds = {s.kind for s in sig}
        deps = [s.value for s in sig if s.kind == "dependency" and s.value != svc and self.is_service(s.value)]
        dbs = [d for d in dict.fromkeys(deps) if DB_HINT.search(d)] or list(dict.fromkeys(deps))
        own_db = DB_HINT.search(svc) is not None
        trouble = kinds & {"auth_denied", "auth_failed", "user_not_found", "unreachable", "refused", "tls_required"}
        for s in sig:
            if s.kind == "auth_denied":
                db = dbs[0] if dbs and not own_db else svc
                self.find("db_authz", db, 9, f"{db} refuses {svc if db != svc else 'its clients'}: "
                          f"{s.line.strip()[:160]}", "Application", "Authentication Issue", database=s.value,
                          clients=[svc] if db != svc else [])
            elif s.kind in ("auth_failed", "user_not_found"):
                db = dbs[0] if dbs and not own_db else svc
                weight = 9.5 if s.kind == "user_not_found" else 9
                self.find("db_authn", db, weight, f"{db} does not authenticate "
                          f"{svc if db != svc else 'its clients'}'s user: {s.line.strip()[:160]}", "Application",
                          "Network/Storage Issue", clients=[svc] if db != svc else [])
            elif s.kind == "tls_required" and own_db:
                self.find("tls_required", svc, 9, f"{svc} accepts only TLS connections and its clients do not use "
                          f"TLS: {s.line.strip()[:160]}", "Application", "Misconfiguration")
            elif s.kind == "unreachable":
                for h in (s.value.split(",") if s.value else dbs[:1]):
                    if h and h != svc and self.is_service(h):
                        self.find("dependency_unreachable", h, 4, f"{svc} cannot reach {h}: {s.line.strip()[:160]}",
                                  clients=[svc])
        # a client that cannot use its dependency: read the dependency's side
        for f in self.findings:
            if f.kind in ("db_authz", "db_authn") and svc in (f.data.get("clients") or []):
                f.data["clients"] = sorted(set(f.data["clients"]) | {svc})
        if trouble:
            for dep in (dbs or deps)[:2]:
                wl = self.workload_of(dep)
                self._describe(wl.split("/")[0], _workload_name(wl), f"{svc} fails against {dep}", 18)
                self._logs(wl, f"what {dep} says about {svc}'s connections", errors_only=False, priority=19)
        shown = sorted(kinds - {"error", "dependency"})
        self.last_summary = (f"logs of {svc}: {', '.join(shown) or ('errors' if 'error' in kinds else 'no errors')}"
                             + (f"; depends on {', '.join(dict.fromkeys(deps))}" if deps else ""))

    # ------------------------------------------------------------------------------------------------ guidance
    def known_names(self) -> list[str]:
        """Components the evidence so far names: services, their workloads, unhealthy and described workloads."""
        names = set(self.services) | set(self.deployments)
        for ref in [*self.unhealthy, *self.degraded, *(w for s in self.services.values()
                                                        for w in s.get("workloads") or [])]:
            names.add(_workload_name(str(ref)))
        return sorted(n for n in names if n)

    def _weight_of(self, name: str) -> float:
        svc = self.svc_of(name)
        return sum(f.weight for f in self.findings if f.component in (name, svc))

    def follow_guidance(self) -> None:
        """Put the reads of the lessons that now apply at the front of the queue (while still investigating)."""
        if self.guide is None or self.stage != "investigate":
            return
        for lesson, call, _subject in self.guide.suggestions(self.known_names(), rank=self._weight_of):
            key = call.key()
            if key in self.done:
                continue
            queued = next((p for p in self.queue if p.call.key() == key), None)
            if queued is not None:
                queued.priority = min(queued.priority, GUIDED_PRIORITY)
                queued.optional = False
            elif self._has(call.server, call.tool):
                self.queue.append(Planned(call, f"guidance {lesson.id}", GUIDED_PRIORITY))
        self.queue.sort(key=lambda p: p.priority)

    # ------------------------------------------------------------------------------------------------ diagnose
    def diagnose(self) -> Diagnosis:
        fs = [f for f in self.findings if f.weight >= 3]
        anomalous = bool(fs) or bool(self.unhealthy) or bool(self.degraded)
        if not fs:
            return Diagnosis(anomalous, None, None, self.findings)
        score: dict[str, float] = {}
        for f in fs:
            score[f.component] = score.get(f.component, 0.0) + f.weight
        best = max(fs, key=lambda f: (f.weight + 0.05 * score[f.component], f.component))
        return Diagnosis(True, best.component or None, best, self.findings)

    # ------------------------------------------------------------------------------------------------ next
    def next(self, obs: Observation) -> Decision:
        reserve = 9 if self.task.task == "mitigation" else 1
        if self.guide is not None:
            reserve = min(reserve, self.guide.guidance.repair_reserve(self.task.task) or reserve)
        if self.stage == "investigate":
            decisive = any(f.weight >= 9 for f in self.findings)
            self.queue = [p for p in self.queue if not (p.optional and decisive)]
            if self.queue and obs.steps_left > reserve and not obs.must_submit:
                return self._pop()
        d = self.diagnosis = self.diagnose()
        if obs.must_submit or self.task.task != "mitigation":
            return self._submit(d)
        return self._mitigate(d, obs)

    def _pop(self, phase: str | None = None) -> Decision:
        p = self.queue.pop(0)
        d = self.diagnose()
        return Decision(phase=phase or p.phase, hypothesis=d.hypothesis if d.cause else "",  # type: ignore[arg-type]
                        confidence=d.confidence, summary=self.last_summary, call=p.call)

    def _submit(self, d: Diagnosis) -> Decision:
        task = self.task.task
        answer: Any
        if task == "detection":
            answer = "Yes" if d.anomalous else "No"
        elif task == "localization":
            answer = [d.component] if d.component else []
        elif task == "analysis":
            cause = d.cause
            if cause is None:
                answer = None
            else:
                answer = {"system_level": cause.system_level or self._level(cause),
                          "fault_type": cause.fault_type or self._type(cause)}
        else:
            answer = None
        return Decision(phase="ready_to_submit", hypothesis=d.hypothesis, confidence=d.confidence,
                        summary=self.last_summary, submit=Submission(task=task, answer=answer))

    @staticmethod
    def _level(f: Finding) -> str:
        return {"network_latency": "Virtualization", "chaos": "Virtualization", "pending": "Virtualization",
                "degraded": "Virtualization"}.get(f.kind, "Application")

    @staticmethod
    def _type(f: Finding) -> str:
        return {"network_latency": "Network/Storage Issue", "dependency_unreachable": "Network/Storage Issue",
                "latency": "Network/Storage Issue", "cpu": "Code Defect", "crashloop": "Code Defect",
                "trace_errors": "Code Defect", "error_rate": "Code Defect", "pending": "Dependency Problem",
                }.get(f.kind, "Misconfiguration")

    # ------------------------------------------------------------------------------------------------ mitigate
    def _mitigate(self, d: Diagnosis, obs: Observation) -> Decision:
        if self.stage == "investigate":
            if not d.anomalous:
                return self._submit(d)
            needs = self._repair_needs(d)
            if needs and obs.steps_left > 6:
                return self._pop("depth_analysis")
            self.stage = "repair"
        if self.stage == "repair":
            actions = self._repair(d) if not self.plans else self._fallback()
            if not actions:
                self.stage = "done"
                return self._submit(d)
            self.stage = "planned"
            self.restarted |= {f"deployment/{a['name']}" for a in actions if a["type"] == "rollout_restart"}
            return Decision(phase="ready_to_fix", hypothesis=d.hypothesis, confidence=d.confidence,
                            summary=self.last_summary, plan=PlanProposal(
                                goal=self._goal(d, actions), rationale=self._rationale(d), actions=actions))
        if self.stage == "verify":
            if self.pending_wait:
                self.pending_wait = False
                return Decision(phase="verification", hypothesis=d.hypothesis, confidence=d.confidence,
                                summary=self.last_summary, wait=self.verify_wait_s)
            if self.queue:
                return self._pop("verification")
            if self._healthy():
                self.stage = "done"
                return self._submit_verified(d, True)
            self.verify_rounds += 1
            if self.verify_rounds < MAX_VERIFY_ROUNDS and obs.steps_left > 3:
                if self.verify_rounds == 2 and len(self.plans) < 2 and self._fallback():
                    self.stage = "repair"
                    return self._mitigate(d, obs)
                self._schedule_verify()
                return self._mitigate(d, obs)
            self.stage = "done"
            return self._submit_verified(d, False)
        return self._submit(d)

    def _submit_verified(self, d: Diagnosis, ok: bool) -> Decision:
        sub = self._submit(d)
        return sub.model_copy(update={"phase": "ready_to_submit", "summary": (
            "verified through the probe: the namespace is healthy again" if ok
            else "the namespace is still unhealthy after the repair; submitting what was done")})

    def _schedule_verify(self) -> None:
        self.stage = "verify"
        self.pending_wait = True
        self.verify_overview = None
        self.done = {k for k in self.done if not k.startswith(("probe.cluster_overview:", "probe.describe:"))}
        self.queue = []
        self._add(PROBE, "cluster_overview", {"namespace": self.ns}, "is the namespace healthy again", 0)
        cause = self.diagnosis.cause if self.diagnosis else None
        if cause is not None and cause.kind == "port_mismatch":
            self._add(PROBE, "describe", {"kind": "service", "name": cause.component, "namespace": self.ns},
                      "does the targetPort match now", 1)

    def _healthy(self) -> bool:
        s = (self.verify_overview or {}).get("summary") or {}
        if self.verify_overview is None:
            return False
        if s.get("unhealthy_pods") or s.get("degraded_workloads"):
            return False
        cause = self.diagnosis.cause if self.diagnosis else None
        if cause is not None and cause.kind == "port_mismatch":
            desc = self.service_desc.get(cause.component) or {}
            return not any(c.get("ok") is False for c in records(desc.get("port_checks")))
        return True

    def _plan_result(self, r: ToolResult) -> None:
        res = r.result
        status = str(res.get("status") or "")
        self.plans.append(res)
        self.last_summary = f"plan {status}" + (f": {res.get('executor', {}).get('message', '')}"
                                                 if res.get("executor") else "")
        if status == "executed":
            self._schedule_verify()
        elif status in ("awaiting_approval", "approval_timeout", "no_executor"):
            self.stage = "done"
        else:  # invalid, refused or failed: one fallback, then give up
            self.stage = "repair" if len(self.plans) < 2 and self._fallback() else "done"

    # ------------------------------------------------------------------------------------------------ repairs
    def _repair_needs(self, d: Diagnosis) -> bool:
        """Queue what the repair still needs to know; True if something was queued."""
        cause = d.cause
        if cause is None:
            return False
        before = len(self.queue)
        if cause.kind in ("db_authz", "db_authn"):
            db = cause.component
            wl = self.workload_of(db)
            if _workload_name(wl) not in self.deployments:
                self._add(PROBE, "describe", {"kind": wl.split("/")[0], "name": _workload_name(wl),
                                              "namespace": self.ns}, f"how {db} is set up", 30)
            cm = self._scripts_configmap(db)
            if cm and cm not in self.configmaps:
                self._add(PROBE, "get_resource", {"kind": "configmap", "name": cm, "namespace": self.ns},
                          f"the repair scripts mounted in {db}", 31)
        if cause.kind in ("db_authz", "db_authn") and self.policy is None:
            self._add(EXECUTOR, "show_policy", {}, "which commands the executor may run in a pod", 32)
        if cause.kind == "volumes_released":
            for name, obj in sorted(self.pvs.items())[:10]:
                if obj is None:
                    self._add(PROBE, "get_resource", {"kind": "persistentvolumes", "name": name},
                              "which claim the released volume still references", 30)
        if cause.kind == "port_mismatch":
            wl = self.workload_of(cause.component)
            if _workload_name(wl) not in self.deployments:
                self._add(PROBE, "describe", {"kind": wl.split("/")[0], "name": _workload_name(wl),
                                              "namespace": self.ns}, "the container port to target", 30)
            if cause.component not in self.service_desc:
                self._add(PROBE, "describe", {"kind": "service", "name": cause.component, "namespace": self.ns},
                          "the Service's ports", 30)
        return len(self.queue) > before

    def _scripts_configmap(self, db: str) -> str | None:
        name = _workload_name(self.workload_of(db))
        mnt = mounts(self.deploy_text.get(name, ""))
        vol = mnt.get("/scripts")
        if not vol:
            return None
        for v in records((self.deployments.get(name) or {}).get("volumes")):
            if v.get("name") == vol and v.get("type") == "configMap":
                return str(v.get("source"))
        return None

    def _action(self, type_: str, ref: str, **fields: Any) -> dict[str, Any]:
        kind, _, name = ref.partition("/")
        out: dict[str, Any] = {"type": type_, "namespace": self.ns, "name": name}
        if type_ in ("rollout_restart", "scale", "patch_container", "patch_scheduling", "set_image", "exec"):
            out["kind"] = {"deployment": "Deployment", "statefulset": "StatefulSet", "daemonset": "DaemonSet",
                           "pod": "Pod"}.get(kind, "Deployment")
        out.update(fields)
        return out

    def _crashing_clients(self, exclude: str = "") -> list[str]:
        out = []
        current = self.current_unhealthy if self.current_unhealthy is not None else self.unhealthy
        for owner, pods in sorted(current.items()):
            if owner.startswith("deployment/") and _workload_name(owner) != exclude and any(
                    p.get("problem") in ("crash-looping", "failed", "not ready") for p in pods):
                out.append(owner)
        return out

    def _restart(self, refs: list[str]) -> list[dict[str, Any]]:
        """Rollout restarts of the workloads not restarted yet in this episode."""
        return [self._action("rollout_restart", ref) for ref in dict.fromkeys(refs) if ref not in self.restarted]

    def _repair(self, d: Diagnosis) -> list[dict[str, Any]]:
        f = d.cause
        if f is None:
            return self._fallback()
        comp = f.component
        wl = str(f.data.get("workload") or (self.workload_of(comp) if comp else ""))
        if f.kind == "scaled_to_zero":
            desc = self.deployments.get(_workload_name(wl)) or {}
            before = scaled_down_from(records(desc.get("normal_events")) + records(desc.get("events"))) or 1
            return [self._action("scale", wl, replicas=before)]
        if f.kind == "unsatisfiable_selector":
            return [self._action("patch_scheduling", wl, node_selector=dict(f.data.get("keep") or {}))]
        if f.kind == "port_mismatch":
            return self._fix_ports(comp)
        if f.kind == "bad_rollout":
            return [self._action("rollout_undo", wl)]
        if f.kind == "wrong_command":
            return [self._action("patch_container", wl, container=f.data.get("container"),
                                 command=list(f.data.get("command") or []))]
        if f.kind == "tls_required":
            db_wl = self.workload_of(comp)
            rec = next((x for x in self.findings if x.kind == "recent_change" and x.component == comp), None)
            actions = [self._action("rollout_undo", db_wl)] if rec else self._drop_tls_args(db_wl)
            return actions + self._restart(self._crashing_clients(exclude=_workload_name(db_wl)))
        if f.kind in ("db_authz", "db_authn"):
            fix = self._db_fix(f)
            clients = [self.workload_of(c) for c in f.data.get("clients") or []] or self._crashing_clients(
                exclude=_workload_name(self.workload_of(comp)))
            return fix + self._restart(clients) if fix else self._restart(clients)
        if f.kind == "chaos":
            exps = f.data.get("experiments") or []
            return [{"type": "delete_chaos", "kind": k, "namespace": self.ns, "name": n}
                    for k, n in dict.fromkeys(tuple(x) for x in exps)]
        if f.kind == "volumes_released":
            acts = []
            for name, obj in sorted(self.pvs.items()):
                ref = ((obj or {}).get("spec") or {}).get("claimRef") or {}
                if obj is not None and ref.get("namespace") == self.ns:
                    acts.append({"type": "merge_patch", "kind": "PersistentVolume", "namespace": "", "name": name,
                                 "patch": {"spec": {"claimRef": None}}})
            return acts
        return self._restart([wl] if wl and wl.startswith("deployment/") and _workload_name(wl) in
                             self.deployments else []) or self._fallback()

    def _fallback(self) -> list[dict[str, Any]]:
        """Restart what still crash-loops (a fresh start picks up repaired dependencies)."""
        return self._restart(self._crashing_clients())

    def _fix_ports(self, svc: str) -> list[dict[str, Any]]:
        desc = self.service_desc.get(svc) or {}
        ports = records((desc.get("service") or {}).get("ports"))
        wl = self.deployments.get(_workload_name(self.workload_of(svc))) or {}
        cports = [int(p["containerPort"]) for c in records(wl.get("template_containers"))
                  for p in records(c.get("ports")) if isinstance(p.get("containerPort"), int)
                  and str(p.get("protocol") or "TCP") == "TCP"]
        bad = {int(c.get("port")) for c in records(desc.get("port_checks")) if c.get("ok") is False
               and isinstance(c.get("port"), int)}
        if not ports or not cports:
            return []
        out = []
        for p in ports:
            port = int(p.get("port"))
            target = p.get("targetPort")
            if port in bad:
                target = port if port in cports else (cports[0] if len(cports) == 1 else target)
            entry: dict[str, Any] = {"port": port, "target_port": target}
            if p.get("name"):
                entry["name"] = str(p["name"])
            if p.get("protocol"):
                entry["protocol"] = p["protocol"]
            if p.get("nodePort"):
                entry["node_port"] = p["nodePort"]
            out.append(entry)
        return [{"type": "patch_service", "namespace": self.ns, "name": svc, "ports": out}]

    def _drop_tls_args(self, ref: str) -> list[dict[str, Any]]:
        desc = self.deployments.get(_workload_name(ref)) or {}
        for c in records(desc.get("template_containers")):
            args = [str(a) for a in c.get("args") or c.get("command") or []]
            keep, skip = [], False
            for a in args:
                if skip:
                    skip = False
                    continue
                if a.startswith("--tls"):
                    skip = "=" not in a
                    continue
                keep.append(a)
            if keep != args:
                field_ = "args" if c.get("args") else "command"
                return [self._action("patch_container", ref, container=c.get("name"), **{field_: keep})]
        return []

    def _allowed_exec(self, argv: list[str]) -> bool:
        for rule in records((self.policy or {}).get("policy", {}).get("exec_allowlist")):
            want = rule.get("argv") or []
            if len(want) != len(argv):
                continue
            ok = True
            for w, g in zip(want, argv, strict=True):
                if isinstance(w, dict):
                    try:
                        ok = re.fullmatch(str(w.get("regex")), g, flags=re.DOTALL) is not None
                    except re.error:
                        ok = False
                else:
                    ok = w == g
                if not ok:
                    break
            if ok:
                return True
        return False

    def _db_fix(self, f: Finding) -> list[dict[str, Any]]:
        """Run the database's own repair script (mounted at /scripts) when the executor allows it; for a missing
        role, grant it with the allowlisted mongo command as a second choice."""
        db_wl = self.workload_of(f.component)
        cm = self.configmaps.get(self._scripts_configmap(f.component) or "") or {}
        scripts = sorted(str(k) for k in (cm.get("data") or {}) if str(k).endswith(".sh"))
        word = "revoke" if f.kind == "db_authz" else "remove"
        stem = f.component.replace("mongodb-", "").replace("-mongodb", "")
        candidates = [s for s in scripts if "mitigate" in s and word in s and stem in s] + \
                     [s for s in scripts if "mitigate" in s and word in s]
        for s in dict.fromkeys(candidates):
            argv = ["bash", f"/scripts/{s}"]
            if self._allowed_exec(argv):
                return [self._action("exec", db_wl, command=argv)]
        if f.kind == "db_authz" and f.data.get("database"):
            text = "\n".join(str(v) for v in (cm.get("data") or {}).values())
            user = re.search(r'ADMIN_USER="([^"]+)"', text)
            for rule in records((self.policy or {}).get("policy", {}).get("exec_allowlist")):
                prefix = [a for a in rule.get("argv") or [] if isinstance(a, str)]
                if prefix[:1] == ["mongo"] and user:
                    argv = [*prefix, f"db.grantRolesToUser('{user.group(1)}', [{{role: 'readWrite', db: "
                                     f"'{f.data['database']}'}}]);"]
                    if self._allowed_exec(argv):
                        return [self._action("exec", db_wl, command=argv)]
        return []

    def _goal(self, d: Diagnosis, actions: list[dict[str, Any]]) -> str:
        what = ", ".join(f"{a['type']} {a.get('name')}" for a in actions[:4])
        return f"Repair {d.component or self.ns}: {what}"[:500]

    def _rationale(self, d: Diagnosis) -> str:
        lines = [f"Cause: {d.cause.detail}" if d.cause else "No single cause; restarting what crash-loops."]
        others = [f for f in d.findings if f is not d.cause and f.weight >= 3][:4]
        lines += [f"Also seen: {f.detail}" for f in others]
        return "\n".join(lines)[:3900]
