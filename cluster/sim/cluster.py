"""SimCluster: one simulated Kubernetes cluster, its clock, its controllers and its work queue.

The cluster is level-triggered like the real control plane: every stored change enqueues work for the
controllers that watch that kind, and ``settle()`` runs the queue until nothing changes. Time-based
behaviour (image pulls, crashes, back-off, probes, grace periods) is a timer that enqueues work at a
simulated instant. Everything runs under one lock on the caller's thread, in a deterministic order, so the
same seed and the same calls give the same cluster, byte for byte.
"""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from cluster.sim.apiserver import ApiServer
from cluster.sim.clock import DEFAULT_EPOCH, SimClock
from cluster.sim.config import SimConfig
from cluster.sim.controllers import build_controllers
from cluster.sim.controllers.base import Controller, WorkKey
from cluster.sim.events import EventRecorder
from cluster.sim.ids import IdSource, IpPool, PortPool
from cluster.sim.resources import ResourceRegistry
from cluster.sim.runtime.behavior import BehaviorResolver
from cluster.sim.runtime.containers import ContainerRuntime
from cluster.sim.runtime.images import ImageCatalog
from cluster.sim.runtime.shell import ShellRegistry
from cluster.sim.store import ObjectStore, WatchEvent
from cluster.sim.views import Views


class SettleError(RuntimeError):
    """The controllers did not converge: a bug in the simulator, reported instead of hanging."""


class SimCluster:
    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        self.lock = threading.RLock()
        epoch = self.config.epoch or (datetime.now(UTC).replace(microsecond=0) if self.config.realtime
                                      else DEFAULT_EPOCH)
        self.clock = SimClock(epoch=epoch, realtime=self.config.realtime, speed=self.config.speed)
        self.ids = IdSource(self.config.seed)
        self.registry = ResourceRegistry()
        self.store = ObjectStore()
        self.views = Views()
        self.api = ApiServer(self)
        self.events = EventRecorder(self)
        self.service_ips = IpPool("10.96.0.0/12", skip=1)
        self.node_ports = PortPool()
        self.pod_ips: dict[str, IpPool] = {}
        self.images = ImageCatalog()
        self.behaviors = BehaviorResolver()
        self.runtime = ContainerRuntime(self)
        self.shell = ShellRegistry(self)  # what `kubectl exec` runs in containers
        self.controllers: dict[str, Controller] = {c.name: c for c in build_controllers(self)}
        self._watchers: dict[str, list[Controller]] = {}
        for ctl in self.controllers.values():
            for resource in ctl.watches:
                self._watchers.setdefault(resource, []).append(ctl)
        self._queue: deque[WorkKey] = deque()
        self._deferred: deque[WorkKey] = deque()
        self._queued: set[WorkKey] = set()
        self._timers: list[tuple[float, int, WorkKey]] = []
        self._timer_seq = 0
        self._settling = False
        self.store.subscribe(self._on_event)
        # Hooks for layers above (applications, telemetry): called after every settle.
        self.after_settle: list[Callable[[SimCluster], None]] = []
        # Set to a list to record (method, path) of every HTTP request the server receives (tests audit clients).
        self.access_log: list[tuple[str, str]] | None = None
        from cluster.sim.bootstrap import bootstrap

        with self.lock:
            bootstrap(self)
            self.settle()

    # ------------------------------------------------------------------------------------------ time
    def advance(self, seconds: float) -> None:
        """Move simulated time forward, firing timers in order (tests and the benchmark drive this)."""
        with self.lock:
            self.advance_to(self.clock.now + seconds)

    def advance_to(self, t: float) -> None:
        with self.lock:
            self.settle()
            while self._timers and self._timers[0][0] <= t:
                when, _, key = heapq.heappop(self._timers)
                if when > self.clock.now:
                    self.clock.set(when)
                self.enqueue(key)
                # Fire every timer due at the same instant before settling, for a stable order.
                while self._timers and self._timers[0][0] <= self.clock.now:
                    self.enqueue(heapq.heappop(self._timers)[2])
                self.settle()
            if t > self.clock.now:
                self.clock.set(t)
            self.settle()

    def sync(self) -> None:
        """Catch a real-time cluster up with the wall clock."""
        if self.clock.realtime:
            self.advance_to(self.clock.target())

    def after(self, delay: float, key: WorkKey) -> None:
        """Enqueue ``key`` for its controller ``delay`` simulated seconds from now."""
        self._timer_seq += 1
        heapq.heappush(self._timers, (self.clock.now + max(delay, 0.0), self._timer_seq, key))

    def next_timer(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    # ---------------------------------------------------------------------------------------- queue
    def enqueue(self, key: WorkKey) -> None:
        if key not in self._queued:
            self._queued.add(key)
            (self._deferred if self.controllers[key[0]].deferred else self._queue).append(key)

    def _on_event(self, event: WatchEvent) -> None:
        for ctl in self._watchers.get(event.resource, ()):
            for key in ctl.keys_for(event):
                self.enqueue(key)

    def settle(self) -> None:
        """Run controllers until the queue is empty."""
        with self.lock:
            if self._settling:
                return
            self._settling = True
            try:
                steps = 0
                while self._queue or self._deferred:
                    key = self._queue.popleft() if self._queue else self._deferred.popleft()
                    self._queued.discard(key)
                    self.controllers[key[0]].reconcile(key[1], key[2])
                    steps += 1
                    if steps > self.config.max_settle_steps:
                        raise SettleError(f"controllers did not settle after {steps} steps (last: {key})")
                for hook in self.after_settle:
                    hook(self)
            finally:
                self._settling = False

    @contextmanager
    def locked(self) -> Iterator[SimCluster]:
        """Run API calls as one step: sync the clock first, settle controllers after."""
        with self.lock:
            self.sync()
            yield self
            self.settle()

    # ----------------------------------------------------------------------------------- helpers
    def pod_ip_pool(self, node: dict) -> IpPool:
        name = node["metadata"]["name"]
        pool = self.pod_ips.get(name)
        if pool is None:
            cidr = node.get("spec", {}).get("podCIDR") or "10.244.0.0/24"
            pool = self.pod_ips[name] = IpPool(cidr, skip=2)
        return pool

    def default_storage_class(self) -> str | None:
        for sc in self.store.list("storageclasses.storage.k8s.io"):
            if (sc["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true":
                return sc["metadata"]["name"]
        return None

    def crd_changed(self, crd: dict) -> None:
        self.registry.add_crd(crd)
        crd.setdefault("status", {})["conditions"] = [
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": self.clock.rfc3339()}]
        spec = crd.get("spec", {})
        crd["status"]["acceptedNames"] = spec.get("names", {})
        crd["status"]["storedVersions"] = [v["name"] for v in spec.get("versions", []) if v.get("storage")]

    def crd_removed(self, crd: dict) -> None:
        spec = crd.get("spec", {})
        self.registry.remove(spec.get("group", ""), spec.get("names", {}).get("plural", ""))

    def record(self, obj: dict, type_: str, reason: str, message: str, component: str, **kw: Any) -> None:
        self.events.record(obj, type_, reason, message, component, **kw)

    # --------------------------------------------------------------------------------------- state
    def go_realtime(self, speed: float | None = None) -> None:
        """Switch a cluster built on the manual clock to follow the wall clock from its current instant."""
        with self.lock:
            if speed is not None:
                self.clock.speed = speed
            self.clock.realtime = True
            self.clock.restore(self.clock.snapshot())

    def snapshot(self) -> dict:
        with self.lock:
            return {"version": 1, "clock": self.clock.snapshot(), "store": self.store.dump(),
                    "ids": repr(self.ids.getstate()), "runtime": self.runtime.dump(),
                    "timers": [[t, s, list(k)] for t, s, k in self._timers], "timer_seq": self._timer_seq,
                    "service_ips": sorted(self.service_ips.used), "node_ports": sorted(self.node_ports.used),
                    "pod_ips": {n: sorted(p.used) for n, p in self.pod_ips.items()}}
