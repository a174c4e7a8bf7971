from __future__ import annotations

from pathlib import Path

import pytest

from transcripts import TranscriptStore

# A syntactically real compact JWS (EdDSA header, plan payload, 64-byte signature), as `aoi plan approve` prints.
TOKEN = ("eyJhbGciOiJFZERTQSIsImtpZCI6Im9ic2VydmVyIiwidHlwIjoiSldUIn0."
         "eyJwbGFuX2lkIjoicmVzdGFydC1nZW8iLCJwbGFuX3NoYTI1NiI6ImFiYyIsImp0aSI6IjEyMyJ9."
         "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4MTIzNA")


@pytest.fixture
def store(tmp_path: Path) -> TranscriptStore:
    s = TranscriptStore(tmp_path / "t.db")
    yield s
    s.close()


def full_episode(store: TranscriptStore, **kw: object) -> str:
    """An episode with every kind of step: system, user, a call with its result on the same step, two parallel
    calls answered by tool steps, a decision, a plan, a submission, a grade and timings."""
    eid = store.start_episode(target="hotel-reservation", policy="baseline", model="qwen-0.5b",
                              problem_id="k8s_target_port-misconfig-detection-1", task="detection",
                              namespace="hotel-reservation", seed=7, meta={"max_steps": 20},
                              tools=[{"name": "get_pods", "description": "List pods", "inputSchema": {
                                  "type": "object", "properties": {"namespace": {"type": "string"}}}},
                                     {"name": "get_logs", "inputSchema": {"type": "object", "properties": {}}}],
                              **kw)  # type: ignore[arg-type]
    store.add_step(eid, role="system", text="You are an SRE agent.")
    store.add_step(eid, role="user", text="Is there an anomaly in hotel-reservation?")
    store.add_step(eid, role="assistant", text="Look at the pods first.", tool="get_pods",
                   arguments={"namespace": "hotel-reservation"}, result="geo-1 CrashLoopBackOff\nfrontend-1 Running",
                   latency_ms=12.5, tokens_in=300, tokens_out=40, server="probe",
                   decision={"phase": "triage", "hypothesis": None, "confidence": 0.1, "next": "get_pods"})
    store.add_step(eid, role="assistant", text="", tool="get_logs", arguments={"pod": "geo-1"}, call_id="c-a",
                   tokens_in=400, tokens_out=30)
    store.add_step(eid, role="assistant", text="", tool="get_pods", arguments={"namespace": "kube-system"},
                   call_id="c-b")
    store.add_step(eid, role="tool", tool="get_pods", call_id="c-b", result="(no pods)", latency_ms=3.0,
                   server="probe")
    store.add_step(eid, role="tool", tool="get_logs", call_id="c-a", result="connection refused", is_error=True,
                   latency_ms=4.0, server="probe")
    store.add_step(eid, role="assistant", text='{"detected": true}',
                   decision={"phase": "submit", "hypothesis": "geo cannot reach mongodb-geo", "confidence": 0.9,
                             "next": "submit"})
    store.add_plan(eid, plan={"id": "restart-geo", "actions": [{"type": "restart", "name": "geo"}]},
                   plan_hash="a" * 64, token_id="0b3c5d", token_sha256="b" * 64, signer="observer",
                   status="executed", result={"status": "executed", "audit_seq": 3})
    store.submit(eid, {"detected": True})
    store.grade(eid, {"success": True, "score": 1.0, "detail": "correct"})
    store.finish(eid, "completed", timings={"total_s": 3.5, "steps": 7})
    return eid
