"""Importing the logs of external agents: the probe's SQLite call log and the executor's audit log, both written
by the real components."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cluster.sim.server import SimServer
from servers.executor.audit import AuditLog
from servers.executor.core import Executor
from servers.executor.keys import KeyEntry, Keyring, generate_key_pair, load_private_key, sign_plan
from servers.executor.plan import parse_plan
from servers.executor.policy import Policy
from servers.probe.calllog import CallLog
from transcripts import TranscriptStore
from transcripts.export import episode_to_record, validate_record
from transcripts.importers import LogImportError, import_audit, import_calllog, read_audit


def test_import_calllog_sessions(store: TranscriptStore, tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    first, second = CallLog(path), CallLog(path)  # two probe processes, one file
    first.record("cluster_overview", {}, "3 namespaces, 1 unhealthy", False, 12.3)
    second.record("logs", {"pod": "geo-1", "tail": 50}, "connection refused", False, 5.0)
    first.record("get_resource", {"kind": "nope", "name": "x"}, "unknown kind 'nope'", True, 1.5)
    assert import_calllog(store, path) == (2, 0)
    assert import_calllog(store, path) == (0, 2)  # ids come from the session: re-import adds nothing
    by_session = {store.episode(e.id).meta["session"]: store.episode(e.id) for e in store.episodes()}
    ep = by_session[first.session]
    assert ep.source == "calllog" and ep.policy == "external" and ep.status == "completed"
    assert [(s.tool, s.arguments, s.is_error, s.server) for s in ep.steps] == [
        ("cluster_overview", {}, False, "probe"), ("get_resource", {"kind": "nope", "name": "x"}, True, "probe")]
    assert ep.steps[0].result == "3 namespaces, 1 unhealthy" and ep.steps[0].latency_ms == 12.3
    assert by_session[second.session].steps[0].arguments == {"pod": "geo-1", "tail": 50}
    record = episode_to_record(ep)
    assert validate_record(record) == []
    assert [m["role"] for m in record["messages"]] == ["assistant", "tool", "assistant", "tool"]
    # a session that grew is refreshed with replace
    first.record("events", {"namespace": "hotel"}, "no warnings", False, 2.0)
    assert import_calllog(store, path, replace=True) == (2, 0)
    assert len(store.episode(ep.id).steps) == 3


def test_import_calllog_from_the_real_probe(store: TranscriptStore, manual_server: SimServer,
                                            tmp_path: Path) -> None:
    """`aoi probe --transcripts` as an MCP client sees it: real tool calls, the probe's own call log."""
    from mcp import Client

    from servers.probe.server import build_server
    from servers.probe.settings import ProbeSettings

    calls = tmp_path / "probe-calls.db"
    server = build_server(ProbeSettings(kubeconfig=str(manual_server.kubeconfig_path), transcripts=calls))

    async def session() -> None:
        async with Client(server) as client:
            await client.call_tool("cluster_overview", {})
            await client.call_tool("list_resources", {"kind": "pods", "namespace": "kube-system"})
            await client.call_tool("get_resource", {"kind": "nosuchkind", "name": "x"})

    anyio.run(session)
    assert import_calllog(store, calls) == (1, 0)
    ep = store.episode(store.episodes()[0].id)
    assert [s.tool for s in ep.steps] == ["cluster_overview", "list_resources", "get_resource"]
    assert ep.steps[1].arguments["kind"] == "pods" and ep.steps[1].result
    assert ep.steps[2].is_error and not ep.steps[0].is_error
    assert validate_record(episode_to_record(ep)) == []


def test_import_calllog_errors(store: TranscriptStore, tmp_path: Path) -> None:
    with pytest.raises(LogImportError, match="no call log"):
        import_calllog(store, tmp_path / "absent.db")
    junk = tmp_path / "junk.db"
    junk.write_text("not sqlite" * 50)
    with pytest.raises(LogImportError, match="not a probe call log"):
        import_calllog(store, junk)


@pytest.fixture
def audit_log(tmp_path: Path) -> tuple[Path, str]:
    """An audit log written by the real executor: a refused forged token, and a correctly signed plan that the
    executor (with no cluster behind it) refuses after verification."""
    generate_key_pair(tmp_path / "keys", "alice")
    key: Ed25519PrivateKey = load_private_key(tmp_path / "keys" / "alice.key")
    ring = Keyring(keys=[KeyEntry(kid="alice", public_key=(tmp_path / "keys" / "alice.pub").read_text(),
                                  allow=["*"], namespaces=["*"])])
    path = tmp_path / "audit.jsonl"
    executor = Executor(None, ring, Policy(cluster="sim"), None, AuditLog(path))
    plan = parse_plan({"id": "restart-geo", "goal": "restart geo", "cluster": "sim",
                       "actions": [{"type": "rollout_restart", "namespace": "hotel", "name": "geo"}]})
    token = sign_plan(plan, key, "alice", "sim")
    executor.check(plan.model_dump(mode="json"), "eyJhbGciOiJub25lIn0.eyJ4IjoxfQ.c2lnbmF0dXJlc2lnbmF0dXJl")
    executor.execute(plan.model_dump(mode="json"), token)
    return path, token


def test_import_audit_log(store: TranscriptStore, audit_log: tuple[Path, str]) -> None:
    path, token = audit_log
    assert import_audit(store, path) == (1, 0)
    assert import_audit(store, path) == (0, 1)
    ep = store.episode(store.episodes()[0].id)
    assert ep.source == "audit" and ep.meta["chain"] == "ok" and ep.meta["seq"] == [1, 2]
    assert [s.tool for s in ep.steps] == ["check_plan", "execute_plan"]
    assert all(s.is_error for s in ep.steps)  # both refused
    assert json.loads(ep.steps[0].result)["result"] == "refused"
    assert ep.steps[1].arguments["plan_id"] == "restart-geo" and len(ep.steps[1].arguments["token_sha256"]) == 64
    (plan,) = ep.plans
    assert plan.plan_id == "restart-geo" and plan.signer == "alice" and plan.token_id
    dump = ep.model_dump_json()
    assert token not in dump and token.split(".")[2] not in dump
    assert validate_record(episode_to_record(ep)) == []


def test_import_audit_detects_a_broken_chain_and_groups_by_gap(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for i in range(3):
        log.append({"op": "check", "cluster": "sim", "result": "refused", "reason": "bad_token", "message": str(i)})
    lines = path.read_text().splitlines()
    edited = json.loads(lines[1])
    edited["message"] = "edited"
    path.write_text("\n".join([lines[0], json.dumps(edited), lines[2]]) + "\n")
    (ep,) = read_audit(path)
    assert "line 2" in ep.meta["chain"] and len(ep.steps) == 3
    # entries far apart in time (or with session ids) become separate episodes
    later = json.loads(lines[2])
    later["ts"] = "2099-01-01T00:00:00.000+00:00"
    path.write_text("\n".join([lines[0], lines[1], json.dumps(later)]) + "\n")
    assert [len(e.steps) for e in read_audit(path, gap_s=3600)] == [2, 1]


def test_import_audit_rejects_other_files(store: TranscriptStore, tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"messages": []}) + "\n")
    with pytest.raises(LogImportError, match="not an executor audit entry"):
        import_audit(store, path)
