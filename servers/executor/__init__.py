"""The executor: a gated MCP server that acts only on signed, argument-bound, single-use plans.

``servers.executor.plan`` (the plan model) is importable on its own; it depends on pydantic only.
"""
