"""kubectl: a read-only kubectl-style command line, parsed here and mapped onto the probe's own reads and tools.

Nothing is ever executed: no shell, no subprocess, no kubectl binary. The command line is split with ``shlex`` and
each verb becomes the same API reads the other tools make, so redaction, fencing and budgets apply unchanged.
Models (and people) know kubectl's syntax; this tool lets them use it without widening what the probe can do.
"""

from __future__ import annotations

import inspect
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field

from servers.probe.context import ProbeContext, ToolOutput
from servers.probe.kube import ProbeError
from servers.probe.tools import resources
from servers.probe.tools.common import Budget, Cursor, table
from servers.probe.tools.describe import describe
from servers.probe.tools.events import events
from servers.probe.tools.facts import fmt_quantity, meta, quantity
from servers.probe.untrusted import fence

READ_VERBS = ("get", "describe", "logs", "top", "events", "api-resources", "explain")
WRITE_VERBS = {"apply", "create", "delete", "edit", "patch", "replace", "scale", "autoscale", "rollout", "set",
               "label", "annotate", "expose", "run", "exec", "cp", "attach", "port-forward", "proxy", "drain",
               "cordon", "uncordon", "taint", "debug", "certificate", "auth", "config", "plugin", "kustomize", "wait"}
# Flags that would point the command at another cluster or identity, or at a file: the probe talks to the cluster
# it was started for, as itself.
FORBIDDEN_FLAGS = {"--kubeconfig", "--context", "--cluster", "--user", "--server", "-s", "--token", "--as",
                   "--as-group", "--as-uid", "--username", "--password", "--insecure-skip-tls-verify",
                   "--certificate-authority", "--client-certificate", "--client-key", "--tls-server-name",
                   "--raw", "--filename", "--kustomize", "-k", "--cache-dir", "--log-file", "--profile-output"}
VALUE_FLAGS = {"-n": "namespace", "--namespace": "namespace", "-l": "selector", "--selector": "selector",
               "-o": "output", "--output": "output", "-c": "container", "--container": "container",
               "--tail": "tail", "--since": "since", "--field-selector": "field_selector", "--for": "for",
               "--types": "types", "--sort-by": "sort_by", "--api-group": "api_group", "--namespaced": "namespaced",
               "--chunk-size": "ignored", "--request-timeout": "ignored", "-L": "ignored",
               "--label-columns": "ignored", "--max-log-requests": "ignored", "--limit-bytes": "ignored",
               "--pod-running-timeout": "ignored", "-v": "ignored", "--v": "ignored", "--show-kind": "ignored"}
BOOL_FLAGS = {"-A": "all_namespaces", "--all-namespaces": "all_namespaces", "-p": "previous",
              "--previous": "previous", "--all-containers": "all_containers", "--containers": "containers",
              "--show-labels": "ignored", "--no-headers": "ignored", "--timestamps": "ignored",
              "--prefix": "ignored", "--ignore-not-found": "ignored", "--recursive": "ignored",
              "--no-trunc": "ignored", "--use-protocol-buffers": "ignored", "--sum": "ignored"}
FOLLOW_FLAGS = {"-f", "--follow", "-w", "--watch", "--watch-only"}
ALL_KINDS = ("pods", "services", "deployments", "replicasets", "statefulsets", "daemonsets")


@dataclass
class Args:
    verb: str
    positional: list[str] = field(default_factory=list)
    flags: dict[str, Any] = field(default_factory=dict)

    def ns(self, ctx: ProbeContext) -> str | None:
        """The namespace kubectl would use: -A means all, -n X means X, else the kubeconfig context's namespace."""
        if self.flags.get("all_namespaces"):
            return None
        return self.flags.get("namespace") or _context_namespace(ctx)


def _context_namespace(ctx: ProbeContext) -> str:
    try:
        doc = yaml.safe_load(Path(ctx.target.kubeconfig).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return "default"
    name = ctx.target.context or doc.get("current-context")
    for c in doc.get("contexts") or []:
        if isinstance(c, dict) and c.get("name") == name:
            return str((c.get("context") or {}).get("namespace") or "default")
    return "default"


def refusal(verb: str) -> str:
    return (f"`kubectl {verb}` is refused: the probe is read-only by construction (its Kubernetes client refuses "
            "every request that is not a read, before it is sent). To change the cluster, write a repair plan and "
            "validate it with propose_plan; a human approves it (`aoi plan approve`) and the executor applies it. "
            f"This tool accepts the read verbs only: {', '.join(READ_VERBS)}.")


def parse(command: str) -> Args:
    try:
        tokens = shlex.split(command)
    except ValueError as e:
        raise ProbeError(f"cannot parse the command line ({e}); quote arguments as in a shell") from e
    if tokens and tokens[0] in ("kubectl", "k", "oc"):
        tokens = tokens[1:]
    if not tokens:
        raise ProbeError(f"empty command: give a kubectl command line such as 'get pods -n NAMESPACE'. Verbs: "
                         f"{', '.join(READ_VERBS)}")
    if any(t in ("|", ">", ">>", "<", "&&", ";", "||", "$(") or t.startswith(("$(", "`")) for t in tokens):
        raise ProbeError("shell syntax (pipes, redirections, command chaining or substitution) is not supported: "
                         "this is one kubectl command, parsed and mapped to API reads, never run in a shell")
    verb = next((t.lower() for t in tokens if not t.startswith("-")), "")
    if verb in WRITE_VERBS:  # before any flag is looked at: the answer is the same whatever the flags
        raise ProbeError(refusal(verb))
    positional: list[str] = []
    flags: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        t = tokens[i]
        i += 1
        if not t.startswith("-") or t == "-":
            positional.append(t)
            continue
        name, eq, value = t.partition("=")
        if name in FOLLOW_FLAGS:
            raise ProbeError(f"{name} is not supported: there is no follow or watch (results are snapshots; call "
                             "again later, e.g. logs with --since 1m) and no reading of files")
        if name in FORBIDDEN_FLAGS:
            raise ProbeError(f"flag {name} is not accepted: the probe reads only the cluster it was started for, "
                             "with its own identity, and reads no files")
        if name.startswith("-n") and len(name) > 2 and not name.startswith("--") and not eq:
            flags["namespace"] = name[2:]  # -nfoo
            continue
        if name in VALUE_FLAGS:
            if not eq:
                if i >= len(tokens):
                    raise ProbeError(f"flag {name} needs a value")
                value = tokens[i]
                i += 1
            flags[VALUE_FLAGS[name]] = value
        elif name in BOOL_FLAGS:
            flags[BOOL_FLAGS[name]] = value.lower() != "false" if eq else True
        else:
            raise ProbeError(f"flag {name} is not supported here. Supported: -n/--namespace, -A, -l/--selector, "
                             "--field-selector, -o wide|yaml|json|name, -c/--container, --tail, --since, "
                             "-p/--previous, --all-containers, --for, --types, --sort-by, --api-group")
    if not positional:
        raise ProbeError("no verb: give a kubectl command line such as 'get pods -n NAMESPACE'")
    verb = positional[0].lower()
    flags.pop("ignored", None)
    return Args("logs" if verb == "log" else verb, positional[1:], flags)


def kubectl(ctx: ProbeContext,
            command: Annotated[str, Field(description="A kubectl command line without shell syntax, e.g. 'get pods "
                                                      "-n shop -o wide', 'describe deploy/cart -n shop', 'logs "
                                                      "pod/cart-1 -n shop --tail 50 --previous', 'top pods -n shop', "
                                                      "'events -n shop --types Warning', 'api-resources'.",
                                          min_length=1, max_length=2000)],
            budget: Budget = None, cursor: Cursor = None) -> ToolOutput:
    """Read-only kubectl: get, describe, logs, top, events, api-resources and explain, with kubectl's usual flags
    (-n, -A, -l, --field-selector, -o wide|yaml|json|name, -c, --tail, --since, -p/--previous, --for, --types).
    The command is parsed and mapped to the probe's own reads, never run in a shell; output is compact, redacted and
    budgeted like the other tools'. Any verb that would change something (apply, delete, scale, edit, exec, ...) is
    refused: repairs go through propose_plan and a human's approval. Without -n the kubeconfig context's namespace
    is used, as kubectl does; -A means all namespaces."""
    if cursor:
        return ctx.resume(cursor, budget)
    a = parse(command)
    if a.verb not in READ_VERBS:
        if a.verb in WRITE_VERBS:
            raise ProbeError(refusal(a.verb))
        raise ProbeError(f"unsupported verb {a.verb!r}: this tool accepts the read verbs {', '.join(READ_VERBS)}. "
                         "The probe is read-only; changes go through propose_plan and a human's approval.")
    handler: Callable[[ProbeContext, Args, int | None], tuple[str, ToolOutput]] = HANDLERS[a.verb]
    mapped, out = handler(ctx, a, budget)
    out.text = f"[kubectl {a.verb} -> {mapped}]\n{out.text}"
    out.data["kubectl"] = {"command": command, "mapped_to": mapped}
    return out


def _call(fn: Callable[..., ToolOutput], ctx: ProbeContext, **kw: Any) -> tuple[str, ToolOutput]:
    shown = ", ".join(f"{k}={v!r}" for k, v in kw.items() if v not in (None, False) and k != "budget")
    return f"{fn.__name__}({shown})", fn(ctx, **kw)


def _split_target(a: Args) -> tuple[str | None, list[str]]:
    """'pods a b' / 'pod/a' / 'pods,svc' -> (kind spec, names)."""
    if not a.positional:
        return None, []
    first, rest = a.positional[0], a.positional[1:]
    if "/" in first:
        kinds = {p.split("/", 1)[0] for p in a.positional}
        if len(kinds) > 1:
            raise ProbeError("give objects of one kind per call (e.g. 'get pod/a pod/b')")
        return first.split("/", 1)[0], [p.split("/", 1)[1] for p in a.positional]
    return first, rest


# ------------------------------------------------------------------------------------------------------- get
def _get(ctx: ProbeContext, a: Args, budget: int | None) -> tuple[str, ToolOutput]:
    spec, names = _split_target(a)
    if not spec:
        raise ProbeError("get needs a resource type, e.g. 'get pods', 'get deploy geo -n NAMESPACE'")
    output = (a.flags.get("output") or "").lower()
    if output and output.split("=")[0] not in ("wide", "yaml", "json", "name"):
        raise ProbeError(f"-o {output} is not supported: use -o wide, yaml, json or name (or get_resource for one "
                         "object as YAML)")
    kinds = list(ALL_KINDS) if spec == "all" else spec.split(",")
    ns = a.ns(ctx)
    if len(kinds) * max(len(names), 1) > 1:  # several results share the budget
        budget = max((budget or ctx.budget(None)) // (len(kinds) * max(len(names), 1)), 100)
    outs: list[tuple[str, ToolOutput]] = []
    for kind in kinds:
        k = ctx.kube.resolve(kind)
        if k.kind == "Event" and not names and output in ("", "wide"):
            outs.append(_events_from_selector(ctx, ns if k.namespaced else None, a.flags.get("field_selector"),
                                              budget))
            continue
        if names and output in ("yaml", "json"):
            for n in names:
                outs.append(_call(resources.get_resource, ctx, kind=k.plural, name=n,
                                  namespace=ns if k.namespaced else None, budget=budget))
            continue
        if output == "name":
            objs = ctx.kube.list(k, ns if k.namespaced else None, a.flags.get("selector"),
                                 a.flags.get("field_selector"))
            objs = [o for o in objs if not names or meta(o).get("name") in names]
            lines = [f"{k.singular or k.kind.lower()}/{meta(o).get('name')}" for o in objs]
            out = ctx.page(f"{len(lines)} {k.plural}" + (f" in {ns}" if ns and k.namespaced else "") + ":", lines,
                           budget, unit="names")
            out.data["names"] = lines[: out.data["shown"]]
            outs.append(("list_resources(names only)", out))
            continue
        for n in names or [None]:
            field_selector = ",".join(s for s in (a.flags.get("field_selector"), n and f"metadata.name={n}") if s)
            mapped, out = _call(resources.list_resources, ctx, kind=k.plural, namespace=ns if k.namespaced else None,
                                label_selector=a.flags.get("selector"), field_selector=field_selector or None,
                                budget=budget)
            if n and out.data.get("count") == 0:
                where = f" in namespace {ns}" if ns and k.namespaced else ""
                raise ProbeError(f'{k.plural} "{n}" not found{where}. get {k.plural}' + (f" -n {ns}" if ns else "")
                                 + " lists what exists")
            if output in ("yaml", "json"):
                out.text += f"\n(-o {output} of a whole list is not returned here: name one object for its YAML)"
            outs.append((mapped, out))
    if len(outs) == 1:
        return outs[0]
    text = "\n\n".join(o.text for _, o in outs)
    return "; ".join(m for m, _ in outs), ToolOutput(text=text, data={"results": [o.data for _, o in outs]},
                                                     truncated=any(o.truncated for _, o in outs))


def _events_from_selector(ctx: ProbeContext, ns: str | None, selector: str | None,
                          budget: int | None) -> tuple[str, ToolOutput]:
    kw: dict[str, Any] = {}
    names = {"type": "type", "reason": "reason", "involvedObject.name": "object_name",
             "involvedObject.kind": "object_kind", "regarding.name": "object_name", "regarding.kind": "object_kind"}
    for part in filter(None, (selector or "").split(",")):
        key, _, value = part.partition("=")
        key = key.rstrip("=!")
        if key not in names or "!=" in part:
            raise ProbeError(f"--field-selector {part!r} is not supported for events here; use type=, reason=, "
                             "involvedObject.kind= or involvedObject.name=")
        kw[names[key]] = value
    return _call(events, ctx, namespace=ns, budget=budget, **kw)


# -------------------------------------------------------------------------------------------------- describe
def _describe(ctx: ProbeContext, a: Args, budget: int | None) -> tuple[str, ToolOutput]:
    spec, names = _split_target(a)
    if not spec:
        raise ProbeError("describe needs a type and a name, e.g. 'describe pod NAME -n NAMESPACE'")
    k = ctx.kube.resolve(spec)
    ns = a.ns(ctx) if k.namespaced else None
    if not names and a.flags.get("selector"):
        objs = ctx.kube.list(k, ns, a.flags["selector"])
        names = [meta(o).get("name", "") for o in objs][:3]
        if not names:
            raise ProbeError(f"no {k.plural} match -l {a.flags['selector']}" + (f" in {ns}" if ns else ""))
    if not names:
        raise ProbeError(f"describe needs a name: 'describe {spec} NAME' (get {spec} lists them)")
    if len(names) == 1:
        return _call(describe, ctx, kind=k.plural, name=names[0], namespace=ns, budget=budget)
    outs = [describe(ctx, kind=k.plural, name=n, namespace=ns, budget=(budget or ctx.budget(None)) // len(names))
            for n in names[:3]]
    return (f"describe(kind={k.plural!r}, name=each of {names[:3]})",
            ToolOutput(text="\n\n".join(o.text for o in outs), data={"results": [o.data for o in outs]},
                       truncated=any(o.truncated for o in outs)))


# ------------------------------------------------------------------------------------------------------ logs
def _logs(ctx: ProbeContext, a: Args, budget: int | None) -> tuple[str, ToolOutput]:
    if not a.positional:
        raise ProbeError("logs needs a pod (or TYPE/NAME such as deploy/geo): 'logs POD -n NAMESPACE --tail 50'")
    target = a.positional[0]
    if len(a.positional) > 1 and not a.flags.get("container"):
        a.flags["container"] = a.positional[1]  # kubectl logs POD CONTAINER
    ns = a.ns(ctx) or "default"
    kind, _, name = target.rpartition("/")
    tail = a.flags.get("tail")
    try:
        tail_n = int(tail) if tail is not None else None
    except ValueError as e:
        raise ProbeError(f"--tail must be a number, not {tail!r}") from e
    if tail_n is not None and tail_n < 0:
        tail_n = None  # kubectl: -1 means all; the budget still applies
    if a.flags.get("selector"):
        raise ProbeError("logs -l is not supported here: name a workload instead, e.g. 'logs deploy/NAME', which "
                         "reads all its pods")
    kw: dict[str, Any] = {"namespace": ns, "container": a.flags.get("container"), "since": a.flags.get("since"),
                          "previous": bool(a.flags.get("previous")), "budget": budget}
    if not kind or kind.lower() in ("pod", "pods", "po"):
        kw["pod"] = name
    else:
        kw["workload"] = f"{ctx.kube.resolve(kind).kind.lower()}/{name}"
    try:
        from servers.probe.tools.logs import logs as logs_tool  # the logs tool, when it is installed
    except ImportError:
        logs_tool = None
    if logs_tool is not None:
        params = inspect.signature(logs_tool).parameters
        if tail_n is not None and "tail" in params:
            kw["tail"] = min(max(tail_n, 1), 5000)
        return _call(logs_tool, ctx, **{k: v for k, v in kw.items() if k in params})
    if "workload" in kw:
        raise ProbeError("logs of a workload need the logs tool; name one pod instead")
    text = ctx.kube.logs(ns, name, container=kw["container"], tailLines=tail_n or 100,
                         previous="true" if kw["previous"] else None)
    out = ctx.page(f"logs pod/{name}:", fence(f"logs pod/{name}", text).splitlines(), budget)
    return "pods/log (tail)", out


# ------------------------------------------------------------------------------------------------------- top
def _top(ctx: ProbeContext, a: Args, budget: int | None) -> tuple[str, ToolOutput]:
    what = (a.positional or [""])[0].lower()
    name = a.positional[1] if len(a.positional) > 1 else None
    sort = (a.flags.get("sort_by") or "").lower()
    if what in ("pod", "pods", "po"):
        ns = a.ns(ctx)
        items = ctx.kube.list(ctx.kube.resolve("pods.metrics.k8s.io"), ns)
        rows: list[dict] = []
        for it in items:
            if name and meta(it).get("name") != name:
                continue
            conts = it.get("containers") or []
            if a.flags.get("containers"):
                for c in conts:
                    rows.append({"namespace": meta(it).get("namespace"), "pod": meta(it).get("name"),
                                 "container": c.get("name"), **_usage(c.get("usage") or {})})
            else:
                total: dict[str, Decimal] = {}
                for c in conts:
                    for r, v in (c.get("usage") or {}).items():
                        total[r] = total.get(r, Decimal(0)) + (quantity(v) or Decimal(0))
                rows.append({"namespace": meta(it).get("namespace"), "pod": meta(it).get("name"),
                             **_usage_dec(total)})
        if name and not rows:
            raise ProbeError(f"no metrics for pod {name!r}" + (f" in {ns}" if ns else "") + " (metrics appear a "
                             "minute after a pod starts; a pod that is not running has none)")
        rows.sort(key=lambda r: (-r["cpu_m"] if sort == "cpu" else -r["memory_mi"] if sort == "memory" else 0,
                                 r["namespace"] or "", r["pod"]))
        headers = (["NAMESPACE"] if ns is None else []) + ["NAME"] + (["CONTAINER"] if a.flags.get("containers")
                                                                      else []) + ["CPU(cores)", "MEMORY(bytes)"]
        lines = table(headers, [([r["namespace"]] if ns is None else []) + [r["pod"]]
                                + ([r["container"]] if a.flags.get("containers") else [])
                                + [r["cpu"], r["memory"]] for r in rows])
        out = ctx.page(f"{len(rows)} pods" + (f" in {ns}" if ns else "") + " (metrics.k8s.io):\n" + lines[0],
                       lines[1:], budget, unit="rows")
        out.data["pods"] = rows[: out.data["shown"]]
        return "GET metrics.k8s.io pods", out
    if what in ("node", "nodes", "no"):
        items = ctx.kube.list(ctx.kube.resolve("nodes.metrics.k8s.io"))
        alloc = {meta(n).get("name"): (n.get("status") or {}).get("allocatable") or {}
                 for n in ctx.kube.list(ctx.kube.resolve("nodes"))}
        rows = []
        for it in items:
            n = meta(it).get("name")
            if name and n != name:
                continue
            use = {r: quantity(v) or Decimal(0) for r, v in (it.get("usage") or {}).items()}
            u = _usage_dec(use)
            cap_cpu = quantity(alloc.get(n, {}).get("cpu", "0")) or Decimal(0)
            cap_mem = quantity(alloc.get(n, {}).get("memory", "0")) or Decimal(0)
            u["cpu_pct"] = f"{int(use.get('cpu', Decimal(0)) * 100 / cap_cpu)}%" if cap_cpu else "?"
            u["memory_pct"] = f"{int(use.get('memory', Decimal(0)) * 100 / cap_mem)}%" if cap_mem else "?"
            rows.append({"node": n, **u})
        rows.sort(key=lambda r: (-r["cpu_m"] if sort == "cpu" else -r["memory_mi"] if sort == "memory" else 0,
                                 r["node"]))
        lines = table(["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"],
                      [[r["node"], r["cpu"], r["cpu_pct"], r["memory"], r["memory_pct"]] for r in rows])
        out = ctx.page(f"{len(rows)} nodes (metrics.k8s.io):\n{lines[0]}", lines[1:], budget, unit="rows")
        out.data["nodes"] = rows[: out.data["shown"]]
        return "GET metrics.k8s.io nodes", out
    raise ProbeError("top needs 'pods' or 'nodes', e.g. 'top pods -n NAMESPACE --sort-by cpu'")


def _usage(usage: dict) -> dict:
    return _usage_dec({r: quantity(v) or Decimal(0) for r, v in usage.items()})


def _usage_dec(usage: dict[str, Decimal]) -> dict:
    cpu = usage.get("cpu", Decimal(0))
    mem = usage.get("memory", Decimal(0))
    return {"cpu": f"{int(cpu * 1000)}m", "memory": fmt_quantity("memory", mem) if mem else "0Mi",
            "cpu_m": int(cpu * 1000), "memory_mi": int(mem / (1 << 20))}


# ---------------------------------------------------------------------------------------------------- events
def _events_verb(ctx: ProbeContext, a: Args, budget: int | None) -> tuple[str, ToolOutput]:
    kw: dict[str, Any] = {"namespace": a.ns(ctx), "budget": budget}
    if a.flags.get("for"):
        kind, _, name = str(a.flags["for"]).rpartition("/")
        if not kind:
            raise ProbeError("--for takes TYPE/NAME, e.g. --for pod/web-1")
        kw.update(object_kind=kind, object_name=name)
    types = [t.strip().capitalize() for t in str(a.flags.get("types") or "").split(",") if t.strip()]
    if any(t not in ("Normal", "Warning") for t in types):
        raise ProbeError("--types takes Normal and/or Warning")
    if len(types) == 1:
        kw["type"] = types[0]
    return _call(events, ctx, **kw)


# --------------------------------------------------------------------------------------------- api-resources
def _api_resources(ctx: ProbeContext, a: Args, budget: int | None) -> tuple[str, ToolOutput]:
    kinds = ctx.kube.kinds()
    group = a.flags.get("api_group")
    namespaced = a.flags.get("namespaced")
    rows = []
    for k in sorted(kinds, key=lambda k: (k.group, k.plural)):
        if group is not None and k.group != group:
            continue
        if namespaced is not None and str(k.namespaced).lower() != str(namespaced).lower():
            continue
        rows.append({"name": k.plural, "short_names": list(k.short_names), "api_version": k.api_version,
                     "namespaced": k.namespaced, "kind": k.kind, "verbs": list(k.verbs)})
    lines = table(["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"],
                  [[r["name"], ",".join(r["short_names"]), r["api_version"], str(r["namespaced"]).lower(), r["kind"]]
                   for r in rows])
    out = ctx.page(f"{len(rows)} resource types (discovery):\n{lines[0]}", lines[1:], budget, unit="rows")
    out.data["resources"] = rows[: out.data["shown"]]
    return "discovery", out


def _explain(ctx: ProbeContext, a: Args, budget: int | None) -> tuple[str, ToolOutput]:
    if not a.positional:
        raise ProbeError("explain needs a type, e.g. 'explain pods' or 'explain deploy.spec.replicas'")
    kind, _, path = a.positional[0].partition(".")
    k = ctx.kube.resolve(kind)
    scope = "namespaced" if k.namespaced else "cluster-scoped"
    text = (f"KIND: {k.kind}\nVERSION: {k.api_version}\nRESOURCE: {k.plural} ({scope})"
            f"\nSHORT NAMES: {', '.join(k.short_names) or '-'}\nVERBS: {', '.join(k.verbs) or '-'}\n"
            "Field documentation is not served through the probe (it needs the cluster's OpenAPI schemas). "
            f"To see the fields{' under ' + path if path else ''} in use, read an existing object: "
            f"get_resource(kind={k.plural!r}, name=...).")
    return "discovery", ToolOutput(text=text, data={"kind": k.kind, "api_version": k.api_version, "plural": k.plural,
                                                    "namespaced": k.namespaced, "short_names": list(k.short_names),
                                                    "verbs": list(k.verbs), "field": path or None})


HANDLERS: dict[str, Callable[[ProbeContext, Args, int | None], tuple[str, ToolOutput]]] = {
    "get": _get, "describe": _describe, "logs": _logs, "top": _top, "events": _events_verb,
    "api-resources": _api_resources, "explain": _explain,
}
