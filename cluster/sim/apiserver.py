"""The API server's verbs over the store: what kube-apiserver does between the HTTP request and etcd.

Creation (names, uids, timestamps, defaulting, validation, admission), updates (optimistic concurrency,
generation, status subresource separation, immutable fields), the three patch types, deletion (graceful
deletion, finalizers, garbage collection with propagation policies), scale subresources and server-side
dry-run. The HTTP layer (``cluster.sim.api``) and in-process callers use the same methods; controllers use
the ``system_*`` methods, which skip admission the way controllers' own service accounts are trusted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cluster.sim import defaults, validation
from cluster.sim.errors import ApiError, already_exists, bad_request, conflict, invalid, not_found
from cluster.sim.patch import (
    PatchError,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
    supports_strategic_merge,
)
from cluster.sim.resources import ResourceType
from cluster.sim.selectors import FieldSelector, LabelSelector, SelectorError
from cluster.sim.store import clone

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster

PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}

SCALABLE = {"deployments.apps", "replicasets.apps", "statefulsets.apps", "replicationcontrollers"}


def _selector_string(sel: dict | None) -> str:
    return str(LabelSelector.from_object(sel)) if sel else ""


class ApiServer:
    def __init__(self, cluster: SimCluster):
        self.c = cluster

    # ------------------------------------------------------------------------------------------- reads
    def get(self, rt: ResourceType, namespace: str, name: str) -> dict:
        obj = self.c.store.get(rt.storage_key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise not_found(rt.group, rt.plural, name)
        return self.c.views.present(rt, obj)

    def list(self, rt: ResourceType, namespace: str | None, label_selector: str | None = None,
             field_selector: str | None = None) -> list[dict]:
        try:
            ls = LabelSelector.parse(label_selector)
            fs = FieldSelector.parse(field_selector, rt.plural if not rt.group else f"{rt.plural}.{rt.group}")
        except SelectorError as e:
            raise bad_request(str(e)) from e
        objs = self.c.store.list(rt.storage_key, namespace if rt.namespaced else None)
        if rt.storage_of:
            objs = [self.c.views.present(rt, o) for o in objs]
        if not ls.is_empty():
            objs = [o for o in objs if ls.matches(o["metadata"].get("labels"))]
        if field_selector:
            objs = [o for o in objs if fs.matches(o)]
        return objs

    # ------------------------------------------------------------------------------------------ create
    def create(self, rt: ResourceType, namespace: str, body: Any, dry_run: bool = False) -> dict:
        obj = self._check_body(rt, body, namespace)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + self.c.ids.suffix()
        if rt.namespaced:
            self._admit_namespace(meta["namespace"])
        if rt.storage_of:
            obj = self.c.views.store_form(rt, obj)
        return self._create(rt.storage_key, obj, dry_run=dry_run, external=True, rt=rt)

    def system_create(self, resource: str, obj: dict) -> dict:
        return self._create(resource, obj, dry_run=False, external=False)

    def _create(self, resource: str, obj: dict, dry_run: bool, external: bool,
                rt: ResourceType | None = None) -> dict:
        c = self.c
        meta = obj.setdefault("metadata", {})
        ns = meta.get("namespace", "")
        if c.store.get(resource, ns, meta.get("name", "")) is not None:
            rt = rt or c.registry.by_key(resource)
            raise already_exists(rt.group if rt else "", rt.plural if rt else resource, meta["name"])
        for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(k, None)
        meta["uid"] = c.ids.uid()
        meta["creationTimestamp"] = c.clock.rfc3339()
        kind = obj.get("kind", "")
        if kind in defaults.GENERATION_KINDS or (rt is not None and rt.custom and "status" in rt.subresources):
            meta["generation"] = 1
        if external:
            # Clients may not set status where a status subresource exists; controllers fill it.
            if rt is not None and "status" in rt.subresources and kind not in ("Pod", "Namespace"):
                obj.pop("status", None)
            self._validate(obj)
        defaulter = defaults.DEFAULTERS.get(kind)
        if defaulter:
            defaulter(obj, c)
        if external:
            self._validate(obj)
        if dry_run:
            meta.pop("uid")
            return obj
        stored = c.store.put(resource, obj, "ADDED")
        if kind == "CustomResourceDefinition":
            c.crd_changed(stored)
        return stored

    # ------------------------------------------------------------------------------------------ update
    def update(self, rt: ResourceType, namespace: str, name: str, body: Any, subresource: str | None = None,
               dry_run: bool = False) -> dict:
        if subresource == "scale":
            return self._update_scale(rt, namespace, name, body, dry_run)
        obj = self._check_body(rt, body, namespace)
        if obj["metadata"].get("name") != name:
            raise bad_request(f'the name of the object ({obj["metadata"].get("name")}) does not match the name '
                              f"on the URL ({name})")
        if rt.storage_of:
            obj = self.c.views.store_form(rt, obj)
        return self._update(rt, obj, subresource, dry_run)

    def _update(self, rt: ResourceType, obj: dict, subresource: str | None, dry_run: bool) -> dict:
        c = self.c
        meta = obj["metadata"]
        ns = meta.get("namespace", "") if rt.namespaced else ""
        old = c.store.get(rt.storage_key, ns, meta["name"])
        if old is None:
            raise not_found(rt.group, rt.plural, meta["name"])
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise conflict(rt.group, rt.plural, meta["name"])
        # The main resource cannot change status, and /status cannot change anything but status.
        if "status" in rt.subresources:
            if subresource == "status":
                new = clone(old)
                new["status"] = obj.get("status")
                obj = new
            elif "status" in old:
                obj["status"] = clone(old["status"])
            else:
                obj.pop("status", None)
        # System metadata is the server's, not the client's.
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if k in old["metadata"]:
                meta[k] = old["metadata"][k]
            else:
                meta.pop(k, None)
        kind = obj.get("kind", old.get("kind", ""))
        if kind == "Service":
            spec = obj.setdefault("spec", {})
            for f in ("clusterIP", "clusterIPs"):
                if not spec.get(f) and old.get("spec", {}).get(f):
                    spec[f] = old["spec"][f]
        defaulter = defaults.DEFAULTERS.get(kind)
        if defaulter and kind != "Job":
            defaulter(obj, c)
        elif kind == "Job":
            obj.setdefault("spec", {}).setdefault("selector", old.get("spec", {}).get("selector"))
        causes = validation.metadata(obj) + validation.VALIDATORS.get(kind, lambda o: [])(obj)
        causes += validation.immutable(kind, obj, old)
        if causes:
            raise invalid(kind, meta["name"], causes)
        if "generation" in meta and _spec_of(obj) != _spec_of(old):
            meta["generation"] += 1
        if _same(obj, old):
            return old
        if dry_run:
            return obj
        stored = c.store.put(rt.storage_key, obj, "MODIFIED")
        if kind == "CustomResourceDefinition":
            c.crd_changed(stored)
        self._finish_deletion_if_done(rt.storage_key, stored)
        return self.c.views.present(rt, stored)

    def system_update(self, resource: str, obj: dict) -> dict:
        """A controller's write: no admission, status included; skipped when nothing changed."""
        meta = obj["metadata"]
        old = self.c.store.get(resource, meta.get("namespace", ""), meta["name"])
        if old is None:
            raise not_found("", resource, meta["name"])
        if _same(obj, old):
            return old
        if "generation" in old["metadata"] and _spec_of(obj) != _spec_of(old):
            meta["generation"] = old["metadata"]["generation"] + 1
        stored = self.c.store.put(resource, obj, "MODIFIED")
        self._finish_deletion_if_done(resource, stored)
        return stored

    # ------------------------------------------------------------------------------------------- patch
    def patch(self, rt: ResourceType, namespace: str, name: str, content_type: str, body: Any,
              subresource: str | None = None, dry_run: bool = False) -> dict:
        ptype = PATCH_TYPES.get(content_type.split(";")[0].strip())
        if ptype is None or ptype == "apply":
            raise ApiError(415, f'the body of the request was in an unknown format - accepted media types '
                           f'include: {", ".join(k for k, v in PATCH_TYPES.items() if v != "apply")}')
        if subresource == "scale":
            current = self._scale_of(rt, namespace, name)
        else:
            current = self.get(rt, namespace, name)
        try:
            if ptype == "json":
                if not isinstance(body, list):
                    raise PatchError("a JSON patch must be a list of operations")
                new = json_patch(current, body)
            elif ptype == "merge":
                if not isinstance(body, dict):
                    raise PatchError("a merge patch must be a JSON object")
                new = json_merge_patch(current, body)
            else:
                kind = "Scale" if subresource == "scale" else current.get("kind", rt.kind)
                if not supports_strategic_merge(kind):
                    raise ApiError(415, "strategic merge patch format is not supported")
                if not isinstance(body, dict):
                    raise PatchError("a strategic merge patch must be a JSON object")
                new = strategic_merge_patch(current, body, kind)
        except PatchError as e:
            raise ApiError(422, str(e)) from e
        if not isinstance(new, dict):
            raise bad_request("the patch produced something that is not an object")
        # A patch conflicts only if it names a resourceVersion itself.
        patched_rv = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
        if not patched_rv:
            new.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
        if subresource == "scale":
            return self._update_scale(rt, namespace, name, new, dry_run)
        new.setdefault("metadata", {})
        if new["metadata"].get("name") != name:
            raise bad_request("the patch may not change the object's name")
        new["kind"], new["apiVersion"] = current["kind"], current["apiVersion"]
        if rt.storage_of:
            new = self.c.views.store_form(rt, new)
        return self._update(rt, new, subresource, dry_run)

    # ------------------------------------------------------------------------------------------- scale
    def _scale_of(self, rt: ResourceType, namespace: str, name: str) -> dict:
        if rt.key not in SCALABLE:
            raise not_found(rt.group, f"{rt.plural}/scale", name)
        obj = self.get(rt, namespace, name)
        meta = obj["metadata"]
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": name, "namespace": namespace, "uid": meta["uid"],
                         "resourceVersion": meta["resourceVersion"],
                         "creationTimestamp": meta["creationTimestamp"]},
            "spec": {"replicas": obj["spec"].get("replicas", 1)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": _selector_string(obj["spec"].get("selector"))},
        }

    def get_scale(self, rt: ResourceType, namespace: str, name: str) -> dict:
        return self._scale_of(rt, namespace, name)

    def _update_scale(self, rt: ResourceType, namespace: str, name: str, scale: Any, dry_run: bool) -> dict:
        if not isinstance(scale, dict):
            raise bad_request("a Scale object is required")
        current = self._scale_of(rt, namespace, name)
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise invalid("Scale", name, [("spec.replicas", f"Invalid value: {replicas!r}: must be greater than "
                                                            "or equal to 0")])
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != current["metadata"]["resourceVersion"]:
            raise conflict(rt.group, rt.plural, name)
        obj = clone(self.get(rt, namespace, name))
        obj["spec"]["replicas"] = replicas
        self._update(rt, obj, None, dry_run)
        out = self._scale_of(rt, namespace, name) if not dry_run else current
        out["spec"]["replicas"] = replicas
        return out

    # ------------------------------------------------------------------------------------------ delete
    def delete(self, rt: ResourceType, namespace: str, name: str, propagation: str | None = None,
               grace_seconds: int | None = None, dry_run: bool = False,
               preconditions: dict | None = None) -> dict:
        c = self.c
        ns = namespace if rt.namespaced else ""
        obj = c.store.get(rt.storage_key, ns, name)
        if obj is None:
            raise not_found(rt.group, rt.plural, name)
        pre = preconditions or {}
        if pre.get("uid") and pre["uid"] != obj["metadata"]["uid"]:
            raise conflict(rt.group, rt.plural, name)
        if pre.get("resourceVersion") and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]:
            raise conflict(rt.group, rt.plural, name)
        if dry_run:
            return self.c.views.present(rt, obj)
        if propagation is None:
            # Jobs keep the old default of orphaning their pods unless told otherwise; kubectl says background.
            propagation = "Orphan" if rt.kind == "Job" else "Background"
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise bad_request(f'unsupported propagationPolicy "{propagation}": Background, Foreground or Orphan')
        return self.c.views.present(rt, self._delete(rt.storage_key, obj, propagation, grace_seconds))

    def system_delete(self, resource: str, namespace: str, name: str, grace_seconds: int | None = None,
                      propagation: str = "Background") -> dict | None:
        obj = self.c.store.get(resource, namespace, name)
        if obj is None:
            return None
        return self._delete(resource, obj, propagation, grace_seconds)

    def _delete(self, resource: str, obj: dict, propagation: str, grace_seconds: int | None) -> dict:
        c = self.c
        meta = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        if propagation == "Orphan":
            self._orphan_dependents(meta["uid"])
        kind = obj.get("kind")
        graceful = kind == "Pod" and (obj.get("spec") or {}).get("nodeName") and grace_seconds != 0
        if kind == "Namespace" or meta.get("finalizers") or graceful:
            if meta.get("deletionTimestamp"):
                return obj
            new = clone(obj)
            if kind == "Pod":
                grace = grace_seconds if grace_seconds is not None else \
                    new["spec"].get("terminationGracePeriodSeconds", 30)
                new["metadata"]["deletionGracePeriodSeconds"] = grace
                new["metadata"]["deletionTimestamp"] = c.clock.rfc3339(c.clock.now + grace)
            else:
                new["metadata"]["deletionTimestamp"] = c.clock.rfc3339()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
            if kind == "Namespace":
                new.setdefault("status", {})["phase"] = "Terminating"
            return c.store.put(resource, new, "MODIFIED")
        return self._remove(resource, ns, name)

    def _remove(self, resource: str, namespace: str, name: str) -> dict:
        final = self.c.store.remove(resource, namespace, name)
        self._collect_dependents(final["metadata"]["uid"])
        if final.get("kind") == "CustomResourceDefinition":
            self.c.crd_removed(final)
        return final

    def finalize(self, resource: str, namespace: str, name: str) -> None:
        """Remove an object whose graceful deletion has completed (the kubelet's and finalizers' last step)."""
        if self.c.store.get(resource, namespace, name) is not None:
            self._remove(resource, namespace, name)

    def _finish_deletion_if_done(self, resource: str, obj: dict) -> None:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and obj.get("kind") not in ("Pod",
                                                                                                   "Namespace"):
            self._remove(resource, meta.get("namespace", ""), meta["name"])

    def _collect_dependents(self, owner_uid: str) -> None:
        """The garbage collector: dependents whose every owner is gone are deleted in the background."""
        c = self.c
        for resource, (ns, name) in c.store.dependents(owner_uid):
            dep = c.store.get(resource, ns, name)
            if dep is None:
                continue
            refs = [r for r in dep["metadata"].get("ownerReferences", []) if r.get("uid") != owner_uid]
            if any(self._owner_exists(r, ns) for r in refs):
                new = clone(dep)
                new["metadata"]["ownerReferences"] = refs
                c.store.put(resource, new, "MODIFIED")
                continue
            self._delete(resource, dep, "Background", None)

    def _owner_exists(self, ref: dict, namespace: str) -> bool:
        rt = self.c.registry.by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if rt is None:
            return False
        owner = self.c.store.get(rt.storage_key, namespace if rt.namespaced else "", ref.get("name", ""))
        return owner is not None and owner["metadata"]["uid"] == ref.get("uid")

    def _orphan_dependents(self, owner_uid: str) -> None:
        c = self.c
        for resource, (ns, name) in c.store.dependents(owner_uid):
            dep = clone(c.store.get(resource, ns, name))
            dep["metadata"]["ownerReferences"] = [r for r in dep["metadata"].get("ownerReferences", [])
                                                  if r.get("uid") != owner_uid]
            if not dep["metadata"]["ownerReferences"]:
                del dep["metadata"]["ownerReferences"]
            c.store.put(resource, dep, "MODIFIED")

    # --------------------------------------------------------------------------------------- admission
    def _check_body(self, rt: ResourceType, body: Any, namespace: str) -> dict:
        if not isinstance(body, dict):
            raise bad_request(f"the request body must be a {rt.kind} object")
        obj = clone(body)
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind and kind != rt.kind:
            raise bad_request(f"the kind of the object ({kind}) does not match the URL ({rt.kind})")
        if api_version and api_version != rt.api_version:
            raise bad_request(f"the API version in the data ({api_version}) does not match the expected API "
                              f"version ({rt.api_version})")
        obj["kind"], obj["apiVersion"] = rt.kind, rt.api_version
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and namespace and body_ns != namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on "
                                  "the request")
            meta["namespace"] = body_ns or namespace or "default"
        else:
            meta.pop("namespace", None)
        return obj

    def _validate(self, obj: dict) -> None:
        if obj["metadata"].get("name") is None and obj["metadata"].get("generateName"):
            return
        causes = validation.metadata(obj)
        causes += validation.VALIDATORS.get(obj.get("kind", ""), lambda o: [])(obj)
        if causes:
            raise invalid(obj.get("kind", ""), obj["metadata"].get("name", ""), causes)

    def _admit_namespace(self, namespace: str) -> None:
        ns = self.c.store.get("namespaces", "", namespace)
        if ns is None:
            raise ApiError(404, f'namespaces "{namespace}" not found',
                           details={"name": namespace, "kind": "namespaces"})
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(403, f"unable to create new content in namespace {namespace} because it is being "
                           "terminated", reason="Forbidden")


def _spec_of(obj: dict) -> Any:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}


def _same(a: dict, b: dict) -> bool:
    """Equal but for resourceVersion: such writes are no-ops, as on a real server."""
    if a.keys() != b.keys():
        return False
    for k in a:
        if k == "metadata":
            ma = {kk: vv for kk, vv in a[k].items() if kk != "resourceVersion"}
            mb = {kk: vv for kk, vv in b[k].items() if kk != "resourceVersion"}
            if ma != mb:
                return False
        elif a[k] != b[k]:
            return False
    return True
