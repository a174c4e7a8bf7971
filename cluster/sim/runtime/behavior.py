"""What a container does when the kubelet starts it, decided by a chain of resolvers.

The default resolver reads the image catalog and the command model. Layers above (the simulated
applications and their faults) put resolvers in front of it: a service whose database rejects its
credentials exits with an error, and so on. A behaviour is decided at each start of a container, so a
repair takes effect on the next restart, as in a real cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster


@dataclass(frozen=True)
class Behavior:
    pull_error: str | None = None  # the registry's answer when the image cannot be pulled
    start_error: str | None = None  # the runtime's answer when the process cannot start
    run_seconds: float | None = None  # None: runs until stopped
    exit_code: int = 0
    reason: str | None = None  # terminated reason; derived from the exit code when None
    message: str = ""
    ready: bool = True
    ready_failure: str = "HTTP probe failed with statuscode: 503"
    live: bool = True
    live_failure: str = "HTTP probe failed with statuscode: 500"
    pull_seconds: float = 1.2
    image_size: int = 50_000_000
    memory_bytes: int = 20 * 2**20
    cpu_cores: float = 0.005
    stop_seconds: float = 0.5  # how long the process takes to exit on SIGTERM
    log_style: str = "generic"
    # Lines the process writes itself (echo in a shell script, a crash message), as (offset seconds, text).
    output: tuple[tuple[float, str], ...] = ()
    extra: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class ContainerContext:
    pod: dict
    container: dict
    restart_count: int
    init: bool


Resolver = Callable[["SimCluster", ContainerContext], Behavior | None]


class BehaviorResolver:
    """The first resolver that answers decides; the catalog/command model answers last."""

    def __init__(self) -> None:
        self.resolvers: list[Resolver] = []

    def add(self, resolver: Resolver) -> None:
        self.resolvers.insert(0, resolver)

    def remove(self, resolver: Resolver) -> None:
        if resolver in self.resolvers:
            self.resolvers.remove(resolver)

    def resolve(self, cluster: SimCluster, ctx: ContainerContext) -> Behavior:
        for resolver in self.resolvers:
            b = resolver(cluster, ctx)
            if b is not None:
                return b
        from cluster.sim.runtime.commands import default_behavior

        return default_behavior(cluster, ctx)
