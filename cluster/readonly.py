"""The read-only guard: a Kubernetes client that cannot write, by construction.

The probe's API client is built here. Its REST layer refuses every HTTP method but GET (watches are GETs)
*inside the process, before a byte is sent*, and so does the connection pool beneath it, so no code path of
the official client (typed APIs, the dynamic client, raw ``call_api``) can reach the API server with a write.
GETs of the subresources that act rather than read (exec, attach, portforward and the proxies, which forward the
request to a pod, service or node) are refused the same way, however the path was built.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any
from urllib.parse import unquote, urlsplit

import urllib3
from kubernetes import client
from kubernetes.client import rest

READ_METHODS = frozenset({"GET", "HEAD"})
# <prefix>/[namespaces/<ns>/]<resource>/<name>/<exec|attach|portforward|proxy>[/...], and the legacy /api/v1/proxy.
ACTING_SUBRESOURCE = re.compile(
    r"^/(?:api/[^/]+|apis/[^/]+/[^/]+)/(?:namespaces/[^/]+/)?[^/]+/[^/]+/(?:exec|attach|portforward|proxy)(?:/|$)"
    r"|^/api/[^/]+/proxy(?:/|$)")


class WriteRefused(PermissionError):
    """A write was attempted through a read-only client; nothing was sent."""

    def __init__(self, method: str, url: str, reason: str = "only GET is sent"):
        super().__init__(f"refused {method} {url}: this client is read-only by construction ({reason}); "
                         "changes go through the executor with a signed plan")
        self.method = method
        self.url = url


def check(method: str, url: str) -> None:
    """Raise WriteRefused unless this request only reads."""
    method = method.upper()
    if method not in READ_METHODS:
        raise WriteRefused(method, url)
    path = unquote(urlsplit(url).path)  # the API server routes on the decoded path: %2F is a slash to it
    if ACTING_SUBRESOURCE.search(path):
        raise WriteRefused(method, url, "exec, attach, port-forward and proxy act even through a GET")
    if "/../" in path + "/" or "/./" in path + "/":
        raise WriteRefused(method, url, "a path with . or .. segments could name anything")


class _ReadOnlyPool:
    """Wraps urllib3's pool manager: the last line, in case anything reaches the pool directly."""

    def __init__(self, inner: urllib3.PoolManager):
        self._inner = inner

    def request(self, method: str, url: str, *args: Any, **kw: Any) -> Any:
        check(method, url)
        return self._inner.request(method, url, *args, **kw)

    def urlopen(self, method: str, url: str, *args: Any, **kw: Any) -> Any:
        check(method, url)
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
        check(method, url)
        return super().request(method, url, *args, **kw)


def read_only(api_client: client.ApiClient) -> client.ApiClient:
    """Make an ApiClient read-only in place (its REST client and pool are replaced) and return it."""
    old = api_client.rest_client
    api_client.rest_client = ReadOnlyRESTClient(api_client.configuration)
    with contextlib.suppress(Exception):  # an unused pool may have nothing to clear
        old.pool_manager.clear()
    return api_client
