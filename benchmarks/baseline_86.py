"""The baseline Observer on every AOI-86 problem of the simulator, one episode each (in-process MCP), graded by
AIOpsLab's rules: success per task type and overall, and wall time. A simulator result, not a real-cluster one.

    .venv/bin/python benchmarks/baseline_86.py [--seed 0] [--problems all|ID,ID] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import anyio

from bench.episode import run_problem
from bench.sim import SimProblem
from cluster.sim.faults.problems import AOI86, PROBLEMS
from observer.policies import make_policy
from transcripts import TranscriptStore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--problems", default="all")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    ids = list(AOI86) if args.problems == "all" else args.problems.split(",")
    results = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aoi-baseline-") as tmp:
        store = TranscriptStore(Path(tmp) / "transcripts.db")
        for pid in ids:
            sim = SimProblem(pid, Path(tmp) / pid, seed=args.seed).start()
            t0 = time.perf_counter()
            try:
                outcome, graded = anyio.run(run_problem, sim, make_policy("baseline", None), store)
            finally:
                sim.stop()
            results.append({"id": pid, "task": PROBLEMS[pid].task, "success": bool(graded.get("success")),
                            "steps": outcome.steps if hasattr(outcome, "steps") else None,
                            "seconds": round(time.perf_counter() - t0, 3)})
            print(f"{'ok  ' if results[-1]['success'] else 'MISS'} {pid} ({results[-1]['seconds']} s)", flush=True)
    total = time.perf_counter() - started
    by_task: Counter[str] = Counter()
    ok_task: Counter[str] = Counter()
    for r in results:
        by_task[r["task"]] += 1
        ok_task[r["task"]] += r["success"]
    print("\n| task | solved | accuracy |\n|---|---:|---:|")
    for task in ("detection", "localization", "analysis", "mitigation"):
        if by_task[task]:
            print(f"| {task} | {ok_task[task]}/{by_task[task]} | {100 * ok_task[task] / by_task[task]:.1f}% |")
    solved = sum(r["success"] for r in results)
    print(f"| **all** | {solved}/{len(results)} | {100 * solved / len(results):.1f}% |")
    print(f"\nwall time: {total:.1f} s for {len(results)} episodes")
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "results": results, "wall_s": total}, indent=2))


if __name__ == "__main__":
    main()
