"""list_resources and get_resource: any kind, compact tables and cleaned YAML."""

from __future__ import annotations

from typing import Annotated

import yaml
from pydantic import Field

from servers.probe.context import ProbeContext, ToolOutput
from servers.probe.tools.common import Budget, Cursor, Namespace, age, clean, table
from servers.probe.untrusted import fence

Kind = Annotated[str, Field(description="Resource kind: plural, singular or short name (pods, deploy, svc, "
                                        "events, nodes, configmaps, podchaos, ...).", min_length=1, max_length=100)]


def _status(obj: dict) -> str:
    kind = obj.get("kind")
    st = obj.get("status") or {}
    spec = obj.get("spec") or {}
    if kind == "Pod":
        cs = st.get("containerStatuses") or []
        for c in cs:
            w = (c.get("state") or {}).get("waiting")
            if w:
                return w.get("reason", "Waiting")
            t = (c.get("state") or {}).get("terminated")
            if t and st.get("phase") == "Running":
                return t.get("reason", "Terminated")
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            return "Terminating"
        return st.get("phase", "")
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        return f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)} ready"
    if kind == "DaemonSet":
        return f"{st.get('numberReady', 0)}/{st.get('desiredNumberScheduled', 0)} ready"
    if kind == "Node":
        ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), {})
        return "Ready" if ready.get("status") == "True" else "NotReady"
    if kind == "Service":
        ports = ",".join(f"{p.get('port')}->{p.get('targetPort')}" for p in spec.get("ports") or [])
        return f"{spec.get('type', 'ClusterIP')} {spec.get('clusterIP', '')} {ports}".strip()
    if kind in ("PersistentVolumeClaim", "PersistentVolume", "Namespace"):
        return st.get("phase", "")
    if kind == "Event":
        return f"{obj.get('type', '')} {obj.get('reason', '')} x{obj.get('count', 1)}"
    return ""


def _pod_row(o: dict) -> tuple[bool, list[str]]:
    st = o.get("status") or {}
    cs = st.get("containerStatuses") or []
    ready = sum(1 for c in cs if c.get("ready"))
    restarts = sum(c.get("restartCount", 0) for c in cs)
    status = _status(o)
    healthy = status in ("Running", "Succeeded") and (ready == len(cs) or status == "Succeeded") and restarts == 0
    return healthy, [f"{ready}/{len(cs)}", status, str(restarts), age(o["metadata"].get("creationTimestamp")),
                     (o.get("spec") or {}).get("nodeName") or "-"]


def _owner(o: dict) -> str:
    refs = o["metadata"].get("ownerReferences") or []
    if not refs:
        return ""
    name = refs[0].get("name", "")
    # A ReplicaSet's pods belong to its Deployment: strip the pod-template-hash.
    return name.rsplit("-", 1)[0] if refs[0].get("kind") == "ReplicaSet" else name


def _pod_lines(objs: list[dict], show_ns: bool, fold: bool) -> tuple[list[str], int]:
    """Unhealthy pods first, each on its row; healthy pods of one workload folded into one row when fold."""
    unhealthy, healthy_groups = [], {}
    for o in objs:
        ok, cells = _pod_row(o)
        ns = o["metadata"].get("namespace", "")
        row = ([ns] if show_ns else []) + [o["metadata"]["name"], *cells]
        if ok and fold and _owner(o):
            healthy_groups.setdefault((ns, _owner(o)), []).append(row)
        elif ok:
            healthy_groups.setdefault((ns, o["metadata"]["name"]), []).append(row)
        else:
            unhealthy.append(row)
    rows = list(unhealthy)
    for (ns, owner), group in sorted(healthy_groups.items()):
        if len(group) >= 3:
            nodes = len({r[-1] for r in group})
            rows.append(([ns] if show_ns else []) + [f"{owner}-* ({len(group)} pods)", "all", "Running", "0",
                                                     group[0][-2], f"{nodes} nodes"])
        else:
            rows += group
    headers = (["NAMESPACE"] if show_ns else []) + ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "NODE"]
    return table(headers, rows), len(unhealthy)


def list_resources(ctx: ProbeContext, kind: Kind, namespace: Namespace = None,
                   label_selector: Annotated[str | None, Field(description="e.g. app=web,tier!=db")] = None,
                   field_selector: Annotated[str | None, Field(description="e.g. status.phase=Running")] = None,
                   fold: Annotated[bool, Field(description="Pods: fold healthy pods of one workload into a single "
                                                           "row (unhealthy pods are always listed first, one per "
                                                           "row); false lists every pod.")] = True,
                   budget: Budget = None, cursor: Cursor = None) -> ToolOutput:
    """List objects of one kind as a compact table (name, status, age; for pods readiness, restarts and node, with
    unhealthy pods first). Filter with namespace, label_selector and field_selector exactly as kubectl does."""
    if cursor:
        return ctx.resume(cursor, budget)
    k = ctx.kube.resolve(kind)
    objs = ctx.kube.list(k, namespace, label_selector, field_selector)
    show_ns = k.namespaced and not namespace
    where = f" in {namespace}" if namespace else (" in all namespaces" if k.namespaced else "")
    if k.kind == "Pod":
        lines, bad = _pod_lines(objs, show_ns, fold)
        summary = f"{len(objs)} pods{where}, {bad} not healthy (listed first)"
    else:
        headers = (["NAMESPACE"] if show_ns else []) + ["NAME", "STATUS", "AGE"]
        rows = [([o["metadata"].get("namespace", "")] if show_ns else []) +
                [o["metadata"]["name"], _status(o), age(o["metadata"].get("creationTimestamp"))] for o in objs]
        lines = table(headers, rows)
        summary = f"{len(objs)} {k.plural}{where}"
    header = f"{summary}:\n{lines[0]}" if objs else f"no {k.plural}{where}"
    out = ctx.page(header, lines[1:] if objs else [], budget, unit="rows")
    out.data.update({"kind": k.kind, "count": len(objs),
                     "items": [{"namespace": o["metadata"].get("namespace"), "name": o["metadata"]["name"],
                                "status": _status(o)} for o in objs][:500]})
    return out


def get_resource(ctx: ProbeContext, kind: Kind,
                 name: Annotated[str, Field(description="Object name.", min_length=1, max_length=253)],
                 namespace: Namespace = None, budget: Budget = None, cursor: Cursor = None) -> ToolOutput:
    """One object as cleaned YAML: no managedFields, no last-applied annotation, Secret data never included.
    Annotations and other free text from the cluster are marked untrusted."""
    if cursor:
        return ctx.resume(cursor, budget)
    k = ctx.kube.resolve(kind)
    obj = ctx.redactor.obj(clean(ctx.kube.get(k, name, namespace)))
    text = yaml.safe_dump(obj, sort_keys=False, width=120)
    header = f"{k.kind} {namespace + '/' if namespace else ''}{name}:"
    out = ctx.page(header, fence(f"{k.plural}/{name}", text).splitlines(), budget, unit="lines")
    out.data.update({"object": obj})
    return out
