"""Every AIOpsLab fault family end to end, seen from outside as an SRE (or an agent) sees it.

Each family's problem is brought up on a fresh simulated cluster served over HTTPS with telemetry. The test then
touches the cluster only through the interfaces an agent has: ``kubectl`` and the official Python client (which
stands in for kubectl where it is not installed), Prometheus' HTTP API, Jaeger's HTTP API and pod logs. It checks
the symptom a real SRE would see, applies the operator's fix the way an operator would (``kubectl patch``,
``scale``, ``set image``, ``delete``, ``exec``, ``rollout restart``), advances simulated time, and checks recovery:
with the family's mitigation oracle where AIOpsLab grades one, else by the symptom being gone from the same API.
For every family with an oracle, a plausible but wrong repair is graded as not mitigated; and, as a control, every
symptom check fails on the same application without its fault.

The MongoDB repairs run the mongo shell in the database pod through ``kubectl exec`` (WebSockets).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cluster.sim.faults.families import FAMILIES, FLAG_FAULTS, TLS_ARGS
from cluster.sim.faults.oracles import mitigated
from tests.sim.faultkit import Incident, problem_for, ready, status_reason

HOTEL_IMAGE = "yinfangchen/hotelreservation:latest"
PAUSE_IMAGE = "gcr.io/google-containers/pause:latest"
ERROR, OK = "STATUS_CODE_ERROR", "STATUS_CODE_UNSET"
AFTER_FIX = 60.0  # simulated seconds between a repair and its grading (crash back-off: the pods are deleted)

Check = Callable[[Incident], None]


@dataclass(frozen=True)
class Case:
    symptoms: Check  # asserts the fault is visible from outside
    fix: Check  # the operator's repair
    recovered: Check  # asserts, from outside, that the symptom is gone
    wrong: Check | None = None  # a plausible but wrong repair (families with an oracle)
    settle: float = AFTER_FIX


CASES: dict[str, Case] = {}


@pytest.fixture
def incident(tmp_path: Path) -> Iterator[Callable[[str], Incident]]:
    made: list[Incident] = []

    def make(family: str) -> Incident:
        inc = Incident(family, tmp_path)
        made.append(inc)
        return inc

    yield make
    for inc in made:
        inc.close()


# ------------------------------------------------------------------------------------------------ helpers
def kubectl_status(inc: Incident, component: str) -> str:
    """The STATUS column of ``kubectl get pods -l <component>`` (the JSON's reason without kubectl)."""
    if not inc.has_kubectl:
        return status_reason(inc.pod(component))
    out = inc.k("get", "pods", "-l", inc.selector(component), "--no-headers").split()
    assert len(out) >= 3, out
    return out[2]


def crashlooping(inc: Incident, component: str) -> None:
    pod = inc.pod(component)
    assert status_reason(pod) == "CrashLoopBackOff", pod["status"]
    assert not ready(pod)
    assert kubectl_status(inc, component) == "CrashLoopBackOff"


def healthy(inc: Incident, *components: str) -> None:
    for comp in components:
        pod = inc.pod(comp)
        assert (pod["status"]["phase"], ready(pod)) == ("Running", True), (comp, pod["status"])


def all_pods_healthy(inc: Incident) -> None:
    bad = [(p["metadata"]["name"], status_reason(p)) for p in inc.list("pods")
           if not p["metadata"].get("deletionTimestamp") and not (status_reason(p) == "Running" and ready(p))]
    assert not bad, bad


def no_errors(inc: Incident, service: str | None = None, lookback: str = "30s") -> None:
    """Requests flow through ``service`` (the app's entry) in the last ``lookback`` and none fails."""
    service = service or inc.app.entry
    assert inc.traces(service, lookback=lookback, limit=5), f"no traces through {service} in the last {lookback}"
    errors = inc.error_spans(service, lookback)
    assert not errors, sorted({(s.service, s.operation, s.message) for s in errors})[:5]


def error_calls(inc: Incident, service: str, caller_op: str, lookback: str = "1m") -> set[str]:
    """Messages of failed client spans whose operation (or peer) names the callee."""
    out = set()
    for s in inc.error_spans(service, lookback):
        if s.kind == "client" and (caller_op in s.operation or s.tags.get("net.peer.name") == caller_op):
            out.add(s.message)
    return out


def mongo_exec(inc: Incident, mongo: str, js: str) -> str:
    pod = inc.pod(mongo)
    ctr = pod["spec"]["containers"][0]["name"]
    code, out = inc.exec(pod["metadata"]["name"], ctr, ["mongo", "admin", "-u", "root", "-p", "root",
                                                        "--authenticationDatabase", "admin", "--eval", js])
    assert code == 0, out
    return out


# ------------------------------------------------------------------------------------------- social network
def _port_symptoms(inc: Incident) -> None:
    svc = inc.fault.target
    if inc.has_kubectl:
        assert inc.k("get", "svc", svc, "-o", "jsonpath={.spec.ports[0].targetPort}") == "9999"
    assert inc.get("services", svc)["spec"]["ports"][0]["targetPort"] == 9999
    healthy(inc, svc)  # the pods are fine: they listen on 9090
    messages = error_calls(inc, "compose-post-service", svc)
    assert messages and all(m.endswith("Connection refused") and f"<Host: {svc} Port: 9090>" in m
                            for m in messages), messages


def _port_patch(value: int) -> Check:
    return lambda inc: inc.patch("services", inc.fault.target,
                                 [{"op": "replace", "path": "/spec/ports/0/targetPort", "value": value}], "json")


CASES["k8s_target_port-misconfig"] = Case(
    _port_symptoms, _port_patch(9090), lambda inc: no_errors(inc), wrong=_port_patch(8080)
)


def _tls_symptoms(inc: Incident) -> None:
    args = inc.get("deployments", "url-shorten-mongodb")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--tlsMode" in args and args[args.index("--tlsMode") + 1] == "requireTLS", args
    crashlooping(inc, "url-shorten-service")
    svc = inc.pod("url-shorten-service")["metadata"]["name"]
    assert "No suitable servers found" in inc.logs(svc, previous=True, tail=5)
    mongod = inc.logs(inc.pod("url-shorten-mongodb")["metadata"]["name"], tail=20)
    assert "SSLHandshakeFailed" in mongod and "only allow SSL connections" in mongod
    assert error_calls(inc, "compose-post-service", "url-shorten-service") or inc.error_spans("nginx-thrift")


def _tls_fix(inc: Incident) -> None:
    ctr = inc.get("deployments", "url-shorten-mongodb")["spec"]["template"]["spec"]["containers"][0]
    args = [a for a in ctr["args"] if a not in TLS_ARGS]
    assert args != ctr["args"]
    inc.patch("deployments", "url-shorten-mongodb",
              [{"op": "replace", "path": "/spec/template/spec/containers/0/args", "value": args}], "json")
    inc.delete_pods("url-shorten-service")


def _tls_recovered(inc: Incident) -> None:
    healthy(inc, "url-shorten-service", "url-shorten-mongodb")
    no_errors(inc)


CASES["auth_miss_mongodb"] = Case(
    _tls_symptoms, _tls_fix, _tls_recovered, wrong=lambda inc: inc.delete_pods("url-shorten-service")
)


def _scale_symptoms(inc: Incident) -> None:
    svc = inc.fault.target
    d = inc.get("deployments", svc)
    assert (d["spec"]["replicas"], d["status"].get("readyReplicas", 0)) == (0, 0)
    if inc.has_kubectl:
        assert inc.k("get", "deploy", svc, "--no-headers").split()[1] == "0/0"
    assert inc.pods(svc) == []
    messages = error_calls(inc, "compose-post-service", svc)
    assert messages and all("Connection refused" in m for m in messages), messages


def _scale_recovered(inc: Incident) -> None:
    d = inc.get("deployments", inc.fault.target)
    assert d["status"].get("availableReplicas") == 1
    no_errors(inc)


CASES["scale_pod_zero_social_net"] = Case(
    _scale_symptoms,
    lambda inc: inc.scale(inc.fault.target, 1),
    _scale_recovered,
    wrong=lambda inc: inc.scale("user-mention-service", 2),  # the wrong service
)


def _node_symptoms(inc: Incident) -> None:
    svc = inc.fault.target
    pod = inc.pod(svc)
    assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/hostname": "extra-node"}
    if inc.has_kubectl:
        assert kubectl_status(inc, svc) == "Pending"
    events = inc.list("events", field_selector=f"involvedObject.name={pod['metadata']['name']},reason=FailedScheduling")
    assert events and "didn't match Pod's node affinity/selector" in events[-1]["message"], events
    assert error_calls(inc, "compose-post-service", svc)


def _node_fix(inc: Incident) -> None:
    inc.patch("deployments", inc.fault.target, [{"op": "remove", "path": "/spec/template/spec/nodeSelector"}],
              "json")


def _node_recovered(inc: Incident) -> None:
    pod = inc.pod(inc.fault.target)
    assert pod["spec"].get("nodeName") and ready(pod)
    no_errors(inc)


CASES["assign_to_non_existent_node_social_net"] = Case(
    _node_symptoms, _node_fix, _node_recovered, wrong=lambda inc: inc.delete_pods(inc.fault.target)
)


# ------------------------------------------------------------------------------------------- hotel: MongoDB
def _auth_symptoms(needle: str, mongod: str) -> Check:
    def check(inc: Incident) -> None:
        svc = inc.fault.target.removeprefix("mongodb-")
        crashlooping(inc, svc)
        pod = inc.pod(svc)["metadata"]["name"]
        assert needle in inc.logs(pod, previous=True, tail=3)
        assert mongod in inc.logs(inc.pod(inc.fault.target)["metadata"]["name"], tail=20)
        messages = error_calls(inc, "frontend", f"/{svc}.") | error_calls(inc, "search", f"/{svc}.")
        assert messages and all("connection refused" in m for m in messages), messages

    return check


def _grant(inc: Incident) -> None:
    db = inc.fault.target.removeprefix("mongodb-") + "-db"
    mongo_exec(inc, inc.fault.target, f"db.grantRolesToUser('admin',[{{role:'readWrite',db:'{db}'}}])")
    inc.delete_pods(inc.fault.target.removeprefix("mongodb-"))


def _create_user(inc: Incident) -> None:
    db = inc.fault.target.removeprefix("mongodb-") + "-db"
    out = mongo_exec(inc, inc.fault.target, "db.createUser({user:'admin',pwd:'admin',roles:["
                     f"{{role:'userAdminAnyDatabase',db:'admin'}},{{role:'readWrite',db:'{db}'}}]}})")
    assert "Successfully added user" in out
    inc.delete_pods(inc.fault.target.removeprefix("mongodb-"))


def _service_back(inc: Incident) -> None:
    healthy(inc, inc.fault.target.removeprefix("mongodb-"))
    no_errors(inc)


CASES["revoke_auth_mongodb"] = Case(
    _auth_symptoms("not authorized on geo-db", "Checking authorization failed"),
    _grant,
    _service_back,
    wrong=lambda inc: inc.delete_pods(inc.fault.target.removeprefix("mongodb-")),  # restart geo, DB unfixed
)


CASES["user_unregistered_mongodb"] = Case(
    _auth_symptoms("Authentication failed", 'UserNotFound: Could not find user \\"admin\\"'),
    _create_user,
    _service_back,
    wrong=lambda inc: inc.rollout_restart(inc.fault.target),  # restart MongoDB: the user stays dropped
)


# ------------------------------------------------------------------------------------------- hotel: k8s
def _misconfig_symptoms(inc: Incident) -> None:
    pod = inc.pod("geo")
    assert pod["spec"]["containers"][0]["image"] == "yinfangchen/geo:app3"
    crashlooping(inc, "geo")
    assert "no reachable servers" in inc.logs(pod["metadata"]["name"], previous=True, tail=2)
    assert error_calls(inc, "search", "/geo.Geo/")


def _image(image: str) -> Check:
    return lambda inc: inc.set_image(inc.fault.target, f"hotel-reserv-{inc.fault.target}", image)


def _geo_back(inc: Incident) -> None:
    pod = inc.pod("geo")
    assert pod["spec"]["containers"][0]["image"] == HOTEL_IMAGE
    healthy(inc, "geo")
    no_errors(inc)


CASES["misconfig_app_hotel_res"] = Case(
    _misconfig_symptoms, _image(HOTEL_IMAGE), _geo_back, wrong=_image("yinfangchen/geo:app2")
)


def _pv_symptoms(inc: Incident) -> None:
    pvcs = inc.list("persistentvolumeclaims")
    assert pvcs and all(p["status"]["phase"] == "Pending" for p in pvcs), [p["status"] for p in pvcs]
    pvs = [p for p in inc.list("persistentvolumes") if p["spec"]["claimRef"]["namespace"] == inc.ns]
    assert len(pvs) == len(pvcs) and all(p["status"]["phase"] == "Released" for p in pvs)
    if inc.has_kubectl:
        assert "Released" in inc.k("get", "pv")
    mongos = [p for p in inc.list("pods") if p["metadata"]["name"].startswith("mongodb-")]
    assert len(mongos) == 6 and all(p["status"]["phase"] == "Pending" for p in mongos)
    crashlooping(inc, "geo")


def _pv_fix(inc: Incident) -> None:
    for pv in inc.list("persistentvolumes"):
        if pv["status"]["phase"] == "Released":
            inc.patch("persistentvolumes", pv["metadata"]["name"], {"spec": {"claimRef": None}}, "merge")
    inc.advance(10)  # the claims bind and MongoDB starts; its clients wait out their back-off, unless deleted
    looping = [p["metadata"]["name"] for p in inc.list("pods") if status_reason(p) == "CrashLoopBackOff"]
    if looping:
        inc.delete("pods", *looping)


def _pv_wrong(inc: Incident) -> None:
    looping = [p["metadata"]["name"] for p in inc.list("pods") if status_reason(p) == "CrashLoopBackOff"]
    if looping:
        inc.delete("pods", *looping)


def _pv_recovered(inc: Incident) -> None:
    assert all(p["status"]["phase"] == "Bound" for p in inc.list("persistentvolumeclaims"))
    all_pods_healthy(inc)
    no_errors(inc)


CASES["redeploy_without_PV"] = Case(_pv_symptoms, _pv_fix, _pv_recovered, wrong=_pv_wrong)


def _bin_symptoms(inc: Incident) -> None:
    d = inc.get("deployments", "profile")
    assert d["spec"]["template"]["spec"]["containers"][0]["command"] == ["geo"]
    messages = error_calls(inc, "frontend", "/profile.Profile/")
    assert messages and all("connection refused" in m for m in messages), messages


def _bin_fix(inc: Incident) -> None:
    inc.patch("deployments", "profile",
              [{"op": "replace", "path": "/spec/template/spec/containers/0/command", "value": ["profile"]}], "json")


def _profile_back(inc: Incident) -> None:
    healthy(inc, "profile")
    no_errors(inc)


CASES["wrong_bin_usage"] = Case(
    _bin_symptoms, _bin_fix, _profile_back, wrong=lambda inc: inc.rollout_restart("profile")
)


# ------------------------------------------------------------------------------------------- hotel: Chaos Mesh
def _chaos_fix(plural: str, name: str) -> Check:
    return lambda inc: inc.delete(plural, name)


def _kill_symptoms(inc: Incident) -> None:
    pod = inc.pod("geo")
    cs = pod["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["exitCode"] == 137
    restarts = inc.prom('sum(kube_pod_container_status_restarts_total{container="hotel-reserv-geo"})'
                        ' - sum(kube_pod_container_status_restarts_total{container="hotel-reserv-geo"} offset 90s)')
    assert restarts == [({}, 1.0)], restarts  # killed once, by Chaos Mesh
    assert error_calls(inc, "search", "/geo.Geo/", lookback="2m")


def _kill_recovered(inc: Incident) -> None:
    """The kill is one-shot: geo came back by itself, and the operator's part is removing the experiment."""
    assert inc.list("podchaos") == []
    healthy(inc, "geo")
    assert inc.prom_value('sum(increase(kube_pod_container_status_restarts_total{container="hotel-reserv-geo"}'
                          "[1m]))") == 0
    no_errors(inc)


CASES["container_kill"] = Case(_kill_symptoms, _chaos_fix("podchaos", "container-kill"), _kill_recovered)


def _pause_symptoms(inc: Incident) -> None:
    pod = inc.pod("user")
    assert pod["spec"]["containers"][0]["image"] == PAUSE_IMAGE
    messages = error_calls(inc, "frontend", "/user.User/")
    assert messages and all("connection refused" in m for m in messages), messages


def _pause_recovered(inc: Incident) -> None:
    assert inc.list("podchaos") == []
    assert inc.pod("user")["spec"]["containers"][0]["image"] == HOTEL_IMAGE
    healthy(inc, "user")
    no_errors(inc)


# graded 30 s after the repair, while the 100 s experiment would still run had it not been deleted
CASES["pod_failure_hotel_res"] = Case(
    _pause_symptoms, _chaos_fix("podchaos", "pod-failure-experiment"), _pause_recovered, settle=30
)


CASES["pod_kill_hotel_res"] = Case(_pause_symptoms, _chaos_fix("podchaos", "pod-kill"), _pause_recovered, settle=30)


DROPPED = ('sum(rate(container_network_receive_packets_dropped_total{namespace="test-hotel-reservation",'
           'pod=~"user-.*"}[1m]))')


def _loss_symptoms(inc: Incident) -> None:
    messages = error_calls(inc, "frontend", "/user.User/")
    assert messages == {"rpc error: code = DeadlineExceeded desc = context deadline exceeded"}, messages
    assert (inc.prom_value(DROPPED) or 0) > 0


def _loss_recovered(inc: Incident) -> None:
    assert inc.list("networkchaos") == []
    no_errors(inc)
    assert inc.prom_value(DROPPED.replace("[1m]", "[30s]")) == 0


CASES["network_loss_hotel_res"] = Case(_loss_symptoms, _chaos_fix("networkchaos", "loss"), _loss_recovered)


def _slow(inc: Incident, lookback: str) -> list:
    return [s for s in inc.spans("frontend", lookback=lookback, minDuration="9s") if s.duration_us >= 9_000_000]


def _delay_symptoms(inc: Incident) -> None:
    slow = _slow(inc, "1m")
    assert slow and {s.operation for s in slow if s.kind == "client"} == {"/user.User/CheckUser"}, slow[:3]
    assert all(s.duration_us >= 10_000_000 for s in slow if s.kind == "client")
    assert not inc.error_spans("frontend")  # slow, not failing


def _delay_recovered(inc: Incident) -> None:
    assert inc.list("networkchaos") == []
    slow = _slow(inc, "30s")
    assert not slow, slow[:3]
    no_errors(inc)


CASES["network_delay_hotel_res"] = Case(_delay_symptoms, _chaos_fix("networkchaos", "delay"), _delay_recovered)


def _noop_symptoms(inc: Incident) -> None:
    all_pods_healthy(inc)
    no_errors(inc, lookback="2m")
    assert inc.prom_value(f'sum(increase(traces_span_metrics_calls_total{{namespace="{inc.ns}",'
                          f'status_code="{ERROR}"}}[2m]))') in (None, 0)


CASES["noop"] = Case(_noop_symptoms, lambda inc: None, _noop_symptoms)


# ------------------------------------------------------------------------------------------- astronomy: flags
def calls_of(inc: Incident, service: str, status: str, window: str = "1m", offset: str = "") -> float:
    """Spans of ``service`` with ``status`` in the window, from the collector's spanmetrics."""
    q = (f'sum(increase(traces_span_metrics_calls_total{{namespace="{inc.ns}",service_name="{service}",'
         f'status_code="{status}"}}[{window}]{" offset " + offset if offset else ""}))')
    return inc.prom_value(q) or 0.0


def errors_of(inc: Incident, service: str, window: str = "1m", offset: str = "") -> float:
    errors = calls_of(inc, service, ERROR, window, offset)
    served = errors + calls_of(inc, service, OK, window, offset)
    assert served > 0, f"{service} served nothing in [{window}] offset {offset or 0}"
    return errors


def p50_ms(inc: Incident, service: str, offset: str = "") -> float:
    q = (f"histogram_quantile(0.5, sum by (le) (rate(traces_span_metrics_duration_milliseconds_bucket"
         f'{{namespace="{inc.ns}",service_name="{service}"}}[1m]{" offset " + offset if offset else ""})))')
    value = inc.prom_value(q)
    assert value is not None, q
    return value


def usage(inc: Incident, metric: str, container: str, offset: str = "") -> float:
    sel = f'{metric}{{namespace="{inc.ns}",container="{container}"}}'
    q = f"sum(rate({sel}[1m]{' offset ' + offset if offset else ''}))" if metric.endswith("_total") else (
        f"sum({sel}{' offset ' + offset if offset else ''})")
    value = inc.prom_value(q)
    assert value is not None, q
    return value


def flag_on(inc: Incident) -> None:
    flag, variant, _ = FLAG_FAULTS[inc.fault.family]
    cm = inc.get("configmaps", "flagd-config")
    assert json.loads(cm["data"]["demo.flagd.json"])["flags"][flag]["defaultVariant"] == variant
    logs = inc.logs(inc.pod("flagd")["metadata"]["name"])
    assert f"flag {flag} default variant is not off" in logs, logs


def flag_off(inc: Incident) -> None:
    """Edit the ConfigMap as an operator would (kubectl patch with the whole document), then restart flagd."""
    flag = FLAG_FAULTS[inc.fault.family][0]
    doc = json.loads(inc.get("configmaps", "flagd-config")["data"]["demo.flagd.json"])
    doc["flags"][flag]["defaultVariant"] = "off"
    inc.patch("configmaps", "flagd-config", {"data": {"demo.flagd.json": json.dumps(doc, indent=2)}}, "merge")
    inc.rollout_restart("flagd")


def flag_gone(inc: Incident) -> None:
    flag = FLAG_FAULTS[inc.fault.family][0]
    logs = inc.logs(inc.pod("flagd")["metadata"]["name"])
    assert f"flag {flag}" not in logs and "loaded 11 flags" in logs, logs


def _failing(service: str, message: str) -> tuple[Check, Check]:
    def symptoms(inc: Incident) -> None:
        flag_on(inc)
        assert errors_of(inc, service) > 0
        assert errors_of(inc, service, offset="2m") == 0  # none before the flag (the window ends at injection)
        spans = [s for s in inc.error_spans(service, "1m") if s.service == service]
        assert spans and all(message in s.message for s in spans), {s.message for s in spans}

    def recovered(inc: Incident) -> None:
        flag_gone(inc)
        assert errors_of(inc, service, "30s") == 0
        assert not [s for s in inc.error_spans(service, "30s") if s.service == service]

    return symptoms, recovered


def _flag_case(symptoms: Check, recovered: Check, wrong: Check | None = None) -> Case:
    return Case(symptoms, flag_off, recovered, wrong=wrong, settle=90.0)


for _family, _service, _message in (
    ("astronomy_shop_ad_service_failure", "ad", "GetAds Failed with status Status{code=UNAVAILABLE"),
    ("astronomy_shop_cart_service_failure", "cart", "Wasn't able to connect to redis"),
    ("astronomy_shop_payment_service_failure", "payment", "Payment request failed. Invalid token."),
    ("astronomy_shop_payment_service_unreachable", "checkout", "lookup badAddress on 10.96.0.10:53: no such host"),
    ("astronomy_shop_product_catalog_service_failure", "product-catalog",
     "Product Catalog Fail Feature Flag Enabled"),
):
    CASES[_family] = _flag_case(*_failing(_service, _message))


def _ratio(measure: Callable[[Incident, str], float], low: float, high: float) -> tuple[Check, Check]:
    """A measure now against the same measure before the flag (``offset 2m``): above ``high``x with the flag on,
    below ``low``x after the repair."""

    def symptoms(inc: Incident) -> None:
        flag_on(inc)
        now, before = measure(inc, ""), measure(inc, "2m")
        assert now > high * before, (now, before)

    def recovered(inc: Incident) -> None:
        flag_gone(inc)
        now, before = measure(inc, ""), measure(inc, "3m")
        assert now < low * before, (now, before)

    return symptoms, recovered


CASES["astronomy_shop_ad_service_high_cpu"] = _flag_case(*_ratio(
    lambda inc, off: usage(inc, "container_cpu_usage_seconds_total", "ad", off), 1.5, 10))
CASES["astronomy_shop_ad_service_manual_gc"] = _flag_case(*_ratio(
    lambda inc, off: p50_ms(inc, "ad", off), 1.5, 10))
CASES["astronomy_shop_image_slow_load"] = _flag_case(*_ratio(
    lambda inc, off: p50_ms(inc, "image-provider", off), 1.5, 100))
CASES["astronomy_shop_kafka_queue_problems"] = _flag_case(
    *_ratio(lambda inc, off: p50_ms(inc, "kafka", off), 1.5, 10),
    wrong=lambda inc: inc.rollout_restart("kafka"))
CASES["astronomy_shop_loadgenerator_flood_homepage"] = _flag_case(*_ratio(
    lambda inc, off: usage(inc, "container_cpu_usage_seconds_total", "frontend", off), 1.5, 5))
CASES["astronomy_shop_recommendation_service_cache_failure"] = _flag_case(*_ratio(
    lambda inc, off: usage(inc, "container_memory_working_set_bytes", "recommendation", off), 1.3, 2.5))


# ------------------------------------------------------------------------------------------------ tests
ORACLE_FAMILIES = [f for f, spec in FAMILIES.items() if spec.oracle]


@pytest.fixture(scope="module")
def healthy_apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Incident]]:
    """One healthy deployment per application (no fault injected), shared by the control tests."""
    made: dict[str, Incident] = {}
    yield made
    for inc in made.values():
        inc.close()


def test_every_family_has_a_case() -> None:
    assert sorted(CASES) == sorted(FAMILIES)
    assert len(FAMILIES) == 26
    assert all(CASES[f].wrong is not None for f in ORACLE_FAMILIES)
    assert all(problem_for(f).family == f for f in FAMILIES)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_fault_is_visible_and_the_operators_fix_mitigates_it(family: str, incident) -> None:
    c = CASES[family]
    inc: Incident = incident(family)
    c.symptoms(inc)
    c.fix(inc)
    inc.advance(c.settle)
    if FAMILIES[family].oracle:
        verdict = mitigated(inc.cluster, inc.fault)
        assert verdict.success, verdict.reasons
    c.recovered(inc)


@pytest.mark.parametrize("family", sorted(ORACLE_FAMILIES))
def test_a_wrong_fix_is_not_mitigated(family: str, incident) -> None:
    c = CASES[family]
    assert c.wrong is not None
    inc: Incident = incident(family)
    c.wrong(inc)
    inc.advance(c.settle)
    verdict = mitigated(inc.cluster, inc.fault)
    assert not verdict.success, "a wrong repair was graded as mitigated"
    assert verdict.reasons


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_symptom_checks_fail_on_a_healthy_app(family: str, healthy_apps: dict[str, Incident],
                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    """A control: each family's symptom check, run against its application without the fault, must fail (noop,
    whose "symptom" is health, must pass), so that no symptom check passes vacuously."""
    app = FAMILIES[family].app or "hotel-reservation"
    if app not in healthy_apps:
        healthy_apps[app] = Incident(family, tmp_path_factory.mktemp("healthy"), inject=False)
    inc = healthy_apps[app].as_family(family)
    if family == "noop":
        CASES[family].symptoms(inc)
    else:
        with pytest.raises(AssertionError):
            CASES[family].symptoms(inc)
