"""events: filtered, de-duplicated, newest first."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from servers.probe.context import ProbeContext, ToolOutput
from servers.probe.tools.common import Budget, Cursor, Namespace, parse_time
from servers.probe.tools.facts import Report, group_events, list_events, now, parse_duration


def events(ctx: ProbeContext, namespace: Namespace = None,
           object_kind: Annotated[str | None, Field(description="Kind of the object the events are about, e.g. Pod, "
                                                                "Deployment, Service, Node (or pod, deploy, svc).",
                                                    max_length=100)] = None,
           object_name: Annotated[str | None, Field(description="Name of the object the events are about.",
                                                    max_length=253)] = None,
           type: Annotated[Literal["Normal", "Warning"] | None,
                           Field(description="Only Normal or only Warning events.")] = None,
           since: Annotated[str | None, Field(description="Only events seen within this long, e.g. '10m', '1h', "
                                                          "'2d'.", max_length=20)] = None,
           reason: Annotated[str | None, Field(description="Only this reason, e.g. BackOff, FailedScheduling, "
                                                           "Unhealthy, OOMKilling, FailedMount.",
                                               max_length=100)] = None,
           budget: Budget = None, cursor: Cursor = None) -> ToolOutput:
    """Kubernetes events, de-duplicated: events about the same object with the same reason and message become one
    line with the total count and when they were first and last seen, newest first. Filter by namespace, the object
    they are about (object_kind, object_name), type (Warning shows problems), since ('10m') and reason. Event
    messages are cluster text and are fenced as untrusted."""
    if cursor:
        return ctx.resume(cursor, budget)
    kind = None
    if object_kind:
        kind = ctx.kube.resolve(object_kind).kind
    window = parse_duration(since) if since else None
    raw = list_events(ctx, namespace, kind, object_name, type, reason)
    groups = group_events(raw)
    if window is not None:
        cutoff = now() - window
        groups = [g for g in groups if (t := parse_time(g.last)) is None or t >= cutoff]
    filters = [f"namespace={namespace}" if namespace else "all namespaces",
               *([f"object={kind or '*'}/{object_name or '*'}"] if kind or object_name else []),
               *([f"type={type}"] if type else []), *([f"reason={reason}"] if reason else []),
               *([f"since {since}"] if since else [])]
    total = sum(g.count for g in groups)
    rep = Report()
    rep.section("events")
    for g in groups:
        rep.add(g.line(with_ns=not namespace), "events", g.record())
    if groups:
        header = (f"{len(groups)} distinct events ({total} occurrences, {len(raw)} event objects; "
                  f"{', '.join(filters)}), newest first:")
    else:
        header = (f"no events ({', '.join(filters)}). Events expire after an hour on most clusters: widen the "
                  "filters, or look at logs and metrics.")
    return rep.finish(ctx, header, budget, unit="events", extra={"distinct": len(groups), "occurrences": total})
