"""``aoi train data``: datasets from real baseline transcripts. No held-out family reaches any dataset; step
prompts are exactly what the Observer's chat policy sends; rows load and render with a tool-aware chat template."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.training.conftest import EVOLVING_PROBLEMS, HELD_OUT_PROBLEM
from tests.training.fixtures import TRAIN_SKIP

datasets = pytest.importorskip("datasets", reason=TRAIN_SKIP)


def load(out: Path, name: str) -> list[dict[str, Any]]:
    return datasets.load_from_disk(str(out / name)).to_list()


def all_rows(out: Path) -> dict[str, list[dict[str, Any]]]:
    return {name: load(out, name) for name in ("sft", "steps", "episodes")}


def test_no_held_out_family_reaches_any_dataset(built_data: Path, baseline_store: Path, tmp_path: Path) -> None:
    from bench.problems import ProblemSet
    from bench.split import load_split
    from training.data import build_datasets
    from transcripts import TranscriptStore

    split = load_split()
    held_family = ProblemSet.builtin().get(HELD_OUT_PROBLEM).family
    assert split.is_held_out(held_family)
    rows = all_rows(built_data)
    for name, rs in rows.items():
        assert rs, f"{name} is empty"
        assert {r["problem_id"] for r in rs} <= set(EVOLVING_PROBLEMS), name
        assert all(split.may_learn_from(r["family"]) for r in rs), name
    card = json.loads((built_data / "card.json").read_text())
    assert card["excluded"] == {"held-out fault family": 1}
    assert held_family not in (built_data / "card.md").read_text().split("## Excluded")[0]

    # A split file that also holds out scale_pod_zero: none of its episodes is left anywhere, not even as text.
    custom = tmp_path / "split.yaml"
    custom.write_text("name: custom\nevolving: [auth_miss_mongodb, misconfig_app_hotel_res]\n"
                      f"held_out: [scale_pod_zero_social_net, {held_family}]\n")
    out = tmp_path / "data"
    card2 = build_datasets(baseline_store, out, custom)
    assert card2.split_name == "custom" and card2.excluded == {"held-out fault family": 3}
    with TranscriptStore(baseline_store, create=False, recover=False) as store:
        held = [e.id for e in store.episodes(limit=None)
                if e.problem_id and not e.problem_id.startswith(("auth_miss", "misconfig_app"))]
    assert len(held) == 3
    for name, rs in all_rows(out).items():
        text = json.dumps(rs)
        assert rs and not any(eid in text for eid in held), name
        assert {r["family"] for r in rs} <= {"auth_miss_mongodb", "misconfig_app_hotel_res"}, name
        assert "scale_pod_zero" not in text and held_family not in text, name


def test_rows_carry_the_recorded_decisions(built_data: Path, baseline_store: Path) -> None:
    """Every SFT target parses back, with the Observer's own parser, into the decision the episode made; step
    rows are the SFT rows' contexts with the earlier decisions as their prefix."""
    from observer.llm.prompting import Toolbox, parse_meta, parse_reply, to_decision
    from observer.policy import TaskSpec
    from training.dataset_render import tool_infos
    from transcripts import TranscriptStore

    rows = all_rows(built_data)
    steps = {(r["episode_id"], r["step"]): r for r in rows["steps"]}
    with TranscriptStore(baseline_store, create=False, recover=False) as store:
        recorded = {e.id: [s for s in store.episode(e.id).steps if s.role == "assistant" and s.tool]
                    for e in store.episodes(limit=None)}
    counts = Counter(r["episode_id"] for r in rows["sft"])
    assert len(counts) == len(EVOLVING_PROBLEMS) and counts == {e: len(recorded[e]) for e in counts}
    for r in rows["sft"]:
        *context, reply = r["messages"]
        assert reply["role"] == "assistant" and len(reply["tool_calls"]) == 1
        box = Toolbox(tool_infos(r["tools"]), TaskSpec(task=r["task"], text=""))
        d = to_decision(parse_reply(reply["content"], reply["tool_calls"]), box)
        step = recorded[r["episode_id"]][r["step"]]
        assert (d.as_tool_call()[1], d.as_tool_call()[2]) == (step.tool, step.arguments)
        assert parse_meta(reply["content"]).phase == step.decision["phase"]
        s = steps[(r["episode_id"], r["step"])]
        assert s["prompt"] == context and len(s["prefix"]) == r["step"]
        assert s["reference"]["tool"] == step.tool and s["reference"]["arguments"] == step.arguments
        assert [p["tool"] for p in s["prefix"]] == [x.tool for x in recorded[r["episode_id"]][:r["step"]]]
    for e in rows["episodes"]:
        assert [m["role"] for m in e["prompt"]] == ["system", "user"] and "# Task" in e["prompt"][0]["content"]
        assert {t["function"]["name"] for t in e["tools"]} >= {"cluster_overview", "submit"}


@dataclass
class ScriptedBackend:
    """A stand-in model for ``ChatPolicy`` (template mode, like the hf policy): it answers with fixed replies."""

    replies: list[str]
    name: str = "hf"
    model: str = "scripted"
    tool_mode: str = "template"
    arguments_as_text: bool = False
    sent: list[Any] = field(default_factory=list)

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Any:
        from observer.llm.chat import Completion

        self.sent.append(tools)
        return Completion(content=self.replies.pop(0))

    def count_tokens(self, text: str) -> int:
        from observer.llm.prompting import approx_tokens

        return approx_tokens(text)


GUIDANCE = """\
version: 1
lessons:
  - id: scaled-down.describe
    when:
      - symptom: a workload with no replicas
        pattern: "0/0|scaled to 0|replicas: 0|0 replicas"
    advice: "When the probe shows a workload with no replicas: describe that deployment."
    support: [c0ffee00-0000-4000-8000-000000000001]
    helped: 1
"""


@pytest.mark.parametrize("guided", [False, True], ids=["plain", "with-guidance"])
def test_step_prompts_are_what_the_chat_policy_sent(tmp_path: Path, guided: bool) -> None:
    """An episode driven by the Observer's ChatPolicy: the dataset's prompt at each decision equals the messages
    the policy sent there (the guidance lessons it was shown included), and ``tools`` the schemas it passed to the
    template."""
    import anyio

    from bench.episode import run_problem
    from bench.sim import SimProblem
    from observer.llm.chat import ChatConfig, ChatPolicy
    from training.data import build_datasets
    from training.sim_session import EPOCH
    from transcripts import TranscriptStore

    ns = "test-social-network"
    status = "SUMMARY: {}\nPHASE: {}\nHYPOTHESIS: {}\nCONFIDENCE: {}\n"

    def call(tool: str, **args: Any) -> str:
        return f"<tool_call>{json.dumps({'name': tool, 'arguments': args})}</tool_call>"

    backend = ScriptedBackend([
        status.format("nothing yet", "surface_scan", "none", 0) + call("cluster_overview", namespace=ns),
        status.format("user-service scaled to 0", "point_investigation", "user-service has no replicas", 70)
        + call("describe", kind="deployment", name="user-service", namespace=ns),
        status.format("0 replicas desired", "ready_to_submit", "user-service has no replicas", 90)
        + call("submit", answer=["user-service"])])
    config = ChatConfig()
    if guided:
        (tmp_path / "guidance.yaml").write_text(GUIDANCE)
        config = ChatConfig(guidance=tmp_path / "guidance.yaml")
    policy = ChatPolicy(backend, config)
    with TranscriptStore(tmp_path / "t.db") as store, \
            SimProblem(EVOLVING_PROBLEMS[0], tmp_path / "sim", seed=0, epoch=EPOCH) as sim:
        _, graded = anyio.run(run_problem, sim, policy, store)
    assert graded["success"]
    build_datasets(tmp_path / "t.db", tmp_path / "data")
    steps = sorted(load(tmp_path / "data", "steps"), key=lambda r: r["step"])
    assert [r["step"] for r in steps] == [0, 1, 2]
    for r, log, tools in zip(steps, policy.log, backend.sent, strict=True):
        assert r["prompt"] == log.messages
        assert r["tools"] == tools
    shown = ["Guidance from verified past repairs" in r["prompt"][1]["content"] for r in steps]
    assert shown == ([False, True, True] if guided else [False, False, False])
    sft = sorted(load(tmp_path / "data", "sft"), key=lambda r: r["step"])
    assert sft[1]["messages"][-1]["content"] == status.format(
        "user-service scaled to 0", "point_investigation", "user-service has no replicas", 70).strip()


def test_sources_and_exclusions(baseline_store: Path, tmp_path: Path) -> None:
    """Evolver corrections count as their own source; a graded call-log session feeds SFT only; failed, ungraded
    and problem-less episodes are left out with their reason."""
    import shutil

    from training.data import build_datasets
    from transcripts import TranscriptStore
    from transcripts.models import Episode

    db = tmp_path / "t.db"
    shutil.copy(baseline_store, db)
    with TranscriptStore(db) as store:
        base = store.episode(next(s.id for s in store.episodes(limit=None)
                                  if s.problem_id == "auth_miss_mongodb-detection-1"))

        def variant(suffix: str, **changes: Any) -> Episode:
            return base.model_copy(update={"id": f"{base.id[:30]}{suffix}", **changes})

        store.put_episode(variant("-evo", meta={**base.meta, "evolver": {"parent": base.id, "lesson": "x"}}))
        store.put_episode(variant("-bad", grade={"success": False, "score": 0.0}))
        calls = [s for s in base.steps if s.role == "assistant"]
        store.put_episode(variant("-log", source="calllog", policy="external", tools=None, steps=calls))
        store.put_episode(variant("-log2", source="calllog", policy="external", tools=None, steps=calls, grade=None))
        store.put_episode(variant("-nop", problem_id=None))
    card = build_datasets(db, tmp_path / "data", balance=False)
    rows = all_rows(tmp_path / "data")
    by_source = {name: {r["source"] for r in rs if r["problem_id"] == base.problem_id}
                 for name, rs in rows.items() if name != "episodes"}
    assert by_source == {"sft": {"observer", "evolver", "calllog"}, "steps": {"observer", "evolver"}}
    assert card.sft.by_source["calllog"] == card.sft.by_source["evolver"] == len(calls)
    assert card.excluded == {"held-out fault family": 1, "graded as failed": 1, "not graded": 1,
                             "no problem id, so no fault family": 1}
    assert sum(1 for r in rows["episodes"] if r["problem_id"] == base.problem_id) == 1


def test_balance_and_the_cli(built_data: Path, baseline_store: Path, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from training.data import data_command

    card = json.loads((built_data / "card.json").read_text())
    unique = card["steps_before_balance"]
    assert len(set(unique.values())) > 1  # the task types differ in length: balancing has work to do
    assert set(card["steps"]["by_task"].values()) == {max(unique.values())}
    app = typer.Typer()
    app.command()(data_command)
    runner = CliRunner()
    r = runner.invoke(app, ["--transcripts", str(baseline_store), "--out", str(tmp_path / "d"), "--no-balance"])
    assert r.exit_code == 0, r.output
    assert "steps" in r.output and (tmp_path / "d" / "card.md").is_file()
    card2 = json.loads((tmp_path / "d" / "card.json").read_text())
    assert card2["steps"]["by_task"] == unique and card2["balance"] is False
    r = runner.invoke(app, ["--transcripts", str(tmp_path / "missing.db"), "--out", str(tmp_path / "e")])
    assert r.exit_code == 2 and "no transcript store" in r.output and not (tmp_path / "e").exists()


def test_rows_load_and_render_with_a_tool_chat_template(built_data: Path) -> None:
    pytest.importorskip("transformers", reason=TRAIN_SKIP)
    from training.tiny import build_tokenizer

    sft = datasets.load_from_disk(str(built_data / "sft"))
    steps = datasets.load_from_disk(str(built_data / "steps"))
    assert type(sft.features["messages"]).__name__ == "Json"  # exact dicts: no Arrow null-filling
    rendered = steps.map(lambda r: {"prompt": "<|im_start|>rendered"})  # as GRPO's step mode renders prompts
    assert rendered[0]["prompt"] == "<|im_start|>rendered" and rendered[0]["tools"] == steps[0]["tools"]
    tok = build_tokenizer([sft[0]["messages"][-1]["content"]], vocab=300)
    for row in (sft[0], sft[len(sft) - 1]):
        text = tok.apply_chat_template(row["messages"], tools=row["tools"], tokenize=False)
        call = row["messages"][-1]["tool_calls"][0]["function"]
        assert f'<tool_call>\n{{"name": "{call["name"]}", "arguments": {json.dumps(call["arguments"])}}}' in text
        assert '"name": "cluster_overview"' in text.split("</tools>")[0]  # the schemas went in with the prompt
        props = {t["function"]["name"]: set(t["function"]["parameters"]["properties"]) for t in row["tools"]}
        assert props["cluster_overview"] == {"namespace", "budget"}  # nothing merged in from other schemas
    prompt = tok.apply_chat_template(steps[0]["prompt"], tools=steps[0]["tools"], tokenize=False,
                                     add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")
