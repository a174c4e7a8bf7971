"""Scores math on constructed rows: avg@1, avg@K, best@K, run spread, Acc@1/Acc@3, means; interrupted rows left
out, failed rows counted as unsolved."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from bench.runner import EpisodeResult
from bench.scores import score, success_rates


def row(pid: str, run: int, success: bool, task: str = "detection", **kw: Any) -> EpisodeResult:
    base: dict[str, Any] = {"bench_run": "b", "run": run, "seed": run, "problem_id": pid, "task": task,
                            "app": "social-network", "family": "noop", "status": "completed", "success": success,
                            "score": float(success), "steps": 10, "in_tokens": 1000, "out_tokens": 100,
                            "wall_s": 1.0, "sim_s": 30.0}
    return EpisodeResult(**{**base, **kw})


def test_avg_and_best() -> None:
    # p1 solved in runs 0 and 2, p2 never, p3 always, p4 only in run 1 -> K = 3
    outcomes = {"p1": (1, 0, 1), "p2": (0, 0, 0), "p3": (1, 1, 1), "p4": (0, 1, 0)}
    rows = [row(p, r, bool(ok)) for p, runs in outcomes.items() for r, ok in enumerate(runs)]
    s = score(rows)
    o = s.overall
    assert s.k == o.k == 3 and o.problems == 4 and o.episodes == 12
    assert o.avg_at_1 == pytest.approx(2 / 4)  # run 0: p1, p3
    assert o.avg_at_k == pytest.approx((2 / 3 + 0 + 1 + 1 / 3) / 4)
    assert o.best_at_k == pytest.approx(3 / 4)
    assert o.per_run == [0.5, 0.5, 0.5] and o.run_std == 0.0
    p1 = next(p for p in s.problems if p.problem_id == "p1")
    assert (p1.runs, p1.solved, p1.avg, p1.best, p1.outcomes) == (3, 2, pytest.approx(2 / 3), True, "101")


def test_run_spread() -> None:
    outcomes = {"p1": (1, 1, 0), "p2": (1, 0, 0)}  # per run: 1.0, 0.5, 0.0
    rows = [row(p, r, bool(ok)) for p, runs in outcomes.items() for r, ok in enumerate(runs)]
    o = score(rows).overall
    assert o.per_run == [1.0, 0.5, 0.0]
    assert o.run_std == pytest.approx(statistics.stdev([1.0, 0.5, 0.0]))
    assert score([r for r in rows if r.run == 0]).overall.run_std is None  # one run: no spread


def test_by_task_and_split() -> None:
    rows = [row("d", 0, True), row("d", 1, True),
            row("l", 0, False, "localization", grade={"acc_at_1": False, "acc_at_3": True}, split="held_out"),
            row("l", 1, True, "localization", grade={"acc_at_1": True, "acc_at_3": True}, split="held_out"),
            row("m", 0, True, "mitigation", plans=2, plans_refused=1, unsafe_attempts=1, tool_calls={"probe": 9}),
            row("m", 1, False, "mitigation", tool_calls={"probe": 7, "executor": 2}, steps=20, sim_s=90.0)]
    s = score(rows)
    assert list(s.by_task) == ["detection", "localization", "mitigation"]  # AIOpsLab's order, absent types out
    loc = s.by_task["localization"]
    assert (loc.avg_at_1, loc.avg_at_k, loc.best_at_k) == (0.0, 0.5, 1.0)
    assert (loc.acc_at_1, loc.acc_at_3) == (0.5, 1.0)
    assert s.by_task["detection"].acc_at_1 is None  # only localization has Acc@k
    m = s.by_task["mitigation"]
    assert m.mean_steps == 15.0 and m.mean_sim_s == 60.0 and m.tool_calls == {"executor": 1.0, "probe": 8.0}
    assert (m.plans, m.plans_refused, m.unsafe_attempts) == (2, 1, 1)
    assert list(s.by_split) == ["held_out"] and s.by_split["held_out"].problems == 1
    assert s.overall.avg_at_1 == pytest.approx(2 / 3) and s.overall.best_at_k == 1.0


def test_interrupted_left_out_failed_counted() -> None:
    rows = [row("a", 0, True), row("a", 1, False, status="interrupted"),
            row("b", 0, False, status="failed", error="boom"), row("b", 1, True)]
    s = score(rows)
    assert s.interrupted == 1 and s.overall.episodes == 3 and s.overall.failed == 1
    assert s.overall.avg_at_1 == 0.5  # a solved, b failed
    assert s.overall.avg_at_k == pytest.approx((1.0 + 0.5) / 2)  # a over its one scored run
    assert next(p for p in s.problems if p.problem_id == "b").outcomes == "E1"


def test_invalid_format_and_empty() -> None:
    rows = [row("d", 0, False, grade={"detection_accuracy": "Invalid Format"}),
            row("l", 0, False, "localization", grade={"valid_format": False, "acc_at_1": False, "acc_at_3": False})]
    assert score(rows).overall.invalid_format == 2
    assert success_rates([]) == (None, None, None)
    empty = score([])
    assert empty.overall.episodes == 0 and empty.overall.avg_at_k is None and empty.problems == []
