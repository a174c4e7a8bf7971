"""One problem on a fresh seeded simulator, driven one decision at a time through the Observer's own loop.

Training needs the simulator in two places: the episode-level environment (``training.env.ClusterEnv``: a model
calls the tools one by one) and the step-level reward (``training.rewards.step_reward``: replay a verified
episode's first n decisions, then try the model's decision n). Both run the real ``observer.loop`` -- the same MCP
calls to the in-process probe and executor, plan checking, signing and execution, waits on the simulated clock and
transcript rows as ``aoi bench`` -- with a policy whose decisions come from outside (:class:`Bridge`). The loop
runs on an event loop in a background thread (an anyio blocking portal), so synchronous callers (TRL's tool loop,
reward functions) can step it: ``act(decision)`` hands the loop one decision and returns what it did.
"""

from __future__ import annotations

import contextlib
import queue
import shutil
import tempfile
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.graders import GradeContext, grade
from bench.problems import BenchProblem, ProblemSet
from bench.sim import SimProblem
from observer.llm.prompting import Toolbox, result_text, system_prompt
from observer.policy import Decision, Observation, TaskSpec, ToolInfo, ToolResult
from transcripts import TranscriptStore

# A fixed simulated epoch: the same seed and the same calls give the same cluster, so a replay of an episode's
# decisions reproduces what the episode saw. The simulator's own default (cluster.sim.clock.DEFAULT_EPOCH), which the
# evolver's replays use too, so its corrections and these replays read the same times.
EPOCH = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
EVENT_TIMEOUT_S = 300.0  # one decision's tool call, plan or wait; far above what the simulator needs
RESULT_TOKENS = 1500  # the loop's budget for a result shown to the model (observer.loop.LoopConfig.result_tokens)


class SessionError(RuntimeError):
    """The simulator or the loop could not be started or stepped; the message says why."""


class SessionClosed(Exception):
    """Raised inside the loop when the session ends before the policy submitted."""


@dataclass
class StepResult:
    """What one decision did: the tool's result (raw text and structured content), the text a model is shown for
    it (the loop's compressed result with its note and the next-step hint, as the Observer's chat policies show
    it), and whether the episode ended with it."""

    result: ToolResult
    shown: str
    done: bool = False


class Bridge:
    """A :class:`observer.policy.Policy` whose decisions are handed in from another thread: each ``decide`` posts
    the observation and waits for the next decision (``None`` ends the episode)."""

    def __init__(self, name: str = "train", model: str | None = None):
        self.name = name
        self.model = model
        self.system_prompt = ""
        self.tools: list[ToolInfo] = []
        self.task: TaskSpec | None = None
        self.decisions: queue.Queue[Decision | None] = queue.Queue()
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def start(self, task: TaskSpec, tools: list[ToolInfo]) -> None:
        self.task, self.tools = task, list(tools)
        # The prompt the Observer's template-mode policies show, so the transcript records what a model read.
        self.system_prompt = system_prompt(task, Toolbox(tools, task), list_tools=False)

    def decide(self, obs: Observation) -> Decision:
        self.events.put(("obs", obs))
        decision = self.decisions.get()
        if decision is None:
            raise SessionClosed("the training rollout ended before the policy submitted")
        return decision


class SimSession:
    """A seeded problem on its own simulator with the Observer's loop waiting for decisions.

    ``start()`` brings the problem up and runs the loop to its first decision; ``act(decision)`` carries one out;
    ``replay(decisions)`` carries out several; ``grade()`` ends the episode if it is still open and grades it as
    the benchmark does (stored with the transcript); ``close()`` stops everything and removes the scratch files.
    ``store``: where the episode's transcript goes (default: a scratch store removed on close)."""

    def __init__(self, problem: BenchProblem | str, *, seed: int = 0, epoch: datetime | None = EPOCH,
                 max_steps: int = 30, store: TranscriptStore | None = None, policy: str = "train",
                 model: str | None = None, meta: dict[str, Any] | None = None, problems: ProblemSet | None = None):
        self.spec = problem if isinstance(problem, BenchProblem) else (problems or ProblemSet.builtin()).get(problem)
        self.seed = int(seed)
        self.epoch = epoch
        self.max_steps = max_steps
        self.meta = dict(meta or {})
        self.bridge = Bridge(policy, model)
        self.sim: SimProblem | None = None
        self.store = store
        self.outcome: Any = None  # observer.loop.EpisodeOutcome once the loop ended
        self.steps = 0
        self._own_store = store is None
        self._workdir: Path | None = None
        self._stack: contextlib.ExitStack | None = None
        self._future: Future[Any] | None = None
        self._grade: dict[str, Any] | None = None
        self._obs: Observation | None = None

    # ------------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> SimSession:
        from anyio.from_thread import start_blocking_portal

        self._workdir = Path(tempfile.mkdtemp(prefix="aoi-train-"))
        try:
            self.sim = SimProblem(self.spec, self._workdir / "sim", seed=self.seed, epoch=self.epoch).start()
            if self.store is None:
                self.store = TranscriptStore(self._workdir / "transcripts.db")
            self._stack = contextlib.ExitStack()
            portal = self._stack.enter_context(start_blocking_portal())
            self._future = portal.start_task_soon(self._run)
            kind, value = self._next_event()
        except BaseException:
            self.close()
            raise
        if kind != "obs":
            self.close()
            raise SessionError(f"the observer loop for {self.spec.id} ended before its first decision: {value}")
        self._obs = value
        return self

    async def _run(self) -> None:
        from observer.loop import LoopConfig
        from observer.run import observe

        sim, store = self.sim, self.store
        assert sim is not None and store is not None
        try:
            outcome = await observe(self.bridge, sim.task(), sim.endpoints(), store, signer=sim.signer(),
                                    loop=LoopConfig(max_steps=self.max_steps, wait=sim.wait),
                                    target=f"sim:{self.spec.app}", problem_id=self.spec.id, seed=self.seed,
                                    meta={"simulator": True, "training": True, **self.meta})
        except BaseException as e:
            self.bridge.events.put(("error", f"{type(e).__name__}: {e}"))
            raise
        self.bridge.events.put(("done", outcome))

    def _next_event(self) -> tuple[str, Any]:
        try:
            return self.bridge.events.get(timeout=EVENT_TIMEOUT_S)
        except queue.Empty:
            raise SessionError(f"the observer loop for {self.spec.id} gave no answer in {EVENT_TIMEOUT_S:g} s"
                               ) from None

    def close(self) -> None:
        """Stop the loop (an open episode is recorded as ended by the session), the simulator and the portal."""
        if self._future is not None and not self._future.done():
            self.bridge.decisions.put(None)
            with contextlib.suppress(Exception):
                self._future.result(timeout=EVENT_TIMEOUT_S)
        if self._stack is not None:
            with contextlib.suppress(Exception):
                self._stack.close()
            self._stack = None
        if self.sim is not None:
            with contextlib.suppress(Exception):
                self.sim.stop()
            self.sim = None
        if self._own_store and self.store is not None:
            self.store.close()
            self.store = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> SimSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------ state
    @property
    def task(self) -> TaskSpec:
        assert self.sim is not None, "start() the session first"
        return self.sim.task()

    @property
    def tools(self) -> list[ToolInfo]:
        """The tools the loop offers the policy (probe, the executor's read-only ones, plan/wait/submit)."""
        return list(self.bridge.tools)

    def toolbox(self) -> Toolbox:
        return Toolbox(self.tools, self.task)

    @property
    def done(self) -> bool:
        return self.outcome is not None

    @property
    def cluster(self) -> Any:
        assert self.sim is not None
        return self.sim.cluster

    # ------------------------------------------------------------------------------------------------ acting
    def act(self, decision: Decision) -> StepResult:
        """Carry out one decision through the loop; returns its result once the loop has it."""
        if self.done:
            raise SessionError("the episode is over: no more decisions")
        if self._future is None:
            raise SessionError("start() the session first")
        self.bridge.decisions.put(decision)
        kind, value = self._next_event()
        self.steps += 1
        if kind == "obs":
            self._obs = value
            assert value.last is not None
            return StepResult(result=value.last, shown=result_text(value, RESULT_TOKENS))
        if kind == "error":
            raise SessionError(f"the observer loop failed: {value}")
        self.outcome = value
        result = self._last_result(decision)
        end = {"submitted": "the answer was submitted", "step_budget": "the step budget is spent",
               "awaiting_approval": "a plan waits for a human's approval"}.get(value.stop_reason, value.stop_reason)
        return StepResult(result=result, shown=f"{result.text}\n\nThe episode is over: {end}.", done=True)

    def replay(self, decisions: list[Decision]) -> list[StepResult]:
        """Carry out recorded decisions in order (stops early if the episode ends)."""
        out = []
        for d in decisions:
            if self.done:
                break
            out.append(self.act(d))
        return out

    def _last_result(self, decision: Decision) -> ToolResult:
        """The last step's result from the transcript (the loop ended, so no observation carries it)."""
        server, tool, args = decision.as_tool_call()
        assert self.store is not None and self.outcome is not None
        steps = [s for s in self.store.episode(self.outcome.episode_id).steps if s.role == "assistant" and s.tool]
        if not steps:
            return ToolResult(server=server, tool=tool, arguments=args, text="(no result)")
        s = steps[-1]
        return ToolResult(server=s.server or server, tool=s.tool or tool, arguments=s.arguments or {},
                          is_error=s.is_error, text=s.result or "", latency_ms=s.latency_ms or 0.0)

    # ------------------------------------------------------------------------------------------------ grading
    def grade_submission(self, submission: Any, submitted: bool = True) -> dict[str, Any]:
        """The benchmark's grade of a submission against this problem and the cluster as it is now, without
        ending the episode (mitigation is graded on the cluster's state, the others on the answer)."""
        assert self.sim is not None
        return grade(self.spec, submission, submitted,
                     GradeContext(cluster=self.sim.cluster, fault=self.sim.incident.fault))

    def grade(self) -> dict[str, Any]:
        """End the episode if it is still open (not submitted) and grade it as ``aoi bench`` does; the grade is
        stored with the episode's transcript. Repeated calls return the same grade."""
        if self._grade is not None:
            return self._grade
        if not self.done and self._future is not None:
            self.bridge.decisions.put(None)
            kind, value = self._next_event()
            if kind == "done":
                self.outcome = value
        submitted = bool(getattr(self.outcome, "submitted", False))
        self._grade = self.grade_submission(getattr(self.outcome, "submission", None), submitted)
        self._grade["steps"] = self.steps
        if self.store is not None and self.outcome is not None:
            with contextlib.suppress(Exception):
                self.store.grade(self.outcome.episode_id, self._grade)
        return self._grade
