"""`aoi evolve` and `aoi evolve lessons` end to end on real failed episodes: corrections stored with lineage,
lessons keyed by symptoms only, learnt only from the split's evolving families."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from aoi.cli import app
from bench.problems import ProblemSet
from bench.split import FamilySplit, load_split
from evolver.lessons import distil, leaks
from evolver.lineage import corrections, pairs
from observer.guidance import Guidance
from tests.evolver.conftest import WEAK_PROBLEMS
from transcripts import TranscriptStore

runner = CliRunner()


def test_evolve_then_lessons(weak_copy: Path, tmp_path: Path, problems: ProblemSet) -> None:
    report = tmp_path / "report.json"
    r = runner.invoke(app, ["evolve", "--transcripts", str(weak_copy), "--candidates", "2", "--json", str(report)])
    assert r.exit_code == 0, r.output
    assert "Failed episodes by failure class" in r.output and "By task type" in r.output
    rep = json.loads(report.read_text())["report"]
    assert len(rep["results"]) == len(WEAK_PROBLEMS)
    assert {x["failure"]["code"] for x in rep["results"]} == {"B", "C", "E"}

    with TranscriptStore(weak_copy) as s:
        fixed = corrections(s)
        assert len(fixed) == len(WEAK_PROBLEMS) and set(pairs(s)) == {(c.parent_id, c.episode_id) for c in fixed}
        for c in fixed:
            ep, parent = s.episode(c.episode_id), s.episode(c.parent_id)
            assert ep.source == "evolver" and ep.success and ep.problem_id == parent.problem_id
            assert ep.seed == parent.seed and ep.meta["source"] == "evolver"
            lin = ep.meta["evolver"]
            assert lin["parent"] == parent.id and lin["generator"] == "search" and lin["evidence"]["ok"]
            assert lin["failure_class"] == parent.meta["failure"]["code"] and lin["candidates"] >= 1
            assert parent.meta["failure"]["corrected_by"] == ep.id and parent.meta["failure"]["evidence"]
        # rejected candidates never became episodes: the store holds the failures and their corrections only
        assert s.count() == 2 * len(WEAK_PROBLEMS)

    again = runner.invoke(app, ["evolve", "--transcripts", str(weak_copy)])
    assert again.exit_code == 0 and "no failed episodes to correct" in again.output

    out = tmp_path / "guidance.yaml"
    r = runner.invoke(app, ["evolve", "lessons", "--transcripts", str(weak_copy), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "1 held-out family" in r.output.replace("\n", " ")  # the revoke_auth correction is left out
    text = out.read_text()
    g = Guidance.load(out)
    assert g.lessons and all(lesson.support and lesson.helped >= 1 for lesson in g.lessons)
    assert leaks(text) == []  # no problem id, no fault-family name
    for pid in problems:  # and, scanned independently, no namespace-specific object either
        assert pid.id not in text and pid.family not in text
    assert "test-social-network" not in text and "url-shorten" not in text and "user-service" not in text

    split = load_split()
    with TranscriptStore(weak_copy) as s:
        for lesson in g.lessons:
            for eid in lesson.support:
                family = problems.get(s.episode(eid).problem_id).family
                assert split.may_learn_from(family), f"{lesson.id} learnt from {family}"
        # a split that holds every family out leaves nothing to learn from
        none = FamilySplit(name="none", evolving=(), held_out=tuple(sorted({p.family for p in problems})))
        d = distil(s, none)
        assert d.guidance.lessons == [] and d.excluded["held-out family"] == len(WEAK_PROBLEMS)
    assert yaml.safe_load(text)["source"]["split"] == split.name


def test_clear_errors(tmp_path: Path) -> None:
    r = runner.invoke(app, ["evolve", "--transcripts", str(tmp_path / "missing.db")])
    assert r.exit_code == 2 and "no transcript database" in r.output
    r = runner.invoke(app, ["evolve", "--transcripts", str(tmp_path / "missing.db"), "--generator", "guess"])
    assert r.exit_code == 2 and "unknown generator" in r.output
    bad = tmp_path / "split.yaml"
    bad.write_text("evolving: [no_such_family]\nheld_out: []\n")
    r = runner.invoke(app, ["evolve", "lessons", "--transcripts", str(tmp_path / "x.db"), "--out", "g.yaml",
                            "--split", str(bad)])
    assert r.exit_code == 2 and "unknown fault families" in r.output


def test_ctrl_c_during_the_first_replay_says_so_and_records_nothing(weak_copy: Path, monkeypatch) -> None:
    import evolver.engine

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(evolver.engine, "replay", interrupted)  # Ctrl-C lands inside the first replay
    with TranscriptStore(weak_copy) as store:
        before = [(e.id, e.status) for e in store.episodes()]
    r = runner.invoke(app, ["evolve", "--transcripts", str(weak_copy), "--candidates", "2"])
    assert r.exit_code == 130, r.output
    assert "interrupted" in r.output and "no failed episodes" not in r.output
    with TranscriptStore(weak_copy) as store:
        assert [(e.id, e.status) for e in store.episodes()] == before
