"""cluster_overview: the first call of an investigation. Unhealthy things first, in a few hundred tokens."""

from __future__ import annotations

from collections import Counter

from servers.probe.context import ProbeContext, ToolOutput
from servers.probe.kube import ProbeError
from servers.probe.tools.common import Budget, Namespace
from servers.probe.tools.facts import (
    Report,
    ago,
    group_events,
    inline,
    list_events,
    meta,
    pod_health,
    workload_health,
    workload_line,
)

DEFAULT_BUDGET = 700  # tokens: a few hundred, the rest behind a cursor
MAX_NAMESPACES_LISTED = 15
PROBLEM_ORDER = {"crash-looping": 0, "failed": 1, "image pull failing": 2, "not ready": 3, "pending": 4,
                 "unknown": 5, "terminating": 6}


def _nodes(nodes: list[dict]) -> list[dict]:
    out = []
    for n in nodes:
        st, spec = n.get("status") or {}, n.get("spec") or {}
        conds = {c.get("type"): c for c in st.get("conditions") or []}
        ready = conds.get("Ready", {})
        problems = []
        if ready.get("status") != "True":
            problems.append(f"NotReady ({ready.get('reason', 'no Ready condition')})")
        problems += [t for t, c in conds.items() if t != "Ready" and c.get("status") == "True"]
        if spec.get("unschedulable"):
            problems.append("cordoned (unschedulable)")
        problems += [f"taint {t.get('key')}:{t.get('effect')}" for t in spec.get("taints") or []
                     if t.get("key", "").startswith("node.kubernetes.io/")]
        out.append({"name": meta(n).get("name"), "ready": ready.get("status") == "True", "problems": problems,
                    "message": ready.get("message") if problems else None})
    return out


def cluster_overview(ctx: ProbeContext, namespace: Namespace = None, budget: Budget = None) -> ToolOutput:
    """Start here. The state of the cluster (or of one namespace) with the unhealthy things first: node health,
    namespaces with pod counts, pods that are not ready, crash-looping (restart counts, last exit code and reason),
    pending (with the scheduler's reason) or failed, workloads (Deployments, StatefulSets, DaemonSets) with
    unavailable replicas or scaled to zero, and the newest warning events, de-duplicated. Then describe the
    objects it names, and read their events and logs."""
    kube = ctx.kube
    pods = kube.list(kube.resolve("pods"), namespace)
    nodes = _nodes(kube.list(kube.resolve("nodes")))
    if namespace:
        try:
            kube.get(kube.resolve("namespaces"), namespace)
        except ProbeError as e:
            raise ProbeError(f"namespace {namespace!r} cannot be read ({e}); call cluster_overview() without a "
                             "namespace to see them all") from e
        ns_names = [namespace]
    else:
        ns_names = [meta(n).get("name", "") for n in kube.list(kube.resolve("namespaces"))]
    workloads = []
    for kind in ("deployments", "statefulsets", "daemonsets"):
        workloads += [workload_health(o) for o in kube.list(kube.resolve(kind), namespace)]
    bad_workloads = [w for w in workloads if w["problem"]]
    warnings = group_events(list_events(ctx, namespace, type_="Warning"))

    health = [pod_health(p) for p in pods]
    unhealthy = sorted((h for h in health if h.problem), key=lambda h: (PROBLEM_ORDER.get(h.problem or "", 9),
                                                                       -h.restarts, h.namespace, h.name))
    restarted = sorted((h for h in health if not h.problem and h.restarts and h.phase == "Running"),
                       key=lambda h: (-h.restarts, h.namespace, h.name))
    # FailedScheduling reasons from events for pending pods whose condition says nothing useful
    sched = {(g.namespace, g.name): g.message for g in warnings if g.reason == "FailedScheduling"}
    for h in unhealthy:
        if h.problem == "pending" and not h.scheduling and (h.namespace, h.name) in sched:
            h.scheduling = sched[(h.namespace, h.name)]

    per_ns = Counter(h.namespace for h in health)
    bad_ns = Counter(h.namespace for h in unhealthy)
    with_ns = not namespace
    rep = Report()

    not_ready_nodes = [n for n in nodes if n["problems"]]
    if not not_ready_nodes:
        rep.one(f"Nodes: {len(nodes)}, all Ready ({', '.join(n['name'] for n in nodes[:6])}"
                f"{', …' if len(nodes) > 6 else ''})", "nodes", nodes)
    else:
        rep.one(f"Nodes: {len(nodes)}, {len(not_ready_nodes)} with problems:", "nodes", nodes)
    for n in not_ready_nodes:
        rep.add(f"- node/{n['name']}: {', '.join(n['problems'])}"
                + (f": {inline(n['message'])}" if n.get("message") else ""))
    ns_records = [{"name": ns, "pods": per_ns.get(ns, 0), "unhealthy_pods": bad_ns.get(ns, 0)} for ns in ns_names]
    ns_sorted = sorted(ns_records, key=lambda r: (-r["unhealthy_pods"], -r["pods"], r["name"]))
    shown_ns = ns_sorted[:MAX_NAMESPACES_LISTED]
    cells = [f"{r['name']} {r['pods']}" + (f" ({r['unhealthy_pods']} unhealthy)" if r["unhealthy_pods"] else "")
             for r in shown_ns]
    more = len(ns_sorted) - len(shown_ns)
    rep.one("Namespaces (pods): " + ", ".join(cells) + (f", +{more} more (list_resources kind=namespaces)"
                                                        if more else ""), "namespaces", shown_ns)

    rep.section("unhealthy_pods")
    if unhealthy:
        rep.add(f"Unhealthy pods ({len(unhealthy)}):")
        for h in unhealthy:
            rep.add(h.line(with_ns), "unhealthy_pods", h.record())
    else:
        rep.add("Unhealthy pods: none (all pods Running and ready, or Succeeded)")
    rep.section("workloads")
    if bad_workloads:
        rep.add(f"Workloads not fully available ({len(bad_workloads)}):")
        for w in bad_workloads:
            rep.add(workload_line(w, with_ns), "workloads", w)
    else:
        rep.add(f"Workloads: all {len(workloads)} Deployments/StatefulSets/DaemonSets fully available")
    rep.section("warning_events")
    if warnings:
        rep.add(f"Warning events ({len(warnings)} distinct, {sum(g.count for g in warnings)} total), newest first:")
        for g in warnings:
            rep.add(g.line(with_ns), "warning_events", g.record())
    else:
        rep.add("Warning events: none")
    rep.section("restarted_pods")
    if restarted:
        cells = [f"{h.namespace + '/' if with_ns else ''}{h.name} ({h.restarts}"
                 + (f", last {t['reason'] or 'exit'} {t['exit_code']} {ago(t['finished'])}"
                    if (t := (h.last_terminations or [None])[0]) else "") + ")" for h in restarted[:10]]
        rep.one(f"Ready now but restarted before ({len(restarted)}): " + "; ".join(cells)
                + (f"; +{len(restarted) - 10} more" if len(restarted) > 10 else ""),
                "restarted_pods", [h.record() for h in restarted])

    scope = f"namespace {namespace}" if namespace else f"cluster {ctx.target.server}"
    header = (f"{scope}: {len(nodes)} nodes ({len(nodes) - len(not_ready_nodes)} Ready), "
              f"{len(ns_names)} namespace{'s' if len(ns_names) != 1 else ''}, {len(pods)} pods "
              f"({len(unhealthy)} unhealthy, {len(restarted)} restarted), {len(bad_workloads)} workloads degraded, "
              f"{len(warnings)} distinct warning events.")
    if unhealthy or bad_workloads:
        header += " Next: describe the objects below, then events/logs for them."
    out = rep.finish(ctx, header, budget or min(DEFAULT_BUDGET, ctx.budget(None)),
                     extra={"summary": {"nodes": len(nodes), "nodes_ready": len(nodes) - len(not_ready_nodes),
                                        "namespaces": len(ns_names), "pods": len(pods),
                                        "unhealthy_pods": len(unhealthy), "restarted_pods": len(restarted),
                                        "degraded_workloads": len(bad_workloads),
                                        "warning_events": len(warnings)}})
    return out
