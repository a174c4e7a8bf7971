"""The ``search`` generator: a model-free repairer that works only from what the probe shows.

Each candidate replays the failed episode's useful reads (the successful reads before its first repair), then goes
on investigating with the rule-based baseline's evidence engine (``observer.baseline.Investigation``), plus what
the failure class says was missed:

- B, C (the diagnosis stopped short or went astray), and every second or later candidate: the logs and
  descriptions of the services next to an anomaly on the call graph (callers and callees from the traces);
- C and analysis failures: the answer the failed episode gave is not given again (the grade said it was wrong);
- D (no verification): the baseline always waits and verifies through the probe after a repair;
- F (incorrect fix): the failed episode's repair is not repeated: the next cause's repair, or a restart of what
  still crash-loops;
- A, E, U: investigate to the end (the reads the failed episode never made) and repair what the evidence calls
  for.

Candidates differ in which ranked explanation they answer with: attempt k answers with the k-th distinct answer
the evidence supports (the strongest first). Nothing here reads the simulator or the expected answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evolver.evidence import executed
from evolver.generators import Attempt, Candidate, FailureCase
from evolver.view import OBSERVER, calls, submission
from observer.baseline import VERIFY_WAIT_S, Diagnosis, Finding, Investigation
from observer.evidence import records
from observer.policy import Decision, Observation, TaskSpec, ToolCall, ToolInfo
from transcripts.models import Episode

PREFIX_PRIORITY = -100
EXPLORE_PRIORITY = 40
MAX_EXPLORE = 6  # neighbour reads added per candidate


@dataclass
class Variant:
    rank: int = 0
    explore: bool = False
    avoid_names: set[str] = field(default_factory=set)  # components the failed answer named (localization)
    avoid_answers: set[str] = field(default_factory=set)  # analysis answers already graded wrong
    avoid_repairs: set[tuple[str, str]] = field(default_factory=set)  # (type, name) of the failed repair
    exhausted: bool = False  # set during the replay: the evidence supported fewer answers than ``rank + 1``

    def describe(self) -> str:
        parts = [f"answer #{self.rank + 1} by evidence"]
        if self.explore:
            parts.append("read the call-graph neighbours of anomalies")
        if self.avoid_names or self.avoid_answers:
            parts.append(f"not {', '.join(sorted(self.avoid_names | self.avoid_answers))}")
        if self.avoid_repairs:
            parts.append(f"not the repair {', '.join(f'{t} {n}' for t, n in sorted(self.avoid_repairs))}")
        return "; ".join(parts)


class SearchInvestigation(Investigation):
    """The baseline's investigation with a chosen answer rank, exploration of call-graph neighbours, and answers
    and repairs to avoid."""

    def __init__(self, task: TaskSpec, tools: list[ToolInfo], verify_wait_s: float, variant: Variant):
        self.variant = variant
        self.edges: set[tuple[str, str]] = set()
        self.explored = 0
        super().__init__(task, tools, verify_wait_s)

    def _on_probe_traces(self, args: dict[str, Any], data: dict[str, Any], text: str) -> None:
        for e in records(data.get("edges")):
            if e.get("caller") and e.get("callee"):
                self.edges.add((str(e["caller"]), str(e["callee"])))
        super()._on_probe_traces(args, data, text)

    def ingest(self, d: Decision, r: Any) -> None:
        super().ingest(d, r)
        if self.variant.explore and self.stage == "investigate":
            self._explore()

    def _explore(self) -> None:
        score: dict[str, float] = {}
        for f in self.findings:
            if f.weight >= 3 and f.component:
                score[f.component] = score.get(f.component, 0.0) + f.weight
        for comp in sorted(score, key=lambda c: -score[c])[:3]:
            for a, b in sorted(self.edges):
                other = b if a == comp else a if b == comp else None
                if other is None or self.explored >= MAX_EXPLORE or other not in self.services:
                    continue
                wl = self.workload_of(other)
                before = len(self.queue)
                self._add("probe", "logs", {"namespace": self.ns, "workload": wl, "errors_only": True},
                          f"{other} is next to {comp} on the call graph", EXPLORE_PRIORITY)
                self._add("probe", "describe", {"kind": wl.split("/")[0], "name": wl.split("/", 1)[-1],
                                                "namespace": self.ns}, f"{other} is next to {comp}", EXPLORE_PRIORITY)
                self.explored += len(self.queue) - before

    def _answer_key(self, f: Finding) -> str:
        task = self.task.task
        if task == "analysis":
            return f"{f.system_level or self._level(f)} / {f.fault_type or self._type(f)}"
        if task == "mitigation":
            return f"{f.kind}:{f.component}"
        return f.component

    def options(self) -> list[Finding]:
        """Distinct answers the evidence supports, strongest first, without the ones to avoid."""
        fs = [f for f in self.findings if f.weight >= 3]
        score: dict[str, float] = {}
        for f in fs:
            score[f.component] = score.get(f.component, 0.0) + f.weight
        ordered = sorted(fs, key=lambda f: (-(f.weight + 0.05 * score[f.component]), f.component))
        out: dict[str, Finding] = {}
        for f in ordered:
            key = self._answer_key(f)
            if key in out or key in self.variant.avoid_answers:
                continue
            if self.task.task == "localization" and f.component in self.variant.avoid_names:
                continue
            out[key] = f
        return list(out.values())

    def diagnose(self) -> Diagnosis:
        base = super().diagnose()
        opts = self.options()
        if not opts or base.cause is None:
            return base
        self.variant.exhausted = self.variant.rank >= len(opts)
        pick = opts[min(self.variant.rank, len(opts) - 1)]
        return Diagnosis(True, pick.component or None, pick, self.findings)

    def _repair(self, d: Diagnosis) -> list[dict[str, Any]]:
        actions = super()._repair(d)
        if actions and {(a["type"], str(a.get("name"))) for a in actions} <= self.variant.avoid_repairs:
            return [a for a in self._fallback() if (a["type"], str(a.get("name"))) not in self.variant.avoid_repairs]
        return actions


class SearchPolicy:
    """Replays a prefix of reads, then investigates, answers and repairs as its :class:`Variant` says."""

    model: str | None = None

    def __init__(self, prefix: list[ToolCall], variant: Variant, verify_wait_s: float = VERIFY_WAIT_S,
                 name: str = "evolver-search"):
        self.prefix = prefix
        self.variant = variant
        self.verify_wait_s = verify_wait_s
        self.name = name
        self.inv: SearchInvestigation | None = None

    def start(self, task: TaskSpec, tools: list[ToolInfo]) -> None:
        self.inv = SearchInvestigation(task, tools, self.verify_wait_s, self.variant)
        for i, call in enumerate(self.prefix):
            self.inv._add(call.server, call.tool, call.arguments, "kept from the failed episode", PREFIX_PRIORITY + i)

    def decide(self, obs: Observation) -> Decision:
        assert self.inv is not None, "start() was not called"
        if obs.last_decision is not None and obs.last is not None:
            self.inv.ingest(obs.last_decision, obs.last)
        return self.inv.next(obs)


def useful_reads(episode: Episode) -> list[ToolCall]:
    """The failed episode's successful reads before its first repair, without repeats."""
    out: dict[str, ToolCall] = {}
    for c in calls(episode):
        if c.server == OBSERVER and c.tool == "plan":
            break
        if c.is_read and not c.is_error:
            call = ToolCall(server=c.server, tool=c.tool, arguments=c.arguments)
            out.setdefault(call.key(), call)
    return list(out.values())


class SearchGenerator:
    name = "search"

    def __init__(self, max_options: int = 6, verify_wait_s: float = VERIFY_WAIT_S, **_: Any):
        self.max_options = max_options
        self.verify_wait_s = verify_wait_s

    def variant(self, case: FailureCase, attempt: int) -> Variant:
        code = case.failure.code
        task = case.problem.task
        # E (answered too early) needs only the investigation it skipped; B and C missed something next to it.
        v = Variant(rank=attempt, explore=code in ("B", "C") or attempt > 0)
        answer = submission(case.episode)
        if task == "localization" and isinstance(answer, list):
            v.avoid_names = {str(x) for x in answer}
        if task == "analysis" and isinstance(answer, dict):
            v.avoid_answers = {f"{answer.get('system_level')} / {answer.get('fault_type')}"}
        if code == "F":
            for c in calls(case.episode):
                if executed(c):
                    v.avoid_repairs |= {(str(a.get("type")), str(a.get("name")))
                                        for a in c.arguments.get("actions") or [] if isinstance(a, dict)}
        if v.avoid_names or v.avoid_answers:
            v.rank = attempt  # the avoided answer is already out of the ranking
        return v

    def candidate(self, case: FailureCase, attempt: int, tried: list[Attempt]) -> Candidate | None:
        if attempt >= self.max_options:
            return None
        prefix = useful_reads(case.episode)
        v = self.variant(case, attempt)
        label = f"search#{attempt}: keep {len(prefix)} reads; {v.describe()}"
        return Candidate(label=label, policy=SearchPolicy(prefix, v, self.verify_wait_s),
                         notes={"kept_reads": len(prefix), "rank": v.rank, "explore": v.explore},
                         exhausted=lambda: v.exhausted)
