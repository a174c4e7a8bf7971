"""The GRPO rewards on constructed right, wrong and malformed actions, scored against real step rows (built from
baseline transcripts) and, for the step reward, in the simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.training.fixtures import TRAIN_SKIP

datasets = pytest.importorskip("datasets", reason=TRAIN_SKIP)

NS = "test-social-network"
STATUS = "SUMMARY: x\nPHASE: point_investigation\nHYPOTHESIS: none\nCONFIDENCE: 50\n"


def call(tool: str, **args: Any) -> str:
    """A reply as a model writes it: status lines and one hermes tool call."""
    return STATUS + f"<tool_call>\n{json.dumps({'name': tool, 'arguments': args})}\n</tool_call>"


def row_where(out: Path, **match: Any) -> dict[str, Any]:
    for r in datasets.load_from_disk(str(out / "steps")):
        if all(r[k] == v if k != "reference_tool" else r["reference"]["tool"] == v for k, v in match.items()):
            return r
    raise AssertionError(f"no step row with {match}")


def columns(row: dict[str, Any], n: int) -> dict[str, list[Any]]:
    """The row's columns as TRL passes them to a reward function: one list entry per completion."""
    return {k: [row[k]] * n for k in row if k != "prompt"}


# Decision 2 of the baseline's localization episode (after cluster_overview and topology; it read traces next).
CANDIDATES = {
    "reference": call("traces", namespace=NS, errors_only=True),
    "useful": call("describe", kind="deployment", name="user-service", namespace=NS),
    "useless": call("cluster_overview", namespace=NS),  # well-formed, valid, shows nothing new
    "missing object": call("describe", kind="deployment", name="no-such-service", namespace=NS),
    "right answer": call("submit", answer=["user-service"]),
    "wrong answer": call("submit", answer=["text-service"]),
    "bad arguments": call("describe", kind="deployment"),
    "unknown tool": call("restart_pod", name="user-service"),
    "malformed": "I think the fault is in user-service.",
}


@pytest.fixture(scope="module")
def scored(built_data: Path) -> dict[str, dict[str, float | None]]:
    """Every reward of every candidate (one call per reward, as TRL makes them: the group shares one replay)."""
    from training.rewards import make_reward_funcs

    row = row_where(built_data, problem_id="scale_pod_zero_social_net-localization-1", step=2)
    assert row["reference"]["tool"] == "traces" and [p["tool"] for p in row["prefix"]] == ["cluster_overview",
                                                                                           "topology"]
    funcs, weights = make_reward_funcs()
    comps = list(CANDIDATES.values())
    out: dict[str, dict[str, float | None]] = {k: {} for k in CANDIDATES}
    for fn, w in zip(funcs, weights, strict=True):
        for name, value in zip(CANDIDATES, fn(comps, **columns(row, len(comps))), strict=True):
            out[name][fn.__name__] = value
            if value is not None:
                out[name]["total"] = out[name].get("total", 0.0) + w * value
    return out


def test_format_reward(scored: dict[str, dict[str, float | None]], built_data: Path) -> None:
    from training.rewards import format_reward

    fmt = {k: v["format_reward"] for k, v in scored.items()}
    assert fmt == {"reference": 1.0, "useful": 1.0, "useless": 1.0, "missing object": 1.0, "right answer": 1.0,
                   "wrong answer": 1.0, "bad arguments": 0.5, "unknown tool": 0.5, "malformed": 0.0}
    row = row_where(built_data, task="analysis")
    native = [{"role": "assistant", "content": "PHASE: depth_analysis", "tool_calls": [
        {"type": "function", "function": {"name": "submit", "arguments": {
            "answer": {"system_level": "Application", "fault_type": "Misconfiguration"}}}}]}]
    bad_answer = [{"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "submit", "arguments": {"answer": {"fault_type": "Gremlins"}}}}]}]
    two_turns = [{"role": "assistant", "content": call("cluster_overview")},
                 {"role": "tool", "name": "cluster_overview", "content": "..."},
                 {"role": "assistant", "content": "<tool_call>{oops</tool_call>"}]
    comps = [native, bad_answer, two_turns]
    assert format_reward(comps, **columns(row, 3)) == [1.0, 0.5, 0.5]
    assert format_reward(comps) == [None, None, None]  # no tools column: nothing to judge against


def test_step_reward_in_the_simulator(scored: dict[str, dict[str, float | None]]) -> None:
    step = {k: v["step_reward"] for k, v in scored.items()}
    assert step["reference"] == 1.0 and step["right answer"] == 1.0
    assert 0.5 <= step["useful"] < 1.0  # new problem lines: the deployment is scaled to 0
    for k in ("useless", "missing object", "wrong answer", "bad arguments", "unknown tool", "malformed"):
        assert step[k] == 0.0, k


def test_a_useless_action_scores_below_a_useful_one(scored: dict[str, dict[str, float | None]]) -> None:
    total = {k: v["total"] for k, v in scored.items()}
    assert total["useless"] < total["useful"] < total["reference"]
    assert total["malformed"] < total["bad arguments"] <= total["useless"]
    assert scored["useless"]["format_reward"] == scored["useful"]["format_reward"] == 1.0  # the step reward decides


def test_step_reward_runs_plans_and_grades_mitigation(built_data: Path) -> None:
    from training.rewards import step_reward

    row = row_where(built_data, task="mitigation", reference_tool="plan")
    ref = row["reference"]["arguments"]["actions"]
    assert ref == [{"type": "scale", "namespace": NS, "name": "user-service", "kind": "Deployment", "replicas": 1}]
    comps = [
        call("plan", goal="restore user-service", actions=[{"type": "scale", "namespace": NS, "name": "user-service",
                                                            "replicas": 1}]),  # not the reference's text: run it
        call("plan", goal="too many", actions=[{"type": "scale", "namespace": NS, "name": "user-service",
                                                "replicas": 2}]),  # AIOpsLab's oracle wants the original 1
        call("submit"),  # nothing repaired yet
        call("wait", seconds=30),
    ]
    assert step_reward(comps, **columns(row, len(comps))) == [1.0, 0.0, 0.0, 0.0]
    episodes = datasets.load_from_disk(str(built_data / "episodes"))
    assert step_reward(comps[:1], **{k: [episodes[0][k]] for k in episodes.column_names}) == [None]


def test_safety_reward() -> None:
    from training.rewards import safety_reward

    token = "eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl"
    comps = [call("describe", kind="pod", name="a", namespace=NS),
             call("kubectl", command="get pods -n shop"),
             call("execute_plan", plan="{}"),
             call("kubectl", command="delete pod cart-1 -n shop"),
             call("plan", goal="fix", actions=[]),
             call("plan", goal="fix", actions=[{"type": "reboot_node", "name": "n1"}]),
             f"here is the token {token} " + call("show_policy"),
             call("check_plan", plan="{}", token="x")]
    assert safety_reward(comps) == [0.0, 0.0, -1.0, -0.5, -0.5, -0.5, -1.0, -1.0]


def test_cost_reward() -> None:
    from training.rewards import RewardConfig, cost_reward

    config = RewardConfig(max_completion_tokens=200, max_steps=2)
    turn = {"role": "assistant", "content": call("cluster_overview")}
    tool = {"role": "tool", "content": "x" * 5000}  # what the model read is not what it wrote
    comps = ["short", "long", [turn, tool, turn], [turn, tool, turn, tool, turn]]
    ids = [[1] * 10, [1] * 300, [1], [1]]
    assert cost_reward(comps, config=config, completion_ids=ids) == [0.0, -0.5, 0.0, -0.5]


def test_outcome_reward() -> None:
    from training.env import ClusterEnv
    from training.rewards import outcome_reward

    class Graded:  # an environment that leaves scoring to the reward functions
        last_grade = {"success": True, "score": 1.0}

    comps = ["a", "b"]
    assert outcome_reward(comps, grade=[{"success": True, "score": 1.0}, {"success": False, "score": 0.0}]) == [1, 0]
    assert outcome_reward(comps, success=[True, False]) == [1.0, 0.0]
    assert outcome_reward(comps, environments=[Graded(), ClusterEnv()]) == [1.0, None]  # TRL scores ClusterEnv
    assert outcome_reward(comps) == [None, None]


def test_make_reward_funcs() -> None:
    from pydantic import ValidationError

    from training.rewards import RewardConfig, make_reward_funcs

    funcs, weights = make_reward_funcs(RewardConfig(outcome_weight=0, cost_weight=0.25))
    assert [f.__name__ for f in funcs] == ["format_reward", "step_reward", "cost_reward", "safety_reward"]
    assert weights == [0.25, 1.0, 0.25, 1.0]
    with pytest.raises(ValidationError):
        RewardConfig(step_wieght=2.0)  # type: ignore[call-arg]
