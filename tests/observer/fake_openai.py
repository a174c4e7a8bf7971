"""A local OpenAI-compatible chat server that replays scripted replies: a test double of the model only.

It listens on 127.0.0.1 on a free port in a background thread and speaks ``POST /v1/chat/completions`` and
``GET /v1/models``. Each chat request gets the next entry of the script; every request body is kept in
``requests`` so tests can check what the policy sent (tools, messages, the error fed back). An entry is a
:class:`Reply` (build them with the helpers below) or a function of the request body returning one. When the script
runs out the server answers 500 with "script exhausted", which fails the test loudly.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "fake-qwen2.5-7b-instruct"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Entry = Reply | Callable[[dict[str, Any]], Reply]


def _completion(message: dict[str, Any], finish: str, prompt_tokens: int = 120, completion_tokens: int = 30
                ) -> Reply:
    body = {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": MODEL,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}
    return Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


def tool_call(name: str, arguments: dict[str, Any] | str, content: str | None = None, *, call_id: str = "call_x",
              prompt_tokens: int = 120, completion_tokens: int = 30) -> Reply:
    """A native tool call, as vLLM's hermes parser returns it (``arguments`` as JSON text; a str is sent as is,
    so a test can send broken JSON)."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    msg = {"role": "assistant", "content": content,
           "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}]}
    return _completion(msg, "tool_calls", prompt_tokens, completion_tokens)


def text(content: str, *, prompt_tokens: int = 120, completion_tokens: int = 30) -> Reply:
    """A plain message (what a model without native tool calls, or a server without a tool parser, returns)."""
    return _completion({"role": "assistant", "content": content, "tool_calls": []}, "stop", prompt_tokens,
                       completion_tokens)


def error(status: int, message: str, **headers: str) -> Reply:
    body = {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": status}
    return Reply(status, json.dumps({"error": body}).encode(), {"Content-Type": "application/json", **headers})


def raw(body: bytes | str, status: int = 200, content_type: str = "application/json") -> Reply:
    return Reply(status, body.encode() if isinstance(body, str) else body, {"Content-Type": content_type})


def refuses_tools(then: Entry) -> Callable[[dict[str, Any]], Reply]:
    """vLLM started without --enable-auto-tool-choice: 400 for a request with tools, else ``then``."""
    def reply(req: dict[str, Any]) -> Reply:
        if req.get("tools"):
            return error(400, '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set')
        return then(req) if callable(then) else then
    return reply


class FakeOpenAI:
    """``with FakeOpenAI([tool_call(...), text(...)]) as srv: OpenAIPolicy(srv.base_url, ...)``."""

    def __init__(self, script: list[Entry] | None = None, *, api_key: str | None = None):
        self.script: list[Entry] = list(script or [])
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.api_key = api_key
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, r: Reply) -> None:
                self.send_response(r.status)
                for k, v in r.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(r.body)))
                self.end_headers()
                self.wfile.write(r.body)

            def _authorized(self) -> bool:
                if fake.api_key is None:
                    return True
                if self.headers.get("Authorization") == f"Bearer {fake.api_key}":
                    return True
                self._send(error(401, "Unauthorized"))
                return False

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                if self.path.rstrip("/") == "/v1/models":
                    self._send(raw(json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]})))
                else:
                    self._send(error(404, f"no route {self.path}"))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                if not self._authorized():
                    return
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(error(404, f"no route {self.path}"))
                    return
                try:
                    req = json.loads(data)
                except ValueError:
                    self._send(error(400, "body is not JSON"))
                    return
                with fake._lock:
                    fake.requests.append(req)
                    fake.headers.append(dict(self.headers))
                    entry = fake.script.pop(0) if fake.script else None
                if entry is None:
                    self._send(error(500, "script exhausted"))
                    return
                self._send(entry(req) if callable(entry) else entry)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def add(self, *entries: Entry) -> None:
        with self._lock:
            self.script.extend(entries)

    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
