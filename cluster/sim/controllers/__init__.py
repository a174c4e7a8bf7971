"""The control plane's controllers. Order matters only for determinism, not for correctness."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cluster.sim.controllers.base import Controller
from cluster.sim.controllers.daemonset import DaemonSetController
from cluster.sim.controllers.deployment import DeploymentController
from cluster.sim.controllers.endpoints import EndpointsController
from cluster.sim.controllers.job import JobController
from cluster.sim.controllers.kubelet import KubeletController
from cluster.sim.controllers.namespace import NamespaceController
from cluster.sim.controllers.replicaset import ReplicaSetController
from cluster.sim.controllers.scheduler import Scheduler
from cluster.sim.controllers.statefulset import StatefulSetController
from cluster.sim.controllers.volumes import VolumeController

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster

CONTROLLERS: tuple[type[Controller], ...] = (
    NamespaceController, DeploymentController, ReplicaSetController, StatefulSetController,
    DaemonSetController, JobController, VolumeController, Scheduler, KubeletController, EndpointsController,
)


def build_controllers(cluster: SimCluster) -> list[Controller]:
    return [cls(cluster) for cls in CONTROLLERS]
