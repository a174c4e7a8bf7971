"""Serve a SimCluster over HTTP on 127.0.0.1: in-process (tests, the benchmark) or in the foreground
(``aoi sim up``)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from pathlib import Path

import uvicorn

from cluster.kubeconfig import Telemetry, sim_kubeconfig, write_kubeconfig
from cluster.sim.api.app import build_app
from cluster.sim.cluster import SimCluster
from cluster.sim.config import SimConfig
from cluster.sim.tls import ServingCert, make_serving_cert


class SimServer:
    """A simulated cluster behind a real HTTP server.

    >>> with SimServer(SimCluster(SimConfig(seed=1))) as srv:
    ...     srv.url, srv.kubeconfig_path   # kubectl --kubeconfig srv.kubeconfig_path get pods -A
    """

    def __init__(self, cluster: SimCluster | None = None, host: str = "127.0.0.1", port: int = 0,
                 kubeconfig: Path | str | None = None, extra_routes: list | None = None,
                 telemetry: bool = False):
        self.cluster = cluster or SimCluster(SimConfig())
        self.host = host
        self.port = port
        self.kubeconfig_path = Path(kubeconfig) if kubeconfig else None
        self.extra_routes = list(extra_routes or [])
        self.telemetry = telemetry
        if telemetry:
            from cluster.sim.telemetry.serve import telemetry_routes

            self.extra_routes += telemetry_routes(self.cluster)
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.tls: ServingCert | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def token(self) -> str:
        return self.cluster.config.token

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP so that asyncio turns Nagle off on accepted connections (small replies otherwise stall ~40 ms).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as e:
            sock.close()
            raise OSError(f"cannot listen on {self.host}:{self.port}: {e.strerror}; choose another --port "
                          "(or 0 for a free one)") from e
        sock.listen(1024)
        self.port = sock.getsockname()[1]
        return sock

    def _uvicorn(self) -> uvicorn.Server:
        app = build_app(self.cluster, self.extra_routes)
        if self.tls is None:
            hosts = tuple(dict.fromkeys((self.host, "127.0.0.1", "localhost", "::1")))
            self.tls = make_serving_cert(hosts)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                timeout_graceful_shutdown=2, ws="wsproto",  # pods/exec: kubectl 1.30+ uses WebSockets
                                ssl_certfile=str(self.tls.cert_file), ssl_keyfile=str(self.tls.key_file))
        return uvicorn.Server(config)

    def write_kubeconfig(self) -> Path | None:
        if self.kubeconfig_path is None:
            return None
        telemetry = self.telemetry_urls()
        assert self.tls is not None
        return write_kubeconfig(self.kubeconfig_path, sim_kubeconfig(self.url, self.token, self.tls.ca_pem,
                                                                     telemetry=telemetry))

    def telemetry_urls(self) -> Telemetry:
        if not self.telemetry:
            return Telemetry()
        from cluster.sim.telemetry.serve import JAEGER_PATH, PROMETHEUS_PATH

        return Telemetry(prometheus=self.url + PROMETHEUS_PATH, jaeger=self.url + JAEGER_PATH)

    @property
    def ca_pem(self) -> bytes:
        assert self.tls is not None, "start the server first"
        return self.tls.ca_pem

    # ------------------------------------------------------------------------------- in-process
    def start(self, timeout: float = 10.0) -> SimServer:
        self._sock = self._bind()
        self._server = self._uvicorn()
        server, sock = self._server, self._sock

        def run() -> None:
            asyncio.run(server.serve(sockets=[sock]))

        self._thread = threading.Thread(target=run, name=f"aoi-sim-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator's HTTP server did not start on {self.url}")
            time.sleep(0.01)
        self.write_kubeconfig()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        if self.tls is not None:
            self.tls.cleanup()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------- foreground
    def serve_forever(self, on_ready=None) -> None:
        """Serve until SIGINT/SIGTERM (uvicorn handles them and shuts down cleanly)."""
        self._sock = self._bind()
        server = self._uvicorn()
        self.write_kubeconfig()

        async def main() -> None:
            task = asyncio.create_task(server.serve(sockets=[self._sock]))
            while not server.started and not task.done():
                await asyncio.sleep(0.01)
            if server.started and on_ready:
                on_ready(self)
            await task

        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
        try:
            asyncio.run(main())
        finally:
            self._sock.close()
            if self.tls is not None:
                self.tls.cleanup()
