"""Keys and keyring, the hash-chained audit log, and the executor's request allowlist."""

from __future__ import annotations

import itertools
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from kubernetes import client
from pydantic import ValidationError

from cluster.connect import load_api_client
from servers.executor.audit import AuditLog, verify_log
from servers.executor.core import Executor
from servers.executor.keys import KeyEntry, Keyring, generate_key_pair, load_private_key, sign_plan
from servers.executor.kube import Kube, RequestRefused, request_rules
from servers.executor.ledger import Ledger
from servers.executor.plan import Plan
from servers.executor.policy import Policy
from tests.executor.conftest import Env, Keys


# ------------------------------------------------------------------------------------------------ keys
def test_key_pair_files(tmp_path: Path) -> None:
    priv, pub = generate_key_pair(tmp_path / "k", "ops-alice")
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert len(pub.read_text().strip()) == 43  # 32 raw bytes, base64url
    load_private_key(priv)
    with pytest.raises(FileExistsError):
        generate_key_pair(tmp_path / "k", "ops-alice")
    os.chmod(priv, 0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_private_key(priv)
    with pytest.raises(ValidationError):
        generate_key_pair(tmp_path / "k", "../evil")


def test_keyring_accepts_only_ed25519_and_known_classes(tmp_path: Path, keys: Keys) -> None:
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(ValidationError, match="Ed25519"):
        Keyring(keys=[KeyEntry(kid="r", public_key=rsa_pem)])
    good = keys.keyring.keys[0].public_key
    with pytest.raises(ValidationError, match="duplicate"):
        Keyring(keys=[KeyEntry(kid="a", public_key=good), KeyEntry(kid="a", public_key=good)])
    with pytest.raises(ValidationError, match="unknown action class"):
        KeyEntry(kid="a", public_key=good, allow=["everything"])
    path = tmp_path / "ring.yaml"
    keys.keyring.save(path)
    assert Keyring.load(path) == keys.keyring
    entry = KeyEntry(kid="o", public_key=good, allow=["restart", "scale"], namespaces=["test-*"])
    assert entry.may("scale", "scale") and entry.may("rollout_restart", "restart")
    assert not entry.may("delete_pod", "delete") and not entry.may("exec", "exec")
    assert entry.covers_namespace("test-hotel") and not entry.covers_namespace("prod")
    assert not entry.covers_namespace("")  # cluster-scoped objects need cluster_scoped: true


def test_offline_verification(keys: Keys) -> None:
    """`aoi plan verify` without a cluster: signature, binding, key role and policy only."""
    p = Plan.model_validate({"id": "p", "goal": "g", "cluster": "prod", "actions": [
        {"type": "scale", "namespace": "test-a", "name": "api", "replicas": 1}]})
    ex = Executor(None, keys.keyring, Policy(), None, None, cluster_id="prod")
    token = sign_plan(p, keys.observer, "observer", "prod", observed={"Deployment/test-a/api": "5"})
    assert ex.check(p, token).status == "verified"
    assert ex.check(p, sign_plan(p, keys.observer, "observer", "staging", observed={})).reason == "wrong_audience"


# ------------------------------------------------------------------------------------------------ audit
def _log(tmp_path: Path, n: int = 5) -> tuple[AuditLog, Ledger]:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    log = AuditLog(tmp_path / "audit.jsonl", ledger)
    for i in range(n):
        log.append({"op": "execute", "result": "refused", "reason": "bad_signature", "i": i})
    return log, ledger


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines()


def _write(log: AuditLog, lines: list[str]) -> None:
    log.path.write_text("".join(line + "\n" for line in lines))


def test_audit_chain_intact(tmp_path: Path) -> None:
    log, ledger = _log(tmp_path)
    report = verify_log(log.path, ledger)
    assert report.ok and report.entries == 5
    entries = log.entries()
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert all(e["prev"] == p["hash"] for p, e in itertools.pairwise(entries))


def test_audit_detects_an_edit(tmp_path: Path) -> None:
    log, ledger = _log(tmp_path)
    lines = _lines(log)
    entry = json.loads(lines[2])
    entry["result"] = "executed"
    lines[2] = json.dumps(entry, sort_keys=True)
    _write(log, lines)
    report = verify_log(log.path, ledger)
    assert not report.ok and any(p.startswith("line 3 (seq 3)") and "edited" in p for p in report.problems)


def test_audit_detects_an_edit_with_recomputed_hash(tmp_path: Path) -> None:
    from servers.executor.audit import entry_hash

    log, ledger = _log(tmp_path)
    lines = _lines(log)
    entry = json.loads(lines[1])
    entry["reason"] = None
    entry["hash"] = entry_hash(entry)
    lines[1] = json.dumps(entry, sort_keys=True)
    _write(log, lines)
    report = verify_log(log.path, ledger)
    assert not report.ok and any(p.startswith("line 3") and "prev" in p for p in report.problems)


def test_audit_detects_deletion_reordering_and_truncation(tmp_path: Path) -> None:
    log, ledger = _log(tmp_path)
    original = _lines(log)
    _write(log, original[:2] + original[3:])
    report = verify_log(log.path, ledger)
    assert any(p.startswith("line 3: seq 4, expected 3") and "deleted" in p for p in report.problems), report
    _write(log, [original[0], original[2], original[1], *original[3:]])
    report = verify_log(log.path, ledger)
    assert any(p.startswith("line 2: seq 3, expected 2") for p in report.problems), report
    _write(log, original[:3])
    report = verify_log(log.path, ledger)
    assert any("removed from the end" in p and "4..5" in p for p in report.problems), report
    assert verify_log(log.path).ok  # without the ledger's head, a clean truncation is not detectable
    _write(log, [*original[:3], "not json", *original[4:]])
    report = verify_log(log.path, ledger)
    assert any(p.startswith("line 4: not a valid entry") for p in report.problems), report
    _write(log, original)
    assert verify_log(log.path, ledger).ok


def test_audit_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from aoi.cli import app

    log, _ = _log(tmp_path)
    ledger_path = str(tmp_path / "ledger.sqlite")
    ok = CliRunner().invoke(app, ["audit", "verify", "--audit", str(log.path), "--ledger", ledger_path])
    assert ok.exit_code == 0, ok.output
    lines = _lines(log)
    _write(log, lines[:1] + lines[2:])
    bad = CliRunner().invoke(app, ["audit", "verify", "--audit", str(log.path), "--ledger", ledger_path])
    assert bad.exit_code == 1 and "line 2: seq 3, expected 2" in bad.output
    shown = CliRunner().invoke(app, ["audit", "show", "--audit", str(log.path), "--json"])
    assert shown.exit_code == 0 and len(shown.output.splitlines()) == 4


# ------------------------------------------------------------------------------------------------ the guard
def test_request_allowlist(shared_env: Env) -> None:
    """The executor's client cannot make requests no action needs; nothing is sent (the cluster is unchanged)."""
    kube = Kube(load_api_client(shared_env.kubeconfig, readonly=False), Policy())
    ns = shared_env.ns
    before = shared_env.rv()
    refused = [
        ("GET", f"/api/v1/namespaces/{ns}/secrets"),
        ("GET", "/api/v1/nodes"),
        ("POST", f"/api/v1/namespaces/{ns}/pods"),
        ("PUT", f"/apis/apps/v1/namespaces/{ns}/deployments/{shared_env.target}"),
        ("DELETE", f"/apis/apps/v1/namespaces/{ns}/deployments/{shared_env.target}"),
        ("DELETE", f"/api/v1/namespaces/{ns}/pods"),  # a collection
        ("DELETE", f"/api/v1/namespaces/{ns}"),
        ("PATCH", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/admin"),
        ("PATCH", f"/api/v1/namespaces/{ns}/secrets/x"),
        ("GET", f"/api/v1/namespaces/{ns}/pods/../secrets"),
    ]
    try:
        for method, path in refused:
            with pytest.raises(RequestRefused):
                kube.request(method, path)
        with pytest.raises(RequestRefused, match="query parameters"):
            kube.request("GET", f"/api/v1/namespaces/{ns}/pods", [("watch", "true")])
        with pytest.raises(RequestRefused):  # also through the official typed client
            client.CoreV1Api(kube.api).list_namespaced_secret(ns)
        with pytest.raises(RequestRefused):  # and below it, at the connection pool
            kube.api.rest_client.pool_manager.urlopen("POST", kube.host + f"/api/v1/namespaces/{ns}/pods")
        assert kube.get("Deployment", ns, shared_env.target) is not None
        reviewer = Kube(load_api_client(shared_env.kubeconfig, readonly=False), Policy(), dry_run_only=True)
        with pytest.raises(RequestRefused, match="only dry-runs"):
            reviewer.patch("Deployment", ns, shared_env.target, {"spec": {"replicas": 3}},
                           "application/merge-patch+json", dry_run=False, sub="scale")
        with pytest.raises(RequestRefused):
            reviewer.exec(ns, "any-pod", None, ["true"])
        reviewer.close()
    finally:
        kube.close()
    assert shared_env.rv() == before


def test_rules_follow_policy() -> None:
    default = {r.what for r in request_rules(Policy())}
    assert {"patch ConfigMap", "delete Pod", "exec in Pod", "scale Deployment", "read ReplicaSet"} <= default
    assert not any("Secret" in w or "Role" in w or "Namespace" in w for w in default)
    narrow = {r.what for r in request_rules(Policy(merge_patch_kinds=[]))}
    assert "patch ConfigMap" not in narrow and "patch Deployment" in narrow


def test_rbac_manifest_matches_the_default_rules() -> None:
    import yaml

    from servers.executor.plan import KINDS

    docs = list(yaml.safe_load_all((Path(__file__).resolve().parents[2] / "deploy" / "executor-rbac.yaml")
                                   .read_text()))
    granted: set[tuple[str, str, str]] = set()
    for doc in docs:
        if doc and doc["kind"] in ("ClusterRole", "Role"):
            for rule in doc["rules"]:
                for g in rule["apiGroups"]:
                    for res in rule["resources"]:
                        for verb in rule["verbs"]:
                            granted.add((g, res, verb))
    verbs = {"GET": "get", "PATCH": "patch", "DELETE": "delete", "EXEC": "create"}
    for rule in request_rules(Policy()):
        kind = rule.what.split()[-1]
        assert kind in KINDS
        info = KINDS[kind]
        resource = info.plural + ("/scale" if rule.what.startswith("scale") else "") + (
            "/exec" if rule.method == "EXEC" else "")
        assert (info.group, resource, verbs[rule.method]) in granted, (rule.what, resource)
    assert not any(res in ("secrets", "*") or verb in ("*", "update", "deletecollection", "escalate", "bind")
                   for _, res, verb in granted)
