"""Render an application model into Kubernetes objects and create them through the API, as helm or
``kubectl apply`` would."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cluster.sim.apps.model import AppModel, Component
from cluster.sim.apps.runtime import AppRuntime, Apps
from cluster.sim.errors import ApiError

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster


def pod_labels(app: AppModel, comp: Component) -> dict[str, str]:
    if app.pod_labels == "kompose":
        return {"io.kompose.service": comp.name}
    if app.pod_labels == "otel":
        return {
            "app.kubernetes.io/name": comp.name,
            "app.kubernetes.io/component": comp.name,
            "app.kubernetes.io/part-of": "opentelemetry-demo",
            "opentelemetry.io/name": comp.name,
        }
    return {"app": comp.name, "service": comp.name}


def _meta(app: AppModel, comp: Component, kind: str) -> dict:
    labels = dict(pod_labels(app, comp))
    annotations: dict[str, str] = {}
    if app.helm_release:
        labels["app.kubernetes.io/managed-by"] = "Helm"
        annotations = {"meta.helm.sh/release-name": app.helm_release, "meta.helm.sh/release-namespace": app.namespace}
    elif app.pod_labels == "kompose":
        annotations = {"kompose.cmd": "kompose convert", "kompose.version": "1.22.0 (955b78124)"}
    meta: dict = {"name": comp.name, "namespace": app.namespace, "labels": labels}
    if annotations:
        meta["annotations"] = annotations
    return meta


def deployment(app: AppModel, comp: Component) -> dict:
    container: dict = {
        "name": comp.container,
        "image": comp.image,
        "ports": [
            {
                "containerPort": p,
                **({"protocol": "UDP"} if any(q.target_port == p and q.protocol == "UDP" for q in comp.ports) else {}),
            }
            for p in comp.container_ports
        ],
        "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}},
    }
    if comp.command:
        container["command"] = list(comp.command)
    if comp.args:
        container["args"] = list(comp.args)
    if comp.env:
        container["env"] = [{"name": k, "value": v} for k, v in comp.env.items()]
    if not container["ports"]:
        del container["ports"]
    volumes, mounts = [], []
    if comp.volume:
        volumes.append({"name": comp.volume, "persistentVolumeClaim": {"claimName": f"{comp.volume}-pvc"}})
        mounts.append({"name": comp.volume, "mountPath": "/data/db"})
    for cm, path in comp.config_maps:
        volumes.append({"name": cm, "configMap": {"name": cm}})
        mounts.append({"name": cm, "mountPath": path})
    if mounts:
        container["volumeMounts"] = mounts
    spec: dict = {"containers": [container], "restartPolicy": "Always"}
    if volumes:
        spec["volumes"] = volumes
    labels = pod_labels(app, comp)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(app, comp, "Deployment"),
        "spec": {
            "replicas": comp.replicas,
            "selector": {"matchLabels": {app.label_key: comp.name}},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def service(app: AppModel, comp: Component) -> dict:
    ports = []
    for p in comp.ports:
        port: dict = {"port": p.port, "targetPort": p.target_port, "protocol": p.protocol}
        if p.name:
            port["name"] = p.name
        ports.append(port)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(app, comp, "Service"),
        "spec": {"selector": {app.label_key: comp.name}, "ports": ports},
    }


def volumes(app: AppModel, comp: Component) -> list[tuple[str, dict]]:
    """The PersistentVolume and claim backing a MongoDB (HotelReservation's manifests ship both)."""
    if not comp.volume:
        return []
    pv_name, sc = f"{comp.volume}-pv", f"{comp.volume}-storage"
    return [
        (
            "persistentvolumes",
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": pv_name, "labels": {"app": comp.name}},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": sc,
                    "hostPath": {"path": f"/data/volumes/{pv_name}", "type": "DirectoryOrCreate"},
                },
            },
        ),
        (
            "persistentvolumeclaims",
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": f"{comp.volume}-pvc", "namespace": app.namespace},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": sc,
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        ),
    ]


def render(app: AppModel) -> list[tuple[str, dict]]:
    """(resource key, object) in the order they are applied."""
    out: list[tuple[str, dict]] = [
        ("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": app.namespace}})
    ]
    for name, data in app.config_maps.items():
        out.append((
            "configmaps",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": app.namespace},
                "data": dict(data),
            },
        ))
    for comp in app.components:
        out += volumes(app, comp)
    for comp in app.components:
        if comp.service and comp.ports:
            out.append(("services", service(app, comp)))
    for comp in app.components:
        out.append(("deployments.apps", deployment(app, comp)))
    return out


def deploy(cluster: SimCluster, app: AppModel) -> AppRuntime:
    """Create the application's objects (existing ones are kept, as ``kubectl apply`` of unchanged objects)."""
    apps = Apps.of(cluster)
    with cluster.lock:
        run = apps.by_namespace.get(app.namespace) or apps.add(app)
        for resource, obj in render(app):
            rt = cluster.registry.by_key(resource)
            assert rt is not None
            ns = obj["metadata"].get("namespace", "")
            if cluster.store.get(resource, ns if rt.namespaced else "", obj["metadata"]["name"]) is not None:
                continue
            try:
                cluster.api.create(rt, ns, obj)
            except ApiError as e:
                if e.code != 409:
                    raise
            cluster.settle()
    return run
