"""The transcript data model (pydantic): what an episode is, as the evolver and the trainer read it.

An episode is one investigation by one policy: its target (a benchmark problem or a free-form target such as a
namespace), every step (role, text, tool call, result, latency, token counts, the structured decision), the plans
it proposed (the plan, its hash and the token's id and SHA-256, never the token), the final submission, the grade
and timings. Times are Unix seconds (float).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]
EpisodeStatus = Literal["running", "completed", "failed", "interrupted"]
FinalStatus = Literal["completed", "failed", "interrupted"]
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")
STATUSES: tuple[str, ...] = ("running", "completed", "failed", "interrupted")
FINAL_STATUSES: tuple[str, ...] = ("completed", "failed", "interrupted")


class Decision(BaseModel):
    """The structured decision a policy makes each step. Stored as a plain dict; this model documents the keys
    the observer writes (others are kept)."""

    model_config = ConfigDict(extra="allow")

    phase: str | None = None
    hypothesis: str | None = None
    confidence: float | None = None
    next: str | None = None


class Step(BaseModel):
    """One message or tool call. ``role`` ``assistant`` with ``tool`` set is a tool call made by the policy; its
    ``result`` may be on the same step (one step per call) or on a following ``tool`` step (linked by ``call_id``
    or, without one, by order)."""

    id: int | None = None  # row id (global); None before it is stored
    idx: int = 0  # position within the episode, 0-based
    ts: float = 0.0
    role: Role
    text: str = ""
    tool: str | None = None
    call_id: str | None = None
    arguments: dict[str, Any] | None = None
    result: str | None = None
    is_error: bool = False
    latency_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    server: str | None = None
    decision: dict[str, Any] | None = None


class PlanRecord(BaseModel):
    """A plan the episode proposed, signed or had executed. ``token_id`` is the token's ``jti`` and
    ``token_sha256`` its SHA-256: the token itself is never stored."""

    id: int | None = None
    ts: float = 0.0
    plan: dict[str, Any]
    plan_id: str | None = None
    plan_hash: str
    token_id: str | None = None
    token_sha256: str | None = None
    signer: str | None = None
    status: str = "proposed"
    result: dict[str, Any] | None = None
    updated_at: float | None = None


class EpisodeSummary(BaseModel):
    id: str
    source: str = "observer"  # observer | jsonl | calllog | audit
    target: str
    problem_id: str | None = None
    task: str | None = None
    namespace: str | None = None
    policy: str
    model: str | None = None
    seed: int | None = None
    status: EpisodeStatus = "running"
    started_at: float = 0.0
    finished_at: float | None = None
    n_steps: int = 0
    success: bool | None = None  # from the grade (see grade_outcome)
    score: float | None = None

    @property
    def duration_s(self) -> float | None:
        return None if self.finished_at is None else max(0.0, self.finished_at - self.started_at)


class Episode(EpisodeSummary):
    meta: dict[str, Any] = Field(default_factory=dict)
    tools: list[dict[str, Any]] | None = None  # tool schemas the policy saw (MCP or OpenAI shape)
    steps: list[Step] = Field(default_factory=list)
    plans: list[PlanRecord] = Field(default_factory=list)
    submission: Any = None
    submitted_at: float | None = None
    grade: dict[str, Any] | None = None
    graded_at: float | None = None
    timings: dict[str, Any] | None = None


def grade_outcome(grade: dict[str, Any] | None) -> tuple[bool | None, float | None]:
    """(success, score) of a grade dict: ``success`` (or ``solved``/``passed``/``correct``) as a bool, ``score``
    as a number. ``aoi transcripts export --grade`` filters on the success flag."""
    if not grade:
        return None, None
    success: bool | None = None
    for key in ("success", "solved", "passed", "correct"):
        value = grade.get(key)
        if isinstance(value, bool):
            success = value
            break
    score = grade.get("score")
    number = float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None
    if success is None and number is not None and 0.0 <= number <= 1.0 and number in (0.0, 1.0):
        success = number == 1.0
    return success, number
