"""Reads of the Kubernetes API for the probe: kind resolution through discovery, lists, gets, logs.

Everything goes through ``cluster.connect.KubeHTTP`` over a client made read-only by ``cluster.readonly``.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from kubernetes.client import ApiException

from cluster.connect import KubeHTTP

# Object names and namespaces as Kubernetes allows them (DNS subdomains; ':' for some RBAC names): anything else
# could smuggle a subresource, a path segment or query parameters into the request URL.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,252}")


class ProbeError(ValueError):
    """A tool call cannot be answered; the message says why and what to do instead."""


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    singular: str = ""
    verbs: tuple[str, ...] = ()

    @property
    def api_prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        for what, value in (("namespace", namespace), ("name", name)):
            if value and not _SAFE_NAME.fullmatch(value):
                raise ProbeError(f"{what} {value!r} is not a valid Kubernetes name (letters, digits, '-', '.', ':' "
                                 "only; no '/', '?', '#' or '%')")
        p = self.api_prefix
        if self.namespaced and namespace:
            p += f"/namespaces/{namespace}"
        p += f"/{self.plural}"
        if name:
            p += f"/{name}"
        if sub:
            p += f"/{sub}"
        return p


class Kube:
    """Discovery-backed reads. Discovery is cached for five minutes (CRDs appear without a restart)."""

    DISCOVERY_TTL = 300.0

    def __init__(self, http: KubeHTTP):
        self.http = http
        self._kinds: list[Kind] = []
        self._fetched = 0.0
        self._lock = threading.Lock()

    # ---------------------------------------------------------------------------------------- discovery
    def kinds(self) -> list[Kind]:
        with self._lock:
            if not self._kinds or time.monotonic() - self._fetched > self.DISCOVERY_TTL:
                self._kinds = self._discover()
                self._fetched = time.monotonic()
            return self._kinds

    def _discover(self) -> list[Kind]:
        kinds: list[Kind] = []
        groups: list[tuple[str, str]] = [("", "v1")]
        for g in self.http.get("/apis").get("groups", []):
            pv = g.get("preferredVersion") or (g.get("versions") or [{}])[0]
            if pv.get("version"):
                groups.append((g["name"], pv["version"]))
        for group, version in groups:
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            try:
                doc = self.http.get(path)
            except ApiException:
                continue  # an aggregated API that is down should not hide the rest
            for r in doc.get("resources", []):
                if "/" in r["name"]:
                    continue
                kinds.append(Kind(group, version, r["kind"], r["name"], r.get("namespaced", False),
                                  tuple(r.get("shortNames") or ()), r.get("singularName") or r["kind"].lower(),
                                  tuple(r.get("verbs") or ())))
        return kinds

    def resolve(self, kind: str) -> Kind:
        """'pods', 'pod', 'po', 'Pod', 'deployments.apps', 'deploy' ... -> Kind; a clear error otherwise."""
        want = kind.strip()
        low = want.lower()
        name, _, group = low.partition(".")
        candidates = [k for k in self.kinds() if (not group or k.group == group or k.group.startswith(group))]
        for k in candidates:
            if name in (k.plural, k.singular, k.kind.lower()) or name in k.short_names:
                if k.group == "events.k8s.io" and not group:
                    continue  # prefer core events, as kubectl does
                if k.group == "metrics.k8s.io" and not group:
                    continue
                return k
        known = sorted({k.plural for k in self.kinds()})
        close = [p for p in known if p.startswith(name[:3])][:8]
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ProbeError(f"unknown resource kind {kind!r}.{hint} Use list_resources(kind=...) with a plural name, "
                         "e.g. pods, deployments, services, events, configmaps, nodes.")

    # --------------------------------------------------------------------------------------------- reads
    def list(self, kind: Kind, namespace: str | None = None, label_selector: str | None = None,
             field_selector: str | None = None, limit: int | None = None) -> list[dict]:
        items: list[dict] = []
        cont = None
        while True:
            doc = self._get(kind.path(namespace), {"labelSelector": label_selector, "fieldSelector": field_selector,
                                                   "limit": 500, "continue": cont})
            for it in doc.get("items", []):
                it.setdefault("kind", kind.kind)
                it.setdefault("apiVersion", kind.api_version)
                items.append(it)
            cont = (doc.get("metadata") or {}).get("continue")
            if not cont or (limit and len(items) >= limit):
                return items[:limit] if limit else items

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> dict:
        if kind.namespaced and not namespace:
            raise ProbeError(f"{kind.plural} are namespaced: pass namespace=... (list_resources(kind='namespaces') "
                             "shows them)")
        return self._get(kind.path(namespace, name))

    def logs(self, namespace: str, pod: str, **query: Any) -> str:
        try:
            return self.http.text(f"/api/v1/namespaces/{namespace}/pods/{pod}/log", query)
        except ApiException as e:
            raise ProbeError(_status_message(e)) from e

    def _get(self, path: str, query: dict[str, Any] | None = None) -> dict:
        try:
            return self.http.get(path, query)
        except ApiException as e:
            raise ProbeError(_status_message(e)) from e


def _status_message(e: ApiException) -> str:
    import orjson

    try:
        body = orjson.loads(e.body or "{}")
        msg = body.get("message") or e.reason
    except orjson.JSONDecodeError:
        msg = e.reason or str(e)
    hint = {401: " (the kubeconfig's credentials were rejected)", 403: " (the probe's RBAC role does not allow it)",
            404: ""}.get(e.status or 0, "")
    return f"the API server answered {e.status}: {msg}{hint}"
