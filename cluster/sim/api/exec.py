"""``pods/exec`` over WebSockets: the remote-command protocol as kube-apiserver 1.30+ serves it to kubectl.

kubectl (1.30 and later, ``KUBECTL_REMOTE_COMMAND_WEBSOCKETS`` on by default) opens
``GET /api/v1/namespaces/NS/pods/NAME/exec?command=..&container=..&stdin=..&stdout=..&stderr=..&tty=..`` as a
WebSocket asking for the ``v5.channel.k8s.io`` subprotocol (client-go ``tools/remotecommand/websocket.go``).
Every binary message starts with a stream id: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; v5 adds 255,
"this stream is closed" (``[255, id]``), which the client sends when its stdin ends. The server writes an
empty message on the lowest writable stream once the connection is up, then the output, then the exit status
as a JSON ``metav1.Status`` on stream 3, then closes (``apiserver/pkg/util/proxy/streamtranslator.go``).
``v4.channel.k8s.io`` (the Python client's choice) and ``v4.base64.channel.k8s.io`` (text frames: the stream
id as an ASCII digit, then base64) are served as well; v4 has no close signal, so stdin ends when the client
has sent nothing for ``STDIN_IDLE_V4`` seconds.

Errors follow the real layers: kube-apiserver's own checks (pod, container name, node) answer the upgrade
request with a Status, so kubectl falls back to SPDY, gets the same Status again and prints ``Error from
server (BadRequest): ...``; the kubelet's and the runtime's (container not running, binary not found)
arrive after the upgrade, on stream 3, wrapped the way the stream translator wraps them. SPDY itself is not
served: the fallback POST gets the apiserver's error, or a plain one saying so.

The command runs to completion on the stdin it was given (see ``cluster.sim.runtime.shell``). With ``-t``
there is no terminal: the command runs non-interactively, its output has ``\\r\\n`` line ends as a terminal
would show them, and resize messages are ignored.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from cluster.sim.errors import ApiError, bad_request, not_found
from cluster.sim.runtime.shell import ExecContext, ExecResult, ExecStartError

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
SUBPROTOCOLS = (V5, V4, V4_BASE64)
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
STDIN_IDLE_V4 = 1.0  # seconds of silence that end stdin on v4, which cannot signal it
STDIN_MAX_WAIT = 600.0
TTY_SIZE_WAIT = 0.5
CHUNK = 32 * 1024



class _QuietSpdyFallback(logging.Filter):
    """kubectl retries a refused WebSocket upgrade as SPDY/3.1, which uvicorn logs as "Unsupported upgrade
    request." before handing it to the app as plain HTTP (answered in ``http_exec``): expected, not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Unsupported upgrade request."


logging.getLogger("uvicorn.error").addFilter(_QuietSpdyFallback())

_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/(exec|attach|portforward)/?$")


def _bool(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "t")


@dataclass(frozen=True)
class ExecOptions:
    command: list[str]
    container: str | None
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @classmethod
    def parse(cls, query: Any) -> ExecOptions:
        """From the query string (a starlette QueryParams or any mapping with ``getlist``)."""
        tty = _bool(query.get("tty"))
        opts = cls(command=list(query.getlist("command")), container=query.get("container") or None,
                   stdin=_bool(query.get("stdin")), stdout=_bool(query.get("stdout")),
                   stderr=_bool(query.get("stderr")) and not tty,  # a terminal has no separate stderr
                   tty=tty)
        if not (opts.stdin or opts.stdout or opts.stderr):
            raise bad_request("you must specify at least 1 of stdin, stdout, stderr")
        if not opts.command:
            raise bad_request("you must specify at least one command for the container")
        return opts


def _all_containers(pod: dict) -> list[dict]:
    spec = pod.get("spec", {})
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or []),
            *(spec.get("ephemeralContainers") or [])]


def locate(cluster: SimCluster, namespace: str, name: str, opts: ExecOptions) -> tuple[dict, str]:
    """kube-apiserver's checks before it connects to the kubelet (pkg/registry/core/pod/strategy.go)."""
    pod = cluster.store.get("pods", namespace, name)
    if pod is None:
        raise not_found("", "pods", name)
    container = opts.container
    if not container:
        main = pod["spec"].get("containers") or []
        if len(main) != 1:
            names = " ".join(c.get("name", "") for c in _all_containers(pod))
            raise bad_request(f"a container name must be specified for pod {name}, choose one of: [{names}]")
        container = main[0]["name"]
    elif not any(c.get("name") == container for c in _all_containers(pod)):
        raise bad_request(f"container {container} is not valid for pod {name}")
    if not pod["spec"].get("nodeName"):
        raise bad_request(f"pod {name} does not have a host assigned")
    return pod, container


def _internal(message: str) -> dict:
    """apierrors.NewInternalError(err), as json.Marshal writes it on the error stream."""
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {message}",
            "reason": "InternalError", "details": {"causes": [{"message": message}]}, "code": 500}


def exit_status(code: int) -> dict:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: command terminated with exit code {code}",
            "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def run_exec(cluster: SimCluster, namespace: str, name: str, container: str, opts: ExecOptions,
             stdin: bytes) -> tuple[ExecResult | None, dict]:
    """What the kubelet and the container runtime do: (the process's result or None, the status to report)."""
    with cluster.locked():
        pod = cluster.store.get("pods", namespace, name)
        rt = cluster.runtime.pods.get(pod["metadata"]["uid"]) if pod else None
        cs = rt.containers.get(container) if rt else None
        spec = next((c for c in _all_containers(pod) if c.get("name") == container), None) if pod else None
        if pod is None or cs is None or spec is None or cs.phase != "running":
            # The kubelet answers the translator's SPDY upgrade with a plain-text 500, which the translator
            # wraps once more.
            return None, _internal(f'unable to upgrade connection: container not found ("{container}")')
        ctx = ExecContext(cluster, pod, spec, list(opts.command), stdin, tty=opts.tty)
        try:
            result = cluster.shell.run(ctx)
        except ExecStartError as e:
            exec_id = cluster.shell.exec_id(ctx)
            # containerd's error, wrapped by the kubelet's streaming server (Internal error) and again by the
            # apiserver's stream translator.
            return None, _internal(f"Internal error occurred: error executing command in container: failed to exec "
                                   f'in container: failed to start exec "{exec_id}": {e}')
    return result, exit_status(result.exit_code)


# ----------------------------------------------------------------------------------------- websocket
class _Streams:
    """The channel framing of one negotiated subprotocol."""

    def __init__(self, ws: WebSocket, protocol: str):
        self.ws = ws
        self.protocol = protocol
        self.base64 = protocol == V4_BASE64

    async def send(self, channel: int, data: bytes) -> None:
        chunks = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
        for chunk in chunks:
            if self.base64:
                await self.ws.send_text(str(channel) + base64.b64encode(chunk).decode())
            else:
                await self.ws.send_bytes(bytes([channel]) + chunk)

    def _decode(self, message: Mapping[str, Any]) -> tuple[int, bytes] | None:
        if self.base64:
            text = message.get("text") or (message.get("bytes") or b"").decode(errors="replace")
            if not text or not text[0].isdigit():
                return None
            try:
                return int(text[0]), base64.b64decode(text[1:])
            except (binascii.Error, ValueError):
                return None
        data = message.get("bytes") or (message.get("text") or "").encode()
        return (data[0], bytes(data[1:])) if data else None

    async def _frame(self, timeout: float) -> tuple[int, bytes] | None:
        """The next frame from the client, or None after ``timeout`` seconds; raises on disconnect."""
        while True:
            try:
                message = await asyncio.wait_for(self.ws.receive(), timeout)
            except TimeoutError:
                return None
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            frame = self._decode(message)
            if frame is not None:
                return frame

    async def read_stdin(self) -> bytes:
        """Stdin until the client closes it (v5), goes quiet (v4) or disconnects."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STDIN_MAX_WAIT
        buf = bytearray()
        while (left := deadline - loop.time()) > 0:
            frame = await self._frame(left if self.protocol == V5 else min(left, STDIN_IDLE_V4))
            if frame is None:
                break
            channel, payload = frame
            if channel == CLOSE and payload[:1] == bytes([STDIN]):
                break
            if channel == STDIN:
                buf += payload
        return bytes(buf)

    async def await_terminal_size(self) -> None:
        """kubectl -t sends the terminal's size first thing; finishing before it arrives would make kubectl
        log a failed write ("websocket: close sent"), so wait for it a moment (stdin is not read)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TTY_SIZE_WAIT
        while (left := deadline - loop.time()) > 0:
            frame = await self._frame(left)
            if frame is None or frame[0] == RESIZE:
                return


async def _deny(ws: WebSocket, error: ApiError) -> None:
    """Refuse the upgrade with an HTTP Status response, as kube-apiserver does before upgrading."""
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(Response(orjson.dumps(error.status()), status_code=error.code,
                                               media_type="application/json"))
    else:
        await ws.close(code=1008, reason=error.message[:120])


async def serve_websocket(cluster: SimCluster, ws: WebSocket, authorized: bool) -> None:
    """The WebSocket endpoint of the API server: ``pods/exec``; anything else is refused."""
    match = _PATH.match(ws.url.path)
    if match is None:
        await _deny(ws, ApiError(404, "the server could not find the requested resource"))
        return
    if not authorized:
        await _deny(ws, ApiError(401, "Unauthorized"))
        return
    namespace, name, sub = match.groups()
    if sub != "exec":
        await _deny(ws, bad_request(f"{sub} is not supported by this simulated cluster yet"))
        return
    try:
        opts = ExecOptions.parse(ws.query_params)
        with cluster.locked():
            _, container = locate(cluster, namespace, name, opts)
    except ApiError as e:
        await _deny(ws, e)
        return
    offered = list(ws.scope.get("subprotocols") or [])
    protocol = next((p for p in offered if p in SUBPROTOCOLS), None)
    if protocol is None:
        await _deny(ws, bad_request(f"requested protocol(s) are not supported: {offered}; supports "
                                    f"{list(SUBPROTOCOLS)}"))
        return
    await ws.accept(subprotocol=protocol)
    streams = _Streams(ws, protocol)
    try:
        await streams.send(STDOUT if opts.stdout else STDERR if opts.stderr else ERROR, b"")
        if opts.tty:
            await streams.await_terminal_size()
        stdin = await streams.read_stdin() if opts.stdin and not opts.tty else b""
        result, status = run_exec(cluster, namespace, name, container, opts, stdin)
        if result is not None:
            out, err = result.stdout, result.stderr
            if opts.tty:  # one terminal: stderr joins stdout, and the line discipline turns \n into \r\n
                out = (out + err).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
                err = b""
            if opts.stdout and out:
                await streams.send(STDOUT, out)
            if opts.stderr and err:
                await streams.send(STDERR, err)
        await streams.send(ERROR, orjson.dumps(status))
        await ws.close(code=1000)
    except WebSocketDisconnect:
        return


# ---------------------------------------------------------------------------------------------- http
def http_exec(cluster: SimCluster, headers: Mapping[str, str], query: Any, namespace: str, name: str) -> Response:
    """``pods/exec`` requested without a WebSocket upgrade (plain HTTP, or kubectl's SPDY fallback)."""
    opts = ExecOptions.parse(query)
    with cluster.locked():
        locate(cluster, namespace, name, opts)
    if "spdy" in headers.get("upgrade", "").lower():
        raise bad_request("this simulated cluster serves pods/exec over WebSockets only (v5.channel.k8s.io, "
                          "v4.channel.k8s.io); SPDY/3.1 is not supported: use kubectl 1.30 or later without "
                          "KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false")
    raise bad_request("Upgrade request required")
