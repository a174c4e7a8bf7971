"""Plans the observer's key may not sign: it writes the plan, prints the exact `aoi plan approve` command and stops
(or waits for the human's token); nothing changes in the cluster until a key that may sign has signed."""

from __future__ import annotations

import io
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from typer.testing import CliRunner

from observer.baseline import BaselinePolicy
from observer.render import RichListener
from servers.executor.keys import KeyEntry, Keyring, generate_key_pair
from servers.executor.plan import parse_plan
from tests.observer.conftest import run
from transcripts import TranscriptStore

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "scale_pod_zero_social_net-mitigation-1"  # the repair is a scale: class "scale"


def _replicas(sim: Any) -> int:
    d = sim.cluster.store.get("deployments.apps", sim.problem.namespace, "user-service")
    return int(d["spec"]["replicas"])


def test_refused_class_prints_the_approve_command(sim_factory: Any, store: TranscriptStore) -> None:
    sim = sim_factory(PROBLEM, allow="restart")  # the observer may restart, not scale
    out = io.StringIO()
    outcome, graded = run(sim, store, BaselinePolicy(),
                          listeners=[RichListener(Console(file=out, width=300, color_system=None))])
    assert outcome.stop_reason == "awaiting_approval" and not outcome.submitted
    [plan] = outcome.plans
    assert plan.status == "awaiting_approval" and plan.token_id is None
    assert any("class scale" in r and "may sign only ['restart']" in r for r in plan.reasons), plan.reasons
    assert plan.plan_path and Path(plan.plan_path).exists()
    written = parse_plan(Path(plan.plan_path).read_text())
    assert [a.type for a in written.actions] == ["scale"] and written.cluster == sim.server.url
    cmd = shlex.split(plan.approve_command or "")
    assert cmd[:4] == ["aoi", "plan", "approve", plan.plan_path]
    assert cmd[cmd.index("--kubeconfig") + 1] == str(sim.kubeconfig)
    assert cmd[cmd.index("--out") + 1] == str(Path(plan.plan_path).with_suffix(".token"))
    assert plan.approve_command in out.getvalue().replace("\n", "")  # shown to the operator
    assert _replicas(sim) == 0 and graded["success"] is False  # nothing was changed
    ep = store.episode(outcome.episode_id)
    assert ep.status == "completed" and ep.meta["stop_reason"] == "awaiting_approval"
    [row] = ep.plans
    assert row.status == "awaiting_approval" and row.token_id is None and row.signer is None
    assert row.result and row.result["approve_command"] == plan.approve_command


def test_waits_for_a_human_approval_then_repairs(sim_factory: Any, store: TranscriptStore, tmp_path: Path) -> None:
    from aoi.cli import app
    from bench.episode import run_problem

    sim = sim_factory(PROBLEM, allow="restart")
    operator_key, operator_pub = generate_key_pair(tmp_path / "human", "operator")
    assert sim.keyring is not None
    ring = Keyring.load(sim.keyring)
    Keyring(keys=[*ring.keys, KeyEntry(kid="operator", public_key=operator_pub.read_text().strip(), allow=["*"])
                  ]).save(sim.keyring)
    approvals: list[Any] = []

    def human(command: str) -> None:
        argv = shlex.split(command)[1:]  # drop "aoi"
        argv[argv.index("--key") + 1] = str(operator_key)
        approvals.append(CliRunner().invoke(app, [*argv, "--yes"]))

    async def main() -> Any:
        async with anyio.create_task_group() as tg:
            result: list[Any] = []

            async def episode() -> None:
                result.append(await run_problem(sim, BaselinePolicy(), store, approval="wait"))

            tg.start_soon(episode)
            while not result:  # the human: watch for a plan awaiting approval, then approve it
                rows = [p for e in store.episodes() for p in store.episode(e.id).plans]
                if rows and rows[-1].status == "awaiting_approval" and rows[-1].result:
                    await anyio.to_thread.run_sync(human, rows[-1].result["approve_command"])
                    break
                await anyio.sleep(0.02)
        return result[0]

    outcome, graded = anyio.run(main)
    assert approvals and approvals[0].exit_code == 0, approvals[0].output if approvals else "no approval"
    assert outcome.stop_reason == "submitted" and graded["success"] is True, (outcome, graded)
    [plan] = outcome.plans
    assert plan.status == "executed" and plan.signer == "operator" and plan.signed_by == "human"
    row = store.episode(outcome.episode_id).plans[0]
    assert row.status == "executed" and row.signer == "operator" and row.token_id


def test_ctrl_c_while_waiting_for_approval(tmp_path: Path) -> None:
    """A real SIGINT to `aoi observe`: exit code 130 and the episode marked interrupted."""
    db = tmp_path / "t.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AOI_TRANSCRIPTS_DB": str(db)}
    proc = subprocess.Popen([sys.executable, "-m", "aoi", "observe", "--problem", PROBLEM, "--allow", "restart",
                             "--approval", "wait", "--quiet"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    with sqlite3.connect(db) as conn:
                        if conn.execute("SELECT 1 FROM plans WHERE status = 'awaiting_approval'").fetchone():
                            break
                except sqlite3.Error:
                    pass
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    with sqlite3.connect(db) as conn:
        [(status,)] = conn.execute("SELECT status FROM episodes").fetchall()
        n = conn.execute("SELECT count(*) FROM steps").fetchone()[0]
    assert status == "interrupted" and n > 5
