"""End to end over MCP: a scale-to-zero fault repaired by a signed plan, in memory and through `aoi executor` over
stdio, with the recovery visible through the read-only side (the Kubernetes API via the read-only client, and
Prometheus)."""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest
from kubernetes import client
from mcp import Client, StdioServerParameters

from cluster.connect import connect
from cluster.kubeconfig import read_telemetry
from cluster.sim.faults.oracles import mitigated
from servers.executor.audit import verify_log
from servers.executor.server import build_server
from tests.executor.conftest import Env

ROOT = Path(__file__).resolve().parents[2]


def available_replicas_seen_by_probe(env: Env) -> tuple[int, float]:
    """What the read-only side sees: the Deployment's status (read-only client) and kube-state-metrics."""
    target = connect(env.kubeconfig, readonly=True)
    d = client.AppsV1Api(target.api).read_namespaced_deployment(env.target, env.ns)
    available = d.status.available_replicas or 0
    tel = read_telemetry(str(env.kubeconfig), None)
    assert tel.prometheus
    ctx = ssl.create_default_context(cadata=env.srv.ca_pem.decode())
    query = f'kube_deployment_status_replicas_available{{namespace="{env.ns}",deployment="{env.target}"}}'
    url = f"{tel.prometheus}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(url, context=ctx, timeout=10) as resp:
        doc = json.load(resp)
    result = doc["data"]["result"]
    return available, float(result[0]["value"][1]) if result else 0.0


def scale_plan(env: Env) -> dict[str, Any]:
    return env.plan([{"type": "scale", "namespace": env.ns, "name": env.target, "replicas": 1}]).model_dump(
        mode="json")


def test_scale_to_zero_repaired_over_mcp(env: Env) -> None:
    assert available_replicas_seen_by_probe(env) == (0, 0.0)
    plan = scale_plan(env)
    token = env.approve(env.plan(plan["actions"]))
    server = build_server(env.executor)

    async def main() -> dict[str, Any]:
        async with Client(server) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert tools["execute_plan"].annotations.destructive_hint is True
            assert tools["check_plan"].annotations.read_only_hint is True
            assert tools["show_policy"].annotations.read_only_hint is True
            policy = (await c.call_tool("show_policy", {})).structured_content
            assert policy is not None and policy["cluster"] == env.cluster_id
            assert {a["type"] for a in policy["actions"]} >= {"scale", "exec", "merge_patch"}
            checked = (await c.call_tool("check_plan", {"plan": plan, "token": token})).structured_content
            assert checked is not None and checked["status"] == "verified"
            r = await c.call_tool("execute_plan", {"plan": json.dumps(plan), "token": token})
            assert not r.is_error and r.structured_content is not None
            again = await c.call_tool("execute_plan", {"plan": plan, "token": token})
            assert again.structured_content is not None and again.structured_content["reason"] == "replayed"
            schema = await c.read_resource("aoi://executor/plan-schema")
            assert "actions" in json.loads(schema.contents[0].text)["properties"]
            return r.structured_content

    result = anyio.run(main)
    assert result["status"] == "executed", result
    assert result["actions"][0]["changes"] == [{"path": "spec.replicas", "before": "0", "after": "1"}]
    env.srv.cluster.advance(60)
    assert mitigated(env.srv.cluster, env.inc.fault).success
    available, metric = available_replicas_seen_by_probe(env)
    assert available == 1 and metric == 1.0
    entries = env.audit.entries()
    assert [e["result"] for e in entries] == ["verified", "executed", "refused"]
    writes = [r for r in entries[1]["requests"] if r["method"] != "GET" and "dryRun" not in r]
    assert writes == [{"method": "PATCH", "status": 200,
                       "path": f"/apis/apps/v1/namespaces/{env.ns}/deployments/{env.target}/scale"}]
    assert verify_log(env.audit.path, env.ledger).ok


def test_aoi_executor_over_stdio(env: Env) -> None:
    """The real command in a child process, as an MCP client (Claude Desktop, the observer) would run it."""
    keyring = env.tmp / "keyring.yaml"
    env.keys.keyring.save(keyring)
    ledger, audit = env.tmp / "stdio-ledger.sqlite", env.tmp / "stdio-audit.jsonl"
    plan = scale_plan(env)
    token = env.approve(env.plan(plan["actions"]), key="observer")
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "aoi", "executor", "--kubeconfig", str(env.kubeconfig), "--keyring", str(keyring),
              "--ledger", str(ledger), "--audit", str(audit)],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(env.tmp), "PYTHONPATH": str(ROOT)},
        cwd=str(env.tmp))

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with Client(params, read_timeout_seconds=60) as c:
            r = await c.call_tool("execute_plan", {"plan": plan, "token": token})
            bad = await c.call_tool("execute_plan", {"plan": {**plan, "goal": "x"}, "token": token})
            assert r.structured_content is not None and bad.structured_content is not None
            return r.structured_content, bad.structured_content

    result, refused = anyio.run(main)
    assert result["status"] == "executed", result
    assert (refused["status"], refused["reason"]) == ("refused", "plan_hash_mismatch")
    env.srv.cluster.advance(60)
    assert mitigated(env.srv.cluster, env.inc.fault).success
    assert verify_log(audit).ok and len(audit.read_text().splitlines()) == 2


@pytest.mark.parametrize("transport", ["bogus"])
def test_executor_command_errors(env: Env, transport: str) -> None:
    from typer.testing import CliRunner

    from aoi.cli import app

    r = CliRunner().invoke(app, ["executor", "--transport", transport, "--keyring", str(env.tmp / "none.yaml")])
    assert r.exit_code == 2
    r = CliRunner().invoke(app, ["executor", "--keyring", str(env.tmp / "none.yaml"), "--kubeconfig",
                                 str(env.kubeconfig)])
    assert r.exit_code == 2 and "aoi keys init" in r.output
