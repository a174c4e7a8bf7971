"""The transcript store: episodes, steps, plans, submissions, grades and timings in one SQLite file.

Durability: WAL mode, and every write is its own committed transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``), so a
crash, SIGKILL or Ctrl-C loses nothing already written; the episode stays ``running`` until ``finish`` or, after a
crash, until the next open marks it ``interrupted`` (only episodes whose writing process is gone: several
processes may share one store). ``synchronous=NORMAL``: a committed write survives any process crash; only a power
loss can lose the last transactions.

Concurrency: one connection shared by the threads of a process under a re-entrant lock; other processes wait on
SQLite's busy timeout. Foreign keys are on (``PRAGMA foreign_keys=ON`` once, outside any transaction).

Schema: a ``schema_version`` table and an ordered list of migrations (``MIGRATIONS``); opening applies the missing
ones, each in one transaction, and refuses a file written by a newer AOI.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlite_utils import Database

from transcripts import guard
from transcripts.models import (
    FINAL_STATUSES,
    ROLES,
    Episode,
    EpisodeSummary,
    PlanRecord,
    Step,
    grade_outcome,
)

DEFAULT_DB = Path(".aoi/transcripts.db")
# Deterministic ids for imported episodes (re-importing the same session is a no-op).
IMPORT_NAMESPACE = uuid.UUID("6f1d9a3c-5b0e-4c7a-9f55-0a0e1a2b3c4d")


class TranscriptStoreError(RuntimeError):
    """The store cannot be opened or used (missing, corrupt, newer schema, unknown episode)."""


class EpisodeNotFound(TranscriptStoreError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "episode not found"


# ------------------------------------------------------------------------------------------------ schema
def _migration_1(db: Database) -> None:
    db.execute("""
        CREATE TABLE episodes (
            id TEXT PRIMARY KEY,
            source TEXT NOT NULL DEFAULT 'observer',
            target TEXT NOT NULL,
            problem_id TEXT,
            task TEXT,
            namespace TEXT,
            policy TEXT NOT NULL,
            model TEXT,
            seed INTEGER,
            status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
            meta TEXT,
            tools TEXT,
            owner TEXT,
            started_at REAL NOT NULL,
            finished_at REAL,
            submission TEXT,
            submitted_at REAL,
            grade TEXT,
            success INTEGER,
            score REAL,
            graded_at REAL,
            timings TEXT
        )""")
    db.execute("""
        CREATE TABLE steps (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            episode_id TEXT NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            ts REAL NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
            text TEXT NOT NULL DEFAULT '',
            tool TEXT,
            call_id TEXT,
            arguments TEXT,
            result TEXT,
            is_error INTEGER NOT NULL DEFAULT 0,
            latency_ms REAL,
            tokens_in INTEGER,
            tokens_out INTEGER,
            server TEXT,
            decision TEXT,
            UNIQUE (episode_id, idx)
        )""")
    db.execute("""
        CREATE TABLE plans (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            episode_id TEXT NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,
            ts REAL NOT NULL,
            plan TEXT NOT NULL,
            plan_id TEXT,
            plan_hash TEXT NOT NULL,
            token_id TEXT,
            token_sha256 TEXT,
            signer TEXT,
            status TEXT NOT NULL,
            result TEXT,
            updated_at REAL
        )""")
    for sql in ("CREATE INDEX idx_episodes_problem ON episodes(problem_id)",
                "CREATE INDEX idx_episodes_policy ON episodes(policy)",
                "CREATE INDEX idx_episodes_status ON episodes(status)",
                "CREATE INDEX idx_episodes_started ON episodes(started_at)",
                "CREATE INDEX idx_plans_episode ON plans(episode_id)",
                "CREATE INDEX idx_plans_hash ON plans(plan_hash)"):
        db.execute(sql)


# (version, what it does, how). Append only: a released migration never changes.
MIGRATIONS: list[tuple[int, str, Callable[[Database], None]]] = [
    (1, "episodes, steps, plans", _migration_1),
]


def schema_version(db: Database) -> int:
    if "schema_version" not in db.table_names():
        return 0
    rows = list(db.query("SELECT max(version) AS v FROM schema_version"))
    return int(rows[0]["v"] or 0) if rows else 0


def latest_version() -> int:
    return max(v for v, _, _ in MIGRATIONS)


# ------------------------------------------------------------------------------------------------ helpers
def _dumps(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(_jsonable(value), ensure_ascii=False, default=str)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _proc_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), so a reused pid is not taken for the writer."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _owner() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_proc_start(pid)}"


def _owner_alive(owner: str | None) -> bool:
    """Whether the process that wrote a running episode still runs. Unknown hosts count as alive."""
    if not owner:
        return False
    try:
        host, pid_s, start = owner.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not start or not (now := _proc_start(pid)) or now == start


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")


# ------------------------------------------------------------------------------------------------ store
class TranscriptStore:
    """The SQLite transcript store. Thread-safe; every write is committed before the call returns.

    ``recover`` (default on): opening marks ``interrupted`` the running episodes whose writing process is gone.
    ``create=False`` refuses a path that does not exist (the CLI's read commands).
    """

    def __init__(self, path: str | Path, *, create: bool = True, recover: bool = True, busy_timeout_s: float = 30.0):
        self.path = Path(path).expanduser()
        if not create and not self.path.exists():
            raise TranscriptStoreError(f"no transcript database at {self.path}")
        if self.path.exists() and self.path.is_dir():
            raise TranscriptStoreError(f"{self.path} is a directory, not a transcript database")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._owner = _owner()
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=busy_timeout_s)
            self.db = Database(conn)
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            conn.execute("PRAGMA foreign_keys=ON")  # once per connection, outside any transaction
            self.db.enable_wal()
            conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as e:
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            raise TranscriptStoreError(f"{self.path} is not a usable transcript database: {e}") from None
        if recover:
            self.mark_interrupted_running()

    # -------------------------------------------------------------------------------------------- plumbing
    def close(self) -> None:
        with self._lock:
            self.db.conn.close()

    def __enter__(self) -> TranscriptStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[Database]:
        """One committed write transaction (a savepoint when re-entered, e.g. from a signal handler)."""
        with self._lock:
            conn = self.db.conn
            if conn.in_transaction:
                with self.db.atomic():
                    yield self.db
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._lock:
            current = schema_version(self.db)
            newest = latest_version()
            if current > newest:
                raise TranscriptStoreError(f"{self.path} has schema version {current}; this AOI knows up to "
                                           f"{newest}: upgrade AOI to read it")
            if current == newest:
                return
            with self._write() as db:
                current = schema_version(db)  # another process may have migrated meanwhile
                if "schema_version" not in db.table_names():
                    db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT, "
                               "applied_at REAL NOT NULL)")
                for version, description, apply in MIGRATIONS:
                    if version > current:
                        apply(db)
                        db.execute("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                                   [version, description, time.time()])

    @property
    def version(self) -> int:
        with self._lock:
            return schema_version(self.db)

    def _require(self, db: Database, episode_id: str) -> dict[str, Any]:
        rows = list(db.query("SELECT id, status FROM episodes WHERE id = ?", [episode_id]))
        if not rows:
            raise EpisodeNotFound(f"no episode {episode_id!r} in {self.path}")
        return rows[0]

    # -------------------------------------------------------------------------------------------- writes
    def start_episode(self, *, target: str, policy: str, model: str | None = None, problem_id: str | None = None,
                      task: str | None = None, namespace: str | None = None, seed: int | None = None,
                      meta: dict[str, Any] | None = None, tools: list[dict[str, Any]] | None = None,
                      episode_id: str | None = None, source: str = "observer", started_at: float | None = None
                      ) -> str:
        """A new ``running`` episode; returns its id (a uuid4 string unless ``episode_id`` is given).
        ``tools``: the tool schemas the policy sees (MCP ``{name, description, inputSchema}`` or OpenAI
        ``{type: function, function: {...}}``), exported as the record's ``tools``."""
        eid = episode_id or str(uuid.uuid4())
        with self._write() as db:
            db.execute(
                "INSERT INTO episodes (id, source, target, problem_id, task, namespace, policy, model, seed, status, "
                "meta, tools, owner, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                [eid, source, guard.strip_text(target), problem_id, task, namespace, policy, model, seed,
                 _dumps(guard.strip(meta or {})), _dumps(guard.strip(tools)), self._owner,
                 time.time() if started_at is None else started_at])
        return eid

    @contextlib.contextmanager
    def recording(self, **start: Any) -> Iterator[str]:
        """``with store.recording(target=..., policy=...) as eid:`` starts an episode and always ends it:
        ``completed`` when the block returns (unless it called ``finish`` itself), ``interrupted`` on Ctrl-C,
        ``failed`` on any other exception (its type and message go into the timings' ``error``)."""
        eid = self.start_episode(**start)
        try:
            yield eid
        except KeyboardInterrupt:
            self.finish(eid, "interrupted")
            raise
        except BaseException as e:
            self.finish(eid, "failed", timings={"error": f"{type(e).__name__}: {e}"[:500]})
            raise
        else:
            with self._lock:
                row = next(iter(self.db.query("SELECT status FROM episodes WHERE id = ?", [eid])))
            if row["status"] == "running":
                self.finish(eid, "completed")

    def set_tools(self, episode_id: str, tools: list[dict[str, Any]]) -> None:
        with self._write() as db:
            self._require(db, episode_id)
            db.execute("UPDATE episodes SET tools = ? WHERE id = ?", [_dumps(guard.strip(tools)), episode_id])

    def update_meta(self, episode_id: str, meta: dict[str, Any]) -> None:
        """Merge ``meta`` into the episode's meta."""
        with self._write() as db:
            self._require(db, episode_id)
            row = next(iter(db.query("SELECT meta FROM episodes WHERE id = ?", [episode_id])))
            merged = {**(_loads(row["meta"]) or {}), **guard.strip(meta)}
            db.execute("UPDATE episodes SET meta = ? WHERE id = ?", [_dumps(merged), episode_id])

    def add_step(self, episode_id: str, *, role: str, text: str = "", tool: str | None = None,
                 arguments: dict[str, Any] | None = None, result: str | None = None, is_error: bool = False,
                 latency_ms: float | None = None, tokens_in: int | None = None, tokens_out: int | None = None,
                 server: str | None = None, decision: dict[str, Any] | None = None, call_id: str | None = None,
                 ts: float | None = None) -> int:
        """Append a step; returns its row id (for ``update_step``). ``role``: system|user|assistant|tool.
        A tool call is ``role="assistant", tool=..., arguments=...``; its result goes on the same step or on a
        later ``role="tool"`` step (``call_id`` links them; without one, by order). ``decision``: the policy's
        structured decision (phase, hypothesis, confidence, next). JWS-shaped strings are replaced."""
        _check_role(role)
        with self._write() as db:
            self._require(db, episode_id)
            idx = next(iter(db.query("SELECT coalesce(max(idx) + 1, 0) AS n FROM steps WHERE episode_id = ?",
                                     [episode_id])))["n"]
            cursor = db.execute(
                "INSERT INTO steps (episode_id, idx, ts, role, text, tool, call_id, arguments, result, is_error, "
                "latency_ms, tokens_in, tokens_out, server, decision) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [episode_id, idx, time.time() if ts is None else ts, role, guard.strip_text(text or ""), tool,
                 guard.strip_text(call_id) if call_id else None, _dumps(guard.strip(arguments)),
                 None if result is None else guard.strip_text(result), int(bool(is_error)), latency_ms, tokens_in,
                 tokens_out, server, _dumps(guard.strip(decision))])
            return int(cursor.lastrowid or 0)

    def update_step(self, step_id: int, *, result: str | None = None, is_error: bool | None = None,
                    latency_ms: float | None = None, tokens_in: int | None = None, tokens_out: int | None = None,
                    decision: dict[str, Any] | None = None) -> None:
        """Fill in what was not known when the step was written (e.g. a tool's result after the call returns).
        Only the given fields change."""
        fields: dict[str, Any] = {}
        if result is not None:
            fields["result"] = guard.strip_text(result)
        if is_error is not None:
            fields["is_error"] = int(is_error)
        for name, value in (("latency_ms", latency_ms), ("tokens_in", tokens_in), ("tokens_out", tokens_out)):
            if value is not None:
                fields[name] = value
        if decision is not None:
            fields["decision"] = _dumps(guard.strip(decision))
        if not fields:
            return
        with self._write() as db:
            sets = ", ".join(f"{k} = ?" for k in fields)
            cursor = db.execute(f"UPDATE steps SET {sets} WHERE id = ?", [*fields.values(), step_id])
            if cursor.rowcount == 0:
                raise TranscriptStoreError(f"no step {step_id} in {self.path}")

    def add_plan(self, episode_id: str, *, plan: dict[str, Any], plan_hash: str, token_id: str | None = None,
                 token_sha256: str | None = None, signer: str | None = None, status: str = "proposed",
                 result: dict[str, Any] | None = None) -> int:
        """Record a plan (its dict and canonical SHA-256), and of its token only the id (``jti``) and SHA-256.
        A ``token_id`` or ``token_sha256`` that looks like a token is refused (``guard.TokenRefused``)."""
        guard.refuse_token("token_id", token_id)
        guard.refuse_token("token_sha256", token_sha256)
        guard.refuse_token("plan_hash", plan_hash)
        plan_id = plan.get("id") if isinstance(plan, dict) else None
        with self._write() as db:
            self._require(db, episode_id)
            cursor = db.execute(
                "INSERT INTO plans (episode_id, ts, plan, plan_id, plan_hash, token_id, token_sha256, signer, status, "
                "result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [episode_id, time.time(), _dumps(guard.strip(plan)), str(plan_id) if plan_id is not None else None,
                 plan_hash, token_id, token_sha256, signer, status, _dumps(guard.strip(result))])
            return int(cursor.lastrowid or 0)

    def update_plan(self, plan_row_id: int, *, status: str | None = None, result: dict[str, Any] | None = None,
                    token_id: str | None = None, token_sha256: str | None = None, signer: str | None = None) -> None:
        """Move a plan on (``proposed`` -> ``signed`` / ``awaiting_approval`` -> ``executed`` / ``refused`` ...)."""
        guard.refuse_token("token_id", token_id)
        guard.refuse_token("token_sha256", token_sha256)
        fields: dict[str, Any] = {"updated_at": time.time()}
        for name, value in (("status", status), ("token_id", token_id), ("token_sha256", token_sha256),
                            ("signer", signer)):
            if value is not None:
                fields[name] = value
        if result is not None:
            fields["result"] = _dumps(guard.strip(result))
        with self._write() as db:
            sets = ", ".join(f"{k} = ?" for k in fields)
            cursor = db.execute(f"UPDATE plans SET {sets} WHERE id = ?", [*fields.values(), plan_row_id])
            if cursor.rowcount == 0:
                raise TranscriptStoreError(f"no plan {plan_row_id} in {self.path}")

    def submit(self, episode_id: str, submission: object) -> None:
        """The final submission (any JSON-able value, a pydantic model or a dataclass)."""
        with self._write() as db:
            self._require(db, episode_id)
            db.execute("UPDATE episodes SET submission = ?, submitted_at = ? WHERE id = ?",
                       [_dumps(guard.strip(_jsonable(submission))), time.time(), episode_id])

    def grade(self, episode_id: str, grade: dict[str, Any]) -> None:
        """The grader's verdict. ``grade["success"]`` (bool) and ``grade["score"]`` (number) are indexed for
        filtering (see ``models.grade_outcome``)."""
        grade = guard.strip(_jsonable(grade))
        success, score = grade_outcome(grade)
        with self._write() as db:
            self._require(db, episode_id)
            db.execute("UPDATE episodes SET grade = ?, success = ?, score = ?, graded_at = ? WHERE id = ?",
                       [_dumps(grade), None if success is None else int(success), score, time.time(), episode_id])

    def finish(self, episode_id: str, status: str = "completed", timings: dict[str, Any] | None = None) -> None:
        """End the episode: ``completed``, ``failed`` or ``interrupted``; ``timings`` are merged into any
        stored ones."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {FINAL_STATUSES}, not {status!r}")
        with self._write() as db:
            self._require(db, episode_id)
            row = next(iter(db.query("SELECT timings FROM episodes WHERE id = ?", [episode_id])))
            merged = {**(_loads(row["timings"]) or {}), **(timings or {})}
            db.execute("UPDATE episodes SET status = ?, finished_at = ?, timings = ?, owner = NULL WHERE id = ?",
                       [status, time.time(), _dumps(merged) if merged else None, episode_id])

    def mark_interrupted_running(self, *, include_live: bool = False) -> int:
        """Mark ``interrupted`` the ``running`` episodes whose writing process is gone (a crash, SIGKILL, power
        loss); returns how many. Episodes of live processes (here or on another host) are left alone unless
        ``include_live``. The finish time is the last step's time."""
        with self._write() as db:
            rows = list(db.query("SELECT id, owner FROM episodes WHERE status = 'running'"))
            stale = [r["id"] for r in rows
                     if include_live or (r["owner"] != self._owner and not _owner_alive(r["owner"]))]
            for eid in stale:
                db.execute(
                    "UPDATE episodes SET status = 'interrupted', owner = NULL, finished_at = coalesce("
                    "(SELECT max(ts) FROM steps WHERE episode_id = ?), started_at) WHERE id = ?", [eid, eid])
            return len(stale)

    def delete(self, episode_id: str) -> None:
        with self._write() as db:
            self._require(db, episode_id)
            db.execute("DELETE FROM episodes WHERE id = ?", [episode_id])  # steps and plans cascade

    def put_episode(self, episode: Episode, *, replace: bool = False) -> bool:
        """Store a complete episode (an import) in one transaction, keeping its id, times and order.
        Returns False (and changes nothing) when the id exists and not ``replace``."""
        with self._write() as db:
            if list(db.query("SELECT 1 AS x FROM episodes WHERE id = ?", [episode.id])):
                if not replace:
                    return False
                db.execute("DELETE FROM episodes WHERE id = ?", [episode.id])
            success, score = grade_outcome(episode.grade)
            db.execute(
                "INSERT INTO episodes (id, source, target, problem_id, task, namespace, policy, model, seed, status, "
                "meta, tools, owner, started_at, finished_at, submission, submitted_at, grade, success, score, "
                "graded_at, timings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [episode.id, episode.source, guard.strip_text(episode.target), episode.problem_id, episode.task,
                 episode.namespace, episode.policy, episode.model, episode.seed,
                 "interrupted" if episode.status == "running" else episode.status,
                 _dumps(guard.strip(episode.meta)), _dumps(guard.strip(episode.tools)), episode.started_at,
                 episode.finished_at, _dumps(guard.strip(episode.submission)), episode.submitted_at,
                 _dumps(guard.strip(episode.grade)), None if success is None else int(success),
                 score, episode.graded_at, _dumps(episode.timings)])
            for idx, s in enumerate(episode.steps):
                _check_role(s.role)
                db.execute(
                    "INSERT INTO steps (episode_id, idx, ts, role, text, tool, call_id, arguments, result, is_error, "
                    "latency_ms, tokens_in, tokens_out, server, decision) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [episode.id, idx, s.ts, s.role, guard.strip_text(s.text), s.tool,
                     guard.strip_text(s.call_id) if s.call_id else None, _dumps(guard.strip(s.arguments)),
                     None if s.result is None else guard.strip_text(s.result), int(s.is_error), s.latency_ms,
                     s.tokens_in, s.tokens_out, s.server, _dumps(guard.strip(s.decision))])
            for p in episode.plans:
                guard.refuse_token("token_id", p.token_id)
                guard.refuse_token("token_sha256", p.token_sha256)
                db.execute(
                    "INSERT INTO plans (episode_id, ts, plan, plan_id, plan_hash, token_id, token_sha256, signer, "
                    "status, result, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [episode.id, p.ts, _dumps(guard.strip(p.plan)), p.plan_id, p.plan_hash, p.token_id,
                     p.token_sha256, p.signer, p.status, _dumps(guard.strip(p.result)), p.updated_at])
            return True

    # -------------------------------------------------------------------------------------------- reads
    @staticmethod
    def _summary_fields(row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "source": row["source"], "target": row["target"], "problem_id": row["problem_id"],
                "task": row["task"], "namespace": row["namespace"], "policy": row["policy"], "model": row["model"],
                "seed": row["seed"], "status": row["status"], "started_at": row["started_at"],
                "finished_at": row["finished_at"], "n_steps": row["n_steps"],
                "success": None if row["success"] is None else bool(row["success"]), "score": row["score"]}

    def episode(self, episode_id: str) -> Episode:
        """The whole episode: steps in order, plans, submission, grade and timings. Unique id prefixes work too."""
        with self._lock:
            rows = list(self.db.query(
                "SELECT e.*, (SELECT count(*) FROM steps s WHERE s.episode_id = e.id) AS n_steps FROM episodes e "
                "WHERE e.id = ?", [episode_id]))
            if not rows and episode_id and len(episode_id) < 36:
                rows = list(self.db.query(
                    "SELECT e.*, (SELECT count(*) FROM steps s WHERE s.episode_id = e.id) AS n_steps "
                    "FROM episodes e WHERE e.id LIKE ? LIMIT 2", [episode_id.replace("%", "") + "%"]))
                if len(rows) > 1:
                    raise EpisodeNotFound(f"episode id prefix {episode_id!r} is ambiguous in {self.path}")
            if not rows:
                raise EpisodeNotFound(f"no episode {episode_id!r} in {self.path}")
            row = rows[0]
            steps = [Step(id=s["id"], idx=s["idx"], ts=s["ts"], role=s["role"], text=s["text"], tool=s["tool"],
                          call_id=s["call_id"], arguments=_loads(s["arguments"]), result=s["result"],
                          is_error=bool(s["is_error"]), latency_ms=s["latency_ms"], tokens_in=s["tokens_in"],
                          tokens_out=s["tokens_out"], server=s["server"], decision=_loads(s["decision"]))
                     for s in self.db.query("SELECT * FROM steps WHERE episode_id = ? ORDER BY idx", [row["id"]])]
            plans = [PlanRecord(id=p["id"], ts=p["ts"], plan=_loads(p["plan"]), plan_id=p["plan_id"],
                                plan_hash=p["plan_hash"], token_id=p["token_id"], token_sha256=p["token_sha256"],
                                signer=p["signer"], status=p["status"], result=_loads(p["result"]),
                                updated_at=p["updated_at"])
                     for p in self.db.query("SELECT * FROM plans WHERE episode_id = ? ORDER BY id", [row["id"]])]
        return Episode(**self._summary_fields(row), meta=_loads(row["meta"]) or {}, tools=_loads(row["tools"]),
                       steps=steps, plans=plans, submission=_loads(row["submission"]),
                       submitted_at=row["submitted_at"], grade=_loads(row["grade"]), graded_at=row["graded_at"],
                       timings=_loads(row["timings"]))

    def episodes(self, *, problem_id: str | None = None, policy: str | None = None, status: str | None = None,
                 success: bool | None = None, source: str | None = None, limit: int | None = 100
                 ) -> list[EpisodeSummary]:
        """Summaries, newest first. ``success``: only graded episodes with that outcome. ``limit=None``: all."""
        where, args = [], []
        for column, value in (("problem_id", problem_id), ("policy", policy), ("status", status),
                              ("source", source)):
            if value is not None:
                where.append(f"e.{column} = ?")
                args.append(value)
        if success is not None:
            where.append("e.success = ?")
            args.append(int(success))
        sql = ("SELECT e.id, e.source, e.target, e.problem_id, e.task, e.namespace, e.policy, e.model, e.seed, "
               "e.status, e.started_at, e.finished_at, e.success, e.score, "
               "(SELECT count(*) FROM steps s WHERE s.episode_id = e.id) AS n_steps FROM episodes e")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY e.started_at DESC, e.id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._lock:
            return [EpisodeSummary(**self._summary_fields(r)) for r in self.db.query(sql, args)]

    def count(self) -> int:
        with self._lock:
            return int(next(iter(self.db.query("SELECT count(*) AS n FROM episodes")))["n"])
