from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.transcripts.conftest import TOKEN, full_episode
from transcripts import TranscriptStore
from transcripts.export import (
    NO_RESULT,
    ImportFormatError,
    episode_to_record,
    export_jsonl,
    import_jsonl,
    validate_record,
)
from transcripts.models import Episode


def _comparable(ep: Episode) -> dict:
    data = ep.model_dump()
    for s in data["steps"]:
        s.pop("id")
    for p in data["plans"]:
        p.pop("id")
    return data


def test_openai_format(store: TranscriptStore) -> None:
    record = episode_to_record(store.episode(full_episode(store)))
    assert validate_record(record) == []
    msgs = record["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "assistant", "tool", "tool",
                                         "assistant"]
    first_call = msgs[2]["tool_calls"][0]
    assert msgs[2]["content"] == "Look at the pods first."
    assert first_call["type"] == "function" and first_call["function"]["name"] == "get_pods"
    assert json.loads(first_call["function"]["arguments"]) == {"namespace": "hotel-reservation"}
    assert msgs[3] == {"role": "tool", "tool_call_id": first_call["id"], "name": "get_pods",
                       "content": "geo-1 CrashLoopBackOff\nfrontend-1 Running"}
    # two calls in one turn (parallel tool calls), answered out of order by id
    assert [c["id"] for c in msgs[4]["tool_calls"]] == ["c-a", "c-b"]
    assert [(m["tool_call_id"], m["content"]) for m in msgs[5:7]] == [("c-b", "(no pods)"),
                                                                      ("c-a", "connection refused")]
    assert record["tools"][0] == {"type": "function", "function": {
        "name": "get_pods", "description": "List pods",
        "parameters": {"type": "object", "properties": {"namespace": {"type": "string"}}}}}
    meta = record["metadata"]
    assert meta["episode_id"] and meta["policy"] == "baseline" and meta["success"] is True
    assert meta["grade"]["score"] == 1.0 and isinstance(meta["aoi"], str)
    json.dumps(record)  # plain JSON


def test_arguments_as_object_for_hf_chat_templates(store: TranscriptStore) -> None:
    record = episode_to_record(store.episode(full_episode(store)), arguments_as_object=True)
    assert record["messages"][2]["tool_calls"][0]["function"]["arguments"] == {"namespace": "hotel-reservation"}
    assert validate_record(record) == []


def test_round_trip_is_exact(store: TranscriptStore, tmp_path: Path) -> None:
    ids = [full_episode(store), full_episode(store)]
    extra = store.start_episode(target="ns", policy="openai")
    store.add_step(extra, role="assistant", tool="get_events", arguments={"ns": "x"})  # never answered
    store.add_step(extra, role="tool", text="stray note without a call")  # an answer without a call
    store.finish(extra, "interrupted")
    out = tmp_path / "out.jsonl"
    with open(out, "w") as f:
        assert export_jsonl(store, f) == 3
    for line in out.read_text().splitlines():
        assert validate_record(json.loads(line)) == []
    with TranscriptStore(tmp_path / "copy.db") as copy:
        assert import_jsonl(copy, out) == (3, 0)
        assert import_jsonl(copy, out) == (0, 3)  # idempotent
        for eid in [*ids, extra]:
            assert _comparable(copy.episode(eid)) == _comparable(store.episode(eid))
        again = io.StringIO()
        export_jsonl(copy, again)
        assert again.getvalue() == out.read_text()  # export -> import -> export is a fixed point


def test_placeholder_answers_are_synthetic(store: TranscriptStore) -> None:
    eid = store.start_episode(target="ns", policy="p")
    store.add_step(eid, role="assistant", tool="get_pods", arguments={})
    store.add_step(eid, role="user", text="hurry")
    record = episode_to_record(store.episode(eid))
    assert record["messages"][1] == {"role": "tool", "tool_call_id": "call_0", "name": "get_pods",
                                     "content": NO_RESULT}
    assert validate_record(record) == []
    assert json.loads(record["metadata"]["aoi"])["synthetic"] == [1]


def test_validate_record_finds_problems() -> None:
    assert validate_record({"messages": []})
    bad = {"messages": [{"role": "user", "content": "x"},
                        {"role": "assistant", "content": None,
                         "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{"}}]},
                        {"role": "user", "content": "y"},
                        {"role": "tool", "tool_call_id": "9", "content": "z"}]}
    problems = validate_record(bad)
    assert any("not valid JSON" in p for p in problems)
    assert any("not answered" in p for p in problems)
    assert any("answers no open call" in p for p in problems)


def test_import_foreign_chat_records(store: TranscriptStore, tmp_path: Path) -> None:
    """Records written by another tool (no metadata.aoi) become episodes message by message."""
    record = {"messages": [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "hello"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "x1", "type": "function", "function": {"name": "get_pods", "arguments": '{"n": 1}'}},
            {"id": "x2", "type": "function", "function": {"name": "get_logs", "arguments": {"pod": "a"}}}]},
        {"role": "tool", "tool_call_id": "x1", "content": "pods"},
        {"role": "tool", "tool_call_id": "x2", "content": f"logs {TOKEN}"},
        {"role": "assistant", "content": "done"}],
        "metadata": {"problem_id": "p9", "policy": "claude", "grade": {"success": False}, "run": 4}}
    path = tmp_path / "foreign.jsonl"
    path.write_text(json.dumps(record) + "\n\n")
    assert import_jsonl(store, path) == (1, 0)
    assert import_jsonl(store, path) == (0, 1)
    (summary,) = store.episodes()
    ep = store.episode(summary.id)
    assert ep.source == "jsonl" and ep.policy == "claude" and ep.problem_id == "p9" and ep.success is False
    assert ep.meta["run"] == 4
    assert [(s.role, s.tool, s.call_id) for s in ep.steps] == [
        ("system", None, None), ("user", None, None), ("assistant", "get_pods", "x1"),
        ("assistant", "get_logs", "x2"), ("tool", "get_pods", "x1"), ("tool", "get_logs", "x2"),
        ("assistant", None, None)]
    assert ep.steps[1].text == "hello" and ep.steps[3].arguments == {"pod": "a"}
    assert TOKEN not in (ep.steps[5].result or "")  # the guard holds on import too
    out = episode_to_record(ep)
    assert validate_record(out) == []
    assert [m["role"] for m in out["messages"]] == [m["role"] for m in record["messages"]]


def test_import_rejects_junk_with_line_number(store: TranscriptStore, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "ok"}]}\n{"nope": 1}\n')
    with pytest.raises(ImportFormatError, match=r"bad.jsonl:2"):
        import_jsonl(store, path)
    path.write_text("not json\n")
    with pytest.raises(ImportFormatError, match=r":1"):
        import_jsonl(store, path)


step_strategy = st.fixed_dictionaries({
    "role": st.sampled_from(["system", "user", "assistant", "tool"]),
    "text": st.text(max_size=20),
    "tool": st.one_of(st.none(), st.sampled_from(["get_pods", "get_logs", "query_metrics"])),
    "arguments": st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5),
                                                      max_size=3)),
    "result": st.one_of(st.none(), st.text(max_size=20)),
    "is_error": st.booleans(),
    "latency_ms": st.one_of(st.none(), st.floats(0, 1e4)),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step_strategy, min_size=1, max_size=12))
def test_round_trip_property(tmp_path_factory: pytest.TempPathFactory, steps: list[dict]) -> None:
    """Any sequence of steps exports to a valid record and imports back to the same episode."""
    d = tmp_path_factory.mktemp("prop")
    with TranscriptStore(d / "a.db") as a, TranscriptStore(d / "b.db") as b:
        eid = a.start_episode(target="t", policy="p")
        for s in steps:
            a.add_step(eid, **s)
        a.finish(eid)
        record = episode_to_record(a.episode(eid))
        assert validate_record(record) == []
        path = d / "x.jsonl"
        path.write_text(json.dumps(record) + "\n")
        import_jsonl(b, path)
        assert _comparable(b.episode(eid)) == _comparable(a.episode(eid))
