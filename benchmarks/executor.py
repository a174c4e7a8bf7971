"""Benchmark the executor: what verification costs per call, and how many plans per second it runs on the simulator.

Measures, with the simulator serving the social-network application from a child process over real HTTPS:

* verification overhead per call, without the cluster: Ed25519 signature alone, ``verify_token`` (header rules,
  signature, claims), ``Executor.verify`` (token + plan parse + canonical hash + scope + key role + policy +
  ledger lookup), and signing a token (``sign_plan``);
* ``check_plan`` end to end (verification, reading every target, a server-side dry-run of every action, one audit
  entry), and ``execute_plan`` end to end (the same, plus the ledger's single-use insert, the writes and a read of
  each target after), for a 1-action plan (scale) and a 3-action plan (scale, rollout restart, set image);
* the same single write sent directly with the same client (no executor), as the floor;
* ``execute_plan`` through an in-memory MCP client (``Client(server)``), to show the protocol's share.

Each plan is approved right before it runs (untimed): a token pins the resourceVersions it saw, and every executed
plan changes them. Latencies are medians and 95th percentiles over ``--runs`` calls after ``--warmup`` untimed ones.

    .venv/bin/python benchmarks/executor.py [--runs 200] [--warmup 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NS = "test-social-network"
TARGETS = ("user-service", "text-service", "media-service", "url-shorten-service")


def _p95(samples: list[float]) -> float:
    s = sorted(samples)
    return s[max(0, min(len(s) - 1, round(0.95 * len(s)) - 1))]


def _stats(samples: list[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(samples) * 1000, "p95_ms": _p95(samples) * 1000,
            "per_s": len(samples) / sum(samples) if sum(samples) else float("inf"), "n": len(samples)}


def _time(fn: Callable[[], Any], runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


# ------------------------------------------------------------------------------------------------ child
def child_serve(kubeconfig: str) -> None:
    """Serve a simulated cluster with social-network deployed; quit on a line on stdin."""
    from cluster.sim import SimCluster, SimConfig
    from cluster.sim.apps import APPS
    from cluster.sim.apps.deploy import deploy
    from cluster.sim.server import SimServer

    cluster = SimCluster(SimConfig(seed=1))
    deploy(cluster, APPS["social-network"])
    cluster.advance(120)
    server = SimServer(cluster, kubeconfig=kubeconfig).start()
    print(json.dumps({"url": server.url, "pods": cluster.store.count("pods")}), flush=True)
    sys.stdin.readline()
    server.stop()


# ------------------------------------------------------------------------------------------------ parent
def run(runs: int, warmup: int) -> dict[str, Any]:
    import anyio
    from mcp import Client

    from cluster.connect import load_api_client
    from servers.executor.audit import AuditLog
    from servers.executor.core import Executor, dry_run_plan, now_iso
    from servers.executor.keys import (
        KeyEntry,
        Keyring,
        generate_key_pair,
        load_private_key,
        sign_plan,
        verify_token,
    )
    from servers.executor.kube import MERGE, Kube
    from servers.executor.ledger import Ledger
    from servers.executor.plan import Plan
    from servers.executor.policy import Policy
    from servers.executor.server import build_server

    tmp = Path(tempfile.mkdtemp(prefix="aoi-exec-bench-"))
    kubeconfig = tmp / "kubeconfig"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--_serve", str(kubeconfig)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    results: dict[str, Any] = {"pods": info["pods"]}
    try:
        generate_key_pair(tmp, "alice")
        key = load_private_key(tmp / "alice.key")
        ring = Keyring(keys=[KeyEntry(kid="alice", public_key=(tmp / "alice.pub").read_text(), allow=["*"])])
        policy = Policy()
        kube = Kube(load_api_client(kubeconfig, readonly=False), policy)
        reviewer = Kube(load_api_client(kubeconfig, readonly=False), policy, dry_run_only=True)
        ledger = Ledger(tmp / "ledger.sqlite")
        ex = Executor(kube, ring, policy, ledger, AuditLog(tmp / "audit.jsonl", ledger))
        counter = iter(range(10**9))

        def plan_for(n_actions: int) -> Plan:
            i = next(counter)
            target = TARGETS[i % len(TARGETS)]
            actions: list[dict[str, Any]] = [{"type": "scale", "namespace": NS, "name": target,
                                              "replicas": 1 + (i // len(TARGETS)) % 2}]
            if n_actions >= 3:
                actions += [{"type": "rollout_restart", "namespace": NS, "name": target},
                            {"type": "set_image", "namespace": NS, "name": target, "container": target,
                             "image": f"deathstarbench/social-network-microservices:{'latest' if i % 2 else 'v2'}"}]
            return Plan.model_validate({"id": f"bench-{i}", "goal": "benchmark", "cluster": ex.cluster_id,
                                        "actions": actions})

        def approve(plan: Plan) -> str:
            observed, _ = dry_run_plan(plan, reviewer, now_iso(time.time()))
            return sign_plan(plan, key, "alice", ex.cluster_id, observed=observed)

        # -------------------------------------------------------------------- verification without the cluster
        offline = Executor(None, ring, policy, ledger, None, cluster_id=ex.cluster_id)
        p1 = plan_for(1)
        t1 = approve(p1)
        doc = p1.model_dump(mode="json")
        pub = ring.keys[0].public()
        signing_input, sig = t1.rsplit(".", 1)
        raw_sig = base64.urlsafe_b64decode(sig + "==")
        n = runs * 10
        results["ed25519_verify"] = _stats(_time(lambda: pub.verify(raw_sig, signing_input.encode()), n, warmup))
        results["verify_token"] = _stats(_time(lambda: verify_token(
            t1, ring, audience=ex.cluster_id, now=time.time(), max_lifetime_s=900), n, warmup))
        results["executor_verify"] = _stats(_time(lambda: offline.verify(doc, t1), n, warmup))
        results["sign_plan"] = _stats(_time(lambda: sign_plan(p1, key, "alice", ex.cluster_id), n, warmup))
        scratch = Ledger(tmp / "scratch.sqlite")
        scratch_log = AuditLog(tmp / "scratch.jsonl", scratch)
        entry = {"op": "execute", "result": "executed", "requests": [{"method": "GET", "path": "/x"}] * 3}
        results["audit_append"] = _stats(_time(lambda: scratch_log.append(entry), runs, warmup))
        results["ledger_consume"] = _stats(_time(lambda: scratch.consume(f"jti-{next(counter):024d}", "alice",
                                                                          "0" * 64, 2**31), runs, warmup))

        # -------------------------------------------------------------------- against the simulator
        def timed_plans(n_actions: int, call: Callable[[Plan, str], Any], check: bool = False) -> list[float]:
            samples = []
            for i in range(warmup + runs):
                plan = plan_for(n_actions)
                token = approve(plan)
                t = time.perf_counter()
                r = call(plan, token)
                dt = time.perf_counter() - t
                want = "verified" if check else "executed"
                status = r["status"] if isinstance(r, dict) else r.status
                if status != want:
                    raise RuntimeError(f"plan {plan.id}: {r}")
                if i >= warmup:
                    samples.append(dt)
            return samples

        def direct_scale() -> None:
            i = next(counter)
            kube.patch("Deployment", NS, TARGETS[i % len(TARGETS)], {"spec": {"replicas": 1 + (i // 4) % 2}}, MERGE,
                       dry_run=False, sub="scale")

        results["direct_scale_patch"] = _stats(_time(direct_scale, runs, warmup))
        results["check_plan_1"] = _stats(timed_plans(1, ex.check, check=True))
        results["execute_plan_1"] = _stats(timed_plans(1, ex.execute))
        results["execute_plan_3"] = _stats(timed_plans(3, ex.execute))

        server = build_server(ex)

        async def over_mcp() -> list[float]:
            samples = []
            async with Client(server) as c:
                for i in range(warmup + runs):
                    plan = plan_for(1)
                    token = approve(plan)
                    t = time.perf_counter()
                    r = await c.call_tool("execute_plan", {"plan": plan.model_dump(mode="json"), "token": token})
                    dt = time.perf_counter() - t
                    if (r.structured_content or {}).get("status") != "executed":
                        raise RuntimeError(str(r.structured_content))
                    if i >= warmup:
                        samples.append(dt)
            return samples

        results["execute_plan_1_mcp"] = _stats(anyio.run(over_mcp))
        approvals = []
        for _ in range(runs):
            plan = plan_for(1)
            t = time.perf_counter()
            approve(plan)
            approvals.append(time.perf_counter() - t)
        results["approve_1"] = _stats(approvals)
        results["audit_entries"] = len((tmp / "audit.jsonl").read_text().splitlines())
        kube.close()
        reviewer.close()
    finally:
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        proc.wait(timeout=30)
    return results


ROWS = [
    ("ed25519_verify", "Ed25519 signature check alone (cryptography)"),
    ("verify_token", "verify_token: header rules + signature + claims"),
    ("executor_verify", "Executor.verify: token + plan parse + hash + scope + role + policy + ledger lookup"),
    ("sign_plan", "sign_plan (approver side)"),
    ("audit_append", "one audit entry (JSON line + fsync, head in SQLite)"),
    ("ledger_consume", "the single-use insert (SQLite, WAL, synchronous)"),
    ("direct_scale_patch", "floor: the scale PATCH sent directly, no executor"),
    ("approve_1", "approval of a 1-action plan: read + dry-run + sign (untimed in the rows below)"),
    ("check_plan_1", "check_plan, 1 action (verify + read + dry-run + audit)"),
    ("execute_plan_1", "execute_plan, 1 action (check_plan's work + ledger insert + the write)"),
    ("execute_plan_3", "execute_plan, 3 actions (scale, restart, set image)"),
    ("execute_plan_1_mcp", "execute_plan, 1 action, through an in-memory MCP client"),
]


def report(results: dict[str, Any]) -> str:
    lines = ["| measurement | median | p95 | per second |", "|---|---:|---:|---:|"]
    for key, label in ROWS:
        r = results[key]
        def fmt(ms: float) -> str:
            return f"{ms * 1000:.0f} µs" if ms < 1 else f"{ms:.1f} ms"

        med, p95 = fmt(r["median_ms"]), fmt(r["p95_ms"])
        lines.append(f"| {label} | {med} | {p95} | {r['per_s']:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=200, help="timed calls per measurement")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls first")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--_serve", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._serve:
        child_serve(args._serve)
        return
    results = run(args.runs, args.warmup)
    results["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                          "load": os.getloadavg()}
    print(report(results))
    print(f"\n{results['pods']} pods in the cluster; {results['audit_entries']} audit entries written; "
          f"load average {results['machine']['load'][0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
