"""The default scheduler: filters (node readiness, unschedulable, taints, node selector and affinity,
resources, pod count, volume binding) then least-allocated scoring, with the scheduler's messages."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

from cluster.sim.controllers.base import Controller, condition
from cluster.sim.quantity import QuantityError, cpu_millis, memory_bytes
from cluster.sim.selectors import SelectorError
from cluster.sim.store import WatchEvent, clone

RETRY_SECONDS = 60.0  # unschedulable pods are retried at least this often, and on any cluster change

# Quantity strings repeat (every node's allocatable, every replica's requests) and parsing one is costly;
# the scheduler parses them once per pod and node, so memoize the pure string -> number conversions.
_cpu_millis_cached = lru_cache(maxsize=1024)(cpu_millis)
_memory_bytes_cached = lru_cache(maxsize=1024)(memory_bytes)


def _cpu(value) -> int:
    return _cpu_millis_cached(value) if isinstance(value, str) else cpu_millis(value)


def _mem(value) -> int:
    return _memory_bytes_cached(value) if isinstance(value, str) else memory_bytes(value)


def _requests(pod: dict) -> tuple[int, int]:
    cpu = mem = 0
    for ctr in pod["spec"].get("containers") or []:
        req = (ctr.get("resources") or {}).get("requests") or (ctr.get("resources") or {}).get("limits") or {}
        try:
            cpu += _cpu(req["cpu"]) if "cpu" in req else 0
            mem += _mem(req["memory"]) if "memory" in req else 0
        except QuantityError:
            pass
    return cpu, mem


def _tolerates(tolerations: list[dict], taint: dict) -> bool:
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        op = t.get("operator", "Equal")
        if not t.get("key") and op == "Exists":
            return True
        if t.get("key") != taint.get("key"):
            continue
        if op == "Exists" or t.get("value", "") == taint.get("value", ""):
            return True
    return False


def _match_node_selector_term(term: dict, node: dict) -> bool:
    labels = node["metadata"].get("labels") or {}
    for expr in term.get("matchExpressions") or []:
        if not _match_expr(expr, labels.get(expr["key"]), expr["key"] in labels):
            return False
    for expr in term.get("matchFields") or []:
        value = node["metadata"]["name"] if expr.get("key") == "metadata.name" else None
        if not _match_expr(expr, value, value is not None):
            return False
    return bool(term.get("matchExpressions") or term.get("matchFields"))


def _match_expr(expr: dict, value: str | None, present: bool) -> bool:
    op, values = expr.get("operator"), expr.get("values") or []
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and values:
        try:
            return int(value) > int(values[0]) if op == "Gt" else int(value) < int(values[0])  # type: ignore[arg-type]
        except ValueError:
            return False
    return False


def node_matches(pod: dict, node: dict) -> bool:
    """nodeSelector and required node affinity, as the NodeAffinity filter checks them."""
    labels = node["metadata"].get("labels") or {}
    for k, v in (pod["spec"].get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    req = (((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
           .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = req.get("nodeSelectorTerms") or []
    return not terms or any(_match_node_selector_term(t, node) for t in terms)


def node_ready(node: dict) -> bool:
    cond = condition(node, "Ready")
    return bool(cond and cond.get("status") == "True")


class Scheduler(Controller):
    name = "scheduler"
    watches = ("pods", "nodes", "persistentvolumeclaims")

    def __init__(self, cluster):
        super().__init__(cluster)
        # Resources requested on each node by its live pods, kept up to date from pod events.
        self._usage: dict[str, list[int]] = {}
        self._placed: dict[str, tuple[str, int, int]] = {}
        self._pending: set[tuple[str, str]] = set()

    def keys_for(self, event: WatchEvent):
        if event.resource == "pods":
            pod = event.obj
            key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
            self._account(pod, event.type == "DELETED")
            if event.type == "DELETED":
                self._pending.discard(key)
                return [self.key(*k) for k in sorted(self._pending)]  # freed room may fit a pending pod
            node = pod["spec"].get("nodeName")
            if not node and not pod["metadata"].get("deletionTimestamp") and \
                    pod["spec"].get("schedulerName", "default-scheduler") == "default-scheduler":
                self._pending.add(key)
                return (self.key(*key),)
            self._pending.discard(key)
            return ()
        return [self.key(*k) for k in sorted(self._pending)]

    def _account(self, pod: dict, deleted: bool) -> None:
        uid = pod["metadata"]["uid"]
        prev = self._placed.pop(uid, None)
        if prev:
            usage = self._usage[prev[0]]
            usage[0] -= prev[1]
            usage[1] -= prev[2]
            usage[2] -= 1
        node = pod["spec"].get("nodeName")
        if deleted or not node or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        cpu, mem = _requests(pod)
        usage = self._usage.setdefault(node, [0, 0, 0])
        usage[0] += cpu
        usage[1] += mem
        usage[2] += 1
        self._placed[uid] = (node, cpu, mem)

    def reconcile(self, namespace: str, name: str) -> None:
        c = self.c
        pod = c.store.get("pods", namespace, name)
        if pod is None or pod["spec"].get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            self._pending.discard((namespace, name))
            return
        nodes = c.store.list("nodes")
        problem = self._volume_problem(pod)
        reasons: Counter[str] = Counter()
        feasible = []
        if problem is None:
            cpu, mem = _requests(pod)
            for node in nodes:
                reason = self._filter(pod, node, cpu, mem)
                if reason:
                    reasons[reason] += 1
                else:
                    feasible.append(node)
        if feasible:
            best = min(feasible, key=lambda n: (self._score(n), n["metadata"]["name"]))
            self._bind(pod, best)
            return
        n = len(nodes)
        if problem:
            msg = f"0/{n} nodes are available: {problem}. preemption: 0/{n} nodes are available: {n} Preemption is " \
                  "not helpful for scheduling."
        else:
            detail = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
            msg = f"0/{n} nodes are available: {detail}. preemption: 0/{n} nodes are available: {n} Preemption is " \
                  "not helpful for scheduling."
        self._unschedulable(pod, msg)
        c.after(RETRY_SECONDS, self.key(namespace, name))

    def _volume_problem(self, pod: dict) -> str | None:
        for vol in pod["spec"].get("volumes") or []:
            claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
            if not claim:
                continue
            pvc = self.c.store.get("persistentvolumeclaims", pod["metadata"]["namespace"], claim)
            if pvc is None:
                return f'persistentvolumeclaim "{claim}" not found'
            if (pvc.get("status") or {}).get("phase") != "Bound":
                return "pod has unbound immediate PersistentVolumeClaims"
        return None

    def _filter(self, pod: dict, node: dict, cpu: int, mem: int) -> str | None:
        spec = node.get("spec") or {}
        tolerations = pod["spec"].get("tolerations") or []
        if spec.get("unschedulable") and not _tolerates(
                tolerations, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}):
            return "node(s) were unschedulable"
        if not node_ready(node) and not _tolerates(
                tolerations, {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}):
            return "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"
        for taint in spec.get("taints") or []:
            if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(tolerations, taint):
                return f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"
        try:
            if not node_matches(pod, node):
                return "node(s) didn't match Pod's node affinity/selector"
        except SelectorError:
            return "node(s) didn't match Pod's node affinity/selector"
        alloc = (node.get("status") or {}).get("allocatable") or {}
        used = self._usage.get(node["metadata"]["name"], [0, 0, 0])
        try:
            if used[2] + 1 > int(alloc.get("pods", 110)):
                return "Too many pods"
            if cpu and used[0] + cpu > _cpu(alloc.get("cpu", "0")):
                return "Insufficient cpu"
            if mem and used[1] + mem > _mem(alloc.get("memory", "0")):
                return "Insufficient memory"
        except QuantityError:
            return "node(s) had invalid allocatable resources"
        return None

    def _score(self, node: dict) -> tuple:
        alloc = (node.get("status") or {}).get("allocatable") or {}
        used = self._usage.get(node["metadata"]["name"], [0, 0, 0])
        cpu_frac = used[0] / max(_cpu(alloc.get("cpu", "1")), 1)
        mem_frac = used[1] / max(_mem(alloc.get("memory", "1")), 1)
        return (round((cpu_frac + mem_frac) / 2, 6), used[2])

    def _bind(self, pod: dict, node: dict) -> None:
        c = self.c
        new = clone(pod)
        new["spec"]["nodeName"] = node["metadata"]["name"]
        conds = [x for x in (new.get("status") or {}).get("conditions") or [] if x.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": c.clock.rfc3339()})
        new.setdefault("status", {})["conditions"] = conds
        self._pending.discard((pod["metadata"]["namespace"], pod["metadata"]["name"]))
        c.api.system_update("pods", new)
        c.record(pod, "Normal", "Scheduled",
                 f"Successfully assigned {pod['metadata']['namespace']}/{pod['metadata']['name']} to "
                 f"{node['metadata']['name']}", "default-scheduler")

    def _unschedulable(self, pod: dict, message: str) -> None:
        c = self.c
        new = clone(pod)
        status = new.setdefault("status", {"phase": "Pending"})
        prev = condition(pod, "PodScheduled")
        changed = not prev or prev.get("message") != message
        status["conditions"] = [{"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                                 "lastTransitionTime": prev["lastTransitionTime"] if prev and not changed
                                 else c.clock.rfc3339(), "reason": "Unschedulable", "message": message}]
        c.api.system_update("pods", new)
        c.record(pod, "Warning", "FailedScheduling", message, "default-scheduler")

