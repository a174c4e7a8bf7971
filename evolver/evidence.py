"""Is an answer supported by what the episode read? A guess that happened to be right is not a correction.

The answer's claims must each appear in a record of a tool result the episode read before it submitted, in a record
that shows a symptom (``evolver.symptoms``): a component named next to nothing abnormal (every service is listed
in a topology) does not support an answer. What the claims are:

- localization: every name submitted;
- analysis, mitigation: the faulty components the final hypothesis names (the problem's accepted components; a
  fault of the whole namespace needs only some abnormal record); for mitigation also every target of an executed
  plan must have been read about before the plan;
- detection: "Yes" needs some abnormal record; "No" needs at least one read.

The problem's accepted components come from the benchmark (``bench``): the evolver knows the answers, the policy
never does; the check only asks whether the policy's own evidence showed what its answer says.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from bench.problems import BenchProblem
from evolver.symptoms import symptoms_in
from evolver.view import OBSERVER, Call, calls, final_call, submission
from observer.guidance import mentions, split_records
from transcripts.models import Episode


class Support(BaseModel):
    claim: str
    step: int
    tool: str
    symptoms: list[str]
    excerpt: str


class EvidenceCheck(BaseModel):
    ok: bool
    reason: str
    claims: list[str] = Field(default_factory=list)
    support: list[Support] = Field(default_factory=list)


def targets(problem: BenchProblem) -> list[str]:
    return [t for t in dict.fromkeys(x for a in problem.accepted_localizations for x in a) if t]


def namespace_wide(problem: BenchProblem) -> bool:
    ts = targets(problem)
    return bool(ts) and all(t == problem.namespace for t in ts)


def _abnormal(reads: list[Call]) -> list[tuple[Call, str, list[str]]]:
    out = []
    for c in reads:
        for rec in split_records(c.result):
            found = symptoms_in(rec)
            if found:
                out.append((c, rec, [s.id for s in found]))
    return out


def _support(claim: str, abnormal: list[tuple[Call, str, list[str]]]) -> Support | None:
    for c, rec, ids in abnormal:
        if mentions(rec, claim):
            return Support(claim=claim, step=c.idx, tool=c.tool, symptoms=ids, excerpt=" ".join(rec.split())[:240])
    return None


def check_evidence(ep: Episode, problem: BenchProblem) -> EvidenceCheck:
    cs = calls(ep)
    last = final_call(cs)
    if last is None:
        return EvidenceCheck(ok=False, reason="the episode never submitted an answer")
    reads = [c for c in cs if c.is_read and not c.is_error and c.n < last.n]
    abnormal = _abnormal(reads)
    answer: Any = submission(ep)
    task = problem.task
    if task == "detection":
        if isinstance(answer, str) and answer.strip().lower() == "no":
            return EvidenceCheck(ok=bool(reads), claims=["no anomaly"], reason="answered No after reading the cluster"
                                 if reads else "answered No without reading anything")
        if not abnormal:
            return EvidenceCheck(ok=False, claims=["anomaly"],
                                 reason="answered Yes but no result read showed a symptom")
        c, rec, ids = abnormal[0]
        return EvidenceCheck(ok=True, claims=["anomaly"], reason="a result showed a symptom", support=[Support(
            claim="anomaly", step=c.idx, tool=c.tool, symptoms=ids, excerpt=" ".join(rec.split())[:240])])
    if task == "localization":
        claims = [str(x) for x in answer] if isinstance(answer, list) else ([answer] if isinstance(answer, str) else [])
    else:
        hyp = last.hypothesis
        claims = [t for t in targets(problem) if mentions(hyp, t)]
        if namespace_wide(problem):
            claims = [problem.namespace]
    if not claims:
        return EvidenceCheck(ok=False, reason="the answer names no faulty component (its final hypothesis: "
                             f"{last.hypothesis[:160]!r})")
    support: list[Support] = []
    for claim in claims:
        if claim == problem.namespace and namespace_wide(problem):
            found = _support_any(claim, abnormal)
        else:
            found = _support(claim, abnormal)
        if found is None:
            return EvidenceCheck(ok=False, claims=claims, support=support,
                                 reason=f"{claim!r} appears in no abnormal record of a result the episode read")
        support.append(found)
    if task == "mitigation":
        problem_ = _ungrounded_plan_targets(cs, last)
        if problem_:
            return EvidenceCheck(ok=False, claims=claims, support=support, reason=problem_)
    return EvidenceCheck(ok=True, claims=claims, support=support, reason="every claim appears in an abnormal record "
                         "the episode read")


def _support_any(claim: str, abnormal: list[tuple[Call, str, list[str]]]) -> Support | None:
    if not abnormal:
        return None
    c, rec, ids = abnormal[0]
    return Support(claim=claim, step=c.idx, tool=c.tool, symptoms=ids, excerpt=" ".join(rec.split())[:240])


def plan_targets(c: Call) -> list[str]:
    actions = c.arguments.get("actions") if isinstance(c.arguments, dict) else None
    return [str(a.get("name")) for a in actions or [] if isinstance(a, dict) and a.get("name")]


def executed(c: Call) -> bool:
    return c.server == OBSERVER and c.tool == "plan" and not c.is_error and ": executed" in c.result.split("\n", 1)[0]


def _ungrounded_plan_targets(cs: list[Call], last: Call) -> str | None:
    for p in cs:
        if p.n >= last.n or not executed(p):
            continue
        before = [c for c in cs if c.is_read and not c.is_error and c.n < p.n]
        for name in plan_targets(p):
            if not any(mentions(c.result, name) for c in before):
                return f"the plan at step {p.idx} acts on {name!r}, which no result read before it mentions"
    return None
