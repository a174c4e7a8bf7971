"""The AIOpsLab fault families: one row each, with how the real benchmark injects and recovers them.

Injection goes through the simulated cluster's API wherever AIOpsLab goes through Kubernetes (patch, scale,
image, command, nodeSelector, Chaos Mesh objects, the flagd ConfigMap, namespace deletion), and through
the MongoDB pods' own scripts for the application-level faults. Symptoms are never written directly: they
follow from the state by the simulator's physics (``cluster.sim.apps.health``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cluster.sim.apps import APPS
from cluster.sim.apps.deploy import deploy
from cluster.sim.apps.runtime import Apps
from cluster.sim.faults import ops
from cluster.sim.runtime.shell import ExecContext

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster

HOTEL, SOCIAL, ASTRONOMY = "hotel-reservation", "social-network", "astronomy-shop"


@dataclass(frozen=True)
class Fault:
    """One injectable fault: a family applied to a target."""

    family: str
    app: str
    target: str  # the faulty component as AIOpsLab names it ("" for noop, the namespace for redeploy_without_PV)
    params: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def spec(self) -> FamilySpec:
        return FAMILIES[self.family]

    @property
    def namespace(self) -> str:
        return APPS[self.app].namespace

    def inject(self, c: SimCluster) -> None:
        self.spec.inject(c, self)

    def recover(self, c: SimCluster) -> None:
        self.spec.recover(c, self)


Action = Callable[["SimCluster", Fault], None]


@dataclass(frozen=True)
class FamilySpec:
    name: str
    app: str
    layer: str  # Application | Virtualization | Symptom (Chaos Mesh) | Feature flag | None
    system_level: str | None  # the RCA answer, where AIOpsLab grades one
    fault_type: str | None
    oracle: str | None  # mitigation oracle (cluster.sim.faults.oracles)
    inject: Action
    recover: Action
    description: str


# ------------------------------------------------------------------------------------------ virtualization
def _target_port(c: SimCluster, f: Fault, value: int) -> None:
    svc = ops.get(c, "services", f.namespace, f.target)
    if svc is None:
        raise KeyError(f"service {f.target} not found in {f.namespace}")
    idx = next(i for i, p in enumerate(svc["spec"]["ports"]) if p.get("port") == 9090)
    ops.patch(
        c,
        "services",
        f.namespace,
        f.target,
        [{"op": "replace", "path": f"/spec/ports/{idx}/targetPort", "value": value}],
        ops.JSON_PATCH,
    )


def _scale(n: int) -> Action:
    return lambda c, f: ops.scale(c, f.namespace, f.target, n)


def _node_selector(c: SimCluster, f: Fault) -> None:
    def mutate(d: dict) -> None:
        d["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/hostname": "extra-node"}

    ops.recreate_deployment(c, f.namespace, f.target, mutate)


def _no_node_selector(c: SimCluster, f: Fault) -> None:
    ops.patch(
        c,
        "deployments.apps",
        f.namespace,
        f.target,
        {"spec": {"template": {"spec": {"nodeSelector": None}}}},
        ops.MERGE,
    )


def _wrong_bin(c: SimCluster, f: Fault) -> None:
    def mutate(d: dict) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["command"] = ["geo"]

    ops.recreate_deployment(c, f.namespace, f.target, mutate)


def _right_bin(c: SimCluster, f: Fault) -> None:
    ops.set_container(c, f.namespace, f.target, f"hotel-reserv-{f.target}", command=[f.target])


def _redeploy_without_pv(c: SimCluster, f: Fault) -> None:
    """Delete the namespace (its PersistentVolumes are Retained, so they end up Released), wait 15 s, redeploy."""
    ops.delete(c, "namespaces", "", f.namespace)
    for _ in range(120):
        c.advance(1)
        if ops.get(c, "namespaces", "", f.namespace) is None:
            break
    c.advance(15)
    deploy(c, APPS[f.app])


def _clear_claim_refs(c: SimCluster, f: Fault) -> None:
    for pv in c.store.list("persistentvolumes"):
        if (pv.get("status") or {}).get("phase") == "Released":
            ops.patch(c, "persistentvolumes", "", pv["metadata"]["name"], {"spec": {"claimRef": None}}, ops.MERGE)


# ------------------------------------------------------------------------------------------ application
def _mongo_pod(c: SimCluster, f: Fault) -> dict:
    app = APPS[f.app]
    pods = [
        p
        for p in ops.pods_with(c, f.namespace, app.label_key, f.target)
        if (p.get("status") or {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]
    if not pods:
        raise RuntimeError(f"no running {f.target} pod to run the fault script in")
    return pods[0]


def _mongo_script(script: str) -> Action:
    """Run one of the MongoDB pod's /scripts (mounted from failure-admin-<svc>), then delete the dependent
    service's pod so that it reconnects, as AIOpsLab's ApplicationFaultInjector does."""

    def act(c: SimCluster, f: Fault) -> None:
        svc = f.target.removeprefix("mongodb-")
        name = script.format(svc=svc)
        pod = _mongo_pod(c, f)
        run = Apps.of(c).by_namespace[f.namespace]
        comp = run.model.component(f.target)
        ctr = next(x for x in pod["spec"]["containers"] if x["name"] == comp.container)
        # The same path as `kubectl exec <mongodb pod> -- bash /scripts/<name>`.
        with c.lock:
            result = c.shell.run(ExecContext(c, pod, ctr, ["bash", f"/scripts/{name}"]))
        if result.exit_code != 0:
            raise RuntimeError(
                f"/scripts/{name} failed in {pod['metadata']['name']}: {result.stderr.decode(errors='replace').strip()}"
            )
        ops.delete_pods(c, f.namespace, run.model.label_key, svc)

    return act


TLS_ARGS = ["--tlsMode", "requireTLS", "--tlsCertificateKeyFile", "/etc/tls/tls.pem", "--tlsCAFile", "/etc/tls/ca.crt"]


def _require_tls(c: SimCluster, f: Fault) -> None:
    """helm upgrade with url-shorten-mongodb.tls.mode=requireTLS: mongod restarts requiring TLS; the service's
    pods are deleted, and its clients (configured without TLS) can no longer connect."""
    ns = f.namespace
    if ops.get(c, "secrets", ns, "mongodb-tls") is None:
        ops.create(
            c,
            "secrets",
            ns,
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": "mongodb-tls", "namespace": ns},
                "stringData": {
                    "tls.pem": "-----BEGIN PRIVATE KEY-----\n(simulated)\n",
                    "ca.crt": "-----BEGIN CERTIFICATE-----\n(simulated)\n",
                },
            },
        )
    d = ops.get(c, "deployments.apps", ns, f.target)
    assert d is not None
    ctr = d["spec"]["template"]["spec"]["containers"][0]
    args = [a for a in ctr.get("args") or [] if a not in TLS_ARGS] + TLS_ARGS
    ops.patch(
        c,
        "deployments.apps",
        ns,
        f.target,
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": ctr["name"],
                                "args": args,
                                "volumeMounts": [{"name": "tls", "mountPath": "/etc/tls"}],
                            }
                        ],
                        "volumes": [{"name": "tls", "secret": {"secretName": "mongodb-tls"}}],
                    }
                }
            }
        },
    )
    c.advance(5)
    ops.delete_pods(c, ns, "app", "url-shorten-service")


def _disable_tls(c: SimCluster, f: Fault) -> None:
    d = ops.get(c, "deployments.apps", f.namespace, f.target)
    assert d is not None
    ctr = d["spec"]["template"]["spec"]["containers"][0]
    args = [a for i, a in enumerate(ctr.get("args") or []) if a not in TLS_ARGS]
    ops.patch(
        c,
        "deployments.apps",
        f.namespace,
        f.target,
        {"spec": {"template": {"spec": {"containers": [{"name": ctr["name"], "args": args}]}}}},
    )
    ops.delete_pods(c, f.namespace, "app", "url-shorten-service")


def _image(image: str) -> Action:
    return lambda c, f: ops.set_container(c, f.namespace, f.target, f"hotel-reserv-{f.target}", image=image)


# ------------------------------------------------------------------------------------------ Chaos Mesh
CHAOS = {
    "container_kill": (
        "podchaos",
        "container-kill",
        {"action": "container-kill", "duration": "200s", "containerNames": ["hotel-reserv-geo"]},
    ),
    "pod_failure_hotel_res": ("podchaos", "pod-failure-experiment", {"action": "pod-failure", "duration": "100s"}),
    "pod_kill_hotel_res": ("podchaos", "pod-kill", {"action": "pod-failure", "duration": "100s"}),
    "network_loss_hotel_res": (
        "networkchaos",
        "loss",
        {"action": "loss", "duration": "200s", "loss": {"loss": "99", "correlation": "100"}},
    ),
    "network_delay_hotel_res": (
        "networkchaos",
        "delay",
        {"action": "delay", "duration": "200s", "delay": {"latency": "10s", "correlation": "100", "jitter": "0ms"}},
    ),
}
CHAOS_KINDS = {"podchaos": "PodChaos", "networkchaos": "NetworkChaos"}


def _chaos(c: SimCluster, f: Fault) -> None:
    from cluster.sim.chaos import install_chaos_mesh

    install_chaos_mesh(c)
    plural, name, spec = CHAOS[f.family]
    ns = f.namespace
    obj = {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": CHAOS_KINDS[plural],
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            **spec,
            "mode": "one",
            "selector": {"namespaces": [ns], "labelSelectors": {"io.kompose.service": f.target}},
        },
    }
    ops.create(c, f"{plural}.chaos-mesh.org", ns, obj)


def _unchaos(c: SimCluster, f: Fault) -> None:
    plural, name, _ = CHAOS[f.family]
    if c.registry.by_key(f"{plural}.chaos-mesh.org") is not None:
        ops.delete(c, f"{plural}.chaos-mesh.org", f.namespace, name)


# ------------------------------------------------------------------------------------------ flagd
def _set_flag(variant: str | None) -> Action:
    def act(c: SimCluster, f: Fault) -> None:
        flag = f.params["flag"]
        cm = ops.get(c, "configmaps", f.namespace, "flagd-config")
        if cm is None:
            raise KeyError("ConfigMap flagd-config not found")
        doc = json.loads(cm["data"]["demo.flagd.json"])
        doc["flags"][flag]["defaultVariant"] = variant or "off"
        ops.patch(
            c,
            "configmaps",
            f.namespace,
            "flagd-config",
            {"data": {"demo.flagd.json": json.dumps(doc, indent=2)}},
            ops.MERGE,
        )
        ops.rollout_restart(c, f.namespace, "flagd")

    return act


def _nothing(c: SimCluster, f: Fault) -> None:
    return None


# One row per family: name, application, layer, RCA answer (system level, fault type), mitigation oracle,
# inject, recover, what it does. The eleven AstronomyShop flag families are added from FLAG_FAULTS below.
_ROWS: tuple[tuple, ...] = (
    ("k8s_target_port-misconfig", SOCIAL, "Virtualization", "Virtualization", "Misconfiguration", "M-port",
     lambda c, f: _target_port(c, f, 9999), lambda c, f: _target_port(c, f, 9090),
     "The Service's targetPort is changed from 9090 to 9999; the pods still listen on 9090."),
    ("auth_miss_mongodb", SOCIAL, "Application", "Application", "Misconfiguration", "M-ph", _require_tls, _disable_tls,
     "url-shorten-mongodb is upgraded to require TLS; url-shorten-service connects without TLS."),
    ("revoke_auth_mongodb", HOTEL, "Application", "Application", "Authentication Issue", "M-ph",
     _mongo_script("revoke-admin-{svc}-mongo.sh"), _mongo_script("revoke-mitigate-admin-{svc}-mongo.sh"),
     "The admin user loses readWrite on the service database; the service pod is restarted."),
    ("user_unregistered_mongodb", HOTEL, "Application", "Application", "Network/Storage Issue", "M-ph",
     _mongo_script("remove-admin-mongo.sh"), _mongo_script("remove-mitigate-admin-{svc}-mongo.sh"),
     "The admin user is dropped from MongoDB; the service pod is restarted."),
    ("misconfig_app_hotel_res", HOTEL, "Application", "Application", "Misconfiguration", "M-ready",
     _image("yinfangchen/geo:app3"), _image("yinfangchen/hotelreservation:latest"),
     "The geo container runs a buggy build (yinfangchen/geo:app3)."),
    ("scale_pod_zero_social_net", SOCIAL, "Virtualization", "Virtualization", "Operation Error", "M-scale",
     _scale(0), _scale(1), "The Deployment is scaled to zero replicas."),
    ("assign_to_non_existent_node_social_net", SOCIAL, "Virtualization", "Virtualization", "Dependency Problem",
     "M-node", _node_selector, _no_node_selector,
     "The Deployment is re-created with nodeSelector kubernetes.io/hostname=extra-node."),
    ("container_kill", HOTEL, "Symptom", None, None, None, _chaos, _unchaos,
     "Chaos Mesh PodChaos container-kill on hotel-reserv-geo (200 s)."),
    ("pod_failure_hotel_res", HOTEL, "Symptom", None, None, None, _chaos, _unchaos,
     "Chaos Mesh PodChaos pod-failure (100 s)."),
    ("pod_kill_hotel_res", HOTEL, "Symptom", None, None, None, _chaos, _unchaos,
     "Chaos Mesh PodChaos implemented as pod-failure (100 s), as in AIOpsLab."),
    ("network_loss_hotel_res", HOTEL, "Symptom", None, None, None, _chaos, _unchaos,
     "Chaos Mesh NetworkChaos, 99% packet loss (200 s)."),
    ("network_delay_hotel_res", HOTEL, "Symptom", None, None, None, _chaos, _unchaos,
     "Chaos Mesh NetworkChaos, 10 s latency (200 s)."),
    ("noop", "", "None", None, None, None, _nothing, _nothing, "No fault."),
    ("redeploy_without_PV", HOTEL, "Virtualization", "Virtualization", "Operation Error", "M-ph",
     _redeploy_without_pv, _clear_claim_refs,
     "The namespace is deleted while its PersistentVolumes are kept, then the app is redeployed."),
    ("wrong_bin_usage", HOTEL, "Virtualization", "Application", "Network/Storage Issue", "M-bin", _wrong_bin,
     _right_bin, "The profile Deployment is re-created running the geo binary."),
)
FAMILIES: dict[str, FamilySpec] = {row[0]: FamilySpec(*row) for row in _ROWS}

# flag families: (flag, variant, graded target)
FLAG_FAULTS: dict[str, tuple[str, str, str]] = {
    "astronomy_shop_ad_service_failure": ("adFailure", "on", "ad"),
    "astronomy_shop_ad_service_high_cpu": ("adHighCpu", "on", "ad"),
    "astronomy_shop_ad_service_manual_gc": ("adManualGc", "on", "ad"),
    "astronomy_shop_cart_service_failure": ("cartFailure", "on", "cart"),
    "astronomy_shop_image_slow_load": ("imageSlowLoad", "10sec", "frontend"),
    "astronomy_shop_kafka_queue_problems": ("kafkaQueueProblems", "on", "kafka"),
    "astronomy_shop_loadgenerator_flood_homepage": ("loadGeneratorFloodHomepage", "on", "frontend"),
    "astronomy_shop_payment_service_failure": ("paymentFailure", "100%", "payment"),
    "astronomy_shop_payment_service_unreachable": ("paymentUnreachable", "on", "checkout"),
    "astronomy_shop_product_catalog_service_failure": ("productCatalogFailure", "on", "product-catalog"),
    "astronomy_shop_recommendation_service_cache_failure": ("recommendationCacheFailure", "on", "recommendation"),
}


def flag_fault(family: str) -> Fault:
    flag, variant, target = FLAG_FAULTS[family]
    return Fault(family, ASTRONOMY, target, {"flag": flag, "variant": variant})


def _flag_inject(c: SimCluster, f: Fault) -> None:
    _set_flag(f.params["variant"])(c, f)


for _fam, (_flag, _variant, _target) in FLAG_FAULTS.items():
    FAMILIES[_fam] = FamilySpec(
        _fam,
        ASTRONOMY,
        "Feature flag",
        None,
        None,
        "M-ph'" if _fam.endswith("kafka_queue_problems") else None,
        _flag_inject,
        _set_flag(None),
        f"flagd flag {_flag} is switched to {_variant} and flagd restarted.",
    )
