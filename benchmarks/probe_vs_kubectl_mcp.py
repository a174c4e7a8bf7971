"""Benchmark the probe against the npm ``mcp-server-kubernetes`` (Flux159) and raw kubectl, on one simulated cluster.

The cluster: a simulator (``SimServer(..., telemetry=True)``, in this process) with a namespace ``shop`` of
``--pods`` pods: three healthy Deployments, one Deployment whose only pod crash-loops (each run writes 113 log
lines, ending with the error, and exits 1) and one whose only pod cannot be scheduled (it asks for 64 CPUs). The
manual clock runs until the crash loop has restarted a few times, then the cluster follows the wall clock
(``go_realtime``), so that kubectl, the probe and mcp-server-kubernetes all see a live cluster.

Four questions an investigator asks, each put to three sources:

=========  ===============================================  ==========================  =============================
question   probe (``aoi probe`` over stdio)                 mcp-server-kubernetes       raw kubectl (and "full")
=========  ===============================================  ==========================  =============================
list       list_resources kind=pods namespace=shop          kubectl_get pods            get pods (-o yaml)
describe   describe kind=pod (the crash-looping pod)        kubectl_describe pod        describe pod (get -o yaml)
logs       logs of that pod, tail 100                       kubectl_logs pod tail=100   logs --tail 100
events     events namespace=shop                            kubectl_get events          get events (-o yaml)
=========  ===============================================  ==========================  =============================

Measured:

* tool-call latency over stdio (one MCP client per server, both kept open; the wall time of ``call_tool``): p50
  and p95 (nearest rank) over ``--calls`` calls per question after ``--warmup`` untimed ones. The servers take
  turns call by call, so both see the same load. The wall time of the raw kubectl command (a fresh process each
  time) is measured in the same rounds, for reference;
* tokens per result, for each source: o200k_base (GPT-4o's BPE, from the npm package ``gpt-tokenizer``, which
  ships its vocabulary, so no download), characters / 4, and a word-piece proxy (see ``wordpieces``). No
  Claude tokenizer is published, so these are estimates of what a model reads; their ratios are what matter;
* the facts an investigator needs, checked in every output: the crash-looping pod's name, CrashLoopBackOff, its
  restart count, its last exit code and reason, the BackOff and FailedScheduling events, the pending pod and the
  error line of the logs.

    .venv/bin/python benchmarks/probe_vs_kubectl_mcp.py [--pods 100] [--calls 30] [--warmup 3] [--json out.json]

mcp-server-kubernetes and gpt-tokenizer are installed from ``benchmarks/package.json``:
``npm install --prefix benchmarks --no-audit --no-fund``. Without them those columns are skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

NODE_DIR = ROOT / "benchmarks"
MCP_K8S_JS = NODE_DIR / "node_modules" / "mcp-server-kubernetes" / "dist" / "index.js"
NS = "shop"
QUESTIONS = ("list", "describe", "logs", "events")
SETTLE_S = 420.0  # simulated seconds on the manual clock before going real time: ~5 restarts of the crash loop
TAIL = 100
ERROR_LINE = "FATAL payments: cannot start: database postgres://payments@db.shop.svc:5432/payments unreachable " \
             "after 30 attempts: connection refused"
EXIT_CODE = 1


# ------------------------------------------------------------------------------------------ helpers
def _p50(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def _p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _ms(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "n/a"
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "n/a"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "n/a"


def _npm_version(package: str) -> str | None:
    manifest = NODE_DIR / "node_modules" / package / "package.json"
    try:
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


# ------------------------------------------------------------------------------------------ tokens
def wordpieces(text: str) -> int:
    """A word-piece proxy for a BPE count: every run of letters costs one piece per started 6 letters, every
    1-3 digits one piece, every other non-space character one piece, and every line break one piece. (BPE
    vocabularies hold most English words and common identifiers whole, split numbers into 1-3 digit groups and
    keep most punctuation separate.)"""
    n = text.count("\n")
    for m in re.finditer(r"[A-Za-z]+|[0-9]{1,3}|[^\sA-Za-z0-9]", text):
        s = m.group()
        n += math.ceil(len(s) / 6) if s[0].isalpha() else 1
    return n


_BPE_JS = """
let enc; try { enc = require('gpt-tokenizer/encoding/o200k_base'); } catch (e) { process.stdout.write('null'); return; }
let buf = ''; process.stdin.on('data', d => buf += d);
process.stdin.on('end', () => process.stdout.write(JSON.stringify(
  JSON.parse(buf).map(t => enc.encode(t, {disallowedSpecial: new Set()}).length))));
"""


def bpe_counts(texts: list[str]) -> list[int] | None:
    """o200k_base token counts from the npm gpt-tokenizer (pure JS, vocabulary shipped in the package)."""
    if not shutil.which("node") or not (NODE_DIR / "node_modules" / "gpt-tokenizer").is_dir():
        return None
    out = subprocess.run(["node", "-e", "(function(){" + _BPE_JS + "})()"], input=json.dumps(texts),
                         capture_output=True, text=True, cwd=NODE_DIR, timeout=120)
    if out.returncode != 0:
        print(f"note: gpt-tokenizer failed: {out.stderr.strip()[:300]}", flush=True)
        return None
    return json.loads(out.stdout)


# ------------------------------------------------------------------------------------------ the cluster
def _deployment(name: str, replicas: int, image: str, cpu: str = "10m") -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                         "name": name, "image": image, "ports": [{"containerPort": 8080}],
                         "resources": {"requests": {"cpu": cpu, "memory": "32Mi"}}}]}}}}


def _crash_output(start: Any) -> tuple[tuple[float, str], ...]:
    """What the crash-looping payments service writes in one run: start-up, 30 failed connection attempts, a
    traceback and the fatal line (113 lines, so that ``--tail 100`` cuts)."""
    lines: list[tuple[float, str]] = []

    def say(t: float, level: str, logger: str, message: str) -> None:
        stamp = (start + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(t * 1000) % 1000:03d}Z"
        lines.append((t, f"{stamp} {level:<5} [{logger}] {message}"))

    say(0.01, "INFO", "main", "payments 2.14.1 (commit 9f3c2ab) starting, pid 1")
    for i, (key, value) in enumerate([("http.port", "8080"), ("grpc.port", "9090"), ("db.host", "db.shop.svc"),
                                      ("db.port", "5432"), ("db.name", "payments"), ("db.pool.max", "20"),
                                      ("db.pool.min", "2"), ("db.connect_timeout", "2s"), ("cache.url",
                                      "redis://cache.shop.svc:6379/0"), ("tracing.endpoint", "jaeger:4317"),
                                      ("fraud.url", "http://fraud.shop.svc:8080"), ("currency", "EUR")]):
        say(0.02 + i * 0.001, "INFO", "config", f"{key} = {value}")
    for i, module in enumerate(["ledger", "refunds", "webhooks", "settlement", "payouts", "disputes", "invoices",
                                "fx", "risk", "audit", "metrics", "health"]):
        say(0.05 + i * 0.002, "INFO", "registry", f"module {module} registered")
        say(0.051 + i * 0.002, "DEBUG", module, f"{module}: 4 handlers, 2 background jobs")
    for attempt in range(1, 31):
        t = 0.1 + attempt * 0.03
        say(t, "INFO", "db", f"connecting to db.shop.svc:5432 (attempt {attempt}/30)")
        say(t + 0.01, "WARN", "db", f"connect attempt {attempt}/30 failed: dial tcp 10.96.0.42:5432: connect: "
                                    "connection refused; retrying in 1s")
        if attempt % 5 == 0:
            say(t + 0.02, "INFO", "health", "readiness: db=down cache=up fraud=up")
    say(1.2, "ERROR", "main", "startup failed")
    trace = ['Traceback (most recent call last):', '  File "/app/payments/main.py", line 88, in <module>',
             '    app = create_app(settings)', '  File "/app/payments/app.py", line 41, in create_app',
             '    pool = db.connect(settings.db, attempts=30)', '  File "/app/payments/db.py", line 77, in connect',
             '    raise DatabaseUnavailable(url, attempts) from last_error',
             'payments.db.DatabaseUnavailable: postgres://payments@db.shop.svc:5432/payments: connection refused']
    for i, text in enumerate(trace):
        lines.append((1.2 + 0.001 * (i + 1), text))
    lines.append((1.25, ERROR_LINE))
    return tuple(lines)


def _payments_behavior(cluster: Any, ctx: Any) -> Any:
    """The crash loop: the payments container runs 1.3 s, writes its start-up and the error, and exits 1."""
    from cluster.sim.runtime.behavior import Behavior

    if ctx.pod["metadata"].get("namespace") != NS or ctx.container.get("name") != "payments":
        return None
    return Behavior(run_seconds=1.3, exit_code=EXIT_CODE, log_style="silent", image_size=88_000_000,
                    memory_bytes=90 * 2**20, output=_crash_output(cluster.clock.datetime()))


def build_cluster(pods: int, kubeconfig: Path) -> tuple[Any, Any]:
    """The simulator, served in this process; returns (server, cluster) once it follows the wall clock."""
    from cluster.sim import SimCluster, SimConfig
    from cluster.sim.config import wall_epoch
    from cluster.sim.server import SimServer

    healthy = pods - 2  # one crash-looping pod and one pending pod
    web, api = round(healthy * 0.45), round(healthy * 0.3)
    # Simulated time zero such that "now" is the wall clock when the manual run ends: ages read true.
    cluster = SimCluster(SimConfig(seed=1, epoch=wall_epoch(SETTLE_S)))
    cluster.behaviors.add(_payments_behavior)
    cluster.api.system_create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    for d in (_deployment("web", web, "nginx:1.27"), _deployment("api", api, "nginx:1.27"),
              _deployment("worker", healthy - web - api, "nginx:1.27"),
              _deployment("payments", 1, "ghcr.io/shop/payments:2.14.1"),
              _deployment("reports", 1, "nginx:1.27", cpu="64")):
        cluster.api.system_create("deployments.apps", d)
    cluster.advance(SETTLE_S)
    cluster.go_realtime()
    server = SimServer(cluster, kubeconfig=kubeconfig, telemetry=True).start()
    return server, cluster


@dataclass
class Truth:
    """What the facts check looks for; the restart count is read from the cluster around each capture."""

    crash_pod: str
    pending_pod: str
    restarts: set[int] = field(default_factory=set)


def _pod_named(cluster: Any, app: str) -> str:
    with cluster.locked():
        return next(p["metadata"]["name"] for p in cluster.store.list("pods", NS)
                    if (p["metadata"].get("labels") or {}).get("app") == app)


def _restarts(cluster: Any, pod: str) -> int:
    with cluster.locked():
        obj = cluster.store.get("pods", NS, pod) or {}
    return sum(c.get("restartCount", 0) for c in (obj.get("status") or {}).get("containerStatuses") or [])


def _status_summary(cluster: Any) -> dict[str, int]:
    with cluster.locked():
        out: dict[str, int] = {}
        for p in cluster.store.list("pods", NS):
            cs = (p.get("status") or {}).get("containerStatuses") or []
            waiting = next((c["state"]["waiting"].get("reason") for c in cs if "waiting" in (c.get("state") or {})),
                           None)
            key = waiting or (p.get("status") or {}).get("phase", "?")
            out[key] = out.get(key, 0) + 1
    return out


# ------------------------------------------------------------------------------------------ facts
def _restart_fact(text: str, truth: Truth) -> bool:
    """The crash-looping pod's restart count, next to its name or labelled as a restart count."""
    counts = "|".join(str(n) for n in sorted(truth.restarts))
    labelled = rf"restart[a-z_ ]*[\"':=\s]*(?:{counts})\b|\b(?:{counts})\s+restarts?\b"
    if re.search(labelled, text, re.IGNORECASE):
        return True
    for line in text.splitlines():  # a table row: NAME ... RESTARTS
        if truth.crash_pod in line and re.search(rf"\s(?:{counts})(?:\s|$)", line.split(truth.crash_pod, 1)[1]):
            return True
    return False


def _exit_code_fact(text: str) -> bool:
    return re.search(rf"exit[ _-]?code[\"':=\s]*{EXIT_CODE}\b|exited with (?:code )?{EXIT_CODE}\b|"
                     rf"\bexit {EXIT_CODE}\b", text, re.IGNORECASE) is not None


FACTS: dict[str, list[tuple[str, Any]]] = {
    "list": [("crash-looping pod named", lambda t, k: k.crash_pod in t),
             ("CrashLoopBackOff", lambda t, k: "CrashLoopBackOff" in t),
             ("restart count", _restart_fact),
             ("pending pod named", lambda t, k: k.pending_pod in t),
             ("Pending", lambda t, k: "Pending" in t)],
    "describe": [("pod named", lambda t, k: k.crash_pod in t),
                 ("CrashLoopBackOff", lambda t, k: "CrashLoopBackOff" in t),
                 ("restart count", _restart_fact),
                 ("last exit code", lambda t, k: _exit_code_fact(t)),
                 ("last termination reason (Error)", lambda t, k: re.search(r"\bError\b", t) is not None),
                 ("BackOff event", lambda t, k: "BackOff" in t.replace("CrashLoopBackOff", ""))],
    "logs": [("error line", lambda t, k: ERROR_LINE in t),
             ("exception", lambda t, k: "DatabaseUnavailable" in t)],
    "events": [("BackOff event", lambda t, k: "BackOff" in t.replace("CrashLoopBackOff", "")),
               ("BackOff names the pod", lambda t, k: any(k.crash_pod in line and "BackOff" in line
                                                          for line in _event_chunks(t))),
               ("FailedScheduling event", lambda t, k: "FailedScheduling" in t),
               ("FailedScheduling names the pod", lambda t, k: any(k.pending_pod in line and "FailedScheduling"
                                                                   in line for line in _event_chunks(t)))],
}


def _event_chunks(text: str) -> list[str]:
    """Lines, or for JSON/YAML output the blocks of one event each, so that 'names the pod' means one event."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except ValueError:
            return text.splitlines()
        items = data.get("events") or data.get("items") or [] if isinstance(data, dict) else data
        return [json.dumps(i) for i in items] if isinstance(items, list) else text.splitlines()
    if re.search(r"^- ", text, re.MULTILINE) and "involvedObject" in text:
        return re.split(r"^- ", text, flags=re.MULTILINE)
    return text.splitlines()


def check_facts(question: str, text: str, truth: Truth) -> dict[str, bool]:
    return {name: bool(fn(text, truth)) for name, fn in FACTS[question]}


# ------------------------------------------------------------------------------------------ the servers
PROBE_TOOLS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "list": (("list_resources",), {"kind": "pods", "namespace": NS}),
    "describe": (("describe", "describe_resource"), {"kind": "pod", "name": "{pod}", "namespace": NS}),
    "logs": (("logs", "get_logs", "pod_logs"), {"kind": "pod", "name": "{pod}", "namespace": NS, "tail": TAIL}),
    "events": (("events", "list_events", "get_events"), {"namespace": NS}),
}
# A role the benchmark wants to pass -> the argument names a tool might give it.
ALIASES = {"kind": ("kind", "resource_kind", "resource_type"), "name": ("name", "pod", "pod_name", "target"),
           "namespace": ("namespace",), "tail": ("tail", "tail_lines", "lines")}

# Calls an investigator would also make with the probe; their outputs are shown beside the default call's, but the
# targets are read on the default call only.
PROBE_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {"logs": ("errors_only=true", {"errors_only": True}),
                                                         "events": ("type=Warning", {"type": "Warning"})}

MCP_K8S_CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "list": ("kubectl_get", {"resourceType": "pods", "namespace": NS}),
    "describe": ("kubectl_describe", {"resourceType": "pod", "name": "{pod}", "namespace": NS}),
    "logs": ("kubectl_logs", {"resourceType": "pod", "name": "{pod}", "namespace": NS, "tail": TAIL}),
    "events": ("kubectl_get", {"resourceType": "events", "namespace": NS}),
}


def _fill(args: dict[str, Any], pod: str) -> dict[str, Any]:
    return {k: (v.format(pod=pod) if isinstance(v, str) else v) for k, v in args.items()}


def probe_calls(tools: dict[str, Any], pod: str) -> dict[str, tuple[str, dict[str, Any]] | str]:
    """Each question's (tool, arguments) from the probe's tools/list, or why it cannot be asked."""
    out: dict[str, tuple[str, dict[str, Any]] | str] = {}
    for q, (names, wanted) in PROBE_TOOLS.items():
        name = next((n for n in names if n in tools), None)
        if name is None:
            out[q] = f"no tool named {' or '.join(names)}"
            continue
        schema = tools[name].input_schema or {}
        props, required = schema.get("properties") or {}, set(schema.get("required") or [])
        args: dict[str, Any] = {}
        for role, value in _fill(wanted, pod).items():
            arg = next((a for a in ALIASES[role] if a in props), None)
            if arg is not None:
                args[arg] = value
        missing = required - set(args)
        out[q] = (name, args) if not missing else f"{name} requires {sorted(missing)}, not mapped"
    return out


def probe_variants(tools: dict[str, Any], calls: dict[str, tuple[str, dict[str, Any]] | str]
                   ) -> dict[str, tuple[str, tuple[str, dict[str, Any]]]]:
    out = {}
    for q, (label, extra) in PROBE_VARIANTS.items():
        call = calls.get(q)
        if isinstance(call, tuple) and set(extra) <= set((tools[call[0]].input_schema or {}).get("properties") or {}):
            out[q] = (f"probe {label}", (call[0], {**call[1], **extra}))
    return out


@dataclass
class Server:
    label: str
    client: Any
    calls: dict[str, tuple[str, dict[str, Any]] | str]
    samples: dict[str, list[float]] = field(default_factory=lambda: {q: [] for q in QUESTIONS})
    noop: tuple[str, dict[str, Any]] | None = None  # a call that does no cluster work: the floor under every call
    pings: list[float] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    variants: dict[str, tuple[str, tuple[str, dict[str, Any]]]] = field(default_factory=dict)

    async def ask(self, question: str, call: tuple[str, dict[str, Any]] | str | None = None
                  ) -> tuple[float, str, Any] | None:
        call = call or self.calls[question]
        if isinstance(call, str):
            return None
        name, args = call
        started = time.perf_counter()
        result = await self.client.call_tool(name, args)
        elapsed = time.perf_counter() - started
        text = "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")
        if result.is_error:
            self.errors[question] = text[:300]
        return elapsed, text, result


def kubectl_commands(pod: str) -> dict[str, dict[str, list[str]]]:
    return {"list": {"table": ["get", "pods", "-n", NS], "yaml": ["get", "pods", "-n", NS, "-o", "yaml"]},
            "describe": {"table": ["describe", "pod", pod, "-n", NS],
                         "yaml": ["get", "pod", pod, "-n", NS, "-o", "yaml"]},
            "logs": {"table": ["logs", pod, "-n", NS, "--tail", str(TAIL)]},
            "events": {"table": ["get", "events", "-n", NS], "yaml": ["get", "events", "-n", NS, "-o", "yaml"]}}


def run_kubectl(kubeconfig: Path, args: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                         timeout=60)
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {out.stderr.strip()[:300]}")
    return elapsed, out.stdout


# ------------------------------------------------------------------------------------------ the run
def probe_command(kubeconfig: Path) -> list[str]:
    aoi = ROOT / ".venv" / "bin" / "aoi"
    if aoi.exists() and subprocess.run([str(aoi), "probe", "--help"], capture_output=True).returncode == 0:
        return [str(aoi), "probe", "--kubeconfig", str(kubeconfig)]
    return [sys.executable, "-c", "from servers.probe.server import build_server; from servers.probe.settings "
            f"import ProbeSettings; build_server(ProbeSettings(kubeconfig={str(kubeconfig)!r})).run('stdio')"]


async def bench(args: argparse.Namespace, tmp: Path) -> dict:
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    kubeconfig = tmp / "kc"
    t0 = time.perf_counter()
    server, cluster = build_cluster(args.pods, kubeconfig)
    print(f"cluster ready in {time.perf_counter() - t0:.1f} s: {NS} has {_status_summary(cluster)}", flush=True)
    truth = Truth(_pod_named(cluster, "payments"), _pod_named(cluster, "reports"))
    have_kubectl = shutil.which("kubectl") is not None
    commands = kubectl_commands(truth.crash_pod)
    errlog = (tmp / "servers.stderr").open("w")
    notes: list[str] = []
    try:
        async with AsyncExitStack() as stack:
            servers: list[Server] = []
            env = dict(os.environ)
            probe_argv = probe_command(kubeconfig)
            started = time.perf_counter()
            probe = await stack.enter_async_context(Client(stdio_client(
                StdioServerParameters(command=probe_argv[0], args=probe_argv[1:], env=env, cwd=str(ROOT)),
                errlog=errlog)))
            tools = {t.name: t for t in (await probe.list_tools()).tools}
            startup = {"probe": time.perf_counter() - started}
            calls = probe_calls(tools, truth.crash_pod)
            # No-op: list_resources without its required kind is refused by argument validation, before any read.
            servers.append(Server("probe", probe, calls, variants=probe_variants(tools, calls),
                                  noop=("list_resources", {})))
            if MCP_K8S_JS.exists() and shutil.which("node"):
                started = time.perf_counter()
                k8s_env = dict(env, KUBECONFIG=str(kubeconfig), ALLOW_ONLY_READONLY_TOOLS="true")
                k8s = await stack.enter_async_context(Client(stdio_client(
                    StdioServerParameters(command="node", args=[str(MCP_K8S_JS)], env=k8s_env, cwd=str(tmp)),
                    errlog=errlog)))
                k8s_tools = {t.name for t in (await k8s.list_tools()).tools}
                startup["mcp-server-kubernetes"] = time.perf_counter() - started
                calls = {
                    q: ((name, _fill(a, truth.crash_pod)) if name in k8s_tools else f"no tool {name}")
                    for q, (name, a) in MCP_K8S_CALLS.items()}
                servers.append(Server("mcp-server-kubernetes", k8s, calls,
                                      noop=("ping", {}) if "ping" in k8s_tools else None))
            else:
                notes.append(f"mcp-server-kubernetes not installed ({MCP_K8S_JS} missing); run `npm install "
                             "--prefix benchmarks --no-audit --no-fund`")
            for s in servers:
                for q, call in s.calls.items():
                    if isinstance(call, str):
                        notes.append(f"{s.label}: {q}: {call}")
            print(f"servers up: {', '.join(f'{k} {_ms(v)}' for k, v in startup.items())}", flush=True)
            for note in notes:
                print(f"note: {note}", flush=True)

            kubectl_samples: dict[str, list[float]] = {q: [] for q in QUESTIONS}
            load_before = _load()
            for rnd in range(args.warmup + args.calls):
                timed = rnd >= args.warmup
                for q in QUESTIONS:
                    order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]  # take turns going first
                    for s in order:
                        got = await s.ask(q)
                        if got and timed:
                            s.samples[q].append(got[0])
                    if q == QUESTIONS[0]:
                        for s in order:
                            if s.noop:
                                started = time.perf_counter()
                                await s.client.call_tool(*s.noop)
                                if timed:
                                    s.pings.append(time.perf_counter() - started)
                    if have_kubectl:
                        elapsed, _ = run_kubectl(kubeconfig, commands[q]["table"])
                        if timed:
                            kubectl_samples[q].append(elapsed)
            load_after = _load()
            print(f"latency: {args.calls} timed calls per question and server (+{args.warmup} warm-up); "
                  f"load {load_before} -> {load_after}", flush=True)

            # One more round to capture the outputs, with the restart count read just before and after each.
            outputs: dict[str, dict[str, dict[str, Any]]] = {q: {} for q in QUESTIONS}
            for q in QUESTIONS:
                sources: list[tuple[str, Any, Any]] = []
                for s in servers:
                    sources += [(s.label, s, None)] + ([(s.variants[q][0], s, s.variants[q][1])] if q in s.variants
                                                       else [])
                if have_kubectl:
                    sources += [(f"kubectl {v}", commands[q][v], None) for v in commands[q]]
                for label, src, call in sources:
                    before = _restarts(cluster, truth.crash_pod)
                    if isinstance(src, Server):
                        got = await src.ask(q, call)
                        if got is None:
                            continue
                        _, text, result = got
                        extra = {"structured_chars": len(json.dumps(result.structured_content))
                                 if result.structured_content else 0,
                                 "is_error": bool(result.is_error)}
                        sc = result.structured_content or {}
                        if isinstance(sc, dict) and "truncated" in sc:
                            extra["truncated"] = bool(sc.get("truncated"))
                    else:
                        _, text = run_kubectl(kubeconfig, src)
                        extra = {}
                    truth.restarts = {before, _restarts(cluster, truth.crash_pod)}
                    outputs[q][label] = {"text": text, "chars": len(text), "wordpieces": wordpieces(text),
                                         "facts": check_facts(q, text, truth), **extra}
        keyed = [(q, label) for q in QUESTIONS for label in outputs[q]]
        counts = bpe_counts([outputs[q][label]["text"] for q, label in keyed])
        if counts is None:
            notes.append("gpt-tokenizer not installed: o200k_base counts skipped")
        for i, (q, label) in enumerate(keyed):
            outputs[q][label]["o200k"] = counts[i] if counts else None
    finally:
        errlog.close()
        server.stop()

    latency = {s.label: {q: {"p50_s": _p50(s.samples[q]), "p95_s": _p95(s.samples[q]), "n": len(s.samples[q]),
                             "tool": s.calls[q][0] if not isinstance(s.calls[q], str) else None,
                             "arguments": s.calls[q][1] if not isinstance(s.calls[q], str) else None,
                             "error": s.errors.get(q)} for q in QUESTIONS} for s in servers}
    for s in servers:
        latency[s.label]["noop"] = {"p50_s": _p50(s.pings), "p95_s": _p95(s.pings), "n": len(s.pings),
                                    "tool": s.noop[0] if s.noop else None,
                                    "arguments": s.noop[1] if s.noop else None}
    if have_kubectl:
        latency["kubectl (process)"] = {q: {"p50_s": _p50(v), "p95_s": _p95(v), "n": len(v),
                                            "command": "kubectl " + " ".join(commands[q]["table"])}
                                        for q, v in kubectl_samples.items()}
    return {"latency": latency, "outputs": outputs, "startup_s": startup, "notes": notes,
            "crash_pod": truth.crash_pod, "pending_pod": truth.pending_pod, "load": [load_before, load_after]}


# ------------------------------------------------------------------------------------------ report
def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if a == a and b == b and b > 0 else "n/a"


def report(res: dict, meta: dict) -> str:
    lat, outs = res["latency"], res["outputs"]
    servers = list(lat)
    lines = [f"machine: {meta['cpus']} CPUs, load {res['load'][0]} -> {res['load'][1]}; Python {meta['python']}; "
             f"node {meta['node']}; kubectl {meta['kubectl']}; mcp-server-kubernetes {meta['mcp_server_kubernetes']}; "
             f"gpt-tokenizer {meta['gpt_tokenizer']}",
             f"crash-looping pod {res['crash_pod']}, pending pod {res['pending_pod']}", "",
             "Latency over stdio (p50 / p95; kubectl: the whole process):", "",
             "| question | " + " | ".join(servers) + " | p50 ratio (mcp-server-kubernetes / probe) |",
             "|---|" + "---:|" * (len(servers) + 1)]
    for q in QUESTIONS:
        cells = [f"{_ms(lat[s][q]['p50_s'])} / {_ms(lat[s][q]['p95_s'])}" for s in servers]
        k8s = lat.get("mcp-server-kubernetes", {}).get(q, {}).get("p50_s", float("nan"))
        lines.append(f"| {q} | " + " | ".join(cells) + f" | {_ratio(k8s, lat['probe'][q]['p50_s'])} |")
    lines.append("| (a no-op call: the floor) | " + " | ".join(
        f"{_ms(lat[s]['noop']['p50_s'])} / {_ms(lat[s]['noop']['p95_s'])}" if "noop" in lat[s] else "—"
        for s in servers) + " | |")
    labels = list(dict.fromkeys(label for q in QUESTIONS for label in outs[q]))
    lines += ["", "Tokens per result (o200k_base: GPT-4o's BPE; chars/4; word-piece proxy), and the probe's default "
              "call as a share of each:", "",
              "| question | source | o200k_base | chars/4 | word-piece | probe / this (o200k_base) | facts |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for q in QUESTIONS:
        probe = outs[q].get("probe")
        for label, o in outs[q].items():
            share = (f"{probe['o200k'] / o['o200k']:.2f}" if probe and o["o200k"] and probe["o200k"] is not None
                     and not label.startswith("probe") else "")
            flags = " (truncated at the budget)" if o.get("truncated") else ""
            lines.append(f"| {q} | {label}{flags} | {o['o200k'] if o['o200k'] is not None else 'n/a'} | "
                         f"{math.ceil(o['chars'] / 4)} | {o['wordpieces']} | {share} | "
                         f"{sum(o['facts'].values())}/{len(o['facts'])} |")
    lines += ["", "Facts present (✓ present, ✗ missing):", "", "| question | fact | " + " | ".join(labels) + " |",
              "|---|---|" + ":-:|" * len(labels)]
    for q in QUESTIONS:
        for name, _ in FACTS[q]:
            cells = ["—" if label not in outs[q] else ("✓" if outs[q][label]["facts"][name] else "✗")
                     for label in labels]
            lines.append(f"| {q} | {name} | " + " | ".join(cells) + " |")
    for note in res["notes"]:
        lines.append(f"note: {note}")
    for s in servers:
        for q in QUESTIONS:
            if lat[s][q].get("error"):
                lines.append(f"note: {s} {q} answered an error: {lat[s][q]['error']}")
    return "\n".join(lines)


def targets(res: dict) -> tuple[list[str], bool]:
    """The issue's targets, per question: p50 >= 5x lower, tokens <= 1/3, facts present. (lines, all met)"""
    lat, outs = res["latency"], res["outputs"]
    lines, ok = [], True
    for q in QUESTIONS:
        probe = outs[q].get("probe")
        if probe is None:
            lines.append(f"{q}: the probe has no tool for it (MISSED)")
            ok = False
            continue
        speed = (lat["mcp-server-kubernetes"][q]["p50_s"] / lat["probe"][q]["p50_s"]
                 if "mcp-server-kubernetes" in lat and lat["probe"][q]["n"] else float("nan"))
        key = "o200k" if probe["o200k"] is not None else "wordpieces"
        refs = {label: o[key] for label, o in outs[q].items()
                if not label.startswith("probe") and label != "kubectl yaml"}
        worst = max(refs.values()) if refs else float("nan")
        best = min(refs.values()) if refs else float("nan")
        missing = [f for f, present in probe["facts"].items() if not present]
        met = speed >= 5 and (probe[key] * 3 <= best) and not missing
        ok &= met
        lines.append(f"{q}: p50 {speed:.1f}x lower than mcp-server-kubernetes; tokens {probe[key]} vs "
                     f"{best}-{worst} ({key}; {probe[key] / best:.2f} of the smallest other source); facts "
                     f"{'all present' if not missing else 'MISSING ' + ', '.join(missing)} -> "
                     f"{'met' if met else 'MISSED'}")
    return lines, ok


def _json_safe(value: Any) -> Any:
    """NaN (no samples) as null, so that the file is standard JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pods", type=int, default=100, help="pods in the namespace (one crash-looping, one pending)")
    p.add_argument("--calls", type=int, default=30, help="timed calls per question and server")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls per question and server first")
    p.add_argument("--json", type=Path, help="also write the results (and every output's text) here")
    args = p.parse_args(argv)
    if args.pods < 5:
        p.error("--pods must be at least 5")
    import anyio

    meta = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "node": _version(["node", "--version"]) if shutil.which("node") else None,
            "kubectl": _version(["kubectl", "version", "--client"]) if shutil.which("kubectl") else None,
            "kubectl_path": shutil.which("kubectl") and os.path.realpath(shutil.which("kubectl") or ""),
            "mcp_server_kubernetes": _npm_version("mcp-server-kubernetes"),
            "gpt_tokenizer": _npm_version("gpt-tokenizer"), "pods": args.pods, "calls": args.calls,
            "warmup": args.warmup}
    with tempfile.TemporaryDirectory(prefix="aoi-bench-probe-") as tmp:
        res = anyio.run(bench, args, Path(tmp))
    print()
    print(report(res, meta))
    lines, ok = targets(res)
    print("\nTargets (>= 5x lower p50 than mcp-server-kubernetes, <= 1/3 of the tokens of every other source but "
          "-o yaml, facts present):")
    print("\n".join("  " + line for line in lines))
    if args.json:
        args.json.write_text(json.dumps(_json_safe({"meta": meta, **res}), indent=2, default=str) + "\n")
        print(f"\nwrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
