"""A policy that plays a fixed plan of steps: how a model's repair plan (and a test's candidate) is replayed.

The plan is data: steps by phase (discovery, diagnosis, resolution, verification), each a tool and its arguments
(probe and executor reads, ``plan``, ``wait``), then a submission and the hypothesis it rests on. The loop gives
the policy nothing it uses: the same plan on the same problem and seed is the same episode.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from observer.policy import Decision, Observation, Submission, TaskSpec, TaskType, ToolInfo

PHASES = {"discovery": "surface_scan", "diagnosis": "point_investigation", "resolution": "ready_to_fix",
          "verification": "verification"}


class ScriptStep(BaseModel):
    model_config = ConfigDict(extra="ignore")

    phase: str = "diagnosis"
    tool: str
    server: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)


class Script(BaseModel):
    """A repair plan: steps, the submission, and the hypothesis (component: cause) it rests on."""

    model_config = ConfigDict(extra="ignore")

    steps: list[ScriptStep] = Field(default_factory=list)
    submission: Any = None
    hypothesis: str = ""

    def check(self, task: TaskType) -> str | None:
        """Why this plan cannot be played for the task (None: it can)."""
        try:
            Submission(task=task, answer=self.submission)
        except ValueError as e:
            return f"invalid submission for {task}: {str(e).splitlines()[-1]}"
        return None


class ScriptedPolicy:
    """Plays a :class:`Script`, then submits (also when the budget runs out first)."""

    model: str | None = None

    def __init__(self, script: Script, name: str = "evolver-script", model: str | None = None):
        self.script = script
        self.name = name
        self.model = model
        self.task: TaskSpec | None = None
        self.tools: list[ToolInfo] = []
        self.i = 0

    def start(self, task: TaskSpec, tools: list[ToolInfo]) -> None:
        self.task, self.tools, self.i = task, tools, 0

    def decide(self, obs: Observation) -> Decision:
        assert self.task is not None
        meta = {"hypothesis": self.script.hypothesis, "confidence": 80}
        while not obs.must_submit and self.i < len(self.script.steps):
            step = self.script.steps[self.i]
            self.i += 1
            try:
                return Decision.from_tool_call(step.server, step.tool, step.arguments, task=self.task.task,
                                               tools=self.tools, phase=PHASES.get(step.phase, "point_investigation"),
                                               **meta)
            except ValueError:
                continue  # a step that is not a valid call is skipped (the verdict will show what it cost)
        return Decision(phase="ready_to_submit", submit=Submission(task=self.task.task, answer=self.script.submission),
                        **meta)
