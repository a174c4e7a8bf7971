"""The plan model: a closed, typed action set; canonical JSON; the hash binds every argument."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from servers.executor.plan import (
    ACTION_TYPES,
    VERB_CLASSES,
    Exec,
    MergePatch,
    Plan,
    Scale,
    canonical_json,
    parse_plan,
    plan_hash,
)


def plan(*actions: dict, **kw: object) -> Plan:
    return Plan.model_validate({"id": "p-1", "goal": "g", "cluster": "https://10.0.0.1:6443",
                                "actions": list(actions), **kw})


SCALE = {"type": "scale", "namespace": "web", "name": "api", "replicas": 2}


def test_canonical_json_is_sorted_compact_and_complete() -> None:
    p = plan(SCALE)
    raw = canonical_json(p)
    assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    assert b" " not in raw and b'"resource_version":null' in raw and b'"kind":"Deployment"' in raw
    # The same plan written differently (key order, whitespace, defaults spelled out) hashes the same.
    again = parse_plan(json.dumps({"cluster": "https://10.0.0.1:6443", "actions": [
        {"replicas": 2, "name": "api", "namespace": "web", "type": "scale", "kind": "Deployment"}],
        "goal": "g", "id": "p-1", "rationale": ""}, indent=2))
    assert plan_hash(again) == plan_hash(p) and len(plan_hash(p)) == 64


def test_every_argument_is_in_the_hash() -> None:
    base = plan_hash(plan(SCALE))
    for change in ({"replicas": 3}, {"name": "api2"}, {"namespace": "web2"}, {"kind": "StatefulSet"},
                   {"resource_version": "7"}):
        assert plan_hash(plan({**SCALE, **change})) != base
    assert plan_hash(plan(SCALE, rationale="because")) != base
    assert plan_hash(plan(SCALE, SCALE)) != base


def test_closed_action_set() -> None:
    assert set(ACTION_TYPES) == {"rollout_restart", "scale", "rollout_undo", "set_image", "patch_container",
                                 "patch_scheduling", "patch_service", "delete_pod", "delete_chaos", "patch_chaos",
                                 "exec", "merge_patch"}
    with pytest.raises(ValidationError):
        plan({"type": "drop_database", "namespace": "a", "name": "b"})
    with pytest.raises(ValidationError):  # unknown fields are refused, not silently dropped before hashing
        plan({**SCALE, "force": True})
    with pytest.raises(ValidationError):
        Plan.model_validate({"id": "p", "goal": "g", "cluster": "c", "actions": [SCALE], "approved": True})
    with pytest.raises(ValidationError):
        plan()


@pytest.mark.parametrize("bad", [
    {**SCALE, "name": "../../secrets"}, {**SCALE, "name": "API"}, {**SCALE, "namespace": ""},
    {**SCALE, "namespace": "a/b"}, {**SCALE, "replicas": -1}, {**SCALE, "kind": "Pod"},
    {"type": "merge_patch", "kind": "Nope", "namespace": "a", "name": "b", "patch": {"x": 1}},
    {"type": "merge_patch", "kind": "PersistentVolume", "namespace": "a", "name": "b", "patch": {"x": 1}},
    {"type": "merge_patch", "kind": "ConfigMap", "namespace": "a", "name": "b", "patch": {}},
    {"type": "merge_patch", "kind": "ConfigMap", "namespace": "a", "name": "b", "patch": {"x": float("nan")}},
    {"type": "patch_container", "namespace": "a", "name": "b", "container": "c"},
    {"type": "patch_service", "namespace": "a", "name": "b", "ports": []},
    {"type": "exec", "namespace": "a", "name": "b", "command": []},
    {"type": "delete_chaos", "kind": "Deployment", "namespace": "a", "name": "b"},
])
def test_invalid_actions(bad: dict) -> None:
    with pytest.raises(ValidationError):
        plan(bad)


def test_verb_classes_and_namespaces() -> None:
    p = plan(SCALE, {"type": "rollout_restart", "namespace": "db", "name": "x"},
             {"type": "delete_pod", "namespace": "web", "name": "api-1"},
             {"type": "exec", "kind": "Deployment", "namespace": "db", "name": "mongo", "command": ["mongo"]},
             {"type": "merge_patch", "kind": "PersistentVolume", "namespace": "", "name": "pv-1",
              "patch": {"spec": {"claimRef": None}}})
    assert [a.verb_class for a in p.actions] == ["scale", "restart", "delete", "exec", "patch"]
    assert set(VERB_CLASSES) >= {a.verb_class for a in p.actions}
    assert p.namespaces() == ["", "db", "web"]
    assert isinstance(p.actions[0], Scale) and isinstance(p.actions[3], Exec)
    assert isinstance(p.actions[4], MergePatch) and p.actions[4].target() == "PersistentVolume//pv-1"


def test_plans_are_frozen() -> None:
    p = plan(SCALE)
    with pytest.raises(ValidationError):
        p.actions[0].replicas = 5  # type: ignore[misc]


def test_the_plan_module_imports_no_kubernetes_client_or_keys() -> None:
    code = ("import sys, servers.executor.plan; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'jwt', 'cryptography', 'mcp')]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


NAME = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
ACTIONS = st.one_of(
    st.builds(lambda ns, n, r: {"type": "scale", "namespace": ns, "name": n, "replicas": r}, NAME, NAME,
              st.integers(0, 100)),
    st.builds(lambda ns, n: {"type": "rollout_restart", "namespace": ns, "name": n}, NAME, NAME),
    st.builds(lambda ns, n, img: {"type": "set_image", "namespace": ns, "name": n, "container": "c", "image": img},
              NAME, NAME, st.text(min_size=1, max_size=30)),
    st.builds(lambda ns, n, d: {"type": "merge_patch", "kind": "ConfigMap", "namespace": ns, "name": n,
                                "patch": {"data": d}},
              NAME, NAME, st.dictionaries(st.text(max_size=8), st.text(max_size=8), min_size=1, max_size=3)),
    st.builds(lambda ns, n, argv: {"type": "exec", "namespace": ns, "name": n, "command": argv}, NAME, NAME,
              st.lists(st.text(max_size=20), min_size=1, max_size=5)),
)


@settings(max_examples=60, deadline=None)
@given(actions=st.lists(ACTIONS, min_size=1, max_size=5), goal=st.text(min_size=1, max_size=40))
def test_canonical_round_trip(actions: list[dict], goal: str) -> None:
    p = Plan.model_validate({"id": "p", "goal": goal, "cluster": "c", "actions": actions})
    again = parse_plan(canonical_json(p))
    assert canonical_json(again) == canonical_json(p) and plan_hash(again) == plan_hash(p)
    assert parse_plan(p.model_dump()) == p
