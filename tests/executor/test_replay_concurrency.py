"""Single use under concurrency: of many simultaneous uses of one token, exactly one acts."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

from cluster.connect import load_api_client
from servers.executor.audit import AuditLog, verify_log
from servers.executor.core import Executor
from servers.executor.kube import Kube
from servers.executor.ledger import Ledger
from servers.executor.policy import Policy
from tests.executor.conftest import Env

THREADS = 8


def test_ledger_consume_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path)  # create the schema once
    barrier = threading.Barrier(THREADS)
    wins: list[bool] = []
    lock = threading.Lock()

    def use() -> None:
        ledger = Ledger(path)  # its own connection, as another executor process would have
        barrier.wait()
        won = ledger.consume("the-same-jti-0123456789", "alice", "0" * 64, 2**31)
        with lock:
            wins.append(won)

    threads = [threading.Thread(target=use) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * (THREADS - 1) + [True]
    assert Ledger(path).is_used("the-same-jti-0123456789")


def test_concurrent_executions_of_one_token(env: Env) -> None:
    """Several executors (own clients, own ledger connections, one ledger file and one audit log, like several
    processes) receive the same plan and token at once: one executes, the others are refused as replays."""
    plan = env.plan([{"type": "scale", "namespace": env.ns, "name": env.target, "replicas": 1}])
    token = env.approve(plan)
    executors = []
    for _ in range(THREADS):
        kube = Kube(load_api_client(env.kubeconfig, readonly=False), Policy())
        ledger = Ledger(env.ledger.path)
        executors.append(Executor(kube, env.keys.keyring, Policy(), ledger, AuditLog(env.audit.path, ledger)))
    barrier = threading.Barrier(THREADS)
    results: list[tuple[str, str | None]] = []
    lock = threading.Lock()

    def run(ex: Executor) -> None:
        barrier.wait()
        r = ex.execute(plan, token)
        with lock:
            results.append((r.status, r.reason))

    generation = env.srv.cluster.store.get("deployments.apps", env.ns, env.target)["metadata"]["generation"]
    threads = [threading.Thread(target=run, args=(ex,)) for ex in executors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ex in executors:
        assert ex.kube is not None
        ex.kube.close()
    counts = Counter(results)
    assert counts[("executed", None)] == 1, counts
    # The losers are refused as replays; one may instead find the object already changed by the winner.
    assert sum(n for (status, reason), n in counts.items()
               if status == "refused" and reason in ("replayed", "resource_version_changed")) == THREADS - 1
    d = env.srv.cluster.store.get("deployments.apps", env.ns, env.target)
    assert d["spec"]["replicas"] == 1 and d["metadata"]["generation"] == generation + 1
    report = verify_log(env.audit.path, env.ledger)
    assert report.ok and report.entries == THREADS, report
