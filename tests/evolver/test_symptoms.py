"""The symptom vocabulary stays quiet on healthy namespaces, so evidence and lessons key on real anomalies."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.problems import ProblemSet
from evolver.replay import replay
from evolver.scripted import Script, ScriptedPolicy, ScriptStep
from evolver.symptoms import SYMPTOMS, symptoms_in, symptoms_of
from observer.guidance import split_records
from transcripts import TranscriptStore

SURFACE = ("cluster_overview", "topology", "traces", "metrics_overview")


@pytest.mark.parametrize("problem_id", ["noop_detection_hotel_reservation-1", "noop_detection_social_network-1",
                                        "noop_detection_astronomy_shop-1"])
def test_a_healthy_namespace_shows_no_failure_symptom(problem_id: str, tmp_path: Path) -> None:
    p = ProblemSet.builtin().get(problem_id)
    steps = [ScriptStep(tool=t, arguments={"namespace": p.namespace}) for t in SURFACE]
    with TranscriptStore(tmp_path / "t.db") as store:
        rep = replay(p, 0, ScriptedPolicy(Script(steps=steps, submission="No")), store, max_steps=6)
    results = [s.result or "" for s in rep.episode.steps if s.role == "assistant" and s.tool in SURFACE]
    assert len(results) == 4 and all(results)
    loud = [(s.id, rec[:120]) for r in results for rec in split_records(r) for s in symptoms_in(rec)
            if s.specificity > 1]
    assert loud == []


def test_vocabulary_is_well_formed() -> None:
    ids = [s.id for s in SYMPTOMS]
    assert len(ids) == len(set(ids)) and all(1 <= s.specificity <= 3 for s in SYMPTOMS)
    text = "- geo-abc12345-xyz12: CrashLoopBackOff, owner deployment/geo\n- mongodb-geo: ok"
    assert [s.id for s in symptoms_of(text, "geo")] == ["crash-loop"] and symptoms_of(text, "mongodb-geo") == []
