"""describe: one object as an investigator needs it, like ``kubectl describe`` but compact and with the checks
kubectl leaves to the reader (does the Service's targetPort reach a container port? where is the rollout stuck?)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Annotated

import yaml
from pydantic import Field

from servers.probe.context import ProbeContext, ToolOutput
from servers.probe.kube import Kind, ProbeError
from servers.probe.tools.common import Budget, Cursor, Namespace, clean, parse_time
from servers.probe.tools.facts import (
    EventGroup,
    Report,
    ago,
    check_service_ports,
    endpoints_of,
    fmt_quantity,
    group_events,
    inline,
    kind_for,
    label_selector,
    list_events,
    meta,
    pod_health,
    probe_text,
    quantity,
    resources_text,
    selects,
    workload_health,
)
from servers.probe.untrusted import fence, note

KindArg = Annotated[str, Field(description="Resource kind: pod, deployment (deploy), service (svc), node, "
                                           "statefulset, daemonset, replicaset, configmap, pvc, job, or any other "
                                           "kind the cluster serves.", min_length=1, max_length=100)]
NameArg = Annotated[str, Field(description="Object name.", min_length=1, max_length=253)]
MAX_PODS_LISTED = 20


def describe(ctx: ProbeContext, kind: KindArg, name: NameArg, namespace: Namespace = None, budget: Budget = None,
             cursor: Cursor = None) -> ToolOutput:
    """Describe one object compactly: key spec facts, conditions, owner chain (pod <- replicaset <- deployment) and
    related events (de-duplicated, with counts). Pods: container states, restarts, last termination reason and exit
    code, images, probes, requests/limits, env names, node. Services: endpoints (ready / not ready) and whether each
    targetPort matches a container port of the selected pods (a misconfigured targetPort is reported plainly).
    Deployments: replica sets, rollout status and their pods. Nodes: allocatable vs requested, conditions, pods."""
    if cursor:
        return ctx.resume(cursor, budget)
    k = ctx.kube.resolve(kind)
    if k.namespaced and not namespace:
        raise ProbeError(f"{k.plural} are namespaced: pass namespace=... (cluster_overview lists namespaces, "
                         f"list_resources(kind={k.plural!r}) finds the object)")
    try:
        raw = ctx.kube.get(k, name, namespace if k.namespaced else None)
    except ProbeError as e:
        if "404" in str(e):
            where = f" in namespace {namespace}" if k.namespaced else ""
            raise ProbeError(f"{k.kind} {name!r} not found{where}; list_resources(kind={k.plural!r}"
                             f"{', namespace=' + repr(namespace) if k.namespaced else ''}) shows what exists") from e
        raise
    raw.setdefault("kind", k.kind)
    raw.setdefault("apiVersion", k.api_version)
    obj = ctx.redactor.obj(clean(raw))  # structural redaction first: env values, argv secrets, Secret data
    rep = Report()
    # The object's own events are fetched while the owner chain and the kind's details are read.
    with ThreadPoolExecutor(max_workers=1) as pool:
        own_events = pool.submit(list_events, ctx, meta(obj).get("namespace") if k.namespaced else None, k.kind,
                                 meta(obj).get("name"))
        _metadata(ctx, rep, obj)
        handler = DESCRIBERS.get(k.kind, _generic)
        related = handler(ctx, rep, obj) or []
        _events(ctx, rep, obj, k, related, own_events)
    m = meta(obj)
    header = f"{k.kind} {m.get('namespace') + '/' if m.get('namespace') else ''}{m.get('name')}:"
    return rep.finish(ctx, header, budget, extra={"kind": k.kind, "name": m.get("name"),
                                                   "namespace": m.get("namespace"),
                                                   "resource_version": m.get("resourceVersion"), "uid": m.get("uid")})


# ------------------------------------------------------------------------------------------------- common parts
def _metadata(ctx: ProbeContext, rep: Report, obj: dict) -> None:
    m = meta(obj)
    labels = m.get("labels") or {}
    line = f"created {ago(m.get('creationTimestamp'))}, resourceVersion {m.get('resourceVersion')}"
    if m.get("deletionTimestamp"):
        line += f", being deleted since {ago(m['deletionTimestamp'])}"
    if labels:
        shown = {k: v for k, v in labels.items() if k not in ("pod-template-hash", "controller-revision-hash")}
        if shown:
            line += "; labels " + ", ".join(f"{k}={v}" for k, v in shown.items())
    ann = m.get("annotations") or {}
    if ann:
        line += f"; annotations: {', '.join(ann)} (values: get_resource)"
    rep.one(line, "metadata", {"created": m.get("creationTimestamp"), "labels": labels,
                               "annotation_keys": list(ann), "resource_version": m.get("resourceVersion")})
    chain = _owner_chain(ctx, obj)
    if chain:
        rep.one("Owner chain: " + " <- ".join([f"{obj.get('kind')}/{m.get('name')}",
                                               *(f"{c['kind']}/{c['name']}"
                                                 + (" (not found)" if c["found"] is False else "")
                                                 for c in chain)]), "owner_chain", chain)


TOP_LEVEL_OWNERS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Node")


def _owner_chain(ctx: ProbeContext, obj: dict, depth: int = 4) -> list[dict]:
    chain: list[dict] = []
    cur = obj
    ns = meta(obj).get("namespace")
    for _ in range(depth):
        refs = meta(cur).get("ownerReferences") or []
        o = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
        if not o:
            break
        k = kind_for(ctx, o.get("apiVersion", ""), o.get("kind", ""))
        entry = {"kind": o.get("kind"), "name": o.get("name"), "found": False}
        chain.append(entry)
        if k is None:
            break
        if o.get("kind") in TOP_LEVEL_OWNERS:
            # Workloads that nothing owns in practice: naming them is enough, a GET would only add latency.
            entry["found"] = None
            break
        try:
            cur = ctx.kube.get(k, o["name"], ns if k.namespaced else None)
            entry["found"] = True
        except ProbeError:
            break
    return chain


def _conditions(rep: Report, obj: dict) -> None:
    conds = (obj.get("status") or {}).get("conditions") or []
    if not conds:
        return
    negative = ("NetworkUnavailable", "Failed", "ReplicaFailure", "DisruptionTarget")  # True means trouble
    cells = []
    seen_messages: set[str] = set()
    healthy = 0
    for c in conds:
        ctype = str(c.get("type", ""))
        true_is_bad = ctype.endswith("Pressure") or ctype in negative
        ok = (c.get("status") == "True") != true_is_bad
        if ok and c.get("type") not in ("Progressing", "Available"):
            healthy += 1  # healthy conditions are counted, not spelled out: the troubled ones carry the facts
            continue
        cell = f"{c.get('type')}={c.get('status')}"
        if c.get("reason") and (not ok or c.get("type") in ("Progressing", "Available")):
            cell += f" ({note(c['reason'])})"
        if c.get("message") and not ok and c["message"] not in seen_messages:
            seen_messages.add(c["message"])
            cell += " " + inline(c["message"])
        cells.append(cell)
    if healthy:
        cells.append(f"{healthy} other{'s' if healthy > 1 else ''} OK")
    rep.one("Conditions: " + "; ".join(cells), "conditions",
            [{k: c.get(k) for k in ("type", "status", "reason", "message", "lastTransitionTime")} for c in conds])


def _container_spec_lines(c: dict, indent: str = "  ") -> list[str]:
    lines = []
    if c.get("command") or c.get("args"):
        argv = [*(c.get("command") or []), *(c.get("args") or [])]
        lines.append(f"{indent}command: {inline(' '.join(str(a) for a in argv))}")
    ports = ", ".join(f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" + (f" ({p['name']})" if p.get("name")
                                                                                else "") for p in c.get("ports") or [])
    lines.append(f"{indent}ports: {ports or 'none declared'}; {resources_text(c.get('resources'))}")
    probes = [f"{n}: {probe_text(c.get(n + 'Probe'))}" for n in ("liveness", "readiness", "startup")
              if c.get(n + "Probe")]
    if probes:
        lines.append(f"{indent}" + "; ".join(probes))
    env = []
    for e in c.get("env") or []:
        vf = e.get("valueFrom") or {}
        src = ""
        if vf.get("secretKeyRef"):
            src = f" (secret {vf['secretKeyRef'].get('name')}/{vf['secretKeyRef'].get('key')})"
        elif vf.get("configMapKeyRef"):
            src = f" (configmap {vf['configMapKeyRef'].get('name')}/{vf['configMapKeyRef'].get('key')})"
        elif vf.get("fieldRef"):
            src = f" (field {vf['fieldRef'].get('fieldPath')})"
        env.append(e.get("name", "?") + src)
    for ef in c.get("envFrom") or []:
        if ef.get("configMapRef"):
            env.append(f"all of configmap/{ef['configMapRef'].get('name')}")
        if ef.get("secretRef"):
            env.append(f"all of secret/{ef['secretRef'].get('name')}")
    if env:
        lines.append(f"{indent}env (names only): {', '.join(env)}")
    mounts = [f"{v.get('mountPath')}<-{v.get('name')}" + (" (ro)" if v.get("readOnly") else "")
              for v in c.get("volumeMounts") or [] if "serviceaccount" not in str(v.get("mountPath"))]
    if mounts:
        lines.append(f"{indent}mounts: {', '.join(mounts)}")
    return lines


def _container_record(c: dict) -> dict:
    return {"name": c.get("name"), "image": c.get("image"), "command": c.get("command"), "args": c.get("args"),
            "ports": c.get("ports") or [], "resources": c.get("resources") or {},
            "env_names": [e.get("name") for e in c.get("env") or []],
            "probes": {n: c.get(n + "Probe") for n in ("liveness", "readiness", "startup") if c.get(n + "Probe")}}


def _volumes(rep: Report, spec: dict) -> None:
    vols = []
    for v in spec.get("volumes") or []:
        if v.get("projected") and v["name"].startswith("kube-api-access"):
            continue
        kind = next((k for k in v if k != "name"), "?")
        src = v.get(kind) or {}
        target = src.get("claimName") or src.get("name") or src.get("secretName") or src.get("path") or ""
        vols.append({"name": v.get("name"), "type": kind, "source": target})
    if vols:
        rep.one("Volumes: " + ", ".join(f"{v['name']}={v['type']}" + (f":{v['source']}" if v["source"] else "")
                                        for v in vols), "volumes", vols)


def _scheduling(rep: Report, spec: dict) -> None:
    parts = []
    if spec.get("nodeSelector"):
        parts.append("nodeSelector " + ", ".join(f"{k}={v}" for k, v in spec["nodeSelector"].items()))
    if spec.get("affinity"):
        parts.append("affinity " + ", ".join(spec["affinity"]))
    tol = [t for t in spec.get("tolerations") or [] if not str(t.get("key", "")).startswith("node.kubernetes.io/")]
    if tol:
        parts.append("tolerations " + ", ".join(f"{t.get('key', '*')}:{t.get('effect', '*')}" for t in tol))
    if parts:
        rep.one("Scheduling: " + "; ".join(parts), "scheduling",
                {"node_selector": spec.get("nodeSelector"), "affinity": spec.get("affinity"), "tolerations": tol})


def _template(rep: Report, tpl: dict) -> None:
    spec = tpl.get("spec") or {}
    rep.section("template_containers")
    for c in spec.get("containers") or []:
        rep.add(f"- container {c.get('name')}: image {c.get('image')}", "template_containers", _container_record(c))
        for line in _container_spec_lines(c):
            rep.add(line)
    _volumes(rep, spec)
    _scheduling(rep, spec)


def _pod_lines(rep: Report, pods: list[dict], title: str, on_node: bool = False) -> None:
    rep.section("pods")
    health = sorted((pod_health(p) for p in pods), key=lambda h: (h.problem is None, h.namespace, h.name))
    rep.add(f"{title} ({len(pods)}, {sum(1 for h in health if h.problem)} unhealthy):")
    for h in health[:MAX_PODS_LISTED]:
        rep.add(h.line(with_ns=on_node, with_node=not on_node), "pods", h.record())
    if len(health) > MAX_PODS_LISTED:
        rep.one(f"- … {len(health) - MAX_PODS_LISTED} more (list_resources kind=pods with a label_selector)")


def _pods_selected(ctx: ProbeContext, namespace: str, selector: dict | None) -> list[dict]:
    text = label_selector(selector)
    if not text:
        return []  # an empty selector selects nothing here (a Service without one has hand-made endpoints)
    return ctx.kube.list(ctx.kube.resolve("pods"), namespace, label_selector=text)


# -------------------------------------------------------------------------------------------------------- pods
def _pod(ctx: ProbeContext, rep: Report, pod: dict) -> list[tuple[str, str]]:
    h = pod_health(pod)
    st, spec = pod.get("status") or {}, pod.get("spec") or {}
    rep.one(f"Status: {h.phase}, {h.status}; {h.ready}/{h.total} ready; {h.restarts} restarts; node "
            f"{h.node or '(not scheduled)'}; IP {st.get('podIP', '-')}; QoS {st.get('qosClass', '?')}; started "
            f"{ago(st.get('startTime'))}", "status", h.record())
    if h.scheduling:
        rep.add(f"Not scheduled: {inline(h.scheduling)}")
    _conditions(rep, pod)
    statuses = {c.get("name"): c for c in [*(st.get("initContainerStatuses") or []),
                                           *(st.get("containerStatuses") or [])]}
    rep.section("containers")
    for group, title in (("initContainers", "init container"), ("containers", "container")):
        for c in spec.get(group) or []:
            cs = statuses.get(c.get("name")) or {}
            rec = {**_container_record(c), "init": group == "initContainers", "ready": cs.get("ready"),
                   "restarts": cs.get("restartCount", 0), "state": cs.get("state"), "last_state": cs.get("lastState")}
            rep.add(f"- {title} {c.get('name')}: image {c.get('image')}; {_state_text(cs.get('state'))}; "
                    f"ready={str(cs.get('ready', False)).lower()}; restarts {cs.get('restartCount', 0)}",
                    "containers", rec)
            last = (cs.get("lastState") or {}).get("terminated")
            if last:
                rep.add(f"  last terminated: {_terminated_text(last)}")
            for line in _container_spec_lines(c):
                rep.add(line)
    _volumes(rep, spec)
    _scheduling(rep, spec)
    return [("Pod", meta(pod).get("name", ""))]


def _state_text(state: dict | None) -> str:
    state = state or {}
    if state.get("running"):
        return f"running since {ago(state['running'].get('startedAt'))}"
    if state.get("waiting"):
        w = state["waiting"]
        msg = w.get("message") or ""
        if w.get("reason") == "CrashLoopBackOff":
            msg = msg.split(" restarting")[0]  # "back-off 5m0s": the rest repeats the pod's name and uid
        return f"waiting: {note(w.get('reason', ''))}" + (f" {inline(msg)}" if msg else "")
    if state.get("terminated"):
        return "terminated: " + _terminated_text(state["terminated"])
    return "state unknown"


def _terminated_text(t: dict) -> str:
    text = f"{note(t.get('reason') or 'Terminated')}, exit code {t.get('exitCode')}"
    if t.get("signal"):
        text += f", signal {t['signal']}"
    if t.get("startedAt") and t.get("finishedAt"):
        a, b = parse_time(t["startedAt"]), parse_time(t["finishedAt"])
        if a and b:
            text += f", ran {int((b - a).total_seconds())}s"
    text += f", finished {ago(t.get('finishedAt'))}"
    if t.get("message"):
        text += " " + inline(t["message"])
    return text


# ---------------------------------------------------------------------------------------------------- services
def _service(ctx: ProbeContext, rep: Report, svc: dict) -> list[tuple[str, str]]:
    spec, ns, name = svc.get("spec") or {}, meta(svc).get("namespace", ""), meta(svc).get("name", "")
    sel = spec.get("selector") or {}
    rep.one(f"Type {spec.get('type', 'ClusterIP')}, clusterIP {spec.get('clusterIP', '-')}, selector "
            f"{', '.join(f'{k}={v}' for k, v in sel.items()) or '(none: endpoints are managed by hand)'}"
            + (f", externalName {spec['externalName']}" if spec.get("externalName") else ""), "service",
            {"type": spec.get("type", "ClusterIP"), "cluster_ip": spec.get("clusterIP"), "selector": sel,
             "ports": spec.get("ports") or []})
    pods = _pods_selected(ctx, ns, sel) if sel else []
    live = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    checks = check_service_ports(svc, live)
    rep.section("port_checks")
    rep.add("Ports (port -> targetPort):")
    for c in checks:
        verdict = ("OK: matches a container port of every selected pod" if c["ok"] else
                   "cannot check" + (f": {c['problem']}" if c["problem"] else
                                     " (no selected pods)" if sel else " (no selector)") if c["ok"] is None else
                   f"MISMATCH: {c['problem']}")
        rep.add(f"- {c['port']} -> {c['target_port']}/{c['protocol']}" + (f" ({c['name']})" if c.get("name") else "")
                + f": {verdict}", "port_checks", c)
    if sel and not pods:
        line = (f"NO PODS match the selector {', '.join(f'{k}={v}' for k, v in sel.items())} in {ns}: the service "
                "has no endpoints.")
        owners = [w for kind in ("deployments", "statefulsets") for w in ctx.kube.list(ctx.kube.resolve(kind), ns)
                  if selects(sel, meta((w.get("spec") or {}).get("template") or {}).get("labels"))]
        if owners:
            line += " Workloads whose pods it would select: " + ", ".join(
                f"{str(w.get('kind')).lower()}/{meta(w).get('name')} ({(w.get('spec') or {}).get('replicas', 1)} "
                "replicas desired)" for w in owners)
        else:
            line += " No Deployment or StatefulSet in the namespace has pods with these labels either."
        rep.one(line, "selector_problem", {"selector": sel, "workloads": [meta(w).get("name") for w in owners]})
    ep = endpoints_of(ctx, ns, name)
    ready = ", ".join(f"{a['ip']} ({a['pod']})" for a in ep["ready"][:8]) + (" …" if len(ep["ready"]) > 8 else "")
    not_ready = ", ".join(f"{a['ip']} ({a['pod']})" for a in ep["not_ready"][:8])
    ports = ",".join(str(p["port"]) for p in ep["ports"])
    line = (f"Endpoints: {len(ep['ready'])} ready" + (f": {ready}" if ready else "")
            + f"; {len(ep['not_ready'])} not ready" + (f": {not_ready}" if not_ready else "")
            + (f"; endpoint ports {ports}" if ports else ""))
    if sel and pods and not ep["ready"]:
        line += " — NO READY ENDPOINTS: requests to this service fail"
    rep.one(line, "endpoints", ep)
    if any(c["ok"] is False for c in checks) and ep["ready"]:
        rep.add("Note: the endpoints are listed as ready because the pods are ready, but they point at the "
                "targetPort above, where nothing listens.")
    if pods:
        _pod_lines(rep, pods, "Selected pods")
    return [("Service", name), ("Endpoints", name)]


# -------------------------------------------------------------------------------------------------- workloads
def _rollout_status(dep: dict) -> str:
    spec, st, m = dep.get("spec") or {}, dep.get("status") or {}, meta(dep)
    desired = spec.get("replicas", 1)
    if m.get("generation", 0) > st.get("observedGeneration", 0):
        return "waiting for the deployment spec update to be observed"
    prog = next((c for c in st.get("conditions") or [] if c.get("type") == "Progressing"), {})
    if prog.get("reason") == "ProgressDeadlineExceeded":
        return "FAILED: the rollout exceeded its progress deadline " + inline(prog.get("message"))
    updated, replicas = st.get("updatedReplicas", 0), st.get("replicas", 0)
    available = st.get("availableReplicas", 0)
    if spec.get("paused"):
        return "paused (kubectl rollout resume continues it)"
    if updated < desired:
        return f"in progress: {updated} of {desired} new replicas have been updated"
    if replicas > updated:
        return f"in progress: {replicas - updated} old replicas are pending termination"
    if available < updated:
        return f"in progress: {available} of {updated} updated replicas are available"
    return "complete: successfully rolled out"


def _deployment(ctx: ProbeContext, rep: Report, dep: dict) -> list[tuple[str, str]]:
    spec, ns = dep.get("spec") or {}, meta(dep).get("namespace", "")
    w = workload_health(dep)
    strat = spec.get("strategy") or {}
    ru = strat.get("rollingUpdate") or {}
    rep.one(f"Replicas: {w['desired']} desired, {w['updated']} updated, {w['ready']} ready, {w['available']} "
            f"available" + (f" — {w['problem']}" if w["problem"] else "") + f"; strategy {strat.get('type', '?')}"
            + (f" (maxSurge {ru.get('maxSurge')}, maxUnavailable {ru.get('maxUnavailable')})" if ru else ""),
            "replicas", w)
    rollout = _rollout_status(dep)
    rep.one(f"Rollout: {rollout}; selector {label_selector(spec.get('selector'))}", "rollout", {"status": rollout})
    _conditions(rep, dep)
    rep.add("Pod template:")
    _template(rep, spec.get("template") or {})
    uid = meta(dep).get("uid")
    rss = [r for r in ctx.kube.list(ctx.kube.resolve("replicasets.apps"), ns)
           if any(o.get("uid") == uid for o in meta(r).get("ownerReferences") or [])]
    rss.sort(key=lambda r: -int((meta(r).get("annotations") or {}).get("deployment.kubernetes.io/revision", 0) or 0))
    rep.section("replica_sets")
    rep.add(f"Replica sets ({len(rss)}, newest first):")
    for r in rss[:6]:
        rs, rst = r.get("spec") or {}, r.get("status") or {}
        rev = (meta(r).get("annotations") or {}).get("deployment.kubernetes.io/revision", "?")
        images = ", ".join(c.get("image", "") for c in ((rs.get("template") or {}).get("spec") or {})
                           .get("containers") or [])
        rec = {"name": meta(r).get("name"), "revision": rev, "desired": rs.get("replicas", 0),
               "current": rst.get("replicas", 0), "ready": rst.get("readyReplicas", 0), "images": images,
               "created": meta(r).get("creationTimestamp")}
        rep.one(f"- {rec['name']} revision {rev}: {rec['desired']} desired, {rec['current']} current, {rec['ready']} "
                f"ready; {images}; created {ago(rec['created'])}", "replica_sets", rec)
    rs_names = {meta(r).get("name") for r in rss}
    pods = [p for p in _pods_selected(ctx, ns, spec.get("selector"))
            if any(o.get("name") in rs_names for o in meta(p).get("ownerReferences") or [])]
    _pod_lines(rep, pods, "Pods")
    return ([("Deployment", meta(dep).get("name", ""))] + [("ReplicaSet", n) for n in rs_names]
            + [("Pod", meta(p).get("name", "")) for p in pods])


def _workload(ctx: ProbeContext, rep: Report, obj: dict) -> list[tuple[str, str]]:
    spec, ns, kind = obj.get("spec") or {}, meta(obj).get("namespace", ""), obj.get("kind", "")
    w = workload_health(obj)
    rep.one(f"Replicas: {w['desired']} desired, {w.get('updated', 0)} updated, {w['ready']} ready, {w['available']} "
            f"available" + (f" — {w['problem']}" if w["problem"] else "")
            + f"; selector {label_selector(spec.get('selector'))}", "replicas", w)
    _conditions(rep, obj)
    rep.add("Pod template:")
    _template(rep, spec.get("template") or {})
    uid = meta(obj).get("uid")
    pods = [p for p in _pods_selected(ctx, ns, spec.get("selector"))
            if any(o.get("uid") == uid for o in meta(p).get("ownerReferences") or [])]
    _pod_lines(rep, pods, "Pods")
    return [(kind, meta(obj).get("name", ""))] + [("Pod", meta(p).get("name", "")) for p in pods]


# ------------------------------------------------------------------------------------------------------- nodes
def _node(ctx: ProbeContext, rep: Report, node: dict) -> list[tuple[str, str]]:
    st, spec, name = node.get("status") or {}, node.get("spec") or {}, meta(node).get("name", "")
    info = st.get("nodeInfo") or {}
    addrs = ", ".join(f"{a.get('type')} {a.get('address')}" for a in st.get("addresses") or [])
    rep.one(f"Info: kubelet {info.get('kubeletVersion', '?')}, {info.get('osImage', '?')}, "
            f"{info.get('containerRuntimeVersion', '?')}; {addrs}"
            + ("; CORDONED (unschedulable)" if spec.get("unschedulable") else ""), "info",
            {"kubelet": info.get("kubeletVersion"), "unschedulable": bool(spec.get("unschedulable")),
             "addresses": st.get("addresses") or []})
    if spec.get("taints"):
        rep.one("Taints: " + ", ".join(f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect')}"
                                       for t in spec["taints"]), "taints", spec["taints"])
    _conditions(rep, node)
    pods = [p for p in ctx.kube.list(ctx.kube.resolve("pods"), field_selector=f"spec.nodeName={name}")
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    alloc = st.get("allocatable") or {}
    req: dict[str, Decimal] = {}
    lim: dict[str, Decimal] = {}
    for p in pods:
        for c in (p.get("spec") or {}).get("containers") or []:
            res = c.get("resources") or {}
            for target, src in ((req, res.get("requests") or {}), (lim, res.get("limits") or {})):
                for r, v in src.items():
                    q = quantity(v)
                    if q is not None:
                        target[r] = target.get(r, Decimal(0)) + q
    rows = []
    for r in ("cpu", "memory", "ephemeral-storage"):
        a = quantity(alloc.get(r, "0")) or Decimal(0)
        rq, lm = req.get(r, Decimal(0)), lim.get(r, Decimal(0))
        if a or rq:
            rows.append({"resource": r, "allocatable": str(alloc.get(r)), "requested": fmt_quantity(r, rq),
                         "limits": fmt_quantity(r, lm), "requested_pct": int(rq * 100 / a) if a else None,
                         "limits_pct": int(lm * 100 / a) if a else None})
    rep.one(f"Allocation ({len(pods)} of {alloc.get('pods', '?')} pods; sums over non-terminated pods):", "allocation",
            rows)
    for row in rows:
        rq_pct = f" ({row['requested_pct']}%)" if row["requested_pct"] is not None else ""
        lm_pct = f" ({row['limits_pct']}%)" if row["limits_pct"] is not None else ""
        rep.add(f"- {row['resource']}: requested {row['requested']}{rq_pct}, limits {row['limits']}{lm_pct}, of "
                f"{row['allocatable']} allocatable")
    _pod_lines(rep, pods, "Pods on this node", on_node=True)
    return [("Node", name)]


# ----------------------------------------------------------------------------------------------------- others
def _generic(ctx: ProbeContext, rep: Report, obj: dict) -> list[tuple[str, str]]:
    kind = obj.get("kind")
    if kind == "ConfigMap":
        data = obj.get("data") or {}
        rep.one("Data keys: " + (", ".join(f"{k} ({len(str(v))} bytes)" for k, v in data.items()) or "none")
                + " (contents: get_resource)", "data_keys", list(data))
        return [(str(kind), meta(obj).get("name", ""))]
    if kind == "Secret":
        keys = list(obj.get("data") or {})
        rep.one(f"Type {obj.get('type')}; keys: {', '.join(keys) or 'none'} (values are never shown)", "data_keys",
                keys)
        return [(str(kind), meta(obj).get("name", ""))]
    _conditions(rep, obj)
    body = {k: obj[k] for k in ("spec", "status", "data") if obj.get(k)}
    if isinstance(body.get("status"), dict):
        body["status"] = {k: v for k, v in body["status"].items() if k != "conditions"} or None
    text = yaml.safe_dump({k: v for k, v in body.items() if v}, sort_keys=False, width=120).strip()
    if text and text != "{}":
        rep.one(fence(f"{str(kind).lower()}/{meta(obj).get('name')} spec/status", text), "body", body)
    return [(str(kind), meta(obj).get("name", ""))]


DESCRIBERS: dict[str, Callable[[ProbeContext, Report, dict], list[tuple[str, str]]]] = {
    "Pod": _pod, "Service": _service, "Deployment": _deployment, "StatefulSet": _workload, "DaemonSet": _workload,
    "ReplicaSet": _workload, "Node": _node,
}


# ------------------------------------------------------------------------------------------------------ events
def _events(ctx: ProbeContext, rep: Report, obj: dict, k: Kind, related: list[tuple[str, str]],
            own: Future | None = None) -> None:
    m = meta(obj)
    try:
        if len(related) <= 1:
            raw = own.result() if own is not None else \
                list_events(ctx, m.get("namespace") if k.namespaced else None, k.kind, m.get("name"))
            raw = [e for e in raw if (e.get("involvedObject") or {}).get("uid") in (None, "", m.get("uid"))
                   or k.kind == "Node"]
        else:
            wanted = set(related)
            raw = [e for e in list_events(ctx, m.get("namespace"))
                   if ((e.get("involvedObject") or {}).get("kind"), (e.get("involvedObject") or {}).get("name"))
                   in wanted]
            own = (k.kind, m.get("name"))
            # the object's own events in full; its children's only when they are warnings
            raw = [e for e in raw if ((e.get("involvedObject") or {}).get("kind"),
                                      (e.get("involvedObject") or {}).get("name")) == own
                   or e.get("type") == "Warning" or (e.get("involvedObject") or {}).get("kind") == "ReplicaSet"]
    except ProbeError as e:
        rep.add(f"Events: cannot be read ({e})")
        return
    groups: list[EventGroup] = group_events(raw)
    rep.section("events")
    if not groups:
        rep.add("Events: none (events expire after about an hour)")
        return
    scope = "" if len(related) <= 1 else " (this object's, its replica sets', and its pods' warnings)"
    rep.add(f"Events{scope}, newest first ({len(groups)} distinct, {sum(g.count for g in groups)} total):")
    normal = [g for g in groups if g.type == "Normal"]
    for g in groups:
        if g.type != "Normal" or len(normal) <= 2:
            own = (g.kind, g.name) == (k.kind, m.get("name"))
            rep.add(g.line(with_ns=False, with_object=not own), "events", g.record())
    if len(normal) > 2:
        # Routine lifecycle events (Scheduled, Pulled, Created, Started...) folded into one line: warnings carry
        # the diagnosis, and the counts still show how often the pod went round.
        counts: dict[str, int] = {}
        for g in normal:
            counts[g.reason] = counts.get(g.reason, 0) + g.count
        latest = max((g.last or "" for g in normal), default="")
        rep.add("- Normal: " + ", ".join(f"{note(r)}{f' x{n}' if n > 1 else ''}" for r, n in counts.items())
                + f" (latest {ago(latest)})", "normal_events", [g.record() for g in normal])

