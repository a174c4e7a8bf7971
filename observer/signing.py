"""Plan signing: the observer signs a plan with its own key only when the executor's keyring lets that key sign
every action class in the plan; otherwise it writes the plan for a human and prints the exact ``aoi plan approve``
command, then stops or waits for the token, as configured.

The observer imports the executor's plan model and its token format (``servers.executor.plan`` and
``servers.executor.keys``: pydantic, PyJWT and cryptography only, no cluster client), so what it signs is exactly
what the executor verifies. What the key may sign is read from the executor itself (``show_policy``), not assumed.
The token never leaves this module except to the executor: transcripts get its id (``jti``) and SHA-256.
"""

from __future__ import annotations

import fnmatch
import json
import os
import secrets
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import jwt

from servers.executor.keys import load_private_key, sign_plan, token_digest
from servers.executor.plan import VERB_CLASS, Plan, canonical_json

Approval = Literal["exit", "wait"]
DEFAULT_PLANS_DIR = Path(".aoi/observer/plans")
DEFAULT_APPROVER_KEY = Path(".aoi/keys/operator.key")


@dataclass(frozen=True)
class Signed:
    """A token for one plan, and what may be recorded about it."""

    token: str
    token_id: str  # the jti
    token_sha256: str
    signer: str  # the kid
    by: Literal["observer", "human"]


@dataclass
class SignerConfig:
    key: Path | None = None  # the observer's private key (Ed25519 PEM, mode 0600)
    kid: str | None = None  # default: the key file's name without .key
    ttl_s: int = 300
    approval: Approval = "exit"  # what to do when a human must approve: stop the episode, or wait for the token
    approval_timeout_s: float = 900.0
    plans_dir: Path = DEFAULT_PLANS_DIR
    approver_key: Path = DEFAULT_APPROVER_KEY  # shown in the approve command
    kubeconfig: str | None = None  # shown in the approve command
    context: str | None = None
    executor_policy: str | None = None  # the executor's policy file, if it has one (its `cluster` is the audience)


class Signer:
    def __init__(self, config: SignerConfig):
        self.config = config
        self.kid = config.kid or (config.key.name.removesuffix(".key") if config.key else None)
        self._key = None

    # ------------------------------------------------------------------------------------------------ role
    def key_entry(self, policy_view: dict[str, Any] | None) -> dict[str, Any] | None:
        for k in (policy_view or {}).get("keys") or []:
            if isinstance(k, dict) and k.get("kid") == self.kid:
                return k
        return None

    def refusals(self, plan: Plan, policy_view: dict[str, Any] | None) -> list[str]:
        """Why this observer may not sign the plan itself (empty: it may). Mirrors the executor's key checks."""
        if self.config.key is None or not self.kid:
            return ["the observer has no signing key (--key)"]
        if not self.config.key.exists():
            return [f"the observer's key {self.config.key} does not exist"]
        entry = self.key_entry(policy_view)
        if entry is None:
            return [f"the executor's keyring has no key {self.kid!r}"]
        allow = entry.get("allow") or []
        out = []
        for i, a in enumerate(plan.actions):
            cls = VERB_CLASS[a.type]
            if not ("*" in allow or a.type in allow or cls in allow):
                out.append(f"action {i} ({a.type}, class {cls}): key {self.kid!r} may sign only {allow}")
            if a.namespace == "":
                if not entry.get("cluster_scoped"):
                    out.append(f"action {i} ({a.type} {a.target()}): key {self.kid!r} may not sign for "
                               "cluster-scoped objects")
            elif not any(fnmatch.fnmatchcase(a.namespace, p) for p in entry.get("namespaces") or []):
                out.append(f"action {i}: key {self.kid!r} may not sign for namespace {a.namespace!r}")
        return out

    # ------------------------------------------------------------------------------------------------ signing
    def sign(self, plan: Plan, audience: str, observed: dict[str, str]) -> Signed:
        assert self.config.key is not None and self.kid
        if self._key is None:
            self._key = load_private_key(self.config.key)
        jti = secrets.token_urlsafe(24)
        token = sign_plan(plan, self._key, self.kid, audience, ttl_s=self.config.ttl_s, observed=observed, jti=jti)
        return Signed(token=token, token_id=jti, token_sha256=token_digest(token), signer=self.kid, by="observer")

    # ------------------------------------------------------------------------------------------------ humans
    def write_for_human(self, plan: Plan) -> tuple[Path, Path, str]:
        """Write PLAN.json; returns (plan path, where the token is expected, the exact approve command)."""
        directory = self.config.plans_dir
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{plan.id}.json"
        path.write_bytes(canonical_json(plan) + b"\n")
        token_path = directory / f"{plan.id}.token"
        args = ["aoi", "plan", "approve", str(path), "--key", str(self.config.approver_key)]
        if self.config.kubeconfig:
            args += ["--kubeconfig", str(self.config.kubeconfig)]
        if self.config.context:
            args += ["--context", self.config.context]
        if self.config.executor_policy:
            args += ["--policy", str(self.config.executor_policy)]
        args += ["--out", str(token_path)]
        return path, token_path, " ".join(shlex.quote(a) for a in args)

    async def wait_for_token(self, token_path: Path, poll_s: float = 1.0) -> Signed | None:
        """Wait (up to the approval timeout) for a human's token at ``token_path``."""
        deadline = time.monotonic() + self.config.approval_timeout_s
        while time.monotonic() < deadline:
            if token_path.exists() and token_path.stat().st_size > 0:
                token = token_path.read_text().strip()
                with_claims = read_claims(token)
                os.replace(token_path, token_path.with_suffix(".token.used"))  # a token acts once anyway
                return Signed(token=token, token_id=str(with_claims.get("jti") or ""),
                              token_sha256=token_digest(token), signer=str(with_claims.get("iss") or ""), by="human")
            await anyio.sleep(poll_s)
        return None


def read_claims(token: str) -> dict[str, Any]:
    """A token's claims without verifying it (the executor verifies); only for recording its id and signer."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        return claims if isinstance(claims, dict) else {}
    except jwt.PyJWTError:
        return {}


def plan_json(plan: Plan) -> str:
    return json.dumps(json.loads(canonical_json(plan)), indent=2, sort_keys=True)
