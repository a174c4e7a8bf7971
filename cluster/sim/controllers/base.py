"""What every controller shares: its work keys, owner references and pod readiness helpers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from cluster.sim.store import WatchEvent

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster

WorkKey = tuple[str, str, str]  # (controller name, namespace, name)


class Controller:
    name: str = ""
    # The storage keys whose changes this controller reacts to.
    watches: tuple[str, ...] = ()
    # The kind it owns: events on it enqueue the object itself; events on other watched kinds enqueue owners.
    primary: str = ""
    owner_kind: str = ""
    # Deferred controllers run only when no other work is queued: they aggregate over many objects
    # (endpoints over pods), so running them once per wave instead of once per pod keeps settle linear.
    deferred: bool = False

    def __init__(self, cluster: SimCluster):
        self.c = cluster

    def key(self, namespace: str, name: str) -> WorkKey:
        return (self.name, namespace, name)

    def keys_for(self, event: WatchEvent) -> Iterable[WorkKey]:
        meta = event.obj["metadata"]
        if event.resource == self.primary:
            return (self.key(meta.get("namespace", ""), meta["name"]),)
        ref = controller_of(event.obj)
        if ref and ref.get("kind") == self.owner_kind:
            return (self.key(meta.get("namespace", ""), ref["name"]),)
        return ()

    def reconcile(self, namespace: str, name: str) -> None:
        raise NotImplementedError


def controller_of(obj: dict) -> dict | None:
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def owner_reference(owner: dict, block: bool = True) -> dict:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": block}


def owned(c: SimCluster, owner: dict, resource: str) -> list[dict]:
    """Objects of ``resource`` whose controller is ``owner``, by name."""
    uid = owner["metadata"]["uid"]
    out = []
    for res, (ns, name) in c.store.dependents(uid):
        if res != resource:
            continue
        obj = c.store.get(res, ns, name)
        ref = controller_of(obj) if obj else None
        if ref and ref.get("uid") == uid:
            out.append(obj)
    return out


def condition(obj: dict, type_: str) -> dict | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == type_:
            return cond
    return None


def pod_ready(pod: dict) -> bool:
    cond = condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True")


def pod_active(pod: dict) -> bool:
    """Counts toward a controller's replicas: not terminating, not finished."""
    return not pod["metadata"].get("deletionTimestamp") and (pod.get("status") or {}).get("phase") not in (
        "Succeeded", "Failed")


def set_condition(conds: list[dict], type_: str, status: str, reason: str, message: str, now: str,
                  update_time: bool = False) -> list[dict]:
    """Replace a condition, keeping lastTransitionTime when the status did not change."""
    out = []
    found = False
    for cond in conds:
        if cond.get("type") == type_:
            found = True
            new = {"type": type_, "status": status, "reason": reason, "message": message}
            same = cond.get("status") == status
            new["lastTransitionTime"] = cond.get("lastTransitionTime", now) if same else now
            if "lastUpdateTime" in cond or update_time:
                changed = not same or cond.get("reason") != reason or cond.get("message") != message
                new["lastUpdateTime"] = now if changed else cond.get("lastUpdateTime", now)
            out.append(new)
        else:
            out.append(cond)
    if not found:
        new = {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": now}
        if update_time:
            new["lastUpdateTime"] = now
        out.append(new)
    return out


def pod_from_template(owner: dict, template: dict, name: str, extra_labels: dict | None = None) -> dict:
    from cluster.sim.store import clone

    tpl = clone(template)
    meta = tpl.get("metadata") or {}
    labels = dict(meta.get("labels") or {})
    labels.update(extra_labels or {})
    pod_meta = {"name": name, "namespace": owner["metadata"]["namespace"], "labels": labels,
                "ownerReferences": [owner_reference(owner)]}
    if meta.get("annotations"):
        pod_meta["annotations"] = dict(meta["annotations"])
    if not labels:
        del pod_meta["labels"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": tpl.get("spec") or {}}


def resolve_int_or_percent(value: int | str | None, total: int, round_up: bool) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        pct = int(text[:-1])
        scaled = total * pct
        return -(-scaled // 100) if round_up else scaled // 100
    return int(text)
