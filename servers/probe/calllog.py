"""The probe's call log (``--transcripts PATH``): every tool call, redacted, in SQLite, so sessions of any MCP
client (Claude Desktop, an IDE agent) become data that ``aoi transcripts import`` can read."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path

import orjson
from sqlite_utils import Database

SCHEMA_VERSION = 1


class CallLog:
    def __init__(self, path: Path, server: str = "probe"):
        path.parent.mkdir(parents=True, exist_ok=True)
        # Tool handlers run in worker threads; every use of the connection is under self._lock.
        self.db = Database(sqlite3.connect(str(path), check_same_thread=False))
        self.db.enable_wal()
        self.session = str(uuid.uuid4())
        self.server = server
        self._lock = threading.Lock()
        if "calls" not in self.db.table_names():
            self.db["calls"].create({"id": int, "session": str, "server": str, "ts": float, "tool": str,
                                     "arguments": str, "result": str, "is_error": int, "latency_ms": float},
                                    pk="id")
            self.db["calls"].create_index(["session"])
            self.db["meta"].insert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key", replace=True)

    def record(self, tool: str, arguments: dict, result: str, is_error: bool, latency_ms: float) -> None:
        with self._lock:
            self.db["calls"].insert({"session": self.session, "server": self.server, "ts": time.time(), "tool": tool,
                                     "arguments": orjson.dumps(arguments, default=str).decode(), "result": result,
                                     "is_error": int(is_error), "latency_ms": round(latency_ms, 2)})
