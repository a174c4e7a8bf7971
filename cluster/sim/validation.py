"""Validation as kube-apiserver answers it: a list of (field, message) causes per kind -> 422 Invalid.

Not every rule of the real server is here; the ones that matter to a user or an agent are (names, labels,
selectors that must match templates, immutable fields, container basics, ports).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cluster.sim.selectors import LabelSelector, SelectorError

Causes = list[tuple[str, str]]

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

# Kinds whose names must be DNS labels (63 chars, no dots); the rest are DNS subdomains.
LABEL_NAMED = {"Namespace", "Service"}


def metadata(obj: dict) -> Causes:
    causes: Causes = []
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    kind = obj.get("kind", "")
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    elif kind in LABEL_NAMED:
        if len(name) > 63 or not _DNS1123_LABEL.match(name):
            causes.append(("metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 label must consist '
                           "of lower case alphanumeric characters or '-', and must start and end with an "
                           "alphanumeric character"))
    elif kind not in ("Event",) and (len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name)):
        causes.append(("metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist '
                       "of lower case alphanumeric characters, '-' or '.', and must start and end with an "
                       "alphanumeric character"))
    causes += labels(meta.get("labels"), "metadata.labels")
    return causes


def labels(lbls: dict | None, path: str) -> Causes:
    causes: Causes = []
    for k, v in (lbls or {}).items():
        name = k.rsplit("/", 1)[-1]
        if not isinstance(v, str):
            causes.append((path, f"Invalid value: {v!r}: label values must be strings"))
        elif len(name) > 63 or not _LABEL_NAME.match(name):
            causes.append((path, f'Invalid value: "{k}": name part must consist of alphanumeric characters, '
                           "'-', '_' or '.', and must start and end with an alphanumeric character"))
        elif len(v) > 63 or not _LABEL_VALUE.match(v):
            causes.append((f"{path}", f'Invalid value: "{v}": a valid label must be an empty string or consist '
                           "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                           "alphanumeric character"))
    return causes


def pod_spec(spec: dict, path: str, restart_policies: tuple[str, ...] = ("Always", "OnFailure", "Never")) -> Causes:
    causes: Causes = []
    containers = spec.get("containers") or []
    if not containers:
        causes.append((f"{path}.containers", "Required value"))
    seen: set[str] = set()
    for kind in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(kind) or []):
            cp = f"{path}.{kind}[{i}]"
            name = c.get("name", "")
            if not name:
                causes.append((f"{cp}.name", "Required value"))
            elif not _DNS1123_LABEL.match(name):
                causes.append((f"{cp}.name", f'Invalid value: "{name}": must be a DNS label'))
            elif name in seen:
                causes.append((f"{cp}.name", f'Duplicate value: "{name}"'))
            seen.add(name)
            if not c.get("image"):
                causes.append((f"{cp}.image", "Required value"))
            for j, p in enumerate(c.get("ports") or []):
                port = p.get("containerPort")
                if not isinstance(port, int) or not 0 < port < 65536:
                    causes.append((f"{cp}.ports[{j}].containerPort",
                                   f"Invalid value: {port!r}: must be between 1 and 65535, inclusive"))
    rp = spec.get("restartPolicy", "Always")
    if rp not in restart_policies:
        causes.append((f"{path}.restartPolicy", f'Unsupported value: "{rp}": supported values: '
                       + ", ".join(f'"{r}"' for r in restart_policies)))
    return causes


def _workload(obj: dict, restart_policies: tuple[str, ...] = ("Always",)) -> Causes:
    causes: Causes = []
    spec = obj.get("spec") or {}
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or replicas < 0:
        causes.append(("spec.replicas", f"Invalid value: {replicas!r}: must be greater than or equal to 0"))
    sel = spec.get("selector")
    tpl_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not sel or not (sel.get("matchLabels") or sel.get("matchExpressions")):
        causes.append(("spec.selector", "Required value"))
    else:
        try:
            if not LabelSelector.from_object(sel).matches(tpl_labels):
                causes.append(("spec.template.metadata.labels",
                               f"Invalid value: {tpl_labels!r}: `selector` does not match template `labels`"))
        except SelectorError as e:
            causes.append(("spec.selector", f"Invalid value: {e}"))
    causes += labels(tpl_labels, "spec.template.metadata.labels")
    causes += pod_spec((spec.get("template") or {}).get("spec") or {}, "spec.template.spec", restart_policies)
    return causes


def pod(obj: dict) -> Causes:
    return pod_spec(obj.get("spec") or {}, "spec")


def workload(obj: dict) -> Causes:
    return _workload(obj)


def job(obj: dict) -> Causes:
    spec = obj.get("spec") or {}
    causes = pod_spec((spec.get("template") or {}).get("spec") or {}, "spec.template.spec", ("OnFailure", "Never"))
    for f in ("parallelism", "completions", "backoffLimit"):
        v = spec.get(f)
        if v is not None and (not isinstance(v, int) or v < 0):
            causes.append((f"spec.{f}", f"Invalid value: {v!r}: must be greater than or equal to 0"))
    return causes


def service(obj: dict) -> Causes:
    causes: Causes = []
    spec = obj.get("spec") or {}
    stype = spec.get("type", "ClusterIP")
    if stype not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        causes.append(("spec.type", f'Unsupported value: "{stype}"'))
    ports = spec.get("ports") or []
    if not ports and stype != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(("spec.ports", "Required value"))
    names = set()
    for i, p in enumerate(ports):
        port = p.get("port")
        if not isinstance(port, int) or not 0 < port < 65536:
            causes.append((f"spec.ports[{i}].port", f"Invalid value: {port!r}: must be between 1 and 65535, "
                           "inclusive"))
        tp = p.get("targetPort")
        if isinstance(tp, int) and not 0 < tp < 65536:
            causes.append((f"spec.ports[{i}].targetPort", f"Invalid value: {tp}: must be between 1 and 65535, "
                           "inclusive"))
        if len(ports) > 1 and not p.get("name"):
            causes.append((f"spec.ports[{i}].name", "Required value"))
        if p.get("name") in names:
            causes.append((f"spec.ports[{i}].name", f'Duplicate value: "{p.get("name")}"'))
        names.add(p.get("name"))
    causes += labels(spec.get("selector"), "spec.selector")
    return causes


VALIDATORS: dict[str, Callable[[dict], Causes]] = {
    "Pod": pod, "Deployment": workload, "ReplicaSet": workload, "StatefulSet": workload,
    "DaemonSet": workload, "Job": job, "Service": service,
}


# Fields that may not change after create: kind -> list of (dotted path, message).
IMMUTABLE: dict[str, list[tuple[str, str]]] = {
    "Deployment": [("spec.selector", "field is immutable")],
    "ReplicaSet": [("spec.selector", "field is immutable")],
    "StatefulSet": [("spec.selector", "field is immutable"), ("spec.serviceName", "field is immutable"),
                    ("spec.volumeClaimTemplates", "field is immutable")],
    "DaemonSet": [("spec.selector", "field is immutable")],
    "Job": [("spec.selector", "field is immutable"), ("spec.template", "field is immutable"),
            ("spec.completions", "field is immutable")],
    "Service": [("spec.clusterIP", "field is immutable")],
    "PersistentVolumeClaim": [("spec.accessModes", "field is immutable"),
                              ("spec.storageClassName", "field is immutable")],
    "Pod": [("spec.nodeName", "field is immutable"), ("spec.containers[*].name", "field is immutable")],
}


def _get(obj: dict, path: str) -> object:
    cur: object = obj
    for part in path.split("."):
        if part.endswith("[*]"):
            items = cur.get(part[:-3]) if isinstance(cur, dict) else None
            return [i.get("name") for i in items or []]
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def immutable(kind: str, new: dict, old: dict) -> Causes:
    causes = []
    for path, msg in IMMUTABLE.get(kind, []):
        before, after = _get(old, path), _get(new, path)
        if path == "spec.clusterIP" and not after:
            continue  # defaulting re-fills it from the old object
        if path == "spec.nodeName" and not before:
            continue  # binding sets it once
        if before != after:
            causes.append((path.replace("[*]", ""), f"Invalid value: {after!r}: {msg}"))
    if kind == "Pod":
        causes += _pod_update(new, old)
    return causes


def _pod_update(new: dict, old: dict) -> Causes:
    """Pods may change only images, activeDeadlineSeconds, tolerations (additions) and a few others."""
    ns, os_ = dict(new.get("spec") or {}), dict(old.get("spec") or {})
    for s in (ns, os_):
        s.pop("activeDeadlineSeconds", None)
        s.pop("tolerations", None)
        s.pop("nodeName", None)
        s["containers"] = [{k: v for k, v in c.items() if k != "image"} for c in s.get("containers") or []]
        s["initContainers"] = [{k: v for k, v in c.items() if k != "image"} for c in s.get("initContainers") or []]
    if ns != os_:
        return [("spec", "Forbidden: pod updates may not change fields other than `spec.containers[*].image`, "
                 "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only "
                 "additions to existing tolerations), `spec.terminationGracePeriodSeconds` (allow it to be set "
                 "to 1 if it was previously negative)")]
    return []
