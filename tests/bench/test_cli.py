"""`aoi bench`, `aoi bench list` and `aoi bench families` through the real CLI (typer's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from aoi.cli import app
from tests.bench.conftest import problem_file

runner = CliRunner()


def test_list_and_families() -> None:
    r = runner.invoke(app, ["bench", "list", "--problems", "*-mitigation-*"], env={"COLUMNS": "240"})
    assert r.exit_code == 0, r.output
    assert "14 problem(s)" in r.output  # AOI's 13 and the kafka one outside the 86
    assert "scale_pod_zero_social_net-mitigation-1" in r.output and "held_out" in r.output
    r = runner.invoke(app, ["bench", "list", "--task", "analysis"], env={"COLUMNS": "240"})
    assert r.exit_code == 0 and "13 problem(s)" in r.output
    r = runner.invoke(app, ["bench", "families"], env={"COLUMNS": "240"})
    assert r.exit_code == 0, r.output
    assert "26 fault families (split aoi-11-15: 11 evolving, 15 held out)" in r.output
    assert "Virtualization" in r.output and "Authentication Issue" in r.output


def test_list_a_problem_file(tmp_path: Path) -> None:
    f = problem_file(tmp_path / "mine.yaml", "- id: mine-detection\n  task: detection\n  app: social-network\n"
                     "  fault: {family: noop}\n")
    r = runner.invoke(app, ["bench", "list", "--problems", "file", "--problems-file", str(f)], env={"COLUMNS": "240"})
    assert r.exit_code == 0, r.output
    assert "1 problem(s)" in r.output and "mine-detection" in r.output and "mine.yaml" in r.output


def test_clear_errors(tmp_path: Path) -> None:
    bad = problem_file(tmp_path / "bad.yaml", "- id: x\n  task: detection\n  app: social-network\n"
                       "  fault: {family: nope}\n")
    cases = [
        (["bench", "--problems", "no-such-problem-1"], "unknown problem 'no-such-problem-1'"),
        (["bench", "list", "--problems", "zzz*"], "no problem id matches 'zzz*'"),
        (["bench", "--problems-file", str(bad)], "unknown fault family 'nope'"),
        (["bench", "--problems-file", str(tmp_path / "absent.yaml")], "cannot read problem file"),
        (["bench", "--task", "triage"], "unknown task type triage"),
        (["bench", "--policy", "magic"], "unknown policy 'magic'"),
        (["bench", "--problems", "aoi86", "--task", "mitigation", "--problems-file", str(bad)], "nope"),
    ]
    for args, message in cases:
        r = runner.invoke(app, args, env={"COLUMNS": "240"})
        assert r.exit_code == 2, (args, r.output)
        assert message in " ".join(r.output.split()), (args, r.output)


def test_guidance_reaches_the_policy(tmp_path: Path) -> None:
    bad = problem_file(tmp_path / "lessons.yaml", "version: 1\nlessons: [{id: x}]\n")
    r = runner.invoke(app, ["bench", "--problems", "noop_detection_social_network-1", "--guidance", str(bad),
                            "--transcripts", str(tmp_path / "t.db"), "--out", str(tmp_path / "out")],
                      env={"COLUMNS": "240"})
    assert r.exit_code == 2, r.output
    assert "cannot build the 'baseline' policy" in r.output and "lessons.0.when" in " ".join(r.output.split())


def test_bench_run(tmp_path: Path) -> None:
    db, out = tmp_path / "t.db", tmp_path / "out"
    lessons = problem_file(tmp_path / "lessons.yaml", "version: 1\nlessons: []\n")
    r = runner.invoke(app, ["bench", "--problems", "noop_detection_social_network-1", "--runs", "2", "--seed", "3",
                            "--guidance", str(lessons), "--epoch", "2026-01-01T00:00:00", "--out", str(out),
                            "--transcripts", str(db)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "success by task type (k = 2)" in r.output and "100.0%" in r.output
    assert str(out / "summary.md") in r.output
    data = json.loads((out / "results.json").read_text())
    assert data["config"]["seeds"] == [3, 4] and [e["success"] for e in data["episodes"]] == [True, True]
    assert data["config"]["policy"] == {"name": "baseline", "model": None, "options": {"guidance": str(lessons)}}
    assert data["command"].startswith(f"aoi bench --policy baseline --guidance {lessons} --problems noop_detection")
    assert data["command"].endswith("--epoch 2026-01-01T00:00:00")
    assert data["config"]["epoch"].startswith("2026-01-01T00:00:00")
    for name in ("results.csv", "summary.md", "chart.png"):
        assert (out / name).stat().st_size > 0
    # every episode is a graded transcript
    r = runner.invoke(app, ["transcripts", "list", "--db", str(db), "--json"])
    assert r.exit_code == 0, r.output
    listed = [json.loads(line) for line in r.output.splitlines() if line.strip()]
    assert {e["id"] for e in listed} == {e["episode_id"] for e in data["episodes"]}
    assert all(e["success"] is True and e["status"] == "completed" for e in listed)
