"""Deployment controller: ReplicaSets per template revision, rolling updates, rollback, status."""

from __future__ import annotations

from cluster.sim.controllers.base import (
    Controller,
    condition,
    owned,
    owner_reference,
    resolve_int_or_percent,
    set_condition,
)
from cluster.sim.ids import template_hash
from cluster.sim.store import clone

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH = "pod-template-hash"


def _revision(rs: dict) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _template_without_hash(tpl: dict) -> dict:
    tpl = clone(tpl)
    labels = (tpl.get("metadata") or {}).get("labels") or {}
    labels.pop(HASH, None)
    return tpl


class DeploymentController(Controller):
    name = "deployment"
    watches = ("deployments.apps", "replicasets.apps")
    primary = "deployments.apps"
    owner_kind = "Deployment"

    def reconcile(self, namespace: str, name: str) -> None:
        c = self.c
        d = c.store.get("deployments.apps", namespace, name)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return
        spec = d["spec"]
        replicas = spec.get("replicas", 1)
        all_rs = sorted(owned(c, d, "replicasets.apps"), key=lambda r: (r["metadata"]["creationTimestamp"],
                                                                          r["metadata"]["name"]))
        tpl = _template_without_hash(spec["template"])
        h = template_hash(tpl)
        new_rs = next((r for r in all_rs if _template_without_hash(r["spec"]["template"]) == tpl), None)
        old_rs = [r for r in all_rs if r is not new_rs]
        max_rev = max((_revision(r) for r in all_rs), default=0)
        if spec.get("paused"):
            self._status(d, new_rs, all_rs)
            return
        max_surge = resolve_int_or_percent(self._ru(d, "maxSurge"), replicas, True)
        max_unavail = resolve_int_or_percent(self._ru(d, "maxUnavailable"), replicas, False)
        if self._strategy(d) == "RollingUpdate" and max_surge == 0 and max_unavail == 0:
            max_unavail = 1
        if new_rs is None:
            new_rs = self._create_rs(d, tpl, h, max_rev + 1, replicas, max_surge, old_rs)
            all_rs.append(new_rs)
        elif _revision(new_rs) < max_rev or not _revision(new_rs):
            new_rs = self._set_revision(new_rs, max_rev + 1)
        if self._strategy(d) == "Recreate":
            self._recreate(d, new_rs, old_rs, replicas)
        else:
            self._rolling(d, new_rs, old_rs, replicas, max_surge, max_unavail)
        self._cleanup(d, old_rs)
        fresh = [c.store.get("replicasets.apps", namespace, r["metadata"]["name"]) for r in all_rs]
        fresh = [r for r in fresh if r is not None]
        new_fresh = c.store.get("replicasets.apps", namespace, new_rs["metadata"]["name"])
        self._status(d, new_fresh, fresh, max_unavail)

    # ------------------------------------------------------------------------------------ strategies
    def _strategy(self, d: dict) -> str:
        return (d["spec"].get("strategy") or {}).get("type", "RollingUpdate")

    def _ru(self, d: dict, field: str) -> int | str | None:
        return ((d["spec"].get("strategy") or {}).get("rollingUpdate") or {}).get(field)

    def _create_rs(self, d: dict, tpl: dict, h: str, revision: int, replicas: int, surge: int,
                   old: list[dict]) -> dict:
        c = self.c
        tpl = clone(tpl)
        tpl.setdefault("metadata", {}).setdefault("labels", {})[HASH] = h
        selector = clone(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH] = h
        annotations = {k: v for k, v in (d["metadata"].get("annotations") or {}).items()
                       if k not in ("kubectl.kubernetes.io/last-applied-configuration", REVISION)}
        annotations.update({REVISION: str(revision), DESIRED: str(replicas), MAX_REPLICAS: str(replicas + surge)})
        first = not any(r["spec"].get("replicas", 0) for r in old)
        rs = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{d['metadata']['name']}-{h}", "namespace": d["metadata"]["namespace"],
                         "labels": dict(tpl["metadata"]["labels"]), "annotations": annotations,
                         "ownerReferences": [owner_reference(d)]},
            "spec": {"replicas": replicas if first else 0, "selector": selector, "template": tpl,
                     **({"minReadySeconds": d["spec"]["minReadySeconds"]} if d["spec"].get("minReadySeconds")
                        else {})},
        }
        created = c.api.system_create("replicasets.apps", rs)
        if first and replicas:
            self._scaled_event(d, created, 0, replicas)
        return created

    def _set_revision(self, rs: dict, revision: int) -> dict:
        new = clone(rs)
        ann = new["metadata"].setdefault("annotations", {})
        old_rev = ann.get(REVISION)
        if old_rev and old_rev != str(revision):
            history = [h for h in ann.get(REVISION_HISTORY, "").split(",") if h] + [old_rev]
            ann[REVISION_HISTORY] = ",".join(history)
        ann[REVISION] = str(revision)
        return self.c.api.system_update("replicasets.apps", new)

    def _scale(self, d: dict, rs: dict, to: int) -> dict:
        c = self.c
        current = rs["spec"].get("replicas", 0)
        if current == to:
            return rs
        new = clone(rs)
        new["spec"]["replicas"] = to
        ann = new["metadata"].setdefault("annotations", {})
        ann[DESIRED] = str(d["spec"].get("replicas", 1))
        surge = resolve_int_or_percent(self._ru(d, "maxSurge"), d["spec"].get("replicas", 1), True)
        ann[MAX_REPLICAS] = str(d["spec"].get("replicas", 1) + surge)
        stored = c.api.system_update("replicasets.apps", new)
        self._scaled_event(d, stored, current, to)
        return stored

    def _scaled_event(self, d: dict, rs: dict, frm: int, to: int) -> None:
        verb = "up" if to > frm else "down"
        self.c.record(d, "Normal", "ScalingReplicaSet",
                      f"Scaled {verb} replica set {rs['metadata']['name']} from {frm} to {to}",
                      "deployment-controller")

    def _recreate(self, d: dict, new_rs: dict, old: list[dict], replicas: int) -> None:
        for rs in old:
            self._scale(d, rs, 0)
        old_pods = sum((r.get("status") or {}).get("replicas", 0) for r in old
                       if self.c.store.get("replicasets.apps", r["metadata"]["namespace"], r["metadata"]["name"]))
        if old_pods == 0:
            self._scale(d, new_rs, replicas)

    def _rolling(self, d: dict, new_rs: dict, old: list[dict], replicas: int, surge: int, unavail: int) -> None:
        new_count = new_rs["spec"].get("replicas", 0)
        total = sum(r["spec"].get("replicas", 0) for r in old) + new_count
        if new_count < replicas:
            room = replicas + surge - total
            if room > 0:
                new_rs = self._scale(d, new_rs, new_count + min(room, replicas - new_count))
        elif new_count > replicas:
            new_rs = self._scale(d, new_rs, replicas)
        old_live = [r for r in old if r["spec"].get("replicas", 0) > 0]
        if not old_live:
            return
        all_count = sum(r["spec"].get("replicas", 0) for r in old_live) + new_rs["spec"].get("replicas", 0)
        min_available = replicas - unavail
        new_unavailable = new_rs["spec"].get("replicas", 0) - (new_rs.get("status") or {}).get("availableReplicas", 0)
        max_down = all_count - min_available - max(new_unavailable, 0)
        if max_down <= 0:
            return
        # First the old pods that are not available anyway, then available ones, oldest ReplicaSet first.
        for rs in old_live:
            if max_down <= 0:
                break
            unhealthy = rs["spec"]["replicas"] - (rs.get("status") or {}).get("availableReplicas", 0)
            cut = min(max(unhealthy, 0), max_down)
            if cut > 0:
                rs = self._scale(d, rs, rs["spec"]["replicas"] - cut)
                max_down -= cut
        total_available = sum((self._fresh(r).get("status") or {}).get("availableReplicas", 0)
                              for r in [*old_live, new_rs])
        allowed = min(total_available - min_available, max_down)
        for rs in old_live:
            if allowed <= 0:
                break
            rs = self._fresh(rs)
            cut = min(rs["spec"].get("replicas", 0), allowed)
            if cut > 0:
                self._scale(d, rs, rs["spec"]["replicas"] - cut)
                allowed -= cut

    def _fresh(self, rs: dict) -> dict:
        return self.c.store.get("replicasets.apps", rs["metadata"]["namespace"], rs["metadata"]["name"]) or rs

    def _cleanup(self, d: dict, old: list[dict]) -> None:
        limit = d["spec"].get("revisionHistoryLimit", 10)
        idle = [r for r in old if self._fresh(r)["spec"].get("replicas", 0) == 0
                and not (self._fresh(r).get("status") or {}).get("replicas")]
        idle.sort(key=_revision)
        for rs in idle[: max(len(idle) - limit, 0)]:
            self.c.api.system_delete("replicasets.apps", rs["metadata"]["namespace"], rs["metadata"]["name"])

    # ----------------------------------------------------------------------------------------- status
    def _status(self, d: dict, new_rs: dict | None, all_rs: list[dict], max_unavail: int = 0) -> None:
        c = self.c
        now = c.clock.rfc3339()
        replicas = d["spec"].get("replicas", 1)
        st = [r.get("status") or {} for r in all_rs]
        total = sum(s.get("replicas", 0) for s in st)
        available = sum(s.get("availableReplicas", 0) for s in st)
        updated = (new_rs.get("status") or {}).get("replicas", 0) if new_rs else 0
        status: dict = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": total, "updatedReplicas": updated,
            "readyReplicas": sum(s.get("readyReplicas", 0) for s in st),
            "availableReplicas": available, "unavailableReplicas": max(replicas - available, 0),
        }
        status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
        conds = list((d.get("status") or {}).get("conditions") or [])
        if available >= replicas - max_unavail:
            conds = set_condition(conds, "Available", "True", "MinimumReplicasAvailable",
                                  "Deployment has minimum availability.", now, update_time=True)
        else:
            conds = set_condition(conds, "Available", "False", "MinimumReplicasUnavailable",
                                  "Deployment does not have minimum availability.", now, update_time=True)
        rs_name = new_rs["metadata"]["name"] if new_rs else ""
        complete = new_rs is not None and updated == replicas and available == replicas and total == replicas
        prev = condition(d, "Progressing")
        if complete:
            conds = set_condition(conds, "Progressing", "True", "NewReplicaSetAvailable",
                                  f'ReplicaSet "{rs_name}" has successfully progressed.', now, update_time=True)
        elif prev and prev.get("reason") == "ProgressDeadlineExceeded" and prev.get("message", "").find(rs_name) >= 0:
            pass
        else:
            progressing = not prev or prev.get("reason") != "ReplicaSetUpdated" or self._progress_changed(d, status)
            reason = "NewReplicaSetCreated" if not prev else "ReplicaSetUpdated"
            msg = (f'Created new replica set "{rs_name}"' if reason == "NewReplicaSetCreated"
                   else f'ReplicaSet "{rs_name}" is progressing.')
            if progressing or prev is None:
                conds = set_condition(conds, "Progressing", "True", reason, msg, now, update_time=True)
                # Force lastUpdateTime forward: this is the progress the deadline is measured from.
                for cond in conds:
                    if cond["type"] == "Progressing":
                        cond["lastUpdateTime"] = now
            else:
                last = c.clock.parse(prev.get("lastUpdateTime", now))
                deadline = d["spec"].get("progressDeadlineSeconds", 600)
                if c.clock.now - last >= deadline:
                    conds = set_condition(conds, "Progressing", "False", "ProgressDeadlineExceeded",
                                          f'ReplicaSet "{rs_name}" has timed out progressing.', now,
                                          update_time=True)
                else:
                    c.after(deadline - (c.clock.now - last) + 0.001,
                            self.key(d["metadata"]["namespace"], d["metadata"]["name"]))
        status["conditions"] = sorted(conds, key=lambda x: x["type"])
        if status != d.get("status"):
            new = clone(d)
            new["status"] = status
            c.api.system_update("deployments.apps", new)

    def _progress_changed(self, d: dict, status: dict) -> bool:
        old = d.get("status") or {}
        keys = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
        return any(old.get(k, 0) != status.get(k, 0) for k in keys) or \
            old.get("observedGeneration") != status.get("observedGeneration")
