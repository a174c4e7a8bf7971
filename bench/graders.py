"""Graders, one per task type, as AIOpsLab grades (``orchestrator/tasks/*.py``, see docs/benchmarks.md):

- detection: the submission is a string and ``strip().lower()`` equals the expected "yes"/"no"; anything else is
  ``Invalid Format``;
- localization: success is an exact match of the list with the target, or the target as the only name submitted
  (case-sensitive; ``revoke_auth``/``user_unregistered`` also accept the name without ``mongodb-``); accuracy is 100,
  100/len for a subset, else 0; plus Acc@1 / Acc@3 (the AIOpsLab paper's: the target among the first 1 / 3 names);
- analysis: a dict whose ``system_level`` and ``fault_type`` each match (trimmed, case-insensitive);
- mitigation: the cluster's state after the agent stops, checked by the problem's oracle (the submission is not
  graded).

A grader is ``(problem, submission, submitted, GradeContext) -> dict``; the dict always has ``task``,
``success``, ``score`` and ``submitted``. New graders are added to ``GRADERS`` by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.problems import BenchProblem


@dataclass(frozen=True)
class GradeContext:
    """What a state-based grader needs: the simulated cluster after the episode and the injected fault."""

    cluster: Any = None
    fault: Any = None


Grader = Callable[["BenchProblem", Any, bool, GradeContext], dict[str, Any]]


def _base(problem: BenchProblem, submission: Any, submitted: bool, ok: bool) -> dict[str, Any]:
    return {"task": problem.task, "submitted": submission if submitted else None, "success": ok,
            "score": 1.0 if ok else 0.0}


def grade_detection(problem: BenchProblem, submission: Any, submitted: bool, ctx: GradeContext) -> dict[str, Any]:
    expected = str(problem.answer)
    valid = submitted and isinstance(submission, str)
    ok = bool(valid and submission.strip().lower() == expected.lower())
    return {**_base(problem, submission, submitted, ok), "expected": expected,
            "detection_accuracy": "Correct" if ok else ("Incorrect" if valid else "Invalid Format")}


def _names(submission: Any, submitted: bool) -> list[str] | None:
    """The submitted component names, or None when the submission is not a name or a list of names."""
    if not submitted or submission is None:
        return None
    if isinstance(submission, str):
        return [submission]
    if isinstance(submission, list | tuple) and all(isinstance(x, str) for x in submission):
        return list(submission)
    return None


def grade_localization(problem: BenchProblem, submission: Any, submitted: bool,
                       ctx: GradeContext) -> dict[str, Any]:
    accepted = problem.accepted_localizations
    names = _names(submission, submitted)
    valid = names is not None
    names = names or []
    targets = {t for a in accepted for t in a}
    exact = any(names == a for a in accepted)
    subset = bool(targets & set(names))
    ok = exact or (subset and len(names) == 1)
    accuracy = 100.0 if exact else (100.0 / len(names) if subset and names else 0.0)
    return {**_base(problem, submission, submitted, ok), "expected": accepted, "localization_accuracy": accuracy,
            "is_subset": subset, "acc_at_1": bool(targets & set(names[:1])),
            "acc_at_3": bool(targets & set(names[:3])), "valid_format": valid}


def grade_analysis(problem: BenchProblem, submission: Any, submitted: bool, ctx: GradeContext) -> dict[str, Any]:
    expected = dict(problem.answer)
    valid = submitted and isinstance(submission, dict)
    sub = submission if valid else {}

    def same(key: str) -> bool:
        value = sub.get(key)
        return isinstance(value, str) and value.strip().lower() == str(expected[key]).strip().lower()

    level, ftype = same("system_level"), same("fault_type")
    return {**_base(problem, submission, submitted, level and ftype), "expected": expected,
            "system_level_correct": level, "fault_type_correct": ftype, "valid_format": valid}


def grade_mitigation(problem: BenchProblem, submission: Any, submitted: bool, ctx: GradeContext) -> dict[str, Any]:
    if ctx.cluster is None or ctx.fault is None:
        raise ValueError("the mitigation grader needs the cluster and the fault (GradeContext)")
    from cluster.sim.faults.oracles import mitigated

    verdict = mitigated(ctx.cluster, ctx.fault)
    return {**_base(problem, submission, submitted, verdict.success), "oracle": problem.answer,
            "reasons": list(verdict.reasons)}


GRADERS: dict[str, Grader] = {
    "detection": grade_detection,
    "localization": grade_localization,
    "analysis": grade_analysis,
    "mitigation": grade_mitigation,
}


def grade(problem: BenchProblem, submission: Any, submitted: bool, ctx: GradeContext | None = None) -> dict[str, Any]:
    """Grade one submission with the problem's grader."""
    return GRADERS[problem.grader_name](problem, submission, submitted, ctx or GradeContext())
