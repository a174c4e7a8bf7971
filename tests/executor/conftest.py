"""Fixtures for the executor: keys, a simulated cluster with a fault, an executor wired to it, and helpers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cluster.connect import load_api_client
from cluster.sim import SimCluster, SimConfig
from cluster.sim.faults.problems import PROBLEMS
from cluster.sim.faults.setup import Incident, bring_up
from cluster.sim.server import SimServer
from servers.executor.audit import AuditLog
from servers.executor.core import Executor, dry_run_plan, now_iso
from servers.executor.keys import KeyEntry, Keyring, generate_key_pair, load_private_key, sign_plan
from servers.executor.kube import Kube
from servers.executor.ledger import Ledger
from servers.executor.plan import Plan
from servers.executor.policy import Policy

SCALE_ZERO = "scale_pod_zero_social_net-mitigation-1"


@dataclass
class Keys:
    dir: Path
    alice: Ed25519PrivateKey  # a human operator: may sign anything
    observer: Ed25519PrivateKey  # the agent: restarts and scales in test-* namespaces only
    mallory: Ed25519PrivateKey  # not in the keyring
    keyring: Keyring


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    d = tmp_path_factory.mktemp("keys")
    for name in ("alice", "observer", "mallory"):
        generate_key_pair(d, name)
    ring = Keyring(keys=[
        KeyEntry(kid="alice", public_key=(d / "alice.pub").read_text(), allow=["*"], namespaces=["*"],
                 cluster_scoped=True),
        KeyEntry(kid="observer", public_key=(d / "observer.pub").read_text(), allow=["restart", "scale"],
                 namespaces=["test-*"]),
    ])
    return Keys(d, load_private_key(d / "alice.key"), load_private_key(d / "observer.key"),
                load_private_key(d / "mallory.key"), ring)


@dataclass
class Env:
    srv: SimServer
    inc: Incident
    kubeconfig: Path
    kube: Kube
    executor: Executor
    ledger: Ledger
    audit: AuditLog
    keys: Keys
    tmp: Path
    _reviewer: Kube | None = None

    def reviewer(self) -> Kube:
        """A dry-run-only client, as `aoi plan approve` uses."""
        if self._reviewer is None:
            self._reviewer = Kube(load_api_client(self.kubeconfig, readonly=False), Policy(), dry_run_only=True)
        return self._reviewer

    def close(self) -> None:
        for k in (self.kube, self._reviewer):
            if k is not None:
                k.close()
        self.srv.stop()

    @property
    def cluster_id(self) -> str:
        return self.executor.cluster_id

    @property
    def ns(self) -> str:
        return self.inc.fault.namespace

    @property
    def target(self) -> str:
        return self.inc.fault.target

    def plan(self, actions: list[dict[str, Any]], plan_id: str = "fix-1", **kw: Any) -> Plan:
        return Plan.model_validate({"id": plan_id, "goal": "repair the incident", "rationale": "test",
                                    "cluster": self.cluster_id, "actions": actions, **kw})

    def observed(self, plan: Plan) -> dict[str, str]:
        observed, _ = dry_run_plan(plan, self.reviewer(), now_iso(time.time()), stop_at_first=False)
        return observed

    def approve(self, plan: Plan, key: str = "alice", **kw: Any) -> str:
        """What `aoi plan approve` does: read the targets, pin their resourceVersions, sign."""
        if "observed" not in kw:
            kw["observed"] = self.observed(plan)
        return sign_plan(plan, getattr(self.keys, key), key, kw.pop("audience", self.cluster_id), **kw)

    def namespace_state(self, ns: str | None = None) -> dict[str, list[dict[str, Any]]]:
        ns = ns or self.ns
        with self.srv.cluster.lock:
            dump = self.srv.cluster.store.dump()["objects"]
        return {r: [o for o in objs if o["metadata"].get("namespace") in (ns, None, "")] for r, objs in dump.items()
                if r not in ("events", "events.k8s.io", "leases.coordination.k8s.io")}

    def rv(self) -> int:
        return int(self.srv.cluster.store.rv)


def make_env(tmp: Path, keys: Keys, problem: str = SCALE_ZERO, policy: Policy | None = None) -> Env:
    srv = SimServer(SimCluster(SimConfig(seed=1)), kubeconfig=tmp / "kubeconfig", telemetry=True).start()
    inc = bring_up(srv.cluster, PROBLEMS[problem])
    pol = policy or Policy()
    kube = Kube(load_api_client(tmp / "kubeconfig", readonly=False), pol)
    ledger = Ledger(tmp / "ledger.sqlite")
    audit = AuditLog(tmp / "audit.jsonl", ledger)
    return Env(srv, inc, tmp / "kubeconfig", kube, Executor(kube, keys.keyring, pol, ledger, audit), ledger, audit,
               keys, tmp)


@pytest.fixture
def env(tmp_path: Path, keys: Keys) -> Iterator[Env]:
    """A fresh cluster with social-network's user-service scaled to zero, and an executor for it."""
    e = make_env(tmp_path, keys)
    yield e
    e.close()


@pytest.fixture(scope="module")
def shared_env(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Env]:
    """One cluster for tests that must not change it (refusals); they assert it is unchanged."""
    e = make_env(tmp_path_factory.mktemp("shared"), keys)
    yield e
    e.close()
