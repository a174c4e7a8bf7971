"""Namespace controller: per-namespace defaults on create, and the cascading delete of a namespace."""

from __future__ import annotations

from cluster.sim.controllers.base import Controller
from cluster.sim.store import WatchEvent, clone

ROOT_CA = "-----BEGIN CERTIFICATE-----\nMIIBaoAOI-simulated-cluster-root-ca\n-----END CERTIFICATE-----\n"


class NamespaceController(Controller):
    name = "namespace"
    watches = ("namespaces", "pods")
    primary = "namespaces"

    def keys_for(self, event: WatchEvent):
        if event.resource == "namespaces":
            return (self.key("", event.obj["metadata"]["name"]),)
        ns = self.c.store.get("namespaces", "", event.obj["metadata"].get("namespace", ""))
        if event.type == "DELETED" and ns is not None and ns["metadata"].get("deletionTimestamp"):
            return (self.key("", ns["metadata"]["name"]),)
        return ()

    def reconcile(self, _: str, name: str) -> None:
        c = self.c
        ns = c.store.get("namespaces", "", name)
        if ns is None:
            return
        if not ns["metadata"].get("deletionTimestamp"):
            if c.store.get("serviceaccounts", name, "default") is None:
                c.api.system_create("serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                                        "metadata": {"name": "default", "namespace": name}})
            if c.store.get("configmaps", name, "kube-root-ca.crt") is None:
                c.api.system_create("configmaps", {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "kube-root-ca.crt", "namespace": name,
                                 "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be "
                                                 "used to verify the kube-apiserver when using internal "
                                                 "endpoints such as the internal service IP or "
                                                 "kubernetes.default.svc. No other usage is guaranteed across "
                                                 "distributions of Kubernetes clusters."}},
                    "data": {"ca.crt": ROOT_CA}})
            return
        remaining = 0
        for rt in c.registry:
            if not rt.namespaced or rt.storage_of or rt.group == "metrics.k8s.io":
                continue
            for obj in c.store.list(rt.storage_key, name):
                remaining += 1
                if not obj["metadata"].get("deletionTimestamp"):
                    c.api.system_delete(rt.storage_key, name, obj["metadata"]["name"])
                elif obj.get("kind") != "Pod" and obj["metadata"].get("finalizers"):
                    # A stuck finalizer would hold the namespace forever, as on a real cluster.
                    pass
        remaining = sum(len(c.store.list(rt.storage_key, name)) for rt in c.registry
                        if rt.namespaced and not rt.storage_of and rt.group != "metrics.k8s.io")
        if remaining:
            c.after(1.0, self.key("", name))
            return
        new = clone(ns)
        new["spec"]["finalizers"] = []
        new["metadata"].pop("finalizers", None)
        c.api.system_update("namespaces", new)
        c.api.finalize("namespaces", "", name)
