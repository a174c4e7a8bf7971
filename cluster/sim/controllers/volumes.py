"""PersistentVolume controller: binds claims to matching volumes and provisions from StorageClasses."""

from __future__ import annotations

from cluster.sim.controllers.base import Controller
from cluster.sim.quantity import QuantityError, memory_bytes
from cluster.sim.store import WatchEvent, clone


def _size(obj: dict, path: tuple[str, ...]) -> int:
    cur: object = obj
    for p in path:
        cur = cur.get(p) if isinstance(cur, dict) else None
    try:
        return memory_bytes(cur) if cur else 0  # type: ignore[arg-type]
    except QuantityError:
        return 0


class VolumeController(Controller):
    name = "volumes"
    watches = ("persistentvolumeclaims", "persistentvolumes")

    def keys_for(self, event: WatchEvent):
        if event.resource == "persistentvolumeclaims":
            ns, name = event.obj["metadata"]["namespace"], event.obj["metadata"]["name"]
            keys = [self.key(ns, name)]
            if event.type == "DELETED":  # its volume is released
                keys += [self.key("", pv["metadata"]["name"]) for pv in self.c.store.list("persistentvolumes")
                         if (pv["spec"].get("claimRef") or {}).get("name") == name
                         and (pv["spec"].get("claimRef") or {}).get("namespace") == ns]
            return keys
        # A new or released volume may satisfy any pending claim; a volume's claim may have gone.
        keys = [self.key(p["metadata"]["namespace"], p["metadata"]["name"])
                for p in self.c.store.list("persistentvolumeclaims")
                if (p.get("status") or {}).get("phase") != "Bound"]
        keys.append(self.key("", event.obj["metadata"]["name"]))
        return keys

    def reconcile(self, namespace: str, name: str) -> None:
        if not namespace:
            self._volume(name)
            return
        c = self.c
        pvc = c.store.get("persistentvolumeclaims", namespace, name)
        if pvc is None or (pvc.get("status") or {}).get("phase") == "Bound":
            return
        spec = pvc["spec"]
        want = _size(pvc, ("spec", "resources", "requests", "storage"))
        modes = set(spec.get("accessModes") or [])
        sc_name = spec.get("storageClassName") or ""
        for pv in c.store.list("persistentvolumes"):
            pspec = pv.get("spec") or {}
            if (pv.get("status") or {}).get("phase") != "Available":
                continue
            if spec.get("volumeName") and spec["volumeName"] != pv["metadata"]["name"]:
                continue
            ref = pspec.get("claimRef")
            if ref and (ref.get("namespace"), ref.get("name")) != (namespace, name):
                continue
            if (pspec.get("storageClassName") or "") != sc_name or not modes <= set(pspec.get("accessModes") or []):
                continue
            if _size(pv, ("spec", "capacity", "storage")) < want:
                continue
            self._bind(pvc, pv)
            return
        if sc_name:
            sc = c.store.get("storageclasses.storage.k8s.io", "", sc_name)
            if sc is None:
                c.record(pvc, "Warning", "ProvisioningFailed",
                         f'storageclass.storage.k8s.io "{sc_name}" not found', "persistentvolume-controller")
                return
            pv = c.api.system_create("persistentvolumes", {
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": f"pvc-{pvc['metadata']['uid']}",
                             "annotations": {"pv.kubernetes.io/provisioned-by": sc.get("provisioner", "")}},
                "spec": {"capacity": {"storage": spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")},
                         "accessModes": sorted(modes) or ["ReadWriteOnce"],
                         "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
                         "storageClassName": sc_name, "volumeMode": spec.get("volumeMode", "Filesystem"),
                         "hostPath": {"path": f"/var/local-path-provisioner/pvc-{pvc['metadata']['uid']}_"
                                              f"{namespace}_{name}", "type": "DirectoryOrCreate"}},
            })
            c.record(pvc, "Normal", "ProvisioningSucceeded",
                     f"Successfully provisioned volume {pv['metadata']['name']}", sc.get("provisioner", ""))
            self._bind(pvc, c.store.get("persistentvolumes", "", pv["metadata"]["name"]))
            return
        c.record(pvc, "Normal", "FailedBinding",
                 "no persistent volumes available for this claim and no storage class is set",
                 "persistentvolume-controller")

    def _bind(self, pvc: dict, pv: dict) -> None:
        c = self.c
        new_pv = clone(pv)
        new_pv["spec"]["claimRef"] = {"kind": "PersistentVolumeClaim", "namespace": pvc["metadata"]["namespace"],
                                      "name": pvc["metadata"]["name"], "uid": pvc["metadata"]["uid"],
                                      "apiVersion": "v1", "resourceVersion": pvc["metadata"]["resourceVersion"]}
        new_pv["status"] = {"phase": "Bound"}
        c.api.system_update("persistentvolumes", new_pv)
        new_pvc = clone(pvc)
        new_pvc["spec"]["volumeName"] = pv["metadata"]["name"]
        new_pvc["status"] = {"phase": "Bound", "accessModes": pv["spec"].get("accessModes", []),
                             "capacity": pv["spec"].get("capacity", {})}
        ann = new_pvc["metadata"].setdefault("annotations", {})
        ann["pv.kubernetes.io/bind-completed"] = "yes"
        c.api.system_update("persistentvolumeclaims", new_pvc)

    def _volume(self, name: str) -> None:
        """A bound volume whose claim is gone is Released (Retain) or deleted (Delete)."""
        c = self.c
        pv = c.store.get("persistentvolumes", "", name)
        if pv is None:
            return
        phase = (pv.get("status") or {}).get("phase")
        if phase == "Released" and not pv["spec"].get("claimRef"):
            # An operator cleared the stale claimRef: the volume can be bound again.
            new = clone(pv)
            new["status"] = {"phase": "Available"}
            c.api.system_update("persistentvolumes", new)
            return
        if phase != "Bound":
            return
        ref = pv["spec"].get("claimRef") or {}
        pvc = c.store.get("persistentvolumeclaims", ref.get("namespace", ""), ref.get("name", ""))
        if pvc is not None and pvc["metadata"]["uid"] == ref.get("uid"):
            return
        if pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
            c.api.system_delete("persistentvolumes", "", name)
            return
        new = clone(pv)
        new["status"] = {"phase": "Released"}
        c.api.system_update("persistentvolumes", new)
