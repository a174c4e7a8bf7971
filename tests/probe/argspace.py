"""The argument space the probe's tests call tools with: values derived from each tool's input schema (enums,
bounds, booleans, nested objects) plus hand-picked realistic ones per argument name (real objects of the fixture
cluster, near misses, wrong values, and attempts to make a tool write)."""

from __future__ import annotations

import json
import random
import shlex
from typing import Any

from tests.probe.conftest import ProbeSim

# Names that try to turn a read into an action by path injection (exec/proxy subresources, dot segments, a query).
HOSTILE_NAMES = ["leaky/exec", "user-service/proxy/admin", "kind-worker/proxy/metrics", "leaky%2Fattach",
                 "../../api/v1/namespaces/kube-system/pods/x/exec", "leaky/exec?command=id&stdout=true&x="]


def realistic_values(sim: ProbeSim) -> dict[str, list[Any]]:
    """Hand-picked values per argument name (matched exactly, then by substring): real objects of the fixture
    cluster, near misses, and wrong ones."""
    ns = sim.namespace
    pods = sorted(p["metadata"]["name"] for p in sim.cluster.store.list("pods", ns))
    app_pod = next(p for p in pods if p.startswith("user-service"))
    billing_rs = next(r["metadata"]["name"] for r in sim.cluster.store.list("replicasets.apps", ns)
                      if r["metadata"]["name"].startswith("billing-"))
    return {
        "kind": ["pods", "deployments", "services", "events", "nodes", "namespaces", "configmaps", "secrets",
                 "replicasets", "endpoints", "pvc", "po", "Deployment", "deployments.apps", "podchaos",
                 "no-such-kind"],
        "namespace": [ns, "kube-system", "default", "no-such-namespace"],
        "name": ["user-service", app_pod, "leaky", "billing", "db-credentials", "tls-material", "kind-worker",
                 "no-such-object", *HOSTILE_NAMES],
        "pod": [app_pod, "leaky", "no-such-pod", *HOSTILE_NAMES],
        "container": ["leaky", "user-service", "no-such-container"],
        "workload": ["deployment/user-service", "deploy/billing", "service/user-service", "user-service",
                     "statefulset/nothing", "no-such-workload"],
        "object": ["pod/leaky", "deployment/billing", "service/user-service", "user-service"],
        "service": ["user-service", "compose-post-service", "nginx-thrift", "no-such-service"],
        "operation": ["/wrk2-api/post/compose", "no-such-operation"],
        "selector": ["app=billing", "app!=billing", "app in (billing,leaky)", "=== not a selector"],
        "field": ["status.phase=Running", "metadata.name=leaky", "spec.nodeName=kind-worker", "bogus=1"],
        "query": ["up", f'sum by (pod) (rate(container_cpu_usage_seconds_total{{namespace="{ns}"}}[5m]))',
                  f'container_memory_working_set_bytes{{namespace="{ns}"}}',
                  "histogram_quantile(0.99, sum by (le) (rate(traces_span_metrics_duration_bucket[5m])))",
                  "sum(rate((("],
        "duration": ["30s", "5m", "1h", "2d", "forever"],
        "time": ["5m", "1h", "2026-01-01T12:00:00Z", "not-a-time"],
        "step": ["15s", "1m", "0s"],
        "pattern": ["error", "password", "(?i)connection refused", "(unclosed"],
        "reason": ["BackOff", "FailedScheduling", "Unhealthy", "Started"],
        "trace": ["0123456789abcdef0123456789abcdef", "no-such-trace"],
        "command": [f"get pods -n {ns}", "get pods -A -o wide", f"describe pod leaky -n {ns}",
                    f"logs leaky -n {ns} --tail=5", f"get secret db-credentials -n {ns} -o yaml",
                    f"top pods -n {ns}", f"get events -n {ns}", f"events -n {ns}", "get nodes",
                    f"get deploy billing -n {ns} -o json", f"describe svc user-service -n {ns}",
                    # write attempts: must be refused without a byte reaching the server
                    f"delete pod leaky -n {ns}", f"scale deploy billing --replicas=0 -n {ns}",
                    f"apply -f /tmp/x.yaml -n {ns}", f"exec leaky -n {ns} -- sh -c id",
                    f"patch deploy billing -n {ns} -p '{{\"spec\":{{\"replicas\":0}}}}'",
                    f"edit deploy billing -n {ns}", f"rollout restart deploy/billing -n {ns}",
                    f"label pod leaky x=y -n {ns}", f"annotate pod leaky x=y -n {ns}",
                    "cordon kind-worker", "drain kind-worker", f"port-forward pod/leaky 8080 -n {ns}",
                    "proxy", "create namespace evil", f"get pods -n {ns}; kubectl delete ns {ns}",
                    f"get pods -n {ns} && rm -rf /", "$(whoami)", ""],
        "plan": plans(sim),
        # (kind, name) pairs that exist together, for tools that take both
        "_objects": [{"kind": "pod", "name": "leaky"}, {"kind": "pod", "name": app_pod},
                     {"kind": "deployment", "name": "billing"}, {"kind": "deploy", "name": "user-service"},
                     {"kind": "service", "name": "user-service"}, {"kind": "svc", "name": "compose-post-service"},
                     {"kind": "configmap", "name": "tls-material"}, {"kind": "secret", "name": "db-credentials"},
                     {"kind": "node", "name": "kind-worker"}, {"kind": "namespace", "name": ns},
                     {"kind": "endpoints", "name": "user-service"}, {"kind": "replicaset", "name": billing_rs}],
    }


def plans(sim: ProbeSim) -> list[Any]:
    """Repair plans in the executor's plan model (valid ones make propose_plan read every target), plus broken ones."""
    ns = sim.namespace

    def plan(pid: str, *actions: dict) -> dict:
        return {"id": pid, "goal": "repair the incident", "rationale": "test", "cluster": sim.server.url,
                "actions": list(actions)}

    fix_port = {"type": "patch_service", "namespace": ns, "name": "user-service",
                "ports": [{"port": 9090, "target_port": 9090}]}
    return [
        plan("fix-user-service", fix_port),
        plan("restart-billing", {"type": "rollout_restart", "kind": "Deployment", "namespace": ns, "name": "billing"}),
        plan("scale-billing", {"type": "scale", "kind": "Deployment", "namespace": ns, "name": "billing",
                               "replicas": 0}),
        plan("kick-leaky", {"type": "delete_pod", "namespace": ns, "name": "leaky"}),
        plan("exec-leaky", {"type": "exec", "namespace": ns, "name": "leaky", "command": ["sh", "-c", "id"]}),
        plan("image", {"type": "set_image", "kind": "Deployment", "namespace": ns, "name": "billing",
                       "container": "billing", "image": "busybox:1.37"}),
        plan("missing-target", {**fix_port, "name": "no-such-service"}),
        plan("bad-action", {"type": "format_disk", "namespace": ns, "name": "x"}),
        {"id": "no-actions", "goal": "x", "cluster": sim.server.url, "actions": []},
        {},
    ]


# Integer arguments that only scale the work done (values above 100 are skipped to keep the tests fast).
COST_KNOBS = ("limit", "max", "count", "samples", "top")

# Argument-name fragments -> value pool (first match wins; exact names are tried before these).
FRAGMENTS = [
    ("namespace", "namespace"), ("kind", "kind"), ("container", "container"), ("pod", "pod"),
    ("workload", "workload"), ("object", "object"), ("target", "workload"), ("resource", "object"),
    ("service", "service"), ("operation", "operation"), ("label", "selector"), ("selector", "selector"),
    ("field", "field"), ("promql", "query"), ("query", "query"), ("expr", "query"), ("since", "duration"),
    ("window", "duration"), ("duration", "duration"), ("lookback", "duration"), ("range", "duration"),
    ("last", "duration"), ("start", "time"), ("end", "time"), ("step", "step"), ("pattern", "pattern"),
    ("grep", "pattern"), ("regex", "pattern"), ("filter", "pattern"), ("match", "pattern"), ("reason", "reason"),
    ("trace", "trace"), ("command", "command"), ("cmd", "command"), ("argv", "command"), ("plan", "plan"),
    ("name", "name"),
]


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        schema = root.get("$defs", {}).get(schema["$ref"].rsplit("/", 1)[-1], {})
    return schema


def _branches(schema: dict, root: dict) -> list[dict]:
    schema = _resolve(schema, root)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return [b for o in options for b in _branches(o, root)]
    return [schema]


def _type_values(name: str, schema: dict, root: dict, pools: dict[str, list[Any]], depth: int = 0) -> list[Any]:
    """Values for one argument from its schema: enums, bounds, booleans, nested objects; named pools for strings."""
    out: list[Any] = []
    for b in _branches(schema, root):
        t = b.get("type")
        if "enum" in b:
            out += b["enum"]
        elif "const" in b:
            out.append(b["const"])
        elif t == "boolean":
            out += [True, False]
        elif t in ("integer", "number"):
            lo, hi = b.get("minimum", b.get("exclusiveMinimum", 0)), b.get("maximum", b.get("exclusiveMaximum"))
            guesses = [lo, lo + 1, 5, 50, 300, 5000, hi]
            if any(k in name.lower() for k in COST_KNOBS):  # bigger fetches exercise no other code path
                guesses = [v for v in guesses if v is None or v <= 100]
            out += sorted({int(v) if t == "integer" else v for v in guesses
                           if v is not None and v >= lo and (hi is None or v <= hi)})
        elif t == "string":
            out += [v if isinstance(v, str) else json.dumps(v) for v in _pool(name, pools)] or ["x", "no-such-thing"]
        elif t == "array":
            items = _type_values(name, b.get("items", {}), root, pools, depth + 1)
            if _pool(name, pools) is pools.get("command"):  # an argv: each command line, split
                out += [shlex.split(c) for c in items if isinstance(c, str)]
            else:
                out += [items[:1], items[:3]] if items else [[]]
        elif t == "object" or "properties" in b:
            out += _pool(name, pools) if name == "plan" or "plan" in name else []
            if depth < 3 and b.get("properties"):
                out.append({k: _type_values(k, v, root, pools, depth + 1)[0]
                            for k, v in b["properties"].items()
                            if k in b.get("required", []) and _type_values(k, v, root, pools, depth + 1)})
        elif t == "null":
            out.append(None)
    seen: list[Any] = []
    for v in out:
        if v not in seen:
            seen.append(v)
    return seen


def _pool(name: str, pools: dict[str, list[Any]]) -> list[Any]:
    if name in pools:
        return pools[name]
    low = name.lower()
    for frag, pool in FRAGMENTS:
        if frag in low:
            return pools.get(pool, [])
    return []


def argument_combinations(schema: dict, pools: dict[str, list[Any]], seed: int = 0,
                          random_combinations: int = 15) -> list[dict[str, Any]]:
    """Required arguments at their first value (plus the first namespace, where the tool takes one); then every
    value of every argument one at a time; then existing (kind, name) pairs; then seeded random combinations."""
    props = schema.get("properties", {})
    required = schema.get("required", [])
    values = {k: _type_values(k, v, schema, pools) for k, v in props.items()}
    values = {k: v for k, v in values.items() if v}
    if any(r not in values for r in required):
        return []
    base = {r: values[r][0] for r in required}
    if "namespace" in values and "namespace" not in base:
        base["namespace"] = values["namespace"][0]
    calls = [dict(base)]
    for k, vs in values.items():
        for v in vs:
            calls.append({**base, k: v})
    if "kind" in props and "name" in props:
        calls += [{**base, **pair} for pair in pools.get("_objects", [])]
    rng = random.Random(seed)
    for _ in range(random_combinations):
        call = {r: rng.choice(values[r]) for r in required}
        for k, vs in values.items():
            if k not in required and k != "cursor" and rng.random() < 0.4:
                call[k] = rng.choice(vs)
        calls.append(call)
    unique: list[dict[str, Any]] = []
    for c in calls:
        if c not in unique:
            unique.append(c)
    return unique
