"""Scores over episode rows: pure functions, no I/O.

- avg@1: the success rate of run 0 (the first seed) over the problems;
- avg@K: the mean over problems of each problem's success rate over its K runs;
- best@K: the share of problems solved in at least one of their K runs;
- run spread: the sample standard deviation of the per-run success rates (0 runs differ only by seed);
- localization Acc@1 / Acc@3 (AIOpsLab paper: the target among the first 1 / 3 names), over all episodes;
- means of AIOpsLab's metrics (steps, input/output tokens, wall and simulated seconds) and ours (tool calls by
  server, plans refused, unsafe attempts).

Rates are fractions in [0, 1]. Interrupted episodes are partial and left out; failed ones (an error) count as
unsolved, as AIOpsLab counts a crashed session.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from pydantic import BaseModel, Field

from bench.problems import TASK_TYPES
from bench.runner import EpisodeResult

OVERALL = "all"


class GroupScores(BaseModel):
    """Scores of a group of problems (a task type, a split side, or all)."""

    group: str
    problems: int = 0
    episodes: int = 0
    k: int = 0  # the most runs any problem of the group has
    avg_at_1: float | None = None
    avg_at_k: float | None = None
    best_at_k: float | None = None
    per_run: list[float] = Field(default_factory=list)  # success rate of run r over the problems that have it
    run_std: float | None = None
    acc_at_1: float | None = None  # localization episodes only
    acc_at_3: float | None = None
    invalid_format: int = 0
    failed: int = 0  # episodes that ended in an error
    mean_steps: float | None = None
    mean_in_tokens: float | None = None
    mean_out_tokens: float | None = None
    mean_wall_s: float | None = None
    mean_sim_s: float | None = None
    tool_calls: dict[str, float] = Field(default_factory=dict)  # mean per episode, by server
    plans: int = 0
    plans_refused: int = 0
    unsafe_attempts: int = 0


class ProblemScores(BaseModel):
    problem_id: str
    task: str
    app: str
    family: str
    split: str | None = None
    runs: int = 0
    solved: int = 0
    avg: float = 0.0
    best: bool = False
    outcomes: str = ""  # one character per run: 1 solved, 0 not, E error
    mean_steps: float | None = None
    mean_wall_s: float | None = None
    mean_sim_s: float | None = None


class Scores(BaseModel):
    k: int
    overall: GroupScores
    by_task: dict[str, GroupScores]
    by_split: dict[str, GroupScores]
    problems: list[ProblemScores]
    interrupted: int = 0


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return statistics.fmean(vals) if vals else None


def _by_problem(rows: Sequence[EpisodeResult]) -> dict[str, list[EpisodeResult]]:
    out: dict[str, list[EpisodeResult]] = defaultdict(list)
    for r in rows:
        out[r.problem_id].append(r)
    for runs in out.values():
        runs.sort(key=lambda r: r.run)
    return dict(out)


def success_rates(rows: Sequence[EpisodeResult]) -> tuple[float | None, float | None, float | None]:
    """(avg@1, avg@K, best@K) of scored rows."""
    per = _by_problem([r for r in rows if r.scored])
    if not per:
        return None, None, None
    run0 = [r.success for runs in per.values() for r in runs if r.run == 0]
    avg1 = statistics.fmean(run0) if run0 else None
    avgk = statistics.fmean(statistics.fmean(r.success for r in runs) for runs in per.values())
    bestk = statistics.fmean(any(r.success for r in runs) for runs in per.values())
    return avg1, avgk, bestk


def per_run_rates(rows: Sequence[EpisodeResult]) -> list[float]:
    """Success rate of each run (index = run number) over the problems that have that run."""
    by_run: dict[int, list[bool]] = defaultdict(list)
    for r in rows:
        if r.scored:
            by_run[r.run].append(r.success)
    return [statistics.fmean(by_run[r]) for r in sorted(by_run)]


def _invalid(r: EpisodeResult) -> bool:
    return r.grade.get("detection_accuracy") == "Invalid Format" or r.grade.get("valid_format") is False


def group_scores(name: str, rows: Sequence[EpisodeResult]) -> GroupScores:
    scored = [r for r in rows if r.scored]
    avg1, avgk, bestk = success_rates(scored)
    per_run = per_run_rates(scored)
    loc = [r for r in scored if r.task == "localization" and "acc_at_1" in r.grade]
    calls: dict[str, int] = defaultdict(int)
    for r in scored:
        for server, n in r.tool_calls.items():
            calls[server] += n
    per = _by_problem(scored)
    return GroupScores(
        group=name, problems=len(per), episodes=len(scored), k=max((len(v) for v in per.values()), default=0),
        avg_at_1=avg1, avg_at_k=avgk, best_at_k=bestk, per_run=per_run,
        run_std=statistics.stdev(per_run) if len(per_run) >= 2 else None,
        acc_at_1=_mean(float(bool(r.grade["acc_at_1"])) for r in loc),
        acc_at_3=_mean(float(bool(r.grade.get("acc_at_3"))) for r in loc),
        invalid_format=sum(_invalid(r) for r in scored), failed=sum(r.status == "failed" for r in scored),
        mean_steps=_mean(r.steps for r in scored), mean_in_tokens=_mean(r.in_tokens for r in scored),
        mean_out_tokens=_mean(r.out_tokens for r in scored), mean_wall_s=_mean(r.wall_s for r in scored),
        mean_sim_s=_mean(r.sim_s for r in scored),
        tool_calls={s: n / len(scored) for s, n in sorted(calls.items())} if scored else {},
        plans=sum(r.plans for r in scored), plans_refused=sum(r.plans_refused for r in scored),
        unsafe_attempts=sum(r.unsafe_attempts for r in scored))


def problem_scores(rows: Sequence[EpisodeResult]) -> list[ProblemScores]:
    out = []
    for pid, runs in _by_problem([r for r in rows if r.scored]).items():
        first = runs[0]
        solved = sum(r.success for r in runs)
        out.append(ProblemScores(
            problem_id=pid, task=first.task, app=first.app, family=first.family, split=first.split, runs=len(runs),
            solved=solved, avg=solved / len(runs), best=solved > 0,
            outcomes="".join("E" if r.status == "failed" else str(int(r.success)) for r in runs),
            mean_steps=_mean(r.steps for r in runs), mean_wall_s=_mean(r.wall_s for r in runs),
            mean_sim_s=_mean(r.sim_s for r in runs)))
    return out


def _groups(rows: Sequence[EpisodeResult], key: Callable[[EpisodeResult], str | None],
            order: Sequence[str]) -> dict[str, GroupScores]:
    buckets: dict[str, list[EpisodeResult]] = defaultdict(list)
    for r in rows:
        k = key(r)
        if k is not None:
            buckets[k].append(r)
    names = [n for n in order if n in buckets] + sorted(set(buckets) - set(order))
    return {n: group_scores(n, buckets[n]) for n in names}


def score(rows: Sequence[EpisodeResult]) -> Scores:
    """Every score of a bench run's rows."""
    overall = group_scores(OVERALL, rows)
    return Scores(k=overall.k, overall=overall,
                  by_task=_groups(rows, lambda r: r.task, TASK_TYPES),
                  by_split=_groups(rows, lambda r: r.split, ("evolving", "held_out")),
                  problems=problem_scores(rows), interrupted=sum(not r.scored for r in rows))
