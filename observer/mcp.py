"""MCP wiring: the observer talks to the probe and the executor as an MCP client.

Three ways to reach a server, one code path after that:

- **stdio** (the default): the observer starts ``aoi probe --kubeconfig ...`` and ``aoi executor --kubeconfig ...
  --keyring ... --ledger ...`` as child processes. A stdio child inherits only HOME, PATH and a few more variables,
  so what it needs is passed explicitly.
- **URL**: a server already running with ``--transport http`` (streamable HTTP), optionally with a bearer token.
- **in-process**: ``Client(server)`` on an ``MCPServer`` object, for fast benchmark episodes and tests.

The tools come from each server's tools/list; nothing about them is hard-wired here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult

from observer.policy import ToolInfo, ToolResult

READ_TIMEOUT_S = 180.0
REPO_ROOT = Path(__file__).resolve().parents[1]


class ConnectionFailed(RuntimeError):
    """A server could not be started or reached; the message says which and how."""


def aoi_command() -> list[str]:
    """How to run the ``aoi`` CLI in a child process: the console script next to this Python, else ``python -m``."""
    script = Path(sys.executable).with_name("aoi")
    if script.exists():
        return [str(script)]
    found = shutil.which("aoi")
    return [found] if found else [sys.executable, "-m", "aoi.cli"]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """What a stdio child needs beyond what MCP passes on: PYTHONPATH (a source checkout), KUBECONFIG, proxies."""
    env: dict[str, str] = {}
    for name in ("PATH", "HOME", "KUBECONFIG", "PYTHONPATH", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "SSL_CERT_FILE",
                 "LANG", "LC_ALL", "TMPDIR"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(REPO_ROOT) not in paths:
        env["PYTHONPATH"] = os.pathsep.join([*paths, str(REPO_ROOT)])
    env["PYTHONUNBUFFERED"] = "1"
    return {**env, **(extra or {})}


@dataclass
class Endpoint:
    """How to reach one server. Build one with ``in_process``, ``stdio``, ``url``, or the ``probe_stdio`` and
    ``executor_stdio`` helpers."""

    name: str  # "probe" or "executor": the server name policies use
    server: Any = None  # an MCPServer (in-process)
    params: StdioServerParameters | None = None
    url: str | None = None
    bearer: str | None = None

    @classmethod
    def in_process(cls, name: str, server: Any) -> Endpoint:
        return cls(name=name, server=server)

    @classmethod
    def stdio(cls, name: str, args: list[str], env: dict[str, str] | None = None, cwd: str | Path | None = None
              ) -> Endpoint:
        cmd = aoi_command()
        return cls(name=name, params=StdioServerParameters(command=cmd[0], args=[*cmd[1:], *args], env=child_env(env),
                                                           cwd=str(cwd) if cwd else None))

    @classmethod
    def probe_stdio(cls, kubeconfig: str | Path | None = None, context: str | None = None,
                    extra_args: list[str] | None = None) -> Endpoint:
        args = ["probe"]
        if kubeconfig:
            args += ["--kubeconfig", str(kubeconfig)]
        if context:
            args += ["--context", context]
        return cls.stdio("probe", args + list(extra_args or []))

    @classmethod
    def executor_stdio(cls, kubeconfig: str | Path | None, keyring: str | Path, ledger: str | Path,
                       audit: str | Path | None = None, policy: str | Path | None = None, context: str | None = None
                       ) -> Endpoint:
        args = ["executor", "--keyring", str(keyring), "--ledger", str(ledger)]
        if kubeconfig:
            args += ["--kubeconfig", str(kubeconfig)]
        if context:
            args += ["--context", context]
        if audit:
            args += ["--audit", str(audit)]
        if policy:
            args += ["--policy", str(policy)]
        return cls.stdio("executor", args)

    @classmethod
    def from_url(cls, name: str, url: str, bearer: str | None = None) -> Endpoint:
        return cls(name=name, url=url, bearer=bearer)

    def describe(self) -> str:
        if self.server is not None:
            return f"{self.name}: in-process"
        if self.url:
            return f"{self.name}: {self.url}"
        assert self.params is not None
        return f"{self.name}: stdio `{' '.join([Path(self.params.command).name, *self.params.args])}`"


def _text(result: CallToolResult) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content or [] if getattr(c, "text", None) is not None)


@dataclass
class Connections:
    """Open MCP sessions to the probe and (optionally) the executor. Use as an async context manager."""

    endpoints: list[Endpoint]
    read_timeout_s: float = READ_TIMEOUT_S
    clients: dict[str, Client] = field(default_factory=dict)
    tools: list[ToolInfo] = field(default_factory=list)
    _stack: contextlib.AsyncExitStack | None = None

    async def __aenter__(self) -> Connections:
        self._stack = contextlib.AsyncExitStack()
        await self._stack.__aenter__()
        try:
            for ep in self.endpoints:
                self.clients[ep.name] = await self._open(ep)
            for name, client in self.clients.items():
                self.tools += await self._list(name, client)
        except BaseException:
            await self._stack.__aexit__(*sys.exc_info())
            raise
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._stack is not None:
            with contextlib.suppress(Exception):
                await self._stack.__aexit__(*exc)

    async def _open(self, ep: Endpoint) -> Client:
        assert self._stack is not None
        try:
            if ep.server is not None:
                return await self._stack.enter_async_context(Client(ep.server))
            if ep.url is not None:
                if ep.bearer:
                    import httpx2
                    from mcp.client.streamable_http import streamable_http_client

                    http = await self._stack.enter_async_context(httpx2.AsyncClient(
                        headers={"Authorization": f"Bearer {ep.bearer}"},
                        timeout=httpx2.Timeout(30, read=self.read_timeout_s)))
                    transport = streamable_http_client(ep.url, http_client=http)
                    return await self._stack.enter_async_context(Client(transport))
                return await self._stack.enter_async_context(Client(ep.url, read_timeout_seconds=self.read_timeout_s))
            assert ep.params is not None
            return await self._stack.enter_async_context(Client(ep.params, read_timeout_seconds=self.read_timeout_s))
        except Exception as e:  # the server's own stderr says why (it is inherited)
            raise ConnectionFailed(f"cannot connect to the {ep.describe()}: {type(e).__name__}: {e}") from e

    async def _list(self, name: str, client: Client) -> list[ToolInfo]:
        out: list[ToolInfo] = []
        cursor = None
        while True:
            page = await client.list_tools(cursor=cursor) if cursor else await client.list_tools()
            for t in page.tools:
                ann = t.annotations
                out.append(ToolInfo(server=name, name=t.name, description=t.description or "",
                                    input_schema=dict(t.input_schema or {}),
                                    read_only=getattr(ann, "read_only_hint", None) if ann else None,
                                    destructive=getattr(ann, "destructive_hint", None) if ann else None))
            cursor = getattr(page, "next_cursor", None)
            if not cursor:
                return out

    def has(self, server: str, tool: str | None = None) -> bool:
        if tool is None:
            return server in self.clients
        return any(t.server == server and t.name == tool for t in self.tools)

    def tool(self, server: str, name: str) -> ToolInfo | None:
        return next((t for t in self.tools if t.server == server and t.name == name), None)

    async def call(self, server: str, tool: str, arguments: dict[str, Any] | None = None) -> ToolResult:
        client = self.clients.get(server)
        args = dict(arguments or {})
        started = time.perf_counter()
        if client is None:
            return ToolResult(server=server, tool=tool, arguments=args, is_error=True,
                              text=f"Error: no server {server!r} is connected (connected: {', '.join(self.clients)})")
        try:
            r = await client.call_tool(tool, args)
        except Exception as e:  # a protocol error or a dead server: the policy sees it as a failed call
            return ToolResult(server=server, tool=tool, arguments=args, is_error=True,
                              text=f"Error: calling {server}.{tool} failed: {type(e).__name__}: {e}",
                              latency_ms=(time.perf_counter() - started) * 1000)
        data = r.structured_content if isinstance(r.structured_content, dict) else None
        return ToolResult(server=server, tool=tool, arguments=args, is_error=bool(r.is_error), text=_text(r),
                          data=data, latency_ms=(time.perf_counter() - started) * 1000)
