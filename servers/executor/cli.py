"""``aoi executor``, ``aoi keys``, ``aoi plan`` and ``aoi audit``: the executor and the human approval flow.

The token is printed alone on stdout (so ``TOKEN=$(aoi plan approve plan.json --key k --yes)`` works); everything
meant for the person approving goes to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

DEFAULT_DIR = Path(".aoi/executor")
DEFAULT_KEYS = Path(".aoi/keys")
DEFAULT_KEYRING = DEFAULT_DIR / "keyring.yaml"
DEFAULT_POLICY = DEFAULT_DIR / "policy.yaml"
DEFAULT_LEDGER = DEFAULT_DIR / "ledger.sqlite"
DEFAULT_AUDIT = DEFAULT_DIR / "audit.jsonl"

err = Console(stderr=True)
keys_app = typer.Typer(help="Ed25519 keys that approve plans, and the executor's keyring.", no_args_is_help=True)
plan_app = typer.Typer(help="Approve and verify plans (the human side of the executor).", no_args_is_help=True)
audit_app = typer.Typer(help="The executor's hash-chained audit log.", no_args_is_help=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _policy_path(policy: Path | None) -> Path | None:
    """An explicit --policy must exist; the default is used only when present (else built-in defaults)."""
    if policy is not None:
        if not policy.exists():
            raise _fail(f"policy file {policy} does not exist")
        return policy
    return DEFAULT_POLICY if DEFAULT_POLICY.exists() else None


def _load_plan(path: Path) -> Any:
    from servers.executor.plan import parse_plan

    try:
        return parse_plan(path.read_text())
    except OSError as e:
        raise _fail(f"cannot read {path}: {e}") from None
    except ValidationError as e:
        lines = [f"  {'.'.join(str(x) for x in x['loc'])}: {x['msg']}" for x in e.errors()[:10]]
        raise _fail(f"{path} is not a valid plan:\n" + "\n".join(lines)) from None


# ------------------------------------------------------------------------------------------------ executor
def executor(
    kubeconfig: Path | None = typer.Option(None, help="Kubeconfig (default: $KUBECONFIG or ~/.kube/config)."),
    context: str | None = typer.Option(None, help="Kubeconfig context (default: its current-context)."),
    keyring: Path = typer.Option(DEFAULT_KEYRING, help="Trusted public keys and what each may sign."),
    policy: Path | None = typer.Option(None, help=f"Policy file (default: {DEFAULT_POLICY} if present, else the "
                                       "built-in defaults)."),
    ledger: Path = typer.Option(DEFAULT_LEDGER, help="SQLite single-use ledger of token ids."),
    audit: Path = typer.Option(DEFAULT_AUDIT, help="Hash-chained audit log (JSON lines)."),
    transport: str = typer.Option("stdio", help="stdio or http (streamable HTTP)."),
    host: str = typer.Option("127.0.0.1", help="HTTP bind address."),
    port: int = typer.Option(8766, help="HTTP port."),
) -> None:
    """Serve the executor over MCP: it acts only on plans approved with a key in the keyring."""
    from cluster.connect import ConnectError
    from servers.executor.server import build_server, open_executor

    if transport not in ("stdio", "http"):
        raise _fail("--transport is stdio or http")
    if not keyring.exists():
        raise _fail(f"keyring {keyring} does not exist; create a key and register it: "
                    f"aoi keys init --name alice --keyring {keyring} --allow '*'")
    try:
        ex = open_executor(kubeconfig, context, keyring, _policy_path(policy), ledger, audit)
    except (ConnectError, ValueError, OSError) as e:
        raise _fail(str(e)) from None
    err.print(f"aoi executor: cluster={ex.cluster_id} keys={[k.kid for k in ex.keyring.keys]} audit={audit}")
    server = build_server(ex)
    if transport == "stdio":
        server.run()
    else:
        server.run("streamable-http", host=host, port=port)


# ------------------------------------------------------------------------------------------------ keys
@keys_app.command("init")
def keys_init(
    name: str = typer.Option(..., help="Key id (kid), e.g. your name or 'observer'."),
    directory: Path = typer.Option(DEFAULT_KEYS, "--dir", help="Where to write NAME.key (0600) and NAME.pub."),
    keyring: Path | None = typer.Option(None, help="Also register the public key in this keyring file."),
    allow: str = typer.Option("restart,scale", help="With --keyring: what the key may sign, comma-separated verb "
                              "classes (restart, scale, rollback, patch, delete, exec), action types, or '*'."),
    namespaces: str = typer.Option("*", help="With --keyring: namespace patterns the key may sign for."),
    cluster_scoped: bool = typer.Option(False, help="With --keyring: may sign for cluster-scoped objects."),
    force: bool = typer.Option(False, help="Overwrite an existing key pair or keyring entry."),
) -> None:
    """Create an Ed25519 key pair for approving plans."""
    from servers.executor.keys import KeyEntry, Keyring, fingerprint, generate_key_pair, parse_public_key

    try:
        priv, pub = generate_key_pair(directory, name, force=force)
    except (FileExistsError, ValidationError) as e:
        raise _fail(str(e).splitlines()[0] if isinstance(e, FileExistsError) else f"invalid key name {name!r}") \
            from None
    public = pub.read_text().strip()
    err.print(f"private key: {priv} (mode 0600; keep it off the executor's machine)")
    err.print(f"public key:  {pub}  {fingerprint(parse_public_key(public))}")
    if keyring is not None:
        ring = Keyring.load(keyring) if keyring.exists() else Keyring()
        if ring.get(name) is not None and not force:
            raise _fail(f"{keyring} already has a key {name!r}; pass --force to replace it")
        entry = KeyEntry(kid=name, public_key=public, allow=[a.strip() for a in allow.split(",") if a.strip()],
                         namespaces=[n.strip() for n in namespaces.split(",") if n.strip()],
                         cluster_scoped=cluster_scoped)
        ring = Keyring(keys=[k for k in ring.keys if k.kid != name] + [entry])
        ring.save(keyring)
        err.print(f"registered {name!r} in {keyring}: allow={entry.allow} namespaces={entry.namespaces}")
    else:
        err.print("add it to the executor's keyring (or rerun with --keyring PATH):")
        err.print(f"  - kid: {name}\n    public_key: {public}\n    allow: [restart, scale]\n    namespaces: ['*']")


@keys_app.command("list")
def keys_list(keyring: Path = typer.Option(DEFAULT_KEYRING, help="Keyring file.")) -> None:
    """List the keys a keyring trusts and what each may sign."""
    from servers.executor.keys import Keyring, fingerprint

    if not keyring.exists():
        raise _fail(f"keyring {keyring} does not exist")
    table = Table("kid", "fingerprint", "allow", "namespaces", "cluster-scoped")
    for k in Keyring.load(keyring).keys:
        table.add_row(k.kid, fingerprint(k.public()), ",".join(k.allow), ",".join(k.namespaces),
                      "yes" if k.cluster_scoped else "no")
    Console().print(table)


# ------------------------------------------------------------------------------------------------ plan
def _safe(text: Any) -> str:
    """Plan text comes from a model or a file: show it literally (no Rich markup, no terminal control codes), so
    nothing in it can hide or restyle what the approver reads."""
    out = "".join(ch if ch.isprintable() or ch == "\n" else f"\\x{ord(ch):02x}" for ch in str(text))
    return escape(out)


def _show_review(plan: Any, results: list[Any], audience: str) -> None:
    from servers.executor.plan import plan_hash

    err.print(f"[bold]plan[/bold] {_safe(plan.id)}: {_safe(plan.goal)}", highlight=False)
    if plan.rationale:
        err.print(f"[dim]rationale:[/dim] {_safe(plan.rationale)}", highlight=False)
    err.print(f"cluster: {_safe(plan.cluster)}   (this cluster: {_safe(audience)})", highlight=False)
    err.print(f"sha256:  {plan_hash(plan)}", highlight=False)
    err.print("actions (each dry-run on the server; nothing is changed until an executor runs the token):")
    for r in results:
        a = plan.actions[r.index]
        status = "[green]dry-run ok[/green]" if r.status == "ok" else \
            f"[red]dry-run {r.status}[/red]: {_safe(r.message)}"
        note = f" ({_safe(r.note)})" if r.note else ""
        err.print(f"  \\[{r.index}] [bold]{a.type}[/bold] {_safe(r.target)}{note}: {status}", soft_wrap=True,
                  highlight=False)
        args = a.model_dump(mode="json", exclude={"type", "kind", "namespace", "name"}, exclude_none=True)
        if args:
            err.print(f"        arguments: {_safe(json.dumps(args, sort_keys=True))}", soft_wrap=True,
                      highlight=False)
        for c in r.changes:
            err.print(f"        {_safe(c.path)}: {_safe(c.before)} -> {_safe(c.after)}", soft_wrap=True,
                      highlight=False)


@plan_app.command("approve")
def plan_approve(
    plan_file: Path = typer.Argument(..., help="The plan (JSON)."),
    key: Path = typer.Option(..., help="Your private key (from `aoi keys init`)."),
    kid: str | None = typer.Option(None, help="Key id (default: the key file's name without .key)."),
    kubeconfig: Path | None = typer.Option(None, help="Kubeconfig of the target cluster."),
    context: str | None = typer.Option(None, help="Kubeconfig context."),
    policy: Path | None = typer.Option(None, help="The executor's policy (its `cluster` is the audience)."),
    audience: str | None = typer.Option(None, help="The executor's cluster identity (default: policy.cluster, "
                                        "else the API server URL)."),
    ttl: int = typer.Option(300, help="Token lifetime in seconds (the executor caps it)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    out: Path | None = typer.Option(None, help="Also write the token to this file (mode 0600)."),
) -> None:
    """Show a plan and its server-side dry-run, ask for confirmation, and print a signed single-use token."""
    from cluster.connect import ConnectError, load_api_client
    from servers.executor.core import dry_run_plan, now_iso
    from servers.executor.keys import load_private_key, sign_plan
    from servers.executor.kube import Kube
    from servers.executor.policy import Policy
    from servers.executor.refusal import Refusal

    plan = _load_plan(plan_file)
    try:
        private = load_private_key(key)
    except (OSError, ValueError, PermissionError) as e:
        raise _fail(f"cannot use key {key}: {e}") from None
    pol = Policy.load(_policy_path(policy))
    try:
        # A dry-run-only client: approving can never change the cluster, whatever the kubeconfig may do.
        kube = Kube(load_api_client(kubeconfig, context, readonly=False), pol, dry_run_only=True)
    except ConnectError as e:
        raise _fail(str(e)) from None
    aud = audience or pol.cluster or kube.host
    try:
        pol.check(plan)
    except Refusal as r:
        err.print(f"[yellow]warning:[/yellow] the executor's policy will refuse this plan: {r.reason}: {r.message}")
    try:
        observed, results = dry_run_plan(plan, kube, now_iso(time.time()), stop_at_first=False)
    finally:
        kube.close()
    _show_review(plan, results, aud)
    if plan.cluster != aud:
        raise _fail(f"the plan is for cluster {plan.cluster!r} but this cluster's identity is {aud!r}; fix the "
                    "plan's `cluster` (or pass --audience)")
    if any(r.status != "ok" for r in results):
        raise _fail("the dry-run failed; nothing was signed", 1)
    if not yes and not typer.confirm("Approve and sign this plan?", default=False, err=True):
        raise _fail("not approved", 1)
    token = sign_plan(plan, private, kid or key.name.removesuffix(".key"), aud, ttl_s=ttl, observed=observed)
    if out is not None:
        import os

        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
    err.print(f"[green]approved[/green]: token valid {ttl} s, single use, for plan {plan.id} on {aud}")
    print(token)


@plan_app.command("verify")
def plan_verify(
    plan_file: Path = typer.Argument(..., help="The plan (JSON)."),
    token: str | None = typer.Option(None, help="The token (or --token-file)."),
    token_file: Path | None = typer.Option(None, help="A file holding the token."),
    keyring: Path = typer.Option(DEFAULT_KEYRING, help="Trusted public keys."),
    policy: Path | None = typer.Option(None, help="Policy file."),
    audience: str | None = typer.Option(None, help="The executor's cluster identity (default: policy.cluster, "
                                        "else the plan's cluster)."),
    ledger: Path | None = typer.Option(None, help="Also check the token was not used (a ledger file)."),
    cluster: bool = typer.Option(False, "--cluster", help="Also check the cluster: targets unchanged since "
                                 "approval and a server-side dry-run of every action."),
    kubeconfig: Path | None = typer.Option(None, help="With --cluster: kubeconfig."),
    context: str | None = typer.Option(None, help="With --cluster: kubeconfig context."),
) -> None:
    """Verify a plan against its token (signature, binding, expiry, key role, policy) without acting."""
    from cluster.connect import ConnectError, load_api_client
    from servers.executor.core import Executor
    from servers.executor.keys import Keyring
    from servers.executor.kube import Kube
    from servers.executor.ledger import Ledger
    from servers.executor.policy import Policy

    text = token if token is not None else (token_file.read_text().strip() if token_file else None)
    if not text:
        raise _fail("give --token or --token-file")
    if not keyring.exists():
        raise _fail(f"keyring {keyring} does not exist")
    plan = _load_plan(plan_file)
    pol = Policy.load(_policy_path(policy))
    kube = None
    if cluster:
        try:
            kube = Kube(load_api_client(kubeconfig, context, readonly=False), pol, dry_run_only=True)
        except ConnectError as e:
            raise _fail(str(e)) from None
    ex = Executor(kube, Keyring.load(keyring), pol, Ledger(ledger) if ledger else None, None,
                  cluster_id=audience or pol.cluster or (kube.host if kube else plan.cluster))
    result = ex.check(plan, text)
    if kube is not None:
        kube.close()
    if result.status == "verified":
        err.print(f"[green]verified[/green]: plan {_safe(plan.id)}: {_safe(result.message)}", highlight=False)
        return
    err.print(f"[red]refused[/red] ({result.reason}): {result.message}")
    raise typer.Exit(1)


# ------------------------------------------------------------------------------------------------ audit
@audit_app.command("verify")
def audit_verify(
    audit: Path = typer.Option(DEFAULT_AUDIT, help="The audit log."),
    ledger: Path | None = typer.Option(None, help=f"The ledger holding the log's head (default: {DEFAULT_LEDGER} "
                                       "if present), to detect entries removed from the end."),
) -> None:
    """Check the audit log's hash chain; name each line that was edited, deleted, reordered or inserted."""
    from servers.executor.audit import verify_log
    from servers.executor.ledger import Ledger

    if not audit.exists():
        raise _fail(f"audit log {audit} does not exist")
    led_path = ledger or (DEFAULT_LEDGER if DEFAULT_LEDGER.exists() else None)
    report = verify_log(audit, Ledger(led_path) if led_path else None)
    if report.ok:
        err.print(str(report))
        return
    print(str(report))
    raise typer.Exit(1)


@audit_app.command("show")
def audit_show(
    audit: Path = typer.Option(DEFAULT_AUDIT, help="The audit log."),
    tail: int = typer.Option(20, help="How many of the last entries."),
    as_json: bool = typer.Option(False, "--json", help="Print the raw JSON lines."),
) -> None:
    """Show the last audit entries: time, operation, result, reason, key and plan."""
    from servers.executor.audit import AuditLog

    entries = AuditLog(audit).entries()[-tail:]
    if as_json:
        for e in entries:
            sys.stdout.write(json.dumps(e, sort_keys=True) + "\n")
        return
    table = Table("seq", "time", "op", "result", "reason", "key", "plan", "requests")
    for e in entries:
        table.add_row(str(e.get("seq")), str(e.get("ts", ""))[:19], str(e.get("op")), str(e.get("result")),
                      str(e.get("reason") or ""), str(e.get("kid") or e.get("kid_claimed") or ""),
                      str(e.get("plan_id") or ""), str(len(e.get("requests") or [])))
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Mount the executor's commands on the ``aoi`` app."""
    app.command("executor")(executor)
    app.add_typer(keys_app, name="keys")
    app.add_typer(plan_app, name="plan")
    app.add_typer(audit_app, name="audit")
