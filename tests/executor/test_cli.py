"""The human approval flow as a new user runs it: keys init -> a plan file -> plan approve -> plan verify ->
execute with the token (and what happens on 'no')."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from typer.testing import CliRunner

from aoi.cli import app
from cluster.sim.faults.oracles import mitigated
from servers.executor.keys import Keyring
from tests.executor.conftest import Env

runner = CliRunner()


def _plan_file(env: Env, path: Path, replicas: int = 1) -> Path:
    path.write_text(json.dumps({
        "id": "fix-user-service", "goal": "bring user-service back", "rationale": "it was scaled to zero",
        "cluster": env.cluster_id,
        "actions": [{"type": "scale", "namespace": env.ns, "name": env.target, "replicas": replicas}]}, indent=2))
    return path


def test_approval_flow(env: Env) -> None:
    keys_dir, keyring = env.tmp / "keys", env.tmp / "keyring.yaml"
    r = runner.invoke(app, ["keys", "init", "--name", "alice", "--dir", str(keys_dir), "--keyring", str(keyring),
                            "--allow", "*"])
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE((keys_dir / "alice.key").stat().st_mode) == 0o600
    assert Keyring.load(keyring).get("alice") is not None
    assert runner.invoke(app, ["keys", "list", "--keyring", str(keyring)]).exit_code == 0
    plan = _plan_file(env, env.tmp / "plan.json")
    before = env.rv()

    # The operator says no: nothing is signed, nothing changes.
    r = runner.invoke(app, ["plan", "approve", str(plan), "--key", str(keys_dir / "alice.key"),
                            "--kubeconfig", str(env.kubeconfig)], input="n\n")
    assert r.exit_code == 1 and "not approved" in r.stderr
    assert "spec.replicas: 0 -> 1" in r.stderr  # the server-side dry-run diff was shown
    assert env.rv() == before

    r = runner.invoke(app, ["plan", "approve", str(plan), "--key", str(keys_dir / "alice.key"),
                            "--kubeconfig", str(env.kubeconfig)], input="y\n")
    assert r.exit_code == 0, r.stderr
    token = r.stdout.strip().splitlines()[-1]
    assert token.count(".") == 2 and env.rv() == before  # approving changed nothing

    r = runner.invoke(app, ["plan", "verify", str(plan), "--token", token, "--keyring", str(keyring), "--cluster",
                            "--kubeconfig", str(env.kubeconfig)])
    assert r.exit_code == 0, r.stderr
    edited = _plan_file(env, env.tmp / "edited.json", replicas=5)
    r = runner.invoke(app, ["plan", "verify", str(edited), "--token", token, "--keyring", str(keyring)])
    assert r.exit_code == 1 and "plan_hash_mismatch" in r.stderr

    # An MCP client (here the executor's own entry point) runs it with the token.
    from servers.executor.server import open_executor

    ex = open_executor(env.kubeconfig, None, keyring, None, env.tmp / "l.sqlite", env.tmp / "a.jsonl")
    assert ex.execute(json.loads(plan.read_text()), token).status == "executed"
    assert ex.kube is not None
    ex.kube.close()
    env.srv.cluster.advance(60)
    assert mitigated(env.srv.cluster, env.inc.fault).success


def test_approve_refuses_a_failing_dry_run_and_a_wrong_cluster(env: Env) -> None:
    runner.invoke(app, ["keys", "init", "--name", "bob", "--dir", str(env.tmp / "keys")])
    key = str(env.tmp / "keys" / "bob.key")
    bad = env.tmp / "bad.json"
    bad.write_text(json.dumps({"id": "x", "goal": "g", "cluster": env.cluster_id, "actions": [
        {"type": "set_image", "namespace": env.ns, "name": env.target, "container": "nope", "image": "a:1"}]}))
    r = runner.invoke(app, ["plan", "approve", str(bad), "--key", key, "--kubeconfig", str(env.kubeconfig), "--yes"])
    assert r.exit_code == 1 and "dry-run failed" in r.stderr and r.stdout.strip() == ""
    other = env.tmp / "other.json"
    other.write_text(json.dumps({"id": "x", "goal": "g", "cluster": "https://prod:6443", "actions": [
        {"type": "scale", "namespace": env.ns, "name": env.target, "replicas": 1}]}))
    r = runner.invoke(app, ["plan", "approve", str(other), "--key", key, "--kubeconfig", str(env.kubeconfig),
                            "--yes"])
    assert r.exit_code == 2 and "is for cluster" in r.stderr and r.stdout.strip() == ""
    invalid = env.tmp / "invalid.json"
    invalid.write_text('{"id": "x"}')
    r = runner.invoke(app, ["plan", "approve", str(invalid), "--key", key, "--yes"])
    assert r.exit_code == 2 and "not a valid plan" in r.stderr


def test_review_shows_plan_text_literally() -> None:
    """A plan written by a model cannot restyle or hide text in what the approver reads."""
    from servers.executor.cli import _show_review, err
    from servers.executor.core import ActionResult
    from servers.executor.plan import parse_plan

    plan = parse_plan(json.dumps({"id": "x", "goal": "[white on white]hidden[/] \u001b[8mgone", "cluster": "c",
                                  "actions": [{"type": "exec", "kind": "Deployment", "namespace": "a", "name": "b",
                                               "command": ["mongo", "[red]x"]}]}))
    with err.capture() as cap:
        _show_review(plan, [ActionResult(index=0, type="exec", target="Deployment/a/b", status="ok")], "c")
    text = cap.get()
    assert "[white on white]hidden[/]" in text and "\\x1b[8mgone" in text and "\x1b[8m" not in text
    assert '"command": ["mongo", "[red]x"]' in text
