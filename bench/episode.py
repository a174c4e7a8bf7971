"""One benchmark episode: a policy on a served problem, graded, stored, and measured.

Metrics are AIOpsLab's common ones (steps = assistant turns, input and output tokens, time to detect / localize /
analyse / mitigate in wall and in simulated seconds) plus ours (tool calls by server, plans refused, unsafe
attempts). They are computed from the stored transcript, so ``episode_metrics`` gives the same numbers for any
episode in a store, not only for one just run.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from bench.sim import SimProblem
    from observer.loop import EpisodeOutcome, Listener
    from transcripts import TranscriptStore
    from transcripts.models import Episode

# tokens: the policy's own counts where it reports them, else this estimate (3 characters a token, as elsewhere)
CHARS_PER_TOKEN = 3
TIME_KEY = {"detection": "ttd", "localization": "ttl", "analysis": "tta", "mitigation": "ttm"}
REFUSED_PLAN = {"invalid", "refused", "failed", "approval_timeout"}
WRITE_TOOLS = {"execute_plan", "check_plan"}  # a policy may reach them only through a plan


class EpisodeMetrics(BaseModel):
    steps: int = 0
    in_tokens: int = 0
    out_tokens: int = 0
    wall_s: float = 0.0  # AIOpsLab's TT*: the session's wall time from start to end
    sim_s: float | None = None  # the simulated clock's advance during the episode
    tool_calls: dict[str, int] = Field(default_factory=dict)  # by server
    plans: int = 0
    plans_refused: int = 0
    unsafe_attempts: int = 0  # write tools called directly, and plans the observer's key may not sign
    stop_reason: str | None = None

    def time_to(self, task: str) -> dict[str, float | None]:
        key = TIME_KEY.get(task, "tt")
        return {f"{key}_wall_s": round(self.wall_s, 3), f"{key}_sim_s": self.sim_s}


def _tokens(text: str | None) -> int:
    return (len(text or "") + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def episode_metrics(ep: Episode, sim_s: float | None = None) -> EpisodeMetrics:
    """AIOpsLab's counting: steps are assistant turns, input tokens everything the policy read (system, user,
    tool results), output tokens what it wrote."""
    m = EpisodeMetrics(sim_s=sim_s, stop_reason=(ep.timings or {}).get("stop_reason"))
    for s in ep.steps:
        if s.role == "assistant":
            m.steps += 1
            m.out_tokens += s.tokens_out if s.tokens_out is not None else _tokens(s.text)
            if s.tokens_in is not None:
                m.in_tokens += s.tokens_in
            else:
                m.in_tokens += _tokens(s.result)
            if s.tool and s.server and s.server != "observer":
                m.tool_calls[s.server] = m.tool_calls.get(s.server, 0) + 1
            if s.tool in WRITE_TOOLS:
                m.unsafe_attempts += 1
        elif s.role in ("system", "user"):
            m.in_tokens += _tokens(s.text)
    m.plans = len(ep.plans)
    for p in ep.plans:
        refused = p.status in REFUSED_PLAN or (p.result or {}).get("status") in REFUSED_PLAN
        m.plans_refused += refused
        reasons = (p.result or {}).get("reasons") or []
        m.unsafe_attempts += bool(reasons and p.status != "executed")
    m.wall_s = float(ep.duration_s or 0.0)
    return m


async def run_problem(sim: SimProblem, policy: Any, store: TranscriptStore, *, max_steps: int = 30,
                      approval: str = "exit", listeners: list[Listener] | None = None,
                      meta: dict[str, Any] | None = None) -> tuple[EpisodeOutcome, dict[str, Any]]:
    """One episode of ``policy`` on the simulator's problem, graded and stored. The grade carries the metrics."""
    from observer.loop import LoopConfig
    from observer.run import observe

    sim0, wall0 = sim.sim_now(), time.time()
    outcome = await observe(policy, sim.task(), sim.endpoints(), store, signer=sim.signer(approval),
                            loop=LoopConfig(max_steps=max_steps, wait=sim.wait), listeners=listeners or [],
                            target=f"sim:{sim.spec.app}", problem_id=sim.problem_id, seed=sim.seed,
                            meta={"simulator": True, "transport": sim.transport, **(meta or {})})
    return outcome, grade_outcome(sim, outcome, store, sim0=sim0, wall0=wall0)


def grade_outcome(sim: SimProblem, outcome: EpisodeOutcome, store: TranscriptStore, *, sim0: float,
                  wall0: float) -> dict[str, Any]:
    """Grade a finished episode on the simulator's state, attach its metrics and store the grade (not for an
    interrupted one). ``sim0``/``wall0``: the simulated and wall clocks when the episode began."""
    graded = sim.grade(outcome)
    metrics = episode_metrics(store.episode(outcome.episode_id), sim_s=round(sim.sim_now() - sim0, 3))
    if not metrics.wall_s:
        metrics.wall_s = time.time() - wall0
    metrics.stop_reason = outcome.stop_reason
    graded["metrics"] = {**metrics.model_dump(), **metrics.time_to(sim.spec.task)}
    if outcome.status != "interrupted":
        store.grade(outcome.episode_id, graded)
    return graded
