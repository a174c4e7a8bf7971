"""Endpoints and EndpointSlice controllers: a Service's ready and not-ready pod addresses and ports."""

from __future__ import annotations

from cluster.sim.controllers.base import Controller, owner_reference, pod_ready
from cluster.sim.selectors import LabelSelector
from cluster.sim.store import WatchEvent, clone

SLICE_LABEL = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"


def resolve_target_port(svc_port: dict, pod: dict) -> int | None:
    """A Service port's targetPort on one pod: a number, or a container port looked up by name."""
    target = svc_port.get("targetPort", svc_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for ctr in pod["spec"].get("containers") or []:
        for p in ctr.get("ports") or []:
            if p.get("name") == target and p.get("protocol", "TCP") == svc_port.get("protocol", "TCP"):
                return p.get("containerPort")
    return None


class EndpointsController(Controller):
    name = "endpoints"
    watches = ("services", "pods")
    deferred = True

    def keys_for(self, event: WatchEvent):
        meta = event.obj["metadata"]
        ns = meta.get("namespace", "")
        if event.resource == "services":
            return (self.key(ns, meta["name"]),)
        return [self.key(ns, s["metadata"]["name"]) for s in self.c.store.list("services", ns)
                if (s.get("spec") or {}).get("selector")]

    def reconcile(self, namespace: str, name: str) -> None:
        c = self.c
        svc = c.store.get("services", namespace, name)
        if svc is None:
            return  # the garbage collector removes the EndpointSlices; Endpoints go with the Service below
        selector = (svc.get("spec") or {}).get("selector")
        if not selector:
            return  # a Service without a selector has user-managed endpoints
        sel = LabelSelector.from_object({"matchLabels": selector})
        pods = [p for p in c.store.list("pods", namespace)
                if sel.matches(p["metadata"].get("labels")) and (p.get("status") or {}).get("podIP")
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        publish_not_ready = svc["spec"].get("publishNotReadyAddresses", False)
        groups: dict[tuple, dict] = {}
        for pod in sorted(pods, key=lambda p: p["status"]["podIP"]):
            ports = []
            for sp in svc["spec"].get("ports") or []:
                port = resolve_target_port(sp, pod)
                if port is None:
                    continue
                entry = {"port": port, "protocol": sp.get("protocol", "TCP")}
                if sp.get("name"):
                    entry["name"] = sp["name"]
                ports.append(entry)
            if not ports:
                continue
            key = tuple(sorted((p.get("name", ""), p["port"]) for p in ports))
            group = groups.setdefault(key, {"addresses": [], "notReadyAddresses": [], "ports": ports})
            address = {"ip": pod["status"]["podIP"], "nodeName": pod["spec"].get("nodeName"),
                       "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod["metadata"]["name"],
                                     "uid": pod["metadata"]["uid"]}}
            terminating = bool(pod["metadata"].get("deletionTimestamp"))
            ready = pod_ready(pod) and not terminating
            if ready or publish_not_ready:
                group["addresses"].append(address)
            elif not terminating:
                group["notReadyAddresses"].append(address)
        subsets = []
        for g in groups.values():
            subset = {k: v for k, v in g.items() if v}
            if subset.get("addresses") or subset.get("notReadyAddresses"):
                subsets.append(subset)
        self._write_endpoints(svc, subsets)
        self._write_slice(svc, pods, publish_not_ready)

    def _write_endpoints(self, svc: dict, subsets: list[dict]) -> None:
        c = self.c
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        labels = dict(svc["metadata"].get("labels") or {})
        labels["endpoints.kubernetes.io/managed-by"] = "endpoint-controller"
        ep = c.store.get("endpoints", ns, name)
        body = {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": name, "namespace": ns, "labels": labels}}
        if subsets:
            body["subsets"] = subsets
        if ep is None:
            c.api.system_create("endpoints", body)
            return
        new = clone(ep)
        new["metadata"]["labels"] = labels
        new.pop("subsets", None)
        if subsets:
            new["subsets"] = subsets
        c.api.system_update("endpoints", new)

    def _write_slice(self, svc: dict, pods: list[dict], publish_not_ready: bool) -> None:
        c = self.c
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        ports = []
        endpoints = []
        for sp in svc["spec"].get("ports") or []:
            port = next((resolve_target_port(sp, p) for p in pods if resolve_target_port(sp, p) is not None), None)
            if port is None and isinstance(sp.get("targetPort", sp.get("port")), str):
                continue
            entry = {"name": sp.get("name", ""), "port": port if port is not None else sp.get("targetPort"),
                     "protocol": sp.get("protocol", "TCP")}
            ports.append(entry)
        for pod in sorted(pods, key=lambda p: p["status"]["podIP"]):
            terminating = bool(pod["metadata"].get("deletionTimestamp"))
            ready = pod_ready(pod) and not terminating
            endpoints.append({
                "addresses": [pod["status"]["podIP"]],
                "conditions": {"ready": ready or publish_not_ready, "serving": pod_ready(pod),
                               "terminating": terminating},
                "nodeName": pod["spec"].get("nodeName"),
                "targetRef": {"kind": "Pod", "namespace": ns, "name": pod["metadata"]["name"],
                              "uid": pod["metadata"]["uid"]},
            })
        existing = [s for s in c.store.list("endpointslices.discovery.k8s.io", ns)
                    if (s["metadata"].get("labels") or {}).get(SLICE_LABEL) == name]
        labels = dict(svc["metadata"].get("labels") or {})
        labels.update({SLICE_LABEL: name, MANAGED_BY: "endpointslice-controller.k8s.io"})
        if existing:
            new = clone(existing[0])
            new.update({"endpoints": endpoints, "ports": ports})
            new["metadata"]["labels"] = labels
            c.api.system_update("endpointslices.discovery.k8s.io", new)
            return
        c.api.system_create("endpointslices.discovery.k8s.io", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-{c.ids.suffix()}", "namespace": ns, "labels": labels,
                         "generateName": f"{name}-", "ownerReferences": [owner_reference(svc)]},
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports,
        })
