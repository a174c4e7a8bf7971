"""Resource usage per container (what cAdvisor and metrics-server report), from each running
container's behaviour, with deterministic jitter per minute."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster


def _jitter(*parts: object) -> float:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return 0.85 + 0.3 * int.from_bytes(digest[:4], "big") / 2**32


def container_usage(c: SimCluster, pod: dict) -> list[tuple[str, float, int]]:
    """(container, cpu cores, memory bytes) for each running container of a pod."""
    rt = c.runtime.pods.get(pod["metadata"]["uid"])
    if rt is None:
        return []
    minute = int(c.clock.now // 60)
    out = []
    for x in pod["spec"]["containers"]:
        cs = rt.containers.get(x["name"])
        if cs is None or cs.phase != "running" or not cs.current or not cs.current.behavior:
            continue
        b = cs.current.behavior
        j = _jitter(c.config.seed, pod["metadata"]["uid"], x["name"], minute)
        out.append((x["name"], b.cpu_cores * j, int(b.memory_bytes * j)))
    return out
