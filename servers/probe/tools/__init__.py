"""The probe's tools, as a table: name, title, function. The server registers them all read-only."""

from __future__ import annotations

from servers.probe.server import ToolSpec
from servers.probe.tools import describe, events, kubectl, logs, metrics, overview, plan, resources, topology, traces

TOOLS: list[ToolSpec] = [
    ToolSpec("cluster_overview", "Cluster overview, unhealthy first", overview.cluster_overview),
    ToolSpec("list_resources", "List resources", resources.list_resources),
    ToolSpec("get_resource", "Get one resource", resources.get_resource),
    ToolSpec("describe", "Describe one object", describe.describe),
    ToolSpec("events", "Events, de-duplicated", events.events),
    ToolSpec("topology", "Service topology and call graph", topology.topology),
    ToolSpec("logs", "Pod logs", logs.logs),
    ToolSpec("metrics", "PromQL query, summarised", metrics.metrics),
    ToolSpec("metrics_overview", "Namespace metrics overview", metrics.metrics_overview),
    ToolSpec("traces", "Jaeger traces, summarised", traces.traces),
    ToolSpec("kubectl", "Read-only kubectl", kubectl.kubectl),
    ToolSpec("propose_plan", "Check a repair plan (signs nothing)", plan.propose_plan),
]
