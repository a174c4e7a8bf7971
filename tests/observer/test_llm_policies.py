"""The model-backed policies: the tool-call parser, the ``openai`` policy against a local OpenAI-compatible server
that replays scripted replies (a test double of the model only), one full episode over real MCP against the
simulator driven by it, the ``hf`` policy with a tiny random Qwen2 built offline, and the ``vllm`` policy's
import guard."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from observer.llm import ModelError, UnreadableReplies, build_policy
from observer.llm.chat import ChatConfig
from observer.llm.openai_policy import OpenAIPolicy, normalize_base_url
from observer.llm.prompting import (
    ParseError,
    Toolbox,
    loads_lenient,
    norm_confidence,
    norm_phase,
    parse_meta,
    parse_reply,
    to_decision,
)
from observer.policy import Decision, Observation, TaskSpec, ToolInfo, ToolResult, observer_tools
from tests.observer.fake_openai import FakeOpenAI, error, raw, refuses_tools, text, tool_call

NS = "test-social-network"
OPT_STR = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
PROBE_TOOLS = [
    ToolInfo(server="probe", name="cluster_overview", description="Start here. The state of the cluster.",
             input_schema={"type": "object", "properties": {
                 "namespace": OPT_STR, "budget": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}}}),
    ToolInfo(server="probe", name="describe", description="Describe one object compactly.",
             input_schema={"type": "object", "required": ["kind", "name"], "properties": {
                 "kind": {"type": "string"}, "name": {"type": "string"}, "namespace": OPT_STR}}),
    ToolInfo(server="probe", name="logs", description="Logs of a pod or workload.",
             input_schema={"type": "object", "required": ["namespace"], "properties": {
                 "namespace": {"type": "string"}, "workload": OPT_STR, "tail": {"type": "integer", "default": 200},
                 "errors_only": {"type": "boolean", "default": False}}}),
    ToolInfo(server="executor", name="show_policy", description="The executor's policy.",
             input_schema={"type": "object", "properties": {}}),
]


def task(kind: str = "detection") -> TaskSpec:
    return TaskSpec.for_namespace(kind, NS)  # type: ignore[arg-type]


def tools(kind: str = "detection") -> list[ToolInfo]:
    return PROBE_TOOLS + observer_tools(kind)  # type: ignore[arg-type]


def first(kind: str = "detection") -> Observation:
    return Observation(step=0, max_steps=10, task=task(kind))


def after(prev: Decision, result_text: str, step: int = 1, kind: str = "detection", **kw: Any) -> Observation:
    s, t, a = prev.as_tool_call()
    return Observation(step=step, max_steps=10, task=task(kind), last_decision=prev,
                       last=ToolResult(server=s, tool=t, arguments=a, text=result_text), last_text=result_text,
                       memory=[f"[{step}] {prev.label()}() -> {result_text.splitlines()[0]}"], **kw)


def policy(srv: FakeOpenAI, kind: str = "detection", **kw: Any) -> OpenAIPolicy:
    kw.setdefault("backoff_s", 0.0)
    p = OpenAIPolicy(srv.base_url, "fake-model", config=kw.pop("config", None), **kw)
    p.start(task(kind), tools(kind))
    return p


STATUS = "SUMMARY: nothing yet\nPHASE: surface_scan\nHYPOTHESIS: none\nCONFIDENCE: 5"


# ------------------------------------------------------------------------------------------------ parsing


def parse(content: str, kind: str = "detection") -> Decision:
    return to_decision(parse_reply(content), Toolbox(tools(kind), task(kind)))


@pytest.mark.parametrize("content", [
    '<tool_call>{"name": "describe", "arguments": {"kind": "service", "name": "user-service", '
    '"namespace": "test-social-network"}}</tool_call>',
    # no closing tag, text around it
    'I will look at the service.\n<tool_call>\n{"name": "describe", "arguments": {"kind": "service", '
    '"name": "user-service", "namespace": "test-social-network"}}',
    # a fenced block inside the tags, single quotes, a trailing comma
    "<tool_call>```json\n{'name': 'describe', 'arguments': {'kind': 'service', 'name': 'user-service', "
    "'namespace': 'test-social-network',},}\n```</tool_call>",
    # a json fence without tags, and a missing closing brace
    'Next:\n```json\n{"name": "describe", "arguments": {"kind": "service", "name": "user-service", '
    '"namespace": "test-social-network"}\n```',
    # bare JSON with trailing prose
    '{"name": "probe.describe", "arguments": {"kind": "service", "name": "user-service", '
    '"namespace": "test-social-network"}} and then I will check the logs',
    # the observer's decision object
    '{"phase": "point_investigation", "hypothesis": "targetPort", "confidence": 40, "call": {"server": "probe", '
    '"tool": "describe", "arguments": {"kind": "service", "name": "user-service", "namespace": '
    '"test-social-network"}}}',
    # "parameters" instead of "arguments", arguments as a JSON string, True/None literals
    '<tool_call>{"name": "describe", "parameters": "{\\"kind\\": \\"service\\", \\"name\\": \\"user-service\\", '
    '\\"namespace\\": \\"test-social-network\\"}"}</tool_call>',
    # a Qwen3 thought before the call (with a decoy call inside it)
    '<think>maybe <tool_call>{"name": "logs", "arguments": {}}</tool_call></think>\n<tool_call>{"name": '
    '"describe", "arguments": {"kind": "service", "name": "user-service", "namespace": "test-social-network"}}'
    "</tool_call>",
])
def test_text_protocol_variants_parse_to_one_call(content: str) -> None:
    d = parse(content)
    assert d.call is not None and d.call.server == "probe" and d.call.tool == "describe"
    assert d.call.arguments == {"kind": "service", "name": "user-service", "namespace": NS}


@pytest.mark.parametrize(("kind", "content", "answer"), [
    ("detection", 'Anomalies are clear.\nsubmit("Yes")', "Yes"),
    ("detection", "<tool_call>submit(answer='no')</tool_call>", "No"),
    ("detection", '<tool_call>{"name": "submit", "arguments": {"answer": true}}</tool_call>', "Yes"),
    ("detection", '{"phase": "ready_to_submit", "submit": {"answer": "Yes"}}', "Yes"),
    ("localization", 'submit(["user-service"])', ["user-service"]),
    ("localization", '<tool_call>{"name": "submit", "arguments": {"answer": "user-service"}}</tool_call>',
     ["user-service"]),
    ("analysis", 'submit(system_level="application", fault_type="misconfiguration")',
     {"system_level": "Application", "fault_type": "Misconfiguration"}),
    ("analysis", 'submit({"system_level": "Virtualization", "fault_type": "Network/Storage Issue"})',
     {"system_level": "Virtualization", "fault_type": "Network/Storage Issue"}),
    ("mitigation", "All pods are ready again. submit()", None),
])
def test_submissions(kind: str, content: str, answer: Any) -> None:
    d = parse(content, kind)
    assert d.submit is not None and d.submit.task == kind and d.submit.answer == answer
    assert d.phase == "ready_to_submit"


def test_plan_and_wait_for_mitigation() -> None:
    d = parse('<tool_call>{"name": "plan", "arguments": {"goal": "scale user-service back", "actions": '
              '{"type": "scale", "namespace": "test-social-network", "name": "user-service", "replicas": 1}}}'
              "</tool_call>", "mitigation")
    assert d.plan is not None and d.plan.actions[0]["replicas"] == 1 and d.phase == "ready_to_fix"
    d = parse('<tool_call>{"name": "wait", "arguments": {"seconds": "30s"}}</tool_call>', "mitigation")
    assert d.wait == 30.0


def test_status_lines_become_the_decision_fields() -> None:
    d = parse("SUMMARY: user-service has no ready endpoints\n**Phase**: depth analysis\nHYPOTHESIS: the Service "
              "targets the wrong port; CONFIDENCE: 0.7\n"
              '<tool_call>{"name": "cluster_overview", "arguments": {}}</tool_call>')
    assert (d.phase, d.confidence) == ("depth_analysis", 70)
    assert d.hypothesis == "the Service targets the wrong port"
    assert d.summary == "user-service has no ready endpoints"
    assert "<tool_call>" not in d.message and "HYPOTHESIS" in d.message
    assert norm_phase("verify") == "verification" and norm_phase("nonsense") is None
    assert (norm_confidence("85%"), norm_confidence(0.25), norm_confidence(140)) == (85, 25, 100)
    assert parse_meta("no status here") == parse_meta("")


@pytest.mark.parametrize(("content", "expect"), [
    ("I think the cluster is fine.", "contained no tool call"),
    ("", "was empty"),
    ('<tool_call>{"name": "describe", "arguments": {"kind": "service" "name": </tool_call>', "could not be read"),
    ('<tool_call>{"arguments": {}}</tool_call>', 'no tool "name"'),
    ('<tool_call>{"name": "restart_everything", "arguments": {}}</tool_call>', "There is no tool named"),
    ('<tool_call>{"name": "describe", "arguments": {"kind": "service"}}</tool_call>',
     "missing required argument: name"),
    ('<tool_call>{"name": "describe", "arguments": {"kind": "svc", "name": "x", "nmespace": "y"}}</tool_call>',
     "unknown argument 'nmespace'"),
    ('<tool_call>{"name": "logs", "arguments": {"namespace": "x", "tail": "lots"}}</tool_call>',
     "argument 'tail' should be int"),
    ('submit("maybe")', 'detection answer is "Yes" or "No"'),
    ('submit(__import__("os").system("true"))', "could not be read"),
])
def test_malformed_output_is_a_parse_error_for_the_model(content: str, expect: str) -> None:
    with pytest.raises(ParseError) as e:
        parse(content)
    assert expect in str(e.value)


def test_lenient_json_and_coercion() -> None:
    assert loads_lenient("{'a': [1, 2,], 'b': None, 'c': true}") == {"a": [1, 2], "b": None, "c": True}
    assert loads_lenient('{"a": {"b": [1') == {"a": {"b": [1]}}
    with pytest.raises(ValueError):
        loads_lenient("{not json at all")
    d = parse('<tool_call>{"name": "logs", "arguments": {"namespace": "x", "tail": "50", "errors_only": '
              '"true"}}</tool_call>')
    assert d.call is not None and d.call.arguments == {"namespace": "x", "tail": 50, "errors_only": True}


def test_toolbox_names_and_collisions() -> None:
    dup = [*tools(), ToolInfo(server="executor", name="describe", input_schema={"type": "object"})]
    box = Toolbox(dup, task())
    assert "probe__describe" in box.names() and "executor__describe" in box.names()
    assert box.resolve("probe.describe")[1].server == "probe"  # type: ignore[index]
    assert box.resolve("describe", "executor")[1].server == "executor"  # type: ignore[index]
    assert box.resolve("functions.CLUSTER_OVERVIEW")[0] == "cluster_overview"  # type: ignore[index]
    names = [t["function"]["name"] for t in box.openai_tools()]
    assert names == box.names() and "submit" in names
    # a caller that passes only the servers' tools still gets submit (and plan/wait for mitigation)
    assert "plan" not in Toolbox(PROBE_TOOLS, task()).names()
    assert {"plan", "wait", "submit"} <= set(Toolbox(PROBE_TOOLS, task("mitigation")).names())


# ------------------------------------------------------------------------------------------------ openai policy


def test_native_tool_calls_and_the_last_step_in_full() -> None:
    with FakeOpenAI([
        tool_call("cluster_overview", {"namespace": NS}, STATUS, prompt_tokens=900, completion_tokens=40),
        tool_call("describe", {"kind": "service", "name": "user-service", "namespace": NS},
                  "SUMMARY: user-service has 0 ready endpoints\nPHASE: point_investigation\nHYPOTHESIS: the "
                  "Service's targetPort is wrong\nCONFIDENCE: 60"),
        tool_call("submit", {"answer": "yes"}, "PHASE: ready_to_submit\nCONFIDENCE: 90"),
    ]) as srv:
        p = policy(srv)
        d1 = p.decide(first())
        assert d1.call is not None and (d1.call.server, d1.call.tool) == ("probe", "cluster_overview")
        assert d1.call.arguments == {"namespace": NS} and d1.phase == "surface_scan"
        assert (d1.tokens_in, d1.tokens_out) == (900, 40)
        req = srv.requests[0]
        assert req["model"] == "fake-model" and req["tool_choice"] == "auto"
        assert {t["function"]["name"] for t in req["tools"]} >= {"cluster_overview", "describe", "submit"}
        assert "untrusted" in req["messages"][0]["content"]

        overview = "pods not ready: 0\nservice user-service: 0 ready endpoints (targetPort 9999 matches no port)"
        d2 = p.decide(after(d1, overview))
        assert d2.call is not None and d2.call.tool == "describe"
        assert (d2.phase, d2.confidence) == ("point_investigation", 60)
        msgs = srv.requests[1]["messages"]
        assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool"]
        assert msgs[2]["tool_calls"][0]["function"] == {"name": "cluster_overview",
                                                        "arguments": json.dumps({"namespace": NS})}
        assert msgs[3]["tool_call_id"] == msgs[2]["tool_calls"][0]["id"] and "targetPort 9999" in msgs[3]["content"]

        d3 = p.decide(after(d2, "targetPort 9999 does not match containerPort 9090", step=2))
        assert d3.submit is not None and d3.submit.answer == "Yes"
        assert d3.hypothesis == "the Service's targetPort is wrong"  # carried over: the model left it out
        assert p.usage.prompt_tokens == 900 + 120 + 120


def test_hermes_text_replies_from_a_server_without_a_tool_parser() -> None:
    with FakeOpenAI([
        text(f'{STATUS}\n<tool_call>\n{{"name": "logs", "arguments": {{"namespace": "{NS}", '
             '"workload": "deployment/user-service", "errors_only": true}}\n</tool_call>'),
    ]) as srv:
        d = policy(srv).decide(first())
    assert d.call is not None and d.call.tool == "logs"
    assert d.call.arguments == {"namespace": NS, "workload": "deployment/user-service", "errors_only": True}


@pytest.mark.parametrize(("bad", "expect"), [
    (text("The cluster looks fine to me."), "contained no tool call"),
    (tool_call("describe", '{"kind": "service", "name": '), "not a valid JSON object"),
    (tool_call("kubectl_delete", {"name": "x"}), "There is no tool named 'kubectl_delete'"),
    (tool_call("describe", {"kind": "service"}), "missing required argument: name"),
    (text("<tool_call>{'name': 'describe', 'arguments': {'kind': 'service', 'name': 'x'} <<<"), "could not be read"),
])
def test_malformed_replies_are_fed_back_and_retried(bad: Any, expect: str) -> None:
    with FakeOpenAI([bad, tool_call("cluster_overview", {}, STATUS)]) as srv:
        d = policy(srv).decide(first())
        assert d.call is not None and d.call.tool == "cluster_overview"
        assert len(srv.requests) == 2
        retry = srv.requests[1]["messages"]
        assert expect in retry[-1]["content"] and "Attempt 1 of 3" in retry[-1]["content"]
        if retry[-1]["role"] == "tool":  # a bad native call is answered by a tool message, as the API requires
            assert retry[-2]["tool_calls"][0]["id"] == retry[-1]["tool_call_id"]


def test_unreadable_replies_stop_after_the_retries() -> None:
    with FakeOpenAI([text("garbage"), text("{{{"), text("more garbage"), text("never asked")]) as srv:
        p = policy(srv)
        with pytest.raises(UnreadableReplies, match="no usable reply in 3 attempts"):
            p.decide(first())
        assert len(srv.requests) == 3 and len(p.log[-1].errors) == 3


def test_server_errors_are_retried_with_backoff() -> None:
    with FakeOpenAI([error(500, "CUDA out of memory"), error(503, "loading", **{"Retry-After": "0"}),
                     tool_call("cluster_overview", {}, STATUS)]) as srv:
        p = policy(srv, backoff_s=0.01)
        slept: list[float] = []
        p.backend.sleep = slept.append  # type: ignore[attr-defined]
        d = p.decide(first())
    assert d.call is not None and len(srv.requests) == 3 and slept == [0.01, 0.02]


@pytest.mark.parametrize(("replies", "expect"), [
    ([raw("<html>Bad Gateway</html>", 200, "text/html")] * 3, "returned junk (not JSON)"),
    ([raw(json.dumps({"choices": []}))] * 3, "returned junk (no choices)"),
    ([raw(json.dumps({"object": "list"}))] * 3, "returned junk (no choices)"),
    ([error(500, "engine dead")] * 3, "answered HTTP 500: engine dead"),
    ([error(400, "This model's maximum context length is 8192 tokens")], "maximum context length"),
    ([error(404, "The model `fake-model` does not exist.")], "check the base URL"),
])
def test_junk_and_errors_become_clear_model_errors(replies: list[Any], expect: str) -> None:
    with FakeOpenAI(replies) as srv:
        p = policy(srv)
        with pytest.raises(ModelError, match=expect.replace("(", r"\(").replace(")", r"\)")):
            p.decide(first())


def test_endpoint_down_says_how_to_start_it() -> None:
    with socket.socket() as s:  # a free port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = OpenAIPolicy(f"http://127.0.0.1:{port}", "m", retries=2, backoff_s=0.0)
    p.start(task(), tools())
    with pytest.raises(ModelError) as e:
        p.decide(first())
    msg = str(e.value)
    assert f"cannot reach the model at http://127.0.0.1:{port}/v1" in msg and "is `vllm serve` running?" in msg
    assert "gave up after 2 attempts" in msg


def test_a_server_that_refuses_tools_gets_the_text_protocol() -> None:
    hermes = text(f'{STATUS}\n<tool_call>{{"name": "cluster_overview", "arguments": {{}}}}</tool_call>')
    with FakeOpenAI([refuses_tools(hermes), refuses_tools(hermes), refuses_tools(hermes)]) as srv:
        p = policy(srv)
        d = p.decide(first())
        assert d.call is not None and p.backend.tool_mode == "text"
        assert "tools" in srv.requests[0] and "tools" not in srv.requests[1]
        system = srv.requests[1]["messages"][0]["content"]
        assert "- describe(kind: str, name: str, namespace: str?)" in system and "<tool_call>" in system
        d2 = p.decide(after(d, "all good"))  # the next step stays on text: the last call is shown as text too
        assert d2.call is not None and "tools" not in srv.requests[2]
        assert srv.requests[2]["messages"][2]["content"].endswith(
            '<tool_call>{"name": "cluster_overview", "arguments": {}}</tool_call>')
        assert srv.requests[2]["messages"][3]["content"].startswith("<tool_response>\nall good")
    with FakeOpenAI([refuses_tools(hermes)]) as srv:
        p = policy(srv, tool_mode="native")
        with pytest.raises(ModelError, match="--enable-auto-tool-choice --tool-call-parser hermes"):
            p.decide(first())


def test_api_key_model_discovery_and_base_url() -> None:
    with FakeOpenAI([tool_call("cluster_overview", {}, STATUS)], api_key="s3cret") as srv:
        base = srv.base_url.removesuffix("/v1")
        p = OpenAIPolicy(base, None, "s3cret", backoff_s=0.0)  # no /v1, no model: both found
        p.start(task(), tools())
        assert p.decide(first()).call is not None
        assert srv.headers[0]["Authorization"] == "Bearer s3cret"
        assert srv.requests[0]["model"] == "fake-qwen2.5-7b-instruct"
        wrong = OpenAIPolicy(srv.base_url, "m", "wrong", backoff_s=0.0)
        wrong.start(task(), tools())
        with pytest.raises(ModelError, match="set the API key"):
            wrong.decide(first())
    assert normalize_base_url("localhost:8000") == "http://localhost:8000/v1"
    assert normalize_base_url("https://api.example.com/openai/v1/chat/completions") == \
        "https://api.example.com/openai/v1"


def test_context_budget_clips_a_huge_result_and_drops_the_duplicate_memory_line() -> None:
    with FakeOpenAI([tool_call("cluster_overview", {}, STATUS)] * 2) as srv:
        p = policy(srv, config=ChatConfig(context_tokens=3000, max_tokens=256))
        d = p.decide(first())
        p.decide(after(d, "first line\n" + "x" * 100_000 + "\nLAST LINE", must_submit=True))
        msgs = srv.requests[1]["messages"]
        body = msgs[-1]["content"]
        assert len(body) < 12_000 and "cut to fit the model's context" in body and "LAST LINE" in body
        assert "This is your last step: submit now" in body
        assert "[1] probe.cluster_overview" not in msgs[1]["content"]


def test_build_policy_names() -> None:
    with pytest.raises(ValueError, match="unknown model policy"):
        build_policy("gpt")
    with pytest.raises(ModelError, match="needs --model"):
        build_policy("hf")


# ------------------------------------------------------------------------------------------------ a full episode


PROBLEM_ID = "k8s_target_port-misconfig-detection-1"


def test_full_detection_episode_over_mcp_against_the_simulator(tmp_path: Path) -> None:
    """The fake model investigates a real (simulated) incident through the real probe, in-process over MCP, with a
    scripted sequence, and the loop records the episode. The second reply is a hermes text call and one reply is
    garbage, so the episode also covers the fallback and a retry."""
    import anyio

    from cluster.sim import SimCluster, SimConfig
    from cluster.sim.faults.problems import PROBLEMS
    from cluster.sim.faults.setup import bring_up
    from cluster.sim.server import SimServer
    from observer.loop import Episode, LoopConfig
    from observer.mcp import Connections, Endpoint
    from servers.probe.server import build_server
    from servers.probe.settings import ProbeSettings
    from transcripts import TranscriptStore

    problem = PROBLEMS[PROBLEM_ID]
    ns = problem.namespace
    cluster = SimCluster(SimConfig(seed=5))
    sim = SimServer(cluster, kubeconfig=tmp_path / "kubeconfig", telemetry=True).start()
    try:
        bring_up(cluster, problem)
        assert sim.kubeconfig_path is not None
        probe = build_server(ProbeSettings(kubeconfig=str(sim.kubeconfig_path)))
        spec = TaskSpec(task="detection", namespace=ns, text=problem.task_text())
        script = [
            tool_call("cluster_overview", {"namespace": ns}, STATUS),
            text("SUMMARY: pods run but a service has no endpoints\nPHASE: point_investigation\nHYPOTHESIS: "
                 "user-service's Service targets the wrong port\nCONFIDENCE: 50\n<tool_call>\n"
                 f'{{"name": "describe", "arguments": {{"kind": "service", "name": "user-service", '
                 f'"namespace": "{ns}"}}}}\n</tool_call>'),
            text("I am confident now."),  # no call: fed back, retried
            text('SUMMARY: targetPort mismatch confirmed\nPHASE: ready_to_submit\nCONFIDENCE: 95\nsubmit("Yes")'),
        ]
        with FakeOpenAI(script) as srv:
            pol = OpenAIPolicy(srv.base_url, "fake-model", backoff_s=0.0)
            store = TranscriptStore(tmp_path / "t.db")

            async def run() -> Any:
                async with Connections([Endpoint.in_process("probe", probe)]) as conns:
                    return await Episode(pol, spec, conns, store, config=LoopConfig(max_steps=6),
                                         problem_id=problem.id).run()

            outcome = anyio.run(run)
            requests = srv.requests
        assert outcome.status == "completed" and outcome.stop_reason == "submitted", outcome.error
        assert outcome.submission == problem.expected == "Yes"
        assert outcome.steps == 3 and len(requests) == 4
        # what the model read at step 2 is the probe's real answer about the real fault
        step2 = requests[1]["messages"]
        assert step2[-1]["role"] == "tool" and "user-service" in step2[-1]["content"]
        describe_result = requests[2]["messages"][-1]["content"]
        assert "targetPort" in describe_result or "target port" in describe_result.lower()
        assert "contained no tool call" in requests[3]["messages"][-1]["content"]
        ep = store.episode(outcome.episode_id)
        calls = [s for s in ep.steps if s.role == "assistant"]
        assert [c.tool for c in calls] == ["cluster_overview", "describe", "submit"]
        assert calls[1].decision and calls[1].decision["phase"] == "point_investigation"
        assert calls[0].tokens_in == 120 and ep.policy == "openai" and ep.model == "fake-model"
        store.close()
    finally:
        sim.stop()


def test_an_unreachable_model_fails_the_episode_cleanly(tmp_path: Path) -> None:
    import anyio

    from observer.loop import Episode
    from observer.mcp import Connections
    from transcripts import TranscriptStore

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pol = OpenAIPolicy(f"http://127.0.0.1:{port}/v1", "m", retries=1)
    store = TranscriptStore(tmp_path / "t.db")

    async def run() -> Any:
        async with Connections([]) as conns:
            return await Episode(pol, task(), conns, store).run()

    outcome = anyio.run(run)
    assert outcome.status == "failed" and outcome.stop_reason == "error"
    assert outcome.error is not None and "is `vllm serve` running?" in outcome.error
    assert store.episode(outcome.episode_id).status == "failed"
    store.close()


# ------------------------------------------------------------------------------------------------ hf policy

TRAIN_SKIP = "the train extra is not installed (torch, transformers): `make install-train`"


def _need_train() -> tuple[Any, Any]:
    torch = pytest.importorskip("torch", reason=TRAIN_SKIP)
    transformers = pytest.importorskip("transformers", reason=TRAIN_SKIP)
    return torch, transformers


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 100k-parameter random Qwen2 with a BPE tokenizer trained here on a few lines: built offline, no hub."""
    torch, transformers = _need_train()
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    try:
        from trl.chat_template_utils import qwen2_5_chat_template as template
    except ImportError:
        from training.tiny import CHATML_TOOLS  # the shape of Qwen2.5's template

        template = CHATML_TOOLS
    corpus = ["system user assistant tool You are a helpful assistant.",
              '{"name": "cluster_overview", "arguments": {"namespace": "default"}} describe logs events submit',
              "PHASE: surface_scan HYPOTHESIS: none CONFIDENCE: 0 SUMMARY: pods services endpoints"] * 40
    tk = Tokenizer(models.BPE(unk_token=None))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=512, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"]))
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                               bos_token=None, padding_side="left")
    tok.add_tokens(["<tool_call>", "</tool_call>"])
    tok.chat_template = template
    cfg = transformers.Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192,
                                   tie_word_embeddings=True, eos_token_id=tok.eos_token_id,
                                   pad_token_id=tok.pad_token_id, bos_token_id=None)
    torch.manual_seed(0)
    model = transformers.Qwen2ForCausalLM(cfg)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    path = tmp_path_factory.mktemp("tiny-qwen2")
    tok.save_pretrained(path)
    model.save_pretrained(path)
    return path


def test_hf_tiny_model_loads_generates_and_fails_gracefully(tiny_qwen: Path) -> None:
    from observer.llm.hf_policy import HFPolicy

    p = HFPolicy(str(tiny_qwen), config=ChatConfig(max_tokens=24), device="cpu")
    assert p.backend.tool_mode == "template" and p.name == "hf"  # the template renders tools=
    p.start(task(), tools())
    prompt = p.backend.render(p.messages(first()), p.toolbox.openai_tools())  # type: ignore[attr-defined,union-attr]
    assert '"name": "describe"' in prompt and prompt.rstrip().endswith("<|im_start|>assistant")
    with pytest.raises(UnreadableReplies, match="no usable reply in 3 attempts"):
        p.decide(first())  # a random model writes no call: it was told so twice, then the step gives up
    replies = p.log[-1].replies
    assert len(replies) == 3 and all(r.usage.completion_tokens > 0 for r in replies)
    assert replies[1].usage.prompt_tokens > replies[0].usage.prompt_tokens  # the error went back in


def test_hf_parses_what_the_model_generates(tiny_qwen: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Generation scripted at the token level: the hermes call goes through the tokenizer's added tokens, the
    decode and the special-token stripping, then the shared parser; the last step is replayed via the template."""
    torch, _ = _need_train()
    from observer.llm.hf_policy import HFPolicy

    p = HFPolicy(str(tiny_qwen), config=ChatConfig(max_tokens=200), device="cpu")
    tok = p.backend.tokenizer  # type: ignore[attr-defined]
    reply = (f"{STATUS}\n<tool_call>\n{{\"name\": \"cluster_overview\", \"arguments\": {{\"namespace\": \"{NS}\"}}}}"
             "\n</tool_call><|im_end|>")
    new = tok(reply, add_special_tokens=False, return_tensors="pt")["input_ids"]
    monkeypatch.setattr(p.backend.lm, "generate",  # type: ignore[attr-defined]
                        lambda ids, **kw: torch.cat([ids, new], dim=1))
    p.start(task(), tools())
    d = p.decide(first())
    assert d.call is not None and d.call.arguments == {"namespace": NS} and d.tokens_out == new.shape[1]
    d2 = p.decide(after(d, "service user-service: 0 ready endpoints"))
    assert d2.call is not None
    shown = p.backend.render(p.log[-1].messages, None)  # type: ignore[attr-defined]
    assert "<tool_call>" in shown and "<tool_response>\nservice user-service: 0 ready endpoints" in shown


@pytest.mark.filterwarnings("ignore::FutureWarning")  # transformers renames gradient checkpointing
def test_hf_with_a_lora_adapter(tiny_qwen: Path, tmp_path: Path) -> None:
    _need_train()
    peft = pytest.importorskip("peft", reason=TRAIN_SKIP)
    import transformers

    from observer.llm.hf_policy import HFPolicy

    base = transformers.AutoModelForCausalLM.from_pretrained(str(tiny_qwen))
    lora = peft.get_peft_model(base, peft.LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"],
                                                     task_type="CAUSAL_LM"))
    lora.save_pretrained(tmp_path / "adapter")
    p = HFPolicy(str(tiny_qwen), str(tmp_path / "adapter"), config=ChatConfig(max_tokens=8), device="cpu")
    assert type(p.backend.lm).__name__ == "PeftModelForCausalLM"  # type: ignore[attr-defined]
    assert p.model is not None and p.model.endswith("adapter")
    p.start(task(), tools())
    with pytest.raises(UnreadableReplies):
        p.decide(first())


def test_hf_bad_model_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such directory"):
        build_policy("hf", model=str(tmp_path / "nothing-here"))
    _need_train()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="cannot load the model"):
        build_policy("hf", model=str(tmp_path / "empty"))


def test_hf_and_vllm_without_their_packages_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from observer.llm.vllm_policy import VLLMPolicy

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError, as without the extra
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ModelError, match="make install-train"):
        build_policy("hf", model="Qwen/Qwen2.5-0.5B-Instruct")
    with pytest.raises(ModelError, match="vllm serve MODEL --enable-auto-tool-choice"):
        VLLMPolicy("Qwen/Qwen2.5-0.5B-Instruct")


def test_vllm_policy_drives_the_engine_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """vLLM needs a GPU; here a stand-in module with vLLM's ``LLM``/``SamplingParams`` surface checks the glue:
    the chat call (tools through the template, the LoRA request) and the parse of its text."""
    import types

    calls: list[dict[str, Any]] = []

    class Out:
        def __init__(self, text: str):
            self.outputs = [types.SimpleNamespace(text=text, token_ids=[1] * 7, finish_reason="stop")]
            self.prompt_token_ids = [1] * 50

    class LLM:
        def __init__(self, **kw: Any):
            calls.append({"init": kw})

        def get_tokenizer(self) -> Any:
            return types.SimpleNamespace(chat_template="{% if tools %}{% endif %}", encode=lambda t, **k: t.split())

        def chat(self, messages: list[dict[str, Any]], **kw: Any) -> list[Out]:
            calls.append(kw)
            return [Out('<tool_call>{"name": "cluster_overview", "arguments": {}}</tool_call><|im_end|>')]

    fake = types.ModuleType("vllm")
    fake.LLM = LLM  # type: ignore[attr-defined]
    fake.SamplingParams = lambda **kw: kw  # type: ignore[attr-defined]
    lora_mod = types.ModuleType("vllm.lora.request")
    lora_mod.LoRARequest = lambda *a: ("lora", *a)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", fake)
    monkeypatch.setitem(sys.modules, "vllm.lora", types.ModuleType("vllm.lora"))
    monkeypatch.setitem(sys.modules, "vllm.lora.request", lora_mod)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=types.SimpleNamespace(
        is_available=lambda: True)))
    from observer.llm.vllm_policy import VLLMPolicy

    p = VLLMPolicy("Qwen/Qwen2.5-7B-Instruct", "/adapters/aoi", config=ChatConfig(context_tokens=4096))
    p.start(task(), tools())
    d = p.decide(first())
    assert d.call is not None and d.call.tool == "cluster_overview" and (d.tokens_in, d.tokens_out) == (50, 7)
    init, chat = calls[0]["init"], calls[1]
    assert init["max_model_len"] == 4096 and init["enable_lora"] is True
    assert chat["lora_request"] == ("lora", "aoi-adapter", 1, "/adapters/aoi")
    assert {t["function"]["name"] for t in chat["tools"]} >= {"cluster_overview", "submit"}
    assert chat["sampling_params"]["temperature"] == 0.0


def test_an_adapter_is_found_in_a_training_run_directory(tmp_path: Path) -> None:
    from observer.llm.chat import ModelError
    from observer.llm.hf_policy import resolve_adapter

    run = tmp_path / "sft"  # what `aoi train sft --out sft` writes: the adapter in sft/adapter
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text("{}")
    assert resolve_adapter(str(run)) == str(run / "adapter")
    assert resolve_adapter(str(run / "adapter")) == str(run / "adapter")
    with pytest.raises(ModelError, match="no LoRA adapter in"):
        resolve_adapter(str(tmp_path))
    assert resolve_adapter("someone/some-adapter") == "someone/some-adapter"  # a hub id is left to PEFT
