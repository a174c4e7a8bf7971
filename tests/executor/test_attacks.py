"""The attack suite: every refusal rule, each checked to leave the cluster untouched and to be in the audit log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import anyio
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from mcp import Client

from servers.executor.keys import TOKEN_TYPE, sign_plan
from servers.executor.plan import Plan, plan_hash
from servers.executor.server import build_server
from tests.executor.conftest import Env


def b64(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_for(env: Env, plan: Plan, **over: Any) -> dict[str, Any]:
    t = int(time.time())
    c = {"iss": "alice", "aud": env.cluster_id, "plan_id": plan.id, "plan_sha256": plan_hash(plan),
         "namespaces": plan.namespaces(), "iat": t, "nbf": t, "exp": t + 300, "jti": secrets.token_urlsafe(24),
         "observed": env.observed(plan)}
    c.update(over)
    return {k: v for k, v in c.items() if v is not ...}


def raw_token(env: Env, plan: Plan, header: dict[str, Any], key: str | None = "alice", **claims: Any) -> str:
    """A token built by hand: any header, any claims, signed by a key of the test keyring (or not at all)."""
    signing_input = f"{b64(header)}.{b64(claims_for(env, plan, **claims))}"
    if key is None:
        return signing_input + "."
    sig = getattr(env.keys, key).sign(signing_input.encode())
    return f"{signing_input}.{b64(sig)}"


def scale_plan(env: Env, replicas: int = 1, **kw: Any) -> Plan:
    return env.plan([{"type": "scale", "namespace": env.ns, "name": env.target, "replicas": replicas}], **kw)


def assert_not_in_audit(env: Env, token: str) -> None:
    """Neither the token nor its signature (the part that makes it usable) is written anywhere."""
    text = env.audit.path.read_text()
    assert token not in text
    sig = token.split(".")[-1]
    assert len(sig) < 16 or sig not in text


def assert_refused(env: Env, plan: Any, token: Any, reason: str) -> None:
    """Execute; the answer is a refusal with ``reason``, nothing in the cluster changed, the audit log has it."""
    before_rv, before = env.rv(), env.namespace_state()
    audit_before = len(env.audit.entries())
    result = env.executor.execute(plan, token)
    assert (result.status, result.reason) == ("refused", reason), result.message
    assert env.rv() == before_rv and env.namespace_state() == before
    entries = env.audit.entries()
    assert len(entries) == audit_before + 1
    last = entries[-1]
    assert (last["result"], last["reason"], last["op"]) == ("refused", reason, "execute")
    if isinstance(token, str) and token:
        assert_not_in_audit(env, token)
        assert last["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    # Writes never happened: the requests recorded for a refusal are reads and dry-runs only.
    assert all(r["method"] == "GET" or r.get("dryRun") == "All" for r in last["requests"])


# ------------------------------------------------------------------------------------------------ the token
def test_malformed_tokens(shared_env: Env) -> None:
    plan = scale_plan(shared_env)
    for token in ("", "abc", "a.b", "a.b.c.d", "!!!.???.x", "x" * 20000, f"{b64(b'[1]')}.{b64(b'{}')}.x"):
        assert_refused(shared_env, plan, token, "malformed_token")


def test_alg_none(shared_env: Env) -> None:
    plan = scale_plan(shared_env)
    for alg in ("none", "None", "NONE"):
        token = raw_token(shared_env, plan, {"alg": alg, "typ": TOKEN_TYPE, "kid": "alice"}, key=None)
        assert_refused(shared_env, plan, token, "alg_none")


def test_hs256_with_the_public_key_as_secret(shared_env: Env) -> None:
    """The classic confusion: an HMAC keyed with the (public) verification key, in each of its encodings."""
    plan = scale_plan(shared_env)
    entry = shared_env.keys.keyring.get("alice")
    assert entry is not None
    pub = entry.public()
    secrets_ = [entry.public_key.encode(),
                pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
                pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)]
    for alg, digest in (("HS256", hashlib.sha256), ("HS384", hashlib.sha384), ("HS512", hashlib.sha512)):
        for secret in secrets_:
            header = {"alg": alg, "typ": TOKEN_TYPE, "kid": "alice"}
            signing_input = f"{b64(header)}.{b64(claims_for(shared_env, plan))}"
            token = f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), digest).digest())}"
            assert_refused(shared_env, plan, token, "alg_hmac")


def test_other_algorithms(shared_env: Env) -> None:
    plan = scale_plan(shared_env)
    for alg in ("RS256", "ES256", "PS256", "Ed25519", "eddsa", 7, None):
        header = {"alg": alg, "typ": TOKEN_TYPE, "kid": "alice"}
        token = raw_token(shared_env, plan, header)
        assert_refused(shared_env, plan, token, "alg_none" if alg is None else "alg_not_allowed")


def test_keys_smuggled_in_the_header(shared_env: Env) -> None:
    """A token that brings its own key (jwk/jku/x5u/x5c) or processing rules (crit, b64) is refused."""
    plan = scale_plan(shared_env)
    mallory_pub = shared_env.keys.mallory.public_key().public_bytes(serialization.Encoding.Raw,
                                                                    serialization.PublicFormat.Raw)
    extras = [{"jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64(mallory_pub)}}, {"jku": "https://evil/jwks"},
              {"x5u": "https://evil/cert"}, {"x5c": ["MIIB"]}, {"crit": ["exp"]}, {"b64": False}]
    for extra in extras:
        token = raw_token(shared_env, plan, {"alg": "EdDSA", "typ": TOKEN_TYPE, "kid": "alice", **extra},
                          key="mallory")
        assert_refused(shared_env, plan, token, "header_not_allowed")


def test_not_a_plan_token(shared_env: Env) -> None:
    plan = scale_plan(shared_env)
    for typ in ("JWT", None, "at+jwt"):
        header = {"alg": "EdDSA", "kid": "alice", **({"typ": typ} if typ else {})}
        assert_refused(shared_env, plan, raw_token(shared_env, plan, header), "wrong_token_type")


def test_unknown_key(shared_env: Env) -> None:
    plan = scale_plan(shared_env)
    token = sign_plan(plan, shared_env.keys.mallory, "mallory", shared_env.cluster_id,
                      observed=shared_env.observed(plan))
    assert_refused(shared_env, plan, token, "unknown_key")
    for kid in (None, "", "../alice", "alice\x00", 5):
        header = {"alg": "EdDSA", "typ": TOKEN_TYPE, **({"kid": kid} if kid is not None else {})}
        assert_refused(shared_env, plan, raw_token(shared_env, plan, header), "unknown_key")


def test_kid_confusion(shared_env: Env) -> None:
    plan = scale_plan(shared_env)
    # Mallory signs but names alice's key: the signature does not verify with alice's key.
    token = sign_plan(plan, shared_env.keys.mallory, "alice", shared_env.cluster_id,
                      observed=shared_env.observed(plan))
    assert_refused(shared_env, plan, token, "bad_signature")
    # The observer's key signs but claims alice's (wider) rights in iss, or names alice in the header.
    header = {"alg": "EdDSA", "typ": TOKEN_TYPE, "kid": "observer"}
    assert_refused(shared_env, plan, raw_token(shared_env, plan, header, key="observer", iss="alice"),
                   "kid_mismatch")
    header = {"alg": "EdDSA", "typ": TOKEN_TYPE, "kid": "alice"}
    assert_refused(shared_env, plan, raw_token(shared_env, plan, header, key="observer", iss="alice"),
                   "bad_signature")


def test_bad_signature_and_spliced_parts(shared_env: Env) -> None:
    plan = scale_plan(shared_env)
    good = shared_env.approve(plan)
    h, p, s = good.split(".")
    other = shared_env.approve(scale_plan(shared_env, replicas=2))
    flipped = s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1]
    assert_refused(shared_env, plan, f"{h}.{p}.{flipped}", "bad_signature")
    assert_refused(shared_env, plan, f"{h}.{other.split('.')[1]}.{s}", "bad_signature")
    assert_refused(shared_env, plan, f"{h}.{p}.", "bad_signature")


def test_bad_claims(shared_env: Env) -> None:
    plan = scale_plan(shared_env)
    header = {"alg": "EdDSA", "typ": TOKEN_TYPE, "kid": "alice"}
    t = int(time.time())
    for over in ({"jti": ...}, {"exp": float(t + 300)}, {"exp": str(t + 300)}, {"extra": 1}, {"namespaces": "x"},
                 {"observed": [1]}, {"jti": "short"}, {"plan_sha256": "XYZ"}, {"nbf": t + 10, "exp": t + 10}):
        assert_refused(shared_env, plan, raw_token(shared_env, plan, header, **over), "bad_claims")


def test_wrong_audience_and_cluster(shared_env: Env) -> None:
    plan = scale_plan(shared_env)
    token = shared_env.approve(plan, audience="https://prod.example.com:6443")
    assert_refused(shared_env, plan, token, "wrong_audience")
    other = scale_plan(shared_env, cluster="https://prod.example.com:6443")
    assert_refused(shared_env, other, shared_env.approve(other, observed=shared_env.observed(plan)), "wrong_cluster")


def test_time(shared_env: Env) -> None:
    plan = scale_plan(shared_env)
    t = time.time()
    assert_refused(shared_env, plan, shared_env.approve(plan, now=t - 1000, ttl_s=300), "expired")
    assert_refused(shared_env, plan, shared_env.approve(plan, now=t + 1000, ttl_s=300), "not_yet_valid")
    assert_refused(shared_env, plan, shared_env.approve(plan, ttl_s=shared_env.executor.policy.max_token_lifetime_s
                                                        + 60), "lifetime_over_cap")


# ------------------------------------------------------------------------------------------------ the plan
def test_invalid_plans(shared_env: Env) -> None:
    plan = scale_plan(shared_env)
    token = shared_env.approve(plan)
    doc = plan.model_dump(mode="json")
    bad = [None, 5, "not json", "{}", [doc], {**doc, "extra": 1},
           {**doc, "actions": [{**doc["actions"][0], "type": "drop_database"}]},
           {**doc, "actions": [{**doc["actions"][0], "name": "../../secrets"}]},
           {**doc, "actions": []}]
    for p in bad:
        assert_refused(shared_env, p, token, "invalid_plan")


def test_any_changed_argument_is_refused(shared_env: Env) -> None:
    plan = scale_plan(shared_env)
    token = shared_env.approve(plan)
    doc = plan.model_dump(mode="json")
    assert_refused(shared_env, {**doc, "id": "fix-2"}, token, "plan_id_mismatch")
    mutations = [{"replicas": 50}, {"name": "compose-post-service"}, {"namespace": "test-hotel-reservation"},
                 {"kind": "StatefulSet"}, {"resource_version": "1"}]
    for m in mutations:
        changed = {**doc, "actions": [{**doc["actions"][0], **m}]}
        assert_refused(shared_env, changed, token, "plan_hash_mismatch")
    assert_refused(shared_env, {**doc, "goal": "something else"}, token, "plan_hash_mismatch")
    extra = {**doc, "actions": [*doc["actions"], {"type": "delete_pod", "namespace": shared_env.ns, "name": "x"}]}
    assert_refused(shared_env, extra, token, "plan_hash_mismatch")
    # The same plan, re-serialised differently, is the same plan.
    assert shared_env.executor.check(json.dumps(doc, indent=3), token).status == "verified"


# ------------------------------------------------------------------------------------------------ scope and roles
def test_namespace_scope(shared_env: Env) -> None:
    plan = scale_plan(shared_env)
    assert_refused(shared_env, plan, shared_env.approve(plan, namespaces=["test-hotel-reservation"]),
                   "namespace_out_of_scope")
    outside = shared_env.plan([{"type": "scale", "namespace": "default", "name": "web", "replicas": 1}])
    assert_refused(shared_env, outside, shared_env.approve(outside, key="observer", observed={}),
                   "namespace_not_allowed_for_key")


def test_key_roles(shared_env: Env) -> None:
    pods = shared_env.srv.cluster.store.list("pods", shared_env.ns)
    pod = pods[0]["metadata"]["name"]
    for action in ({"type": "delete_pod", "namespace": shared_env.ns, "name": pod},
                   {"type": "set_image", "namespace": shared_env.ns, "name": shared_env.target,
                    "container": "user-service", "image": "evil:latest"},
                   {"type": "merge_patch", "kind": "ConfigMap", "namespace": shared_env.ns, "name": "x",
                    "patch": {"data": {"a": "b"}}}):
        plan = shared_env.plan([action])
        assert_refused(shared_env, plan, shared_env.approve(plan, key="observer", observed={}),
                       "action_not_allowed_for_key")
    # ... while the observer may scale in its namespaces (checked without acting).
    plan = scale_plan(shared_env)
    assert shared_env.executor.check(plan, shared_env.approve(plan, key="observer")).status == "verified"


# ------------------------------------------------------------------------------------------------ policy
def test_policy(shared_env: Env) -> None:
    cases = [
        ({"type": "rollout_restart", "namespace": "kube-system", "name": "coredns"}, "protected_namespace"),
        ({"type": "merge_patch", "kind": "Secret", "namespace": shared_env.ns, "name": "s",
          "patch": {"data": {}}}, "protected_kind"),
        ({"type": "merge_patch", "kind": "ClusterRoleBinding", "namespace": "", "name": "admin",
          "patch": {"subjects": []}}, "protected_kind"),
        ({"type": "merge_patch", "kind": "Ingress", "namespace": shared_env.ns, "name": "i",
          "patch": {"spec": {}}}, "kind_not_allowed"),
        ({"type": "exec", "kind": "Deployment", "namespace": shared_env.ns, "name": shared_env.target,
          "command": ["sh", "-c", "rm -rf /data"]}, "exec_not_allowlisted"),
        ({"type": "exec", "kind": "Deployment", "namespace": shared_env.ns, "name": shared_env.target,
          "command": ["mongo", "admin", "-u", "root", "-p", "root", "--authenticationDatabase", "admin", "--eval",
                      "db.dropUser('admin'); db.grantRolesToUser('x', [])"]}, "exec_not_allowlisted"),
        ({"type": "scale", "namespace": shared_env.ns, "name": shared_env.target, "replicas": 10000}, "over_cap"),
    ]
    for action, reason in cases:
        plan = shared_env.plan([action])
        assert_refused(shared_env, plan, shared_env.approve(plan, observed={}), reason)
    many = shared_env.plan([{"type": "rollout_restart", "namespace": shared_env.ns, "name": shared_env.target}] * 21)
    assert_refused(shared_env, many, shared_env.approve(many), "over_cap")


# ------------------------------------------------------------------------------------------------ state
def test_missing_observed_state(shared_env: Env) -> None:
    plan = scale_plan(shared_env)
    assert_refused(shared_env, plan, shared_env.approve(plan, observed={}), "missing_observed_state")


def test_target_missing_and_dry_run_failures(shared_env: Env) -> None:
    ns = shared_env.ns
    plan = shared_env.plan([{"type": "scale", "namespace": ns, "name": "no-such-deployment", "replicas": 1}])
    assert_refused(shared_env, plan, shared_env.approve(plan, observed={f"Deployment/{ns}/no-such-deployment": "5"}),
                   "target_missing")
    # Rejected by the API server's own validation, in the dry-run: nothing is changed.
    bad_patch = shared_env.plan([{"type": "merge_patch", "kind": "Deployment", "namespace": ns,
                                  "name": shared_env.target, "patch": {"spec": {"replicas": -3}}}])
    assert_refused(shared_env, bad_patch, shared_env.approve(bad_patch), "dry_run_failed")
    no_container = shared_env.plan([{"type": "set_image", "namespace": ns, "name": shared_env.target,
                                     "container": "nope", "image": "nginx:1.27"}])
    assert_refused(shared_env, no_container, shared_env.approve(no_container), "dry_run_failed")
    # A two-action plan whose second action fails its dry-run: the first is not run either.
    two = shared_env.plan([{"type": "scale", "namespace": ns, "name": shared_env.target, "replicas": 1},
                           {"type": "set_image", "namespace": ns, "name": shared_env.target, "container": "nope",
                            "image": "nginx:1.27"}])
    assert_refused(shared_env, two, shared_env.approve(two), "dry_run_failed")


def test_resource_version_drift(env: Env) -> None:
    plan = scale_plan(env)
    token = env.approve(plan)
    # Someone changes the Deployment after approval (a label is enough).
    with env.srv.cluster.lock:
        rt = env.srv.cluster.registry.by_key("deployments.apps")
        assert rt is not None
        env.srv.cluster.api.patch(rt, env.ns, env.target, "application/merge-patch+json",
                                  {"metadata": {"labels": {"touched": "yes"}}})
    assert_refused(env, plan, token, "resource_version_changed")
    # A plan that pins a resourceVersion itself, different from what the approval saw.
    pinned = env.plan([{"type": "scale", "namespace": env.ns, "name": env.target, "replicas": 1,
                        "resource_version": "1"}], plan_id="fix-2")
    assert_refused(env, pinned, env.approve(pinned), "resource_version_changed")


def test_replay(env: Env) -> None:
    plan = scale_plan(env)
    token = env.approve(plan)
    assert env.executor.execute(plan, token).status == "executed"
    assert_refused(env, plan, token, "replayed")
    assert env.executor.check(plan, token).reason == "replayed"


# ------------------------------------------------------------------------------------------------ over MCP
def test_refusals_over_mcp(shared_env: Env) -> None:
    plan = scale_plan(shared_env)
    server = build_server(shared_env.executor)
    good = shared_env.approve(plan)
    before = shared_env.rv()

    async def main() -> list[tuple[bool, dict[str, Any] | None]]:
        out = []
        async with Client(server) as c:
            for p, t in ((plan.model_dump(mode="json"), "garbage"),
                         ({**plan.model_dump(mode="json"), "goal": "x"}, good),
                         (plan.model_dump_json(), jwt.encode({"a": 1}, "s" * 32, algorithm="HS256"))):
                r = await c.call_tool("execute_plan", {"plan": p, "token": t})
                out.append((r.is_error, r.structured_content))
        return out

    results = anyio.run(main)
    assert [(e, (s or {}).get("status"), (s or {}).get("reason")) for e, s in results] == [
        (False, "refused", "malformed_token"), (False, "refused", "plan_hash_mismatch"),
        (False, "refused", "alg_hmac")]
    assert shared_env.rv() == before


@pytest.mark.parametrize("reason", ["alg_none", "bad_signature", "replayed"])
def test_audit_never_holds_a_token(env: Env, reason: str) -> None:
    plan = scale_plan(env)
    token = env.approve(plan)
    if reason == "replayed":
        env.executor.execute(plan, token)
    tampered = {"alg_none": raw_token(env, plan, {"alg": "none", "typ": TOKEN_TYPE, "kid": "alice"}, key=None),
                "bad_signature": token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
                "replayed": token}[reason]
    assert env.executor.execute(plan, tampered).reason == reason
    for t in (token, tampered):
        assert_not_in_audit(env, t)


def test_cluster_unreachable(env: Env) -> None:
    plan = scale_plan(env)
    token = env.approve(plan)
    env.close()  # closes the clients and stops the API server
    result = env.executor.execute(plan, token)
    assert (result.status, result.reason) == ("refused", "cluster_unreachable"), result.message
    last = env.audit.entries()[-1]
    assert last["reason"] == "cluster_unreachable" and last["requests"][0]["status"] == 0
    assert not env.ledger.is_used(last["jti"])  # the token was not spent: it can be retried
