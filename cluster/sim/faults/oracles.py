"""Mitigation oracles: how AIOpsLab decides, from the cluster's state, that a fault was mitigated.

Each oracle reads only the Kubernetes API (what ``kubectl get`` shows), never the fault's internals, so a
repair counts exactly when it changed the state the way a real repair would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster
    from cluster.sim.faults.families import Fault


@dataclass(frozen=True)
class Verdict:
    success: bool
    reasons: tuple[str, ...] = ()


def pod_health(c: SimCluster, namespace: str, skip_unstarted: bool = False) -> list[str]:
    """AIOpsLab's PH check over every pod of a namespace; returns what is wrong (empty = healthy)."""
    problems = []
    for pod in c.store.list("pods", namespace):
        name = pod["metadata"]["name"]
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        if not statuses:
            if not skip_unstarted:
                problems.append(f"pod {name} has no running containers ({(pod.get('status') or {}).get('phase')})")
            continue
        for cs in statuses:
            state = cs.get("state") or {}
            if (state.get("waiting") or {}).get("reason") == "CrashLoopBackOff":
                problems.append(f"container {cs['name']} of {name} is in CrashLoopBackOff")
            elif "terminated" in state and state["terminated"].get("reason") != "Completed":
                problems.append(f"container {cs['name']} of {name} terminated: {state['terminated'].get('reason')}")
            elif not cs.get("ready"):
                problems.append(f"container {cs['name']} of {name} is not ready")
    return problems


def _ph(c: SimCluster, f: Fault) -> Verdict:
    p = pod_health(c, f.namespace)
    return Verdict(not p, tuple(p))


def _ph_skip(c: SimCluster, f: Fault) -> Verdict:
    """AIOpsLab's kafka oracle is pod health alone, which the flag never breaks; like the fork that fixed it, we
    also require the flag to be off in flagd-config and flagd to be running again (see docs/architecture.md)."""
    reasons = list(pod_health(c, f.namespace, skip_unstarted=True))
    flag = f.params.get("flag")
    if flag:
        import json

        cm = c.store.get("configmaps", f.namespace, "flagd-config")
        try:
            variant = json.loads(((cm or {}).get("data") or {}).get("demo.flagd.json", "{}"))["flags"][flag][
                "defaultVariant"]
        except (KeyError, ValueError, TypeError):
            variant = None
        if variant != "off":
            reasons.insert(0, f"flag {flag} is {variant!r} in flagd-config, not 'off'")
        d = c.store.get("deployments.apps", f.namespace, "flagd")
        if not d or (d.get("status") or {}).get("availableReplicas", 0) < 1:
            reasons.insert(0, "flagd is not available")
    return Verdict(not reasons, tuple(reasons))


def _port(c: SimCluster, f: Fault) -> Verdict:
    svc = c.store.get("services", f.namespace, f.target)
    reasons = list(pod_health(c, f.namespace, skip_unstarted=True))
    tp = ((svc or {}).get("spec", {}).get("ports") or [{}])[0].get("targetPort")
    if tp != 9090:
        reasons.insert(0, f"service {f.target} targets port {tp}, not 9090")
    return Verdict(not reasons, tuple(reasons))


def _ready(c: SimCluster, f: Fault) -> Verdict:
    """wait_for_ready: every pod Ready or Succeeded, polled every 5 s for up to 60 s (simulated)."""
    reasons: list[str] = []
    for i in range(13):
        reasons = []
        for pod in c.store.list("pods", f.namespace):
            st = pod.get("status") or {}
            ready = any(x.get("type") == "Ready" and x.get("status") == "True" for x in st.get("conditions") or [])
            if not ready and st.get("phase") != "Succeeded":
                reasons.append(f"pod {pod['metadata']['name']} is not ready")
        if not reasons or i == 12:
            break
        c.advance(5)
    return Verdict(not reasons, tuple(reasons))


def _scale(c: SimCluster, f: Fault) -> Verdict:
    d = c.store.get("deployments.apps", f.namespace, f.target)
    reasons = list(pod_health(c, f.namespace))
    if d is None:
        reasons.insert(0, f"deployment {f.target} does not exist")
    else:
        if d["spec"].get("replicas") != 1:
            reasons.insert(0, f"deployment {f.target} wants {d['spec'].get('replicas')} replicas, not 1")
        if (d.get("status") or {}).get("availableReplicas", 0) != 1:
            reasons.insert(
                0,
                f"deployment {f.target} has {(d.get('status') or {}).get('availableReplicas', 0)} "
                "available replicas, not 1",
            )
    return Verdict(not reasons, tuple(reasons))


def _node(c: SimCluster, f: Fault) -> Verdict:
    """AIOpsLab's M-node skips pods without container statuses, so a pod left Pending on the missing node passes
    unrepaired; we also require a pod of the target to be scheduled and ready (see docs/architecture.md)."""
    reasons = list(pod_health(c, f.namespace, skip_unstarted=True))
    pods = [p for p in c.store.list("pods", f.namespace) if f.target in p["metadata"]["name"]]
    if not pods:
        reasons.insert(0, f"no pod of {f.target} exists")
    elif not any(
        p["spec"].get("nodeName")
        and any(
            x.get("type") == "Ready" and x.get("status") == "True"
            for x in (p.get("status") or {}).get("conditions") or []
        )
        for p in pods
    ):
        reasons.insert(0, f"no pod of {f.target} is scheduled and ready")
    return Verdict(not reasons, tuple(reasons))


def _bin(c: SimCluster, f: Fault) -> Verdict:
    reasons = []
    for pod in c.store.list("pods", f.namespace):
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            state = cs.get("state") or {}
            waiting = (state.get("waiting") or {}).get("reason")
            if waiting in ("CrashLoopBackOff", "Error", "ImagePullBackOff", "ErrImagePull"):
                reasons.append(f"container {cs['name']} of {pod['metadata']['name']} is waiting: {waiting}")
            elif "terminated" in state and state["terminated"].get("reason") != "Completed":
                reasons.append(f"container {cs['name']} of {pod['metadata']['name']} terminated")
            elif not cs.get("ready"):
                reasons.append(f"container {cs['name']} of {pod['metadata']['name']} is not ready")
    d = c.store.get("deployments.apps", f.namespace, f.target)
    for ctr in (d or {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []:
        if f.target not in " ".join(ctr.get("command") or []):
            reasons.insert(0, f"container {ctr['name']} of deployment {f.target} runs {ctr.get('command')}")
    return Verdict(not reasons, tuple(reasons))


ORACLES: dict[str, Callable[[SimCluster, Fault], Verdict]] = {
    "M-ph": _ph,
    "M-ph'": _ph_skip,
    "M-port": _port,
    "M-ready": _ready,
    "M-scale": _scale,
    "M-node": _node,
    "M-bin": _bin,
}


def mitigated(c: SimCluster, f: Fault) -> Verdict:
    oracle = f.spec.oracle
    if oracle is None:
        raise ValueError(f"AIOpsLab grades no mitigation for {f.family}")
    with c.lock:
        return ORACLES[oracle](c, f)
