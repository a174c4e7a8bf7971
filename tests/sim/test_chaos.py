"""Chaos Mesh in the simulator: the five AIOpsLab fault objects and their real effects on HotelReservation."""

from __future__ import annotations

import pytest

from cluster.sim import SimCluster, SimConfig
from cluster.sim.apps import HOTEL
from cluster.sim.apps.deploy import deploy
from cluster.sim.apps.health import PAUSE_IMAGE, EdgeHealth
from cluster.sim.chaos import FINALIZER, KINDS, PAUSE_ANNOTATION, install_chaos_mesh, parse_duration
from cluster.sim.server import SimServer
from tests.conftest import Kubectl

NS = "test-hotel-reservation"
HOTEL_IMAGE = "yinfangchen/hotelreservation:latest"


@pytest.fixture
def hotel() -> SimCluster:
    cluster = SimCluster(SimConfig(seed=21))
    deploy(cluster, HOTEL)
    cluster.advance(60)
    install_chaos_mesh(cluster)
    cluster.advance(30)
    return cluster


# The objects AIOpsLab's ChaosMesh injector creates (selector io.kompose.service=<svc>, mode one).
def pod_chaos(name: str, action: str, svc: str, duration: str, **extra: object) -> dict:
    return {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos", "metadata": {"name": name, "namespace": NS},
            "spec": {"action": action, "mode": "one", "duration": duration,
                     "selector": {"labelSelectors": {"io.kompose.service": svc}}, **extra}}


def network_chaos(name: str, action: str, svc: str, **extra: object) -> dict:
    return {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"action": action, "mode": "one", "duration": "200s",
                     "selector": {"labelSelectors": {"io.kompose.service": svc}}, **extra}}


LOSS = network_chaos("loss", "loss", "user", loss={"loss": "99", "correlation": "100"})
DELAY = network_chaos("delay", "delay", "user", delay={"latency": "10s", "jitter": "0ms", "correlation": "100"})


def create(cluster: SimCluster, plural: str, obj: dict) -> dict:
    rt = cluster.registry.lookup("chaos-mesh.org", "v1alpha1", plural)
    assert rt is not None
    out = cluster.api.create(rt, NS, obj)
    cluster.settle()
    return out


def chaos(cluster: SimCluster, plural: str, name: str) -> dict | None:
    return cluster.store.get(f"{plural}.chaos-mesh.org", NS, name)


def pod_of(cluster: SimCluster, svc: str) -> dict:
    pods = [p for p in cluster.store.list("pods", NS) if p["metadata"]["labels"].get("io.kompose.service") == svc]
    assert len(pods) == 1
    return pods[0]


def restarts(pod: dict) -> int:
    return pod["status"]["containerStatuses"][0]["restartCount"]


def edge(cluster: SimCluster, caller: str, callee: str) -> EdgeHealth:
    snap = cluster.apps.by_namespace[NS].history.at(cluster.clock.now)
    assert snap is not None
    return snap.edge(caller, callee)


def conditions(obj: dict) -> dict[str, str]:
    return {c["type"]: c["status"] for c in obj["status"]["conditions"]}


# ------------------------------------------------------------------------------------------------ install
def test_install_creates_crds_and_running_chaos_mesh_and_is_idempotent(hotel: SimCluster) -> None:
    crd = hotel.store.get("customresourcedefinitions.apiextensions.k8s.io", "", "podchaos.chaos-mesh.org")
    assert crd is not None
    assert crd["spec"]["names"] == {"kind": "PodChaos", "listKind": "PodChaosList", "plural": "podchaos",
                                    "singular": "podchaos"}
    assert [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]] == ["action", "duration"]
    assert {t.kind for t in hotel.registry if t.group == "chaos-mesh.org"} == {k.kind for k in KINDS}
    pods = hotel.store.list("pods", "chaos-mesh")
    names = sorted(p["metadata"]["name"].rsplit("-", 2)[0] if "controller" in p["metadata"]["name"]
                   else p["metadata"]["name"].rsplit("-", 1)[0] for p in pods)
    assert names.count("chaos-controller-manager") == 3 and names.count("chaos-daemon") == 2
    assert all(p["status"]["phase"] == "Running" for p in pods)
    images = {c["image"] for p in pods for c in p["spec"]["containers"]}
    assert {"ghcr.io/chaos-mesh/chaos-mesh:v2.6.2", "ghcr.io/chaos-mesh/chaos-daemon:v2.6.2"} <= images
    before = (hotel.store.dump(), len(hotel.controllers))
    install_chaos_mesh(hotel)
    assert (hotel.store.dump(), len(hotel.controllers)) == before


# ------------------------------------------------------------------------------------------------ PodChaos
@pytest.mark.parametrize("name", ["pod-failure-experiment", "pod-kill"])  # AIOpsLab's pod_kill is pod-failure too
def test_pod_failure_pauses_the_pod_and_recovers_after_the_duration(hotel: SimCluster, name: str) -> None:
    user = pod_of(hotel, "user")
    before = restarts(user)
    assert edge(hotel, "frontend", "user").fail == 0.0
    create(hotel, "podchaos", pod_chaos(name, "pod-failure", "user", "100s"))
    hotel.advance(5)
    user = pod_of(hotel, "user")
    assert user["spec"]["containers"][0]["image"] == PAUSE_IMAGE
    assert HOTEL_IMAGE in user["metadata"]["annotations"].values()  # the original, kept for recovery
    assert restarts(user) == before + 1
    assert user["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 137
    failing = edge(hotel, "frontend", "user")
    assert failing.fail == 1.0 and failing.error == "refused"
    obj = chaos(hotel, "podchaos", name)
    assert obj is not None
    assert obj["metadata"]["finalizers"] == [FINALIZER]
    exp = obj["status"]["experiment"]
    assert exp["desiredPhase"] == "Run"
    assert [(r["id"], r["phase"], r["injectedCount"]) for r in exp["containerRecords"]] == [
        (f"{NS}/{user['metadata']['name']}", "Injected", 1)]
    assert conditions(obj) == {"Paused": "False", "Selected": "True", "AllInjected": "True", "AllRecovered": "False"}

    hotel.advance(100)
    user = pod_of(hotel, "user")
    assert user["spec"]["containers"][0]["image"] == HOTEL_IMAGE
    assert not (user["metadata"].get("annotations") or {})
    assert restarts(user) == before + 2
    assert user["status"]["containerStatuses"][0]["state"].get("running")
    assert edge(hotel, "frontend", "user").fail == 0.0
    obj = chaos(hotel, "podchaos", name)
    assert obj is not None  # an expired experiment stays, stopped, until someone deletes it
    assert obj["status"]["experiment"]["desiredPhase"] == "Stop"
    rec = obj["status"]["experiment"]["containerRecords"][0]
    assert (rec["phase"], rec["injectedCount"], rec["recoveredCount"]) == ("Not Injected", 1, 1)
    assert conditions(obj)["AllRecovered"] == "True" and conditions(obj)["AllInjected"] == "False"
    reasons = [e["reason"] for e in hotel.store.list("events", NS) if e["involvedObject"]["name"] == name]
    assert reasons == ["FinalizerInited", "Started", "Applied", "TimeUp", "Recovered"]


def test_container_kill_restarts_the_named_container_once(hotel: SimCluster) -> None:
    geo = pod_of(hotel, "geo")
    before = restarts(geo)
    create(hotel, "podchaos", pod_chaos("container-kill", "container-kill", "geo", "200s",
                                        containerNames=["hotel-reserv-geo"]))
    hotel.advance(30)
    geo = pod_of(hotel, "geo")
    status = geo["status"]["containerStatuses"][0]
    assert status["restartCount"] == before + 1
    assert status["lastState"]["terminated"]["exitCode"] == 137
    assert status["state"].get("running") and status["ready"]
    assert edge(hotel, "search", "geo").fail == 0.0
    obj = chaos(hotel, "podchaos", "container-kill")
    assert obj is not None
    rec = obj["status"]["experiment"]["containerRecords"][0]
    assert (rec["id"], rec["phase"]) == (f"{NS}/{geo['metadata']['name']}/hotel-reserv-geo", "Injected")
    hotel.advance(200)  # a kill is one shot: nothing more happens until, and after, the duration ends
    assert restarts(pod_of(hotel, "geo")) == before + 1
    obj = chaos(hotel, "podchaos", "container-kill")
    assert obj is not None and obj["status"]["experiment"]["desiredPhase"] == "Stop"


# ------------------------------------------------------------------------------------------------ NetworkChaos
def test_network_loss_makes_callers_time_out_until_the_duration_ends(hotel: SimCluster) -> None:
    before = restarts(pod_of(hotel, "user"))
    create(hotel, "networkchaos", LOSS)
    hotel.advance(1)
    e = edge(hotel, "frontend", "user")
    assert e.fail == pytest.approx(0.99) and e.error == "timeout"
    assert "DeadlineExceeded" in e.message
    effects = hotel.apps.state.chaos
    assert [(x.kind, x.pod_uid, x.loss) for x in effects] == [
        ("network-loss", pod_of(hotel, "user")["metadata"]["uid"], 0.99)]
    assert restarts(pod_of(hotel, "user")) == before  # the pod stays up; only its packets are dropped
    hotel.advance(200)
    assert edge(hotel, "frontend", "user").fail == 0.0
    assert hotel.apps.state.chaos == []
    obj = chaos(hotel, "networkchaos", "loss")
    assert obj is not None and conditions(obj)["AllRecovered"] == "True"


def test_network_delay_adds_ten_seconds(hotel: SimCluster) -> None:
    base = edge(hotel, "frontend", "user").latency_ms
    create(hotel, "networkchaos", DELAY)
    hotel.advance(1)
    e = edge(hotel, "frontend", "user")
    assert e.latency_ms == pytest.approx(base + 10000.0) and e.fail == 0.0
    assert edge(hotel, "frontend", "search").latency_ms == pytest.approx(0.0)
    hotel.advance(200)
    assert edge(hotel, "frontend", "user").latency_ms == pytest.approx(base)


# ------------------------------------------------------------------------------------------------ lifecycle
def test_deleting_before_expiry_recovers_at_once(hotel: SimCluster) -> None:
    create(hotel, "podchaos", pod_chaos("pod-failure-experiment", "pod-failure", "user", "100s"))
    create(hotel, "networkchaos", network_chaos("loss", "loss", "reservation",
                                                loss={"loss": "99", "correlation": "100"}))
    hotel.advance(10)
    assert edge(hotel, "frontend", "user").fail == 1.0
    assert edge(hotel, "frontend", "reservation").error == "timeout"
    with hotel.lock:
        for plural, name in (("podchaos", "pod-failure-experiment"), ("networkchaos", "loss")):
            rt = hotel.registry.lookup("chaos-mesh.org", "v1alpha1", plural)
            assert rt is not None
            hotel.api.delete(rt, NS, name)
        hotel.settle()
    assert chaos(hotel, "podchaos", "pod-failure-experiment") is None
    assert chaos(hotel, "networkchaos", "loss") is None
    assert pod_of(hotel, "user")["spec"]["containers"][0]["image"] == HOTEL_IMAGE
    assert hotel.apps.state.chaos == []
    hotel.advance(5)
    assert edge(hotel, "frontend", "user").fail == 0.0
    assert edge(hotel, "frontend", "reservation").fail == 0.0


def test_pause_recovers_and_resume_injects_again(hotel: SimCluster) -> None:
    create(hotel, "networkchaos", DELAY)
    hotel.advance(1)
    rt = hotel.registry.lookup("chaos-mesh.org", "v1alpha1", "networkchaos")
    assert rt is not None
    for paused, latency in (("true", 0.0), ("false", 10000.0)):
        with hotel.lock:
            hotel.api.patch(rt, NS, "delay", "application/merge-patch+json",
                            {"metadata": {"annotations": {PAUSE_ANNOTATION: paused}}})
            hotel.settle()
        hotel.advance(1)
        assert edge(hotel, "frontend", "user").latency_ms == pytest.approx(latency)
        obj = chaos(hotel, "networkchaos", "delay")
        assert obj is not None and conditions(obj)["Paused"] == ("True" if paused == "true" else "False")
    obj = chaos(hotel, "networkchaos", "delay")
    assert obj is not None
    rec = obj["status"]["experiment"]["containerRecords"][0]
    assert (rec["injectedCount"], rec["recoveredCount"]) == (2, 1)


@pytest.mark.parametrize(("mode", "value", "count"), [("all", None, 6), ("fixed", "2", 2), ("fixed-percent", "50", 3)])
def test_selection_modes(hotel: SimCluster, mode: str, value: str | None, count: int) -> None:
    spec: dict = {"action": "delay", "mode": mode, "duration": "30s", "delay": {"latency": "5ms"},
                  "selector": {"namespaces": [NS], "expressionSelectors": [
                      {"key": "io.kompose.service", "operator": "In",
                       "values": ["mongodb-geo", "mongodb-profile", "mongodb-rate", "mongodb-recommendation",
                                  "mongodb-reservation", "mongodb-user"]}]}}
    if value is not None:
        spec["value"] = value
    create(hotel, "networkchaos", {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos",
                                   "metadata": {"name": "sel", "namespace": NS}, "spec": spec})
    obj = chaos(hotel, "networkchaos", "sel")
    assert obj is not None
    ids = [r["id"] for r in obj["status"]["experiment"]["containerRecords"]]
    assert len(ids) == count and ids == sorted(ids)
    assert all("/mongodb-" in i for i in ids)


def test_no_matching_pod_is_not_selected(hotel: SimCluster) -> None:
    create(hotel, "podchaos", pod_chaos("nothing", "pod-failure", "no-such-service", "100s"))
    obj = chaos(hotel, "podchaos", "nothing")
    assert obj is not None
    assert conditions(obj) == {"Paused": "False", "Selected": "False", "AllInjected": "False",
                               "AllRecovered": "False"}


def test_parse_duration() -> None:
    assert parse_duration("100s") == 100.0
    assert parse_duration("1m30s") == 90.0
    assert parse_duration("300ms") == pytest.approx(0.3)
    assert parse_duration("1.5h") == 5400.0
    with pytest.raises(ValueError):
        parse_duration("10")


# ------------------------------------------------------------------------------------------------ kubectl
POD_FAILURE_YAML = """\
apiVersion: chaos-mesh.org/v1alpha1
kind: PodChaos
metadata:
  name: pod-failure-experiment
  namespace: test-hotel-reservation
spec:
  action: pod-failure
  mode: one
  duration: 100s
  selector:
    labelSelectors:
      io.kompose.service: user
"""


def test_kubectl_lists_and_deletes_podchaos(manual_server: SimServer, manual_kubectl: Kubectl) -> None:
    cluster = manual_server.cluster
    with cluster.lock:
        deploy(cluster, HOTEL)
        cluster.advance(60)
        install_chaos_mesh(cluster)
    assert "podchaos.chaos-mesh.org/pod-failure-experiment created" in manual_kubectl(
        "apply", "-f", "-", input=POD_FAILURE_YAML)
    cluster.advance(5)
    lines = manual_kubectl("get", "podchaos", "-n", NS).splitlines()
    # A v1 CRD with its own printer columns gets no AGE column (the chart's CRDs name only these two).
    assert [line.split() for line in lines] == [["NAME", "ACTION", "DURATION"],
                                                ["pod-failure-experiment", "pod-failure", "100s"]]
    desired = manual_kubectl("get", "podchaos", "pod-failure-experiment", "-n", NS, "-o",
                             "jsonpath={.status.experiment.desiredPhase}")
    assert desired == "Run"
    assert PAUSE_IMAGE in manual_kubectl("get", "pods", "-n", NS, "-l", "io.kompose.service=user", "-o",
                                         "jsonpath={.items[0].spec.containers[0].image}")
    manual_kubectl("delete", "podchaos", "pod-failure-experiment", "-n", NS)
    gone = manual_kubectl.run("get", "podchaos", "-n", NS)
    assert "No resources found" in gone.stdout + gone.stderr
    assert manual_kubectl("get", "pods", "-n", NS, "-l", "io.kompose.service=user", "-o",
                          "jsonpath={.items[0].spec.containers[0].image}") == HOTEL_IMAGE
