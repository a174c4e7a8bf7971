"""Property tests: random and mutated tokens and plans are never accepted and never crash the executor."""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from mcp import Client
from pydantic import ValidationError

from servers.executor.plan import parse_plan, plan_hash
from servers.executor.server import build_server
from tests.executor.conftest import Env

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                max_size=4), max_leaves=12)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Fixture:
    """One approved plan and its token per module (refusals leave the cluster unchanged, so it can be shared)."""

    def __init__(self, env: Env):
        self.env = env
        self.plan = env.plan([{"type": "scale", "namespace": env.ns, "name": env.target, "replicas": 1},
                              {"type": "rollout_restart", "namespace": env.ns, "name": env.target}])
        self.doc = self.plan.model_dump(mode="json")
        self.token = env.approve(self.plan)
        self.rv = env.rv()

    def refused(self, plan: Any, token: Any) -> str:
        result = self.env.executor.execute(plan, token)
        assert result.status == "refused", result.model_dump_json(indent=1)
        assert result.reason != "internal_error", result.message
        assert self.env.rv() == self.rv
        return str(result.reason)


_fixtures: dict[int, Fixture] = {}


def fx(env: Env) -> Fixture:
    if id(env) not in _fixtures:
        _fixtures[id(env)] = Fixture(env)
    return _fixtures[id(env)]


# ------------------------------------------------------------------------------------------------ tokens
@FUZZ
@given(token=st.one_of(st.text(max_size=300), st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
                       st.lists(st.text(alphabet="ABCxyz0189-_=.+/", max_size=60), min_size=1, max_size=5)
                       .map(".".join)))
def test_random_tokens(shared_env: Env, token: str) -> None:
    fx(shared_env).refused(fx(shared_env).doc, token)


@FUZZ
@given(header=st.dictionaries(st.sampled_from(["alg", "typ", "kid", "jwk", "crit", "x"]), JSON, max_size=4),
       claims=JSON, sig=st.binary(max_size=80))
def test_structured_random_tokens(shared_env: Env, header: dict[str, Any], claims: Any, sig: bytes) -> None:
    token = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(sig)}"
    fx(shared_env).refused(fx(shared_env).doc, token)


@FUZZ
@given(data=st.data())
def test_mutated_tokens(shared_env: Env, data: st.DataObject) -> None:
    f = fx(shared_env)
    token = f.token
    op = data.draw(st.sampled_from(["flip", "delete", "insert", "swap", "truncate", "resign-claims"]))
    i = data.draw(st.integers(0, len(token) - 1))
    if op == "flip":
        c = data.draw(st.sampled_from("ABCDEFabcdef0123456789-_."))
        mutated = token[:i] + c + token[i + 1:]
    elif op == "delete":
        mutated = token[:i] + token[i + 1:]
    elif op == "insert":
        mutated = token[:i] + data.draw(st.text(min_size=1, max_size=3)) + token[i:]
    elif op == "swap":
        h, p, s = token.split(".")
        mutated = data.draw(st.sampled_from([f"{p}.{h}.{s}", f"{h}.{s}.{p}", f"{s}.{p}.{h}", f"{h}.{p}.{s}{s}"]))
    elif op == "truncate":
        mutated = token[:i]
    else:  # change one claim and keep the old signature
        h, p, s = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
        key = data.draw(st.sampled_from(sorted(claims)))
        claims[key] = data.draw(JSON)
        mutated = f"{h}.{b64(json.dumps(claims).encode())}.{s}"
    assume(mutated != token)
    f.refused(f.doc, mutated)


# ------------------------------------------------------------------------------------------------ plans
def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    doc = json.loads(json.dumps(doc))
    node = doc
    for p in path[:-1]:
        node = node[p]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


@FUZZ
@given(data=st.data())
def test_mutated_plans(shared_env: Env, data: st.DataObject) -> None:
    f = fx(shared_env)
    path = data.draw(st.sampled_from(_paths(f.doc)))
    delete = bool(path) and data.draw(st.booleans())
    value = data.draw(st.one_of(JSON, st.sampled_from(["scale", "exec", "merge_patch", "kube-system", "Secret", 0,
                                                       10**6, -1, "", "../x"])))
    mutated = _set(f.doc, path, value, delete)
    try:
        same = plan_hash(parse_plan(mutated)) == plan_hash(f.plan)
    except (ValidationError, ValueError, TypeError):
        same = False
    assume(not same)  # e.g. 1 -> 1.0, or deleting a field that has that default: the same plan
    reason = f.refused(mutated, f.token)
    assert reason in ("invalid_plan", "plan_id_mismatch", "plan_hash_mismatch")


@FUZZ
@given(plan=st.one_of(JSON, st.text(max_size=200), st.fixed_dictionaries(
    {"id": st.text(max_size=10), "goal": st.text(max_size=10), "cluster": st.text(max_size=10),
     "actions": st.lists(st.dictionaries(st.sampled_from(["type", "namespace", "name", "kind", "replicas"]), JSON),
                         max_size=3)})))
def test_random_plans(shared_env: Env, plan: Any) -> None:
    f = fx(shared_env)
    f.refused(plan, f.token)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.one_of(JSON, st.text(max_size=50)), token=st.one_of(st.text(max_size=50), st.just("a.b.c")))
def test_random_calls_over_mcp(shared_env: Env, plan: Any, token: str) -> None:
    """Through the MCP layer too: a refusal (or an argument error), never a crash, never a change."""
    f = fx(shared_env)
    server = build_server(shared_env.executor)

    async def main() -> None:
        async with Client(server) as c:
            r = await c.call_tool("execute_plan", {"plan": plan, "token": token})
            if not r.is_error:
                assert r.structured_content is not None and r.structured_content["status"] == "refused"
            assert (await c.call_tool("show_policy", {})).structured_content is not None

    anyio.run(main)
    assert shared_env.rv() == f.rv
