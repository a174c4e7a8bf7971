"""The read-only guard: a Kubernetes client that cannot write, by construction.

The probe's API client is built here. Its REST layer refuses every HTTP method but GET (watches are GETs)
*inside the process, before a byte is sent*, and so does the connection pool beneath it, so no code path of
the official client (typed APIs, the dynamic client, raw ``call_api``) can reach the API server with a write.
"""

from __future__ import annotations

from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client import rest

READ_METHODS = frozenset({"GET", "HEAD"})


class WriteRefused(PermissionError):
    """A write was attempted through a read-only client; nothing was sent."""

    def __init__(self, method: str, url: str):
        super().__init__(f"refused {method} {url}: this client is read-only by construction (only GET is sent); "
                         "changes go through the executor with a signed plan")
        self.method = method
        self.url = url


class _ReadOnlyPool:
    """Wraps urllib3's pool manager: the last line, in case anything reaches the pool directly."""

    def __init__(self, inner: urllib3.PoolManager):
        self._inner = inner

    def request(self, method: str, url: str, *args: Any, **kw: Any) -> Any:
        if method.upper() not in READ_METHODS:
            raise WriteRefused(method.upper(), url)
        return self._inner.request(method, url, *args, **kw)

    def urlopen(self, method: str, url: str, *args: Any, **kw: Any) -> Any:
        if method.upper() not in READ_METHODS:
            raise WriteRefused(method.upper(), url)
        return self._inner.urlopen(method, url, *args, **kw)

    def clear(self) -> None:
        self._inner.clear()

    def __getattr__(self, name: str) -> Any:
        # Pool configuration (timeouts, TLS) is readable; request-sending methods are the two above.
        if name in ("request_encode_url", "request_encode_body", "connection_from_url", "connection_from_host"):
            raise WriteRefused("ANY", f"<pool.{name}>")
        return getattr(self._inner, name)


class ReadOnlyRESTClient(rest.RESTClientObject):
    def __init__(self, configuration: client.Configuration):
        super().__init__(configuration)
        self.pool_manager = _ReadOnlyPool(self.pool_manager)  # type: ignore[assignment]

    def request(self, method: str, url: str, *args: Any, **kw: Any) -> Any:
        if method.upper() not in READ_METHODS:
            raise WriteRefused(method.upper(), url)
        return super().request(method, url, *args, **kw)


def read_only(api_client: client.ApiClient) -> client.ApiClient:
    """Make an ApiClient read-only in place (its REST client and pool are replaced) and return it."""
    old = api_client.rest_client
    api_client.rest_client = ReadOnlyRESTClient(api_client.configuration)
    try:
        old.pool_manager.clear()
    except Exception:  # an unused pool may have nothing to clear
        pass
    return api_client
