"""The executor as an MCP server: execute_plan, check_plan, show_policy (and the plan schema as a resource)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from servers.executor.audit import AuditLog
from servers.executor.core import Executor, PlanResult
from servers.executor.keys import Keyring, fingerprint
from servers.executor.kube import Kube, request_rules
from servers.executor.ledger import Ledger
from servers.executor.plan import ACTION_TYPES, VERB_CLASS, Plan
from servers.executor.policy import Policy

INSTRUCTIONS = """\
The AOI executor changes a Kubernetes cluster, but only by running a plan that a trusted key approved.
A plan is JSON: {"id", "goal", "rationale", "cluster", "actions": [...]} (schema: resource aoi://executor/plan-schema,
action catalogue: show_policy). You cannot approve a plan yourself: propose it to a human (or a key holder), who
runs `aoi plan approve PLAN.json --key KEY` and gives you back a token. Then call execute_plan with exactly the
approved plan and that token; any change to the plan, another cluster, an expired or reused token is refused with
a reason. Use check_plan first if unsure: it verifies and dry-runs without acting."""

PlanInput = Annotated[dict[str, Any] | str, Field(description=(
    "The approved plan, exactly as approved: {id, goal, rationale, cluster, actions: [{type, kind, namespace, name, "
    "...}]} as a JSON object or JSON text (schema: resource aoi://executor/plan-schema)"))]
Token = Annotated[str, Field(description="The plan token printed by `aoi plan approve` (a compact JWS)")]


class KeyView(BaseModel):
    kid: str
    fingerprint: str
    allow: list[str]
    namespaces: list[str]
    cluster_scoped: bool
    description: str = ""


class ActionView(BaseModel):
    type: str
    verb_class: str
    kinds: list[str]
    fields: list[str]  # "name?" = optional
    doc: str


class PolicyView(BaseModel):
    """What this executor accepts: its cluster identity (the plan's ``cluster`` and the token audience), the
    trusted keys and what each may sign, the policy, the action catalogue and the API requests it may make."""

    cluster: str
    keys: list[KeyView]
    policy: dict[str, Any]
    actions: list[ActionView]
    api_requests: list[str] = Field(default_factory=list)


def _action_views() -> list[ActionView]:
    out = []
    for name, cls in ACTION_TYPES.items():
        ann = cls.model_fields["kind"].annotation
        kinds = list(getattr(ann, "__args__", ())) or ["(any allowed by policy.merge_patch_kinds)"]
        doc = " ".join((cls.__doc__ or "").split())
        fields = [f if info.is_required() else f"{f}?" for f, info in cls.model_fields.items() if f != "type"]
        out.append(ActionView(type=name, verb_class=VERB_CLASS[name], kinds=[str(k) for k in kinds], fields=fields,
                              doc=doc))
    return out


def policy_view(executor: Executor) -> PolicyView:
    keys = [KeyView(kid=k.kid, fingerprint=fingerprint(k.public()), allow=k.allow, namespaces=k.namespaces,
                    cluster_scoped=k.cluster_scoped, description=k.description) for k in executor.keyring.keys]
    rules = [f"{r.method} {r.what}" for r in request_rules(executor.policy)]
    return PolicyView(cluster=executor.cluster_id, keys=keys, policy=executor.policy.model_dump(mode="json"),
                      actions=_action_views(), api_requests=rules)


def build_server(executor: Executor, name: str = "aoi-executor") -> MCPServer:
    mcp = MCPServer(name, version="0.1.0", instructions=INSTRUCTIONS)

    @mcp.tool(annotations=ToolAnnotations(title="Execute an approved plan", destructive_hint=True,
                                          idempotent_hint=False, open_world_hint=True))
    def execute_plan(plan: PlanInput, token: Token) -> PlanResult:
        """Run an approved plan on the cluster. `plan` must be exactly the plan that was approved (JSON object or
        JSON text) and `token` the plan token printed by `aoi plan approve`. The executor verifies the token,
        re-checks that every target is unchanged since approval, dry-runs every action server-side, then runs
        them in order and stops at the first failure. Returns status executed | failed | refused, a reason code
        when refused (nothing was changed), and per action what changed (before/after). A token works once."""
        return executor.execute(plan, token)

    @mcp.tool(annotations=ToolAnnotations(title="Check a plan and token", read_only_hint=True,
                                          idempotent_hint=True, open_world_hint=True))
    def check_plan(plan: PlanInput, token: Token) -> PlanResult:
        """Verify a plan and its token and dry-run every action, without changing anything or using the token.
        Returns status verified (it would run, with the predicted changes per action) or refused with a reason."""
        return executor.check(plan, token)

    @mcp.tool(annotations=ToolAnnotations(title="Show the executor's policy", read_only_hint=True,
                                          idempotent_hint=True, open_world_hint=False))
    def show_policy() -> PolicyView:
        """What this executor accepts: its cluster identity (use it as the plan's `cluster`), which keys may sign
        which action classes in which namespaces, the protected namespaces and kinds, the exec allowlist, the
        caps, and the catalogue of action types with what each does."""
        return policy_view(executor)

    @mcp.resource("aoi://executor/plan-schema", name="plan-schema", mime_type="application/json",
                  description="JSON Schema of a plan")
    def plan_schema() -> str:
        return json.dumps(Plan.model_json_schema())

    return mcp


def open_executor(kubeconfig: str | Path | None = None, context: str | None = None, keyring: str | Path = "",
                  policy: str | Path | None = None, ledger: str | Path = "", audit: str | Path = "") -> Executor:
    """An Executor wired to a cluster, a keyring, a policy, a ledger and an audit log."""
    from cluster.connect import load_api_client

    pol = Policy.load(policy)
    ring = Keyring.load(keyring)
    kube = Kube(load_api_client(kubeconfig, context, readonly=False), pol)
    led = Ledger(ledger)
    return Executor(kube, ring, pol, led, AuditLog(audit, led))
