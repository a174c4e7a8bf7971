"""Applications deployed in a simulated cluster: their models, shared app-level state and health history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cluster.sim.apps.health import History, Snapshot, Traffic, compute, traffic
from cluster.sim.apps.model import AppModel, Component
from cluster.sim.apps.state import AppState, MongoData

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster


class AppRuntime:
    def __init__(self, cluster: SimCluster, model: AppModel, state: AppState):
        self.c = cluster
        self.model = model
        self.state = state
        self.history = History()
        self.deployed_at = cluster.clock.now
        # Traffic per snapshot, computed once: log, metric and trace generators all read it.
        self._traffic: dict[int, tuple[Snapshot, dict[str, Traffic]]] = {}

    def traffic(self, snap: Snapshot) -> dict[str, Traffic]:
        hit = self._traffic.get(id(snap))
        if hit is None or hit[0] is not snap:
            if len(self._traffic) > 4096:
                self._traffic.clear()
            hit = (snap, traffic(self.model, snap))
            self._traffic[id(snap)] = hit
        return hit[1]

    def data_key(self, mongo: Component, pod: dict) -> str:
        """Where a MongoDB pod keeps its data: the PersistentVolume it mounts, else the pod itself (emptyDir)."""
        for vol in pod["spec"].get("volumes") or []:
            claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                pvc = self.c.store.get("persistentvolumeclaims", self.model.namespace, claim)
                pv = (pvc or {}).get("spec", {}).get("volumeName")
                if pv:
                    return f"pv:{pv}"
        return f"{self.model.namespace}/{mongo.name}/{pod['metadata']['uid']}"

    def mongo_data(self, mongo: Component, pod: dict) -> MongoData:
        return self.state.mongo.setdefault(self.data_key(mongo, pod), MongoData())

    def component_of(self, pod: dict) -> Component | None:
        name = (pod["metadata"].get("labels") or {}).get(self.model.label_key)
        if name and self.model.has(name):
            return self.model.component(name)
        return None

    def snapshot(self) -> Snapshot:
        snap = compute(self.c, self)
        self.history.add(snap)
        return snap


class Apps:
    """The applications of one cluster (``cluster.apps``), keyed by namespace."""

    def __init__(self, cluster: SimCluster):
        from cluster.sim.apps.behavior import AppBehavior
        from cluster.sim.apps.logs import register_log_styles
        from cluster.sim.apps.shell import register_programs

        self.c = cluster
        self.state = AppState()
        self.by_namespace: dict[str, AppRuntime] = {}
        self._behavior = AppBehavior(self)
        cluster.behaviors.add(self._behavior)
        cluster.after_settle.append(self._after_settle)
        register_log_styles()
        register_programs(cluster, self)
        from cluster.sim.apps.images import register_images

        register_images(cluster)

    @classmethod
    def of(cls, cluster: SimCluster) -> Apps:
        apps = getattr(cluster, "apps", None)
        if apps is None:
            from cluster.sim.telemetry.metrics import ClusterMetrics

            ClusterMetrics.of(cluster)  # subscribe before anything is deployed, so metrics have the whole history
            apps = cls(cluster)
            cluster.apps = apps
        return apps

    def add(self, model: AppModel) -> AppRuntime:
        run = AppRuntime(self.c, model, self.state)
        self.by_namespace[model.namespace] = run
        return run

    def for_pod(self, pod: dict) -> tuple[AppRuntime, Component] | None:
        run = self.by_namespace.get(pod["metadata"].get("namespace", ""))
        if run is None:
            return None
        comp = run.component_of(pod)
        return (run, comp) if comp else None

    def _after_settle(self, cluster: SimCluster) -> None:
        now = cluster.clock.now
        self.state.chaos = [e for e in self.state.chaos if e.until > now]
        for run in self.by_namespace.values():
            run.snapshot()
