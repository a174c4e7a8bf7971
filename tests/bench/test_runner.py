"""The runner end to end: one problem of each task type (and a known miss) x 2 runs on 2 worker processes, the
scores, the files written, the transcripts with their grades; exact repeats; errors; Ctrl-C."""

from __future__ import annotations

import csv
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.report import ReportFiles
from bench.runner import BenchConfig, BenchError, BenchOutcome, PolicySpec, run_bench, select_problems
from bench.scores import Scores
from cluster.sim.clock import DEFAULT_EPOCH
from tests.bench.conftest import MISSED, SMALL, problem_file
from transcripts import TranscriptStore

Bench = tuple[BenchOutcome, Scores, ReportFiles]


def test_every_episode_ran_graded(small_bench: Bench) -> None:
    outcome, _, _ = small_bench
    assert not outcome.interrupted and outcome.not_run == 0
    assert [(r.run, r.problem_id) for r in outcome.rows] == [(r, p) for r in range(2) for p in SMALL]
    for r in outcome.rows:
        assert r.status == "completed" and r.stop_reason == "submitted", r
        assert r.seed == r.run  # seed 0 + run
        assert r.success is (r.problem_id != MISSED), r
        assert r.steps > 0 and r.in_tokens > 0 and r.out_tokens > 0 and r.wall_s > 0 and r.tool_calls["probe"] > 0
    mit = [r for r in outcome.rows if r.task == "mitigation"]
    assert all(r.plans >= 1 and r.sim_s and r.sim_s > 0 for r in mit)  # a plan ran, simulated time passed


def test_scores(small_bench: Bench) -> None:
    _, s, _ = small_bench
    assert s.k == 2 and s.interrupted == 0
    assert (s.overall.avg_at_1, s.overall.avg_at_k, s.overall.best_at_k) == (0.8, 0.8, 0.8)
    assert s.overall.per_run == [0.8, 0.8] and s.overall.run_std == 0.0
    loc = s.by_task["localization"]
    assert (loc.problems, loc.avg_at_1, loc.avg_at_k, loc.best_at_k) == (2, 0.5, 0.5, 0.5)
    assert (loc.acc_at_1, loc.acc_at_3) == (0.5, 0.5)
    for task in ("detection", "analysis", "mitigation"):
        assert s.by_task[task].best_at_k == 1.0 and s.by_task[task].episodes == 2
    assert {p.problem_id: p.outcomes for p in s.problems}[MISSED] == "00"


def test_transcripts_carry_grades(small_bench: Bench) -> None:
    """Concurrent writers (two workers) into one SQLite store: every episode there, finished, graded, tagged."""
    outcome, _, _ = small_bench
    with TranscriptStore(outcome.config.transcripts) as store:
        eps = {e.id: e for e in store.episodes(limit=None)}
        assert set(eps) == {r.episode_id for r in outcome.rows}
        for r in outcome.rows:
            ep = store.episode(r.episode_id)  # type: ignore[arg-type]
            assert ep.status == "completed" and ep.problem_id == r.problem_id and ep.seed == r.seed
            assert ep.success is r.success and ep.grade and ep.grade["metrics"]["steps"] == r.steps
            assert ep.meta["bench_run"] == outcome.config.bench_run and ep.meta["run"] == r.run


def test_files_written(small_bench: Bench) -> None:
    _, _, files = small_bench
    data = json.loads(files.json_path.read_text())
    assert data["config"]["runs"] == 2 and data["config"]["seeds"] == [0, 1] and data["interrupted"] is False
    assert len(data["episodes"]) == 10 and data["scores"]["overall"]["best_at_k"] == 0.8
    with files.csv_path.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10 and {r["problem_id"] for r in rows} == set(SMALL)
    assert {r["success"] for r in rows if r["problem_id"] == MISSED} == {"False"}
    assert all(r["episode_id"] for r in rows)
    md = files.summary.read_text()
    assert "| **all** | 5 | 10 | 80.0% | 80.0% | 80.0% |" in md
    assert f"| {MISSED} | localization |" in md and "simulator result" in md
    assert files.chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and files.chart.stat().st_size > 5000


def test_runs_repeat_exactly(small_bench: Bench, tmp_path: Path) -> None:
    """The same seed and epoch give the same episode, in a worker process or in this one."""
    outcome, _, _ = small_bench
    pid = "scale_pod_zero_social_net-mitigation-1"
    again = run_bench(BenchConfig(problems=select_problems(pid), seed=1, transcripts=tmp_path / "t.db",
                                  epoch=DEFAULT_EPOCH))
    (mine,) = again.rows
    theirs = next(r for r in outcome.rows if r.problem_id == pid and r.run == 1)
    keys = ("success", "submission", "steps", "in_tokens", "out_tokens", "tool_calls", "sim_s", "plans")
    assert mine.model_dump(include=set(keys)) == theirs.model_dump(include=set(keys))
    with TranscriptStore(tmp_path / "t.db") as a, TranscriptStore(outcome.config.transcripts) as b:
        tools_a = [(s.tool, s.arguments) for s in a.episode(mine.episode_id).steps]  # type: ignore[arg-type]
        tools_b = [(s.tool, s.arguments) for s in b.episode(theirs.episode_id).steps]  # type: ignore[arg-type]
    assert tools_a == tools_b


def test_an_error_fails_one_episode_and_the_bench_goes_on(tmp_path: Path) -> None:
    bad = problem_file(tmp_path / "bad.yaml", "- id: ghost-detection\n  task: detection\n  app: social-network\n"
                       "  fault: {family: k8s_target_port-misconfig, target: no-such-service}\n")
    problems = select_problems("ghost-detection,noop_detection_social_network-1", [bad])
    outcome = run_bench(BenchConfig(problems=problems, transcripts=tmp_path / "t.db", epoch=DEFAULT_EPOCH))
    ghost, noop = outcome.rows
    assert ghost.status == "failed" and not ghost.success and "no-such-service" in (ghost.error or "")
    assert noop.status == "completed" and noop.success


@pytest.mark.parametrize("parallel", [1, 2])
def test_a_policy_that_cannot_be_built_stops_the_bench(tmp_path: Path, parallel: int) -> None:
    cfg = BenchConfig(problems=select_problems("noop_detection_social_network-1,noop_detection_hotel_reservation-1"),
                      policy=PolicySpec(name="no-such-policy"), parallel=parallel, transcripts=tmp_path / "t.db")
    with pytest.raises(BenchError, match=r"cannot build the 'no-such-policy' policy: .*unknown policy"):
        run_bench(cfg)


def test_ctrl_c_keeps_finished_results(tmp_path: Path) -> None:
    """SIGINT to `aoi bench` mid-run: exit 130, partial results written, no episode left `running`."""
    db, out = tmp_path / "t.db", tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "aoi.cli", "bench", "--problems", "*-detection-*", "--parallel", "2",
                             "--out", str(out), "--transcripts", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    completed = 0
    while completed < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    completed = conn.execute("SELECT count(*) FROM episodes WHERE status = 'completed'").fetchone()[0]
            except sqlite3.OperationalError:
                pass  # tables not created yet
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    data = json.loads((out / "results.json").read_text())
    assert data["interrupted"] is True and data["not_run"] > 0
    rows = data["episodes"]
    assert sum(r["status"] == "completed" for r in rows) >= 1
    with TranscriptStore(db) as store:
        eps = {e.id: e for e in store.episodes(limit=None)}
    assert not [e for e in eps.values() if e.status == "running"]
    for r in rows:
        if r["episode_id"]:
            assert eps[r["episode_id"]].status == r["status"]  # the rows and the store agree
    assert "interrupted" in output and (out / "summary.md").read_text().startswith("# AOI bench")
