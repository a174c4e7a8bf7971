"""Episodes as the Observer's model policies see them, decision by decision.

The adapter a training run produces is driven by the Observer's ``hf`` (or ``vllm``) policy, which never shows a
model a whole conversation: each step it sends the system prompt, one user message with the memory of earlier
steps (one line each), and the last call with its compressed result (``observer.llm.chat.ChatPolicy.messages``).
Training on anything else would teach a format the policy never presents. So each recorded decision is replayed
into the ``Observation`` the loop built at that step (the same ``Memory`` and ``Compressor``) and rendered by
``ChatPolicy.messages`` itself, in template mode (tool schemas through the chat template, calls as hermes
``<tool_call>`` text with arguments as objects); the decision's own reply is the assistant message the next step
shows for it. Nothing here starts a simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from observer.compress import Compressor, Memory, first_line
from observer.llm.chat import ChatConfig, ChatPolicy, Completion
from observer.llm.prompting import OBSERVER_TOOLS, approx_tokens
from observer.policy import OBSERVER, Decision, Observation, TaskSpec, ToolInfo, ToolResult
from transcripts.models import Episode, Step

DEFAULT_MAX_STEPS = 30  # observer.loop.LoopConfig.max_steps, when an episode did not record its own
RESULT_TOKENS = 1500  # observer.loop.LoopConfig.result_tokens
MEMORY_TOKENS = 1200  # observer.loop.LoopConfig.memory_tokens


class RenderError(ValueError):
    """An episode step that cannot be turned back into the Observer's decision."""


@dataclass
class TemplateBackend:
    """What ``ChatPolicy`` needs of a backend to build messages, set as the ``hf`` policy runs with a tool-aware
    chat template (``tool_mode="template"``, arguments as objects). It renders only: it never completes."""

    name: str = "hf"
    model: str | None = None
    tool_mode: str = "template"
    arguments_as_text: bool = False

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Completion:
        raise NotImplementedError("a rendering backend does not generate")

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)


@dataclass
class RenderedStep:
    step: int  # the decision's index in the episode (0-based)
    prompt: list[dict[str, Any]]  # the messages the policy sent at this decision
    reply: dict[str, Any]  # the assistant message that made it (status lines + one tool call)
    action: dict[str, Any]  # {"server", "tool", "arguments"}: the decision as the loop carried it out
    reference: dict[str, Any]  # {"name": function name, "arguments", "server", "tool"}: the call as the model writes it


@dataclass
class RenderedEpisode:
    task: TaskSpec
    tools: list[dict[str, Any]]  # the OpenAI function schemas the policy passes to the chat template
    first_prompt: list[dict[str, Any]]  # the messages of decision 0 (system prompt + the first step header)
    steps: list[RenderedStep] = field(default_factory=list)


def tool_infos(schemas: list[dict[str, Any]] | None) -> list[ToolInfo]:
    """Recorded tool schemas (MCP ``{name, description, inputSchema, server}`` or OpenAI function tools) as the
    ``ToolInfo`` list the loop gave the policy. Without a recorded server, ``plan``/``wait``/``submit`` are the
    observer's own tools and everything else the probe's."""
    out: list[ToolInfo] = []
    for s in schemas or []:
        fn = s.get("function") if s.get("type") == "function" and isinstance(s.get("function"), dict) else s
        name = str(fn.get("name") or "")
        if not name:
            continue
        params = fn.get("inputSchema") or fn.get("input_schema") or fn.get("parameters") or {}
        server = s.get("server") or fn.get("server") or (OBSERVER if name in OBSERVER_TOOLS else "probe")
        out.append(ToolInfo(server=str(server), name=name, description=str(fn.get("description") or ""),
                            input_schema=dict(params)))
    return out


def decision_of(step: Step, task: TaskSpec, tools: list[ToolInfo]) -> Decision:
    """The structured decision a recorded tool-call step carried out (its phase, hypothesis, confidence and
    summary from the step's decision record; the model's own words when it wrote status lines)."""
    if not step.tool:
        raise RenderError(f"step {step.idx} is not a tool call")
    rec = step.decision or {}
    server = step.server or (OBSERVER if step.tool in OBSERVER_TOOLS else "probe")
    meta: dict[str, Any] = {}
    if rec.get("phase"):
        meta["phase"] = rec["phase"]
    for key in ("hypothesis", "summary"):
        if isinstance(rec.get(key), str):
            meta[key] = rec[key]
    if isinstance(rec.get("confidence"), int | float) and not isinstance(rec.get("confidence"), bool):
        meta["confidence"] = max(0, min(100, int(rec["confidence"])))
    text = step.text or ""
    if "PHASE" in text.upper():  # a model's reply: its own status lines are what it wrote
        meta["message"] = text[:4000]
    try:
        return Decision.from_tool_call(server, step.tool, dict(step.arguments or {}), task=task.task, tools=tools,
                                       **meta)
    except ValueError as e:
        raise RenderError(f"step {step.idx} ({server}.{step.tool}): {e}") from None


def decision_steps(episode: Episode) -> list[Step]:
    """The steps that are the policy's decisions: assistant tool calls (a result on a later ``tool`` step is
    folded in, as the export pairs them)."""
    out: list[Step] = []
    pending: dict[str, Step] = {}
    for s in episode.steps:
        if s.role == "assistant" and s.tool:
            s = s.model_copy()
            out.append(s)
            if s.result is None:
                pending[s.call_id or f"#{len(out)}"] = s
        elif s.role == "tool" and pending:
            key = s.call_id if s.call_id in pending else next(iter(pending))
            call = pending.pop(key)
            call.result = s.result if s.result is not None else s.text
            call.is_error = call.is_error or s.is_error
    return out


def task_text(episode: Episode) -> str | None:
    """The task as the agent read it: the episode's first user message."""
    return next((s.text for s in episode.steps if s.role == "user" and s.text), None)


def render_episode(episode: Episode, task: TaskSpec, tools: list[ToolInfo], *, config: ChatConfig | None = None
                   ) -> RenderedEpisode:
    """Every decision of ``episode`` with the exact messages the Observer's template-mode chat policy would have
    sent at that step and the reply that made it. Raises RenderError for a step that is not a valid decision."""
    policy = ChatPolicy(TemplateBackend(), config or ChatConfig())
    policy.start(task, tools)
    toolbox = policy.toolbox
    assert toolbox is not None
    max_steps = int((episode.meta or {}).get("max_steps") or DEFAULT_MAX_STEPS)
    calls = decision_steps(episode)
    max_steps = max(max_steps, len(calls))
    compressor, memory = Compressor(RESULT_TOKENS), Memory(MEMORY_TOKENS)
    obs = Observation(step=0, max_steps=max_steps, task=task)
    rendered = RenderedEpisode(task=task, tools=toolbox.openai_tools(), first_prompt=[])
    pending: tuple[int, list[dict[str, Any]], dict[str, Any], dict[str, Any]] | None = None
    for k, s in enumerate(calls):
        obs = obs.model_copy(update={"step": k, "memory": memory.view(), "must_submit": k == max_steps - 1})
        prompt = policy.messages(obs)
        advice = (s.decision or {}).get("guidance")
        if advice:  # lessons the policy was shown at this step, where ChatPolicy puts them
            prompt = [prompt[0], {**prompt[1], "content": f"{prompt[1]['content']}\n\n{advice}"}, *prompt[2:]]
        if k == 0:
            rendered.first_prompt = prompt
        if pending is not None:  # the previous decision's reply is the assistant message this step shows
            rendered.steps.append(RenderedStep(pending[0], pending[1], prompt[2], pending[2], pending[3]))
        d = decision_of(s, task, tools)
        server, tool, args = d.as_tool_call()
        reference = {"name": toolbox.name_of(server, tool), "arguments": args, "server": server, "tool": tool}
        pending = (k, prompt, {"server": server, "tool": tool, "arguments": args}, reference)
        text = s.result or ""
        result = ToolResult(server=server, tool=tool, arguments=args, is_error=s.is_error, text=text)
        memory.add(k, d.label(), args, ("ERROR: " if s.is_error else "") + first_line(text), d.summary)
        obs = Observation(step=k + 1, max_steps=max_steps, task=task, last_decision=d, last=result,
                          last_text=compressor.compress(text, k))
    if pending is not None:
        reply = policy.messages(obs.model_copy(update={"memory": memory.view()}))[2]
        rendered.steps.append(RenderedStep(pending[0], pending[1], reply, pending[2], pending[3]))
    else:
        rendered.first_prompt = policy.messages(obs)
    return rendered


def first_prompt(task: TaskSpec, tools: list[ToolInfo], *, max_steps: int = DEFAULT_MAX_STEPS,
                 config: ChatConfig | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(messages, tool schemas) of an episode's first decision: the system prompt and the first step header."""
    policy = ChatPolicy(TemplateBackend(), config or ChatConfig())
    policy.start(task, tools)
    assert policy.toolbox is not None
    return policy.messages(Observation(step=0, max_steps=max_steps, task=task)), policy.toolbox.openai_tools()
