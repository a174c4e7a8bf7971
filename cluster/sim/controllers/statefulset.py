"""StatefulSet controller: stable ordinal pods, ordered start and stop, PVCs per pod, rolling update."""

from __future__ import annotations

import re

from cluster.sim.controllers.base import Controller, owned, pod_active, pod_from_template, pod_ready
from cluster.sim.ids import template_hash
from cluster.sim.store import clone

REVISION_LABEL = "controller-revision-hash"


def ordinal(pod: dict, sts_name: str) -> int:
    m = re.fullmatch(re.escape(sts_name) + r"-(\d+)", pod["metadata"]["name"])
    return int(m.group(1)) if m else -1


class StatefulSetController(Controller):
    name = "statefulset"
    watches = ("statefulsets.apps", "pods")
    primary = "statefulsets.apps"
    owner_kind = "StatefulSet"

    def reconcile(self, namespace: str, name: str) -> None:
        c = self.c
        sts = c.store.get("statefulsets.apps", namespace, name)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        spec = sts["spec"]
        replicas = spec.get("replicas", 1)
        revision = f"{name}-{template_hash(spec['template'])}"
        self._revision(sts, revision)
        pods = {ordinal(p, name): p for p in owned(c, sts, "pods")}
        parallel = spec.get("podManagementPolicy") == "Parallel"
        # Create missing pods in order; with OrderedReady, wait until every lower ordinal is Running and Ready.
        for i in range(replicas):
            pod = pods.get(i)
            if pod is None:
                self._create_pod(sts, i, revision)
                if not parallel:
                    break
                continue
            if (pod.get("status") or {}).get("phase") == "Failed" and not pod["metadata"].get("deletionTimestamp"):
                c.api.system_delete("pods", namespace, pod["metadata"]["name"])
                break
            if not parallel and not (pod_active(pod) and pod_ready(pod)):
                break
        # Scale down from the highest ordinal, one at a time unless Parallel.
        extra = sorted((i for i in pods if i >= replicas or i < 0), reverse=True)
        for i in extra:
            pod = pods[i]
            if not pod["metadata"].get("deletionTimestamp"):
                c.api.system_delete("pods", namespace, pod["metadata"]["name"])
                c.record(sts, "Normal", "SuccessfulDelete",
                         f"delete Pod {pod['metadata']['name']} in StatefulSet {name} successful",
                         "statefulset-controller")
            if not parallel:
                break
        # Rolling update: replace the highest-ordinal pod of an old revision once all others are ready.
        strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
        live = [pods[i] for i in sorted(pods) if 0 <= i < replicas]
        if strategy == "RollingUpdate" and len(live) == replicas and all(pod_ready(p) for p in live):
            partition = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition", 0)
            for i in sorted(pods, reverse=True):
                pod = pods[i]
                if i < partition or i >= replicas:
                    continue
                if (pod["metadata"].get("labels") or {}).get(REVISION_LABEL) != revision \
                        and not pod["metadata"].get("deletionTimestamp"):
                    c.api.system_delete("pods", namespace, pod["metadata"]["name"])
                    break
        self._status(sts, revision)

    def _create_pod(self, sts: dict, i: int, revision: str) -> None:
        c = self.c
        name = sts["metadata"]["name"]
        ns = sts["metadata"]["namespace"]
        pod = pod_from_template(sts, sts["spec"]["template"], f"{name}-{i}", {
            REVISION_LABEL: revision, "statefulset.kubernetes.io/pod-name": f"{name}-{i}",
            "apps.kubernetes.io/pod-index": str(i)})
        pod["spec"]["hostname"] = f"{name}-{i}"
        if sts["spec"].get("serviceName"):
            pod["spec"]["subdomain"] = sts["spec"]["serviceName"]
        volumes = pod["spec"].setdefault("volumes", [])
        for tpl in sts["spec"].get("volumeClaimTemplates") or []:
            claim = f"{tpl['metadata']['name']}-{name}-{i}"
            if c.store.get("persistentvolumeclaims", ns, claim) is None:
                pvc = clone(tpl)
                pvc["metadata"] = {"name": claim, "namespace": ns,
                                   "labels": dict((sts["spec"].get("selector") or {}).get("matchLabels") or {})}
                pvc.pop("status", None)
                c.api.system_create("persistentvolumeclaims", pvc)
                c.record(sts, "Normal", "SuccessfulCreate",
                         f"create Claim {claim} Pod {name}-{i} in StatefulSet {name} success", "statefulset-controller")
            if not any(v.get("name") == tpl["metadata"]["name"] for v in volumes):
                volumes.append({"name": tpl["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim}})
        if not volumes:
            del pod["spec"]["volumes"]
        c.api.system_create("pods", pod)
        c.record(sts, "Normal", "SuccessfulCreate", f"create Pod {name}-{i} in StatefulSet {name} successful",
                 "statefulset-controller")

    def _revision(self, sts: dict, revision: str) -> None:
        c = self.c
        ns = sts["metadata"]["namespace"]
        if c.store.get("controllerrevisions.apps", ns, revision) is not None:
            return
        from cluster.sim.controllers.base import owner_reference

        existing = [r for r in owned(c, sts, "controllerrevisions.apps")]
        number = max((r.get("revision", 0) for r in existing), default=0) + 1
        tpl = clone(sts["spec"]["template"])
        tpl["$patch"] = "replace"
        c.api.system_create("controllerrevisions.apps", {
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": revision, "namespace": ns,
                         "labels": dict((sts["spec"].get("selector") or {}).get("matchLabels") or {}),
                         "ownerReferences": [owner_reference(sts)]},
            "data": {"spec": {"template": tpl}}, "revision": number})

    def _status(self, sts: dict, revision: str) -> None:
        c = self.c
        pods = [p for p in owned(c, sts, "pods") if pod_active(p)]
        updated = [p for p in pods if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == revision]
        ready = [p for p in pods if pod_ready(p)]
        old_status = sts.get("status") or {}
        current_rev = old_status.get("currentRevision", revision)
        if len(updated) == len(pods) == sts["spec"].get("replicas", 1):
            current_rev = revision
        status = {"observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(pods),
                  "readyReplicas": len(ready), "currentReplicas": sum(
                      1 for p in pods if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == current_rev),
                  "updatedReplicas": len(updated), "availableReplicas": len(ready),
                  "currentRevision": current_rev, "updateRevision": revision, "collisionCount": 0}
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration",
                                                                 "availableReplicas", "collisionCount")}
        if status != old_status:
            new = clone(sts)
            new["status"] = status
            c.api.system_update("statefulsets.apps", new)
