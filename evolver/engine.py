"""The evolver's loop: select failed episodes, classify each, try candidates until one verifies, store it.

Per failed episode (in a worker process when ``parallel > 1``): classify it (``evolver.classify``); ask the
generator for candidates one at a time (at most ``candidates``), replay each on a fresh simulator with the same
problem and seed into a scratch store, and stop at the first that verifies (``evolver.replay.verify``). Rejected
candidates never reach the transcript store: only their labels and verdicts do, in the lineage.

The main process writes, as each episode finishes (so Ctrl-C loses nothing done): the classification and the
attempts into the failed episode's meta (``meta["failure"]``), and a verified correction as a new episode with
``source="evolver"`` and ``meta["evolver"]``: its parent, generator, failure class, the candidates tried and the
evidence that supports its answer. ``evolver.lineage`` reads them back for the trainer.
"""

from __future__ import annotations

import concurrent.futures as cf
import fnmatch
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from bench.problems import ProblemSet
from evolver.classify import CLASSES, Classification, classify
from evolver.generators import Attempt, FailureCase, Generator, make_generator
from evolver.replay import replay, verify
from transcripts import TranscriptStore
from transcripts.models import Episode, EpisodeSummary


class EvolveSettings(BaseModel):
    generator: str = "search"
    generator_options: dict[str, Any] = Field(default_factory=dict)
    candidates: int = Field(default=3, ge=1, le=50)
    max_steps: int = Field(default=30, ge=2, le=200)  # the step budget a correction must stay within
    seed: int = 0  # the simulator seed for failed episodes that recorded none
    problems: str | None = None  # glob over problem ids
    limit: int | None = None
    redo: bool = False  # also episodes already corrected


class FailureResult(BaseModel):
    parent_id: str
    problem_id: str
    task: str
    family: str
    seed: int
    failure: Classification | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    replays: int = 0
    correction: dict[str, Any] | None = None  # the verified episode (transcripts Episode as JSON)
    evidence: dict[str, Any] | None = None
    wall_s: float = 0.0
    error: str | None = None

    @property
    def corrected(self) -> bool:
        return self.correction is not None


def failed_episodes(store: TranscriptStore, problems: ProblemSet, settings: EvolveSettings) -> list[EpisodeSummary]:
    """Graded failures and interrupted/failed episodes of known problems, oldest first; not the evolver's own
    corrections, and (unless ``redo``) not episodes already corrected."""
    out = []
    for s in reversed(store.episodes(limit=None)):
        if s.source == "evolver" or not s.problem_id or s.problem_id not in problems:
            continue
        if s.status == "running" or (s.status == "completed" and s.success is not False):
            continue
        if settings.problems and not any(fnmatch.fnmatchcase(s.problem_id, p.strip())
                                         for p in settings.problems.split(",")):
            continue
        if not settings.redo and ((store.episode(s.id).meta or {}).get("failure") or {}).get("corrected_by"):
            continue
        out.append(s)
    return out[: settings.limit] if settings.limit else out


def correct(parent: Episode, problems: ProblemSet, settings: EvolveSettings, generator: Generator) -> FailureResult:
    """Classify one failed episode and try candidates until one verifies."""
    t0 = time.perf_counter()
    problem = problems.get(str(parent.problem_id))
    seed = parent.seed if parent.seed is not None else settings.seed
    res = FailureResult(parent_id=parent.id, problem_id=problem.id, task=problem.task, family=problem.family,
                        seed=seed)
    try:
        res.failure = classify(parent, problem)
        case = FailureCase(parent, problem, res.failure, seed, settings.max_steps)
        with tempfile.TemporaryDirectory(prefix="aoi-evolve-") as tmp:
            scratch = TranscriptStore(Path(tmp) / "replays.db")
            try:
                for k in range(settings.candidates):
                    cand = generator.candidate(case, k, res.attempts)
                    if cand is None:
                        break
                    if cand.policy is None:
                        res.attempts.append(Attempt(label=cand.label, verified=False, success=False, steps=0,
                                                    reason=str(cand.notes.get("problem") or "no candidate")))
                        continue
                    rep = replay(problem, seed, cand.policy, scratch, max_steps=settings.max_steps,
                                 workdir=Path(tmp) / f"sim{k}", meta={"evolver_candidate": cand.label})
                    res.replays += 1
                    v = verify(rep, problem, settings.max_steps)
                    res.attempts.append(Attempt(label=cand.label, verified=v.verified, success=v.success,
                                                steps=v.steps, reason=v.reason, wall_s=rep.wall_s,
                                                episode_id=rep.episode.id if v.verified else None))
                    if v.verified:
                        res.correction = rep.episode.model_dump(mode="json")
                        res.evidence = v.evidence.model_dump(mode="json")
                        break
                    if cand.exhausted():
                        break
            finally:
                scratch.close()
    except Exception as e:  # one broken case does not stop the run; the report shows it
        res.error = f"{type(e).__name__}: {e}"
    res.wall_s = round(time.perf_counter() - t0, 3)
    return res


def record(store: TranscriptStore, res: FailureResult, settings: EvolveSettings) -> str | None:
    """Write the classification and attempts into the parent's meta and a verified correction as an episode."""
    corrected_by = None
    if res.correction is not None and res.failure is not None:
        ep = Episode.model_validate(res.correction)
        winner = res.attempts[-1]
        lineage = {"parent": res.parent_id, "generator": settings.generator, "failure_class": res.failure.code,
                   "failure_name": res.failure.name, "candidates": len(res.attempts), "replays": res.replays,
                   "label": winner.label, "budget": settings.max_steps, "evidence": res.evidence,
                   "attempts": [a.model_dump(mode="json") for a in res.attempts]}
        meta = {**ep.meta, "source": "evolver", "evolver": lineage}
        meta.pop("evolver_candidate", None)
        store.put_episode(ep.model_copy(update={"source": "evolver", "meta": meta}), replace=True)
        corrected_by = ep.id
    store.update_meta(res.parent_id, {"failure": {
        **(res.failure.record() if res.failure else {"code": None}), "generator": settings.generator,
        "attempts": [a.model_dump(mode="json") for a in res.attempts], "corrected_by": corrected_by,
        "error": res.error}})
    return corrected_by


def _work(job: tuple[dict[str, Any], dict[str, Any]]) -> FailureResult:
    """A worker process's job: one failed episode (as JSON) with the settings."""
    parent_json, settings_json = job
    settings = EvolveSettings.model_validate(settings_json)
    generator = make_generator(settings.generator, **settings.generator_options)
    return correct(Episode.model_validate(parent_json), ProblemSet.builtin(), settings, generator)


class ClassRow(BaseModel):
    failed: int = 0
    corrected: int = 0
    candidates: int = 0
    replays: int = 0
    wall_s: float = 0.0


class EvolveReport(BaseModel):
    results: list[FailureResult] = Field(default_factory=list)
    wall_s: float = 0.0
    interrupted: bool = False

    def rows(self, by: str = "class") -> dict[str, ClassRow]:
        out: dict[str, ClassRow] = defaultdict(ClassRow)
        for r in self.results:
            key = (f"{r.failure.code} {r.failure.name}" if r.failure else "error") if by == "class" else getattr(r, by)
            row = out[key]
            row.failed += 1
            row.corrected += r.corrected
            row.candidates += len(r.attempts)
            row.replays += r.replays
            row.wall_s = round(row.wall_s + r.wall_s, 3)
        return dict(sorted(out.items()))

    def counts(self) -> Counter[str]:
        return Counter(r.failure.code if r.failure else "error" for r in self.results)


def evolve(store: TranscriptStore, settings: EvolveSettings, *, parallel: int = 1, problems: ProblemSet | None = None,
           generator: Generator | None = None, on_start: Callable[[int], None] | None = None,
           on_result: Callable[[FailureResult], None] | None = None) -> EvolveReport:
    """Correct the store's failed episodes; results are written to ``store`` as each finishes."""
    problems = problems or ProblemSet.builtin()
    t0 = time.perf_counter()
    todo = failed_episodes(store, problems, settings)
    if on_start:
        on_start(len(todo))
    report = EvolveReport()

    def done(res: FailureResult) -> None:
        record(store, res, settings)
        report.results.append(res)
        if on_result:
            on_result(res)

    try:
        if parallel <= 1 or len(todo) <= 1:
            gen = generator or make_generator(settings.generator, **settings.generator_options)
            for s in todo:
                done(correct(store.episode(s.id), problems, settings, gen))
        else:
            jobs = [(store.episode(s.id).model_dump(mode="json"), settings.model_dump(mode="json")) for s in todo]
            with cf.ProcessPoolExecutor(max_workers=parallel) as pool:
                futures = [pool.submit(_work, job) for job in jobs]
                try:
                    for fut in cf.as_completed(futures):
                        done(fut.result())
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
    except KeyboardInterrupt:
        report.interrupted = True
    report.wall_s = round(time.perf_counter() - t0, 3)
    return report


__all__ = ["CLASSES", "EvolveReport", "EvolveSettings", "FailureResult", "correct", "evolve", "failed_episodes",
           "record"]
