"""propose_plan: check a repair plan against the executor's plan model and the cluster as it is now, and say how a
human approves it. The probe signs nothing, writes nothing and holds no keys.

Import exception: the probe imports only ``cluster/``, except ``servers.executor.plan``. That module is the plan
model itself (pydantic models, canonical JSON, SHA-256), with no Kubernetes client, no key material and no I/O, so
importing it gives the probe no way to act. Validating against the very model the executor uses is the point: a
plan this tool accepts is byte for byte the plan the executor hashes and `aoi plan approve` signs.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, ValidationError

from servers.executor.plan import ACTION_TYPES, KINDS, Plan, canonical_json, parse_plan, plan_hash
from servers.probe.context import ProbeContext, ToolOutput
from servers.probe.kube import Kind, ProbeError
from servers.probe.tools.facts import check_service_ports, meta, selects
from servers.probe.untrusted import note

_UNION_MEMBERS = {"int", "str", "float", "bool", "list", "dict", "none", "constrained-str", "function-after",
                  "function-before", "function-plain", "nullable"}
_DNS = "lowercase letters, digits and '-' (a Kubernetes name)"


def _path(loc: tuple[Any, ...]) -> str:
    """('actions', 0, 'scale', 'replicas') -> 'actions[0].replicas' (pydantic's union tags left out)."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _UNION_MEMBERS or (i >= 2 and loc[i - 2] == "actions" and isinstance(loc[i - 1], int)
                                        and part in ACTION_TYPES):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "plan"


def _words(err: dict, action_fields: dict[str, list[str]]) -> str:
    kind, msg, ctx = err.get("type", ""), str(err.get("msg", "")), err.get("ctx") or {}
    got = err.get("input")
    shown = json.dumps(got, default=str)[:80] if got is not None and kind not in ("missing", "union_tag_invalid") \
        else ""
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        loc = err.get("loc") or ()
        tag = next((p for p in loc if p in ACTION_TYPES), None)
        allowed = action_fields.get(tag or "", []) if tag else ["id", "goal", "rationale", "cluster", "actions"]
        return f"is not a field here (allowed: {', '.join(allowed)})"
    if kind == "union_tag_invalid":
        return (f"type {ctx.get('tag')!r} is not an action type; use one of: {', '.join(ACTION_TYPES)}")
    if kind == "union_tag_not_found":
        return f"needs a 'type': one of {', '.join(ACTION_TYPES)}"
    if kind == "string_pattern_mismatch":
        pat = str(ctx.get("pattern", ""))
        what = _DNS if "a-z0-9" in pat and "A-Z" not in pat else f"the pattern {pat}"
        return f"must be {what}; got {shown}"
    if kind.startswith(("greater_than", "less_than")):
        return msg.replace("Input should be", "must be") + f"; got {shown}"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    return msg.replace("Input should be", "should be") + (f"; got {shown}" if shown else "")


def plain_errors(e: ValidationError) -> list[str]:
    fields = {t: [n for n in c.model_fields if n != "type"] for t, c in ACTION_TYPES.items()}
    merged: dict[str, list[str]] = {}
    kinds: dict[str, set[str]] = {}
    inputs: dict[str, Any] = {}
    for err in e.errors():
        path = _path(tuple(err.get("loc") or ()))
        merged.setdefault(path, []).append(_words(dict(err), fields))
        kinds.setdefault(path, set()).add(str(err.get("type")))
        inputs[path] = err.get("input")
    out = []
    for path, msgs in merged.items():
        if {"int_parsing", "string_pattern_mismatch"} <= kinds[path]:  # int | name unions (ports)
            msgs = [f"must be a number or a name of {_DNS.split(' (')[0]}; got {json.dumps(inputs[path])[:80]}"]
        out.append(f"{path}: {' or '.join(dict.fromkeys(msgs))}")
    return out


def _kind(name: str) -> Kind:
    info = KINDS[name]
    return Kind(info.group, info.version, name, info.plural, info.namespaced)


def _containers(obj: dict) -> list[dict]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Pod":
        return spec.get("containers") or []
    return ((spec.get("template") or {}).get("spec") or {}).get("containers") or []


def _check_action(ctx: ProbeContext, a: Any, obj: dict) -> list[str]:
    """Advice about one action against the object as it is now (what the executor's dry-run cannot tell)."""
    notes: list[str] = []
    spec = obj.get("spec") or {}
    names = [c.get("name") for c in _containers(obj)]
    container = getattr(a, "container", None)
    if container and names and container not in names:
        notes.append(f"PROBLEM: no container {container!r} in {a.kind}/{a.name} (containers: {', '.join(names)})")
    if a.type == "scale":
        notes.append(f"replicas {spec.get('replicas', 1)} -> {a.replicas}")
    if a.type == "set_image" and container in names:
        cur = next(c.get("image") for c in _containers(obj) if c.get("name") == container)
        notes.append(f"image {cur} -> {a.image}" + (" (unchanged: this action does nothing)" if cur == a.image
                                                     else ""))
    if a.type == "patch_service":
        svc = {**obj, "spec": {**spec, **({"selector": a.selector} if a.selector is not None else {})}}
        if a.ports is not None:
            svc["spec"]["ports"] = [{"port": p.port, "targetPort": p.target_port if p.target_port is not None
                                     else p.port, "protocol": p.protocol or "TCP", "name": p.name} for p in a.ports]
        sel = svc["spec"].get("selector") or {}
        pods = [p for p in ctx.kube.list(ctx.kube.resolve("pods"), a.namespace)
                if selects(sel, meta(p).get("labels"))
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        if sel and not pods:
            notes.append("PROBLEM: after this change the selector would match no pods")
        for c in check_service_ports(svc, pods):
            if c["ok"] is False:
                notes.append(f"PROBLEM after this change: {c['problem']}")
            elif c["ok"]:
                notes.append(f"port {c['port']} -> targetPort {c['target_port']}: matches the selected pods' "
                             "container port")
    if a.type == "rollout_undo" and a.to_revision is None:
        notes.append("goes back to the previous revision (describe the Deployment to see its replica sets)")
    if a.type == "exec" and a.kind != "Pod":
        notes.append(f"runs in the first running pod of {a.kind}/{a.name}")
    return notes


def propose_plan(ctx: ProbeContext,
                 plan: Annotated[dict[str, Any] | str, Field(
                     description="The plan as a JSON object (or JSON text): {id, goal, rationale, cluster, actions: "
                                 "[{type, namespace, name, ...}]}.")],
                 bind_resource_versions: Annotated[bool, Field(
                     description="Write each target's current resourceVersion into its first action, so the plan "
                                 "itself fails if the object changes before it runs. Off by default: the approval "
                                 "pins what the approver sees.")] = False) -> ToolOutput:
    """Check a repair plan before a human approves it. Validates it against the executor's plan model, reads every
    target object (does it exist, its current resourceVersion, container names, and for patch_service whether the
    new targetPort matches the pods' container ports), and returns the canonical JSON, its SHA-256 hash and the
    command a human runs to approve it. It signs nothing and changes nothing: save the JSON as PLAN.json and ask a
    human to run `aoi plan approve PLAN.json --key <key>`.
    Action types (plus namespace, name and optional resource_version): {actions}."""
    if isinstance(plan, str):
        try:
            plan = json.loads(plan)
        except ValueError as e:
            raise ProbeError(f"plan is not valid JSON: {e}") from e
    if not isinstance(plan, dict):
        raise ProbeError("plan must be a JSON object: {id, goal, rationale, cluster, actions: [...]}")
    server = ctx.target.server
    try:
        p = parse_plan(plan)
    except ValidationError as e:
        errors = plain_errors(e)
        text = (f"INVALID plan: {len(errors)} problem{'s' if len(errors) != 1 else ''}; fix them and call "
                "propose_plan again:\n" + "\n".join(f"- {x}" for x in errors)
                + f"\n(cluster should be this cluster's identity, e.g. {server!r}; action types: "
                + ", ".join(ACTION_TYPES) + ")")
        return ToolOutput(text=text, data={"valid": False, "errors": errors})

    targets: list[dict] = []
    problems: list[str] = []
    warnings: list[str] = []
    seen: set[str] = set()
    updated_actions = []
    for i, a in enumerate(p.actions):
        key = a.target()
        rec: dict[str, Any] = {"index": i, "type": a.type, "target": key, "exists": False,
                               "resource_version": None, "notes": []}
        try:
            obj = ctx.kube.get(_kind(a.kind), a.name, a.namespace or None)
            rec["exists"] = True
            rec["resource_version"] = rv = str(meta(obj).get("resourceVersion") or "")
            obj.setdefault("kind", a.kind)
            rec["notes"] = _check_action(ctx, a, obj)
        except ProbeError as e:
            rv = None
            msg = str(e)
            rec["notes"] = ["PROBLEM: " + ("the target does not exist" if "404" in msg else f"cannot read it: {msg}")]
        problems += [f"action {i} ({a.type} {key}): {n.removeprefix('PROBLEM: ')}" for n in rec["notes"]
                     if n.startswith("PROBLEM")]
        if a.resource_version and rv and a.resource_version != rv:
            problems.append(f"action {i}: the plan pins resourceVersion {a.resource_version} but {key} is now at "
                            f"{rv}: it changed since the plan was made; re-read it and propose again")
        if bind_resource_versions and rv and key not in seen and not a.resource_version:
            a = a.model_copy(update={"resource_version": rv})
            rec["bound"] = True
        seen.add(key)
        updated_actions.append(a)
        targets.append(rec)
    if bind_resource_versions:
        p = Plan.model_validate({**p.model_dump(mode="json"), "actions": [x.model_dump(mode="json")
                                                                          for x in updated_actions]})
        if any(t["type"] == "delete_pod" or t["target"].startswith("Pod/") for t in targets if t.get("bound")):
            warnings.append("a Pod's resourceVersion changes with every status update (restarts, readiness): a "
                            "plan bound to one goes stale quickly")
    if p.cluster != server:
        warnings.append(f"plan.cluster is {p.cluster!r}; the probe is connected to {server!r}. The executor "
                        "refuses a plan whose cluster is not its identity (its policy's `cluster`, by default the "
                        "API server URL)")
    canonical = canonical_json(p).decode()
    digest = plan_hash(p)
    valid = not problems
    lines = [f"{'Plan' if valid else 'Plan with PROBLEMS'} {p.id!r}: {len(p.actions)} action"
             f"{'s' if len(p.actions) != 1 else ''}, sha256 {digest}",
             f"Goal: {note(p.goal)}",
             "Targets (current resourceVersion, which `aoi plan approve` pins when it signs):"]
    for t in targets:
        lines.append(f"- [{t['index']}] {t['type']} {t['target']}: "
                     + (f"resourceVersion {t['resource_version']}" if t["exists"] else "NOT FOUND")
                     + (" (bound into the plan)" if t.get("bound") else "")
                     + "".join(f"; {n}" for n in t["notes"] if not n.startswith("PROBLEM")))
    if problems:
        lines += ["Problems (fix before asking for approval):", *(f"- {x}" for x in problems)]
    if warnings:
        lines += ["Warnings:", *(f"- {w}" for w in warnings)]
    command = "aoi plan approve PLAN.json --key <key>"
    lines += [f"Next: save the canonical JSON below as PLAN.json and ask a human to run `{command}`: it shows a "
              "server-side dry-run, checks the executor's policy and signs a single-use token for execute_plan. "
              "This tool signed nothing.",
              "Canonical plan JSON:", canonical]
    # Not paged: the plan must arrive whole to be saved, and its size is bounded by the plan model (256 KiB).
    return ToolOutput(text="\n".join(lines), data={
        "valid": valid, "plan_id": p.id, "hash": digest, "canonical_json": canonical, "plan": json.loads(canonical),
        "targets": targets, "problems": problems, "warnings": warnings, "approve_command": command,
        "cluster": server})


def _action_summary() -> str:
    parts = []
    for t, c in ACTION_TYPES.items():
        req = [n for n, f in c.model_fields.items() if f.is_required() and n not in ("namespace", "name")]
        opt = [n for n, f in c.model_fields.items() if not f.is_required()
               and n not in ("type", "resource_version", "kind")]
        parts.append(t + (f"({', '.join(req + [o + '?' for o in opt])})" if req or opt else ""))
    return "; ".join(parts)


propose_plan.__doc__ = (propose_plan.__doc__ or "").replace("{actions}", _action_summary())
