"""The executor's decision and action path: verify a plan and its token, dry-run, consume the token, act, audit.

Order of checks (the first that fails is the refusal reason): the token (header, key, signature, audience, time),
the plan (valid, same id, same hash, same cluster), scope (token namespaces, the key's namespaces and action
classes), policy (protected namespaces/kinds, merge-patch kinds, exec allowlist, caps), pinned state, replay, then
against the cluster: every target still at its approved resourceVersion, every action passes a server-side
dry-run. Only then is the token's single-use id consumed (atomically) and the actions run, in order, stopping at
the first failure. Every request, accepted or refused, becomes one audit entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from servers.executor.actions import ActionFailed, Change, diff, predicted, prepare, send
from servers.executor.audit import AuditLog
from servers.executor.keys import Claims, KeyEntry, Keyring, token_digest, unverified_header, verify_token
from servers.executor.kube import Kube, KubeError, RequestRefused
from servers.executor.ledger import Ledger
from servers.executor.plan import Plan, parse_plan, plan_hash
from servers.executor.policy import Policy
from servers.executor.refusal import Reason, Refusal


class ActionResult(BaseModel):
    """The outcome of one action: ``ok`` (dry-run passed), ``applied``, ``failed`` or ``not_run``, with the
    fields that changed (or would change) and, for exec, the command's exit code and output."""

    index: int
    type: str
    target: str
    status: Literal["ok", "applied", "failed", "not_run"]
    note: str = ""
    message: str = ""
    changes: list[Change] = Field(default_factory=list)
    exit_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None


class PlanResult(BaseModel):
    """The executor's answer. ``status``: ``executed`` (every action applied), ``failed`` (stopped at
    ``failed_action``; earlier actions stay applied), ``refused`` (nothing was changed; ``reason`` says why) or
    ``verified`` (check_plan: the token is valid and every action passes a dry-run)."""

    status: Literal["executed", "failed", "refused", "verified"]
    reason: str | None = None
    message: str = ""
    plan_id: str | None = None
    plan_hash: str | None = None
    key_id: str | None = None
    failed_action: int | None = None
    actions: list[ActionResult] = Field(default_factory=list)
    audit_seq: int | None = None


def now_iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _plan_errors(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:3]:
        loc = ".".join(str(x) for x in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _raw_digest(plan_in: Any) -> str:
    try:
        raw = plan_in if isinstance(plan_in, str | bytes) else json.dumps(plan_in, sort_keys=True, default=str)
    except (TypeError, ValueError):
        raw = repr(plan_in)
    return hashlib.sha256(raw.encode() if isinstance(raw, str) else raw).hexdigest()


def dry_run_plan(plan: Plan, kube: Kube, stamp: str, pins: dict[str, str] | None = None,
                 stop_at_first: bool = True, read: dict[str, dict[str, Any]] | None = None
                 ) -> tuple[dict[str, str], list[ActionResult]]:
    """Read each target (its resourceVersion is returned as observed), check it against ``pins`` and dry-run
    every action. Raises Refusal at the first problem when ``stop_at_first``; else records it per action.
    ``stamp`` is the time a rollout restart writes; ``read`` (if given) collects each target as first read."""
    observed: dict[str, str] = {}
    results: list[ActionResult] = []
    for i, a in enumerate(plan.actions):
        key = a.target()
        res = ActionResult(index=i, type=a.type, target=key, status="ok")
        results.append(res)
        try:
            first = key not in observed
            current = kube.get(a.kind, a.namespace, a.name)
            if current is None:
                raise ActionFailed(f"{a.kind} {a.name} not found" + (f" in namespace {a.namespace}" if a.namespace
                                                                      else ""), missing=True)
            if first:
                rv = str((current.get("metadata") or {}).get("resourceVersion") or "")
                observed[key] = rv
                if read is not None:
                    read[key] = current
                pinned = (pins or {}).get(key)
                if pinned is not None and pinned != rv:
                    raise Refusal("resource_version_changed", f"action {i}: {key} is at resourceVersion {rv}, "
                                                              f"approved at {pinned}: review and approve again", i)
            prep = prepare(a, kube, rv=(pins or {}).get(key) if first else None, now_iso=stamp, current=current)
            response, _ = send(prep, kube, dry_run=True)
            res.note = prep.note
            res.changes = predicted(prep, response)
        except Refusal as r:
            res.status, res.message = "failed", r.message
            if stop_at_first:
                raise
        except ActionFailed as e:
            res.status, res.message = "failed", str(e)
            if stop_at_first:
                raise Refusal("target_missing" if e.missing else "dry_run_failed", f"action {i}: {e}", i) from None
        except RequestRefused as e:
            res.status, res.message = "failed", str(e)
            if stop_at_first:
                raise Refusal("dry_run_failed", f"action {i}: the executor's client may not make this request: {e}",
                              i) from None
        except KubeError as e:
            res.status, res.message = "failed", f"dry-run: {e}"
            if stop_at_first:
                reason: Reason = "resource_version_changed" if e.status == 409 else (
                    "cluster_unreachable" if e.status == 0 else "dry_run_failed")
                raise Refusal(reason, f"action {i} ({a.type} {key}): the server-side dry-run failed: {e}",
                              i) from None
    return observed, results


class Executor:
    """Verifies and runs plans against one cluster. Holds public keys only."""

    def __init__(self, kube: Kube | None, keyring: Keyring, policy: Policy, ledger: Ledger | None,
                 audit: AuditLog | None, cluster_id: str | None = None, clock: Callable[[], float] = time.time):
        self.kube = kube
        self.keyring = keyring
        self.policy = policy
        self.ledger = ledger
        self.audit = audit
        identity = policy.cluster or cluster_id or (kube.host if kube else None)
        if not identity:
            raise ValueError("the executor needs a cluster identity (policy.cluster, cluster_id or a Kubernetes API)")
        self.cluster_id: str = identity
        self.clock = clock
        # One plan acts at a time in this process: the drift check and the writes must not interleave with
        # another plan's. Across processes the ledger still makes each token single-use.
        self._act_lock = threading.Lock()

    # ------------------------------------------------------------------------------------------------ entry
    def check(self, plan: Any, token: Any) -> PlanResult:
        """Everything ``execute`` checks, including the cluster state and a dry-run, without acting or using
        the token."""
        return self._handle("check", plan, token)

    def execute(self, plan: Any, token: Any) -> PlanResult:
        return self._handle("execute", plan, token)

    def _handle(self, op: Literal["check", "execute"], plan_in: Any, token: Any) -> PlanResult:
        info: dict[str, Any] = {"op": op, "cluster": self.cluster_id, "token_sha256": token_digest(token)}
        with contextlib.ExitStack() as stack:
            requests: list[dict[str, Any]] = stack.enter_context(self.kube.guard.recording()) if self.kube else []
            try:
                result = self._run(op, plan_in, token, info)
            except Refusal as r:
                result = PlanResult(status="refused", reason=r.reason, message=r.message, failed_action=r.action)
            except Exception as e:  # never crash the server: refuse and record what happened
                traceback.print_exc(file=sys.stderr)
                result = PlanResult(status="refused", reason="internal_error",
                                    message=f"{type(e).__name__}: {e}"[:500])
        result.plan_id = info.get("plan_id")
        result.plan_hash = info.get("plan_hash")
        result.key_id = info.get("kid")
        if self.audit is not None:
            entry = self.audit.append({
                **info,
                "result": result.status, "reason": result.reason, "message": result.message[:500],
                "failed_action": result.failed_action,
                "outcomes": [f"{r.index}:{r.status}" for r in result.actions],
                "requests": requests,
            })
            result.audit_seq = entry["seq"]
        return result

    # ------------------------------------------------------------------------------------------------ checks
    def verify(self, plan_in: Any, token: Any, info: dict[str, Any] | None = None
               ) -> tuple[Plan, Claims, KeyEntry]:
        """The checks that need no cluster: token, plan binding, scope, key role, policy, pins, replay."""
        info = {} if info is None else info
        if isinstance(token, str):
            # Recorded before verification so refused tokens are attributable; never the token itself.
            try:
                kid = unverified_header(token).get("kid")
                info["kid_claimed"] = kid[:64] if isinstance(kid, str) else None
            except Refusal:
                pass
        now = self.clock()
        claims, key = verify_token(token, self.keyring, audience=self.cluster_id, now=now,
                                   max_lifetime_s=self.policy.max_token_lifetime_s, skew_s=self.policy.clock_skew_s)
        info.update(kid=key.kid, jti=claims.jti, token_plan_id=claims.plan_id)
        try:
            plan = parse_plan(plan_in)
        except ValidationError as e:
            info["plan_raw_sha256"] = _raw_digest(plan_in)
            raise Refusal("invalid_plan", f"the plan does not validate: {_plan_errors(e)}") from None
        except (ValueError, TypeError) as e:
            info["plan_raw_sha256"] = _raw_digest(plan_in)
            raise Refusal("invalid_plan", f"the plan is not a plan object or JSON text ({type(e).__name__})") from None
        digest = plan_hash(plan)
        info.update(plan_id=plan.id, plan_hash=digest, actions=[f"{a.type} {a.target()}" for a in plan.actions])
        if plan.id != claims.plan_id:
            raise Refusal("plan_id_mismatch", f"the token was approved for plan {claims.plan_id!r}, not {plan.id!r}")
        if digest != claims.plan_sha256:
            raise Refusal("plan_hash_mismatch", "the plan differs from the one approved (its canonical SHA-256 "
                                                "does not match the token): any changed argument needs a new approval")
        if plan.cluster != self.cluster_id:
            raise Refusal("wrong_cluster", f"the plan is for cluster {plan.cluster!r}; this executor is "
                                           f"{self.cluster_id!r}")
        for i, a in enumerate(plan.actions):
            if a.namespace not in claims.namespaces:
                raise Refusal("namespace_out_of_scope", f"action {i} targets namespace {a.namespace!r}, outside the "
                                                        f"token's scope {claims.namespaces}", i)
            if not key.covers_namespace(a.namespace):
                raise Refusal("namespace_not_allowed_for_key", f"action {i}: key {key.kid!r} may not sign for "
                                                               f"namespace {a.namespace!r}", i)
            if not key.may(a.type, a.verb_class):
                raise Refusal("action_not_allowed_for_key", f"action {i}: key {key.kid!r} may sign {key.allow}, not "
                                                            f"{a.type} (class {a.verb_class})", i)
        self.policy.check(plan)
        for i, a in enumerate(plan.actions):
            pinned = claims.observed.get(a.target())
            if a.resource_version and pinned and a.resource_version != pinned:
                raise Refusal("resource_version_changed", f"action {i}: the plan says resourceVersion "
                                                          f"{a.resource_version}, the approval saw {pinned}", i)
            if self.policy.require_observed_state and not (pinned or a.resource_version):
                raise Refusal("missing_observed_state", f"action {i}: the token does not pin {a.target()}'s "
                                                        "resourceVersion; approve with `aoi plan approve`", i)
        if self.ledger is not None and self.ledger.is_used(claims.jti):
            raise Refusal("replayed", "this token was already used; every token acts once")
        return plan, claims, key

    def _pins(self, plan: Plan, claims: Claims) -> dict[str, str]:
        pins = dict(claims.observed)
        for a in plan.actions:
            if a.resource_version:
                pins.setdefault(a.target(), a.resource_version)
        return {k: v for k, v in pins.items() if k in {a.target() for a in plan.actions}}

    # ------------------------------------------------------------------------------------------------ acting
    def _run(self, op: str, plan_in: Any, token: Any, info: dict[str, Any]) -> PlanResult:
        plan, claims, key = self.verify(plan_in, token, info)
        if self.kube is None:
            return PlanResult(status="verified", message="token and plan verified offline (no cluster state checked)")
        pins = self._pins(plan, claims)
        with self._act_lock:
            read: dict[str, dict[str, Any]] = {}
            _, checked = dry_run_plan(plan, self.kube, now_iso(self.clock()), pins, read=read)
            if op == "check":
                return PlanResult(status="verified", actions=checked,
                                  message=f"verified: signed by {key.kid}, every action passes a server-side dry-run")
            if self.ledger is None or not self.ledger.consume(claims.jti, key.kid, plan_hash(plan), claims.exp):
                raise Refusal("replayed", "this token was already used (concurrently); every token acts once")
            return self._apply(plan, pins, read)

    def _apply(self, plan: Plan, pins: dict[str, str], read: dict[str, dict[str, Any]]) -> PlanResult:
        assert self.kube is not None
        results: list[ActionResult] = []
        touched: set[str] = set()
        failed: int | None = None
        for i, a in enumerate(plan.actions):
            key = a.target()
            res = ActionResult(index=i, type=a.type, target=key, status="not_run")
            results.append(res)
            if failed is not None:
                continue
            try:
                # Pinned resourceVersion as a precondition on the first write to each target: a change that
                # slipped in after the dry-run makes the API server answer 409 instead of being overwritten.
                first = key not in touched
                # The state read for the dry-run is reused for the first write to a pinned target: the pin is
                # the write's precondition, so if the object changed since, the write fails with 409.
                prep = prepare(a, self.kube, rv=pins.get(key) if first else None, now_iso=now_iso(self.clock()),
                               current=read.get(key) if first and key in pins else None)
                touched.add(key)
                res.note = prep.note
                response, out = send(prep, self.kube, dry_run=False, exec_timeout=self.policy.exec_timeout_s)
                if out is not None:
                    res.exit_code, res.stdout, res.stderr = out.exit_code, out.stdout, out.stderr
                    res.changes = predicted(prep, None)
                    if out.exit_code != 0:
                        raise ActionFailed(f"the command exited with {out.exit_code}" if out.exit_code is not None
                                           else f"the command did not run: {out.stderr.strip()[-300:]}")
                elif prep.method == "PATCH" and prep.sub is None and isinstance(response, dict):
                    res.changes = diff(prep.before, response)  # the server's answer is the object after
                else:
                    res.changes = predicted(prep, response)
                res.status = "applied"
            except (ActionFailed, KubeError, RequestRefused) as e:
                res.status, res.message, failed = "failed", str(e)[:1000], i
        if failed is None:
            return PlanResult(status="executed", actions=results,
                              message=f"executed {len(results)} action(s)")
        return PlanResult(status="failed", actions=results, failed_action=failed,
                          message=f"stopped at action {failed}: {results[failed].message}; later actions were not run")
