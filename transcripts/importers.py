"""Sessions of external agents as episodes: the probe's SQLite call log and the executor's audit log.

An agent such as Claude Desktop that talks to ``aoi probe --transcripts calls.db`` leaves one row per tool call
(``servers/probe/calllog.py``: table ``calls(session, server, ts, tool, arguments, result, is_error,
latency_ms)``, one session per probe process). Each session becomes one episode (source ``calllog``, policy
``external``) whose steps are the calls, in order: ``role="assistant"`` with the tool, arguments and result.

The executor's audit log (``servers/executor/audit.py``) is hash-chained JSON lines, one per ``execute_plan`` /
``check_plan`` request, with no session: entries carry a ``session`` when a writer adds one; otherwise entries of
one cluster form a session until a gap longer than ``gap_s``. Each request becomes a step (``execute_plan`` or
``check_plan``; its arguments are the plan id, hash, actions and the token's SHA-256, never a token), and each plan
a plan row. The chain is re-checked while reading and the episode's meta says whether it held.

Imported episode ids are derived from the source (uuid5), so importing the same log twice adds nothing; pass
``replace=True`` to refresh a session that grew since.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from transcripts.models import Episode, PlanRecord, Step
from transcripts.store import IMPORT_NAMESPACE, TranscriptStore

GENESIS = "0" * 64


class LogImportError(ValueError):
    """The file is not a probe call log or an executor audit log."""


# ------------------------------------------------------------------------------------------------ probe call log
def read_calllog(path: str | Path) -> list[Episode]:
    path = Path(path)
    if not path.is_file():
        raise LogImportError(f"no call log at {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise LogImportError(f"cannot open {path}: {e}") from None
    try:
        conn.row_factory = sqlite3.Row
        try:
            rows = conn.execute("SELECT session, server, ts, tool, arguments, result, is_error, latency_ms FROM calls "
                                "ORDER BY session, ts, rowid").fetchall()
        except sqlite3.DatabaseError as e:
            raise LogImportError(f"{path} is not a probe call log (a SQLite file with a 'calls' table): {e}"
                                 ) from None
    finally:
        conn.close()
    sessions: dict[str, list[sqlite3.Row]] = {}
    for r in rows:
        sessions.setdefault(str(r["session"]), []).append(r)
    episodes = []
    for session, calls in sessions.items():
        steps = []
        for i, r in enumerate(calls):
            try:
                arguments = json.loads(r["arguments"]) if r["arguments"] else None
            except ValueError:
                arguments = {"_raw": r["arguments"]}
            if arguments is not None and not isinstance(arguments, dict):
                arguments = {"_value": arguments}
            steps.append(Step(idx=i, ts=float(r["ts"] or 0.0), role="assistant", tool=r["tool"], arguments=arguments,
                              result=r["result"] if r["result"] is not None else "", is_error=bool(r["is_error"]),
                              latency_ms=r["latency_ms"], server=r["server"], call_id=f"call_{i}"))
        servers = sorted({str(r["server"]) for r in calls if r["server"]})
        last = calls[-1]
        finished = float(last["ts"] or 0.0) + float(last["latency_ms"] or 0.0) / 1000.0
        episodes.append(Episode(
            id=str(uuid.uuid5(IMPORT_NAMESPACE, f"calllog:{session}")), source="calllog",
            target=f"{'+'.join(servers) or 'probe'} session {session[:8]}", policy="external", status="completed",
            started_at=float(calls[0]["ts"] or 0.0), finished_at=finished, steps=steps,
            meta={"imported_from": "calllog", "session": session, "path": str(path), "servers": servers,
                  "calls": len(calls)}))
    return episodes


def import_calllog(store: TranscriptStore, path: str | Path, *, replace: bool = False) -> tuple[int, int]:
    """Import every session of a probe call log; returns (imported, skipped as already present)."""
    return _put_all(store, read_calllog(path), replace)


# ------------------------------------------------------------------------------------------------ executor audit
def _entry_hash(entry: dict[str, Any]) -> str:
    """As servers/executor/audit.py: SHA-256 over prev, a newline and the canonical JSON without ``hash``."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    return hashlib.sha256(str(body.get("prev", "")).encode() + b"\n" + canonical).hexdigest()


def _ts(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def read_audit(path: str | Path, *, gap_s: float = 1800.0) -> list[Episode]:
    path = Path(path)
    if not path.is_file():
        raise LogImportError(f"no audit log at {path}")
    entries: list[tuple[int, dict[str, Any]]] = []
    chain_problems: list[str] = []
    prev = GENESIS
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                chain_problems.append(f"line {lineno}: not JSON")
                prev = "?"
                continue
            if not isinstance(entry, dict) or "op" not in entry:
                raise LogImportError(f"{path}:{lineno} is not an executor audit entry (no 'op')")
            if entry.get("hash") != _entry_hash(entry):
                chain_problems.append(f"line {lineno}: content does not match its hash")
            elif prev != "?" and entry.get("prev") != prev:
                chain_problems.append(f"line {lineno}: prev does not match the previous entry")
            prev = str(entry.get("hash"))
            entries.append((lineno, entry))
    if not entries:
        return []
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    last_ts: dict[str, float] = {}
    current: dict[str, str] = {}
    for lineno, e in entries:
        if e.get("session"):
            key = f"session:{e['session']}"
        else:
            cluster, t = str(e.get("cluster") or ""), _ts(e.get("ts"))
            if cluster not in current or t - last_ts[cluster] > gap_s:
                current[cluster] = f"cluster:{cluster}:{e.get('hash') or lineno}"
            last_ts[cluster] = t
            key = current[cluster]
        groups.setdefault(key, []).append((lineno, e))
    chain = "ok" if not chain_problems else "; ".join(chain_problems[:5])
    episodes = []
    for key, items in groups.items():
        steps: list[Step] = []
        plans: dict[str, PlanRecord] = {}
        for i, (_, e) in enumerate(items):
            op = str(e.get("op"))
            arguments = {k: e[k] for k in ("plan_id", "plan_hash", "actions", "kid", "kid_claimed", "jti",
                                           "token_sha256", "plan_raw_sha256") if e.get(k) is not None}
            result = {k: e[k] for k in ("result", "reason", "message", "failed_action", "outcomes", "seq")
                      if e.get(k) is not None}
            steps.append(Step(idx=i, ts=_ts(e.get("ts")), role="assistant",
                              tool="execute_plan" if op == "execute" else f"{op}_plan", arguments=arguments,
                              result=json.dumps(result, ensure_ascii=False), server="executor",
                              is_error=e.get("result") in ("refused", "failed"), call_id=f"call_{i}"))
            if e.get("plan_hash"):
                rec = plans.get(str(e["plan_hash"]))
                status = str(e.get("result") or "unknown")
                if rec is None:
                    plans[str(e["plan_hash"])] = PlanRecord(
                        ts=_ts(e.get("ts")), plan={"id": e.get("plan_id"), "actions": e.get("actions") or []},
                        plan_id=e.get("plan_id"), plan_hash=str(e["plan_hash"]), token_id=e.get("jti"),
                        token_sha256=e.get("token_sha256") or None, signer=e.get("kid"), status=status,
                        result=result)
                else:
                    rec.status, rec.result, rec.updated_at = status, result, _ts(e.get("ts"))
        first, last = items[0][1], items[-1][1]
        cluster = str(first.get("cluster") or "")
        episodes.append(Episode(
            id=str(uuid.uuid5(IMPORT_NAMESPACE, f"audit:{key}")), source="audit",
            target=f"executor {cluster}".strip(), policy="external", status="completed",
            started_at=_ts(first.get("ts")), finished_at=_ts(last.get("ts")), steps=steps,
            plans=list(plans.values()),
            meta={"imported_from": "audit", "path": str(path), "cluster": cluster, "group": key,
                  "seq": [first.get("seq"), last.get("seq")], "lines": [items[0][0], items[-1][0]],
                  "chain": chain}))
    return episodes


def import_audit(store: TranscriptStore, path: str | Path, *, gap_s: float = 1800.0, replace: bool = False
                 ) -> tuple[int, int]:
    """Import an executor audit log; returns (imported, skipped as already present)."""
    return _put_all(store, read_audit(path, gap_s=gap_s), replace)


def _put_all(store: TranscriptStore, episodes: list[Episode], replace: bool) -> tuple[int, int]:
    imported = skipped = 0
    for ep in episodes:
        if store.put_episode(ep, replace=replace):
            imported += 1
        else:
            skipped += 1
    return imported, skipped
