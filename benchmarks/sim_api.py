"""Benchmark the simulated cluster's Kubernetes API over real HTTPS.

Measures, per cluster size (total pods, system pods included):

* ``kubectl get pods -A``: wall time of the whole command (process start, TLS, the 500-item pages kubectl
  asks for as server-side Tables, printing), median of ``--repeat`` runs after one warm-up that also fills
  kubectl's discovery cache;
* the official Python client's ``CoreV1Api.list_pod_for_all_namespaces()`` (HTTP + JSON + model
  deserialisation), median;
* a raw HTTPS GET of ``/api/v1/pods`` on a keep-alive connection, bytes only, which is close to the
  server's own time; and the same pages kubectl fetches (``limit=500``, ``as=Table``) fetched raw;
* the server process's resident memory (VmRSS) at each size, and memory per pod;

and, separately, how long a 30-pod cluster takes to start (``SimCluster(...)`` to every pod Running and
Ready) and how long ``SimServer.start()`` takes to answer its first HTTPS request.

Every cluster is served from its own child process (this script, re-run with ``--_serve``), so the client
never shares the server's interpreter (GIL) and each size's memory is measured in a clean process.

    .venv/bin/python benchmarks/sim_api.py [--sizes 100,1000,10000] [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import math
import os
import platform
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
STARTUP_PODS = 30
TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
                "g=meta.k8s.io,application/json")
KUBECTL_PAGE = 500  # kubectl get's default --chunk-size


# ------------------------------------------------------------------------------------------ helpers
def _proc_status() -> dict[str, int]:
    """VmRSS and VmHWM of this process in KiB (Linux); resource.getrusage's peak elsewhere."""
    out: dict[str, int] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out = {"VmRSS": peak, "VmHWM": peak}
    return out


def _median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def _nodes(size: int) -> list[Any]:
    """A control plane and enough big workers for ``size`` pods (110 pods each, 2 taken by DaemonSets)."""
    from cluster.sim.config import NodeSpec

    workers = max(2, math.ceil(size / 100))
    return [NodeSpec(name="bench-control-plane", control_plane=True)] + [
        NodeSpec(name=f"bench-worker{i}", cpu="64", memory="256Gi", pods=110) for i in range(workers)]


def _deployment(name: str, namespace: str, replicas: int) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace,
                                                                         "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                         "name": "app", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
                         "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}}


def _fill(cluster: Any, total: int, per_deployment: int = 100, namespaces: int = 10) -> None:
    """Add Deployments (spread across namespaces) until the cluster has ``total`` pods."""
    need = total - cluster.store.count("pods")
    if need <= 0:
        return
    namespaces = max(1, min(namespaces, math.ceil(need / per_deployment)))
    for i in range(namespaces):
        cluster.api.system_create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": f"bench-{i}"}})
    k = 0
    while need > 0:
        replicas = min(per_deployment, need)
        deployment = _deployment(f"app-{k}", f"bench-{k % namespaces}", replicas)
        cluster.api.system_create("deployments.apps", deployment)
        need -= replicas
        k += 1


def _ready(pod: dict) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _run_until_ready(cluster: Any, total: int, step: float, limit: float = 600.0) -> float:
    """Advance the manual clock by ``step`` until ``total`` pods are Running and Ready; simulated seconds."""
    start = cluster.clock.now
    with cluster.lock:
        cluster.settle()
    while True:
        pods = cluster.store.list("pods")
        if len(pods) == total and all(_ready(p) for p in pods):
            return cluster.clock.now - start
        if cluster.clock.now - start > limit:
            not_ready = sum(not _ready(p) for p in pods)
            raise RuntimeError(f"{not_ready} of {len(pods)} pods not ready after {limit}s simulated")
        cluster.advance(step)


class Https:
    """One keep-alive HTTPS connection that returns raw bytes: no JSON decoding, no models."""

    def __init__(self, url: str, token: str, ca_pem: str):
        parts = urlsplit(url)
        ctx = ssl.create_default_context(cadata=ca_pem)
        self.host, self.port = parts.hostname, parts.port
        self.conn = http.client.HTTPSConnection(parts.hostname, parts.port, context=ctx, timeout=120)
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, accept: str = "application/json") -> bytes:
        self.conn.request("GET", path, headers={**self.headers, "Accept": accept})
        resp = self.conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {resp.status}: {body[:200]!r}")
        return body

    def table_pages(self, path: str) -> tuple[int, int]:
        """Fetch a list as kubectl get does (Table pages of 500); (rows, pages)."""
        rows = pages = 0
        cont = ""
        while True:
            query = f"?limit={KUBECTL_PAGE}" + (f"&continue={quote(cont)}" if cont else "")
            doc = json.loads(self.get(path + query, TABLE_ACCEPT))
            rows += len(doc.get("rows") or [])
            pages += 1
            cont = (doc.get("metadata") or {}).get("continue") or ""
            if not cont:
                return rows, pages

    def close(self) -> None:
        self.conn.close()


def _time(fn: Any, repeat: int) -> tuple[list[float], Any]:
    """One warm-up call, then ``repeat`` timed calls; (seconds per call, last result)."""
    result = fn()
    samples = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t)
    return samples, result


# ----------------------------------------------------------------------------------- child: serve
def child_serve(size: int, kubeconfig: str) -> None:
    """Build a ``size``-pod cluster, serve it over HTTPS, answer ``rss``/``quit`` lines on stdin."""
    sys.path.insert(0, str(ROOT))
    from cluster.sim.cluster import SimCluster
    from cluster.sim.config import SimConfig
    from cluster.sim.server import SimServer

    gc.collect()
    rss_empty = _proc_status()["VmRSS"]  # interpreter and modules, no cluster yet
    t0 = time.perf_counter()
    cluster = SimCluster(SimConfig(seed=1, nodes=_nodes(size)))
    cluster.advance(30)  # system pods up: the base against which per-pod memory is counted
    base_pods = cluster.store.count("pods")
    gc.collect()
    rss_base = _proc_status()["VmRSS"]
    _fill(cluster, size)
    sim_s = _run_until_ready(cluster, max(size, base_pods), step=5.0)
    build_s = time.perf_counter() - t0
    gc.collect()
    server = SimServer(cluster, kubeconfig=kubeconfig).start()
    info = {"pods": cluster.store.count("pods"), "base_pods": base_pods,
            "nodes": cluster.store.count("nodes"), "events": cluster.store.count("events"),
            "build_s": build_s, "sim_s": sim_s,
            "rss_empty_kb": rss_empty, "rss_base_kb": rss_base, "rss_built_kb": _proc_status()["VmRSS"],
            "url": server.url, "token": server.token, "ca_pem": server.ca_pem.decode(), "pid": os.getpid()}
    print(json.dumps(info), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "rss":
            gc.collect()
            print(json.dumps(_proc_status()), flush=True)
        elif cmd == "quit":
            break
    server.stop()


# --------------------------------------------------------------------------------- child: startup
def child_startup(workdir: str) -> None:
    """One cold start in a fresh process: cluster to 30 Ready pods, then server to first HTTPS answer."""
    sys.path.insert(0, str(ROOT))
    t = time.perf_counter()
    from cluster.sim.cluster import SimCluster
    from cluster.sim.config import SimConfig
    from cluster.sim.server import SimServer

    import_s = time.perf_counter() - t

    t0 = time.perf_counter()
    cluster = SimCluster(SimConfig(seed=1))
    system_pods = cluster.store.count("pods")
    cluster.api.system_create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": "bench"}})
    need, k = STARTUP_PODS - system_pods, 0
    while need > 0:  # an application's worth of small Deployments
        replicas = min(3, need)
        cluster.api.system_create("deployments.apps", _deployment(f"svc-{k}", "bench", replicas))
        need, k = need - replicas, k + 1
    sim_s = _run_until_ready(cluster, max(STARTUP_PODS, system_pods), step=1.0)
    ready_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    server = SimServer(cluster, kubeconfig=Path(workdir) / "kubeconfig").start()
    start_return_s = time.perf_counter() - t1
    client = Https(server.url, server.token, server.ca_pem.decode())
    body = client.get("/api/v1/pods")
    first_response_s = time.perf_counter() - t1
    items = len(json.loads(body)["items"])
    client.close()
    server.stop()
    print(json.dumps({"import_s": import_s, "ready_s": ready_s, "sim_s": sim_s, "system_pods": system_pods,
                      "pods": items, "start_return_s": start_return_s,
                      "first_response_s": first_response_s}), flush=True)


# -------------------------------------------------------------------------------------- parent
def _child(args: list[str], **kw: Any) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, **kw)


def kubectl_version(kubectl: str | None) -> str | None:
    if not kubectl:
        return None
    try:
        out = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True,
                             timeout=60, check=True).stdout
        return json.loads(out)["clientVersion"]["gitVersion"]
    except (subprocess.SubprocessError, OSError, ValueError, KeyError):
        return "unknown"


def bench_size(size: int, repeat: int, kubectl: str | None, tmp: Path) -> dict:
    kubeconfig = tmp / f"kubeconfig-{size}"
    proc = _child(["--_serve", str(size), "--_kubeconfig", str(kubeconfig)], stdin=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {size}-pod server exited (rc={proc.wait()})")
        info = json.loads(line)
        pods = info["pods"]
        print(f"  {pods} pods on {info['nodes']} nodes built in {info['build_s']:.1f}s "
              f"({info['sim_s']:.0f}s simulated)", flush=True)
        result: dict[str, Any] = {"size": size, "server": {k: v for k, v in info.items()
                                                            if k not in ("token", "ca_pem", "url")}}

        if kubectl:
            cache = tmp / f"kubectl-cache-{size}"
            cmd = [kubectl, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), "get", "pods", "-A"]

            def run_kubectl(*extra: str) -> int:
                out = subprocess.run([*cmd, *extra], capture_output=True, text=True, timeout=300)
                if out.returncode != 0:
                    raise RuntimeError(f"kubectl failed: {out.stderr.strip()}")
                return len(out.stdout.splitlines()) - 1

            # As typed (500-item pages, which client-go's default 5 QPS / burst 10 limiter throttles beyond
            # ten pages), then in one request (--chunk-size=0): the difference is kubectl's own throttling.
            for key, extra in (("kubectl_s", ()), ("kubectl_one_request_s", ("--chunk-size=0",))):
                samples, rows = _time(lambda extra=extra: run_kubectl(*extra), repeat)
                if rows != pods:
                    raise RuntimeError(f"kubectl printed {rows} pods, expected {pods}")
                result[key] = samples

        raw = Https(info["url"], info["token"], info["ca_pem"])
        # A small response's round trip, then the whole list as bytes.
        result["raw_version_s"], _ = _time(lambda: raw.get("/version"), repeat)
        samples, body = _time(lambda: raw.get("/api/v1/pods"), repeat)
        result["raw_json_s"], result["json_bytes"] = samples, len(body)
        samples, (rows, pages) = _time(lambda: raw.table_pages("/api/v1/pods"), repeat)
        if rows != pods:
            raise RuntimeError(f"the Table pages held {rows} rows, expected {pods}")
        result["raw_table_pages_s"], result["table_pages"] = samples, pages
        raw.close()

        try:
            from kubernetes import client as k8s
            from kubernetes import config as k8s_config
        except ImportError:
            print("  note: the kubernetes Python client is not installed; skipping it", flush=True)
        else:
            api_client = k8s_config.new_client_from_config(config_file=str(kubeconfig))
            v1 = k8s.CoreV1Api(api_client)
            samples, listed = _time(v1.list_pod_for_all_namespaces, repeat)
            if len(listed.items) != pods:
                raise RuntimeError(f"the Python client listed {len(listed.items)} pods, expected {pods}")
            result["python_client_s"] = samples
            del listed
            api_client.close()

        proc.stdin.write("rss\n")
        proc.stdin.flush()
        mem = json.loads(proc.stdout.readline())
        result["server"].update(rss_kb=mem["VmRSS"], hwm_kb=mem["VmHWM"])
        added = pods - info["base_pods"]
        result["server"]["kb_per_pod"] = (mem["VmRSS"] - info["rss_base_kb"]) / added if added > 0 else None
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return result


def bench_startup(runs: int, tmp: Path) -> dict:
    samples = []
    for i in range(runs):
        workdir = tmp / f"startup-{i}"
        workdir.mkdir()
        proc = _child(["--_startup", str(workdir)])
        out, _ = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"the start-up run failed (rc={proc.returncode})")
        samples.append(json.loads(out.strip().splitlines()[-1]))
    keys = ("import_s", "ready_s", "sim_s", "start_return_s", "first_response_s")
    return {"runs": samples, **{k: _median([s[k] for s in samples]) for k in keys},
            "pods": samples[0]["pods"], "system_pods": samples[0]["system_pods"]}


def _ms(samples: list[float] | None) -> str:
    return "n/a" if not samples else f"{_median(samples) * 1000:,.0f} ms"


def report(results: list[dict], startup: dict | None, meta: dict) -> str:
    lines = [f"Machine: {meta['cpus']} CPUs, Python {meta['python']}, kubectl {meta['kubectl'] or 'absent'}, "
             f"{meta['platform']}; median of {meta['repeat']} runs after one warm-up.", "",
             "| pods | kubectl get pods -A | same, --chunk-size=0 "
             "| Python client list_pod_for_all_namespaces | raw GET /api/v1/pods (JSON) "
             "| raw Table pages (limit=500) | JSON size | server RSS |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        s = r["server"]
        pages = f"{r['table_pages']} page" + ("s" if r["table_pages"] != 1 else "")
        lines.append(f"| {s['pods']:,} | {_ms(r.get('kubectl_s'))} | {_ms(r.get('kubectl_one_request_s'))} "
                     f"| {_ms(r.get('python_client_s'))} | {_ms(r['raw_json_s'])} "
                     f"| {_ms(r['raw_table_pages_s'])} ({pages}) "
                     f"| {r['json_bytes'] / 2**20:.1f} MiB | {s['rss_kb'] / 1024:.0f} MiB |")
    if results:
        rtt = ", ".join(f"{_median(r['raw_version_s']) * 1000:.1f} ms ({r['server']['pods']:,} pods)"
                        for r in results)
        lines += ["", f"A small response's round trip (GET /version, kept-alive HTTPS connection): {rtt}."]
        big = max(results, key=lambda r: r["server"]["pods"])["server"]
        lines += ["", f"Server memory at {big['pods']:,} pods: RSS {big['rss_kb'] / 1024:.0f} MiB (peak "
                  f"{big['hwm_kb'] / 1024:.0f} MiB); {big['rss_base_kb'] / 1024:.0f} MiB with its "
                  f"{big['nodes']} nodes and {big['base_pods']} system pods, "
                  f"{big['rss_empty_kb'] / 1024:.0f} MiB before any cluster; {big['kb_per_pod']:.1f} KiB per "
                  f"added pod (its ReplicaSet share, {big['events'] / big['pods']:.1f} events per pod, watch "
                  "history and cached JSON included)."]
    if startup:
        lines += ["", f"| start-up ({startup['pods']} pods, {startup['system_pods']} of them system pods; "
                  f"median of {len(startup['runs'])} fresh processes) | wall |", "|---|---:|",
                  f"| `SimCluster(...)` to all pods Running and Ready ({startup['sim_s']:.0f}s simulated) "
                  f"| {startup['ready_s'] * 1000:,.0f} ms |",
                  f"| `SimServer.start()` returns | {startup['start_return_s'] * 1000:,.0f} ms |",
                  f"| `SimServer.start()` to first HTTPS response (GET /api/v1/pods) "
                  f"| {startup['first_response_s'] * 1000:,.0f} ms |",
                  "| (importing the simulator and its server, before either) "
                  f"| {startup['import_s'] * 1000:,.0f} ms |"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="100,1000,10000", help="total pod counts, comma-separated")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (after one warm-up)")
    p.add_argument("--startup-runs", type=int, default=5, help="fresh processes for the start-up measurement")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--_serve", type=int, help=argparse.SUPPRESS)
    p.add_argument("--_kubeconfig", help=argparse.SUPPRESS)
    p.add_argument("--_startup", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._serve is not None:
        child_serve(args._serve, args._kubeconfig)
        return 0
    if args._startup is not None:
        child_startup(args._startup)
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    kubectl = shutil.which("kubectl")
    meta = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "kubectl": kubectl_version(kubectl), "kubectl_path": kubectl and os.path.realpath(kubectl),
            "repeat": args.repeat, "sizes": sizes}
    if not kubectl:
        print("note: kubectl is not on PATH; skipping the kubectl measurements", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="aoi-bench-") as tmp:
        for size in sizes:
            print(f"{size} pods:", flush=True)
            results.append(bench_size(size, args.repeat, kubectl, Path(tmp)))
        startup = bench_startup(args.startup_runs, Path(tmp)) if args.startup_runs > 0 else None
    table = report(results, startup, meta)
    print()
    print(table)
    if args.json:
        doc = {"meta": meta, "sizes": results, "startup": startup}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
