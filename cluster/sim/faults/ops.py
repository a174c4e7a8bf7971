"""The operator's verbs the injectors (and tests of repairs) use, all through the simulated API server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cluster.sim.errors import ApiError
from cluster.sim.resources import ResourceType

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def rt(c: SimCluster, key: str) -> ResourceType:
    found = c.registry.by_key(key)
    if found is None:
        raise KeyError(f"the simulator serves no resource {key!r}")
    return found


def get(c: SimCluster, key: str, ns: str, name: str) -> dict | None:
    return c.store.get(key, ns if rt(c, key).namespaced else "", name)


def patch(c: SimCluster, key: str, ns: str, name: str, body: Any, ctype: str = STRATEGIC) -> dict:
    with c.locked():
        return c.api.patch(rt(c, key), ns, name, ctype, body)


def create(c: SimCluster, key: str, ns: str, obj: dict) -> dict:
    with c.locked():
        return c.api.create(rt(c, key), ns, obj)


def delete(c: SimCluster, key: str, ns: str, name: str, missing_ok: bool = True, **kw: Any) -> None:
    with c.locked():
        try:
            c.api.delete(rt(c, key), ns, name, **kw)
        except ApiError as e:
            if e.code != 404 or not missing_ok:
                raise


def scale(c: SimCluster, ns: str, deployment: str, replicas: int) -> None:
    patch(c, "deployments.apps", ns, deployment, {"spec": {"replicas": replicas}}, MERGE)


def rollout_restart(c: SimCluster, ns: str, deployment: str) -> None:
    stamp = c.clock.rfc3339()
    patch(
        c,
        "deployments.apps",
        ns,
        deployment,
        {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}},
    )


def pods_with(c: SimCluster, ns: str, key: str, value: str) -> list[dict]:
    return [p for p in c.store.list("pods", ns) if (p["metadata"].get("labels") or {}).get(key) == value]


def delete_pods(c: SimCluster, ns: str, key: str, value: str) -> None:
    for p in pods_with(c, ns, key, value):
        delete(c, "pods", ns, p["metadata"]["name"])


def set_container(c: SimCluster, ns: str, deployment: str, container: str, **fields: Any) -> None:
    """kubectl set image / a patch of one container of a Deployment's pod template."""
    patch(
        c,
        "deployments.apps",
        ns,
        deployment,
        {"spec": {"template": {"spec": {"containers": [{"name": container, **fields}]}}}},
    )


def recreate_deployment(c: SimCluster, ns: str, name: str, mutate) -> None:
    """Delete a Deployment and create it again changed (what AIOpsLab's injectors do for some faults)."""
    from cluster.sim.store import clone

    current = get(c, "deployments.apps", ns, name)
    if current is None:
        raise KeyError(f"deployment {ns}/{name} does not exist")
    obj = clone(current)
    obj.pop("status", None)
    obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k in ("name", "namespace", "labels", "annotations")}
    mutate(obj)
    delete(c, "deployments.apps", ns, name)
    create(c, "deployments.apps", ns, obj)
