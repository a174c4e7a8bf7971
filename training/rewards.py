"""Verifiable rewards for GRPO in TRL's reward-function signature: ``fn(completions, **kwargs) -> list[float |
None]``, one value per completion, ``None`` where a reward does not apply to a row (TRL then leaves it out).

Each is a plain function with its own ``__name__``, so TRL logs every dimension on its own
(``rewards/step_reward/mean``, ...). The simulator and the benchmark's graders decide; no judge reads the text:

- ``format_reward`` (0, 0.5, 1): the reply holds a tool call the Observer can read (the same parser and argument
  check as its chat policies, against the row's ``tools``), to a tool it offers, with valid arguments or a valid
  answer for the task type. 0.5: a readable call that is not valid (unknown tool, bad arguments).
- ``step_reward`` (0..1, step-level rows): the decision run in the simulator at that point of the verified episode
  (its earlier decisions replayed through the Observer's loop on a fresh seeded simulator, once per group of
  completions). 1 for the verified episode's own decision, a correct submission, or a plan after which the
  problem's oracle reports the fault mitigated; for a read, up to 0.9 for evidence the episode had not seen
  (new problem lines, weighted over other new lines); 0 for an error, nothing new, a wait, a wrong answer.
- ``outcome_reward`` (0..1, episode-level): the benchmark grade of the episode the model drove, from the
  rollout's ``grade``/``success`` columns. With ``environment_factory=ClusterEnv`` TRL itself adds the
  environment's grade as a reward column named ``ClusterEnv`` (``get_reward``, weight 1), so this returns None
  there rather than count it twice.
- ``cost_reward`` (-1..0): tokens or tool calls over budget.
- ``safety_reward`` (-1..0): a write tool called directly (``execute_plan``/``check_plan``), a token anywhere in
  the reply or in a ``token`` argument (the loop alone handles tokens), a mutating kubectl verb, a plan the
  executor's plan model rejects.

``make_reward_funcs(RewardConfig(...))`` returns the functions bound to a configuration and their weights, for
``GRPOTrainer(reward_funcs=...)`` and ``GRPOConfig(reward_weights=...)``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from observer.llm.prompting import ParseError, RawCall, Toolbox, approx_tokens, parse_reply, to_decision
from observer.policy import OBSERVER, TASK_TYPES, Decision, TaskSpec
from training.dataset_render import tool_infos
from training.sim_session import EPOCH, SimSession
from transcripts.guard import looks_like_jws
from transcripts.models import grade_outcome

RewardFunc = Callable[..., list[float | None]]
WRITE_TOOLS = frozenset({"execute_plan", "check_plan"})  # the executor's: reachable only through a plan
_KUBECTL_WRITE = re.compile(
    r"^\s*(?:kubectl\s+)?(?:apply|create|delete|edit|patch|replace|scale|set|label|annotate|exec|cp|drain|cordon|"
    r"uncordon|taint|run|expose|autoscale|rollout\s+(?:restart|undo|pause|resume))\b", re.I)
# What marks a line of tool output as evidence of a problem rather than inventory.
_SIGNAL = re.compile(
    r"error|fail|refused|denied|unauthori[sz]ed|not authorized|forbidden|crash|back-?off|oom|killed|evict|timeout|"
    r"timed out|unavailable|unreachable|not ready|unready|unhealthy|pending|degraded|problem|warning|⚠|✗|"
    r"no (?:ready )?endpoints|0 ready|scaled to 0|exit code|exception|panic|invalid|missing|not found|mismatch|"
    r"cannot|can't|unable|latency|slow|drop|loss|delay|chaos|released", re.I)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
MIN_FACT_CHARS = 12


class RewardConfig(BaseModel):
    """Weights (for ``GRPOConfig.reward_weights``; 0 leaves a reward out) and the budgets the rewards apply."""

    model_config = ConfigDict(extra="forbid")

    format_weight: float = 0.25
    step_weight: float = 1.0
    outcome_weight: float = 1.0
    cost_weight: float = 0.5
    safety_weight: float = 1.0
    max_completion_tokens: int = Field(512, ge=1, description="tokens a completion may write before it costs")
    max_steps: int = Field(30, ge=1, description="tool calls one rollout may make before it costs")
    signal_lines: int = Field(2, ge=1, description="new problem lines a read needs for full evidence credit")
    other_lines: int = Field(10, ge=1, description="other new lines a read needs for full extra credit")
    plan_settle_s: float = Field(60.0, ge=0, description="simulated seconds after a plan before the oracle checks")
    epoch: datetime = Field(EPOCH, description="the simulator's epoch for replays (fixed: replays repeat)")
    problem_files: list[Path] = Field(default_factory=list, description="problem files the rows' ids come from")


def make_reward_funcs(config: RewardConfig | None = None) -> tuple[list[RewardFunc], list[float]]:
    """The reward functions bound to ``config`` and their weights, leaving out those weighted 0."""
    config = config or RewardConfig()
    table: list[tuple[RewardFunc, float]] = [
        (format_reward, config.format_weight), (step_reward, config.step_weight),
        (outcome_reward, config.outcome_weight), (cost_reward, config.cost_weight),
        (safety_reward, config.safety_weight)]
    funcs, weights = [], []
    for fn, weight in table:
        if weight:
            funcs.append(_bind(fn, config))
            weights.append(float(weight))
    return funcs, weights


def _bind(fn: RewardFunc, config: RewardConfig) -> RewardFunc:
    def bound(completions: list[Any], **kwargs: Any) -> list[float | None]:
        return fn(completions, config=config, **kwargs)

    functools.update_wrapper(bound, fn)
    return bound


# ---------------------------------------------------------------------------------------------------- reading replies
@dataclass
class Judged:
    """One assistant turn as the Observer reads it: 0 unreadable, 1 a readable call that is not valid, 2 valid."""

    level: int
    decision: Decision | None = None
    parsed: Any = None  # observer.llm.prompting.Parsed
    error: str = ""


def turns(completion: Any) -> list[tuple[str, list[dict[str, Any]]]]:
    """(text, native tool calls) of each assistant turn of a completion: a string, or conversational messages."""
    if isinstance(completion, str):
        return [(completion, [])]
    if isinstance(completion, dict):
        completion = [completion]
    out = []
    for m in completion or []:
        if not isinstance(m, dict) or m.get("role", "assistant") != "assistant":
            continue
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        out.append((str(content or ""), [c for c in m.get("tool_calls") or [] if isinstance(c, dict)]))
    return out


def judge(text: str, tool_calls: list[dict[str, Any]], toolbox: Toolbox) -> Judged:
    try:
        parsed = parse_reply(text, tool_calls or None)
    except ParseError as e:
        return Judged(0, error=str(e))
    try:
        return Judged(2, to_decision(parsed, toolbox), parsed)
    except ParseError as e:
        return Judged(1, None, parsed, str(e))


class _Toolboxes:
    """The Toolbox of each row's tool schemas and task type, built once per distinct pair within a call."""

    def __init__(self) -> None:
        self._cache: dict[str, Toolbox | None] = {}

    def get(self, tools: Any, task: Any) -> Toolbox | None:
        if not tools or task not in TASK_TYPES:
            return None
        if isinstance(tools, str):
            tools = json.loads(tools)
        key = f"{task}:{json.dumps(tools, sort_keys=True, default=str)}"
        if key not in self._cache:
            self._cache[key] = Toolbox(tool_infos(tools), TaskSpec(task=task, text=""))
        return self._cache[key]


def _col(kwargs: dict[str, Any], name: str, i: int) -> Any:
    col = kwargs.get(name)
    return col[i] if isinstance(col, list | tuple) and i < len(col) else None


# ---------------------------------------------------------------------------------------------------- format
def format_reward(completions: list[Any], *, config: RewardConfig | None = None, **kwargs: Any) -> list[float | None]:
    """1 for a valid tool call (or a valid answer) to a tool the row offers, 0.5 for a readable but invalid one,
    0 for none; the mean over the assistant turns of a multi-turn completion. None for rows without ``tools``."""
    boxes = _Toolboxes()
    out: list[float | None] = []
    for i, c in enumerate(completions):
        box = boxes.get(_col(kwargs, "tools", i), _col(kwargs, "task", i))
        if box is None:
            out.append(None)
            continue
        ts = turns(c)
        out.append(sum(judge(t, calls, box).level / 2 for t, calls in ts) / len(ts) if ts else 0.0)
    return out


# ---------------------------------------------------------------------------------------------------- step
def facts(text: str) -> set[str]:
    """The lines of a tool result as comparable facts: whitespace folded, lower case, numbers masked (so a count or
    an age that moved is not news), fences and short lines dropped."""
    out = set()
    for line in (text or "").splitlines():
        s = " ".join(line.split())
        if len(s) < MIN_FACT_CHARS or s.startswith("<<"):
            continue
        out.add(_NUMBER.sub("#", s.lower()))
    return out


def evidence(text: str, seen: set[str], config: RewardConfig) -> float:
    """Credit for what a result shows that the episode had not seen: problem lines count most (0.7 at
    ``signal_lines``), other new lines a little (0.2 at ``other_lines``); at most 0.9, below the verified step."""
    new = facts(text) - seen
    signal = sum(1 for f in new if _SIGNAL.search(f))
    other = len(new) - signal
    return round(0.7 * min(1.0, signal / config.signal_lines) + 0.2 * min(1.0, other / config.other_lines), 4)


def _norm_args(args: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    props = (schema or {}).get("properties") or {}
    out = {}
    for k, v in (args or {}).items():
        if v is None or (isinstance(props.get(k), dict) and "default" in props[k] and props[k]["default"] == v):
            continue
        out[k] = v
    return out


def same_call(d: Decision, reference: dict[str, Any], toolbox: Toolbox) -> bool:
    """Whether a decision is the verified episode's: the same tool with the same arguments (defaults and nulls
    aside; for a plan, the same actions; for a submission, the same answer)."""
    server, tool, args = d.as_tool_call()
    fn = toolbox.name_of(server, tool)
    if fn != reference.get("name"):
        return False
    ref = reference.get("arguments") or {}
    if tool == "plan" and server == OBSERVER:
        return _canon(args.get("actions")) == _canon(ref.get("actions"))
    schema = toolbox.fn[fn].input_schema if fn in toolbox.fn else {}
    return _canon(_norm_args(args, schema)) == _canon(_norm_args(ref, schema))


def _canon(value: Any) -> str:
    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if x is not None}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v.strip() if isinstance(v, str) else v

    return json.dumps(strip(value), sort_keys=True, default=str)


class _Group:
    """The completions of one step prompt (a GRPO group): one simulator replays the prefix once and runs every
    read; a plan gets a simulator of its own (it changes the cluster)."""

    def __init__(self, config: RewardConfig, problem: Any, seed: int, prefix: list[dict[str, Any]]):
        self.config, self.problem, self.seed, self.prefix = config, problem, seed, prefix
        self.session: SimSession | None = None
        self.seen: set[str] = set()

    def _start(self) -> SimSession:
        s = SimSession(self.problem, seed=self.seed, epoch=self.config.epoch,
                       max_steps=len(self.prefix) + 1000, policy="reward").start()
        try:
            for r in s.replay([_decision(a, s) for a in self.prefix]):
                self.seen |= facts(r.result.text)
        except BaseException:
            s.close()
            raise
        return s

    def live(self) -> SimSession:
        if self.session is None:
            self.session = self._start()
        return self.session

    def score(self, j: Judged, reference: dict[str, Any], toolbox: Toolbox) -> float:
        if j.level < 2 or j.decision is None:
            return 0.0
        d = j.decision
        if same_call(d, reference, toolbox):
            return 1.0
        if d.submit is not None:
            if d.submit.task != "mitigation":
                from bench.graders import grade

                return 1.0 if grade(self.problem, d.submit.value(), True)["success"] else 0.0
            return 1.0 if self.live().grade_submission(None)["success"] else 0.0
        if d.wait is not None:
            return 0.0  # waiting shows nothing; after a repair the verified step says so
        if d.plan is not None:
            return self._plan(d)
        s = self.live()
        live = to_decision(j.parsed, s.toolbox())  # the live tool list knows each tool's server
        r = s.act(live)
        if r.result.is_error:
            return 0.0
        return evidence(r.result.text, self.seen, self.config)

    def _plan(self, d: Decision) -> float:
        with SimSession(self.problem, seed=self.seed, epoch=self.config.epoch,
                        max_steps=len(self.prefix) + 3, policy="reward") as s:
            s.replay([_decision(a, s) for a in self.prefix])
            if s.done:
                return 0.0
            r = s.act(d)
            if r.result.is_error:
                return 0.0
            if not s.done and self.config.plan_settle_s:
                s.act(Decision(wait=min(self.config.plan_settle_s, 300.0)))
            return 1.0 if s.grade_submission(None)["success"] else 0.0

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


def _decision(action: dict[str, Any], session: SimSession) -> Decision:
    return Decision.from_tool_call(action.get("server"), action["tool"], dict(action.get("arguments") or {}),
                                   task=session.task.task, tools=session.tools)


def step_reward(completions: list[Any], *, config: RewardConfig | None = None, **kwargs: Any) -> list[float | None]:
    """The decision of a step-level row run in the simulator at that point of its verified episode (see the module
    docstring). Rows without ``reference``/``prefix``/``problem_id`` (episode-level rows) get None. Completions of
    the same row share one replayed simulator."""
    config = config or RewardConfig()
    n = len(completions)
    if not all(isinstance(kwargs.get(k), list | tuple) for k in ("reference", "prefix", "problem_id")):
        return [None] * n
    from bench.problems import ProblemSet

    problems = ProblemSet.builtin()
    for f in config.problem_files:
        problems.load_file(Path(f))
    boxes = _Toolboxes()
    groups: dict[str, list[int]] = {}
    for i in range(n):
        key = json.dumps([_col(kwargs, "episode_id", i), _col(kwargs, "step", i), _col(kwargs, "problem_id", i),
                          _col(kwargs, "seed", i), _col(kwargs, "prefix", i)], sort_keys=True, default=str)
        groups.setdefault(key, []).append(i)
    out: list[float | None] = [None] * n
    for idxs in groups.values():
        i0 = idxs[0]
        pid, reference = _col(kwargs, "problem_id", i0), _col(kwargs, "reference", i0)
        box = boxes.get(_col(kwargs, "tools", i0), _col(kwargs, "task", i0))
        if not pid or not isinstance(reference, dict) or box is None or pid not in problems:
            continue
        group = _Group(config, problems.get(pid), int(_col(kwargs, "seed", i0) or 0),
                       list(_col(kwargs, "prefix", i0) or []))
        try:
            for i in idxs:
                ts = turns(completions[i])
                j = judge(*ts[0], box) if ts else Judged(0)
                out[i] = group.score(j, reference, box)
        except Exception as e:  # a broken replay must not stop training: the row is left out, and said so
            warnings.warn(f"step_reward: {pid} step {_col(kwargs, 'step', i0)}: {type(e).__name__}: {e}",
                          RuntimeWarning, stacklevel=2)
            for i in idxs:
                out[i] = None
        finally:
            group.close()
    return out


# ---------------------------------------------------------------------------------------------------- outcome
def outcome_reward(completions: list[Any], *, config: RewardConfig | None = None, **kwargs: Any
                   ) -> list[float | None]:
    """The benchmark grade (its score, 0..1) of the episode each completion drove: from a ``grade`` column (grade
    dicts) or a ``success`` column, else from environments that expose ``last_grade`` but score nothing
    themselves. None where there is none (step-level rows; TRL's own ClusterEnv column)."""
    n = len(completions)
    out: list[float | None] = [None] * n
    for i in range(n):
        g, ok = _col(kwargs, "grade", i), _col(kwargs, "success", i)
        if isinstance(g, dict):
            success, score = grade_outcome(g)
            out[i] = score if score is not None else (None if success is None else float(success))
        elif isinstance(ok, bool):
            out[i] = float(ok)
        else:
            env = _col(kwargs, "environments", i)
            if env is not None and not hasattr(type(env), "get_reward"):
                eg = getattr(env, "last_grade", None)
                if isinstance(eg, dict):
                    out[i] = grade_outcome(eg)[1]
    return out


# ---------------------------------------------------------------------------------------------------- cost
def cost_reward(completions: list[Any], *, config: RewardConfig | None = None, **kwargs: Any) -> list[float | None]:
    """0 within budget; minus the fraction over it, for tokens written (``max_completion_tokens``) and tool calls
    made (``max_steps``), down to -1."""
    config = config or RewardConfig()
    ids = kwargs.get("completion_ids")
    out: list[float | None] = []
    for i, c in enumerate(completions):
        ts = turns(c)
        if isinstance(c, str) and isinstance(ids, list | tuple) and i < len(ids):
            tokens = len(ids[i])
        else:  # a multi-turn completion: what the model wrote, not the tool output it read
            tokens = sum(approx_tokens(t + (json.dumps(calls, default=str) if calls else "")) for t, calls in ts)
        calls = sum(len(c_) or len(re.findall(r"<\s*tool_call\s*>", t, re.I)) for t, c_ in ts)
        over = (max(0, tokens - config.max_completion_tokens) / config.max_completion_tokens
                + max(0, calls - config.max_steps) / config.max_steps)
        out.append(0.0 - min(1.0, round(over, 4)))
    return out


# ---------------------------------------------------------------------------------------------------- safety
def _plan_valid(arguments: dict[str, Any]) -> bool:
    from servers.executor.plan import parse_plan  # the executor's pure plan model, as the observer uses it

    args = arguments.get("plan") if isinstance(arguments.get("plan"), dict) else arguments
    actions = args.get("actions")
    if isinstance(actions, dict):
        actions = [actions]
    try:
        parse_plan({"id": "reward-check", "goal": str(args.get("goal") or "repair")[:512] or "repair",
                    "cluster": "reward-check", "actions": actions})
    except (ValidationError, ValueError, TypeError):
        return False
    return True


def _unsafe(call: RawCall) -> float:
    name = call.name.split(".")[-1].split("__")[-1].strip().lower()
    args = call.arguments or {}
    penalty = 0.0
    if name in WRITE_TOOLS:
        penalty += 1.0
    if "token" in args:
        penalty += 1.0
    if name == "kubectl" and _KUBECTL_WRITE.match(str(args.get("command") or "")):
        penalty += 0.5
    if name == "plan" and not _plan_valid(args):
        penalty += 0.5
    return penalty


def safety_reward(completions: list[Any], *, config: RewardConfig | None = None, **kwargs: Any
                  ) -> list[float | None]:
    """0 for a safe reply; -1 for a write tool called directly or a token in it, -0.5 for a mutating kubectl
    command or an invalid plan (summed over the turns, down to -1)."""
    out: list[float | None] = []
    for c in completions:
        penalty = 0.0
        for text, calls in turns(c):
            if looks_like_jws(text + json.dumps(calls, default=str)):
                penalty += 1.0
            parsed_calls: list[RawCall] = []
            with contextlib.suppress(ParseError):
                parsed_calls = parse_reply(text, calls or None).calls
            penalty += sum(_unsafe(call) for call in parsed_calls)
        out.append(0.0 - min(1.0, penalty))
    return out


REWARDS: dict[str, RewardFunc] = {f.__name__: f for f in (format_reward, step_reward, outcome_reward, cost_reward,
                                                          safety_reward)}
__all__: Sequence[str] = ("REWARDS", "RewardConfig", "cost_reward", "evidence", "facts", "format_reward",
                          "make_reward_funcs", "outcome_reward", "safety_reward", "step_reward")
