"""Events as kubelet, the scheduler and the controllers record them, aggregated like client-go does."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster

EVENT_TTL_SECONDS = 3600  # kube-apiserver's --event-ttl default


def object_reference(obj: dict, field_path: str | None = None) -> dict:
    meta = obj["metadata"]
    ref = {"kind": obj.get("kind", ""), "namespace": meta.get("namespace", ""), "name": meta["name"],
           "uid": meta.get("uid", ""), "apiVersion": obj.get("apiVersion", ""),
           "resourceVersion": meta.get("resourceVersion", "")}
    if not ref["namespace"]:
        del ref["namespace"]
    if field_path:
        ref["fieldPath"] = field_path
    return ref


class EventRecorder:
    def __init__(self, cluster: SimCluster):
        self.cluster = cluster
        self._seq = 0
        # (uid, fieldPath, type, reason, message, component) -> (namespace, name) of the aggregated event
        self._index: dict[tuple, tuple[str, str]] = {}

    def record(self, obj: dict, type_: str, reason: str, message: str, component: str,
               host: str | None = None, field_path: str | None = None) -> None:
        """Record or aggregate (same object, reason, message, source: count += 1) an event."""
        c = self.cluster
        ref = object_reference(obj, field_path)
        # Node events live in "default", as the real kubelet writes them.
        namespace = ref.get("namespace") or "default"
        now = c.clock.rfc3339()
        agg = (ref["uid"], ref.get("fieldPath"), type_, reason, message, component)
        found = self._index.get(agg)
        ev = c.store.get("events", *found) if found else None
        if ev is not None:
            c.api.system_update("events", dict(ev, count=ev.get("count", 1) + 1, lastTimestamp=now))
            return
        self._seq += 1
        nanos = int(c.clock.datetime().timestamp() * 1e9) + self._seq
        source = {"component": component}
        if host:
            source["host"] = host
        name = f"{ref['name']}.{nanos:x}"
        self._index[agg] = (namespace, name)
        c.api.system_create("events", {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref, "reason": reason, "message": message, "source": source,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": type_,
            "eventTime": None, "reportingComponent": component, "reportingInstance": host or "",
        })

    def expire(self) -> None:
        """Drop events whose last occurrence is older than the TTL, like kube-apiserver's --event-ttl."""
        c = self.cluster
        cutoff = c.clock.now - EVENT_TTL_SECONDS
        for ev in c.store.list("events"):
            if c.clock.parse(ev.get("lastTimestamp") or ev["metadata"]["creationTimestamp"]) < cutoff:
                c.store.remove("events", ev["metadata"]["namespace"], ev["metadata"]["name"])
