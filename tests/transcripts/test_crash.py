"""Crash safety: a writer SIGKILLed mid-episode loses nothing it wrote; the next open marks the episode
interrupted, but never an episode whose writer is still alive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from transcripts import TranscriptStore

ROOT = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent("""
    import sys
    from transcripts import TranscriptStore

    store = TranscriptStore(sys.argv[1])
    eid = store.start_episode(target="hotel-reservation", policy="baseline", problem_id="p1")
    store.add_plan(eid, plan={"id": "p", "actions": []}, plan_hash="a" * 64)
    print("episode", eid, flush=True)
    i = 0
    while True:  # until killed; each line is printed only after its step is committed
        store.add_step(eid, role="assistant", tool="get_pods", arguments={"i": i}, result="x" * 200)
        print("step", i, flush=True)
        i += 1
        if sys.argv[2] == "wait" and i == 3:
            sys.stdin.readline()
""")


def _spawn(db: Path, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(db), mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_mid_episode_loses_nothing_and_marks_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    proc = _spawn(db, "run")
    assert proc.stdout is not None
    eid = proc.stdout.readline().split()[1]
    confirmed = -1
    while confirmed < 25:
        confirmed = int(proc.stdout.readline().split()[1])
    os.kill(proc.pid, signal.SIGKILL)  # the writer may be in the middle of the next step
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    with TranscriptStore(db) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ep = store.episode(eid)
        assert ep.status == "interrupted"
        assert len(ep.steps) >= confirmed + 1  # every confirmed step survived
        assert [s.arguments["i"] for s in ep.steps] == list(range(len(ep.steps)))  # and nothing half-written
        assert ep.plans and ep.finished_at == ep.steps[-1].ts
        assert store.mark_interrupted_running() == 0  # idempotent


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_open_leaves_live_writers_running(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    proc = _spawn(db, "wait")
    assert proc.stdout is not None and proc.stdin is not None
    eid = proc.stdout.readline().split()[1]
    for _ in range(3):
        proc.stdout.readline()
    try:
        with TranscriptStore(db) as store:  # another process opens the same store while the writer lives
            assert store.episode(eid).status == "running"
            assert store.mark_interrupted_running() == 0
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with TranscriptStore(db) as store:
        assert store.episode(eid).status == "interrupted"
        assert len(store.episode(eid).steps) == 3


def test_keyboard_interrupt_mid_write_keeps_earlier_steps(store: TranscriptStore,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C inside a write rolls back only that write; the observer then finishes the episode as interrupted."""
    eid = store.start_episode(target="t", policy="p")
    store.add_step(eid, role="user", text="before")

    def interrupted(value: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr("transcripts.store.guard.strip", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.add_step(eid, role="assistant", tool="get_pods", arguments={"a": 1})
    monkeypatch.undo()
    assert not store.db.conn.in_transaction
    store.finish(eid, "interrupted")
    ep = store.episode(eid)
    assert ep.status == "interrupted" and [s.text for s in ep.steps] == ["before"]


def test_write_from_inside_a_write_uses_a_savepoint(store: TranscriptStore) -> None:
    """A signal handler that writes while the same thread is mid-write (the lock is re-entrant) does not fail."""
    eid = store.start_episode(target="t", policy="p")
    with store._write():
        store.finish(eid, "interrupted")
    assert store.episode(eid).status == "interrupted"


def test_recording_always_ends_the_episode(store: TranscriptStore) -> None:
    with store.recording(target="t", policy="p") as ok:
        store.add_step(ok, role="user", text="x")
    with pytest.raises(KeyboardInterrupt), store.recording(target="t", policy="p") as stopped:
        raise KeyboardInterrupt
    with pytest.raises(RuntimeError), store.recording(target="t", policy="p") as broken:
        raise RuntimeError("endpoint down")
    with store.recording(target="t", policy="p") as own:
        store.finish(own, "failed")
    assert store.episode(ok).status == "completed"
    assert store.episode(stopped).status == "interrupted"
    assert store.episode(broken).status == "failed"
    assert store.episode(broken).timings == {"error": "RuntimeError: endpoint down"}
    assert store.episode(own).status == "failed"
