"""The policy interface: what a policy sees each step (an ``Observation``) and what it answers (a ``Decision``).

A policy is anything with ``name``, ``model``, ``start(task, tools)`` and ``decide(observation) -> Decision``: the
rule-based baseline (``observer.baseline``) and the model back-ends (``openai``, ``hf``, ``vllm``) alike. The loop
(``observer.loop``) owns everything else: the MCP connections, the transcript, plan signing and the step budget.

Decisions are structured so that a small model can produce them as one JSON object (or one tool call, see
``Decision.from_tool_call``)::

    {"phase": "point_investigation", "hypothesis": "geo cannot authenticate to mongodb-geo", "confidence": 60,
     "summary": "geo crash-loops; its log says 'not authorized on geo-db'",
     "call": {"server": "probe", "tool": "logs", "arguments": {"namespace": "...", "workload": "deployment/geo"}}}

exactly one of ``call`` (a read-only tool of the probe or the executor), ``plan`` (a repair plan: the loop checks
it with the probe's ``propose_plan``, pins the resourceVersions it saw, signs it when the observer's key may,
otherwise asks a human, and has the executor run it), ``wait`` (seconds, to let a repair take effect) or
``submit`` (the final answer for the task type).
"""

from __future__ import annotations

import json
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

TaskType = Literal["detection", "localization", "analysis", "mitigation"]
TASK_TYPES: tuple[TaskType, ...] = ("detection", "localization", "analysis", "mitigation")
Phase = Literal["surface_scan", "point_investigation", "depth_analysis", "ready_to_fix", "verification",
                "ready_to_submit"]
PHASES: tuple[str, ...] = ("surface_scan", "point_investigation", "depth_analysis", "ready_to_fix", "verification",
                           "ready_to_submit")

# AIOpsLab's root-cause vocabularies (tasks/analysis.py), copied here on purpose: the observer never imports the
# simulator's fault definitions, where the same lists live next to the answers.
SYSTEM_LEVELS: tuple[str, ...] = ("Hardware", "Operating System", "Virtualization", "Application")
FAULT_TYPES: tuple[str, ...] = ("Misconfiguration", "Code Defect", "Authentication Issue", "Network/Storage Issue",
                                "Operation Error", "Dependency Problem")

OBSERVER = "observer"  # the pseudo-server of the loop's own actions (plan, wait, submit)
MAX_WAIT_S = 300.0


class TaskSpec(BaseModel):
    """What the policy is asked to do. Never carries a problem id or anything else that names the fault."""

    model_config = ConfigDict(frozen=True)

    task: TaskType
    namespace: str | None = None
    text: str = Field(description="The task as the agent reads it (AIOpsLab's wording for benchmark problems).")

    @classmethod
    def for_namespace(cls, task: TaskType, namespace: str | None) -> TaskSpec:
        where = f"the namespace {namespace}" if namespace else "the cluster"
        head = {
            "detection": "detect anomalies in",
            "localization": "localize faults in",
            "analysis": "do root cause analysis of",
            "mitigation": "mitigate anomalies in",
        }[task]
        return cls(task=task, namespace=namespace,
                   text=f"You are an expert DevOps engineer assigned to {head} the services deployed in {where}.\n\n"
                        f"You will begin by analyzing the service's state and telemetry, and then submit your "
                        f"solution:\n{submission_help(task)}\n")


def submission_help(task: TaskType) -> str:
    return {
        "detection": '1. str: "Yes" or "No" to indicate whether there are anomalies detected',
        "localization": "1. list[str]: list of faulty components (i.e., service names)",
        "analysis": ('1. dict: {"system_level": str, "fault_type": str} where system_level is one of '
                     f"{', '.join(SYSTEM_LEVELS)} and fault_type is one of {', '.join(FAULT_TYPES)}"),
        "mitigation": "1. None (submit with no arguments once the service is healthy again)",
    }[task]


class ToolInfo(BaseModel):
    """One tool the policy may use, as read from a server's tools/list (or one of the loop's own)."""

    server: str
    name: str
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=dict)
    read_only: bool | None = None
    destructive: bool | None = None

    def mcp_schema(self) -> dict[str, Any]:
        """``{name, description, inputSchema}``: the shape the transcript store and OpenAI converters take."""
        return {"name": self.name, "description": self.description, "inputSchema": self.input_schema,
                "server": self.server}


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    server: str = Field(description="'probe' or 'executor'")
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)

    def key(self) -> str:
        return f"{self.server}.{self.tool}:{json.dumps(self.arguments, sort_keys=True, default=str)}"


class PlanProposal(BaseModel):
    """A repair the policy wants made: the plan's goal, why, and its actions in the executor's plan format
    (``{"type": "scale", "namespace": ..., "name": ..., "replicas": 1}``, see the probe's propose_plan). The loop
    adds the plan id and the cluster identity."""

    model_config = ConfigDict(extra="forbid")

    goal: str = Field(min_length=1, max_length=512)
    rationale: str = Field(default="", max_length=4000)
    actions: list[dict[str, Any]] = Field(min_length=1, max_length=100)


class Submission(BaseModel):
    """The final answer, in AIOpsLab's form for the task type: detection ``"Yes"``/``"No"``; localization a list
    of service names; analysis ``{"system_level", "fault_type"}``; mitigation ``None`` (the state is graded)."""

    model_config = ConfigDict(extra="forbid")

    task: TaskType
    answer: str | list[str] | dict[str, str] | None = None

    @model_validator(mode="after")
    def _shape(self) -> Submission:
        a = self.answer
        if self.task == "detection" and not (isinstance(a, str) and a.strip().lower() in ("yes", "no")):
            raise ValueError('detection answers "Yes" or "No"')
        if self.task == "localization" and not (isinstance(a, list) and all(isinstance(x, str) for x in a)):
            raise ValueError("localization answers a list of service names")
        if self.task == "analysis":
            if a is None:
                return self  # AIOpsLab's submit() with no fault found
            if not isinstance(a, dict) or set(a) != {"system_level", "fault_type"}:
                raise ValueError('analysis answers {"system_level": ..., "fault_type": ...}')
        if self.task == "mitigation" and a is not None:
            raise ValueError("mitigation submits no answer (the cluster's state is graded)")
        return self

    def value(self) -> Any:
        """What AIOpsLab's ``submit(...)`` would have received."""
        return self.answer


class Decision(BaseModel):
    """One step of a policy: where it is (phase), what it believes (hypothesis, confidence 0-100), a one-line
    summary of what it learned last step (for the long-term memory), and exactly one next action."""

    model_config = ConfigDict(extra="forbid")

    phase: Phase = "surface_scan"
    hypothesis: str = ""
    confidence: int = Field(default=0, ge=0, le=100)
    summary: str = Field(default="", description="What the last observation showed, in one line.")
    call: ToolCall | None = None
    plan: PlanProposal | None = None
    wait: float | None = Field(default=None, gt=0, le=MAX_WAIT_S, description="Seconds to let a repair act.")
    submit: Submission | None = None
    # What a model said around its action (its raw message), and what the call cost; the transcript keeps both.
    message: str = ""
    tokens_in: int | None = None
    tokens_out: int | None = None
    guidance: str | None = None  # the guidance lessons the policy was shown before this decision (kept in the record)

    @model_validator(mode="after")
    def _one_action(self) -> Decision:
        n = sum(x is not None for x in (self.call, self.plan, self.wait, self.submit))
        if n != 1:
            raise ValueError(f"a decision has exactly one of call, plan, wait, submit (got {n})")
        return self

    @property
    def action(self) -> Literal["call", "plan", "wait", "submit"]:
        if self.call is not None:
            return "call"
        if self.plan is not None:
            return "plan"
        if self.wait is not None:
            return "wait"
        return "submit"

    def label(self) -> str:
        """``probe.describe``, ``observer.plan``, ``observer.wait`` or ``observer.submit``."""
        if self.call is not None:
            return f"{self.call.server}.{self.call.tool}"
        return f"{OBSERVER}.{self.action}"

    def record(self) -> dict[str, Any]:
        """What the transcript keeps as the step's decision."""
        out = {"phase": self.phase, "hypothesis": self.hypothesis, "confidence": self.confidence,
               "summary": self.summary, "next": self.label()}
        if self.guidance:  # what the model read beyond the task and the results, so a transcript replays exactly
            out["guidance"] = self.guidance
        return out

    def text(self) -> str:
        """The assistant message of the step: the model's own words, else the decision in one line."""
        if self.message:
            return self.message
        parts = [f"[{self.phase}]"]
        if self.summary:
            parts.append(self.summary)
        if self.hypothesis:
            parts.append(f"Hypothesis ({self.confidence}%): {self.hypothesis}")
        return " ".join(parts)

    def as_tool_call(self) -> tuple[str, str, dict[str, Any]]:
        """(server, tool, arguments): every decision as one tool call, the form a chat model emits."""
        if self.call is not None:
            return self.call.server, self.call.tool, dict(self.call.arguments)
        if self.plan is not None:
            return OBSERVER, "plan", self.plan.model_dump(mode="json")
        if self.wait is not None:
            return OBSERVER, "wait", {"seconds": self.wait}
        assert self.submit is not None
        return OBSERVER, "submit", {"answer": self.submit.answer}

    @classmethod
    def from_tool_call(cls, server: str | None, tool: str, arguments: dict[str, Any] | None, *, task: TaskType,
                       tools: list[ToolInfo] | None = None, **meta: Any) -> Decision:
        """A decision from a model's tool call. ``server`` may be omitted when the tool name is unique among
        ``tools``; the observer's own tools are ``plan``, ``wait`` and ``submit``. Raises ValueError with a
        message fit to show the model when the call is not a valid decision."""
        args = dict(arguments or {})
        if server in (None, "", OBSERVER) and tool in ("plan", "wait", "submit"):
            try:
                if tool == "plan":
                    return cls(plan=PlanProposal.model_validate(args), **meta)
                if tool == "wait":
                    return cls(wait=float(args.get("seconds", 0) or 0), **meta)
                return cls(submit=Submission(task=task, answer=args.get("answer")), **meta)
            except (ValidationError, TypeError, ValueError) as e:
                raise ValueError(f"invalid {tool}: {_first_error(e)}") from None
        if not server:
            owners = sorted({t.server for t in tools or [] if t.name == tool})
            if len(owners) != 1:
                known = ", ".join(sorted({t.name for t in tools or []}))
                raise ValueError(f"unknown tool {tool!r}" + (f"; tools: {known}" if known else ""))
            server = owners[0]
        return cls(call=ToolCall(server=server, tool=tool, arguments=args), **meta)


def _first_error(e: Exception) -> str:
    if isinstance(e, ValidationError):
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err.get("loc") or ())
        return f"{loc + ': ' if loc else ''}{err.get('msg', '')}"
    return str(e)


class ToolResult(BaseModel):
    """One tool call's outcome as the loop received it: the text a model reads and the structured content."""

    server: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    is_error: bool = False
    text: str = ""
    data: dict[str, Any] | None = None
    latency_ms: float = 0.0

    @property
    def result(self) -> dict[str, Any]:
        """The probe's payload (``structured_content["result"]``), or the whole structured content."""
        d = self.data or {}
        inner = d.get("result")
        return inner if isinstance(inner, dict) else d


class Observation(BaseModel):
    """What a policy sees at one step: the task, the step budget, the long-term memory (one compressed line per
    earlier step), the last step in full (within the context budget), and the loop's note (a refused plan, an
    invalid decision, a plan waiting for a human, ...)."""

    step: int
    max_steps: int
    task: TaskSpec
    memory: list[str] = Field(default_factory=list)
    last_decision: Decision | None = None
    last: ToolResult | None = None
    last_text: str = Field(default="", description="The last result's text as compressed for the context.")
    note: str | None = None
    must_submit: bool = False

    @property
    def steps_left(self) -> int:
        return self.max_steps - self.step

    def render(self) -> str:
        """The observation as one user message for a chat model."""
        parts = [f"Step {self.step + 1} of {self.max_steps}."]
        if self.memory:
            parts.append("What you did so far (oldest first):\n" + "\n".join(f"- {m}" for m in self.memory))
        if self.last_decision is not None and self.last is not None:
            s, t, a = self.last_decision.as_tool_call()
            parts.append(f"Last action: {s}.{t}({json.dumps(a, sort_keys=True, default=str)[:400]})"
                         + (" -> ERROR" if self.last.is_error else ""))
            parts.append("Its result:\n" + (self.last_text or "(empty)"))
        if self.note:
            parts.append(f"Note from the observer: {self.note}")
        if self.must_submit:
            parts.append(f"This is your last step: submit now. {submission_help(self.task.task)}")
        else:
            parts.append("Decide the next action.")
        return "\n\n".join(parts)


@runtime_checkable
class Policy(Protocol):
    """A policy: ``start`` once per episode with the task and the tools, then ``decide`` once per step.
    ``decide`` may block (a model call); the loop runs it in a worker thread."""

    name: str
    model: str | None

    def start(self, task: TaskSpec, tools: list[ToolInfo]) -> None: ...

    def decide(self, obs: Observation) -> Decision: ...


def observer_tools(task: TaskType) -> list[ToolInfo]:
    """The loop's own actions, described as tools (for model policies and for the transcript)."""
    answer: dict[str, Any] = {
        "detection": {"type": "string", "enum": ["Yes", "No"]},
        "localization": {"type": "array", "items": {"type": "string"}},
        "analysis": {"type": "object", "properties": {"system_level": {"type": "string", "enum": list(SYSTEM_LEVELS)},
                                                      "fault_type": {"type": "string", "enum": list(FAULT_TYPES)}},
                     "required": ["system_level", "fault_type"]},
        "mitigation": {"type": "null"},
    }[task]
    return [
        ToolInfo(server=OBSERVER, name="plan", destructive=True, description=(
            "Propose a repair plan. The observer checks it with the probe's propose_plan, pins the resourceVersions "
            "of its targets, signs it if its key may sign these action classes (otherwise a human must approve it "
            "with `aoi plan approve`), and has the executor run it. Actions use the executor's plan format, e.g. "
            '{"type": "scale", "namespace": "ns", "name": "web", "replicas": 1}.'),
            input_schema={"type": "object", "required": ["goal", "actions"], "properties": {
                "goal": {"type": "string"}, "rationale": {"type": "string"},
                "actions": {"type": "array", "items": {"type": "object"}, "minItems": 1}}}),
        ToolInfo(server=OBSERVER, name="wait", read_only=True, description=(
            "Wait this many seconds (at most 300) for a repair to take effect before verifying it."),
            input_schema={"type": "object", "required": ["seconds"],
                          "properties": {"seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_WAIT_S}}}),
        ToolInfo(server=OBSERVER, name="submit", read_only=True, description=(
            f"Submit the final answer and end the episode. {submission_help(task)}"),
            input_schema={"type": "object", "properties": {"answer": answer},
                          "required": [] if task == "mitigation" else ["answer"]}),
    ]
