from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlite_utils import Database

from tests.transcripts.conftest import TOKEN, full_episode
from transcripts import EpisodeNotFound, TokenRefused, TranscriptStore, TranscriptStoreError
from transcripts import store as store_mod
from transcripts.guard import looks_like_jws, strip


def test_schema_wal_foreign_keys_and_version(store: TranscriptStore) -> None:
    db = store.db
    assert {"schema_version", "episodes", "steps", "plans"} <= set(db.table_names())
    assert db.journal_mode == "wal"
    assert next(iter(db.query("PRAGMA foreign_keys")))["foreign_keys"] == 1
    assert store.version == store_mod.latest_version() == 1
    with pytest.raises(sqlite3.IntegrityError):  # foreign keys are enforced
        db.execute("INSERT INTO steps (episode_id, idx, ts, role) VALUES ('nope', 0, 0, 'user')")
    with pytest.raises(sqlite3.IntegrityError):  # roles and statuses are checked by the schema too
        db.execute("INSERT INTO episodes (id, target, policy, status, started_at) VALUES ('x', 't', 'p', 'odd', 0)")


def test_episode_round_trip(store: TranscriptStore) -> None:
    eid = full_episode(store)
    ep = store.episode(eid)
    assert ep.status == "completed" and ep.success is True and ep.score == 1.0 and ep.n_steps == 8
    assert ep.problem_id == "k8s_target_port-misconfig-detection-1" and ep.seed == 7 and ep.meta == {"max_steps": 20}
    assert [s.idx for s in ep.steps] == list(range(8))
    assert [s.role for s in ep.steps] == ["system", "user", "assistant", "assistant", "assistant", "tool", "tool",
                                          "assistant"]
    call = ep.steps[2]
    assert call.tool == "get_pods" and call.arguments == {"namespace": "hotel-reservation"}
    assert call.result and call.latency_ms == 12.5 and call.tokens_in == 300 and call.decision["phase"] == "triage"
    assert ep.steps[6].is_error
    assert ep.plans[0].plan_id == "restart-geo" and ep.plans[0].token_sha256 == "b" * 64
    assert ep.submission == {"detected": True} and ep.grade["detail"] == "correct"
    assert ep.timings == {"total_s": 3.5, "steps": 7} and ep.finished_at is not None
    assert store.episode(eid[:8]).id == eid  # a unique prefix is enough


def test_update_step_and_plan(store: TranscriptStore) -> None:
    eid = store.start_episode(target="ns", policy="baseline")
    sid = store.add_step(eid, role="assistant", tool="get_events", arguments={})
    store.update_step(sid, result="3 warnings", latency_ms=8.0)
    pid = store.add_plan(eid, plan={"id": "p1", "actions": []}, plan_hash="c" * 64)
    store.update_plan(pid, status="awaiting_approval")
    store.update_plan(pid, status="executed", token_id="jti-1", token_sha256="d" * 64, result={"status": "executed"})
    ep = store.episode(eid)
    assert ep.steps[0].result == "3 warnings" and ep.steps[0].latency_ms == 8.0
    assert ep.plans[0].status == "executed" and ep.plans[0].token_id == "jti-1" and ep.plans[0].updated_at
    with pytest.raises(TranscriptStoreError):
        store.update_step(999, result="x")


def test_filters_and_order(store: TranscriptStore) -> None:
    a = full_episode(store)
    b = store.start_episode(target="ns", policy="openai", problem_id="p2")
    store.grade(b, {"success": False})
    store.finish(b, "failed")
    c = store.start_episode(target="ns", policy="openai", problem_id="p2")
    assert [e.id for e in store.episodes()] == [c, b, a]
    assert [e.id for e in store.episodes(policy="openai", status="failed")] == [b]
    assert [e.id for e in store.episodes(problem_id="p2", limit=1)] == [c]
    assert [e.id for e in store.episodes(success=True)] == [a]
    assert [e.id for e in store.episodes(success=False)] == [b]
    assert store.episodes(status="running")[0].n_steps == 0


def test_errors(store: TranscriptStore, tmp_path: Path) -> None:
    with pytest.raises(EpisodeNotFound):
        store.add_step("missing", role="user", text="x")
    with pytest.raises(EpisodeNotFound):
        store.episode("missing")
    eid = store.start_episode(target="t", policy="p")
    with pytest.raises(ValueError):
        store.add_step(eid, role="robot")
    with pytest.raises(ValueError):
        store.finish(eid, "running")
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(TranscriptStoreError, match="not a usable transcript database"):
        TranscriptStore(bad)
    with pytest.raises(TranscriptStoreError, match="no transcript database"):
        TranscriptStore(tmp_path / "absent.db", create=False)


def test_migrations_apply_in_order_and_newer_schema_is_refused(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.db"
    with TranscriptStore(path) as s:
        eid = full_episode(s)

    def add_labels(db: Database) -> None:
        db.execute("ALTER TABLE episodes ADD COLUMN labels TEXT")

    monkeypatch.setattr(store_mod, "MIGRATIONS", [*store_mod.MIGRATIONS, (2, "labels", add_labels)])
    with TranscriptStore(path) as s:
        assert s.version == 2
        assert "labels" in s.db["episodes"].columns_dict
        assert s.episode(eid).n_steps == 8  # data survives the migration
        versions = [r["version"] for r in s.db.query("SELECT version FROM schema_version ORDER BY version")]
        assert versions == [1, 2]
    monkeypatch.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS[:1])
    with pytest.raises(TranscriptStoreError, match="schema version 2"):
        TranscriptStore(path)


def test_failed_migration_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.db"
    TranscriptStore(path).close()

    def broken(db: Database) -> None:
        db.execute("ALTER TABLE episodes ADD COLUMN half TEXT")
        raise RuntimeError("boom")

    monkeypatch.setattr(store_mod, "MIGRATIONS", [*store_mod.MIGRATIONS, (2, "broken", broken)])
    with pytest.raises(RuntimeError):
        TranscriptStore(path)
    monkeypatch.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS[:1])
    with TranscriptStore(path) as s:
        assert s.version == 1 and "half" not in s.db["episodes"].columns_dict


def test_concurrent_writers_threads(store: TranscriptStore) -> None:
    episodes = [store.start_episode(target=f"t{i}", policy="baseline") for i in range(4)]
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for i in range(50):
                eid = episodes[(w + i) % len(episodes)]
                store.add_step(eid, role="assistant", tool="get_pods", arguments={"w": w, "i": i}, result=f"{w}:{i}")
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    seen = set()
    for eid in episodes:
        ep = store.episode(eid)
        assert [s.idx for s in ep.steps] == list(range(len(ep.steps)))  # no gaps, no duplicates
        seen |= {s.result for s in ep.steps}
    assert seen == {f"{w}:{i}" for w in range(8) for i in range(50)}


def test_concurrent_writers_two_connections(tmp_path: Path) -> None:
    """Two stores (as two processes would have) on one file: busy waits, no lost or duplicated index."""
    a, b = TranscriptStore(tmp_path / "t.db"), TranscriptStore(tmp_path / "t.db")
    eid = a.start_episode(target="t", policy="p")

    def write(s: TranscriptStore, tag: str) -> None:
        for i in range(40):
            s.add_step(eid, role="user", text=f"{tag}{i}")

    threads = [threading.Thread(target=write, args=(s, tag)) for s, tag in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    steps = a.episode(eid).steps
    assert len(steps) == 80 and [s.idx for s in steps] == list(range(80))
    a.close()
    b.close()


# ------------------------------------------------------------------------------------------------ token guard
def test_guard_recognises_compact_jws() -> None:
    assert looks_like_jws(TOKEN)
    assert looks_like_jws(f"approve with token={TOKEN} now")
    for harmless in ("a.b.c", "sha256:" + "a" * 64, "geo-7d9f8.hotel-reservation.svc", "eyJ", "v1.2.3"):
        assert not looks_like_jws(harmless)
    assert strip({"k": [TOKEN, {"n": TOKEN}]})["k"][1]["n"].startswith("[plan token removed sha256:")


def test_store_never_keeps_a_token(store: TranscriptStore, tmp_path: Path) -> None:
    eid = store.start_episode(target="t", policy="p", meta={"token": TOKEN})
    store.add_step(eid, role="assistant", text=f"I will run it with {TOKEN}", tool="execute_plan",
                   arguments={"plan": {"id": "p"}, "token": TOKEN, TOKEN: 1}, result=f"echo {TOKEN}",
                   decision={"next": TOKEN})
    store.add_plan(eid, plan={"id": "p", "note": TOKEN}, plan_hash="a" * 64, result={"token": TOKEN})
    store.submit(eid, {"token": TOKEN})
    store.grade(eid, {"success": True, "why": TOKEN})
    with pytest.raises(TokenRefused):
        store.add_plan(eid, plan={"id": "p"}, plan_hash="a" * 64, token_id=TOKEN)
    with pytest.raises(TokenRefused):
        store.add_plan(eid, plan={"id": "p"}, plan_hash="a" * 64, token_sha256=TOKEN)
    store.finish(eid)
    store.close()
    raw = (tmp_path / "t.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("t.db-*"))
    assert TOKEN.encode() not in raw
    assert TOKEN.split(".")[2].encode() not in raw  # not even the signature
    with TranscriptStore(tmp_path / "t.db") as s:
        ep = s.episode(eid)
        assert ep.steps[0].arguments["token"].startswith("[plan token removed sha256:")
        assert "[plan token removed" in ep.steps[0].text and "[plan token removed" in ep.steps[0].result
