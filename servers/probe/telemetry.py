"""Clients of the Prometheus and Jaeger HTTP APIs that can only read.

Prometheus queries are GET (or POST of a query form, which Prometheus treats as a read); Jaeger is GET only.
TLS trusts the system's CAs plus the kubeconfig's cluster CA, so the simulator's HTTPS telemetry works with
no configuration.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from servers.probe.kube import ProbeError


def ssl_context(ca_data: bytes | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if ca_data:
        ctx.load_verify_locations(cadata=ca_data.decode())
    return ctx


def ca_from_api(api: Any) -> bytes | None:
    path = getattr(api.configuration, "ssl_ca_cert", None)
    if path:
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            return None
    return None


class HttpReader:
    def __init__(self, base: str | None, name: str, ca: bytes | None, timeout: float = 15.0):
        self.base = base.rstrip("/") if base else None
        self.name = name
        self.ctx = ssl_context(ca)
        self.timeout = timeout

    def _require(self) -> str:
        if not self.base:
            flag = "--prometheus-url" if self.name == "Prometheus" else "--jaeger-url"
            raise ProbeError(f"no {self.name} URL is configured: start the probe with {flag} URL (the simulator's "
                             "kubeconfig records it automatically)")
        return self.base

    def get(self, path: str, params: dict[str, Any] | list[tuple[str, Any]] | None = None) -> Any:
        base = self._require()
        items = params.items() if isinstance(params, dict) else (params or [])
        query = urllib.parse.urlencode([(k, v) for k, v in items if v is not None])
        url = f"{base}{path}" + (f"?{query}" if query else "")
        req = urllib.request.Request(url, method="GET", headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.ctx) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            body = e.read().decode(errors="replace")
            try:
                doc = json.loads(body)
                msg = doc.get("error") or (doc.get("errors") or [{}])[0].get("msg") or body
            except (ValueError, AttributeError, IndexError):
                msg = body[:300]
            raise ProbeError(f"{self.name} answered {e.code}: {msg}") from e
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            raise ProbeError(f"cannot reach {self.name} at {base}: {e}. Check the URL and that it is running.") from e


def basic_auth_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
