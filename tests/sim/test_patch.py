"""Tests for cluster.sim.patch: RFC 7386, RFC 6902 and Kubernetes strategic merge patch."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.sim.patch import (
    MERGE_KEYS,
    PatchError,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
    supports_strategic_merge,
)


def _directives(value: Any, where: str = "") -> list[str]:
    """Every `$`-prefixed key anywhere in value, with where it sits."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k.startswith("$"):
                found.append(f"{where}.{k}")
            found += _directives(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _directives(v, f"{where}[{i}]")
    return found


def _same(a: Any, b: Any) -> bool:
    # Strict JSON equality (True is not 1) for comparisons where Python's == is too lenient.
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# ================================================================================ RFC 7386 merge patch

# RFC 7386 Appendix A. The cases whose patch is not an object are wrapped one level down ({"x": ...}) because
# the API only patches objects; the semantics of the wrapped member are the same.
RFC7386_CASES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"x": ["a", "b"]}, {"x": ["c", "d"]}, {"x": ["c", "d"]}),
    ({"x": {"a": "b"}}, {"x": ["c"]}, {"x": ["c"]}),
    ({"x": {"a": "foo"}}, {"x": None}, {}),
    ({"x": {"a": "foo"}}, {"x": "bar"}, {"x": "bar"}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({"x": [1, 2]}, {"x": {"a": "b", "c": None}}, {"x": {"a": "b"}}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "expected"), RFC7386_CASES)
def test_merge_patch_rfc7386_appendix_a(original: dict, patch: dict, expected: dict) -> None:
    assert json_merge_patch(original, patch) == expected


def test_merge_patch_rfc7386_section_3_example() -> None:
    original = {"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"},
                "tags": ["example", "sample"], "content": "This will be unchanged"}
    patch = {"title": "Hello!", "phoneNumber": "+01-123-456-7890", "author": {"familyName": None},
             "tags": ["example"]}
    assert json_merge_patch(original, patch) == {
        "title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"],
        "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"}


def test_merge_patch_does_not_mutate_or_alias_inputs() -> None:
    original = {"metadata": {"labels": {"a": "1"}}, "spec": {"list": [{"x": 1}]}}
    patch = {"metadata": {"labels": {"a": None, "b": "2"}}, "spec": {"new": {"deep": [1]}}}
    before = copy.deepcopy((original, patch))
    result = json_merge_patch(original, patch)
    assert (original, patch) == before
    result["spec"]["list"][0]["x"] = 99
    result["spec"]["new"]["deep"].append(2)
    assert (original, patch) == before


def test_merge_patch_rejects_non_object_patch() -> None:
    with pytest.raises(PatchError, match="JSON object"):
        json_merge_patch({"a": 1}, ["not", "an", "object"])  # type: ignore[arg-type]


def test_merge_patch_kubectl_label_and_scale() -> None:
    deploy = {"metadata": {"name": "web", "labels": {"app": "web", "tier": "fe"}}, "spec": {"replicas": 1}}
    labelled = json_merge_patch(deploy, {"metadata": {"labels": {"tier": None, "env": "prod"}}})
    assert labelled["metadata"]["labels"] == {"app": "web", "env": "prod"}
    assert json_merge_patch(deploy, {"spec": {"replicas": 5}})["spec"]["replicas"] == 5


def _merge_diff(a: dict, b: dict) -> dict:
    """A merge patch that turns a into b (b contains no nulls)."""
    patch: dict = {k: None for k in a if k not in b}
    for k, v in b.items():
        if k in a and _same(a[k], v):
            continue
        patch[k] = _merge_diff(a[k], v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
    return patch


_keys = st.text(alphabet="abcxyz", min_size=1, max_size=3)
_scalars = st.one_of(st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False),
                     st.text(alphabet="ab-", max_size=3))
_values = st.recursive(
    _scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=3)),
    max_leaves=12)
_docs = st.dictionaries(_keys, _values, max_size=5)


@settings(max_examples=200, deadline=None)
@given(_docs, _docs)
def test_merge_patch_round_trips_a_generated_diff(a: dict, b: dict) -> None:
    diff = _merge_diff(a, b)
    assert _same(json_merge_patch(a, diff), b)


@settings(max_examples=200, deadline=None)
@given(_docs, _docs)
def test_json_patch_of_every_top_level_key_equals_target(a: dict, b: dict) -> None:
    ops: list[dict] = [{"op": "remove", "path": f"/{k}"} for k in a if k not in b]
    ops += [{"op": "replace" if k in a else "add", "path": f"/{k}", "value": v} for k, v in b.items()]
    before = copy.deepcopy(a)
    assert _same(json_patch(a, ops), b)
    assert _same(a, before)


# Patches with nulls for the SMP-vs-RFC 7386 property; lists stay scalar (lists of maps differ by design).
_patch_values = st.recursive(
    st.one_of(_scalars, st.none()),
    lambda inner: st.one_of(st.lists(_scalars, max_size=3), st.dictionaries(_keys, inner, max_size=3)),
    max_leaves=12)
_scalar_list_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(_scalars, max_size=3), st.dictionaries(_keys, inner, max_size=3)),
    max_leaves=12)
_scalar_list_docs = st.dictionaries(_keys, _scalar_list_values, max_size=5)


@settings(max_examples=200, deadline=None)
@given(_scalar_list_docs, st.dictionaries(_keys, _patch_values, max_size=5))
def test_strategic_merge_without_merge_lists_behaves_like_rfc7386(original: dict, patch: dict) -> None:
    assert _same(strategic_merge_patch(original, patch, "ConfigMap"), json_merge_patch(original, patch))


# ================================================================================ RFC 6902 JSON patch

RFC6902_CASES = [
    ("A.1", {"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
    ("A.2", {"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}],
     {"foo": ["bar", "qux", "baz"]}),
    ("A.3", {"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ("A.4", {"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
    ("A.5", {"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}],
     {"baz": "boo", "foo": "bar"}),
    ("A.6", {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ("A.7", {"foo": ["all", "grass", "cows", "eat"]}, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ("A.8", {"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
    ("A.10", {"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
     {"foo": "bar", "child": {"grandchild": {}}}),
    ("A.11", {"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
     {"foo": "bar", "baz": "qux"}),
    ("A.14", {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    ("A.16", {"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
     {"foo": ["bar", ["abc", "def"]]}),
    ("copy", {"a": {"b": [1]}}, [{"op": "copy", "from": "/a", "path": "/c"}],
     {"a": {"b": [1]}, "c": {"b": [1]}}),
    ("escape-slash", {"a/b": 1}, [{"op": "replace", "path": "/a~1b", "value": 2}], {"a/b": 2}),
    ("root-replace", {"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}], {"b": 2}),
    ("test-numbers", {"n": 1}, [{"op": "test", "path": "/n", "value": 1.0}], {"n": 1}),
    ("test-null", {"n": None}, [{"op": "test", "path": "/n", "value": None}], {"n": None}),
]


@pytest.mark.parametrize(("name", "original", "ops", "expected"), RFC6902_CASES,
                         ids=[c[0] for c in RFC6902_CASES])
def test_json_patch_rfc6902_examples(name: str, original: Any, ops: list[dict], expected: Any) -> None:
    assert json_patch(original, ops) == expected


JSON_PATCH_ERRORS = [
    ("A.9 test fails", {"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], "test failed"),
    ("A.12 missing parent", {"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}],
     "does not exist"),
    ("A.15 string vs number", {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}],
     "test failed"),
    ("test bool vs number", {"a": 1}, [{"op": "test", "path": "/a", "value": True}], "test failed"),
    ("remove missing", {"a": 1}, [{"op": "remove", "path": "/b"}], "does not exist"),
    ("replace missing", {"a": 1}, [{"op": "replace", "path": "/b", "value": 1}], "does not exist"),
    ("move missing from", {"a": 1}, [{"op": "move", "from": "/b", "path": "/c"}], "does not exist"),
    ("index out of range", {"a": [1]}, [{"op": "add", "path": "/a/2", "value": 1}], "out of range"),
    ("leading zero index", {"a": [1, 2]}, [{"op": "remove", "path": "/a/01"}], "not a valid array index"),
    ("dash on remove", {"a": [1]}, [{"op": "remove", "path": "/a/-"}], "not a valid array index"),
    ("unknown op", {"a": 1}, [{"op": "merge", "path": "/a", "value": 1}], "unknown \"op\""),
    ("missing op", {"a": 1}, [{"path": "/a"}], "missing required member \"op\""),
    ("missing value", {"a": 1}, [{"op": "add", "path": "/b"}], "missing required member \"value\""),
    ("missing from", {"a": 1}, [{"op": "copy", "path": "/b"}], "missing required member \"from\""),
    ("bad pointer", {"a": 1}, [{"op": "remove", "path": "a"}], "not a JSON pointer"),
    ("bad escape", {"a": 1}, [{"op": "remove", "path": "/~2"}], "invalid escape"),
    ("move into child", {"a": {"b": {}}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}], "own child"),
    ("through a scalar", {"a": 1}, [{"op": "add", "path": "/a/b", "value": 1}], "not an object or array"),
]


@pytest.mark.parametrize(("name", "original", "ops", "message"), JSON_PATCH_ERRORS,
                         ids=[c[0] for c in JSON_PATCH_ERRORS])
def test_json_patch_errors(name: str, original: Any, ops: list[dict], message: str) -> None:
    with pytest.raises(PatchError, match=message):
        json_patch(original, ops)


def test_json_patch_error_names_the_failing_operation() -> None:
    ops = [{"op": "add", "path": "/x", "value": 1}, {"op": "remove", "path": "/nope"}]
    with pytest.raises(PatchError, match=r"operation 1 .*'/nope' does not exist"):
        json_patch({"a": 1}, ops)


def test_json_patch_is_atomic_and_does_not_mutate_inputs() -> None:
    original = {"a": [1, 2], "b": {"c": 1}}
    ops = [{"op": "add", "path": "/a/-", "value": {"v": 1}}, {"op": "remove", "path": "/b/c"},
           {"op": "test", "path": "/a/0", "value": 2}]
    before = copy.deepcopy((original, ops))
    with pytest.raises(PatchError):
        json_patch(original, ops)
    assert (original, ops) == before
    result = json_patch(original, ops[:2])
    result["a"][2]["v"] = 5
    assert (original, ops) == before


def test_json_patch_rejects_too_many_operations() -> None:
    with pytest.raises(PatchError, match="maximum operations"):
        json_patch({}, [{"op": "test", "path": "", "value": {}}] * 10001)


def test_json_patch_kubectl_rollout_undo_deployment() -> None:
    # kubectl rollout undo on a Deployment sends a JSON patch replacing the template and annotations.
    deploy = _deployment()
    old_template = {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "web:1"}]}}
    ops = [{"op": "replace", "path": "/spec/template", "value": old_template},
           {"op": "replace", "path": "/metadata/annotations",
            "value": {"deployment.kubernetes.io/revision": "3"}}]
    result = json_patch(deploy, ops)
    assert result["spec"]["template"] == old_template
    assert result["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "3"}
    assert result["spec"]["replicas"] == deploy["spec"]["replicas"]


# ============================================================================= strategic merge patch


def _deployment() -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                     "annotations": {"deployment.kubernetes.io/revision": "2"},
                     "finalizers": ["a", "b", "c"]},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"team": "payments"}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "web:1", "args": ["--port", "8080"],
                         "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                         "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                        {"name": "sidecar", "image": "proxy:1"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                },
            },
        },
        "status": {"conditions": [{"type": "Available", "status": "True"},
                                  {"type": "Progressing", "status": "True"}]},
    }


def _containers(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]


def test_smp_set_image_keeps_other_containers_and_fields() -> None:
    deploy = _deployment()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x:2"}]}}}}
    result = strategic_merge_patch(deploy, patch, "Deployment")
    expected = _deployment()
    _containers(expected)[0]["image"] = "x:2"
    assert result == expected
    assert [c["name"] for c in _containers(result)] == ["app", "sidecar"]


def test_smp_set_image_on_second_container_keeps_order() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "proxy:2"}]}}}}
    result = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert [(c["name"], c["image"]) for c in _containers(result)] == [
        ("app", "web:1"), ("sidecar", "proxy:2")]


def test_smp_rollout_restart_adds_template_annotation() -> None:
    patch = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}}}}}
    result = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert result["spec"]["template"]["metadata"]["annotations"] == {
        "team": "payments", "kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}
    result["spec"]["template"]["metadata"]["annotations"].pop("kubectl.kubernetes.io/restartedAt")
    assert result == _deployment()


def test_smp_apply_removing_a_container() -> None:
    # What kubectl apply sends when the sidecar is dropped from the manifest.
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}],
        "containers": [{"$patch": "delete", "name": "sidecar"}],
    }}}}
    result = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert _containers(result) == [_containers(_deployment())[0]]
    assert _directives(result) == []


def test_smp_apply_with_nested_set_element_order() -> None:
    # kubectl apply: reorder env, change B, add C, delete the sidecar, all in one patch.
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}],
        "containers": [
            {"name": "app", "$setElementOrder/env": [{"name": "C"}, {"name": "B"}, {"name": "A"}],
             "env": [{"name": "C", "value": "3"}, {"name": "B", "value": "two"}]},
            {"$patch": "delete", "name": "sidecar"},
        ],
    }}}}
    result = strategic_merge_patch(_deployment(), patch, "Deployment")
    (app,) = _containers(result)
    assert app["env"] == [
        {"name": "C", "value": "3"}, {"name": "B", "value": "two"}, {"name": "A", "value": "1"}]
    assert app["image"] == "web:1" and app["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert _directives(result) == []


def test_smp_set_element_order_reorders_live_list() -> None:
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
        "containers": [{"name": "sidecar", "image": "proxy:2"}],
    }}}}
    result = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert [(c["name"], c["image"]) for c in _containers(result)] == [
        ("sidecar", "proxy:2"), ("app", "web:1")]


def test_smp_set_element_order_inconsistent_with_patch_list_is_rejected() -> None:
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}],
        "containers": [{"name": "other", "image": "x"}],
    }}}}
    with pytest.raises(PatchError, match="doesn't match \\$setElementOrder"):
        strategic_merge_patch(_deployment(), patch, "Deployment")


def test_smp_retain_keys_on_strategy() -> None:
    # kubectl apply switching RollingUpdate -> Recreate.
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"}}}
    result = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    assert result["spec"]["replicas"] == 3


def test_smp_retain_keys_drops_unlisted_live_fields() -> None:
    deploy = _deployment()
    patch = {"spec": {"strategy": {"$retainKeys": ["type"]}}}
    assert strategic_merge_patch(deploy, patch, "Deployment")["spec"]["strategy"] == {"type": "RollingUpdate"}


def test_smp_retain_keys_must_list_patched_fields() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}}
    with pytest.raises(PatchError, match=r"retainKeys.*rollingUpdate"):
        strategic_merge_patch(_deployment(), patch, "Deployment")


def _service() -> dict:
    return {"kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]}}


def test_smp_service_ports_merged_by_port() -> None:
    patch = {"spec": {"ports": [{"port": 443, "targetPort": 9443}, {"port": 9090, "name": "metrics"}]}}
    result = strategic_merge_patch(_service(), patch, "Service")
    assert result["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "https", "port": 443, "targetPort": 9443, "protocol": "TCP"},
        {"port": 9090, "name": "metrics"},
    ]


def test_smp_service_port_delete_directive() -> None:
    patch = {"spec": {"ports": [{"$patch": "delete", "port": 80}]}}
    result = strategic_merge_patch(_service(), patch, "Service")
    assert [p["port"] for p in result["spec"]["ports"]] == [443]


def test_smp_env_merged_by_name() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [
        {"name": "B", "value": "changed"}, {"name": "NEW", "value": "x"},
        {"name": "A", "$patch": "delete"}]}]}}}}
    result = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert _containers(result)[0]["env"] == [{"name": "B", "value": "changed"}, {"name": "NEW", "value": "x"}]


def test_smp_env_value_from_replaces_value_with_null() -> None:
    # kubectl set env from a secret: value is nulled and valueFrom added, inside the merged env item.
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [
        {"name": "A", "value": None, "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]}}}}
    env = _containers(strategic_merge_patch(_deployment(), patch, "Deployment"))[0]["env"]
    assert env[0] == {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}


def test_smp_atomic_lists_are_replaced() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "args": ["--verbose"]}]}}}}
    result = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert _containers(result)[0]["args"] == ["--verbose"]


def test_smp_finalizers_are_a_set_union_in_kube_order() -> None:
    patch = {"metadata": {"finalizers": ["b", "d"]}}
    result = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert result["metadata"]["finalizers"] == ["a", "b", "d", "c"]


# Ordering cases from strategicpatch's own patch_test.go (customStrategicMergePatchTestCaseData).
KUBE_ORDER_CASES = [
    ("patch order wins", [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}],
     [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}, {"name": 2, "other": "x"}],
     [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}, {"name": 2, "value": "b", "other": "x"}]),
    ("server-only items keep their place", [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}],
     [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}],
     [{"name": 2, "value": "b"}, {"name": 3, "value": "c"}, {"name": 1, "value": "a"}]),
    ("delete all duplicates", [{"name": 1}, {"name": 1}, {"name": 2, "value": "a"}, {"name": 3}, {"name": 3}],
     [{"name": 1, "$patch": "delete"}, {"name": 3, "$patch": "delete"}], [{"name": 2, "value": "a"}]),
    ("replace empties the list", [{"name": 1}, {"name": 2}], [{"$patch": "replace"}], []),
]


@pytest.mark.parametrize(("name", "live", "patch_list", "expected"), KUBE_ORDER_CASES,
                         ids=[c[0] for c in KUBE_ORDER_CASES])
def test_smp_kube_ordering_cases(name: str, live: list, patch_list: list, expected: list) -> None:
    pod = {"spec": {"imagePullSecrets": live}}
    result = strategic_merge_patch(pod, {"spec": {"imagePullSecrets": patch_list}}, "Pod")
    assert result["spec"]["imagePullSecrets"] == expected


def test_smp_kube_set_element_order_cases() -> None:
    live = {"metadata": {"finalizers": [1, 3]}, "spec": {"imagePullSecrets": [{"name": 1}, {"name": 3}]}}
    patch = {"metadata": {"$setElementOrder/finalizers": [3, 2, 1]},
             "spec": {"$setElementOrder/imagePullSecrets": [{"name": 3}, {"name": 2}, {"name": 1}],
                      "imagePullSecrets": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}}
    result = strategic_merge_patch(live, patch, "Pod")
    assert result == {"metadata": {"finalizers": [3, 1]},
                      "spec": {"imagePullSecrets": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}}
    unordered = strategic_merge_patch({"metadata": {"finalizers": [1, 2, 3]}},
                                      {"metadata": {"finalizers": [3, 1]}}, "Pod")
    assert unordered == {"metadata": {"finalizers": [2, 3, 1]}}


def test_smp_delete_from_primitive_list() -> None:
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"],
                          "$setElementOrder/finalizers": ["a", "c"]}}
    result = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert result["metadata"]["finalizers"] == ["a", "c"]
    assert _directives(result) == []


def test_smp_null_deletes_and_unmatched_null_is_ignored() -> None:
    patch = {"metadata": {"labels": {"app": None, "missing": None}}, "spec": {"paused": None}}
    result = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert result["metadata"]["labels"] == {}
    assert "paused" not in result["spec"]


def test_smp_patch_replace_on_map_statefulset_rollout_undo() -> None:
    # kubectl rollout undo on a StatefulSet/DaemonSet applies the ControllerRevision's patch.
    sts = _deployment() | {"kind": "StatefulSet"}
    template = {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "web:0"}]}}
    patch = {"spec": {"template": {"$patch": "replace", **template}}}
    result = strategic_merge_patch(sts, patch, "StatefulSet")
    assert result["spec"]["template"] == template
    assert result["spec"]["replicas"] == 3


def test_smp_patch_replace_on_list() -> None:
    containers = [{"$patch": "replace"}, {"name": "only", "image": "o"}]
    patch = {"spec": {"template": {"spec": {"containers": containers}}}}
    result = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert _containers(result) == [{"name": "only", "image": "o"}]


def test_smp_patch_delete_on_map_empties_it_like_kube() -> None:
    result = strategic_merge_patch(_deployment(), {"spec": {"strategy": {"$patch": "delete"}}}, "Deployment")
    assert result["spec"]["strategy"] == {}


def test_smp_patch_merge_on_map_is_default_merge() -> None:
    patch = {"metadata": {"labels": {"$patch": "merge", "tier": "fe"}}}
    result = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert result["metadata"]["labels"] == {"app": "web", "tier": "fe"}


def test_smp_new_items_and_fields_never_carry_directives_or_nulls() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "a"}]}}
    patch = {"spec": {
        "containers": [{"name": "new", "image": "n", "ports": None,
                        "$setElementOrder/env": [{"name": "X"}], "env": [{"name": "X", "value": "1"}]}],
        "volumes": [{"$patch": "delete", "name": "gone"}, {"name": "v", "emptyDir": {"$patch": "replace"}}],
        "securityContext": {"runAsUser": 1000, "fsGroup": None},
    }}
    result = strategic_merge_patch(pod, patch, "Pod")
    assert _directives(result) == []
    # Without $setElementOrder kube puts patch-only items before server items it cannot place.
    assert result["spec"]["containers"] == [
        {"name": "new", "image": "n", "env": [{"name": "X", "value": "1"}]}, {"name": "app", "image": "a"}]
    assert result["spec"]["volumes"] == [{"name": "v", "emptyDir": {}}]
    assert result["spec"]["securityContext"] == {"runAsUser": 1000}


def test_smp_kubectl_edit_style_patch() -> None:
    # CreateTwoWayMergePatch output for: add a port, change env B, label added, annotation removed.
    patch = {
        "metadata": {"labels": {"release": "v2"}, "annotations": {"deployment.kubernetes.io/revision": None}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
            "containers": [{
                "name": "app",
                "$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
                "$setElementOrder/ports": [{"containerPort": 8080}, {"containerPort": 9090}],
                "env": [{"name": "B", "value": "3"}],
                "ports": [{"containerPort": 9090, "name": "metrics"}],
            }],
        }}},
    }
    result = strategic_merge_patch(_deployment(), patch, "Deployment")
    app = _containers(result)[0]
    assert app["ports"] == [
        {"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 9090, "name": "metrics"}]
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]
    assert result["metadata"]["labels"] == {"app": "web", "release": "v2"}
    assert result["metadata"]["annotations"] == {}
    assert [c["name"] for c in _containers(result)] == ["app", "sidecar"]
    assert _directives(result) == []


def test_smp_scale_subresource() -> None:
    scale = {"kind": "Scale", "metadata": {"name": "web"}, "spec": {"replicas": 3}, "status": {"replicas": 3}}
    result = strategic_merge_patch(scale, {"spec": {"replicas": 7}}, "Scale")
    assert result == {**scale, "spec": {"replicas": 7}}


def test_smp_cronjob_set_image_uses_job_template_path() -> None:
    cronjob = {"kind": "CronJob", "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {
        "spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}}}}
    pod_spec = {"containers": [{"name": "b", "image": "b:2"}]}
    patch = {"spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec}}}}}
    result = strategic_merge_patch(cronjob, patch, "CronJob")
    assert result["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"] == [
        {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}]


def test_smp_status_conditions_merged_by_type() -> None:
    patch = {"status": {"conditions": [
        {"type": "Available", "status": "False", "reason": "MinimumReplicas"}]}}
    result = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert result["status"]["conditions"] == [
        {"type": "Available", "status": "False", "reason": "MinimumReplicas"},
        {"type": "Progressing", "status": "True"}]


def test_smp_node_conditions_and_addresses_merged_by_type() -> None:
    node = {"kind": "Node", "metadata": {"name": "n1"}, "status": {
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "False"}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}]}}
    patch = {"status": {"conditions": [{"type": "Ready", "status": "False"}],
                        "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}}
    result = strategic_merge_patch(node, patch, "Node")
    assert result["status"]["conditions"] == [{"type": "Ready", "status": "False"},
                                              {"type": "MemoryPressure", "status": "False"}]
    assert result["status"]["addresses"] == [{"type": "InternalIP", "address": "10.0.0.2"},
                                             {"type": "Hostname", "address": "n1"}]


def test_smp_endpoints_subsets_are_replaced() -> None:
    endpoints = {"kind": "Endpoints",
                 "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]}
    subsets = [{"addresses": [{"ip": "10.0.0.2"}]}]
    assert strategic_merge_patch(endpoints, {"subsets": subsets}, "Endpoints")["subsets"] == subsets


def test_smp_owner_references_merged_by_uid() -> None:
    pod = {"metadata": {"ownerReferences": [{"uid": "1", "name": "rs-a"}, {"uid": "2", "name": "rs-b"}]}}
    patch = {"metadata": {"ownerReferences": [{"uid": "2", "controller": True}]}}
    result = strategic_merge_patch(pod, patch, "Pod")
    assert result["metadata"]["ownerReferences"] == [{"uid": "1", "name": "rs-a"},
                                                     {"uid": "2", "name": "rs-b", "controller": True}]


def test_smp_does_not_mutate_or_alias_inputs() -> None:
    deploy = _deployment()
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}, "template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}],
        "containers": [{"name": "app", "env": [{"name": "Z", "value": "z"}]},
                       {"$patch": "delete", "name": "sidecar"}],
    }}}, "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "labels": {"app": None}}}
    before = copy.deepcopy((deploy, patch))
    result = strategic_merge_patch(deploy, patch, "Deployment")
    assert (deploy, patch) == before
    _containers(result)[0]["env"].append({"name": "W"})
    result["spec"]["template"]["spec"]["volumes"][0]["emptyDir"]["medium"] = "Memory"
    assert (deploy, patch) == before
    assert _directives(result) == []


def test_smp_missing_merge_key_is_an_error() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"image": "nameless"}]}}}}
    with pytest.raises(PatchError, match="merge key: name"):
        strategic_merge_patch(_deployment(), patch, "Deployment")


def test_smp_unknown_directives_are_errors() -> None:
    with pytest.raises(PatchError, match="Unknown patch type"):
        strategic_merge_patch(_deployment(), {"spec": {"$patch": "explode"}}, "Deployment")
    with pytest.raises(PatchError, match="unknown strategic merge patch directive"):
        strategic_merge_patch(_deployment(), {"spec": {"$frobnicate": 1}}, "Deployment")
    with pytest.raises(PatchError, match="merging lists cannot yet be specified"):
        strategic_merge_patch(_service(), {"spec": {"ports": [{"$patch": "merge"}]}}, "Service")


def test_smp_custom_resources_are_unsupported() -> None:
    assert supports_strategic_merge("Deployment")
    assert supports_strategic_merge("ConfigMap")
    assert not supports_strategic_merge("Widget")
    with pytest.raises(PatchError, match="not supported for kind 'Widget'"):
        strategic_merge_patch({"spec": {}}, {"spec": {"a": 1}}, "Widget")


def test_merge_key_table_rows() -> None:
    assert MERGE_KEYS[("Pod", "spec.containers")] == "name"
    assert MERGE_KEYS[("Pod", "spec.containers.*.ports")] == "containerPort"
    assert MERGE_KEYS[("Pod", "spec.containers.*.volumeMounts")] == "mountPath"
    assert MERGE_KEYS[("Pod", "spec.hostAliases")] == "ip"
    assert MERGE_KEYS[("Pod", "spec.topologySpreadConstraints")] == "topologyKey"
    assert MERGE_KEYS[("Pod", "metadata.finalizers")] is None
    assert MERGE_KEYS[("Deployment", "spec.template.spec.containers.*.env")] == "name"
    assert MERGE_KEYS[("CronJob", "spec.jobTemplate.spec.template.spec.initContainers")] == "name"
    assert MERGE_KEYS[("Service", "spec.ports")] == "port"
    assert MERGE_KEYS[("Node", "status.addresses")] == "type"
    assert ("Endpoints", "subsets") not in MERGE_KEYS
