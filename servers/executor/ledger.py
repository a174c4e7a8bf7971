"""The single-use ledger: every token id (jti) the executor has acted on, in SQLite.

Consuming an id is one INSERT into a table whose primary key is the id, so of any number of concurrent uses
(threads, or several executor processes sharing the file) exactly one succeeds: the database, not our code,
decides the race. The ledger also keeps the audit log's head (last sequence number and hash), so that deleting
entries from the end of the log is detected too.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS used_tokens (
    jti TEXT PRIMARY KEY,
    kid TEXT NOT NULL,
    plan_hash TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (
    log TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
"""


class Ledger:
    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as c:
            c.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        # One connection per thread: sqlite3 connections must not be shared across threads.
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def consume(self, jti: str, kid: str, plan_hash: str, expires_at: int) -> bool:
        """Mark ``jti`` used; True for exactly one caller per id, False if it was used before."""
        try:
            self._conn().execute("INSERT INTO used_tokens (jti, kid, plan_hash, expires_at, used_at) "
                                 "VALUES (?, ?, ?, ?, ?)", (jti, kid, plan_hash, int(expires_at), time.time()))
        except sqlite3.IntegrityError:
            return False
        return True

    def is_used(self, jti: str) -> bool:
        row = self._conn().execute("SELECT 1 FROM used_tokens WHERE jti = ?", (jti,)).fetchone()
        return row is not None

    def prune(self, before: float) -> int:
        """Forget ids whose tokens expired before ``before`` (they are refused as expired anyway)."""
        cur = self._conn().execute("DELETE FROM used_tokens WHERE expires_at < ?", (int(before),))
        return cur.rowcount

    def set_head(self, log: str, seq: int, digest: str) -> None:
        self._conn().execute("INSERT INTO audit_head (log, seq, hash) VALUES (?, ?, ?) "
                             "ON CONFLICT(log) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                             (log, seq, digest))

    def head(self, log: str) -> tuple[int, str] | None:
        row = self._conn().execute("SELECT seq, hash FROM audit_head WHERE log = ?", (log,)).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
