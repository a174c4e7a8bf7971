"""Bring a simulated cluster up with a problem: deploy its application, warm up, inject, let symptoms develop."""

from __future__ import annotations

from dataclasses import dataclass

from cluster.sim.apps import APPS
from cluster.sim.apps.deploy import deploy
from cluster.sim.cluster import SimCluster
from cluster.sim.faults.families import Fault
from cluster.sim.faults.problems import Problem

WARMUP_SECONDS = 120.0  # the app runs healthy this long, so telemetry has a baseline before the fault
SYMPTOM_SECONDS = 60.0  # and this long after the injection, so the fault shows before the agent looks


@dataclass(frozen=True)
class Incident:
    problem: Problem
    fault: Fault
    injected_at: float  # simulated seconds


def bring_up(
    cluster: SimCluster, problem: Problem, warmup: float = WARMUP_SECONDS, after: float = SYMPTOM_SECONDS
) -> Incident:
    deploy(cluster, APPS[problem.app])
    cluster.advance(warmup)
    fault = problem.fault
    at = cluster.clock.now
    fault.inject(cluster)
    cluster.advance(after)
    return Incident(problem=problem, fault=fault, injected_at=at)
