"""topology: services -> endpoints -> pods -> workloads in a namespace, and the call graph seen in traces."""

from __future__ import annotations

import time
from typing import Annotated, Any

from pydantic import Field

from servers.probe.context import ProbeContext, ToolOutput
from servers.probe.kube import ProbeError
from servers.probe.tools.common import Budget
from servers.probe.tools.facts import Report, check_service_ports, meta, pod_health, selects

TRACE_LOOKBACK_MS = 3600 * 1000


def _endpoints(ctx: ProbeContext, namespace: str) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for ep in ctx.kube.list(ctx.kube.resolve("endpoints"), namespace):
        ready: list[str] = []
        not_ready: list[str] = []
        for ss in ep.get("subsets") or []:
            ready += [(a.get("targetRef") or {}).get("name") or a.get("ip", "?") for a in ss.get("addresses") or []]
            not_ready += [(a.get("targetRef") or {}).get("name") or a.get("ip", "?")
                          for a in ss.get("notReadyAddresses") or []]
        out[meta(ep).get("name", "")] = {"ready": ready, "not_ready": not_ready}
    return out


def call_graph(ctx: ProbeContext, namespace: str | None) -> tuple[list[dict], str | None]:
    """Parent -> child service calls with counts from Jaeger's dependencies API over the last hour; (edges, reason
    it is unavailable)."""
    if not ctx.jaeger.base:
        return [], ("Jaeger is not configured (start the probe with --jaeger-url URL; the simulator's kubeconfig "
                    "records it)")
    end = int(time.time() * 1000)
    params = {"endTs": end, "lookback": TRACE_LOOKBACK_MS}
    # One Jaeger per application, as in AIOpsLab: the simulator serves it under <base>/<namespace>; a single
    # Jaeger answers at <base>/api. Try the namespace's first.
    paths = ([f"/{namespace}/api/dependencies"] if namespace else []) + ["/api/dependencies"]
    last_error = ""
    for path in paths:
        try:
            doc: Any = ctx.jaeger.get(path, params)
        except (ProbeError, ValueError) as e:
            last_error = str(e)
            continue
        data = doc.get("data") if isinstance(doc, dict) else doc
        if isinstance(data, list):
            edges = [{"parent": d.get("parent"), "child": d.get("child"), "calls": int(d.get("callCount") or 0)}
                     for d in data if isinstance(d, dict)]
            return sorted(edges, key=lambda e: (-e["calls"], e["parent"] or "", e["child"] or "")), None
    return [], f"Jaeger did not answer the dependencies query ({last_error or 'unexpected reply'})"


def topology(ctx: ProbeContext,
             namespace: Annotated[str, Field(description="The namespace whose services to map.", min_length=1,
                                             max_length=63)],
             budget: Budget = None) -> ToolOutput:
    """How traffic flows in one namespace: each Service -> its endpoints -> the pods behind them (with readiness)
    -> the workloads that own them, flagging services with no ready endpoints, selectors that match no pods and
    targetPorts that match no container port. Then, when Jaeger is configured, the service call graph seen in the
    last hour of traces (caller -> callee with call counts), with flagged services marked."""
    kube = ctx.kube
    services = kube.list(kube.resolve("services"), namespace)
    pods = [p for p in kube.list(kube.resolve("pods"), namespace)
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    eps = _endpoints(ctx, namespace)
    health = {meta(p).get("name"): pod_health(p) for p in pods}
    records = []
    for svc in services:
        spec, name = svc.get("spec") or {}, meta(svc).get("name", "")
        sel = spec.get("selector") or {}
        selected = [p for p in pods if selects(sel, meta(p).get("labels"))]
        checks = check_service_ports(svc, selected)
        ep = eps.get(name, {"ready": [], "not_ready": []})
        problems = []
        if spec.get("type") != "ExternalName":
            if sel and not selected:
                problems.append("selector matches no pods")
            elif not ep["ready"] and (sel or ep["not_ready"]):
                problems.append("no ready endpoints")
        problems += [c["problem"] for c in checks if c["ok"] is False]
        owners = sorted({h.owner for p in selected if (h := health[meta(p).get("name")]).owner})
        records.append({
            "service": name, "type": spec.get("type", "ClusterIP"), "selector": sel,
            "ports": [f"{c['port']}->{c['target_port']}" for c in checks],
            "ready_endpoints": ep["ready"], "not_ready_endpoints": ep["not_ready"],
            "pods": [{"name": meta(p).get("name"), "ready": health[meta(p).get("name")].ready
                      == health[meta(p).get("name")].total, "status": health[meta(p).get("name")].status}
                     for p in selected],
            "workloads": owners, "problems": problems})
    records.sort(key=lambda r: (not r["problems"], r["service"]))
    flagged = {r["service"] for r in records if r["problems"]}

    rep = Report()
    rep.section("services")
    for r in records:
        n_ready = sum(1 for p in r["pods"] if p["ready"])
        line = (f"- svc/{r['service']} [{', '.join(r['ports'])}] -> {len(r['ready_endpoints'])} ready"
                + (f", {len(r['not_ready_endpoints'])} not ready" if r["not_ready_endpoints"] else "")
                + f" endpoints -> {n_ready}/{len(r['pods'])} pods ready")
        if r["problems"] or n_ready < len(r["pods"]):  # name the pods only where something is wrong
            line += ": " + ", ".join(f"{p['name']}{'' if p['ready'] else ' (NOT READY: ' + p['status'] + ')'}"
                                     for p in r["pods"][:4]) + (f", +{len(r['pods']) - 4} more"
                                                                if len(r["pods"]) > 4 else "")
        line += f" <- {', '.join(r['workloads'])}" if r["workloads"] else ""
        if r["problems"]:
            line = "⚠ " + line[2:] + " — PROBLEM: " + "; ".join(r["problems"])
        rep.add(line, "services", r)
    unexposed = sorted({h.owner for h in health.values() if h.owner}
                       - {w for r in records for w in r["workloads"]})
    if unexposed:
        rep.one(f"Workloads behind no service: {', '.join(unexposed)}", "unexposed_workloads", unexposed)

    edges, why = call_graph(ctx, namespace)
    rep.section("call_graph")
    if why:
        rep.one(f"Call graph from traces: unavailable: {why}", "call_graph_unavailable", why)
    elif not edges:
        rep.add("Call graph from traces: no calls recorded in the last hour")
    else:
        rep.add(f"Call graph from traces (last hour, {len(edges)} edges, caller -> callee: calls):")
        for e in edges:
            mark = " ⚠ callee flagged above" if e["child"] in flagged else ""
            rep.add(f"- {e['parent']} -> {e['child']}: {e['calls']}{mark}", "call_graph", e)

    header = (f"Topology of {namespace}: {len(services)} services, {len(pods)} pods; {len(flagged)} services "
              f"flagged{' (listed first)' if flagged else ''}. Format: svc [port->targetPort] -> endpoints -> pods "
              "<- owners.")
    if not services and not pods:
        header = f"Namespace {namespace} has no services and no pods (cluster_overview lists the namespaces)."
    return rep.finish(ctx, header, budget, extra={"namespace": namespace, "flagged": sorted(flagged)})
