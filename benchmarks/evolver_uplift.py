"""Uplift of evolver guidance on unseen fault families: a policy on the held-out problems of the family split, K runs
each (run r uses seed r), without and with a guidance file; avg@K, best@K and the spread of the per-run success
rates, overall and by task type. Episodes go to a transcript store like any `aoi bench` run.

    .venv/bin/python benchmarks/evolver_uplift.py --guidance guidance.yaml [--max-steps 6] [--runs 5] \
        [--parallel 2] [--policy baseline] [--transcripts /tmp/uplift.db] [--json out.json]

The same two arms with `aoi bench` (the held-out ids from `aoi bench list`, split column):
`aoi bench --problems ID,ID,... --runs 5 --max-steps 6 [--guidance guidance.yaml]`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.problems import ProblemSet
from bench.runner import BenchConfig, PolicySpec, run_bench
from bench.scores import score
from bench.split import load_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--guidance", type=Path, required=True)
    ap.add_argument("--policy", default="baseline")
    ap.add_argument("--model")
    ap.add_argument("--max-steps", type=int, default=6)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--split", type=Path)
    ap.add_argument("--transcripts", type=Path, default=Path("/tmp/aoi-uplift.db"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    split = load_split(args.split)
    problems = [p for p in ProblemSet.builtin() if p.in_aoi86 and split.is_held_out(p.family)]
    out: dict[str, object] = {"problems": len(problems), "runs": args.runs, "max_steps": args.max_steps,
                              "policy": args.policy, "guidance": str(args.guidance)}
    for arm, options in (("without", {}), ("with", {"guidance": str(args.guidance)})):
        t0 = time.perf_counter()
        cfg = BenchConfig(policy=PolicySpec(name=args.policy, model=args.model, options=options), problems=problems,
                          runs=args.runs, parallel=args.parallel, max_steps=args.max_steps,
                          transcripts=args.transcripts)
        outcome = run_bench(cfg)
        s = score(outcome.rows)
        o = s.overall
        per_run = o.per_run
        out[arm] = {"avg_at_k": o.avg_at_k, "best_at_k": o.best_at_k, "per_run": per_run, "run_std": o.run_std,
                    "spread": round(max(per_run) - min(per_run), 4) if per_run else None,
                    "by_task": {t: {"avg_at_k": g.avg_at_k, "best_at_k": g.best_at_k, "run_std": g.run_std,
                                    "problems": g.problems} for t, g in s.by_task.items()},
                    "wall_s": round(time.perf_counter() - t0, 1), "bench_run": cfg.bench_run,
                    "solved_problems": sorted({r.problem_id for r in outcome.rows if r.success})}
    print(f"held-out problems: {len(problems)}, runs {args.runs}, max_steps {args.max_steps}, policy {args.policy}")
    print("| arm | avg@K | best@K | per-run rates | run std | max-min | wall s |\n|---|---:|---:|---|---:|---:|---:|")
    for arm in ("without", "with"):
        a = out[arm]
        assert isinstance(a, dict)
        rates = ", ".join(f"{100 * r:.1f}" for r in a["per_run"])
        std = a["run_std"]
        print(f"| {arm} guidance | {100 * a['avg_at_k']:.1f}% | {100 * a['best_at_k']:.1f}% | {rates} | "
              f"{'-' if std is None else f'{100 * std:.2f}'} | {100 * (a['spread'] or 0):.1f} | {a['wall_s']} |")
    print("\n| task | problems | avg@K without | avg@K with | best@K without | best@K with |")
    print("|---|---:|---:|---:|---:|---:|")
    w, g = out["without"], out["with"]
    assert isinstance(w, dict) and isinstance(g, dict)
    for t, row in w["by_task"].items():
        r2 = g["by_task"].get(t, {})
        print(f"| {t} | {row['problems']} | {100 * (row['avg_at_k'] or 0):.1f}% | "
              f"{100 * (r2.get('avg_at_k') or 0):.1f}% | {100 * (row['best_at_k'] or 0):.1f}% | "
              f"{100 * (r2.get('best_at_k') or 0):.1f}% |")
    gained = sorted(set(g["solved_problems"]) - set(w["solved_problems"]))
    lost = sorted(set(w["solved_problems"]) - set(g["solved_problems"]))
    print(f"\nsolved only with guidance (any run): {', '.join(gained) or 'none'}")
    print(f"solved only without guidance (any run): {', '.join(lost) or 'none'}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
