"""The application model, as data: components, ports, call graph, datastores, credentials, request mix.

An ``AppModel`` is everything the simulator knows about an application: it renders the Kubernetes objects
(``deploy.py``), decides what a container of the app does when it starts (``behavior.py``), computes how
requests fare given the cluster's state (``health.py``), and drives the app's logs, metrics and traces.
The three AIOpsLab applications are instances (``hotel.py``, ``social.py``, ``astronomy.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal[
    "logic",
    "gateway",
    "mongodb",
    "memcached",
    "redis",
    "tracing",
    "discovery",
    "queue",
    "flags",
    "loadgen",
    "cache",
    "collector",
    "frontend",
]


class Port(BaseModel):
    model_config = ConfigDict(frozen=True)
    port: int
    target: int | None = None  # the container port the Service targets; defaults to port
    name: str | None = None
    protocol: Literal["TCP", "UDP"] = "TCP"

    @property
    def target_port(self) -> int:
        return self.target if self.target is not None else self.port


class Component(BaseModel):
    """One Deployment + Service of an application."""

    model_config = ConfigDict(frozen=True)
    name: str
    role: Role
    image: str
    container: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    ports: tuple[Port, ...] = ()
    # Downstream components this one calls for its requests, and the datastores it needs to start.
    calls: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()
    replicas: int = 1
    log_style: str = "generic"
    language: str = "go"
    env: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    # MongoDB: the database this instance serves and the PersistentVolume backing it.
    database: str | None = None
    volume: str | None = None
    config_maps: tuple[tuple[str, str], ...] = ()  # (ConfigMap name, mount path)
    service: bool = True  # has a Service
    base_latency_ms: float = 2.0
    cpu_cores: float = 0.01
    memory_mib: int = 20

    @property
    def container_ports(self) -> tuple[int, ...]:
        return tuple(sorted({p.target_port for p in self.ports}))


class Call(BaseModel):
    """A node of a request's call tree: ``service`` handles ``operation`` and then calls its children."""

    model_config = ConfigDict(frozen=True)
    service: str
    operation: str
    children: tuple[Call, ...] = ()


class RequestType(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    weight: float
    root: Call


class MongoUser(BaseModel):
    user: str
    password: str
    roles: list[tuple[str, str]]  # (role, db)


class AppModel(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str  # e.g. "hotel-reservation"
    title: str
    namespace: str
    label_key: str  # the label that selects a component's pods: io.kompose.service, app, app.kubernetes.io/name
    description: str
    components: tuple[Component, ...]
    requests: tuple[RequestType, ...]
    entry: str  # the component that receives user traffic
    request_rate: float = 10.0  # requests per second at the entry point (AIOpsLab's wrk2 rate)
    mongo_users: tuple[MongoUser, ...] = ()  # created by the init scripts in every MongoDB of the app
    config_maps: dict[str, dict[str, str]] = Field(default_factory=dict)
    pod_labels: Literal["kompose", "app", "otel"] = "app"
    helm_release: str | None = None

    def component(self, name: str) -> Component:
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no component {name!r}")

    def has(self, name: str) -> bool:
        return any(c.name == name for c in self.components)

    def callers_of(self, name: str) -> list[str]:
        return [c.name for c in self.components if name in c.calls or name in c.stores]


Call.model_rebuild()
