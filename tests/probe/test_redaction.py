"""Planted secrets never leave the probe.

The fixture cluster holds a Secret with distinctive values, a Deployment with a literal ``DB_PASSWORD`` env value, a
``--password=...`` container arg and a token annotation (and a JWT in a free-text annotation), a pod that prints the
Secret's value and a JWT into its log, and a ConfigMap with a PEM private key; the kubeconfig's own token counts as
a secret too. Every tool is called with arguments that would surface them, over MCP; not one planted value (nor its
base64 form) may appear in any text or structured content, nor in the ``--transcripts`` call log.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from servers.probe.server import build_server
from servers.probe.tools import TOOLS
from tests.probe.argspace import plans
from tests.probe.conftest import ProbeSim, run_async, text_of

TOOL_NAMES = [t.name for t in TOOLS]


def _names(sim: ProbeSim) -> dict[str, str]:
    ns = sim.namespace
    store = sim.cluster.store
    billing_pod = next(p["metadata"]["name"] for p in store.list("pods", ns)
                       if p["metadata"]["name"].startswith("billing-"))
    billing_rs = next(r["metadata"]["name"] for r in store.list("replicasets.apps", ns)
                      if r["metadata"]["name"].startswith("billing-"))
    return {"billing_pod": billing_pod, "billing_rs": billing_rs}


def scenarios(sim: ProbeSim) -> list[dict[str, Any]]:
    """What an investigator (or a curious model) would ask, in canonical fields; ``fill`` maps them onto each
    tool's own argument names."""
    ns = sim.namespace
    n = _names(sim)
    kubectl = [f"get secret db-credentials -n {ns} -o yaml", f"get secret db-credentials -n {ns} -o json",
               f"get secrets -n {ns} -o yaml", f"describe secret db-credentials -n {ns}",
               f"get secret db-credentials -n {ns} -o jsonpath={{.data.password}}",
               f"get cm tls-material -n {ns} -o yaml", f"describe pod leaky -n {ns}", f"logs leaky -n {ns}",
               f"logs deploy/billing -n {ns}", f"get deploy billing -n {ns} -o yaml",
               f"get pod {n['billing_pod']} -n {ns} -o json", f"describe deploy billing -n {ns}",
               f"get events -n {ns}", "get secrets -A", f"get pod leaky -n {ns} -o yaml"]
    out: list[dict[str, Any]] = [
        {"kind": "secret", "name": "db-credentials", "namespace": ns},
        {"kind": "secrets", "namespace": ns},
        {"kind": "secrets"},
        {"kind": "configmap", "name": "tls-material", "namespace": ns},
        {"kind": "configmaps", "namespace": ns},
        {"kind": "deployment", "name": "billing", "namespace": ns, "workload": "deployment/billing"},
        {"kind": "replicaset", "name": n["billing_rs"], "namespace": ns},
        {"kind": "pod", "name": "leaky", "pod": "leaky", "namespace": ns, "workload": "pod/leaky"},
        {"kind": "pod", "name": n["billing_pod"], "pod": n["billing_pod"], "namespace": ns},
        {"kind": "pods", "namespace": ns, "selector": "app=leaky"},
        {"pod": "leaky", "namespace": ns, "pattern": "password"},
        {"pod": "leaky", "namespace": ns, "pattern": "token"},
        {"pod": "leaky", "namespace": ns, "errors_only": True},
        {"pod": "leaky", "namespace": ns, "previous": False, "tail": 5000},
        {"workload": "deployment/billing", "namespace": ns},
        {"kind": "pod", "name": "leaky", "namespace": ns, "budget": 100},
        {"namespace": ns},
        {},
        {"service": "user-service", "namespace": ns},
        {"query": f'kube_pod_info{{namespace="{ns}"}}', "namespace": ns},
        *({"command": c} for c in kubectl),
        *({"plan": p} for p in plans(sim)[:6]),  # propose_plan reads every target of a valid plan
    ]
    return out


def fill(schema: dict, scenario: dict[str, Any]) -> dict[str, Any] | None:
    """The scenario in the tool's argument names, or None when the tool cannot take it (a required argument has
    no value, or the scenario names an object the tool would ignore)."""
    props = schema.get("properties", {})
    args: dict[str, Any] = {}
    for p in props:
        low = p.lower()
        if "namespace" in low:
            key = "namespace"
        elif "kind" in low:
            key = "kind"
        elif low == "pod" or low == "pod_name":
            key = "pod"
        elif "workload" in low or low in ("object", "target", "resource"):
            key = "workload"
        elif "selector" in low and "label" in low:
            key = "selector"
        elif "name" in low:
            key = "name"
        elif "command" in low or low in ("cmd", "argv", "args"):
            key = "command"
        elif "query" in low or "promql" in low:
            key = "query"
        else:
            key = low
        if key in scenario:
            value = scenario[key]
            if key == "command" and "array" in json.dumps(props[p]):
                value = value.split()
            args[p] = value
    if any(r not in args for r in schema.get("required", [])):
        return None
    used = set(args)
    if not used and scenario:
        return None
    return args


def _leaks(sim: ProbeSim, payload: str) -> list[str]:
    return [k for k, v in sim.planted.values().items() if v in payload]


def _payload(result: Any) -> str:
    return text_of(result) + "\n" + json.dumps(result.structured_content or {}, default=str)


def _calls(sim: ProbeSim, tools: list) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    for t in tools:
        for sc in scenarios(sim):
            args = fill(t.input_schema, sc)
            if args is not None and (t.name, args) not in calls:
                calls.append((t.name, args))
    return calls


@pytest.mark.parametrize("tool", TOOL_NAMES)
def test_planted_secrets_never_appear(probe_sim: ProbeSim, probe_server, tool: str) -> None:
    async def main() -> tuple[list[tuple[str, dict, list[str]]], int]:
        leaks: list[tuple[str, dict, list[str]]] = []
        ok = 0
        async with Client(probe_server) as c:
            listed = [t for t in (await c.list_tools()).tools if t.name == tool]
            calls = _calls(probe_sim, listed)
            assert calls, f"no scenario fits {tool}'s arguments"
            for name, args in calls:
                r = await c.call_tool(name, args)
                ok += not r.is_error
                found = _leaks(probe_sim, _payload(r))
                if found:
                    leaks.append((name, args, found))
                cursor = (r.structured_content or {}).get("cursor")
                while cursor:  # continuations are an output path too
                    r = await c.call_tool(name, {"cursor": cursor, "budget": 50_000})
                    if found := _leaks(probe_sim, _payload(r)):
                        leaks.append((name, {"cursor": cursor}, found))
                    cursor = (r.structured_content or {}).get("cursor")
        return leaks, ok

    leaks, ok = run_async(main)
    assert leaks == [], f"planted secrets leaked: {leaks}"
    assert ok > 0, f"{tool}: every call failed, so nothing was shown"


def test_secrets_are_surfaced_but_masked(probe_sim: ProbeSim, probe_server) -> None:
    """Not vacuous: the planted objects are found and shown, with their secret parts masked."""
    ns = probe_sim.namespace

    async def main() -> dict[str, str]:
        out = {}
        async with Client(probe_server) as c:
            for key, args in {"secret": {"kind": "secret", "name": "db-credentials", "namespace": ns},
                              "deploy": {"kind": "deploy", "name": "billing", "namespace": ns},
                              "cm": {"kind": "cm", "name": "tls-material", "namespace": ns},
                              "pod": {"kind": "pod", "name": "leaky", "namespace": ns}}.items():
                r = await c.call_tool("get_resource", args)
                assert not r.is_error, text_of(r)
                out[key] = _payload(r)
            if "logs" in TOOL_NAMES:
                r = await c.call_tool("logs", {"namespace": ns, "pod": "leaky"})
                assert not r.is_error, text_of(r)
                out["logs"] = _payload(r)
        return out

    out = run_async(main)
    assert "password" in out["secret"] and "api-key" in out["secret"] and "[REDACTED]" in out["secret"]
    assert "DB_PASSWORD" in out["deploy"] and "--password=[REDACTED]" in out["deploy"]
    assert "aoi.dev/deploy-token" in out["deploy"] and "DB_HOST" in out["deploy"] and "billing-db" in out["deploy"]
    assert "tls.key" in out["cm"] and "ssl_certificate_key" in out["cm"]
    assert "echo password=[REDACTED]" in out["pod"]
    if "logs" in out:
        assert "password=[REDACTED]" in out["logs"] and "token [REDACTED]" in out["logs"]
    for payload in out.values():
        assert _leaks(probe_sim, payload) == []


def test_transcripts_are_redacted(probe_sim: ProbeSim, tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    server = build_server(probe_sim.settings(transcripts=db))

    async def main() -> None:
        async with Client(server) as c:
            listed = (await c.list_tools()).tools
            for name, args in _calls(probe_sim, listed):
                await c.call_tool(name, args)

    run_async(main)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select tool, arguments, result from calls").fetchall()
    assert len(rows) >= len(TOOL_NAMES)
    for tool, arguments, result in rows:
        assert _leaks(probe_sim, arguments + result) == [], (tool, arguments)
