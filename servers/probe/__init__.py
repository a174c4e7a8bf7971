"""The probe: a read-only MCP server of investigation tools (see docs/architecture.md)."""
