"""Application-level state that is not a Kubernetes object: what lives inside the databases and processes.

MongoDB users and roles live on the database's volume (they survive pod restarts, and a namespace deletion
when the PersistentVolume is retained); TLS mode is what mongod was started with; flagd's flags are what the
flagd process loaded at start; chaos effects are what Chaos Mesh is currently doing to which pod.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MongoData:
    """The ``admin`` database of one MongoDB data directory: users and their roles."""

    users: dict[str, dict] = field(default_factory=dict)  # user -> {"pwd": str, "roles": [(role, db)]}
    initialized: bool = False

    def has_role(self, user: str, role: str, db: str) -> bool:
        u = self.users.get(user)
        return bool(u) and [role, db] in [list(r) for r in u["roles"]]


@dataclass
class ChaosEffect:
    kind: str  # "pod-failure" | "network-loss" | "network-delay"
    pod_uid: str
    until: float
    loss: float = 0.0
    delay_ms: float = 0.0
    source: str = ""  # namespace/name of the chaos object


@dataclass
class AppState:
    # data directory key ("pv:<name>" or "<ns>/<component>/<pod uid>") -> data
    mongo: dict[str, MongoData] = field(default_factory=dict)
    # (namespace, component) -> TLS mode mongod runs with ("disabled" | "allowTLS" | "preferTLS" | "requireTLS")
    mongo_tls: dict[tuple[str, str], str] = field(default_factory=dict)
    # namespace -> {flag: effective variant value}, as the running flagd loaded them
    flags: dict[str, dict[str, object]] = field(default_factory=dict)
    chaos: list[ChaosEffect] = field(default_factory=list)

    def chaos_on(self, pod_uid: str, now: float) -> list[ChaosEffect]:
        return [e for e in self.chaos if e.pod_uid == pod_uid and e.until > now]
