"""How a simulated cluster is built: one pydantic model, passed in explicitly."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field


class NodeSpec(BaseModel):
    name: str
    control_plane: bool = False
    cpu: str = "8"
    memory: str = "32Gi"
    pods: int = 110
    labels: dict[str, str] = Field(default_factory=dict)


def _default_nodes() -> list[NodeSpec]:
    # kind's shape, which AIOpsLab runs on: a tainted control plane and workers.
    return [NodeSpec(name="kind-control-plane", control_plane=True),
            NodeSpec(name="kind-worker"), NodeSpec(name="kind-worker2")]


class SimConfig(BaseModel):
    seed: int = 0
    nodes: list[NodeSpec] = Field(default_factory=_default_nodes)
    realtime: bool = Field(False, description="follow the wall clock (aoi sim up) instead of advance() calls")
    speed: float = Field(1.0, gt=0, description="simulated seconds per wall second in real-time mode")
    token: str = Field(default_factory=lambda: secrets.token_urlsafe(24))
    system_pods: bool = Field(True, description="run kube-system's pods (coredns, kube-proxy, ...) as kind does")
    epoch: datetime | None = Field(None, description="simulated time zero; default: a fixed instant (manual clock) "
                                   "or the wall clock at start (real time), so kubectl's client-side ages make sense")
    kubernetes_version: str = "v1.32.2"
    max_settle_steps: int = 2_000_000


def wall_epoch(warmup: float = 0.0) -> datetime:
    """An epoch that puts simulated "now" at the wall clock after ``warmup`` simulated seconds: kubectl computes
    some ages client-side (describe's events), which then read true."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=warmup)
