"""Both generators behind one interface, each turning a real failed episode into a verified correction."""

from __future__ import annotations

import json
from pathlib import Path

from bench.problems import ProblemSet
from evolver.engine import EvolveSettings, correct
from evolver.generators import GeneratorUnavailable, make_generator
from evolver.generators.model import ModelGenerator, parse_script
from evolver.generators.search import useful_reads
from observer.llm.openai_policy import OpenAIPolicy
from tests.observer.fake_openai import FakeOpenAI, text
from transcripts import TranscriptStore
from transcripts.models import Episode

NS = "test-social-network"


def failed(db: Path, problem_id: str) -> Episode:
    with TranscriptStore(db) as s:
        return s.episode(next(e.id for e in s.episodes(problem_id=problem_id)))


def test_search_corrects_an_early_answer(weak_db: Path, problems: ProblemSet) -> None:
    parent = failed(weak_db, "scale_pod_zero_social_net-mitigation-1")
    res = correct(parent, problems, EvolveSettings(candidates=2), make_generator("search"))
    assert res.failure is not None and res.failure.code == "E"
    assert res.corrected and res.replays == 1 and res.attempts[0].verified
    ep = Episode.model_validate(res.correction)
    tools = [s.tool for s in ep.steps if s.role == "assistant"]
    assert "plan" in tools and tools[-1] == "submit" and tools.index("wait") > tools.index("plan")
    assert ep.seed == parent.seed and ep.problem_id == parent.problem_id and ep.grade["success"]


def test_search_keeps_the_useful_reads_and_avoids_the_wrong_answer(weak_db: Path, problems: ProblemSet) -> None:
    parent = failed(weak_db, "auth_miss_mongodb-localization-1")
    gen = make_generator("search")
    res = correct(parent, problems, EvolveSettings(candidates=1), gen)
    assert res.failure is not None and res.failure.code == "C" and res.corrected
    ep = Episode.model_validate(res.correction)
    kept = [c.tool for c in useful_reads(parent)]  # the parent's reads, in order
    replayed = [s.tool for s in ep.steps if s.role == "assistant"][: len(kept)]
    assert kept and replayed == kept
    assert ep.submission["answer"] != parent.submission["answer"]


def plan(answer: list[str], steps: list[dict[str, object]]) -> str:
    return json.dumps({"hypothesis": f"{answer[0]}: its clients cannot use it", "steps": steps, "submission": answer})


OVERVIEW = {"phase": "discovery", "tool": "cluster_overview", "arguments": {"namespace": NS}}
CLIENT_LOGS = {"phase": "diagnosis", "tool": "logs", "arguments": {"namespace": NS, "tail": 40,
                                                                    "workload": "deployment/url-shorten-service"}}


def test_model_generator_in_repair_mode(weak_db: Path, problems: ProblemSet) -> None:
    parent = failed(weak_db, "auth_miss_mongodb-localization-1")
    replies = [text("I am not sure what went wrong."),  # unreadable: counted, never replayed
               text(plan(["compose-post-service"], [OVERVIEW])),  # replayed, graded wrong
               text("Corrected plan:\n```json\n" + plan(["url-shorten-mongodb"], [OVERVIEW, CLIENT_LOGS]) + "\n```")]
    with FakeOpenAI(replies) as srv:
        pol = OpenAIPolicy(srv.base_url, "fake-model", backoff_s=0.0)
        gen = ModelGenerator.from_policy(pol)
        res = correct(parent, problems, EvolveSettings(candidates=3, generator="model"), gen)
        prompts = [r["messages"][1]["content"] for r in srv.requests]
    assert [a.verified for a in res.attempts] == [False, False, True] and res.replays == 2
    assert "unreadable plan" in res.attempts[0].reason and res.attempts[1].reason.startswith("graded a failure")
    ep = Episode.model_validate(res.correction)
    assert ep.policy == "evolver-model:openai" and ep.model == "fake-model"
    assert [s.tool for s in ep.steps if s.role == "assistant"] == ["cluster_overview", "logs", "submit"]
    first = prompts[0]
    assert problems.get(parent.problem_id).task_text().strip()[:60] in first  # the task text
    assert "Failure class: C (wrong diagnostic path)" in first and "[1] cluster_overview" in first
    assert "# Last useful step" in first and "expected" not in first
    assert "model#1" in prompts[2] and "already tried" in prompts[2]  # earlier candidates, never their grades


def test_model_generator_needs_a_model_policy() -> None:
    try:
        make_generator("model", policy="baseline")
    except GeneratorUnavailable as e:
        assert "needs a model policy" in str(e)
    else:
        raise AssertionError("the baseline is not a model")
    try:
        make_generator("nope")
    except GeneratorUnavailable as e:
        assert "search, model" in str(e)
    else:
        raise AssertionError("unknown generator accepted")


def test_parse_script_is_forgiving_but_strict_about_shape() -> None:
    s = parse_script('<think>hmm</think> Here: {"steps": [{"tool": "topology", "arguments": {}},], '
                     '"submission": "Yes", "hypothesis": "x"}')
    assert s.steps[0].tool == "topology" and s.submission == "Yes"
    assert s.check("detection") is None and s.check("localization") is not None
