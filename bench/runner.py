"""The runner: K runs x N problems, each episode on a fresh seeded simulator, across worker processes.

Run ``r`` of every problem uses seed ``seed + r``: runs differ from each other, and a bench run repeats exactly.
Jobs are ordered run-major (every problem's run 0 first), so an interrupted bench still has whole early runs.

Workers (``parallel`` > 1) are ``spawn``-ed processes in their own process group: a terminal's Ctrl-C reaches only
the parent, which forwards exactly one SIGINT to each worker, so every running episode is cancelled once and
marked ``interrupted`` by the episode loop, never killed half-written. Each worker builds the policy once (a model
loads once per process, not once per episode), opens the one transcript store (SQLite WAL; concurrent writers
wait on its busy timeout) and runs episodes in-process (probe and executor as in-process MCP servers). With
``parallel`` = 1 the episodes run in the calling process.

An exception outside the episode loop (bringing the problem up, grading) records the episode ``failed`` with the
error and the bench goes on; a worker that dies is replaced and its episode recorded ``failed``; a policy that
cannot be built stops the bench with ``BenchError``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field

from bench.problems import BenchProblem
from bench.split import FamilySplit, load_split

if TYPE_CHECKING:
    from observer.policy import Policy, TaskSpec, ToolInfo
    from transcripts import TranscriptStore

Status = Literal["completed", "failed", "interrupted"]
DRAIN_S = 20.0  # how long interrupted workers get to finish writing before they are killed


class BenchError(RuntimeError):
    """The bench cannot run (the policy cannot be built, no problems); the message says what to fix."""


class PolicySpec(BaseModel):
    """What a worker builds its policy from: ``observer.policies.make_policy(name, model, **options)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "baseline"
    model: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # e.g. {"adapter": PATH, "guidance": PATH}

    def build(self) -> Policy:
        from observer.policies import make_policy

        return make_policy(self.name, self.model, **self.options)

    @property
    def label(self) -> str:
        return self.name + (f":{self.model}" if self.model else "")


class BenchConfig(BaseModel):
    """One bench run: the policy, the problems, K runs each, and how to run them."""

    model_config = ConfigDict(extra="forbid")
    policy: PolicySpec = Field(default_factory=PolicySpec)
    problems: list[BenchProblem]
    runs: int = Field(1, ge=1)
    parallel: int = Field(1, ge=1)
    seed: int = 0
    max_steps: int = Field(30, ge=2)
    transcripts: Path = Path(".aoi/transcripts.db")
    bench_run: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    epoch: datetime | None = None  # the simulators' epoch (default: the wall clock per episode, as `aoi observe`)

    def seed_for(self, run: int) -> int:
        return self.seed + run

    def jobs(self) -> list[Job]:
        return [Job(index=i, problem=p, run=r, seed=self.seed_for(r))
                for i, (r, p) in enumerate((r, p) for r in range(self.runs) for p in self.problems)]

    def summary(self) -> dict[str, Any]:
        """The configuration as it goes into results.json (problems by id)."""
        return {"bench_run": self.bench_run, "policy": self.policy.model_dump(), "runs": self.runs,
                "parallel": self.parallel, "seed": self.seed, "seeds": [self.seed_for(r) for r in range(self.runs)],
                "max_steps": self.max_steps, "transcripts": str(self.transcripts),
                "problems": [p.id for p in self.problems],
                "epoch": self.epoch.isoformat() if self.epoch else "wall clock"}


class Job(BaseModel):
    model_config = ConfigDict(frozen=True)
    index: int
    problem: BenchProblem
    run: int
    seed: int


class EpisodeResult(BaseModel):
    """One row per episode: what was run, how it ended, its grade and AIOpsLab's metrics (plus ours)."""

    bench_run: str
    run: int
    seed: int
    problem_id: str
    task: str
    app: str
    family: str
    split: str | None = None  # evolving | held_out (bench/data/family_split.yaml)
    episode_id: str | None = None
    status: Status
    stop_reason: str | None = None
    success: bool = False
    score: float = 0.0
    submitted: bool = False
    submission: Any = None
    grade: dict[str, Any] = Field(default_factory=dict)  # the grader's fields (acc_at_1, expected, ...)
    steps: int = 0
    in_tokens: int = 0
    out_tokens: int = 0
    wall_s: float = 0.0
    sim_s: float | None = None
    tool_calls: dict[str, int] = Field(default_factory=dict)
    plans: int = 0
    plans_refused: int = 0
    unsafe_attempts: int = 0
    error: str | None = None

    @property
    def scored(self) -> bool:
        """Interrupted episodes are partial: kept in the results, left out of the scores."""
        return self.status != "interrupted"


class BenchOutcome(BaseModel):
    config: BenchConfig
    rows: list[EpisodeResult]
    interrupted: bool = False
    wall_s: float = 0.0
    started_at: datetime
    not_run: int = 0  # jobs never started (an interrupted bench)


# ------------------------------------------------------------------------------------------------ one episode
class _Watch:
    """A loop listener (``observer.loop.Listener``'s hooks, not imported: it loads the MCP client) that keeps the
    episode's id and, once the loop has finished it, its outcome; ``on_done`` runs then (in the event loop's
    thread)."""

    def __init__(self, on_done: Callable[[], None] | None = None) -> None:
        self.episode_id: str | None = None
        self.outcome: Any = None
        self.on_done = on_done

    def on_start(self, episode_id: str, task: TaskSpec, policy: Policy, tools: list[ToolInfo]) -> None:
        self.episode_id = episode_id

    def on_decision(self, *args: Any) -> None: ...

    def on_result(self, *args: Any) -> None: ...

    def on_plan(self, *args: Any) -> None: ...

    def on_note(self, *args: Any) -> None: ...

    def on_finish(self, outcome: Any) -> None:
        self.outcome = outcome
        if self.on_done:
            self.on_done()


class _Sigint:
    """Ctrl-C while a bench runs. Between episodes it only sets ``hit`` (the bench stops at the next job, nothing
    is cut mid-write); inside ``episode()`` it is Python's KeyboardInterrupt, which the episode's event loop turns
    into a cancelled episode the loop marks ``interrupted``. A second Ctrl-C in the parent forces the stop.
    Outside the main thread (no signals there) it does nothing."""

    def __init__(self, force_after: int = 2):
        self.hits = 0
        self.force_after = force_after
        self._prev: Any = None
        self._active = threading.current_thread() is threading.main_thread()

    @property
    def hit(self) -> bool:
        return self.hits > 0

    def _handler(self, signum: int, frame: Any) -> None:
        self.hits += 1
        if self.hits >= self.force_after:
            raise KeyboardInterrupt

    def __enter__(self) -> _Sigint:
        if self._active:
            self._prev = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._active:
            signal.signal(signal.SIGINT, self._prev)

    def defer(self) -> None:
        """The episode is over (finished and stored): from here a Ctrl-C waits for its grade, like between
        episodes. Called from the episode's event loop, in the main thread."""
        if self._active and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._handler)

    @contextlib.contextmanager
    def episode(self) -> Iterator[None]:
        if not self._active:
            yield
            return
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            if self.hit:
                raise KeyboardInterrupt
            yield
        except KeyboardInterrupt:
            self.hits += 1
            raise
        finally:
            signal.signal(signal.SIGINT, self._handler)


def _row(cfg: BenchConfig, job: Job, split: FamilySplit, status: Status, **fields: Any) -> EpisodeResult:
    p = job.problem
    return EpisodeResult(bench_run=cfg.bench_run, run=job.run, seed=job.seed, problem_id=p.id, task=p.task, app=p.app,
                         family=p.family, split=split.side(p.family), status=status, **fields)


def _graded_row(cfg: BenchConfig, job: Job, split: FamilySplit, outcome: Any, graded: dict[str, Any]
                ) -> EpisodeResult:
    m = graded.get("metrics") or {}
    grade = {k: v for k, v in graded.items() if k not in ("metrics", "task", "success", "score", "submitted")}
    return _row(cfg, job, split, outcome.status, episode_id=outcome.episode_id, stop_reason=outcome.stop_reason,
                success=bool(graded.get("success")), score=float(graded.get("score") or 0.0),
                submitted=outcome.submitted, submission=outcome.submission, grade=grade,
                steps=m.get("steps", outcome.steps), in_tokens=m.get("in_tokens", 0),
                out_tokens=m.get("out_tokens", 0), wall_s=round(m.get("wall_s", 0.0), 3), sim_s=m.get("sim_s"),
                tool_calls=m.get("tool_calls") or {}, plans=m.get("plans", 0),
                plans_refused=m.get("plans_refused", 0), unsafe_attempts=m.get("unsafe_attempts", 0),
                error=outcome.error)


class _WarningsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


@contextlib.contextmanager
def _quiet_uvicorn() -> Iterator[None]:
    """uvicorn re-applies its logging configuration (level INFO, then the simulator's WARNING) whenever a simulator
    starts; a simulator stopping in the background at that instant would print its INFO shutdown lines into the
    progress display. A filter on uvicorn's logger (dictConfig keeps logger filters) lets only warnings through."""
    log, quiet = logging.getLogger("uvicorn.error"), _WarningsOnly()
    log.addFilter(quiet)
    try:
        yield
    finally:
        log.removeFilter(quiet)


class Stopper:
    """Stops finished simulators in the background and removes their work folders: the simulator's graceful HTTP
    shutdown is about 0.2 s of waiting per episode (uvicorn's 0.1 s tick and grace sleep), which the next episode
    need not wait for. ``join()`` before the process ends."""

    def __init__(self, background: bool = True):
        self.background = background
        self.threads: list[threading.Thread] = []

    @staticmethod
    def _stop(sim: Any, workdir: Path) -> None:
        try:
            sim.stop()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def __call__(self, sim: Any, workdir: Path) -> None:
        if not self.background:
            self._stop(sim, workdir)
            return
        self.threads = [t for t in self.threads if t.is_alive()]
        t = threading.Thread(target=self._stop, args=(sim, workdir), name="aoi-bench-stop", daemon=True)
        t.start()
        self.threads.append(t)

    def join(self, timeout: float = 15.0) -> None:
        for t in self.threads:
            t.join(timeout)
        self.threads = []


def run_job(cfg: BenchConfig, job: Job, policy: Policy, store: TranscriptStore, workdir: Path, split: FamilySplit,
            sigint: _Sigint | None = None, stopper: Stopper | None = None) -> EpisodeResult:
    """One graded episode on a fresh simulator. Ctrl-C during the episode: a row with status ``interrupted``."""
    from bench.episode import grade_outcome, run_problem
    from bench.sim import SimProblem

    stop = stopper or Stopper(background=False)
    sim = SimProblem(job.problem, workdir / f"ep{job.index}", seed=job.seed, epoch=cfg.epoch)
    watch = _Watch(on_done=sigint.defer if sigint else None)
    wall0 = time.perf_counter()
    gate = sigint.episode() if sigint else contextlib.nullcontext()
    try:
        try:
            sim.start()
            sim0, clock0 = sim.sim_now(), time.time()
            try:
                with gate:
                    outcome, graded = anyio.run(partial(
                        run_problem, sim, policy, store, max_steps=cfg.max_steps,
                        listeners=[watch], meta={"bench_run": cfg.bench_run, "run": job.run}))  # type: ignore[list-item]
            except KeyboardInterrupt:
                # Ctrl-C landed after the loop had finished the episode (closing the MCP sessions): grade it.
                if watch.outcome is None or watch.outcome.status == "interrupted":
                    raise
                outcome = watch.outcome
                graded = grade_outcome(sim, outcome, store, sim0=sim0, wall0=clock0)
        finally:
            stop(sim, sim.workdir)  # graded already: the cluster is not needed any more
    except KeyboardInterrupt:
        return _row(cfg, job, split, "interrupted", episode_id=watch.episode_id, stop_reason="interrupted",
                    wall_s=round(time.perf_counter() - wall0, 3))
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
        if watch.episode_id:  # the episode exists: keep the error with it, and end it as failed
            with contextlib.suppress(Exception):
                store.update_meta(watch.episode_id, {"error": error, "traceback": traceback.format_exc()[-4000:]})
                if store.episode(watch.episode_id).status == "running":
                    store.finish(watch.episode_id, "failed")
        return _row(cfg, job, split, "failed", episode_id=watch.episode_id, stop_reason="error", error=error,
                    wall_s=round(time.perf_counter() - wall0, 3))
    return _graded_row(cfg, job, split, outcome, graded)


# ------------------------------------------------------------------------------------------------ workers
def _worker(cfg: BenchConfig, jobs: Any, results: Any, parent: int) -> None:
    """A worker process: build the policy once, then run jobs until the sentinel (None) or SIGINT."""
    os.setpgrp()  # a terminal's Ctrl-C goes to the parent only; it forwards one SIGINT here
    from transcripts import TranscriptStore

    with _Sigint(force_after=3) as sigint, _quiet_uvicorn():
        try:
            policy = cfg.policy.build()
        except Exception as e:
            results.put(("fatal", os.getpid(), f"cannot build the {cfg.policy.label!r} policy: "
                                               f"{type(e).__name__}: {e}"))
            return
        split = load_split()
        workdir = Path(tempfile.mkdtemp(prefix="aoi-bench-"))
        store = TranscriptStore(cfg.transcripts)
        stopper = Stopper()
        try:
            while not sigint.hit and os.getppid() == parent:  # an orphaned worker stops too
                job = jobs.get()
                if job is None or sigint.hit:
                    break
                results.put(("start", os.getpid(), job.index))
                row = run_job(cfg, job, policy, store, workdir, split, sigint, stopper)
                results.put(("done", os.getpid(), job.index, row))
        finally:
            stopper.join()
            store.close()
            shutil.rmtree(workdir, ignore_errors=True)


def _in_process(cfg: BenchConfig, jobs: list[Job], sigint: _Sigint, started: set[int],
                on_start: Callable[[Job], None], on_result: Callable[[EpisodeResult], None]) -> None:
    """parallel = 1: the episodes run here; ``started`` collects the indexes of the jobs begun."""
    from transcripts import TranscriptStore

    try:
        policy = cfg.policy.build()
    except Exception as e:
        raise BenchError(f"cannot build the {cfg.policy.label!r} policy: {type(e).__name__}: {e}") from None
    split = load_split()
    workdir = Path(tempfile.mkdtemp(prefix="aoi-bench-"))
    store = TranscriptStore(cfg.transcripts)
    stopper = Stopper()
    try:
        with _quiet_uvicorn():
            try:
                for job in jobs:
                    if sigint.hit:
                        break
                    started.add(job.index)
                    on_start(job)
                    on_result(run_job(cfg, job, policy, store, workdir, split, sigint, stopper))
            finally:
                stopper.join()
    finally:
        store.close()
        shutil.rmtree(workdir, ignore_errors=True)


class _Pool:
    """``parallel`` spawned workers fed from one job queue; messages come back on one result queue."""

    def __init__(self, cfg: BenchConfig, jobs: list[Job]):
        self.cfg = cfg
        self.ctx = mp.get_context("spawn")
        self.jobs_q = self.ctx.Queue()
        self.results_q = self.ctx.Queue()
        for job in jobs:
            self.jobs_q.put(job)
        for _ in range(cfg.parallel):
            self.jobs_q.put(None)  # one sentinel per worker; a replacement takes the dead worker's
        self.procs: dict[int, Any] = {}
        self.running: dict[int, int] = {}  # pid -> job index
        for _ in range(cfg.parallel):
            self.spawn()

    def spawn(self) -> None:
        p = self.ctx.Process(target=_worker, args=(self.cfg, self.jobs_q, self.results_q, os.getpid()), daemon=True,
                             name="aoi-bench-worker")
        p.start()
        self.procs[p.pid] = p

    def messages(self, timeout: float) -> Iterator[tuple[Any, ...]]:
        try:
            yield self.results_q.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            try:
                yield self.results_q.get_nowait()
            except queue.Empty:
                return

    def dead(self) -> list[tuple[int, int]]:
        """Workers that exited: (pid, exit code); forgotten once reported."""
        gone = [(pid, p.exitcode) for pid, p in self.procs.items() if not p.is_alive()]
        for pid, _ in gone:
            self.procs.pop(pid).join(timeout=0)
        return gone

    def interrupt(self) -> None:
        for pid, p in self.procs.items():
            if p.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT)

    def close(self) -> None:
        for p in self.procs.values():
            if p.is_alive():
                p.terminate()
        for p in self.procs.values():
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        self.jobs_q.cancel_join_thread()
        self.results_q.cancel_join_thread()


def _pooled(cfg: BenchConfig, jobs: list[Job], sigint: _Sigint, started: set[int],
            on_start: Callable[[Job], None], on_result: Callable[[EpisodeResult], None]) -> None:
    by_index = {j.index: j for j in jobs}
    split = load_split()
    finished: set[int] = set()
    pool = _Pool(cfg, jobs)
    fatal: str | None = None

    def handle(msg: tuple[Any, ...]) -> None:
        nonlocal fatal
        kind, pid = msg[0], msg[1]
        if kind == "start":
            pool.running[pid] = msg[2]
            started.add(msg[2])
            on_start(by_index[msg[2]])
        elif kind == "done":
            pool.running.pop(pid, None)
            finished.add(msg[2])
            on_result(msg[3])
        elif kind == "fatal":
            fatal = msg[2]

    def reap() -> None:
        for pid, code in pool.dead():
            idx = pool.running.pop(pid, None)
            if idx is not None and idx not in finished:  # it died mid-episode
                finished.add(idx)
                status: Status = "interrupted" if sigint.hit else "failed"
                on_result(_row(cfg, by_index[idx], split, status, stop_reason="interrupted" if sigint.hit else "error",
                               error=None if sigint.hit else f"the worker process died (exit code {code})"))
            if not sigint.hit and fatal is None and len(finished) < len(jobs):
                pool.spawn()

    try:
        while len(finished) < len(jobs) and fatal is None and not sigint.hit:
            for msg in pool.messages(timeout=0.5):
                handle(msg)
            reap()
        if fatal is not None:
            raise BenchError(fatal)
        if sigint.hit:
            # Every worker gets one SIGINT: its running episode is marked interrupted and its row comes back.
            pool.interrupt()
            deadline = time.monotonic() + DRAIN_S
            while pool.procs and time.monotonic() < deadline:
                for msg in pool.messages(timeout=0.2):
                    handle(msg)
                reap()
            for msg in pool.messages(timeout=0.1):
                handle(msg)
            for idx in sorted(started - finished):  # cut short before it could report
                on_result(_row(cfg, by_index[idx], split, "interrupted", stop_reason="interrupted"))
    finally:
        pool.close()


def run_bench(cfg: BenchConfig, *, on_start: Callable[[Job], None] | None = None,
              on_result: Callable[[EpisodeResult], None] | None = None) -> BenchOutcome:
    """Run every job; Ctrl-C stops cleanly (``interrupted=True``, the finished rows kept)."""
    if not cfg.problems:
        raise BenchError("no problems selected: check --problems / --task (`aoi bench list` shows them)")
    from transcripts import TranscriptStore

    jobs = cfg.jobs()
    rows: list[EpisodeResult] = []
    started_at = datetime.now(UTC)
    t0 = time.perf_counter()

    def result(row: EpisodeResult) -> None:
        rows.append(row)
        if on_result:
            on_result(row)

    start = on_start or (lambda job: None)
    TranscriptStore(cfg.transcripts).close()  # create and migrate once, before workers race to
    started: set[int] = set()
    with _Sigint() as sigint:
        try:
            run = _in_process if cfg.parallel == 1 or len(jobs) == 1 else _pooled
            run(cfg, jobs, sigint, started, start, result)
        except KeyboardInterrupt:  # a second Ctrl-C: stop now, with what came back
            pass
    interrupted = sigint.hit
    if interrupted:  # episodes of killed workers: their writer is gone, so the store marks them interrupted
        with contextlib.suppress(Exception), TranscriptStore(cfg.transcripts) as store:
            store.mark_interrupted_running()
    order = {p.id: i for i, p in enumerate(cfg.problems)}
    rows.sort(key=lambda r: (r.run, order.get(r.problem_id, 0)))
    return BenchOutcome(config=cfg, rows=rows, interrupted=interrupted, wall_s=round(time.perf_counter() - t0, 3),
                        started_at=started_at, not_run=len(jobs) - len(started))


def select_problems(pattern: str = "aoi86", files: Iterable[Path] = (), tasks: Iterable[str] | None = None,
                    families: Iterable[str] | None = None) -> list[BenchProblem]:
    """The built-in problems plus ``files``, selected by ``pattern`` (see ``ProblemSet.select``). Raises
    ``ProblemFileError`` for a bad file and ``KeyError`` for an unknown problem."""
    from bench.problems import ProblemSet

    ps = ProblemSet.builtin()
    for f in files:
        ps.load_file(Path(f))
    return ps.select(pattern, tasks=tasks, families=families)
