"""The plan: what an operator (or the agent, for a human to approve) wants changed in a cluster, as data.

A plan is an ordered list of typed actions from a closed set. Its canonical JSON (``canonical_json``: sorted keys,
no whitespace, UTF-8) is exactly what is hashed (``plan_hash``) and bound into a signed plan token, so any changed
argument changes the hash and the executor refuses the token.

This module depends on pydantic only: the probe and the observer import it to compose plans, and it must never
pull in a Kubernetes client or key material.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# Names end up in URL paths: restricting them to Kubernetes' own name syntax also rules out path tricks ("../").
DNSLabel = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
DNSName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)]
# "" means cluster-scoped; only the escape hatch may target cluster-scoped kinds (see KINDS).
Namespace = Annotated[str, StringConstraints(pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$", max_length=63)]
PlanId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
ResourceVersion = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z._-]{1,64}$")]
Text = Annotated[str, StringConstraints(max_length=4000)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class KindInfo(BaseModel):
    """Where a kind lives in the REST API."""

    model_config = ConfigDict(frozen=True)

    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str, name: str | None = None, sub: str | None = None) -> str:
        base = "/api/v1" if not self.group else f"/apis/{self.group}/{self.version}"
        ns = f"/namespaces/{namespace}" if self.namespaced else ""
        tail = f"/{name}" if name else ""
        return f"{base}{ns}/{self.plural}{tail}" + (f"/{sub}" if sub else "")


def _k(group: str, version: str, plural: str, namespaced: bool = True) -> KindInfo:
    return KindInfo(group=group, version=version, plural=plural, namespaced=namespaced)


# Every kind a plan may name. Policy narrows this further (protected kinds, merge_patch's allowed kinds).
KINDS: dict[str, KindInfo] = {
    "Pod": _k("", "v1", "pods"),
    "Service": _k("", "v1", "services"),
    "ConfigMap": _k("", "v1", "configmaps"),
    "Secret": _k("", "v1", "secrets"),
    "ServiceAccount": _k("", "v1", "serviceaccounts"),
    "PersistentVolumeClaim": _k("", "v1", "persistentvolumeclaims"),
    "PersistentVolume": _k("", "v1", "persistentvolumes", namespaced=False),
    "Namespace": _k("", "v1", "namespaces", namespaced=False),
    "Node": _k("", "v1", "nodes", namespaced=False),
    "Deployment": _k("apps", "v1", "deployments"),
    "StatefulSet": _k("apps", "v1", "statefulsets"),
    "DaemonSet": _k("apps", "v1", "daemonsets"),
    "ReplicaSet": _k("apps", "v1", "replicasets"),
    "HorizontalPodAutoscaler": _k("autoscaling", "v2", "horizontalpodautoscalers"),
    "PodDisruptionBudget": _k("policy", "v1", "poddisruptionbudgets"),
    "Ingress": _k("networking.k8s.io", "v1", "ingresses"),
    "NetworkPolicy": _k("networking.k8s.io", "v1", "networkpolicies"),
    "Role": _k("rbac.authorization.k8s.io", "v1", "roles"),
    "RoleBinding": _k("rbac.authorization.k8s.io", "v1", "rolebindings"),
    "ClusterRole": _k("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False),
    "ClusterRoleBinding": _k("rbac.authorization.k8s.io", "v1", "clusterrolebindings", namespaced=False),
    "PodChaos": _k("chaos-mesh.org", "v1alpha1", "podchaos"),
    "NetworkChaos": _k("chaos-mesh.org", "v1alpha1", "networkchaos"),
    "StressChaos": _k("chaos-mesh.org", "v1alpha1", "stresschaos"),
    "IOChaos": _k("chaos-mesh.org", "v1alpha1", "iochaos"),
    "TimeChaos": _k("chaos-mesh.org", "v1alpha1", "timechaos"),
    "HTTPChaos": _k("chaos-mesh.org", "v1alpha1", "httpchaos"),
    "DNSChaos": _k("chaos-mesh.org", "v1alpha1", "dnschaos"),
}

WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet"]
ScalableKind = Literal["Deployment", "StatefulSet", "ReplicaSet"]
ChaosKind = Literal["PodChaos", "NetworkChaos", "StressChaos", "IOChaos", "TimeChaos", "HTTPChaos", "DNSChaos"]
VerbClass = Literal["restart", "scale", "rollback", "patch", "delete", "exec"]


class _Action(BaseModel):
    # extra="forbid": an unknown field would otherwise be dropped before hashing, so two different documents could
    # share one hash. frozen: an approved plan cannot be changed in place.
    model_config = ConfigDict(extra="forbid", frozen=True)

    namespace: Namespace = Field(description="Namespace of the target object.")
    name: DNSName = Field(description="Name of the target object.")
    resource_version: ResourceVersion | None = Field(
        default=None,
        description="metadata.resourceVersion of the target when the plan was made; if set, the executor refuses to "
        "act when the object has changed since.",
    )

    @property
    def verb_class(self) -> VerbClass:
        return _VERB_CLASS[self.type]  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _scope(self) -> _Action:
        info = KINDS.get(self.kind)  # type: ignore[attr-defined]
        if info is None:
            raise ValueError(f"unknown kind {self.kind!r}; known: {', '.join(sorted(KINDS))}")  # type: ignore[attr-defined]
        if info.namespaced and not self.namespace:
            raise ValueError(f"{self.kind} is namespaced: namespace is required")  # type: ignore[attr-defined]
        if not info.namespaced and self.namespace:
            raise ValueError(f"{self.kind} is cluster-scoped: namespace must be empty")  # type: ignore[attr-defined]
        return self

    def target(self) -> str:
        """``Kind/namespace/name`` (``Kind//name`` for a cluster-scoped object)."""
        return f"{self.kind}/{self.namespace}/{self.name}"  # type: ignore[attr-defined]


class RolloutRestart(_Action):
    """Restart every pod of a workload with a rolling update (``kubectl rollout restart``): use for pods stuck on
    stale state (a lost connection, a cached credential, a config read at start)."""

    type: Literal["rollout_restart"] = "rollout_restart"
    kind: WorkloadKind = "Deployment"


class Scale(_Action):
    """Set a workload's replica count (``kubectl scale --replicas=N``): use when a Deployment was scaled to zero or
    has too few replicas."""

    type: Literal["scale"] = "scale"
    kind: ScalableKind = "Deployment"
    replicas: int = Field(ge=0, le=10000, description="The desired replica count.")


class RolloutUndo(_Action):
    """Roll a Deployment back to an earlier revision (``kubectl rollout undo``): use when a recent rollout (image,
    command, env) broke it. Without ``to_revision`` it goes back to the previous revision."""

    type: Literal["rollout_undo"] = "rollout_undo"
    kind: Literal["Deployment"] = "Deployment"
    to_revision: int | None = Field(default=None, ge=1, description="The revision to return to; default: previous.")


class SetImage(_Action):
    """Set one container's image in a workload's pod template (``kubectl set image``): use for a bad or buggy
    image tag."""

    type: Literal["set_image"] = "set_image"
    kind: WorkloadKind = "Deployment"
    container: DNSLabel = Field(description="The container's name in the pod template.")
    image: ShortText = Field(description="The full image reference, e.g. 'nginx:1.27'.")


class EnvVar(BaseModel):
    """One environment variable; ``value: null`` removes the variable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$", max_length=253)]
    value: Annotated[str, StringConstraints(max_length=4096)] | None = None


class Resources(BaseModel):
    """Requests and limits as Kubernetes quantities, e.g. ``{"cpu": "500m", "memory": "256Mi"}``. The maps given
    replace the container's maps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: dict[Annotated[str, StringConstraints(max_length=253)], ShortText] | None = None
    limits: dict[Annotated[str, StringConstraints(max_length=253)], ShortText] | None = None


class PatchContainer(_Action):
    """Change one container of a workload's pod template: ``command`` and ``args`` replace the lists (an empty list
    clears them), ``env`` sets or (value null) removes variables by name, ``resources`` replaces requests/limits.
    Give at least one. Use for a wrong binary, bad flags (e.g. a TLS mode), a wrong variable or too small limits."""

    type: Literal["patch_container"] = "patch_container"
    kind: WorkloadKind = "Deployment"
    container: DNSLabel = Field(description="The container's name in the pod template.")
    command: list[Annotated[str, StringConstraints(max_length=4096)]] | None = None
    args: list[Annotated[str, StringConstraints(max_length=4096)]] | None = None
    env: list[EnvVar] | None = None
    resources: Resources | None = None

    @model_validator(mode="after")
    def _something(self) -> PatchContainer:
        if self.command is None and self.args is None and self.env is None and self.resources is None:
            raise ValueError("patch_container needs at least one of command, args, env, resources")
        return self


class PatchScheduling(_Action):
    """Replace where a workload's pods may run: ``node_selector`` replaces the whole nodeSelector (``{}`` removes
    it), ``affinity`` replaces the whole affinity (``{}`` removes it). Use for pods Pending on a node selector or
    affinity that no node satisfies."""

    type: Literal["patch_scheduling"] = "patch_scheduling"
    kind: Literal["Deployment", "StatefulSet"] = "Deployment"
    node_selector: dict[Annotated[str, StringConstraints(max_length=317)], ShortText] | None = None
    affinity: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _something(self) -> PatchScheduling:
        if self.node_selector is None and self.affinity is None:
            raise ValueError("patch_scheduling needs node_selector or affinity")
        return self


class ServicePort(BaseModel):
    """One Service port; ``target_port`` is the container port number or its name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int = Field(ge=1, le=65535)
    target_port: int | DNSLabel | None = None
    name: DNSLabel | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] | None = None
    node_port: int | None = Field(default=None, ge=1, le=65535)


class PatchService(_Action):
    """Replace a Service's ``ports`` list and/or its ``selector``: use when the targetPort does not match the port
    the pods listen on, or the selector matches no (or the wrong) pods."""

    type: Literal["patch_service"] = "patch_service"
    kind: Literal["Service"] = "Service"
    ports: list[ServicePort] | None = None
    selector: dict[Annotated[str, StringConstraints(max_length=317)], ShortText] | None = None

    @model_validator(mode="after")
    def _something(self) -> PatchService:
        if self.ports is None and self.selector is None:
            raise ValueError("patch_service needs ports or selector")
        if self.ports is not None and not self.ports:
            raise ValueError("patch_service: ports must not be empty")
        return self


class DeletePod(_Action):
    """Delete one pod so that its controller replaces it (a fresh start): use for a pod holding stale state."""

    type: Literal["delete_pod"] = "delete_pod"
    kind: Literal["Pod"] = "Pod"
    grace_period_seconds: int | None = Field(default=None, ge=0, le=3600)


class DeleteChaos(_Action):
    """Delete a Chaos Mesh experiment (chaos-mesh.org), which ends the fault it injects (pod failure, container
    kill, network loss or delay, ...)."""

    type: Literal["delete_chaos"] = "delete_chaos"
    kind: ChaosKind


class PatchChaos(_Action):
    """Merge-patch a Chaos Mesh experiment, e.g. ``{"metadata": {"annotations":
    {"experiment.chaos-mesh.org/pause": "true"}}}`` to pause it."""

    type: Literal["patch_chaos"] = "patch_chaos"
    kind: ChaosKind
    patch: dict[str, Any]


class Exec(_Action):
    """Run one command in a pod's container (``kubectl exec``). Only commands in the executor policy's allowlist
    run, e.g. the MongoDB user repairs: ``["mongo", "admin", "-u", "root", "-p", "root", "--authenticationDatabase",
    "admin", "--eval", "db.grantRolesToUser('admin', [{role: 'readWrite', db: 'geo-db'}])"]``. ``kind: Deployment``
    runs it in the first running pod of that Deployment (as ``kubectl exec deploy/NAME`` does)."""

    type: Literal["exec"] = "exec"
    kind: Literal["Pod", "Deployment", "StatefulSet"] = "Pod"
    container: DNSLabel | None = Field(default=None, description="Container name; default: the first container.")
    command: list[Annotated[str, StringConstraints(max_length=4096)]] = Field(min_length=1, max_length=64)


class MergePatch(_Action):
    """The escape hatch: a JSON merge patch (RFC 7386) on one object of an allowed kind, e.g. a ConfigMap's data or
    a PersistentVolume's ``{"spec": {"claimRef": null}}`` (cluster-scoped: namespace ""). Prefer a typed action
    when one fits; policy decides which kinds are allowed."""

    type: Literal["merge_patch"] = "merge_patch"
    kind: str = Field(description="A kind, e.g. ConfigMap, Deployment, PersistentVolume.")
    patch: dict[str, Any]

    @model_validator(mode="after")
    def _non_empty(self) -> MergePatch:
        if not self.patch:
            raise ValueError("merge_patch: patch must not be empty")
        return self


Action = Annotated[
    RolloutRestart
    | Scale
    | RolloutUndo
    | SetImage
    | PatchContainer
    | PatchScheduling
    | PatchService
    | DeletePod
    | DeleteChaos
    | PatchChaos
    | Exec
    | MergePatch,
    Field(discriminator="type"),
]

ACTION_TYPES: dict[str, type[_Action]] = {
    c.model_fields["type"].default: c
    for c in (RolloutRestart, Scale, RolloutUndo, SetImage, PatchContainer, PatchScheduling, PatchService,
              DeletePod, DeleteChaos, PatchChaos, Exec, MergePatch)
}

# The class a key role is granted: e.g. the observer's key may sign restart and scale, only an operator's key the rest.
_VERB_CLASS: dict[str, VerbClass] = {
    "rollout_restart": "restart",
    "scale": "scale",
    "rollout_undo": "rollback",
    "set_image": "patch",
    "patch_container": "patch",
    "patch_scheduling": "patch",
    "patch_service": "patch",
    "patch_chaos": "patch",
    "merge_patch": "patch",
    "delete_pod": "delete",
    "delete_chaos": "delete",
    "exec": "exec",
}
VERB_CLASS = _VERB_CLASS
MAX_PLAN_BYTES = 256 * 1024
VERB_CLASSES: tuple[VerbClass, ...] = ("restart", "scale", "rollback", "patch", "delete", "exec")


class Plan(BaseModel):
    """A change to a cluster for a human (or a trusted key) to approve: what and why, where, and the ordered
    actions. The executor runs the actions in order and stops at the first failure."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: PlanId = Field(description="A unique id for this plan, e.g. 'fix-geo-2024-06-01T10:00'.")
    goal: ShortText = Field(description="What the plan achieves, in one sentence.")
    rationale: Text = Field(default="", description="The evidence and reasoning behind it.")
    cluster: ShortText = Field(description="The target cluster's identity (its API server URL or name).")
    actions: list[Action] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _encodable(self) -> Plan:
        # A plan whose canonical form would not round-trip (NaN, infinity: pydantic writes them as null) or is huge
        # is refused up front, so what is hashed is always what is sent.
        for a in self.actions:
            for value in (getattr(a, "patch", None), getattr(a, "affinity", None)):
                _finite(value)
        size = len(canonical_json(self))
        if size > MAX_PLAN_BYTES:
            raise ValueError(f"plan is {size} bytes in canonical form; the limit is {MAX_PLAN_BYTES}")
        return self

    def namespaces(self) -> list[str]:
        """The sorted namespaces the actions touch ("" for cluster-scoped objects)."""
        return sorted({a.namespace for a in self.actions})

    def verb_classes(self) -> list[str]:
        return sorted({a.verb_class for a in self.actions})

    def targets(self) -> Iterator[tuple[str, str, str]]:
        for a in self.actions:
            yield a.kind, a.namespace, a.name


def _finite(value: Any, depth: int = 0) -> None:
    if depth > 32:
        raise ValueError("patch nests deeper than 32 levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and infinity are not JSON")
    if isinstance(value, dict):
        for v in value.values():
            _finite(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _finite(v, depth + 1)


def canonical_json(plan: Plan) -> bytes:
    """The exact bytes that are hashed and signed: every field (defaults included), sorted keys, no whitespace,
    UTF-8. Always computed from the validated model, never from the caller's text."""
    return json.dumps(plan.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def plan_hash(plan: Plan) -> str:
    """SHA-256 (hex) of ``canonical_json(plan)``."""
    return hashlib.sha256(canonical_json(plan)).hexdigest()


def parse_plan(data: Plan | dict[str, Any] | str | bytes) -> Plan:
    """A Plan from a model, a dict or JSON text; raises pydantic.ValidationError on anything else."""
    if isinstance(data, Plan):
        return data
    if isinstance(data, str | bytes):
        return Plan.model_validate_json(data)
    return Plan.model_validate(data)
