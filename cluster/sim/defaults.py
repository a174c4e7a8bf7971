"""Defaulting, as kube-apiserver applies it on create and update: one function per kind, in a table.

Only defaults that a user or kubectl can observe are applied (``kubectl get -o yaml`` shows them, and
controllers rely on them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster


def _container(c: dict) -> None:
    image = c.get("image", "")
    tag = image.rsplit("/", 1)[-1]
    if "imagePullPolicy" not in c:
        c["imagePullPolicy"] = "Always" if (":" not in tag or tag.endswith(":latest")) and "@" not in tag \
            else "IfNotPresent"
    c.setdefault("resources", {})
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    for p in c.get("ports") or []:
        p.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in c:
            pr = c[probe]
            for k, v in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                         ("failureThreshold", 3)):
                pr.setdefault(k, v)


def default_pod_spec(spec: dict) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    if "serviceAccountName" not in spec:
        spec["serviceAccountName"] = spec.get("serviceAccount", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    for c in spec.get("initContainers") or []:
        _container(c)
    for c in spec.get("containers") or []:
        _container(c)
    tolerations = spec.setdefault("tolerations", [])
    # The DefaultTolerationSeconds admission plugin adds these two to every pod.
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": 300})


def _template(obj: dict) -> None:
    tpl = obj.setdefault("spec", {}).setdefault("template", {})
    tpl.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    default_pod_spec(tpl.setdefault("spec", {}))


def pod(obj: dict, c: SimCluster) -> None:
    default_pod_spec(obj.setdefault("spec", {}))
    obj.setdefault("status", {"phase": "Pending", "qosClass": qos_class(obj["spec"])})


def qos_class(spec: dict) -> str:
    containers = spec.get("containers") or []
    reqs = [c.get("resources", {}) for c in containers]
    if reqs and all(r.get("limits", {}).get("cpu") and r.get("limits", {}).get("memory")
                    and r.get("requests", r.get("limits")) == r.get("limits") for r in reqs):
        return "Guaranteed"
    if any(r.get("requests") or r.get("limits") for r in reqs):
        return "Burstable"
    return "BestEffort"


def deployment(obj: dict, c: SimCluster) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strat = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strat.get("type", "RollingUpdate") == "RollingUpdate":
        strat["type"] = "RollingUpdate"
        ru = strat.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", "25%")
        ru.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(obj)


def replicaset(obj: dict, c: SimCluster) -> None:
    obj.setdefault("spec", {}).setdefault("replicas", 1)
    _template(obj)


def statefulset(obj: dict, c: SimCluster) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    for t in spec.get("volumeClaimTemplates") or []:
        t.setdefault("apiVersion", "v1")
        t.setdefault("kind", "PersistentVolumeClaim")
        t.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
    _template(obj)


def daemonset(obj: dict, c: SimCluster) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    spec.setdefault("revisionHistoryLimit", 10)
    _template(obj)


def job(obj: dict, c: SimCluster) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    uid = obj["metadata"]["uid"]
    if not spec.get("selector") and not spec.get("manualSelector"):
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
        name = obj["metadata"]["name"]
        labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                       "controller-uid": uid, "job-name": name})
    _template(obj)
    spec["template"]["spec"].setdefault("restartPolicy", "Never")


def service(obj: dict, c: SimCluster) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec.get("clusterIP") != "None" and spec["type"] != "ExternalName" and not spec.get("clusterIP"):
        spec["clusterIP"] = c.service_ips.allocate()
    if spec.get("clusterIP"):
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    for p in spec.get("ports") or []:
        p.setdefault("protocol", "TCP")
        p.setdefault("targetPort", p.get("port"))
        if spec["type"] in ("NodePort", "LoadBalancer") and not p.get("nodePort"):
            p["nodePort"] = c.node_ports.allocate_port()
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    obj.setdefault("status", {"loadBalancer": {}})


def pvc(obj: dict, c: SimCluster) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")
    if "storageClassName" not in spec:
        default = c.default_storage_class()
        if default:
            spec["storageClassName"] = default
    obj.setdefault("status", {"phase": "Pending"})


def pv(obj: dict, c: SimCluster) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {"phase": "Available"})


def namespace(obj: dict, c: SimCluster) -> None:
    obj.setdefault("spec", {"finalizers": ["kubernetes"]})
    obj.setdefault("status", {"phase": "Active"})
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def secret(obj: dict, c: SimCluster) -> None:
    obj.setdefault("type", "Opaque")
    # stringData is write-only: it is folded into data (base64) and never stored.
    import base64

    for k, v in (obj.pop("stringData", None) or {}).items():
        obj.setdefault("data", {})[k] = base64.b64encode(str(v).encode()).decode()


def event(obj: dict, c: SimCluster) -> None:
    obj.setdefault("type", "Normal")
    obj.setdefault("count", 1)


DEFAULTERS: dict[str, Callable[[dict, SimCluster], None]] = {
    "Pod": pod, "Deployment": deployment, "ReplicaSet": replicaset, "StatefulSet": statefulset,
    "DaemonSet": daemonset, "Job": job, "Service": service, "PersistentVolumeClaim": pvc,
    "PersistentVolume": pv, "Namespace": namespace, "Secret": secret, "Event": event,
}

# Kinds whose spec changes bump metadata.generation (the ones with a status subresource that controllers
# report observedGeneration on).
GENERATION_KINDS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod",
                    "HorizontalPodAutoscaler", "PodDisruptionBudget", "CustomResourceDefinition", "Ingress"}
