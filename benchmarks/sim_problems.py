"""Benchmark bringing up the AIOpsLab problems on the simulator, and querying their telemetry over real HTTPS.

Measures:

* for each of the 86 problems (``AOI86``): the wall time from ``SimCluster(SimConfig(seed=0))`` to
  ``bring_up(cluster, problem)`` returning. At that point the application is deployed, has warmed up, the
  fault is injected and its symptoms have developed. Every sample uses a fresh cluster. The runs go round
  robin over the problems ``--repeat`` times, in one child process, after one untimed warm-up bring-up (timed
  separately as the cold start). Results are grouped per application and per fault family (min/median/max
  over all samples), with the overall maximum;
* for one problem per application, run for ``--after`` simulated seconds past ``bring_up`` and served by
  ``SimServer(..., telemetry=True)`` from a child process: sequential requests on one keep-alive HTTPS
  connection for each kind of query. The kinds are pod logs (``tailLines=100``, with the cluster's bearer
  token) of the entry pod and of the fault's target; Prometheus instant and range queries (30 min at a 15 s
  step) of per-pod CPU and of p95 span latency; and Jaeger trace searches (the entry service, limit 20,
  lookback 1h, with and without ``error=true``). Reported per kind: requests per second, median and p95
  latency, and response size.

    .venv/bin/python benchmarks/sim_problems.py [--problems all|ID,ID] [--repeat 3] [--requests 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import math
import os
import platform
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1.0  # the target: any problem ready in under a second
AFTER_S = 3600.0  # simulated seconds the served cluster runs past bring_up before it is queried
RANGE_S, STEP_S = 1800, 15  # range queries: the last 30 minutes at a 15 s step
KIND_BUDGET_S = 15.0  # stop a query kind early once its timed requests have taken this long (at least 3 run)
# One problem per application for the telemetry queries: faults whose symptoms show in logs, metrics and traces.
TELEMETRY_PROBLEMS = ("revoke_auth_mongodb-detection-1", "k8s_target_port-misconfig-detection-1",
                      "astronomy_shop_payment_service_failure-detection-1")
CPU_QUERY = 'sum by (pod) (rate(container_cpu_usage_seconds_total{{namespace="{ns}",container!=""}}[5m]))'
P95_QUERY = ("histogram_quantile(0.95, sum by (le, service_name) "
             '(rate(traces_span_metrics_duration_milliseconds_bucket{{namespace="{ns}"}}[5m])))')


# ------------------------------------------------------------------------------------------ helpers
def _median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def _p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def _size(n: float) -> str:
    return f"{n / 1024:,.1f} KiB" if n < 2**20 else f"{n / 2**20:.1f} MiB"


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _pod_of(cluster: Any, namespace: str, component: str) -> str | None:
    """A pod of ``component`` (a Deployment's pods are named ``<component>-<hash>-<suffix>``), Running first."""
    pods = [p for p in cluster.store.list("pods", namespace=namespace)
            if p["metadata"]["name"].rsplit("-", 2)[0] == component]
    pods.sort(key=lambda p: ((p.get("status") or {}).get("phase") != "Running", p["metadata"]["name"]))
    return pods[0]["metadata"]["name"] if pods else None


def _telemetry_choice(ids: list[str]) -> list[str]:
    """One problem per application: the default one when selected, else the first selected of that app."""
    from cluster.sim.faults.problems import PROBLEMS

    chosen: dict[str, str] = {}
    for pid in [p for p in TELEMETRY_PROBLEMS if p in ids] + ids:
        chosen.setdefault(PROBLEMS[pid].app, pid)
    return list(chosen.values())


# ------------------------------------------------------------------------------ child: bring-ups
def child_bringup(ids: list[str], repeat: int) -> None:
    """Time ``SimCluster(...)`` + ``bring_up`` for each problem, ``repeat`` rounds; one JSON line on stdout."""
    sys.path.insert(0, str(ROOT))
    t = time.perf_counter()
    from cluster.sim.cluster import SimCluster
    from cluster.sim.config import SimConfig
    from cluster.sim.faults.problems import PROBLEMS
    from cluster.sim.faults.setup import bring_up

    import_s = time.perf_counter() - t

    def once(pid: str) -> dict[str, Any]:
        problem = PROBLEMS[pid]
        gc.collect()
        t0 = time.perf_counter()
        cluster = SimCluster(SimConfig(seed=0))
        t1 = time.perf_counter()
        bring_up(cluster, problem)
        t2 = time.perf_counter()
        return {"total_s": t2 - t0, "construct_s": t1 - t0, "bring_up_s": t2 - t1,
                "pods": cluster.store.count("pods"), "sim_s": cluster.clock.now}

    cold = {"problem": ids[0], **once(ids[0])}  # first in the process: lazy imports and caches fill here
    runs: dict[str, list[dict[str, Any]]] = {pid: [] for pid in ids}
    for _ in range(repeat):
        for pid in ids:
            runs[pid].append(once(pid))
    print(json.dumps({"import_s": import_s, "cold": cold, "runs": runs}), flush=True)


# ----------------------------------------------------------------------------------- child: serve
def child_serve(pid: str, after: float, kubeconfig: str) -> None:
    """Bring ``pid`` up, run ``after`` simulated seconds more, serve with telemetry, wait for ``quit``."""
    sys.path.insert(0, str(ROOT))
    from cluster.sim.apps import APPS
    from cluster.sim.cluster import SimCluster
    from cluster.sim.config import SimConfig
    from cluster.sim.faults.problems import PROBLEMS
    from cluster.sim.faults.setup import bring_up
    from cluster.sim.server import SimServer

    problem = PROBLEMS[pid]
    app = APPS[problem.app]
    t0 = time.perf_counter()
    cluster = SimCluster(SimConfig(seed=0))
    incident = bring_up(cluster, problem)
    t1 = time.perf_counter()
    cluster.advance(after)
    t2 = time.perf_counter()
    server = SimServer(cluster, kubeconfig=kubeconfig, telemetry=True).start()
    info = {"problem": pid, "app": problem.app, "namespace": app.namespace, "entry": app.entry,
            "target": problem.target, "entry_pod": _pod_of(cluster, app.namespace, app.entry),
            "target_pod": _pod_of(cluster, app.namespace, problem.target) if problem.target else None,
            "bring_up_s": t1 - t0, "advance_s": t2 - t1, "injected_at": incident.injected_at,
            "sim_now": cluster.clock.now, "now_unix": cluster.clock.datetime().timestamp(),
            "pods": cluster.store.count("pods"), "url": server.url, "token": cluster.config.token,
            "ca_pem": server.ca_pem.decode()}
    print(json.dumps(info), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
    server.stop()


# -------------------------------------------------------------------------------------- parent
def _child(args: list[str], **kw: Any) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, **kw)


def bench_bringup(ids: list[str], repeat: int) -> dict:
    proc = _child(["--_bringup", ",".join(ids), "--repeat", str(repeat)])
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the bring-up run failed (rc={proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


class Https:
    """One keep-alive HTTPS connection; returns (status, body bytes)."""

    def __init__(self, url: str, token: str, ca_pem: str):
        host_port = url.removeprefix("https://")
        host, _, port = host_port.rpartition(":")
        self.conn = http.client.HTTPSConnection(host.strip("[]"), int(port),
                                                context=ssl.create_default_context(cadata=ca_pem), timeout=120)
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> bytes:
        self.conn.request("GET", path, headers=self.headers)
        resp = self.conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {resp.status}: {body[:300]!r}")
        return body

    def close(self) -> None:
        self.conn.close()


def _queries(info: dict) -> list[tuple[str, str]]:
    ns, entry, now = info["namespace"], info["entry"], info["now_unix"]
    window = {"start": f"{now - RANGE_S:.0f}", "end": f"{now:.0f}", "step": str(STEP_S)}
    cpu, p95 = CPU_QUERY.format(ns=ns), P95_QUERY.format(ns=ns)
    out = [(f"pod log, entry ({info['entry_pod']})",
            f"/api/v1/namespaces/{ns}/pods/{info['entry_pod']}/log?tailLines=100")]
    if info["target_pod"] and info["target_pod"] != info["entry_pod"]:
        out.append((f"pod log, fault target ({info['target_pod']})",
                    f"/api/v1/namespaces/{ns}/pods/{info['target_pod']}/log?tailLines=100"))
    out += [
        ("PromQL instant: CPU by pod", "/prometheus/api/v1/query?" + urlencode({"query": cpu})),
        ("PromQL range 30m/15s: CPU by pod", "/prometheus/api/v1/query_range?" + urlencode({"query": cpu, **window})),
        ("PromQL instant: p95 span latency", "/prometheus/api/v1/query?" + urlencode({"query": p95})),
        ("PromQL range 30m/15s: p95 span latency",
         "/prometheus/api/v1/query_range?" + urlencode({"query": p95, **window})),
        (f"Jaeger search: {entry}, limit 20, 1h",
         "/jaeger/api/traces?" + urlencode({"service": entry, "limit": 20, "lookback": "1h"})),
        (f"Jaeger search: {entry}, error=true",
         "/jaeger/api/traces?" + urlencode({"service": entry, "limit": 20, "lookback": "1h",
                                           "tags": '{"error":"true"}'})),
    ]
    return out


def _result_size(path: str, body: bytes) -> str:
    """What one answer holds: log lines, series (and points) or traces (and spans)."""
    if "/log?" in path:
        lines = body.count(b"\n")
        return f"{lines} line" + ("s" if lines != 1 else "")
    doc = json.loads(body)
    if path.startswith("/prometheus"):
        if doc.get("status") != "success":
            raise RuntimeError(f"GET {path}: {doc}")
        result = doc["data"]["result"]
        points = sum(len(r.get("values") or ()) for r in result)
        return f"{len(result)} series" + (f", {points:,} points" if points else "")
    traces = doc.get("data") or []
    return f"{len(traces)} traces, {sum(len(t.get('spans') or ()) for t in traces):,} spans"


def bench_telemetry(pid: str, requests: int, after: float, tmp: Path) -> dict:
    kubeconfig = tmp / f"kubeconfig-{pid}"
    proc = _child(["--_serve", pid, "--after", str(after), "--_kubeconfig", str(kubeconfig)],
                  stdin=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the server for {pid} exited (rc={proc.wait()})")
        info = json.loads(line)
        print(f"  {pid}: {info['pods']} pods; bring_up {_ms(info['bring_up_s'])}, advancing {after:.0f}s "
              f"simulated {_ms(info['advance_s'])}", flush=True)
        client = Https(info["url"], info["token"], info["ca_pem"])
        kinds = []
        for kind, path in _queries(info):
            body = client.get(path)  # warm-up (also checks the answer)
            holds = _result_size(path, body)
            samples: list[float] = []
            spent = 0.0
            while len(samples) < requests and (spent < KIND_BUDGET_S or len(samples) < 3):
                t = time.perf_counter()
                client.get(path)
                samples.append(time.perf_counter() - t)
                spent += samples[-1]
            kinds.append({"kind": kind, "path": path, "samples_s": samples, "rps": len(samples) / spent,
                          "median_s": _median(samples), "p95_s": _p95(samples), "bytes": len(body),
                          "holds": holds})
            print(f"    {kind}: {len(samples) / spent:.1f} req/s, median {_ms(_median(samples))}", flush=True)
        client.close()
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {**{k: v for k, v in info.items() if k not in ("token", "ca_pem", "url")}, "queries": kinds}


# ------------------------------------------------------------------------------------------ report
def _stats_row(samples: list[float]) -> str:
    return f"{_ms(min(samples))} | {_ms(_median(samples))} | {_ms(max(samples))}"


def report_bringup(doc: dict) -> str:
    from cluster.sim.faults.problems import PROBLEMS

    runs: dict[str, list[dict]] = doc["runs"]
    repeat = len(next(iter(runs.values())))
    by_app: dict[str, list[str]] = {}
    by_family: dict[tuple[str, str], list[str]] = {}
    for pid in runs:
        p = PROBLEMS[pid]
        by_app.setdefault(p.app, []).append(pid)
        by_family.setdefault((p.family, p.app), []).append(pid)

    def totals(pids: list[str], key: str = "total_s") -> list[float]:
        return [r[key] for pid in pids for r in runs[pid]]

    def pods(pids: list[str]) -> str:
        counts = sorted({r["pods"] for pid in pids for r in runs[pid]})
        return str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"

    everything = list(runs)
    worst_pid, worst = max(((pid, r["total_s"]) for pid in runs for r in runs[pid]), key=lambda x: x[1])
    slow = sum(r["total_s"] >= TARGET_S for pid in runs for r in runs[pid])
    n = sum(len(v) for v in runs.values())
    lines = [f"{len(runs)} problems × {repeat} fresh clusters = {n} bring-ups; each sample is `SimCluster(...)` "
             "to `bring_up` returning.", "",
             "| application | problems | pods | min | median | max | of which `SimCluster(...)` (median) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for app, pids in sorted(by_app.items()):
        lines.append(f"| {app} | {len(pids)} | {pods(pids)} | {_stats_row(totals(pids))} "
                     f"| {_ms(_median(totals(pids, 'construct_s')))} |")
    lines.append(f"| **all** | {len(everything)} | {pods(everything)} | {_stats_row(totals(everything))} "
                 f"| {_ms(_median(totals(everything, 'construct_s')))} |")
    lines += ["", "| fault family | application | problems | min | median | max |", "|---|---|---:|---:|---:|---:|"]
    for (family, app), pids in sorted(by_family.items(), key=lambda kv: -_median(totals(kv[1]))):
        lines.append(f"| {family} | {app} | {len(pids)} | {_stats_row(totals(pids))} |")
    cold = doc["cold"]
    verdict = "met" if worst < TARGET_S else f"missed by {slow} of {n} samples"
    lines += ["", f"Overall max: {_ms(worst)} ({worst_pid}); target {TARGET_S:.0f} s: {verdict}. "
              f"Cold start (the first bring-up in a fresh process, {cold['problem']}): {_ms(cold['total_s'])}, "
              f"after {_ms(doc['import_s'])} of imports. Simulated time per bring-up: "
              f"{_median(totals(everything, 'sim_s')):.0f} s."]
    return "\n".join(lines)


def report_telemetry(results: list[dict], after: float) -> str:
    lines = [f"Each cluster ran {after / 60:.0f} simulated minutes past `bring_up` (fault injected at "
             f"t={results[0]['injected_at']:.0f} s, queried at t={results[0]['sim_now']:.0f} s). Sequential "
             "requests on one keep-alive HTTPS connection after one warm-up request per kind.", "",
             "| application (problem) | query | requests | req/s | median | p95 | response | holds |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        label = f"{r['app']} ({r['problem']})"
        for q in r["queries"]:
            lines.append(f"| {label} | {q['kind']} | {len(q['samples_s'])} | {q['rps']:,.1f} "
                         f"| {_ms(q['median_s'])} | {_ms(q['p95_s'])} | {_size(q['bytes'])} | {q['holds']} |")
            label = ""
    slow = [(r["app"], q["kind"], q["median_s"]) for r in results for q in r["queries"] if q["median_s"] > 1.0]
    if slow:
        lines += ["", "Slow (median over 1 s): " + "; ".join(f"{a}: {k} ({_ms(m)})" for a, k, m in slow) + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--problems", default="all", help="'all' (the 86 of AOI86) or problem ids, comma-separated")
    p.add_argument("--repeat", type=int, default=3, help="fresh-cluster bring-ups per problem (0 skips them)")
    p.add_argument("--requests", type=int, default=20,
                   help=f"timed requests per query kind, fewer past {KIND_BUDGET_S:.0f} s (0 skips the queries)")
    p.add_argument("--after", type=float, default=AFTER_S, help="simulated seconds past bring_up before querying")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--_bringup", help=argparse.SUPPRESS)
    p.add_argument("--_serve", help=argparse.SUPPRESS)
    p.add_argument("--_kubeconfig", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._bringup is not None:
        child_bringup(args._bringup.split(","), args.repeat)
        return 0
    if args._serve is not None:
        child_serve(args._serve, args.after, args._kubeconfig)
        return 0

    sys.path.insert(0, str(ROOT))
    from cluster.sim.faults.problems import AOI86, get_problem

    ids = list(AOI86) if args.problems == "all" else [s.strip() for s in args.problems.split(",") if s.strip()]
    for pid in ids:
        try:
            get_problem(pid)
        except KeyError as e:
            p.error(str(e.args[0]))
    meta = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_before": _load(), "repeat": args.repeat, "requests": args.requests, "after_s": args.after,
            "problems": len(ids)}
    started = time.perf_counter()
    bringup = telemetry = None
    if args.repeat > 0:
        print(f"bringing up {len(ids)} problems × {args.repeat} ...", flush=True)
        bringup = bench_bringup(ids, args.repeat)
    if args.requests > 0:
        print("telemetry queries:", flush=True)
        with tempfile.TemporaryDirectory(prefix="aoi-bench-") as tmp:
            telemetry = [bench_telemetry(pid, args.requests, args.after, Path(tmp)) for pid in _telemetry_choice(ids)]
    meta.update(load_after=_load(), wall_s=time.perf_counter() - started)
    print()
    print(f"Machine: {meta['cpus']} CPUs, Python {meta['python']}, {meta['platform']}; load average "
          f"{meta['load_before']} before, {meta['load_after']} after; {meta['wall_s']:.0f} s in all.")
    if bringup:
        print()
        print(report_bringup(bringup))
    if telemetry:
        print()
        print(report_telemetry(telemetry, args.after))
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "bringup": bringup, "telemetry": telemetry}, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
