"""Why an episode failed, from its own steps and its grade: the AOI paper's failure classes plus ours.

- A, missing resolution: a mitigation episode that investigated but never proposed a repair;
- B, incomplete diagnosis: the answer stopped short: the faulty component never showed up abnormal in what was
  read, or it was named but the fault was not (analysis), or a fault was missed (detection "No");
- C, wrong diagnostic path: the evidence for the faulty component was read, but the answer followed another
  component (or called a healthy system faulty);
- D, missing verification: a repair was executed and nothing was read after it before submitting;
- E, premature termination: no answer (step budget, error, interrupted), or an answer before any read;
- F, incorrect fix: a repair was proposed but was invalid or failed, or it was executed and verified and the
  system still failed the oracle;
- U, unsafe or refused: a write tool called directly, a plan the executor refused or the observer's key may not
  sign.

Precedence: U, then E, then the task's own classes. The steps that show the class are kept with it (their index in
the episode, and a note). The grade's expected answer and the problem's faulty components are used here (the
evolver is offline and knows the answers); they never reach a policy or a lesson.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from bench.problems import BenchProblem
from evolver.evidence import executed, namespace_wide, targets
from evolver.symptoms import symptoms_in
from evolver.view import OBSERVER, WRITE_TOOLS, Call, calls, final_call, max_steps, submission
from observer.guidance import mentions, split_records
from transcripts.models import Episode

ClassCode = Literal["A", "B", "C", "D", "E", "F", "U"]
CLASSES: dict[str, str] = {
    "A": "missing resolution",
    "B": "incomplete diagnosis",
    "C": "wrong diagnostic path",
    "D": "missing verification",
    "E": "premature termination",
    "F": "incorrect fix",
    "U": "unsafe or refused action",
}
REFUSED_PLAN = ("refused", "awaiting_approval", "approval_timeout", "no_executor")


class EvidenceStep(BaseModel):
    step: int
    note: str


class Classification(BaseModel):
    code: ClassCode
    name: str
    reason: str
    evidence: list[EvidenceStep] = Field(default_factory=list)
    forced: bool = False  # the answer came on the last step the budget allowed

    def record(self) -> dict[str, object]:
        return self.model_dump(mode="json")


def _cls(code: ClassCode, reason: str, steps: list[tuple[int, str]], forced: bool = False) -> Classification:
    return Classification(code=code, name=CLASSES[code], reason=reason, forced=forced,
                          evidence=[EvidenceStep(step=i, note=n[:200]) for i, n in steps])


def _plan_status(c: Call) -> str:
    head = c.result.split("\n", 1)[0]
    return head.rsplit(": ", 1)[-1].split(" ", 1)[0] if ": " in head else ""


def _abnormal_mentions(reads: list[Call], name: str) -> list[Call]:
    return [c for c in reads if any(mentions(r, name) and symptoms_in(r) for r in split_records(c.result))]


def classify(ep: Episode, problem: BenchProblem) -> Classification:
    cs = calls(ep)
    last = final_call(cs)
    reads = [c for c in cs if c.is_read and not c.is_error]
    # U: unsafe or refused
    unsafe = [(c.idx, f"called {c.tool} directly") for c in cs if c.tool in WRITE_TOOLS]
    unsafe += [(c.idx, f"{c.tool} refused: {c.result[:120]}") for c in cs
               if c.is_error and "changes the cluster" in c.result]
    unsafe += [(c.idx, f"plan {_plan_status(c)}") for c in cs
               if c.server == OBSERVER and c.tool == "plan" and _plan_status(c) in REFUSED_PLAN]
    if unsafe:
        return _cls("U", "the episode attempted an action the executor refused or the observer may not sign",
                    unsafe)
    # E: no answer, or an answer without investigating
    if ep.status in ("failed", "interrupted") or last is None:
        why = (ep.meta or {}).get("error") or (ep.meta or {}).get("stop_reason") or ep.status
        tail = cs[-1] if cs else None
        return _cls("E", f"the episode ended without an answer ({why})",
                    [(tail.idx, f"last action: {tail.label()}")] if tail else [])
    budget = max_steps(ep)
    forced = budget is not None and last.n + 1 >= budget
    if not reads:
        return _cls("E", "answered before reading anything", [(last.idx, f"submitted at decision {last.n + 1}")],
                    forced)
    task = problem.task
    if task == "mitigation":
        return _mitigation(cs, reads, last, forced)
    answer = submission(ep)
    ts = targets(problem)
    if task == "detection":
        if isinstance(answer, str) and answer.strip().lower() == "no":
            return _cls("B", "a fault was missed: answered No", [(c.idx, f"read {c.label()}") for c in reads[-3:]]
                        + [(last.idx, "submitted No")], forced)
        return _cls("C", "a healthy system was read as faulty", [(last.idx, f"submitted {answer!r}: "
                                                                           f"{last.hypothesis[:120]}")], forced)
    named: list[str]
    if task == "localization":
        named = [str(x) for x in answer] if isinstance(answer, list) else []
    else:
        named = [t for t in ts if mentions(last.hypothesis, t)] or ([problem.namespace] if namespace_wide(problem)
                                                                      and last.hypothesis else [])
    right = [t for t in ts if t in named]
    if task == "analysis" and right:
        return _cls("B", "the faulty component was found but not the fault (analysis answer wrong)",
                    [(last.idx, f"hypothesis {last.hypothesis[:120]}; answered {answer}")], forced)
    seen = [c for t in ts for c in _abnormal_mentions(reads, t)]
    if seen:
        wrong_reads = [c for c in reads if c.tool not in ("cluster_overview", "topology", "traces", "metrics_overview")]
        steps = [(c.idx, f"showed {ts[0]} abnormal ({c.tool})") for c in seen[:2]]
        steps += [(c.idx, f"followed {c.label()}") for c in wrong_reads[-2:]]
        return _cls("C", f"the evidence for the faulty component was read, but the answer named "
                         f"{', '.join(named) or last.hypothesis[:80] or 'nothing'}", [*steps, (last.idx, "submitted")],
                    forced)
    return _cls("B", "the faulty component never showed up abnormal in what was read",
                [(c.idx, f"read {c.label()}") for c in reads[-3:]] + [(last.idx, "submitted")], forced)


def _mitigation(cs: list[Call], reads: list[Call], last: Call, forced: bool) -> Classification:
    plans = [c for c in cs if c.server == OBSERVER and c.tool == "plan"]
    done = [c for c in plans if executed(c)]
    if not plans:
        return _cls("A", "investigated but never proposed a repair",
                    [(c.idx, f"read {c.label()}") for c in reads[-2:]] + [(last.idx, "submitted without a repair")],
                    forced)
    if not done:
        return _cls("F", "the proposed repair was invalid or failed", [(c.idx, f"plan {_plan_status(c)}: "
                                                                              f"{c.result[:120]}") for c in plans],
                    forced)
    p = done[-1]
    after = [c for c in reads if c.n > p.n]
    if not after:
        return _cls("D", "a repair was executed and never verified", [(p.idx, "plan executed"),
                                                                       (last.idx, "submitted with no read after it")],
                    forced)
    return _cls("F", "a repair was executed and verified, but the fault remained (the wrong fix)",
                [(p.idx, f"plan executed: {', '.join(str(a.get('type')) for a in p.arguments.get('actions') or [])}"),
                 *[(c.idx, f"verified with {c.label()}") for c in after[-2:]]], forced)
