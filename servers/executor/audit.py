"""The audit log: one JSON line per request (verified or refused), append-only and hash-chained.

Each entry carries ``seq`` (1, 2, ...), ``prev`` (the previous entry's hash; 64 zeros for the first) and ``hash`` =
SHA-256 over ``prev`` and the entry's canonical JSON without ``hash``. Editing an entry breaks its hash, deleting
or reordering entries breaks ``seq`` and ``prev``, and deleting entries from the end is caught by the head kept
in the ledger. ``verify_log`` says which line is wrong and how. Tokens are never written, only their SHA-256.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from servers.executor.ledger import Ledger

GENESIS = "0" * 64

try:  # POSIX: several executor processes may share one log
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def _canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(str(body.get("prev", "")).encode() + b"\n" + _canonical(body)).hexdigest()


class AuditLog:
    def __init__(self, path: str | Path, ledger: Ledger | None = None):
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(exist_ok=True)
        self.ledger = ledger
        self._lock = threading.Lock()

    @property
    def key(self) -> str:
        return str(self.path.resolve())

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Any]:
        with self._lock, open(self.path, "a+b") as f:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield f
            finally:
                if fcntl is not None:
                    fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    @staticmethod
    def _last_line(f: Any) -> bytes | None:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        if end == 0:
            return None
        pos, chunk, tail = end, 4096, b""
        while pos > 0:
            step = min(chunk, pos)
            pos -= step
            f.seek(pos)
            tail = f.read(step) + tail
            lines = tail.rstrip(b"\n").split(b"\n")
            if len(lines) > 1 or pos == 0:
                return lines[-1]
        return None

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Append one entry (``seq``, ``ts``, ``prev`` and ``hash`` are added) and return it."""
        with self._locked() as f:
            last = self._last_line(f)
            if last:
                prev_entry = json.loads(last)
                seq, prev = int(prev_entry["seq"]) + 1, str(prev_entry["hash"])
            else:
                seq, prev = 1, GENESIS
            entry = {"seq": seq, "ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "prev": prev,
                     **{k: v for k, v in record.items() if k not in ("seq", "prev", "hash", "ts")}}
            entry["hash"] = entry_hash(entry)
            f.seek(0, os.SEEK_END)
            f.write(json.dumps(entry, sort_keys=True, ensure_ascii=False, default=str).encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
            if self.ledger is not None:
                self.ledger.set_head(self.key, seq, entry["hash"])
        return entry

    def entries(self) -> list[dict[str, Any]]:
        out = []
        for line in self.path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out


@dataclass
class VerifyReport:
    ok: bool
    entries: int
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.ok:
            return f"audit log OK: {self.entries} entries, hash chain intact"
        return "audit log BROKEN:\n" + "\n".join(f"  {p}" for p in self.problems)


def verify_log(path: str | Path, ledger: Ledger | None = None, max_problems: int = 20) -> VerifyReport:
    """Walk the chain; report each line where it breaks (edited, deleted, reordered, inserted, truncated)."""
    path = Path(path).expanduser()
    problems: list[str] = []
    prev, expected_seq, count, last_hash = GENESIS, 1, 0, GENESIS
    lines = path.read_bytes().split(b"\n") if path.exists() else []
    if lines and lines[-1] == b"":
        lines.pop()
    for lineno, raw in enumerate(lines, start=1):
        count += 1
        try:
            entry = json.loads(raw)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
            seq, stored_prev, stored_hash = int(entry["seq"]), str(entry["prev"]), str(entry["hash"])
        except (ValueError, KeyError, TypeError) as e:
            problems.append(f"line {lineno}: not a valid entry ({type(e).__name__}): edited or corrupted")
            prev, expected_seq = "?", expected_seq + 1
            continue
        if entry_hash(entry) != stored_hash:
            problems.append(f"line {lineno} (seq {seq}): content does not match its hash: the entry was edited")
        if seq != expected_seq:
            what = "entries deleted before it" if seq > expected_seq else "reordered or duplicated"
            problems.append(f"line {lineno}: seq {seq}, expected {expected_seq}: {what}")
        elif prev != "?" and stored_prev != prev:
            problems.append(f"line {lineno} (seq {seq}): prev does not match the hash of line {lineno - 1}: "
                            "an entry before it was changed, removed or inserted")
        prev, expected_seq, last_hash = stored_hash, seq + 1, stored_hash
        if len(problems) >= max_problems:
            problems.append("... (stopped)")
            break
    if ledger is not None and len(problems) < max_problems:
        head = ledger.head(str(path.resolve()))
        if head is not None:
            head_seq, head_hash = head
            last_seq = expected_seq - 1
            if last_seq < head_seq:
                problems.append(f"end of log: the ledger records {head_seq} entries, the file ends at seq {last_seq}: "
                                f"entries {last_seq + 1}..{head_seq} were removed from the end")
            elif last_seq > head_seq:
                problems.append(f"end of log: entries after seq {head_seq} are not known to the ledger: appended "
                                "outside the executor")
            elif head_hash != last_hash:
                problems.append(f"end of log: seq {last_seq} does not end in the hash the ledger records: the chain "
                                "was rewritten")
    return VerifyReport(ok=not problems, entries=count, problems=problems)
