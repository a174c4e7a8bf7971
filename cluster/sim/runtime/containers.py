"""The container runtime's memory: every container's runs, its current state and what the node has pulled.

The kubelet controller moves containers through their states; the API shows them in pod status; the log
generator reads the runs (so ``kubectl logs --previous`` shows the last run's output).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from cluster.sim.runtime.behavior import Behavior

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster


@dataclass
class Run:
    started: float
    finished: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str = ""
    behavior: Behavior | None = None


@dataclass
class ContainerState:
    name: str
    image: str
    init: bool = False
    # new -> pulling -> [pull_backoff] -> creating -> running -> exited -> [backoff] -> creating ...
    phase: str = "new"
    due: float = 0.0  # when the current phase ends
    runs: list[Run] = field(default_factory=list)
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    pull_failures: int = 0
    crash_backoffs: int = 0
    ready: bool = False
    ready_at: float | None = None
    next_probe: float | None = None
    probe_failures: int = 0

    @property
    def restart_count(self) -> int:
        return max(len(self.runs) - 1, 0)

    @property
    def current(self) -> Run | None:
        return self.runs[-1] if self.runs else None


@dataclass
class PodRuntime:
    uid: str
    namespace: str
    name: str
    node: str
    ip: str
    started: float
    containers: dict[str, ContainerState] = field(default_factory=dict)
    killing_since: float | None = None
    kill_done: float | None = None


class ContainerRuntime:
    def __init__(self, cluster: SimCluster):
        self.c = cluster
        self.pods: dict[str, PodRuntime] = {}
        self.node_images: dict[str, set[str]] = {}
        # (namespace, pod name, uid) of pods that are gone: their logs are gone too, as on a node.

    def container_id(self, pod_uid: str, name: str, run: int) -> str:
        return "containerd://" + hashlib.sha256(f"{pod_uid}/{name}/{run}".encode()).hexdigest()

    def forget(self, uid: str) -> PodRuntime | None:
        return self.pods.pop(uid, None)

    def find(self, namespace: str, name: str) -> PodRuntime | None:
        pod = self.c.store.get("pods", namespace, name)
        return self.pods.get(pod["metadata"]["uid"]) if pod else None

    def dump(self) -> dict:
        out = {}
        for uid, p in self.pods.items():
            d = asdict(p)
            for cs in d["containers"].values():
                for r in cs["runs"]:
                    r.pop("behavior", None)
            out[uid] = d
        return {"pods": out, "node_images": {n: sorted(s) for n, s in self.node_images.items()}}
