"""Programs inside the applications' containers for ``kubectl exec`` (the mongo shell)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cluster.sim.apps.runtime import Apps
    from cluster.sim.cluster import SimCluster


def register_programs(cluster: SimCluster, apps: Apps) -> None:
    shell = getattr(cluster, "shell", None)
    if shell is None:
        return
    from cluster.sim.apps.mongo_shell import register

    register(cluster, apps)
