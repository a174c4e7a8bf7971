"""Discovery documents, legacy and aggregated (apidiscovery.k8s.io/v2), built from the resource table."""

from __future__ import annotations

import hashlib
from typing import Any

from cluster.sim.resources import ResourceRegistry, ResourceType

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

# subresource -> (kind, group, version, verbs); None group/version/kind = the parent's.
SUBRESOURCES: dict[str, tuple[str | None, str | None, str | None, tuple[str, ...]]] = {
    "status": (None, None, None, ("get", "patch", "update")),
    "scale": ("Scale", "autoscaling", "v1", ("get", "patch", "update")),
    "log": (None, None, None, ("get",)),
    "exec": ("PodExecOptions", "", "v1", ("create", "get")),
    "attach": ("PodAttachOptions", "", "v1", ("create", "get")),
    "portforward": ("PodPortForwardOptions", "", "v1", ("create", "get")),
    "binding": ("Binding", "", "v1", ("create",)),
    "eviction": ("Eviction", "policy", "v1", ("create",)),
    "ephemeralcontainers": (None, None, None, ("get", "patch", "update")),
    "proxy": ("NodeProxyOptions", "", "v1", ("create", "delete", "get", "patch", "update")),
    "finalize": (None, None, None, ("update",)),
    "token": ("TokenRequest", "authentication.k8s.io", "v1", ("create",)),
}


def version_info(git_version: str) -> dict[str, str]:
    major, minor = git_version.lstrip("v").split(".")[:2]
    return {"major": major, "minor": minor, "gitVersion": git_version, "gitCommit": "aoi-simulated",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.6",
            "compiler": "gc", "platform": "linux/amd64"}


def api_versions() -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "172.18.0.2:6443"}]}


def _group_entry(group: str, versions: list[str]) -> dict[str, Any]:
    vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": vs, "preferredVersion": vs[0]}


def api_group_list(reg: ResourceRegistry) -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group_entry(g, vs) for g, vs in reg.groups().items()]}


def api_group(reg: ResourceRegistry, group: str) -> dict[str, Any] | None:
    versions = reg.groups().get(group)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, versions)}


def _storage_hash(t: ResourceType) -> str:
    return hashlib.sha256(f"{t.group}/{t.version}/{t.kind}".encode()).hexdigest()[:11]


def resource_list(reg: ResourceRegistry, group: str, version: str) -> dict[str, Any] | None:
    types = reg.in_group_version(group, version)
    if not types:
        return None
    resources = []
    for t in types:
        entry: dict[str, Any] = {"name": t.plural, "singularName": t.singular_name, "namespaced": t.namespaced,
                                 "kind": t.kind, "verbs": list(t.verbs)}
        if t.short_names:
            entry["shortNames"] = list(t.short_names)
        if t.categories:
            entry["categories"] = list(t.categories)
        entry["storageVersionHash"] = _storage_hash(t)
        resources.append(entry)
        for sub in t.subresources:
            kind, g, v, verbs = SUBRESOURCES.get(sub, (None, None, None, ("get",)))
            s: dict[str, Any] = {"name": f"{t.plural}/{sub}", "singularName": "", "namespaced": t.namespaced,
                                 "kind": kind or t.kind, "verbs": list(verbs)}
            if g is not None and (g, v) != (t.group, t.version):
                s["group"], s["version"] = g, v
            resources.append(s)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def _aggregated_resource(t: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": t.plural, "responseKind": {"group": t.group, "version": t.version, "kind": t.kind},
        "scope": "Namespaced" if t.namespaced else "Cluster", "singularResource": t.singular_name,
        "verbs": list(t.verbs)}
    if t.short_names:
        entry["shortNames"] = list(t.short_names)
    if t.categories:
        entry["categories"] = list(t.categories)
    subs = []
    for sub in t.subresources:
        kind, g, v, verbs = SUBRESOURCES.get(sub, (None, None, None, ("get",)))
        subs.append({"subresource": sub, "responseKind": {"group": t.group if g is None else g,
                                                          "version": t.version if v is None else v,
                                                          "kind": kind or t.kind}, "verbs": list(verbs)})
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated(reg: ResourceRegistry, legacy: bool) -> dict[str, Any]:
    """/api (legacy=True) or /apis as an APIGroupDiscoveryList: one request instead of one per group."""
    groups = {"": ["v1"]} if legacy else reg.groups()
    items = []
    for group, versions in groups.items():
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": [
            {"version": v, "resources": [_aggregated_resource(t) for t in reg.in_group_version(group, v)],
             "freshness": "Current"} for v in versions]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}
