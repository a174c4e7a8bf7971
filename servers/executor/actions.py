"""What each plan action sends to the API server, how it is dry-run, and what changed.

An action is *prepared* from the target's current state (a GET, plus ReplicaSets for an undo or pods for an exec)
into exactly one write: a PATCH (JSON patch when lists are involved, JSON merge patch otherwise), a DELETE, or an
exec. The same write is first sent with ``dryRun=All`` (the API server validates and admits it but stores nothing),
then for real. Actions are re-prepared from fresh state right before they run, so two actions on one object compose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from servers.executor.kube import JSONPATCH, MERGE, ExecOutput, Kube
from servers.executor.plan import (
    Action,
    DeleteChaos,
    DeletePod,
    Exec,
    MergePatch,
    PatchChaos,
    PatchContainer,
    PatchScheduling,
    PatchService,
    RolloutRestart,
    RolloutUndo,
    Scale,
    SetImage,
)

MAX_CHANGES = 40
MAX_VALUE = 300
MAX_OUTPUT = 4000
REVISION = "deployment.kubernetes.io/revision"


class ActionFailed(Exception):
    """The action cannot be carried out against the cluster's current state (nothing was sent for it)."""

    def __init__(self, message: str, missing: bool = False):
        super().__init__(message)
        self.missing = missing


class Change(BaseModel):
    """One field that changed (or would change): a dotted path with its value before and after (JSON text)."""

    path: str
    before: str | None
    after: str | None


@dataclass
class Prepared:
    action: Action
    before: dict[str, Any] | None
    method: str  # PATCH, DELETE, EXEC
    body: Any = None
    content_type: str | None = None
    sub: str | None = None
    pod: str | None = None
    container: str | None = None
    note: str = ""
    changes: list[Change] = field(default_factory=list)


def _with_rv(body: dict[str, Any], rv: str | None) -> dict[str, Any]:
    """A merge patch that fails with 409 Conflict unless the object is still at ``rv``."""
    if not rv:
        return body
    meta = dict(body.get("metadata") or {})
    meta.setdefault("resourceVersion", rv)
    return {**body, "metadata": meta}


def _ops_with_rv(ops: list[dict[str, Any]], rv: str | None) -> list[dict[str, Any]]:
    return ([{"op": "test", "path": "/metadata/resourceVersion", "value": rv}] if rv else []) + ops


def _require(kube: Kube, kind: str, namespace: str, name: str, current: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    obj = current if current is not None else kube.get(kind, namespace, name)
    if obj is None:
        where = f" in namespace {namespace}" if namespace else ""
        raise ActionFailed(f"{kind} {name} not found{where}", missing=True)
    return obj


def _container_path(obj: dict[str, Any], container: str) -> str:
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    for field_name in ("containers", "initContainers"):
        for i, c in enumerate(spec.get(field_name) or []):
            if c.get("name") == container:
                return f"/spec/template/spec/{field_name}/{i}"
    names = [c.get("name") for c in spec.get("containers") or []]
    raise ActionFailed(f"{obj.get('kind')} {obj['metadata']['name']} has no container {container!r}; it has {names}")


def _container(obj: dict[str, Any], path: str) -> dict[str, Any]:
    node: Any = obj
    for part in path.strip("/").split("/"):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _set(ops: list[dict[str, Any]], path: str, current: Any, value: Any) -> None:
    """Set (``add`` replaces an existing member) or, for an empty value, remove a field."""
    if value in ({}, []) or value is None:
        if current is not None:
            ops.append({"op": "remove", "path": path})
    else:
        ops.append({"op": "add", "path": path, "value": value})


def _selector(obj: dict[str, Any]) -> str:
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not labels:
        raise ActionFailed(f"{obj.get('kind')} {obj['metadata']['name']} has no matchLabels selector")
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def prepare(action: Action, kube: Kube, *, rv: str | None, now_iso: str, current: dict[str, Any] | None = None
            ) -> Prepared:
    """Build the one write for ``action`` from the current state (``current``: the target, already read).
    ``rv`` (if given) becomes a precondition."""
    a = action
    if isinstance(a, RolloutRestart):
        obj = _require(kube, a.kind, a.namespace, a.name, current)
        body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now_iso}}}}}
        return Prepared(a, obj, "PATCH", _with_rv(body, rv), MERGE)
    if isinstance(a, Scale):
        obj = _require(kube, a.kind, a.namespace, a.name, current)
        return Prepared(a, obj, "PATCH", _with_rv({"spec": {"replicas": a.replicas}}, rv), MERGE, sub="scale",
                        note=f"replicas {obj.get('spec', {}).get('replicas')} -> {a.replicas}")
    if isinstance(a, RolloutUndo):
        obj = _require(kube, a.kind, a.namespace, a.name, current)
        uid = obj["metadata"]["uid"]
        revisions: dict[int, dict[str, Any]] = {}
        for rs in kube.list("ReplicaSet", a.namespace, _selector(obj)):
            if any(o.get("uid") == uid for o in rs["metadata"].get("ownerReferences") or []):
                rev = (rs["metadata"].get("annotations") or {}).get(REVISION)
                if rev and rev.isdigit():
                    revisions[int(rev)] = rs
        # As kubectl: the current revision is the highest one among the Deployment's ReplicaSets.
        current = max(revisions, default=0)
        if a.to_revision is not None:
            target = a.to_revision
            if target not in revisions:
                raise ActionFailed(f"Deployment {a.name} has no revision {target}; it has {sorted(revisions)}")
        else:
            older = [r for r in revisions if r < current]
            if not older:
                raise ActionFailed(f"Deployment {a.name} has no revision before {current} to roll back to")
            target = max(older)
        template = json.loads(json.dumps(revisions[target]["spec"]["template"]))
        template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
        ops = [{"op": "replace", "path": "/spec/template", "value": template}]
        return Prepared(a, obj, "PATCH", _ops_with_rv(ops, rv), JSONPATCH,
                        note=f"roll back from revision {current} to revision {target}")
    if isinstance(a, SetImage):
        obj = _require(kube, a.kind, a.namespace, a.name, current)
        path = _container_path(obj, a.container)
        ops = [{"op": "test", "path": f"{path}/name", "value": a.container},
               {"op": "add", "path": f"{path}/image", "value": a.image}]
        return Prepared(a, obj, "PATCH", _ops_with_rv(ops, rv), JSONPATCH)
    if isinstance(a, PatchContainer):
        obj = _require(kube, a.kind, a.namespace, a.name, current)
        path = _container_path(obj, a.container)
        cur = _container(obj, path)
        ops = [{"op": "test", "path": f"{path}/name", "value": a.container}]
        if a.command is not None:
            _set(ops, f"{path}/command", cur.get("command"), list(a.command))
        if a.args is not None:
            _set(ops, f"{path}/args", cur.get("args"), list(a.args))
        if a.env is not None:
            env = [dict(e) for e in cur.get("env") or []]
            for var in a.env:
                env = [e for e in env if e.get("name") != var.name]
                if var.value is not None:
                    env.append({"name": var.name, "value": var.value})
            _set(ops, f"{path}/env", cur.get("env"), env)
        if a.resources is not None:
            res = dict(cur.get("resources") or {})
            for part in ("requests", "limits"):
                value = getattr(a.resources, part)
                if value is not None:
                    res[part] = dict(value)
                    if not value:
                        res.pop(part)
            _set(ops, f"{path}/resources", cur.get("resources"), res)
        return Prepared(a, obj, "PATCH", _ops_with_rv(ops, rv), JSONPATCH)
    if isinstance(a, PatchScheduling):
        obj = _require(kube, a.kind, a.namespace, a.name, current)
        pod_spec = obj["spec"]["template"].get("spec") or {}
        ops = []
        if a.node_selector is not None:
            _set(ops, "/spec/template/spec/nodeSelector", pod_spec.get("nodeSelector"), dict(a.node_selector))
        if a.affinity is not None:
            _set(ops, "/spec/template/spec/affinity", pod_spec.get("affinity"), dict(a.affinity))
        return Prepared(a, obj, "PATCH", _ops_with_rv(ops, rv), JSONPATCH)
    if isinstance(a, PatchService):
        obj = _require(kube, a.kind, a.namespace, a.name, current)
        ops = []
        if a.ports is not None:
            ports = []
            for p in a.ports:
                port: dict[str, Any] = {"port": p.port, "protocol": p.protocol or "TCP"}
                if p.name is not None:
                    port["name"] = p.name
                port["targetPort"] = p.target_port if p.target_port is not None else p.port
                if p.node_port is not None:
                    port["nodePort"] = p.node_port
                ports.append(port)
            ops.append({"op": "add", "path": "/spec/ports", "value": ports})
        if a.selector is not None:
            _set(ops, "/spec/selector", (obj.get("spec") or {}).get("selector"), dict(a.selector))
        return Prepared(a, obj, "PATCH", _ops_with_rv(ops, rv), JSONPATCH)
    if isinstance(a, DeletePod | DeleteChaos):
        obj = _require(kube, a.kind, a.namespace, a.name, current)
        grace = a.grace_period_seconds if isinstance(a, DeletePod) else None
        return Prepared(a, obj, "DELETE", {"grace": grace, "rv": rv})
    if isinstance(a, PatchChaos | MergePatch):
        obj = _require(kube, a.kind, a.namespace, a.name, current)
        return Prepared(a, obj, "PATCH", _with_rv(json.loads(json.dumps(a.patch)), rv), MERGE)
    if isinstance(a, Exec):
        obj = _require(kube, a.kind, a.namespace, a.name, current)
        pod = obj if a.kind == "Pod" else _pick_pod(kube, obj)
        containers = [c["name"] for c in pod["spec"].get("containers") or []]
        container = a.container or (containers[0] if containers else None)
        if container not in containers:
            raise ActionFailed(f"pod {pod['metadata']['name']} has no container {container!r}; it has {containers}")
        if (pod.get("status") or {}).get("phase") != "Running" or pod["metadata"].get("deletionTimestamp"):
            raise ActionFailed(f"pod {pod['metadata']['name']} is not running")
        return Prepared(a, obj, "EXEC", pod=pod["metadata"]["name"], container=container,
                        note=f"in pod {pod['metadata']['name']} container {container}")
    raise ActionFailed(f"unsupported action {type(a).__name__}")  # pragma: no cover - the union is closed


def _pick_pod(kube: Kube, workload: dict[str, Any]) -> dict[str, Any]:
    """The pod ``kubectl exec deploy/NAME`` would pick: a running, non-terminating pod of the workload."""
    ns = workload["metadata"]["namespace"]
    pods = [p for p in kube.list("Pod", ns, _selector(workload))
            if (p.get("status") or {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
    if not pods:
        raise ActionFailed(f"{workload['kind']} {workload['metadata']['name']} has no running pod to exec in")
    return sorted(pods, key=lambda p: p["metadata"]["name"])[0]


def send(p: Prepared, kube: Kube, *, dry_run: bool, exec_timeout: float = 60.0) -> tuple[Any, ExecOutput | None]:
    """Send the prepared write (``dry_run``: validated by the server, nothing stored; an exec is not sent)."""
    a = p.action
    if p.method == "PATCH":
        return kube.patch(a.kind, a.namespace, a.name, p.body, p.content_type or MERGE, dry_run, p.sub), None
    if p.method == "DELETE":
        return kube.delete(a.kind, a.namespace, a.name, dry_run, p.body["grace"], p.body["rv"]), None
    if dry_run:  # an exec cannot be dry-run: preparing it checked the pod and the container
        return None, None
    assert isinstance(a, Exec) and p.pod
    out = kube.exec(a.namespace, p.pod, p.container, list(a.command), timeout=exec_timeout)
    out = ExecOutput(out.stdout[-MAX_OUTPUT:], out.stderr[-MAX_OUTPUT:], out.exit_code)
    return None, out


def predicted(p: Prepared, response: Any) -> list[Change]:
    """What a dry-run says would change."""
    a = p.action
    if p.method == "DELETE":
        terminating = isinstance(response, dict) and (response.get("metadata") or {}).get("deletionTimestamp")
        return [Change(path="(object)", before="exists", after="terminating" if terminating else "deleted")]
    if p.method == "EXEC":
        return [Change(path="(exec)", before=None, after=_short(list(a.command)))]
    if p.sub == "scale":
        before = (p.before or {}).get("spec", {}).get("replicas")
        after = (response or {}).get("spec", {}).get("replicas")
        return [] if before == after else [Change(path="spec.replicas", before=_short(before), after=_short(after))]
    return diff(p.before, response if isinstance(response, dict) else None)


def _short(v: Any) -> str | None:
    if v is None:
        return None
    text = json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "..."


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Change]:
    """Changes in spec, data, labels and annotations (status and bookkeeping fields are left out)."""
    if before is None or after is None:
        if before is after:
            return []
        return [Change(path="(object)", before="exists" if before else None, after="exists" if after else "deleted")]
    out: list[Change] = []

    def pick(o: dict[str, Any]) -> dict[str, Any]:
        meta = o.get("metadata") or {}
        return {"metadata": {"labels": meta.get("labels"), "annotations": meta.get("annotations"),
                             "deletionTimestamp": meta.get("deletionTimestamp")},
                "spec": o.get("spec"), "data": o.get("data"), "binaryData": o.get("binaryData")}

    def walk(x: Any, y: Any, path: str) -> None:
        if len(out) >= MAX_CHANGES or x == y:
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                walk(x.get(k), y.get(k), f"{path}.{k}" if path else k)
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (xi, yi) in enumerate(zip(x, y, strict=True)):
                walk(xi, yi, f"{path}[{i}]")
        else:
            out.append(Change(path=path, before=_short(x), after=_short(y)))

    walk(pick(before), pick(after), "")
    return out
