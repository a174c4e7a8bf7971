"""Shared fixtures: simulated clusters served over real HTTPS, and the real kubectl binary."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster.sim import SimCluster, SimConfig
from cluster.sim.server import SimServer

KUBECTL = shutil.which("kubectl")
_ns_counter = itertools.count()


@pytest.fixture
def cluster() -> SimCluster:
    """A fresh in-process cluster on a manual clock: advance it with ``cluster.advance(seconds)``."""
    return SimCluster(SimConfig(seed=7))


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    """One real-time simulator (20x speed) per test process, served over HTTPS; tests use own namespaces."""
    kubeconfig = tmp_path_factory.mktemp("live") / "kubeconfig"
    cluster = SimCluster(SimConfig(seed=11))
    cluster.advance(30)
    cluster.clock.speed = 20.0
    cluster.clock.realtime = True
    cluster.clock.restore(cluster.clock.snapshot())
    server = SimServer(cluster, kubeconfig=kubeconfig).start()
    yield server
    server.stop()


@pytest.fixture
def manual_server(tmp_path: Path) -> Iterator[SimServer]:
    """A simulator on a manual clock behind HTTPS, for tests that step time themselves."""
    server = SimServer(SimCluster(SimConfig(seed=3)), kubeconfig=tmp_path / "kubeconfig").start()
    yield server
    server.stop()


@pytest.fixture
def namespace(live_server: SimServer) -> str:
    """A fresh namespace in the live simulator."""
    name = f"t{os.getpid()}-{next(_ns_counter)}"
    live_server.cluster.api.system_create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": name}})
    return name


class Kubectl:
    def __init__(self, kubeconfig: Path):
        self.kubeconfig = kubeconfig

    def run(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
            ) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.kubeconfig.parent)}
        proc = subprocess.run([KUBECTL, *args], capture_output=True, text=True, input=input, env=env,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def __call__(self, *args: str, **kw) -> str:
        return self.run(*args, **kw).stdout


def _kubectl(server: SimServer) -> Kubectl:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed (these tests drive the real kubectl binary)")
    assert server.kubeconfig_path is not None
    return Kubectl(server.kubeconfig_path)


@pytest.fixture
def kubectl(live_server: SimServer) -> Kubectl:
    return _kubectl(live_server)


@pytest.fixture
def manual_kubectl(manual_server: SimServer) -> Kubectl:
    return _kubectl(manual_server)


def wait_for(predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.05, what: str = "") -> Any:
    """Poll until ``predicate`` is truthy (real-time simulator tests); fails with what it waited for."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)
