"""Fixtures for the probe's tests: one simulated cluster per test process with an AIOpsLab problem brought up,
telemetry served, and secrets planted where an investigation would trip over them."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from cluster.sim import SimCluster, SimConfig
from cluster.sim.faults.problems import PROBLEMS, Problem
from cluster.sim.faults.setup import bring_up
from cluster.sim.server import SimServer

PROBLEM_ID = "k8s_target_port-misconfig-detection-1"  # social-network: user-service's Service targets a wrong port
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Planted:
    """Secret values planted in the cluster; not one may appear in any tool output."""

    namespace: str
    secret_password: str = "Zq7plantedSECRETvalue4f9c1e"
    secret_api_key: str = "Kv2plantedAPIKEYvalue8d31aa"
    env_password: str = "Hx3plantedENVpassword77ab2d"
    arg_password: str = "Ar9plantedARGpassword51e0f7"
    annotation_token: str = "Tk5plantedANNOTATIONtoken0c3e8a"
    jwt: str = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwbGFudGVkLXByb2JlLXRlc3QifQ."
                "c2lnbmF0dXJlUGxhbnRlZEJ5UHJvYmVUZXN0")
    pem_body: str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCplantedPEMbody9q"
    sim_token: str = ""  # the kubeconfig's own credential

    def values(self) -> dict[str, str]:
        """Every planted value, plus the forms it could leak in (base64, the JWT's signature on its own)."""
        raw = {"secret_password": self.secret_password, "secret_api_key": self.secret_api_key,
               "env_password": self.env_password, "arg_password": self.arg_password,
               "annotation_token": self.annotation_token, "jwt_signature": self.jwt.rsplit(".", 1)[1],
               "pem_body": self.pem_body, "sim_token": self.sim_token}
        out = {k: v for k, v in raw.items() if v}
        for k in ("secret_password", "secret_api_key"):
            out[k + "_base64"] = base64.b64encode(raw[k].encode()).decode()
        return out


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def plant(cluster: SimCluster, p: Planted) -> None:
    ns = p.namespace
    api = cluster.api
    pem = f"-----BEGIN RSA PRIVATE KEY-----\n{p.pem_body}\nAAAAplantedTAIL==\n-----END RSA PRIVATE KEY-----\n"
    with cluster.locked():
        api.system_create("secrets", {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "db-credentials", "namespace": ns, "labels": {"app": "billing"}},
            "data": {"password": _b64(p.secret_password), "api-key": _b64(p.secret_api_key)}})
        api.system_create("configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "tls-material", "namespace": ns},
            "data": {"tls.key": pem, "server.conf": "listen 8443\nssl_certificate_key /etc/tls/tls.key\n"}})
        api.system_create("deployments.apps", {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "billing", "namespace": ns, "labels": {"app": "billing"},
                         "annotations": {"aoi.dev/deploy-token": p.annotation_token,
                                         "aoi.dev/notes": f"rotated; session {p.jwt}"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "billing"}},
                     "template": {
                         "metadata": {"labels": {"app": "billing"},
                                      "annotations": {"aoi.dev/deploy-token": p.annotation_token}},
                         "spec": {"containers": [{
                             "name": "billing", "image": "busybox:1.36",
                             "command": ["sh", "-c", "echo billing started; sleep 3600"],
                             "args": ["--listen=:8080", f"--password={p.arg_password}"],
                             "env": [{"name": "DB_PASSWORD", "value": p.env_password},
                                     {"name": "DB_HOST", "value": "billing-db"},
                                     {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "db-credentials",
                                                                                         "key": "api-key"}}}]}]}}}})
        api.system_create("pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "leaky", "namespace": ns, "labels": {"app": "leaky"}},
            "spec": {"containers": [{
                "name": "leaky", "image": "busybox:1.36",
                "command": ["sh", "-c", f"echo password={p.secret_password}; echo token {p.jwt}; sleep 3600"]}]}})
    cluster.advance(30)  # pull, start, log


@dataclass
class ProbeSim:
    server: SimServer
    kubeconfig: Path
    problem: Problem
    planted: Planted
    home: Path

    @property
    def cluster(self) -> SimCluster:
        return self.server.cluster

    @property
    def namespace(self) -> str:
        return self.problem.namespace

    def settings(self, **kw: Any):
        from servers.probe.settings import ProbeSettings

        return ProbeSettings(kubeconfig=str(self.kubeconfig), **kw)

    def env(self) -> dict[str, str]:
        """Environment for a probe child process (stdio children inherit only HOME, PATH and a few more)."""
        return {"PATH": os.environ.get("PATH", ""), "HOME": str(self.home), "PYTHONPATH": str(REPO),
                "KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="session")
def probe_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeSim]:
    home = tmp_path_factory.mktemp("probe")
    cluster = SimCluster(SimConfig(seed=1))
    server = SimServer(cluster, kubeconfig=home / "kubeconfig", telemetry=True).start()
    try:
        problem = PROBLEMS[PROBLEM_ID]
        bring_up(cluster, problem)
        planted = Planted(namespace=problem.namespace, sim_token=server.token)
        plant(cluster, planted)
        assert server.kubeconfig_path is not None
        yield ProbeSim(server=server, kubeconfig=server.kubeconfig_path, problem=problem, planted=planted, home=home)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def probe_server(probe_sim: ProbeSim):
    """One in-process MCP server (the real tool table) over the fixture cluster."""
    from servers.probe.server import build_server

    return build_server(probe_sim.settings())


def run_async(fn, *args: Any) -> Any:
    """Run an async test body (tests stay sync so session fixtures need no event loop of their own)."""
    return anyio.run(fn, *args)


def text_of(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content or [])
