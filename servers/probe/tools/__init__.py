"""The probe's tools, as a table: name, title, function. The server registers them all read-only."""

from __future__ import annotations

from servers.probe.server import ToolSpec
from servers.probe.tools import resources

TOOLS: list[ToolSpec] = [
    ToolSpec("list_resources", "List resources", resources.list_resources),
    ToolSpec("get_resource", "Get one resource", resources.get_resource),
]
