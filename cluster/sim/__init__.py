"""A simulated Kubernetes cluster that serves the real Kubernetes REST API (see docs/architecture.md)."""

from cluster.sim.cluster import SimCluster
from cluster.sim.config import NodeSpec, SimConfig

__all__ = ["NodeSpec", "SimCluster", "SimConfig"]
