"""ReplicaSet controller: keeps the number of active pods equal to spec.replicas."""

from __future__ import annotations

from cluster.sim.controllers.base import (
    Controller,
    owned,
    pod_active,
    pod_from_template,
    pod_ready,
)
from cluster.sim.selectors import LabelSelector
from cluster.sim.store import clone

_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def deletion_rank(pod: dict) -> tuple:
    """Which pods go first when scaling down: unscheduled, pending, not ready, restarting, newest."""
    status = pod.get("status") or {}
    restarts = sum(cs.get("restartCount", 0) for cs in status.get("containerStatuses") or [])
    return (bool(pod["spec"].get("nodeName")), _PHASE_RANK.get(status.get("phase", "Pending"), 0),
            pod_ready(pod), -restarts, _neg_time(pod["metadata"]["creationTimestamp"]), pod["metadata"]["name"])


def _neg_time(stamp: str) -> str:
    # Newer pods sort first: invert the digits of the timestamp.
    return "".join(chr(ord("9") - ord(ch) + ord("0")) if ch.isdigit() else ch for ch in stamp)


class ReplicaSetController(Controller):
    name = "replicaset"
    watches = ("replicasets.apps", "pods")
    primary = "replicasets.apps"
    owner_kind = "ReplicaSet"
    # How long a pod must be ready to count as available when minReadySeconds is set.

    def reconcile(self, namespace: str, name: str) -> None:
        c = self.c
        rs = c.store.get("replicasets.apps", namespace, name)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        pods = owned(c, rs, "pods")
        active = [p for p in pods if pod_active(p)]
        want = rs["spec"].get("replicas", 1)
        diff = len(active) - want
        if diff < 0:
            for _ in range(-diff):
                pod = pod_from_template(rs, rs["spec"]["template"], f"{name}-{c.ids.suffix()}")
                created = c.api.system_create("pods", pod)
                c.record(rs, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}",
                         "replicaset-controller")
        elif diff > 0:
            for pod in sorted(active, key=deletion_rank)[:diff]:
                c.api.system_delete("pods", namespace, pod["metadata"]["name"])
                c.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}",
                         "replicaset-controller")
        pods = owned(c, rs, "pods")
        active = [p for p in pods if pod_active(p)]
        self.update_status(rs, active)

    def update_status(self, rs: dict, active: list[dict]) -> None:
        c = self.c
        min_ready = rs["spec"].get("minReadySeconds", 0)
        sel = LabelSelector.from_object(rs["spec"].get("template", {}).get("metadata", {}).get("labels") and
                                        {"matchLabels": rs["spec"]["template"]["metadata"]["labels"]})
        ready = [p for p in active if pod_ready(p)]
        available = [p for p in ready if self._available(p, min_ready)]
        status = {
            "replicas": len(active),
            "fullyLabeledReplicas": sum(1 for p in active if sel.matches(p["metadata"].get("labels"))),
            "readyReplicas": len(ready), "availableReplicas": len(available),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        # Like the real API, zero counts are omitted.
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        if status != rs.get("status"):
            new = clone(rs)
            new["status"] = status
            c.api.system_update("replicasets.apps", new)
        if min_ready and len(available) < len(ready):
            c.after(min_ready, self.key(rs["metadata"]["namespace"], rs["metadata"]["name"]))

    def _available(self, pod: dict, min_ready: int) -> bool:
        if not min_ready:
            return True
        for cond in pod.get("status", {}).get("conditions") or ():
            if cond.get("type") == "Ready" and cond.get("status") == "True":
                return self.c.clock.now - self.c.clock.parse(cond["lastTransitionTime"]) >= min_ready
        return False
