"""Problems are data: problem files (YAML/JSON) load with clear errors, and a problem from a file runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.problems import ProblemFileError, ProblemSet, load_problem_file
from bench.runner import BenchConfig, run_bench, select_problems
from cluster.sim.clock import DEFAULT_EPOCH
from tests.bench.conftest import problem_file
from transcripts import TranscriptStore

GOOD = """
problems:
  - id: port-text-localization
    task: localization
    app: social-network
    fault: {family: k8s_target_port-misconfig, target: text-service}
  - id: port-text-detection
    task: detection
    app: social-network
    fault: {family: k8s_target_port-misconfig, target: text-service}
    task_text: "Is anything wrong in test-social-network? Answer with submit(\\"Yes\\") or submit(\\"No\\")."
"""


def test_builtin_registry() -> None:
    ps = ProblemSet.builtin()
    aoi86 = ps.select("aoi86")
    assert len(aoi86) == 86
    counts = {t: sum(p.task == t for p in aoi86) for t in ("detection", "localization", "analysis", "mitigation")}
    assert counts == {"detection": 32, "localization": 28, "analysis": 13, "mitigation": 13}
    assert len({p.family for p in aoi86}) == 26
    assert [p.id for p in ps.select("aoi86", tasks=["mitigation"])] == [p.id for p in aoi86 if p.task == "mitigation"]


def test_good_file(tmp_path: Path) -> None:
    ps = ProblemSet.builtin()
    added = ps.load_file(problem_file(tmp_path / "mine.yaml", GOOD))
    assert [p.id for p in added] == ["port-text-localization", "port-text-detection"]
    assert [p.id for p in ps.select("file")] == ["port-text-localization", "port-text-detection"]
    loc = ps.get("port-text-localization")
    assert loc.source.endswith("mine.yaml") and not loc.in_aoi86
    assert loc.accepted_localizations == [["text-service"]] and loc.grader_name == "localization"
    assert "Is anything wrong" in ps.get("port-text-detection").task_text()
    assert "text-service" not in loc.task_text()  # the task text never names the fault


def test_json_file_and_expected_override(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps([{"id": "x-analysis", "task": "analysis", "app": "hotel-reservation",
                                 "fault": {"family": "misconfig_app_hotel_res", "target": "geo"},
                                 "expected": {"system_level": "Application", "fault_type": "Operation Error"}}]))
    (p,) = load_problem_file(path)
    assert p.answer == {"system_level": "Application", "fault_type": "Operation Error"}


@pytest.mark.parametrize(("text", "message"), [
    ("problems:\n  - id: a\n    task: detection\n    app: social-network\n    fault: {family: no_such_fault}\n",
     r"problem a: .*unknown fault family 'no_such_fault'"),
    ("problems:\n  - id: a\n    task: detection\n    app: no-such-app\n    fault: {family: noop}\n",
     r"problem a: .*unknown app 'no-such-app'"),
    ("problems:\n  - id: a\n    task: triage\n    app: social-network\n    fault: {family: noop}\n",
     r"problem a: task: "),
    ("problems:\n  - id: a\n    task: detection\n    app: social-network\n    fault: {family: noop}\n"
     "    grader: vibes\n", r"unknown grader 'vibes'"),
    ("problems:\n  - id: a\n    task: detection\n    app: social-network\n    fault: {family: noop}\n    color: red\n",
     r"problem a: color: Extra inputs"),
    ("problems:\n  - id: a\n    task: [detection\n", r"is not valid YAML"),
    ("problems: 3\n", r"expected a list of problems"),
    ("problems:\n  - just a string\n", r"problem #1 is not a mapping"),
])
def test_bad_files(tmp_path: Path, text: str, message: str) -> None:
    path = problem_file(tmp_path / "bad.yaml", text)
    with pytest.raises(ProblemFileError, match=message) as e:
        ProblemSet.builtin().load_file(path)
    assert str(path) in str(e.value)  # the message names the file


def test_duplicate_ids(tmp_path: Path) -> None:
    twice = GOOD + GOOD.split("problems:")[1]
    with pytest.raises(ProblemFileError, match=r"'port-text-localization' is defined twice"):
        ProblemSet.builtin().load_file(problem_file(tmp_path / "twice.yaml", twice))
    builtin = ("- id: k8s_target_port-misconfig-detection-1\n  task: detection\n  app: social-network\n"
               "  fault: {family: noop}\n")
    with pytest.raises(ProblemFileError, match=r"defined twice .*builtin"):
        ProblemSet.builtin().load_file(problem_file(tmp_path / "clash.yaml", builtin))


def test_missing_file_and_unknown_problem(tmp_path: Path) -> None:
    with pytest.raises(ProblemFileError, match="cannot read problem file"):
        ProblemSet.builtin().load_file(tmp_path / "absent.yaml")
    with pytest.raises(KeyError, match="unknown problem 'k8s_nope-1'"):
        select_problems("k8s_nope-1")
    with pytest.raises(KeyError, match="no problem id matches"):
        select_problems("*-triage-*")


def test_problem_from_a_file_end_to_end(tmp_path: Path) -> None:
    """A problem defined only in a file runs through the runner, is graded and stored like a built-in one."""
    path = problem_file(tmp_path / "mine.yaml", GOOD)
    problems = select_problems("port-text-localization", [path])
    cfg = BenchConfig(problems=problems, transcripts=tmp_path / "t.db", epoch=DEFAULT_EPOCH)
    outcome = run_bench(cfg)
    (row,) = outcome.rows
    assert row.status == "completed" and row.success, row
    assert row.submission == ["text-service"] and row.grade["acc_at_1"] is True
    with TranscriptStore(tmp_path / "t.db") as store:
        ep = store.episode(row.episode_id)  # type: ignore[arg-type]
    assert ep.problem_id == "port-text-localization" and ep.success is True
    assert ep.meta["bench_run"] == cfg.bench_run and ep.meta["run"] == 0
