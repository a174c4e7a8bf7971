"""The resource types the simulated API server serves, declared as a table.

Each row says where a type lives on the REST API (group, version, plural), whether it is namespaced, what
kubectl may call it (short names, categories) and which subresources it has. Discovery, routing and
storage all read this table; adding a built-in type is adding a row. Custom resources join at run time
from CustomResourceDefinition objects (``ResourceRegistry.add_crd``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    singular: str = ""
    # Kinds whose objects the server stores under another type (events.k8s.io Event is a view of core Event).
    storage_of: str | None = None
    custom: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """``pods`` for the core group, ``deployments.apps`` otherwise (the same key the printers use)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def storage_key(self) -> str:
        return self.storage_of or self.key

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()


def _r(group: str, version: str, kind: str, plural: str, namespaced: bool = True, **kw: object) -> ResourceType:
    return ResourceType(group, version, kind, plural, namespaced, **kw)  # type: ignore[arg-type]


ALL = ("all",)

BUILTIN_RESOURCES: tuple[ResourceType, ...] = (
    # core/v1
    _r("", "v1", "Namespace", "namespaces", False, short_names=("ns",), subresources=("status", "finalize")),
    _r("", "v1", "Node", "nodes", False, short_names=("no",), subresources=("status", "proxy")),
    _r("", "v1", "Pod", "pods", short_names=("po",), categories=ALL,
       subresources=("log", "status", "exec", "binding", "eviction", "ephemeralcontainers", "portforward")),
    _r("", "v1", "Service", "services", short_names=("svc",), categories=ALL, subresources=("status", "proxy")),
    _r("", "v1", "Endpoints", "endpoints", short_names=("ep",), singular="endpoints"),
    _r("", "v1", "Event", "events", short_names=("ev",)),
    _r("", "v1", "ConfigMap", "configmaps", short_names=("cm",)),
    _r("", "v1", "Secret", "secrets"),
    _r("", "v1", "ServiceAccount", "serviceaccounts", short_names=("sa",), subresources=("token",)),
    _r("", "v1", "PersistentVolume", "persistentvolumes", False, short_names=("pv",), subresources=("status",)),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short_names=("pvc",), subresources=("status",)),
    _r("", "v1", "ResourceQuota", "resourcequotas", short_names=("quota",), subresources=("status",)),
    _r("", "v1", "LimitRange", "limitranges", short_names=("limits",)),
    _r("", "v1", "ReplicationController", "replicationcontrollers", short_names=("rc",), categories=ALL,
       subresources=("status", "scale")),
    # apps/v1
    _r("apps", "v1", "Deployment", "deployments", short_names=("deploy",), categories=ALL,
       subresources=("status", "scale")),
    _r("apps", "v1", "ReplicaSet", "replicasets", short_names=("rs",), categories=ALL,
       subresources=("status", "scale")),
    _r("apps", "v1", "StatefulSet", "statefulsets", short_names=("sts",), categories=ALL,
       subresources=("status", "scale")),
    _r("apps", "v1", "DaemonSet", "daemonsets", short_names=("ds",), categories=ALL, subresources=("status",)),
    _r("apps", "v1", "ControllerRevision", "controllerrevisions"),
    # batch/v1
    _r("batch", "v1", "Job", "jobs", categories=ALL, subresources=("status",)),
    _r("batch", "v1", "CronJob", "cronjobs", short_names=("cj",), categories=ALL, subresources=("status",)),
    # autoscaling
    _r("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short_names=("hpa",),
       categories=ALL, subresources=("status",)),
    # discovery, events, networking, policy, rbac, storage, coordination, scheduling
    _r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    _r("events.k8s.io", "v1", "Event", "events", short_names=("ev",), storage_of="events"),
    _r("networking.k8s.io", "v1", "Ingress", "ingresses", short_names=("ing",), subresources=("status",)),
    _r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short_names=("netpol",)),
    _r("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    _r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short_names=("pdb",),
       subresources=("status",)),
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _r("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, short_names=("sc",)),
    _r("coordination.k8s.io", "v1", "Lease", "leases"),
    _r("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, short_names=("pc",)),
    _r("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False,
       short_names=("crd", "crds"), subresources=("status",)),
    # metrics.k8s.io is read-only and computed (kubectl top); the telemetry layer fills it in.
    _r("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", verbs=("get", "list")),
    _r("metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes", False, verbs=("get", "list")),
)

# Group versions in the order kubectl expects them in /apis (preferred version first per group).
GROUP_ORDER = (
    "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
    "autoscaling", "batch", "certificates.k8s.io", "networking.k8s.io", "policy", "rbac.authorization.k8s.io",
    "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
    "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "flowcontrol.apiserver.k8s.io", "metrics.k8s.io",
)


@dataclass
class ResourceRegistry:
    """The types one simulated cluster serves. Per instance: custom resources differ between clusters."""

    types: list[ResourceType] = field(default_factory=lambda: list(BUILTIN_RESOURCES))

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self.types)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        for t in self.types:
            if t.group == group and t.version == version and t.plural == plural:
                return t
        return None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for t in self.types:
            if t.group == group and t.version == version and t.kind == kind:
                return t
        return None

    def by_key(self, key: str) -> ResourceType | None:
        for t in self.types:
            if t.key == key and t.storage_of is None:
                return t
        return None

    def groups(self) -> dict[str, list[str]]:
        """group -> versions (preferred first), in a stable order."""
        out: dict[str, list[str]] = {}
        for t in self.types:
            if t.group:
                versions = out.setdefault(t.group, [])
                if t.version not in versions:
                    versions.append(t.version)
        order = {g: i for i, g in enumerate(GROUP_ORDER)}
        return dict(sorted(out.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self.types if t.group == group and t.version == version]

    def add(self, types: Iterable[ResourceType]) -> None:
        for t in types:
            self.remove(t.group, t.plural)
            self.types.append(t)

    def remove(self, group: str, plural: str) -> None:
        self.types = [t for t in self.types if not (t.group == group and t.plural == plural and t.custom)]

    def add_crd(self, crd: dict) -> list[ResourceType]:
        """Serve the versions a CustomResourceDefinition declares (its ``served`` ones)."""
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        added = []
        for v in spec.get("versions", []):
            if not v.get("served", True):
                continue
            subs = tuple(k for k in ("status", "scale") if k in (v.get("subresources") or {}))
            added.append(ResourceType(
                group=spec["group"], version=v["name"], kind=names["kind"], plural=names["plural"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames", ())), categories=tuple(names.get("categories", ())),
                subresources=subs, singular=names.get("singular", ""), custom=True,
            ))
        self.add(added)
        return added
