"""DaemonSet controller: one pod on every eligible node, replaced node by node on update."""

from __future__ import annotations

from cluster.sim.controllers.base import Controller, owned, pod_active, pod_from_template, pod_ready
from cluster.sim.controllers.scheduler import _tolerates, node_matches
from cluster.sim.ids import template_hash
from cluster.sim.store import WatchEvent, clone

HASH_LABEL = "controller-revision-hash"
# Tolerations the DaemonSet controller adds to every daemon pod.
DAEMON_TOLERATIONS = [
    {"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": e}
    for k, e in (("not-ready", "NoExecute"), ("unreachable", "NoExecute"), ("disk-pressure", "NoSchedule"),
                 ("memory-pressure", "NoSchedule"), ("pid-pressure", "NoSchedule"), ("unschedulable", "NoSchedule"))
]


class DaemonSetController(Controller):
    name = "daemonset"
    watches = ("daemonsets.apps", "pods", "nodes")
    primary = "daemonsets.apps"
    owner_kind = "DaemonSet"

    def keys_for(self, event: WatchEvent):
        if event.resource == "nodes":
            return [self.key(d["metadata"]["namespace"], d["metadata"]["name"])
                    for d in self.c.store.list("daemonsets.apps")]
        return super().keys_for(event)

    def _eligible(self, ds: dict, node: dict) -> bool:
        probe = {"spec": dict(ds["spec"]["template"].get("spec") or {})}
        tolerations = list(probe["spec"].get("tolerations") or []) + DAEMON_TOLERATIONS
        for taint in (node.get("spec") or {}).get("taints") or []:
            if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(tolerations, taint):
                return False
        return node_matches(probe, node)

    def reconcile(self, namespace: str, name: str) -> None:
        c = self.c
        ds = c.store.get("daemonsets.apps", namespace, name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        h = template_hash(ds["spec"]["template"])
        nodes = [n for n in c.store.list("nodes") if self._eligible(ds, n)]
        names = {n["metadata"]["name"] for n in nodes}
        pods = [p for p in owned(c, ds, "pods") if pod_active(p)]
        by_node: dict[str, list[dict]] = {}
        for p in pods:
            by_node.setdefault(self._target(p), []).append(p)
        for node, plist in by_node.items():
            if node not in names:
                for p in plist:
                    c.api.system_delete("pods", namespace, p["metadata"]["name"])
            for p in plist[1:]:
                c.api.system_delete("pods", namespace, p["metadata"]["name"])
        for node in sorted(names):
            if node not in by_node:
                self._create(ds, node, h)
        # Rolling update with maxUnavailable 1: replace one outdated pod when all pods are ready.
        pods = [p for p in owned(c, ds, "pods") if pod_active(p)]
        outdated = [p for p in pods if (p["metadata"].get("labels") or {}).get(HASH_LABEL) != h]
        if outdated and all(pod_ready(p) for p in pods) and not any(
                p["metadata"].get("deletionTimestamp") for p in owned(c, ds, "pods")):
            c.api.system_delete("pods", namespace, outdated[0]["metadata"]["name"])
        self._status(ds, h, len(names))

    def _target(self, pod: dict) -> str:
        terms = ((((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
                  .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or [])
        for t in terms:
            for f in t.get("matchFields") or []:
                if f.get("key") == "metadata.name" and f.get("values"):
                    return f["values"][0]
        return pod["spec"].get("nodeName", "")

    def _create(self, ds: dict, node: str, h: str) -> None:
        c = self.c
        name = f"{ds['metadata']['name']}-{c.ids.suffix()}"
        pod = pod_from_template(ds, ds["spec"]["template"], name, {HASH_LABEL: h, "pod-template-generation": str(
            ds["metadata"].get("generation", 1))})
        spec = pod["spec"]
        spec.setdefault("affinity", {})["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}
        tolerations = spec.setdefault("tolerations", [])
        for t in DAEMON_TOLERATIONS:
            if t not in tolerations:
                tolerations.append(dict(t))
        c.api.system_create("pods", pod)
        c.record(ds, "Normal", "SuccessfulCreate", f"Created pod: {name}", "daemonset-controller")

    def _status(self, ds: dict, h: str, desired: int) -> None:
        pods = [p for p in owned(self.c, ds, "pods") if pod_active(p)]
        scheduled = [p for p in pods if p["spec"].get("nodeName")]
        ready = [p for p in pods if pod_ready(p)]
        updated = [p for p in pods if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == h]
        status = {"currentNumberScheduled": len(scheduled), "desiredNumberScheduled": desired,
                  "numberMisscheduled": 0, "numberReady": len(ready), "observedGeneration":
                  ds["metadata"].get("generation", 1), "updatedNumberScheduled": len(updated),
                  "numberAvailable": len(ready), "numberUnavailable": max(desired - len(ready), 0)}
        status = {k: v for k, v in status.items() if v or k in (
            "currentNumberScheduled", "desiredNumberScheduled", "numberMisscheduled", "numberReady")}
        if status != ds.get("status"):
            new = clone(ds)
            new["status"] = status
            self.c.api.system_update("daemonsets.apps", new)
