"""The chat policy shared by the model back-ends: build the messages for one step from the loop's
:class:`~observer.policy.Observation` (system prompt, the long-term memory, the last step in full), ask the backend,
parse the reply into a :class:`~observer.policy.Decision`, and on unreadable output tell the model what was wrong
and ask again, a bounded number of times.

Backends (``openai``, ``hf``, ``vllm``) only turn messages into a :class:`Completion`; prompts, parsing and memory
live here and in ``prompting``, so the three behave the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from observer.guidance import Guidance, GuidanceTracker, load_guidance
from observer.llm.prompting import (
    Meta,
    ParseError,
    Toolbox,
    approx_tokens,
    parse_reply,
    render_call,
    result_text,
    status_lines,
    step_header,
    system_prompt,
    to_decision,
)
from observer.policy import Decision, Observation, TaskSpec, ToolInfo


class ModelError(RuntimeError):
    """The model could not be asked (endpoint down, junk responses, missing packages), or gave no usable reply in
    the retries a step allows. The message says what to check; the loop records the episode as failed with it."""


class ToolsUnsupported(ModelError):
    """The endpoint refused the request because of its ``tools``; the policy falls back to the text protocol."""


class UnreadableReplies(ModelError):
    """Every reply of one step was unreadable, after the retries."""


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens


@dataclass
class Completion:
    """One reply from a backend. ``tool_calls`` are in the OpenAI shape (``{"id", "function": {"name",
    "arguments"}}``); a text-protocol model leaves them empty and writes its call into ``content``."""

    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    latency_ms: float = 0.0
    model: str | None = None


class Backend(Protocol):
    name: str  # "openai" | "hf" | "vllm"
    model: str
    # "api": tools go to the API, calls come back as tool_calls; "template": tools go through the chat template,
    # calls come back as hermes text; "text": the tool table is in the system prompt, calls are text.
    tool_mode: str
    # OpenAI-style APIs want tool-call arguments as JSON text; chat templates want objects.
    arguments_as_text: bool

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Completion: ...

    def count_tokens(self, text: str) -> int: ...


@dataclass
class ChatConfig:
    context_tokens: int = 16384  # the model's context window (prompt + reply)
    max_tokens: int = 768  # reply budget
    max_parse_retries: int = 2  # re-asks in one step after an unreadable reply
    guidance: str | Path | Guidance | None = None  # lessons (``aoi evolve lessons``), matched by symptoms seen
    guidance_tokens: int = 400  # budget for the matched lessons in each step's message


@dataclass
class StepLog:
    """What one decide() did, for tests and debugging: every reply, the errors fed back, the messages sent."""

    replies: list[Completion] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)


class ChatPolicy:
    """A :class:`~observer.policy.Policy` that asks a chat model for each step."""

    def __init__(self, backend: Backend, config: ChatConfig | None = None):
        self.backend = backend
        self.config = config or ChatConfig()
        self.task: TaskSpec | None = None
        self.toolbox: Toolbox | None = None
        self.usage = Usage()
        self.log: list[StepLog] = []
        self._system = ""
        self._mode = ""
        self._meta = Meta()
        self.guidance = load_guidance(self.config.guidance)
        self._guide: GuidanceTracker | None = None
        self._advice = ""  # the lessons in the last step message (recorded with the decision)

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def model(self) -> str | None:
        return self.backend.model

    @property
    def system_prompt(self) -> str:
        return self._system

    def count(self, text: str) -> int:
        try:
            return self.backend.count_tokens(text)
        except Exception:
            return approx_tokens(text)

    # ---------------------------------------------------------------------------------------------------- episode

    def start(self, task: TaskSpec, tools: list[ToolInfo]) -> None:
        self.task = task
        self.toolbox = Toolbox(tools, task)
        self.usage = Usage()
        self.log = []
        self._mode = ""
        self._meta = Meta()
        self._guide = GuidanceTracker(self.guidance, task) if self.guidance and self.guidance.lessons else None
        self._advice = ""
        self._refresh_system()

    def _refresh_system(self) -> None:
        """(Re)build the system prompt for the backend's tool mode (an endpoint may drop to text mode midway)."""
        assert self.task is not None and self.toolbox is not None
        mode = self.backend.tool_mode
        if mode != self._mode:
            self._mode = mode
            self._system = system_prompt(self.task, self.toolbox, list_tools=mode == "text", native=mode == "api")

    def decide(self, obs: Observation) -> Decision:
        if self.toolbox is None or self.task is None:
            raise RuntimeError("start(task, tools) must be called before decide()")
        self._refresh_system()
        if self._guide is not None:
            self._guide.observe(obs.last)
        messages = self.messages(obs)
        log = StepLog(messages=messages)
        self.log.append(log)
        usage = Usage()
        attempts = self.config.max_parse_retries + 1
        attempt = 0
        while attempt < attempts:
            attempt += 1
            tools = self.toolbox.openai_tools() if self.backend.tool_mode in ("api", "template") else None
            try:
                completion = self.backend.complete(messages, tools)
            except ToolsUnsupported:
                # The endpoint refuses tools (vLLM without --enable-auto-tool-choice): the text protocol from now on,
                # with the tool table in the system prompt. Not the model's fault, so not an attempt.
                if self.backend.tool_mode == "text":
                    raise
                self.backend.tool_mode = "text"
                self._refresh_system()
                messages = self.messages(obs)
                attempt -= 1
                continue
            log.replies.append(completion)
            usage.add(completion.usage)
            try:
                parsed = parse_reply(completion.content, completion.tool_calls)
                decision = to_decision(parsed, self.toolbox, self._meta)
            except ParseError as e:
                log.errors.append(str(e))
                messages = [*messages, *self._retry(completion, f"{e}\n(Attempt {attempt} of {attempts}; "
                                                                f"nothing was run.)")]
                continue
            self.usage.add(usage)
            self._meta = Meta(decision.phase, decision.hypothesis, decision.confidence, decision.summary)
            return decision.model_copy(update={"tokens_in": usage.prompt_tokens or None,
                                               "tokens_out": usage.completion_tokens or None,
                                               "guidance": self._advice or None})
        self.usage.add(usage)
        last = log.replies[-1].content if log.replies else ""
        raise UnreadableReplies(
            f"the model gave no usable reply in {attempts} attempts at step {obs.step + 1}; last problem: "
            f"{log.errors[-1].splitlines()[0] if log.errors else '?'}; last reply: {last[:300]!r}")

    # ---------------------------------------------------------------------------------------------------- messages

    def messages(self, obs: Observation) -> list[dict[str, Any]]:
        """The system prompt; a user message with the step, the memory of earlier steps and (first step) the
        loop's note; then the last step in full, as the model's own call and the tool's answer."""
        assert self.toolbox is not None
        cfg = self.config
        budget = max(256, cfg.context_tokens - cfg.max_tokens - self.count(self._system) - 64)
        shown = obs
        if obs.last_decision is not None and obs.memory:  # the last step is shown in full: no need for its line
            mark = f"[{obs.step}] "
            shown = obs.model_copy(update={"memory": [m for m in obs.memory if not m.startswith(mark)]})
        header = step_header(shown)
        if self._guide is not None:
            # Lessons whose symptoms the results so far show; in the step message, so the system prompt stays
            # the same all episode (a server can cache its prefix).
            advice = self._guide.render(min(cfg.guidance_tokens, budget // 4), self.count)
            self._advice = advice or ""
            if advice:
                header += "\n\n" + advice
        msgs: list[dict[str, Any]] = [{"role": "system", "content": self._system}, {"role": "user", "content": header}]
        d = obs.last_decision
        if d is not None:
            server, tool, args = d.as_tool_call()
            name = self.toolbox.name_of(server, tool)
            call_id = f"call_{obs.step}"
            left = budget - self.count(header) - self.count(json.dumps(args, default=str)) - 64
            body = result_text(obs, max(128, left), self.count)
            prose = d.message.strip() if d.message and "PHASE" in d.message.upper() else status_lines(d)
            if self.backend.tool_mode == "text":
                msgs.append({"role": "assistant", "content": f"{prose}\n{render_call(name, args)}"})
                msgs.append({"role": "user", "content": f"<tool_response>\n{body}\n</tool_response>"})
            else:
                a: Any = json.dumps(args, ensure_ascii=False, default=str) if self.backend.arguments_as_text else args
                msgs.append({"role": "assistant", "content": prose, "tool_calls": [
                    {"id": call_id, "type": "function", "function": {"name": name, "arguments": a}}]})
                msgs.append({"role": "tool", "tool_call_id": call_id, "name": name, "content": body})
        return msgs

    def _retry(self, completion: Completion, error: str) -> list[dict[str, Any]]:
        """The unreadable reply and the error, as they go back to the model for another try."""
        content = completion.content or ""
        if completion.tool_calls and self.backend.tool_mode == "api":
            calls = []
            for i, tc in enumerate(completion.tool_calls):
                fn = tc.get("function") if isinstance(tc.get("function"), dict) else {}
                args = fn.get("arguments")
                if not isinstance(args, str):
                    args = json.dumps(args, default=str) if args is not None else "{}"
                calls.append({"id": str(tc.get("id") or f"bad_{i}"), "type": "function",
                              "function": {"name": str(fn.get("name") or "unknown"), "arguments": args}})
            # Every assistant tool call must be answered by a tool message: the error goes there.
            return [{"role": "assistant", "content": content, "tool_calls": calls},
                    *({"role": "tool", "tool_call_id": c["id"], "name": c["function"]["name"], "content": error}
                      for c in calls)]
        return [{"role": "assistant", "content": content[:2000] or "(empty reply)"},
                {"role": "user", "content": error}]
