"""Chaos Mesh 2.6 inside the simulator: its CRDs, its pods in ``chaos-mesh`` and a controller that injects faults.

AIOpsLab injects faults by creating ``chaos-mesh.org/v1alpha1`` objects (PodChaos, NetworkChaos) in the
application's namespace. The controller here does what Chaos Mesh's controller-manager and chaos-daemon do, in
state the rest of the simulator already models, so symptoms come out of the usual physics:

* ``pod-failure``: the selected pods' containers get the pause image (the kubelet restarts them into a process
  that serves nothing); the original images are kept in pod annotations and put back on recovery;
* ``pod-kill``: the selected pods are deleted (their controllers replace them);
* ``container-kill``: the named containers are killed once (exit 137) and restarted by the kubelet;
* NetworkChaos ``loss``/``delay``/``partition``/``netem``: a ``ChaosEffect`` on the pod in the applications'
  state, which the health model turns into timeouts and latency for its callers.

The lifecycle follows Chaos Mesh 2.x: a finalizer ``chaos-mesh/records``; targets selected once into
``status.experiment.containerRecords``; ``desiredPhase`` Run until the duration (counted from creation) has
passed, or the object is paused (annotation ``experiment.chaos-mesh.org/pause: "true"``) or deleted; then every
record is recovered and the finalizer goes. StressChaos and IOChaos objects go through the same lifecycle but
have no modelled effect.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cluster.sim.apps.health import PAUSE_IMAGE
from cluster.sim.apps.runtime import Apps
from cluster.sim.apps.state import ChaosEffect
from cluster.sim.controllers.base import Controller
from cluster.sim.selectors import LabelSelector, SelectorError
from cluster.sim.store import clone

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster
    from cluster.sim.controllers.kubelet import KubeletController

GROUP, VERSION = "chaos-mesh.org", "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
NAMESPACE = "chaos-mesh"
CHART_VERSION = "2.6.2"
FINALIZER = "chaos-mesh/records"
PAUSE_ANNOTATION = "experiment.chaos-mesh.org/pause"
INJECTED, NOT_INJECTED = "Injected", "Not Injected"
RETRY_SECONDS = 10.0  # a target that is not there yet (no pod selected, pod gone) is tried again this often


@dataclass(frozen=True)
class ChaosKind:
    kind: str
    plural: str
    columns: tuple[str, ...]  # additionalPrinterColumns, each ``.spec.<name>``, as the chart's CRDs have them
    container_level: bool = False  # records name containers (``ns/pod/container``), not pods

    @property
    def storage_key(self) -> str:
        return f"{self.plural}.{GROUP}"


KINDS: tuple[ChaosKind, ...] = (
    ChaosKind("PodChaos", "podchaos", ("action", "duration")),
    ChaosKind("NetworkChaos", "networkchaos", ("action", "duration")),
    ChaosKind("StressChaos", "stresschaos", ("duration",), container_level=True),
    ChaosKind("IOChaos", "iochaos", ("action", "duration"), container_level=True),
)


# ------------------------------------------------------------------------------------------------ install
def crd(kind: ChaosKind) -> dict:
    """The CustomResourceDefinition the Helm chart ships (schemas left open: the simulator does not prune)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{GROUP}",
                     "annotations": {"controller-gen.kubebuilder.io/version": "v0.8.0"}},
        "spec": {
            "group": GROUP, "scope": "Namespaced",
            "names": {"kind": kind.kind, "listKind": f"{kind.kind}List", "plural": kind.plural,
                      "singular": kind.plural},
            "versions": [{
                "name": VERSION, "served": True, "storage": True,
                "additionalPrinterColumns": [{"jsonPath": f".spec.{col}", "name": col, "type": "string"}
                                             for col in kind.columns],
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                "subresources": {},  # no status subresource: Chaos Mesh writes status with the object
            }],
        },
    }


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "chaos-mesh", "app.kubernetes.io/instance": "chaos-mesh",
            "app.kubernetes.io/component": component, "app.kubernetes.io/part-of": "chaos-mesh",
            "app.kubernetes.io/version": CHART_VERSION, "app.kubernetes.io/managed-by": "Helm",
            "helm.sh/chart": f"chaos-mesh-{CHART_VERSION}"}


def _selector(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "chaos-mesh", "app.kubernetes.io/instance": "chaos-mesh",
            "app.kubernetes.io/component": component}


def _meta(name: str, component: str) -> dict:
    return {"name": name, "namespace": NAMESPACE, "labels": _labels(component),
            "annotations": {"meta.helm.sh/release-name": "chaos-mesh", "meta.helm.sh/release-namespace": NAMESPACE}}


def _pod_template(component: str, sa: str, container: dict, **spec: object) -> dict:
    return {"metadata": {"labels": {**_selector(component), "app.kubernetes.io/part-of": "chaos-mesh",
                                    "app.kubernetes.io/version": CHART_VERSION}},
            "spec": {"serviceAccountName": sa, "containers": [container], **spec}}


def manifests() -> list[tuple[str, dict]]:
    """(storage key, object) of what ``helm install chaos-mesh chaos-mesh/chaos-mesh --version 2.6.2`` creates
    that matters here, in apply order (CRDs first)."""
    tag = f"v{CHART_VERSION}"
    out: list[tuple[str, dict]] = [("customresourcedefinitions.apiextensions.k8s.io", crd(k)) for k in KINDS]
    out.append(("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}))
    for sa, component in (("chaos-controller-manager", "controller-manager"), ("chaos-daemon", "chaos-daemon"),
                          ("chaos-dashboard", "chaos-dashboard")):
        out.append(("serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                        "metadata": _meta(sa, component)}))
    manager = {"name": "chaos-mesh", "image": f"ghcr.io/chaos-mesh/chaos-mesh:{tag}",
               "imagePullPolicy": "IfNotPresent", "command": ["/usr/local/bin/chaos-controller-manager"],
               "env": [{"name": "TEMPLATE_NAMESPACE", "value": NAMESPACE}, {"name": "ALLOW_HOST_NETWORK_TESTING",
                                                                            "value": "false"},
                       {"name": "TARGET_NAMESPACE", "value": NAMESPACE}, {"name": "CLUSTER_SCOPED", "value": "true"},
                       {"name": "ENABLE_FILTER_NAMESPACE", "value": "false"}],
               "ports": [{"name": "webhook", "containerPort": 9443}, {"name": "http", "containerPort": 10080},
                         {"name": "pprof", "containerPort": 10081}, {"name": "ctrlserver", "containerPort": 10082}],
               "resources": {"requests": {"cpu": "25m", "memory": "256Mi"}}}
    out.append(("deployments.apps", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta("chaos-controller-manager",
                                                                          "controller-manager"),
        "spec": {"replicas": 3, "selector": {"matchLabels": _selector("controller-manager")},
                 "template": _pod_template("controller-manager", "chaos-controller-manager", manager)}}))
    daemon = {"name": "chaos-daemon", "image": f"ghcr.io/chaos-mesh/chaos-daemon:{tag}",
              "imagePullPolicy": "IfNotPresent",
              "command": ["/usr/local/bin/chaos-daemon", "--runtime", "containerd", "--http-port", "31766",
                          "--grpc-port", "31767", "--pprof"],
              "env": [{"name": "CONTAINERD_SOCKET", "value": "/run/containerd/containerd.sock"}],
              "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_PTRACE"]}},
              "ports": [{"name": "grpc", "containerPort": 31767}, {"name": "http", "containerPort": 31766}]}
    out.append(("daemonsets.apps", {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": _meta("chaos-daemon", "chaos-daemon"),
        "spec": {"selector": {"matchLabels": _selector("chaos-daemon")},
                 "template": _pod_template("chaos-daemon", "chaos-daemon", daemon, hostPID=True)}}))
    dashboard = {"name": "chaos-dashboard", "image": f"ghcr.io/chaos-mesh/chaos-dashboard:{tag}",
                 "imagePullPolicy": "IfNotPresent", "command": ["/usr/local/bin/chaos-dashboard"],
                 "ports": [{"name": "http", "containerPort": 2333}],
                 "resources": {"requests": {"cpu": "25m", "memory": "256Mi"}}}
    out.append(("deployments.apps", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta("chaos-dashboard", "chaos-dashboard"),
        "spec": {"replicas": 1, "selector": {"matchLabels": _selector("chaos-dashboard")},
                 "template": _pod_template("chaos-dashboard", "chaos-dashboard", dashboard)}}))
    for name, component, spec in (
            ("chaos-mesh-controller-manager", "controller-manager",
             {"ports": [{"name": "webhook", "port": 443, "targetPort": 9443, "protocol": "TCP"},
                        {"name": "http", "port": 10080, "targetPort": 10080, "protocol": "TCP"}]}),
            ("chaos-daemon", "chaos-daemon",
             {"clusterIP": "None", "ports": [{"name": "grpc", "port": 31767, "targetPort": 31767, "protocol": "TCP"},
                                             {"name": "http", "port": 31766, "targetPort": 31766,
                                              "protocol": "TCP"}]}),
            ("chaos-dashboard", "chaos-dashboard",
             {"type": "NodePort", "ports": [{"name": "http", "port": 2333, "targetPort": 2333, "protocol": "TCP"}]})):
        out.append(("services", {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, component),
                                 "spec": {"selector": _selector(component), **spec}}))
    return out


def install_chaos_mesh(cluster: SimCluster) -> None:
    """Install Chaos Mesh (CRDs, namespace, controller-manager, daemon, dashboard) and start its controllers.
    Idempotent: objects that exist are kept, controllers are registered once."""
    Apps.of(cluster)  # the image catalog entries for Chaos Mesh's images, and the state its effects go into
    with cluster.lock:
        for resource, obj in manifests():
            ns = obj["metadata"].get("namespace", "")
            if cluster.store.get(resource, ns, obj["metadata"]["name"]) is None:
                cluster.api.system_create(resource, obj)
        for kind in KINDS:
            _register(cluster, ChaosController(cluster, kind))
        cluster.settle()


def _register(cluster: SimCluster, ctl: Controller) -> None:
    # Controllers are normally built with the cluster; Chaos Mesh is an add-on, so it joins at install time.
    if ctl.name in cluster.controllers:
        return
    cluster.controllers[ctl.name] = ctl
    for resource in ctl.watches:
        cluster._watchers.setdefault(resource, []).append(ctl)
    # Objects that exist already (a restored cluster) are reconciled, as a starting controller lists first.
    for obj in cluster.store.list(ctl.primary):
        cluster.enqueue(ctl.key(obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))


# ------------------------------------------------------------------------------------------------ helpers
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go duration string ("100s", "1m30s", "300ms") -> seconds."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    if s == "0":
        return 0.0
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * total


def image_annotation(chaos_name: str, action: str, container: str) -> str:
    """The pod annotation Chaos Mesh keeps a container's original image under during pod-failure."""
    key = f"chaos-mesh-{chaos_name}-{action}-{container}-normal-image"
    return key if len(key) <= 63 else f"{container}-normal"  # an annotation name is at most 63 characters


def _percent(value: str, total: int) -> int:
    try:
        pct = int(value)
    except ValueError:
        return 0
    return total * max(0, min(pct, 100)) // 100


# ------------------------------------------------------------------------------------------------ controller
class ChaosController(Controller):
    """One Chaos Mesh kind: select targets, inject, recover at the end of the duration, on pause or on delete."""

    def __init__(self, cluster: SimCluster, kind: ChaosKind):
        super().__init__(cluster)
        self.kind = kind
        self.name = f"chaos-mesh/{kind.plural}"
        self.primary = kind.storage_key
        self.watches = (kind.storage_key,)

    def reconcile(self, namespace: str, name: str) -> None:
        c = self.c
        obj = c.store.get(self.primary, namespace, name)
        if obj is None:
            self._drop_effects(namespace, name)  # gone without recovery (a finalizer removed by hand)
            return
        new = clone(obj)
        meta = new["metadata"]
        now = c.clock.now
        deleting = bool(meta.get("deletionTimestamp"))
        paused = (meta.get("annotations") or {}).get(PAUSE_ANNOTATION) == "true"
        finalizers = list(meta.get("finalizers") or [])
        if not deleting and FINALIZER not in finalizers:
            finalizers.append(FINALIZER)
            meta["finalizers"] = finalizers
            c.record(obj, "Normal", "FinalizerInited", "Finalizer has been inited", "initFinalizers")
        spec = new.get("spec") or {}
        end = self._end(new)
        expired = end is not None and now >= end - 1e-6  # the timer lands on ``end`` up to float rounding
        desired = "Stop" if deleting or paused or expired else "Run"
        status = new.get("status") or {}
        new["status"] = status
        exp = status.get("experiment") or {}
        status["experiment"] = exp
        before = exp.get("desiredPhase")
        records: list[dict] | None = exp.get("containerRecords")
        if desired == "Run":
            if before != "Run":
                c.record(obj, "Normal", "Started", "Experiment has started", "desiredphase")
                if end is not None:
                    c.after(end - now, self.key(namespace, name))  # the duration's end: one timer per start
            if not records:
                records = [{"id": rid, "selectorKey": ".", "phase": NOT_INJECTED, "injectedCount": 0,
                            "recoveredCount": 0} for rid in self._select(new)]
            pending = not records
            for rec in records:
                if rec["phase"] == INJECTED:
                    continue
                if self._apply(new, spec, rec, end):
                    self._mark(obj, rec, INJECTED, "Apply")
                else:
                    pending = True
            if pending:
                c.after(RETRY_SECONDS, self.key(namespace, name))
        else:
            if before == "Run" and not deleting:
                if paused:
                    c.record(obj, "Normal", "Paused", "Experiment has been paused", "desiredphase")
                else:
                    c.record(obj, "Normal", "TimeUp", "Time up according to the duration", "desiredphase")
            for rec in records or []:
                if rec["phase"] == INJECTED:
                    self._recover(new, spec, rec)
                    self._mark(obj, rec, NOT_INJECTED, "Recover")
            self._drop_effects(namespace, name)
        exp["desiredPhase"] = desired
        if records:
            exp["containerRecords"] = records
        status["conditions"] = _conditions(records or [], paused)
        if deleting and all(r["phase"] != INJECTED for r in records or []):
            # Everything is recovered: release the object (the API server removes it with its last finalizer).
            rest = [f for f in finalizers if f != FINALIZER]
            if rest:
                meta["finalizers"] = rest
            else:
                meta.pop("finalizers", None)
        c.api.system_update(self.primary, new)

    # ---------------------------------------------------------------------------------------- lifecycle
    def _end(self, obj: dict) -> float | None:
        text = (obj.get("spec") or {}).get("duration")
        if not text:
            return None
        try:
            duration = parse_duration(str(text))
        except ValueError:
            return None  # Chaos Mesh's webhook would have refused it; run until deleted
        return self.c.clock.parse(obj["metadata"]["creationTimestamp"]) + duration

    def _mark(self, obj: dict, rec: dict, phase: str, operation: str) -> None:
        c = self.c
        rec["phase"] = phase
        counter = "injectedCount" if operation == "Apply" else "recoveredCount"
        rec[counter] = rec.get(counter, 0) + 1
        rec.setdefault("events", []).append({"type": "Succeeded", "operation": operation,
                                             "timestamp": c.clock.rfc3339()})
        verb = "apply" if operation == "Apply" else "recover"
        c.record(obj, "Normal", "Applied" if operation == "Apply" else "Recovered",
                 f"Successfully {verb} chaos for {rec['id']}", "records")

    # ---------------------------------------------------------------------------------------- selection
    def _select(self, obj: dict) -> list[str]:
        """Record ids of the targets, in a stable order (Chaos Mesh's random choices become "first by name")."""
        c = self.c
        spec = obj.get("spec") or {}
        sel = spec.get("selector") or {}
        try:
            labels = LabelSelector.from_object({"matchLabels": sel.get("labelSelectors") or {},
                                                "matchExpressions": sel.get("expressionSelectors") or []})
        except SelectorError:
            return []
        annotations = sel.get("annotationSelectors") or {}
        phases = sel.get("podPhaseSelectors") or []
        nodes = sel.get("nodes") or []
        named = sel.get("pods") or {}
        if named:
            pods = [p for ns, names in sorted(named.items()) for n in sorted(names)
                    if (p := c.store.get("pods", ns, n)) is not None]
        else:
            # Without namespaces, Chaos Mesh's defaulting webhook puts in the object's own namespace.
            namespaces = sel.get("namespaces") or [obj["metadata"]["namespace"]]
            pods = [p for ns in sorted(set(namespaces)) for p in c.store.list("pods", ns)]
        chosen = []
        for pod in pods:
            meta = pod["metadata"]
            if meta.get("deletionTimestamp") or not labels.matches(meta.get("labels") or {}):
                continue
            if any((meta.get("annotations") or {}).get(k) != v for k, v in annotations.items()):
                continue
            if phases and (pod.get("status") or {}).get("phase") not in phases:
                continue
            if nodes and pod["spec"].get("nodeName") not in nodes:
                continue
            chosen.append(pod)
        chosen.sort(key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"]))
        mode, value = spec.get("mode", "one"), str(spec.get("value") or "0")
        if mode == "one":
            chosen = chosen[:1]
        elif mode == "fixed":
            chosen = chosen[:int(value) if value.isdigit() else 0]
        elif mode in ("fixed-percent", "random-max-percent"):
            chosen = chosen[:_percent(value, len(chosen))]
        ids = []
        container_level = self.kind.container_level or spec.get("action") == "container-kill"
        wanted = spec.get("containerNames") or []
        for pod in chosen:
            pid = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
            if not container_level:
                ids.append(pid)
                continue
            for ctr in pod["spec"].get("containers") or []:
                if not wanted or ctr["name"] in wanted:
                    ids.append(f"{pid}/{ctr['name']}")
        return ids

    # ---------------------------------------------------------------------------------------- effects
    def _apply(self, obj: dict, spec: dict, rec: dict, end: float | None) -> bool:
        """Inject into one target; False when it is not there (tried again later)."""
        c = self.c
        ns, pod_name, *rest = rec["id"].split("/")
        pod = c.store.get("pods", ns, pod_name)
        if pod is None:
            return False
        action = spec.get("action", "")
        if self.kind.kind == "PodChaos":
            if action == "pod-failure":
                self._swap_images(obj, pod, inject=True)
            elif action == "pod-kill":
                c.api.system_delete("pods", ns, pod_name, grace_seconds=int(spec.get("gracePeriod") or 0))
            elif action == "container-kill":
                kubelet: KubeletController = c.controllers["kubelet"]  # type: ignore[assignment]
                return kubelet.kill_container(pod, rest[0] if rest else "")
            return True
        if self.kind.kind == "NetworkChaos":
            loss, delay_ms = _netem(spec)
            until = end if end is not None else math.inf
            source = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            state = Apps.of(c).state
            uid = pod["metadata"]["uid"]
            if loss:
                state.chaos.append(ChaosEffect(kind="network-loss", pod_uid=uid, until=until, loss=loss,
                                               source=source))
            if delay_ms:
                state.chaos.append(ChaosEffect(kind="network-delay", pod_uid=uid, until=until, delay_ms=delay_ms,
                                               source=source))
        return True

    def _recover(self, obj: dict, spec: dict, rec: dict) -> None:
        ns, pod_name, *_ = rec["id"].split("/")
        pod = self.c.store.get("pods", ns, pod_name)
        if pod is not None and self.kind.kind == "PodChaos" and spec.get("action") == "pod-failure":
            self._swap_images(obj, pod, inject=False)
        # Network effects are dropped per object (every record recovers at once); kills need no recovery.

    def _swap_images(self, obj: dict, pod: dict, inject: bool) -> None:
        """pod-failure: pause image in, original out (kept in an annotation), and back. Init containers are left
        alone: the simulated kubelet would re-run a finished init container whose image changed."""
        new = clone(pod)
        annotations = dict(new["metadata"].get("annotations") or {})
        action = (obj.get("spec") or {}).get("action", "")
        for ctr in new["spec"].get("containers") or []:
            key = image_annotation(obj["metadata"]["name"], action, ctr["name"])
            if inject and ctr.get("image") != PAUSE_IMAGE:
                annotations[key] = ctr.get("image", "")
                ctr["image"] = PAUSE_IMAGE
            elif not inject and key in annotations:
                ctr["image"] = annotations.pop(key)
        if annotations:
            new["metadata"]["annotations"] = annotations
        else:
            new["metadata"].pop("annotations", None)
        self.c.api.system_update("pods", new)

    def _drop_effects(self, namespace: str, name: str) -> None:
        if self.kind.kind != "NetworkChaos":
            return
        apps = getattr(self.c, "apps", None)
        if apps is None:
            return
        source = f"{namespace}/{name}"
        apps.state.chaos = [e for e in apps.state.chaos if e.source != source]


def _netem(spec: dict) -> tuple[float, float]:
    """(loss probability, added delay in ms) of a NetworkChaos spec."""
    action = spec.get("action", "")
    loss = delay = 0.0
    if action == "partition":
        return 1.0, 0.0
    if action in ("loss", "netem") and spec.get("loss"):
        try:
            loss = min(max(float(spec["loss"].get("loss", "0")) / 100.0, 0.0), 1.0)
        except (TypeError, ValueError):
            loss = 0.0
    if action in ("delay", "netem") and spec.get("delay"):
        try:
            delay = parse_duration(str(spec["delay"].get("latency", "0"))) * 1000.0
        except ValueError:
            delay = 0.0
    return loss, delay


def _conditions(records: list[dict], paused: bool) -> list[dict]:
    selected = bool(records)
    injected = selected and all(r["phase"] == INJECTED for r in records)
    recovered = selected and all(r["phase"] == NOT_INJECTED for r in records)

    def cond(type_: str, ok: bool) -> dict:
        return {"type": type_, "status": "True" if ok else "False", "reason": ""}

    return [cond("Paused", paused), cond("Selected", selected), cond("AllInjected", injected),
            cond("AllRecovered", recovered)]


__all__ = ["KINDS", "ChaosController", "ChaosKind", "install_chaos_mesh", "manifests", "parse_duration"]
