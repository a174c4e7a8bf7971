"""The observer works from evidence only: it imports no fault definition and no simulator, reaches the cluster only
through MCP, and diagnoses (and repairs) a cluster it has never heard of."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio

from bench.sim import make_keys
from cluster.sim import SimCluster, SimConfig
from cluster.sim.server import SimServer
from observer.baseline import BaselinePolicy
from observer.loop import LoopConfig
from observer.mcp import Endpoint
from observer.policy import TaskSpec
from observer.run import observe
from observer.signing import SignerConfig
from transcripts import TranscriptStore

ROOT = Path(__file__).resolve().parents[2]
OBSERVER = ROOT / "observer"
# What the observer may import of ours: the executor's plan model and token format (pure: pydantic, PyJWT,
# cryptography) and the transcript store. Everything else of ours it reaches over MCP, or not at all.
ALLOWED_OURS = {"observer", "transcripts", "servers.executor.plan", "servers.executor.keys"}
OURS = ("observer", "transcripts", "servers", "cluster", "bench", "evolver", "training", "aoi")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def test_observer_imports_no_ground_truth() -> None:
    bad = []
    for path in sorted(OBSERVER.rglob("*.py")):
        for name in _imports(path):
            if name.split(".")[0] in OURS and not any(name == a or name.startswith(a + ".")
                                                      for a in ALLOWED_OURS):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_importing_the_observer_loads_no_simulator() -> None:
    code = ("import sys, observer.baseline, observer.loop, observer.mcp, observer.signing, observer.render, "
            "observer.run, observer.policies, observer.evidence, observer.compress; "
            "print('\\n'.join(sorted(m for m in sys.modules if m.startswith(('cluster', 'servers.probe', "
            "'servers.executor.core', 'servers.executor.kube', 'bench', 'kubernetes')))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"the observer loaded: {out.stdout}"


def _unknown_cluster(tmp: Path) -> SimServer:
    """A namespace the baseline has no rule for: an nginx web tier whose Service targets a port nothing listens
    on, next to a healthy worker."""
    cluster = SimCluster(SimConfig(seed=5))
    cluster.advance(30)
    api = cluster.api
    with cluster.lock:
        def create(resource: str, obj: dict[str, Any]) -> None:
            rt = cluster.registry.by_key(resource)
            assert rt is not None
            api.create(rt, obj["metadata"].get("namespace", ""), obj)
            cluster.settle()

        create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        for name, image, port, command in (("storefront", "nginx:1.27", 80, None),
                                           ("worker", "busybox:1.36", None, ["sh", "-c", "sleep 100000"])):
            ctr: dict[str, Any] = {"name": name, "image": image}
            if port:
                ctr["ports"] = [{"containerPort": port, "name": "http"}]
            if command:
                ctr["command"] = command
            create("deployments.apps", {
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "shop"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [ctr]}}}})
        create("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "storefront",
                                                                                 "namespace": "shop"},
                            "spec": {"selector": {"app": "storefront"},
                                     "ports": [{"name": "web", "port": 80, "targetPort": 8080}]}})
    cluster.advance(60)
    return SimServer(cluster, kubeconfig=tmp / "kubeconfig", telemetry=True).start()


def test_baseline_on_a_cluster_it_knows_nothing_about(tmp_path: Path) -> None:
    from servers.executor.server import build_server as build_executor
    from servers.executor.server import open_executor
    from servers.probe.context import ProbeContext
    from servers.probe.server import build_server as build_probe
    from servers.probe.settings import ProbeSettings

    srv = _unknown_cluster(tmp_path)
    kc = tmp_path / "kubeconfig"
    key, ring = make_keys(tmp_path / "keys", "shop", "patch")
    store = TranscriptStore(tmp_path / "t.db")
    executor = open_executor(kc, None, ring, None, tmp_path / "ledger.sqlite", tmp_path / "audit.jsonl")

    async def wait(seconds: float) -> str:
        await anyio.to_thread.run_sync(srv.cluster.advance, seconds)
        return f"waited {seconds} s"

    contexts: list[ProbeContext] = []

    def endpoints() -> list[Endpoint]:
        settings = ProbeSettings(kubeconfig=str(kc))
        contexts.append(ProbeContext.build(settings))
        return [Endpoint.in_process("probe", build_probe(settings, contexts[-1])),
                Endpoint.in_process("executor", build_executor(executor))]

    try:
        loc = anyio.run(lambda: observe(BaselinePolicy(), TaskSpec.for_namespace("localization", "shop"),
                                        endpoints(), store, loop=LoopConfig(wait=wait)))
        assert loc.submission == ["storefront"]
        fix = anyio.run(lambda: observe(BaselinePolicy(), TaskSpec.for_namespace("mitigation", "shop"),
                                        endpoints(), store, signer=SignerConfig(key=key, plans_dir=tmp_path),
                                        loop=LoopConfig(wait=wait)))
        assert fix.stop_reason == "submitted" and fix.plans and fix.plans[0].status == "executed"
        svc = srv.cluster.store.get("services", "shop", "storefront")
        assert svc is not None and svc["spec"]["ports"][0]["targetPort"] == 80
        # and the verification it submitted on was real: the probe now finds nothing wrong with the Service
        ep = store.episode(fix.episode_id)
        assert ep.steps[-1].tool == "submit"
        after = [s for s in ep.steps[[s.tool for s in ep.steps].index("plan"):] if s.tool == "describe"]
        assert after and "refused" not in (after[-1].result or "") and "storefront" in (after[-1].result or "")
    finally:
        store.close()
        if executor.kube is not None:
            executor.kube.close()
        for ctx in contexts:  # kept-alive connections would hold the server's shutdown
            ctx.target.api.rest_client.pool_manager.clear()
        srv.stop()
