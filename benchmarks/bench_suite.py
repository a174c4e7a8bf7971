"""Wall time of the benchmark suite: the baseline policy on AOI's 86 problems through ``bench.runner`` (each episode
a fresh seeded simulator, in-process MCP, graded, written to a transcript store), with 1 and 2 worker processes;
optionally a cProfile of every thread over a sample of episodes, to see where an episode's time goes.

    .venv/bin/python benchmarks/bench_suite.py [--parallel 2,1] [--runs 1] [--problems aoi86] [--seed 0]
                                               [--profile N] [--json out.json]

It replaces ``baseline_86.py`` (the same episodes; the success table is the bench's own, `aoi bench` prints it).
The machine's load average is printed with every measurement: on a shared machine it explains the spread.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import resource
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.runner import BenchConfig, Stopper, run_bench, run_job, select_problems
from bench.scores import score
from bench.split import load_split
from transcripts import TranscriptStore

# Where an episode's time goes: (label, file suffix, function). Entry points, so categories do not overlap except
# where indented (a part of the line above). Times are summed over all threads (tool calls run in worker threads,
# the simulator's HTTP server in its own), so they are thread-seconds, not wall seconds.
CATEGORIES = [
    ("problem bring-up (deploy, warm-up, inject, symptoms)", "cluster/sim/faults/setup.py", "bring_up"),
    ("simulator HTTPS server start", "cluster/sim/server.py", "start"),
    ("probe + executor MCP servers built", "bench/sim.py", "endpoints"),
    ("MCP sessions (connect, list tools, close)", "observer/mcp.py", "__aenter__"),
    ("probe tool calls (in the probe)", "servers/probe/server.py", "handler"),
    ("  simulator: Jaeger API (trace synthesis)", "cluster/sim/telemetry/jaeger.py", "endpoint"),
    ("  simulator: Prometheus query_range", "cluster/sim/telemetry/prometheus.py", "query_range"),
    ("  simulator: Prometheus query", "cluster/sim/telemetry/prometheus.py", "query"),
    ("  TLS handshakes (client and server side)", "~", "<method 'do_handshake' of '_ssl._SSLSocket' objects>"),
    ("  TLS contexts (load default CA paths)", "~", "<method 'set_default_verify_paths' of '_ssl._SSLContext' "
                                                    "objects>"),
    ("policy decisions (baseline)", "observer/baseline.py", "decide"),
    ("grading", "bench/graders.py", "grade"),
    ("simulator stop (background)", "bench/sim.py", "stop"),
]


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (the workers, once joined)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def suite(problems: list[Any], runs: int, parallel: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aoi-bench-suite-") as tmp:
        cfg = BenchConfig(problems=problems, runs=runs, parallel=parallel, seed=seed,
                          transcripts=Path(tmp) / "transcripts.db")
        load0 = os.getloadavg()[0]
        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        outcome = run_bench(cfg)
        wall = time.perf_counter() - t0
        cpu = cpu_seconds() - cpu0
        with TranscriptStore(cfg.transcripts) as store:
            stored = sum(1 for e in store.episodes(limit=None) if e.success is not None)
    s = score(outcome.rows)
    return {"parallel": parallel, "episodes": len(outcome.rows), "wall_s": round(wall, 1),
            "episodes_per_s": round(len(outcome.rows) / wall, 2), "solved": sum(r.success for r in outcome.rows),
            "graded_transcripts": stored, "mean_episode_wall_s": round(s.overall.mean_wall_s or 0, 2),
            "cpu_s": round(cpu, 1), "cpu_s_per_episode": round(cpu / max(1, len(outcome.rows)), 2),
            "best_at_k": s.overall.best_at_k, "load_before": round(load0, 2),
            "load_after": round(os.getloadavg()[0], 2)}


@contextlib.contextmanager
def profile_all_threads() -> Iterator[list[cProfile.Profile]]:
    """cProfile in this thread and in every thread started meanwhile (threading.setprofile hands each new thread
    a hook that enables its own profiler on its first event)."""
    profiles: list[cProfile.Profile] = []

    def hook(frame: Any, event: str, arg: Any) -> None:
        pr = cProfile.Profile()
        profiles.append(pr)
        pr.enable()  # replaces this hook in that thread

    main = cProfile.Profile()
    profiles.append(main)
    threading.setprofile(hook)
    main.enable()
    try:
        yield profiles
    finally:
        main.disable()
        threading.setprofile(None)  # type: ignore[arg-type]


def profile(problems: list[Any], n: int, seed: int) -> dict[str, Any]:
    """n episodes one after another, every thread profiled; seconds per episode by category."""
    sample = problems[:: max(1, len(problems) // n)][:n]
    tmp = Path(tempfile.mkdtemp(prefix="aoi-bench-profile-"))
    try:
        cfg = BenchConfig(problems=sample, seed=seed, transcripts=tmp / "t.db")
        store, policy, split = TranscriptStore(cfg.transcripts), cfg.policy.build(), load_split()
        stopper = Stopper()
        run_job(cfg, cfg.jobs()[0], policy, store, tmp, split, None, stopper)  # warm: imports, first-call caches
        stopper.join()
        t0 = time.perf_counter()
        with profile_all_threads() as profiles:
            for job in cfg.jobs():
                run_job(cfg, job, policy, store, tmp, split, None, stopper)
            stopper.join()
        wall = time.perf_counter() - t0
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stats = pstats.Stats(profiles[0])
    for pr in profiles[1:]:
        with contextlib.suppress(TypeError):  # a thread that never ran Python code
            stats.add(pr)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    cats = {}
    for label, file, func in CATEGORIES:
        ct = sum(v[3] for (f, _, fn), v in raw.items() if f.endswith(file) and fn == func)
        cats[label] = round(ct / len(sample), 3)
    return {"episodes": len(sample), "wall_s_profiled": round(wall, 1),
            "wall_s_per_episode_profiled": round(wall / len(sample), 3), "per_episode_s": cats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parallel", default="2,1", help="comma-separated worker counts to time")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--problems", default="aoi86")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="also profile N episodes (every thread)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    problems = select_problems(args.problems)
    out: dict[str, Any] = {"problems": len(problems), "runs": args.runs, "cpus": os.cpu_count(), "suites": []}
    print(f"{len(problems)} problems x {args.runs} run(s), baseline policy, in-process MCP, {os.cpu_count()} CPUs")
    print("| workers | episodes | wall s | episodes/s | CPU s (per episode) | mean episode s | solved "
          "| graded transcripts | load before/after |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for parallel in (int(p) for p in args.parallel.split(",")):
        r = suite(problems, args.runs, parallel, args.seed)
        out["suites"].append(r)
        print(f"| {parallel} | {r['episodes']} | {r['wall_s']} | {r['episodes_per_s']} | {r['cpu_s']} "
              f"({r['cpu_s_per_episode']}) | {r['mean_episode_wall_s']} | {r['solved']} | {r['graded_transcripts']} | "
              f"{r['load_before']} / {r['load_after']} |", flush=True)
    if args.profile:
        p = profile(problems, args.profile, args.seed)
        out["profile"] = p
        print(f"\nprofile: {p['episodes']} episodes, {p['wall_s_per_episode_profiled']} s each under cProfile "
              "(thread-seconds per episode; indented lines are part of the line above)")
        print("| where | s per episode |\n|---|---:|")
        for label, s in p["per_episode_s"].items():
            print(f"| {label} | {s} |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
