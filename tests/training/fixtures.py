"""Helpers of the training tests: small SFT and step-prompt datasets in the shapes ``aoi train data`` writes
(conversational ``messages``/``prompt`` with the Observer's hermes tool calls, the tool schemas as JSON), and one
Observer episode on the simulator driven by the hf policy with an adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TRAIN_SKIP = "the train extra is not installed (torch, transformers, trl, peft): `make install-train`"
NS = "test-social-network"
PROBLEM = "k8s_target_port-misconfig-detection-1"  # held out: the episodes the adapters drive
TRAIN_PROBLEM = "scale_pod_zero_social_net-detection-1"  # an evolving family: what training data comes from

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "cluster_overview", "description": "Start here. The state of the cluster.",
        "parameters": {"type": "object", "properties": {"namespace": {"type": "string"}}}}},
    {"type": "function", "function": {
        "name": "describe", "description": "Describe one object compactly.",
        "parameters": {"type": "object", "required": ["kind", "name"], "properties": {
            "kind": {"type": "string"}, "name": {"type": "string"}, "namespace": {"type": "string"}}}}},
    {"type": "function", "function": {
        "name": "submit", "description": "Submit the answer: \"Yes\" or \"No\".",
        "parameters": {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}}}},
]
SYSTEM = "You are the Observer. Investigate through the tools, one call per reply, then submit."
STATUS = "SUMMARY: {s}\nPHASE: {p}\nHYPOTHESIS: {h}\nCONFIDENCE: {c}"


def call(name: str, args: dict[str, Any], i: int) -> dict[str, Any]:
    return {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": args}}


def conversation(final: bool) -> list[dict[str, Any]]:
    """One step of the Observer, as its hf policy shows it: system, the step header, the last call and result,
    then (for SFT) the decision to learn."""
    msgs: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Step 2 of 10. Task: is there an anomaly in namespace {NS}?\n[1] "
                                    "cluster_overview() -> 1 service without endpoints"},
        {"role": "assistant", "content": STATUS.format(s="scan", p="surface_scan", h="none", c=10),
         "tool_calls": [call("cluster_overview", {"namespace": NS}, 1)]},
        {"role": "tool", "tool_call_id": "call_1", "name": "cluster_overview",
         "content": "service user-service: 0 ready endpoints (targetPort 9999 matches no container port)"},
    ]
    if final:
        msgs.append({"role": "assistant", "content": STATUS.format(s="no endpoints", p="ready_to_submit",
                                                                   h="targetPort", c=90),
                     "tool_calls": [call("submit", {"answer": "Yes"}, 2)]})
    return msgs


def _features(kind: str) -> Any:
    """The column types ``training.data`` writes: messages, schemas and calls as ``datasets.Json``."""
    from datasets import Features, Json, List, Value

    meta = {"episode_id": Value("string"), "problem_id": Value("string"), "task": Value("string"),
            "family": Value("string"), "source": Value("string"), "seed": Value("int64")}
    if kind == "sft":
        return Features({"messages": List(Json()), "tools": List(Json()), "step": Value("int64"), **meta})
    return Features({"prompt": List(Json()), "tools": List(Json()), "reference": Json(), "prefix": List(Json()),
                     "step": Value("int64"), **meta})


META = {"episode_id": "e1", "problem_id": TRAIN_PROBLEM, "task": "detection", "family": "scale_pod_zero_social_net",
        "source": "observer", "seed": 0}


def write_sft(path: Path, n: int = 4) -> Path:
    from datasets import Dataset

    rows = [{"messages": conversation(True), "tools": TOOLS, "step": 1, **META}] * n
    Dataset.from_list(rows, features=_features("sft")).save_to_disk(str(path))
    return path


def write_steps(path: Path, n: int = 4) -> Path:
    """Step prompts of an evolving-family problem; the reference is the verified decision at that step, the
    prefix the decisions before it (what the step reward replays in the simulator)."""
    from datasets import Dataset

    rows = [{"prompt": conversation(False), "tools": TOOLS, "step": 1,
             "reference": {"name": "submit", "arguments": {"answer": "Yes"}, "server": "observer", "tool": "submit"},
             "prefix": [{"server": "probe", "tool": "cluster_overview", "arguments": {"namespace": NS}}],
             **META}] * n
    Dataset.from_list(rows, features=_features("steps")).save_to_disk(str(path))
    return path


def run_episode(model: Path, adapter: Path, workdir: Path) -> tuple[Any, Any, Any]:
    """One Observer episode over in-process MCP on the simulator, driven by the hf policy with ``adapter``:
    (outcome, graded, stored episode). The tiny model may fail the task; the episode must run and be stored."""
    import anyio

    from bench.episode import run_problem
    from bench.sim import SimProblem
    from observer.llm import build_policy
    from transcripts import TranscriptStore

    policy = build_policy("hf", model=str(model), adapter=str(adapter), device="cpu", max_tokens=12)
    store = TranscriptStore(workdir / "t.db")
    sim = SimProblem(PROBLEM, workdir / "sim", seed=0).start()
    try:
        outcome, graded = anyio.run(lambda: run_problem(sim, policy, store, max_steps=2))
    finally:
        sim.stop()
    ep = store.episode(outcome.episode_id)
    store.close()
    return outcome, graded, ep
