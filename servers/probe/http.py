"""The probe over streamable HTTP, behind a static bearer token.

The MCP endpoint is ``/mcp``. Every HTTP request must carry ``Authorization: Bearer <token>``; anything else gets
401 with a ``WWW-Authenticate`` challenge (RFC 6750) before it reaches the MCP layer. Tokens are compared through
their SHA-256 digests with ``hmac.compare_digest``, so the time taken says nothing about the token, not even its
length. The server binds 127.0.0.1 unless told otherwise; DNS-rebinding protection (Host/Origin checks) is then on.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import stat
from pathlib import Path
from typing import Any

import orjson
from mcp.server.mcpserver import MCPServer

MCP_PATH = "/mcp"
REALM = "aoi-probe"
MIN_TOKEN_CHARS = 16


class TokenError(ValueError):
    """The auth token file is missing, empty or too short; the message says how to make one."""


def read_token(path: str | Path | None) -> str:
    """The bearer token from a file (surrounding whitespace ignored)."""
    how = "create one with e.g. `openssl rand -hex 32 > probe.token && chmod 600 probe.token`"
    if not path:
        raise TokenError(f"--transport http requires --auth-token-file PATH (a file holding the bearer token): {how}")
    p = Path(path).expanduser()
    try:
        token = p.read_text().strip()
    except OSError as e:
        raise TokenError(f"cannot read the auth token file {p}: {e.strerror or e}; {how}") from e
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise TokenError(f"the auth token in {p} must be one word of at least {MIN_TOKEN_CHARS} characters; {how}")
    return token


def token_file_warning(path: str | Path) -> str | None:
    """A warning when others on the machine can read the token file."""
    try:
        mode = os.stat(Path(path).expanduser()).st_mode
    except OSError:
        return None
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return f"warning: {path} is readable by other users; `chmod 600 {path}`"
    return None


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


class BearerAuth:
    """ASGI middleware: pass HTTP requests with the right bearer token, answer 401 to the rest."""

    def __init__(self, app: Any, token: str):
        self.app = app
        self._digest = _digest(token.encode())

    def authorized(self, headers: list[tuple[bytes, bytes]]) -> bool | None:
        """True: right token. False: a wrong or malformed one. None: no credentials at all."""
        values = [v for k, v in headers if k.lower() == b"authorization"]
        if not values:
            return None
        scheme, _, credentials = values[0].strip().partition(b" ")
        ok = hmac.compare_digest(_digest(credentials.strip()), self._digest)
        return ok and scheme.lower() == b"bearer" and len(values) == 1

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan
            await self.app(scope, receive, send)
            return
        verdict = self.authorized(scope.get("headers") or [])
        if verdict is True:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        challenge = f'Bearer realm="{REALM}"'
        if verdict is False:
            challenge += ', error="invalid_token", error_description="the bearer token is not valid"'
            description = "the bearer token is not valid"
        else:
            description = "missing bearer token: send 'Authorization: Bearer <token>' (the probe's --auth-token-file)"
        body = orjson.dumps({"error": "invalid_token" if verdict is False else "unauthorized",
                             "error_description": description})
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", challenge.encode())]})
        await send({"type": "http.response.body", "body": body})


def build_http_app(server: MCPServer, token: str, host: str = "127.0.0.1") -> BearerAuth:
    """The probe's ASGI app: streamable HTTP at /mcp behind the bearer token (the MCP app's lifespan runs the
    session manager)."""
    return BearerAuth(server.streamable_http_app(streamable_http_path=MCP_PATH, host=host), token)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: a free one), so the real address can be printed before serving."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family = infos[0][0] if infos else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {e.strerror or e}; choose another --port (0: any free one)"
                      ) from e
    sock.listen(128)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{MCP_PATH}"


def serve(server: MCPServer, token: str, sock: socket.socket, host: str) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn shuts down gracefully on either)."""
    import uvicorn

    config = uvicorn.Config(build_http_app(server, token, host), log_level="warning", access_log=False,
                            lifespan="on", timeout_graceful_shutdown=3)
    uvicorn.Server(config).run(sockets=[sock])
