"""A minimal OpenAPI v3 surface: enough for kubectl to learn that the server validates fields itself.

kubectl (apply, create -f, replace) first asks /openapi/v3 whether a group-version's PATCH operations take
the ``fieldValidation`` query parameter; if so it sends ``fieldValidation=Strict`` and skips client-side
schema validation. Without this document kubectl refuses to apply with "failed to download openapi".
Schemas are not served (``kubectl explain`` is not supported).
"""

from __future__ import annotations

import hashlib
from typing import Any

from cluster.sim.resources import ResourceRegistry

QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force")


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _gv_hash(reg: ResourceRegistry, group: str, version: str) -> str:
    names = ",".join(sorted(t.plural for t in reg.in_group_version(group, version)))
    return hashlib.sha256(f"{group}/{version}:{names}".encode()).hexdigest()[:32].upper()


def root(reg: ResourceRegistry) -> dict[str, Any]:
    paths = {}
    gvs = [("", "v1")] + [(g, v) for g, vs in reg.groups().items() for v in vs]
    for g, v in gvs:
        p = _gv_path(g, v)
        paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={_gv_hash(reg, g, v)}"}
    return {"paths": paths}


def group_version(reg: ResourceRegistry, path: str) -> dict[str, Any] | None:
    parts = path.strip("/").split("/")
    if parts[:1] == ["api"] and len(parts) == 2:
        group, version = "", parts[1]
    elif parts[:1] == ["apis"] and len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        return None
    types = reg.in_group_version(group, version)
    if not types:
        return None
    prefix = "/" + _gv_path(group, version)
    params = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}} for n in QUERY_PARAMS]
    paths: dict[str, Any] = {}
    for t in types:
        item = f"{prefix}/namespaces/{{namespace}}/{t.plural}/{{name}}" if t.namespaced else \
            f"{prefix}/{t.plural}/{{name}}"
        gvk = {"group": t.group, "version": t.version, "kind": t.kind}
        op = {"operationId": f"patch{t.kind}", "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk,
              "parameters": params, "responses": {"200": {"description": "OK"}}}
        if "patch" in t.verbs:
            paths[item] = {"patch": op, "put": {**op, "operationId": f"replace{t.kind}", "x-kubernetes-action": "put"}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (AOI simulator)", "version": "v1.32.2"},
            "paths": paths, "components": {"schemas": {}}}
