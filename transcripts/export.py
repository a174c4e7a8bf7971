"""Episodes as JSONL in the OpenAI chat format with tool calls, and back.

One line per episode::

    {"messages": [{"role": "system", "content": ...}, {"role": "user", "content": ...},
                  {"role": "assistant", "content": "...", "tool_calls": [{"id": "call_3", "type": "function",
                   "function": {"name": "get_pods", "arguments": "{\\"namespace\\": \\"hotel\\"}"}}]},
                  {"role": "tool", "tool_call_id": "call_3", "name": "get_pods", "content": "..."}, ...],
     "tools": [{"type": "function", "function": {"name", "description", "parameters"}}],   # when known
     "metadata": {"episode_id", "source", "target", "problem_id", "task", "policy", "model", "status",
                  "success", "score", "grade", "aoi": "<JSON string>"}}

This is what TRL's SFT and GRPO trainers (``messages`` + ``tools``) and most fine-tuning tools read. Every tool
call is answered by a tool message before the next assistant or user message; a call whose result never came
(an interrupted episode) gets a placeholder answer, marked synthetic. ``metadata.aoi`` is a JSON *string* (so a
``datasets`` Arrow schema stays stable across rows) with what the messages cannot carry: per-step times,
latencies, token counts, servers, errors, decisions, plans, the submission, timings; ``import_jsonl`` uses it to
restore the episode exactly. Lines without it (from another tool) are imported message by message.

``arguments_as_object=True`` writes ``function.arguments`` as an object instead of a JSON string: the shape
Hugging Face chat templates expect when a dataset is rendered with ``apply_chat_template``.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from transcripts.models import Episode, PlanRecord, Step
from transcripts.store import IMPORT_NAMESPACE, TranscriptStore

FORMAT = "aoi-transcript/1"
NO_RESULT = "(no result: the episode ended before the tool returned)"


class ImportFormatError(ValueError):
    """A JSONL line that is not a chat record."""


# ------------------------------------------------------------------------------------------------ tools
def openai_tool(schema: dict[str, Any]) -> dict[str, Any]:
    """An MCP tool (``name``, ``description``, ``inputSchema``) or an OpenAI one, as an OpenAI function tool."""
    if schema.get("type") == "function" and isinstance(schema.get("function"), dict):
        return schema
    params = schema.get("inputSchema") or schema.get("input_schema") or schema.get("parameters") or {
        "type": "object", "properties": {}}
    out: dict[str, Any] = {"name": schema.get("name", ""), "parameters": params}
    if schema.get("description"):
        out["description"] = schema["description"]
    return {"type": "function", "function": out}


# ------------------------------------------------------------------------------------------------ export
def _call_id(step: Step) -> str:
    return step.call_id or f"call_{step.idx}"


def episode_to_record(episode: Episode, *, arguments_as_object: bool = False, include_aoi: bool = True
                      ) -> dict[str, Any]:
    """One episode as an OpenAI-format chat record (see the module docstring)."""
    messages: list[dict[str, Any]] = []
    extras: list[dict[str, Any]] = []
    synthetic: list[int] = []
    pending: list[tuple[str, str]] = []  # (call id, tool name) of calls awaiting a tool message
    group_open = False  # the last message is an assistant tool-call message that may take parallel calls

    def close_pending() -> None:
        nonlocal group_open
        for cid, name in pending:
            synthetic.append(len(messages))
            messages.append({"role": "tool", "tool_call_id": cid, "name": name, "content": NO_RESULT})
        pending.clear()
        group_open = False

    def tool_call(step: Step) -> dict[str, Any]:
        args: Any = step.arguments or {}
        return {"id": _call_id(step), "type": "function",
                "function": {"name": step.tool or "tool", "arguments": args if arguments_as_object
                             else json.dumps(args, ensure_ascii=False)}}

    for step in episode.steps:
        extra: dict[str, Any] = {"role": step.role, "ts": step.ts}
        for key in ("is_error", "latency_ms", "tokens_in", "tokens_out", "server", "decision", "call_id"):
            value = getattr(step, key)
            if value is not None and value is not False:
                extra[key] = value
        if step.role == "tool":
            match = None
            if step.call_id is not None:
                match = next((p for p in pending if p[0] == step.call_id), None)
            elif pending:
                match = next((p for p in pending if p[1] == step.tool), pending[0])
            if match is None:  # an answer without a call: give it the call it answers
                close_pending()
                cid = _call_id(step)
                synthetic.append(len(messages))
                messages.append({"role": "assistant", "content": "", "tool_calls": [tool_call(step)]})
                match = (cid, step.tool or "tool")
            else:
                pending.remove(match)
            extra["m"] = len(messages)
            messages.append({"role": "tool", "tool_call_id": match[0], "name": step.tool or match[1],
                             "content": step.result if step.result is not None else step.text})
            if step.tool is None:
                extra["no_tool"] = True
            if step.arguments is not None:
                extra["arguments"] = step.arguments
            if step.result is None:
                extra["no_result"] = True
            elif step.text:
                extra["text"] = step.text
            group_open = bool(pending)
        elif step.role == "assistant" and step.tool:
            if step.arguments is None:
                extra["no_args"] = True
            if group_open and not step.text and messages and messages[-1].get("tool_calls"):
                extra["m"] = len(messages) - 1
                extra["call"] = len(messages[-1]["tool_calls"])
                messages[-1]["tool_calls"].append(tool_call(step))
            else:
                close_pending()
                extra["m"], extra["call"] = len(messages), 0
                messages.append({"role": "assistant", "content": step.text, "tool_calls": [tool_call(step)]})
            if step.result is not None:
                extra["r"] = len(messages)
                messages.append({"role": "tool", "tool_call_id": _call_id(step), "name": step.tool,
                                 "content": step.result})
                group_open = False
            else:
                pending.append((_call_id(step), step.tool))
                group_open = True
        else:
            close_pending()
            extra["m"] = len(messages)
            messages.append({"role": step.role, "content": step.text})
            if step.tool or step.arguments is not None or step.result is not None:
                extra.update(tool=step.tool, arguments=step.arguments, result=step.result)
        extras.append(extra)
    close_pending()

    metadata: dict[str, Any] = {
        "episode_id": episode.id, "source": episode.source, "target": episode.target,
        "problem_id": episode.problem_id, "task": episode.task, "policy": episode.policy, "model": episode.model,
        "status": episode.status, "success": episode.success, "score": episode.score, "grade": episode.grade,
    }
    if include_aoi:
        aoi = {"format": FORMAT, "namespace": episode.namespace, "seed": episode.seed, "meta": episode.meta,
               "tools": episode.tools, "started_at": episode.started_at, "finished_at": episode.finished_at,
               "submission": episode.submission, "submitted_at": episode.submitted_at,
               "graded_at": episode.graded_at, "timings": episode.timings,
               "plans": [p.model_dump(exclude={"id"}) for p in episode.plans],
               "steps": extras, "synthetic": synthetic}
        metadata["aoi"] = json.dumps(aoi, ensure_ascii=False, default=str)
    record: dict[str, Any] = {"messages": messages}
    if episode.tools:
        record["tools"] = [openai_tool(t) for t in episode.tools]
    record["metadata"] = metadata
    return record


def export_jsonl(store: TranscriptStore, out: TextIO, *, episode_ids: Iterable[str] | None = None,
                 problem_id: str | None = None, policy: str | None = None, status: str | None = None,
                 success: bool | None = None, source: str | None = None, arguments_as_object: bool = False,
                 include_aoi: bool = True) -> int:
    """Write the selected episodes (oldest first), one JSON line each, skipping those without steps; returns
    how many were written."""
    if episode_ids is None:
        summaries = store.episodes(problem_id=problem_id, policy=policy, status=status, success=success,
                                   source=source, limit=None)
        episode_ids = [s.id for s in reversed(summaries)]
    n = 0
    for eid in episode_ids:
        record = episode_to_record(store.episode(eid), arguments_as_object=arguments_as_object,
                                   include_aoi=include_aoi)
        if not record["messages"]:  # nothing to learn from, and trainers reject empty conversations
            continue
        out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        n += 1
    return n


# ------------------------------------------------------------------------------------------------ validation
def validate_record(record: Any) -> list[str]:
    """Problems that would make an OpenAI chat endpoint or a trainer reject the record (empty when valid)."""
    problems: list[str] = []
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list) or not record["messages"]:
        return ["the record needs a non-empty 'messages' list"]
    open_calls: dict[str, str] = {}
    for i, m in enumerate(record["messages"]):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("system", "user", "assistant", "tool"):
            problems.append(f"message {i}: role {role!r}")
            continue
        if role != "tool" and open_calls:
            problems.append(f"message {i}: tool calls {sorted(open_calls)} are not answered before it")
            open_calls.clear()
        content = m.get("content")
        if role == "tool":
            cid = m.get("tool_call_id")
            if cid not in open_calls:
                problems.append(f"message {i}: tool message answers no open call ({cid!r})")
            open_calls.pop(cid, None)
            if not isinstance(content, str):
                problems.append(f"message {i}: tool content must be a string")
        elif role == "assistant" and m.get("tool_calls") is not None:
            if content is not None and not isinstance(content, str):
                problems.append(f"message {i}: content must be a string or null")
            for c in m["tool_calls"]:
                fn = c.get("function") if isinstance(c, dict) else None
                if not isinstance(c, dict) or c.get("type") != "function" or not isinstance(c.get("id"), str) \
                        or not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
                    problems.append(f"message {i}: malformed tool call {c!r}"[:200])
                    continue
                args = fn.get("arguments")
                if isinstance(args, str):
                    try:
                        if not isinstance(json.loads(args), dict):
                            problems.append(f"message {i}: arguments of {fn['name']} are not a JSON object")
                    except ValueError:
                        problems.append(f"message {i}: arguments of {fn['name']} are not valid JSON")
                elif not isinstance(args, dict):
                    problems.append(f"message {i}: arguments of {fn['name']} must be a JSON string or object")
                if c["id"] in open_calls:
                    problems.append(f"message {i}: duplicate tool call id {c['id']!r}")
                open_calls[c["id"]] = fn["name"]
        elif not isinstance(content, str):
            problems.append(f"message {i}: content must be a string")
    if open_calls:
        problems.append(f"end: tool calls {sorted(open_calls)} are never answered")
    for t in record.get("tools") or []:
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(t, dict) or t.get("type") != "function" or not isinstance(fn, dict) \
                or not fn.get("name") or not isinstance(fn.get("parameters", {}), dict):
            problems.append(f"tools: malformed {t!r}"[:200])
    return problems


# ------------------------------------------------------------------------------------------------ import
def _arguments(raw: Any) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"_value": value}


def _content(m: dict[str, Any]) -> str:
    content = m.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return json.dumps(content, ensure_ascii=False)


def _exact_episode(record: dict[str, Any], meta: dict[str, Any], aoi: dict[str, Any]) -> Episode:
    messages: list[dict[str, Any]] = record["messages"]
    steps: list[Step] = []
    for idx, x in enumerate(aoi.get("steps") or []):
        m = messages[x["m"]]
        step = Step(idx=idx, ts=x.get("ts", 0.0), role=x["role"], is_error=bool(x.get("is_error")),
                    latency_ms=x.get("latency_ms"), tokens_in=x.get("tokens_in"), tokens_out=x.get("tokens_out"),
                    server=x.get("server"), decision=x.get("decision"), call_id=x.get("call_id"))
        if x["role"] == "tool":
            step.tool = None if x.get("no_tool") else m.get("name")
            step.arguments = x.get("arguments")
            if x.get("no_result"):
                step.text = _content(m)
            else:
                step.result, step.text = _content(m), x.get("text", "")
        elif "call" in x:
            call = m["tool_calls"][x["call"]]
            step.text = _content(m) if x["call"] == 0 else ""
            step.tool = call["function"]["name"]
            step.arguments = None if x.get("no_args") else _arguments(call["function"].get("arguments"))
            if "r" in x:
                step.result = _content(messages[x["r"]])
        else:
            step.text = _content(m)
            step.tool, step.arguments, step.result = x.get("tool"), x.get("arguments"), x.get("result")
        steps.append(step)
    return Episode(
        id=meta["episode_id"], source=meta.get("source") or "jsonl", target=meta.get("target") or "",
        problem_id=meta.get("problem_id"), task=meta.get("task"), namespace=aoi.get("namespace"),
        policy=meta.get("policy") or "external", model=meta.get("model"), seed=aoi.get("seed"),
        status=meta.get("status") or "completed", started_at=aoi.get("started_at") or 0.0,
        finished_at=aoi.get("finished_at"), meta=aoi.get("meta") or {}, tools=aoi.get("tools"), steps=steps,
        plans=[PlanRecord(**p) for p in aoi.get("plans") or []], submission=aoi.get("submission"),
        submitted_at=aoi.get("submitted_at"), grade=meta.get("grade"), graded_at=aoi.get("graded_at"),
        timings=aoi.get("timings"))


def _generic_episode(record: dict[str, Any], line: str) -> Episode:
    """A chat record from elsewhere: one step per message, one per tool call."""
    meta = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
    steps: list[Step] = []
    names: dict[str, str] = {}
    for m in record["messages"]:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
            raise ImportFormatError(f"message with role {m.get('role') if isinstance(m, dict) else m!r}")
        role = m["role"]
        if role == "assistant" and m.get("tool_calls"):
            for k, c in enumerate(m["tool_calls"]):
                fn = c.get("function") or {}
                cid = c.get("id") or f"call_{len(steps)}"
                names[cid] = fn.get("name", "")
                steps.append(Step(idx=len(steps), role="assistant", text=_content(m) if k == 0 else "",
                                  tool=fn.get("name"), call_id=cid, arguments=_arguments(fn.get("arguments"))))
        elif role == "tool":
            cid = m.get("tool_call_id")
            steps.append(Step(idx=len(steps), role="tool", tool=m.get("name") or names.get(cid or ""), call_id=cid,
                              result=_content(m)))
        else:
            steps.append(Step(idx=len(steps), role=role, text=_content(m)))
    grade = meta.get("grade") if isinstance(meta.get("grade"), dict) else None
    digest = hashlib.sha256(line.encode()).hexdigest()
    known = {"episode_id", "source", "target", "problem_id", "task", "policy", "model", "status", "grade"}
    return Episode(
        id=str(meta.get("episode_id") or uuid.uuid5(IMPORT_NAMESPACE, f"jsonl:{digest}")), source="jsonl",
        target=str(meta.get("target") or meta.get("problem_id") or "imported"),
        problem_id=meta.get("problem_id"), task=meta.get("task"), policy=str(meta.get("policy") or "external"),
        model=meta.get("model"), status="completed", started_at=time.time(), steps=steps, grade=grade,
        tools=record.get("tools") if isinstance(record.get("tools"), list) else None,
        meta={"imported_from": "jsonl", **{k: v for k, v in meta.items() if k not in known}})


def record_to_episode(record: Any, line: str = "") -> Episode:
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise ImportFormatError("not a chat record: expected an object with a 'messages' list")
    meta = record.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("aoi"), str) and meta.get("episode_id"):
        try:
            aoi = json.loads(meta["aoi"])
        except ValueError:
            aoi = None
        if isinstance(aoi, dict) and aoi.get("format") == FORMAT:
            try:
                return _exact_episode(record, meta, aoi)
            except (KeyError, IndexError, TypeError, ValueError) as e:
                raise ImportFormatError(f"metadata.aoi does not match the messages ({type(e).__name__}: {e})"
                                        ) from None
    return _generic_episode(record, line or json.dumps(record, sort_keys=True))


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if line.strip():
                yield lineno, line.strip()


def import_jsonl(store: TranscriptStore, path: str | Path, *, replace: bool = False) -> tuple[int, int]:
    """Import chat records; returns (imported, skipped as already present). Raises ImportFormatError naming the
    first bad line (nothing after it is imported; lines before it are)."""
    imported = skipped = 0
    for lineno, line in iter_jsonl(path):
        try:
            record = json.loads(line)
            episode = record_to_episode(record, line)
        except (ValueError, ImportFormatError) as e:
            raise ImportFormatError(f"{path}:{lineno}: {e}") from None
        if store.put_episode(episode, replace=replace):
            imported += 1
        else:
            skipped += 1
    return imported, skipped
