"""Types served as another type's storage: events.k8s.io/v1 Event is a view of core v1 Event."""

from __future__ import annotations

from cluster.sim.resources import ResourceType


def _micro(stamp: str | None) -> str | None:
    return stamp.replace("Z", ".000000Z") if stamp and "." not in stamp else stamp


def core_to_events_v1(ev: dict) -> dict:
    meta = dict(ev["metadata"])
    out = {
        "kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": meta,
        # events.k8s.io requires eventTime; legacy events only have firstTimestamp.
        "eventTime": ev.get("eventTime") or _micro(ev.get("firstTimestamp") or meta.get("creationTimestamp")),
        "reportingController": ev.get("reportingComponent")
        or ev.get("source", {}).get("component", ""),
        "reportingInstance": ev.get("reportingInstance") or ev.get("source", {}).get("host", ""),
        "action": ev.get("action", ""), "reason": ev.get("reason", ""), "regarding": ev.get("involvedObject", {}),
        "note": ev.get("message", ""), "type": ev.get("type", "Normal"),
        "deprecatedSource": ev.get("source", {}), "deprecatedFirstTimestamp": ev.get("firstTimestamp"),
        "deprecatedLastTimestamp": ev.get("lastTimestamp"), "deprecatedCount": ev.get("count", 1),
    }
    if ev.get("related"):
        out["related"] = ev["related"]
    if ev.get("series"):
        out["series"] = ev["series"]
    return out


def events_v1_to_core(ev: dict) -> dict:
    out = {
        "kind": "Event", "apiVersion": "v1", "metadata": dict(ev.get("metadata") or {}),
        "involvedObject": ev.get("regarding") or {}, "reason": ev.get("reason", ""),
        "message": ev.get("note", ""), "type": ev.get("type", "Normal"),
        "source": ev.get("deprecatedSource") or {"component": ev.get("reportingController", "")},
        "firstTimestamp": ev.get("deprecatedFirstTimestamp"), "lastTimestamp": ev.get("deprecatedLastTimestamp"),
        "count": ev.get("deprecatedCount") or 1, "eventTime": ev.get("eventTime"),
        "reportingComponent": ev.get("reportingController", ""), "reportingInstance": ev.get("reportingInstance", ""),
        "action": ev.get("action", ""),
    }
    if ev.get("related"):
        out["related"] = ev["related"]
    if ev.get("series"):
        out["series"] = ev["series"]
    return out


VIEWS = {("events.k8s.io", "events"): (core_to_events_v1, events_v1_to_core)}


class Views:
    def present(self, rt: ResourceType, obj: dict) -> dict:
        conv = VIEWS.get((rt.group, rt.plural)) if rt.storage_of else None
        return conv[0](obj) if conv else obj

    def store_form(self, rt: ResourceType, obj: dict) -> dict:
        conv = VIEWS.get((rt.group, rt.plural)) if rt.storage_of else None
        return conv[1](obj) if conv else obj
