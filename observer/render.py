"""Streaming an episode readably in a terminal (rich): each decision, what it returned, plans and their outcome.

Everything shown from the cluster or a model is printed as plain text (no markup interpretation), so nothing in a
log line or a model's answer can restyle or hide what the operator reads.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from observer.compress import short_args
from observer.loop import EpisodeOutcome, Listener, PlanOutcome
from observer.policy import Decision, Policy, TaskSpec, ToolInfo, ToolResult

PHASE_STYLE = {"surface_scan": "cyan", "point_investigation": "blue", "depth_analysis": "magenta",
               "ready_to_fix": "yellow", "verification": "green", "ready_to_submit": "bold green"}


def _plain(text: str) -> Text:
    return Text("".join(ch if ch.isprintable() or ch == "\n" else "?" for ch in text))


class RichListener(Listener):
    def __init__(self, console: Console | None = None, result_lines: int = 4):
        self.console = console or Console(soft_wrap=False)
        self.result_lines = result_lines
        self._hypothesis = ""

    def on_start(self, episode_id: str, task: TaskSpec, policy: Policy, tools: list[ToolInfo]) -> None:
        servers = sorted({t.server for t in tools})
        head = Text.assemble(("episode ", "dim"), (episode_id, "bold"), ("  policy ", "dim"),
                             (policy.name + (f" ({policy.model})" if policy.model else ""), "bold"),
                             ("  tools ", "dim"), f"{len(tools)} from {', '.join(servers)}")
        self.console.print(Panel(_plain(task.text.strip()), title=f"task: {task.task}", subtitle=head,
                                 border_style="cyan"))

    def on_decision(self, step: int, d: Decision) -> None:
        style = PHASE_STYLE.get(d.phase, "white")
        if d.hypothesis and d.hypothesis != self._hypothesis:
            self._hypothesis = d.hypothesis
            self.console.print(Text.assemble(("    hypothesis ", "yellow"), (f"({d.confidence}%) ", "dim"),
                                             _plain(d.hypothesis)), no_wrap=True, overflow="ellipsis")
        server, tool, args = d.as_tool_call()
        label = f"{server}.{tool}"
        shown = short_args(args, 110) if d.plan is None and d.submit is None else ""
        if d.submit is not None:
            shown = json.dumps(d.submit.answer)
        line = Text.assemble((f"{step + 1:>3} ", "dim"), (f"{d.phase:<20}", style), (label, "bold"),
                             ("(", "dim"), _plain(shown), (")", "dim"))
        self.console.print(line, no_wrap=True, overflow="ellipsis")

    def on_result(self, step: int, d: Decision, r: ToolResult) -> None:
        if d.plan is not None:
            return  # on_plan shows it
        lines = [ln for ln in r.text.splitlines() if ln.strip() and not ln.startswith("<<")]
        body = lines[: self.result_lines]
        more = len(lines) - len(body)
        style = "red" if r.is_error else "dim"
        for ln in body:
            self.console.print(Text("      ") + Text(ln[:300], style=style), no_wrap=True, overflow="ellipsis")
        if more > 0:
            self.console.print(Text(f"      … {more} more lines ({r.latency_ms:.0f} ms)", style="dim"))

    def on_plan(self, step: int, o: PlanOutcome) -> None:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("#", style="dim")
        table.add_column("action")
        table.add_column("target")
        table.add_column("outcome")
        results = {a.get("index"): a for a in (o.executor or {}).get("actions") or []}
        for i, a in enumerate((o.plan or {}).get("actions") or []):
            res = results.get(i) or {}
            changes = "; ".join(f"{c.get('path')}: {c.get('before')} -> {c.get('after')}"
                                for c in res.get("changes") or [])
            target = f"{a.get('kind', '')}/{a.get('namespace') or ''}/{a.get('name')}".replace("//", "/")
            table.add_row(str(i), str(a.get("type")), _plain(target),
                          _plain((str(res.get("status") or "") + (f" {changes}" if changes else "")).strip()))
        title = f"plan {o.plan_id}: {o.status}"
        lines: list[Any] = [table]
        if o.problems:
            lines.append(_plain("problems: " + "; ".join(o.problems)))
        if o.signer:
            lines.append(Text.assemble(("signed by ", "dim"), (o.signer, "bold"), (f" ({o.signed_by}) ", "dim"),
                                       ("token id ", "dim"), str(o.token_id)))
        if o.approve_command:
            lines.append(_plain("the observer may not sign this plan: " + "; ".join(o.reasons)))
        ex = o.executor or {}
        if ex.get("status") and ex.get("status") != "executed":
            lines.append(_plain(f"executor: {ex.get('status')} {ex.get('reason') or ''}: {ex.get('message') or ''}"))
        from rich.console import Group

        style = {"executed": "green", "awaiting_approval": "yellow"}.get(o.status, "red")
        self.console.print(Panel(Group(*lines), title=title, border_style=style))
        if o.approve_command and o.status in ("awaiting_approval", "no_executor", "approval_timeout"):
            # Outside the panel and never wrapped, so it can be copied as it is.
            self.console.print(Text("a human approves it with:", style="bold yellow"))
            self.console.print(_plain(o.approve_command), soft_wrap=True)

    def on_note(self, step: int, note: str) -> None:
        self.console.print(Text("      note: ", style="yellow") + _plain(note))

    def on_finish(self, o: EpisodeOutcome) -> None:
        style = {"completed": "green", "interrupted": "yellow"}.get(o.status, "red")
        sub = "" if not o.submitted else f", submitted {json.dumps(o.submission)}"
        self.console.print(Text.assemble(("episode ", "dim"), (o.status, style), f" ({o.stop_reason}) after "
                                         f"{o.steps} steps{sub}", (f"  {o.timings.get('wall_s', 0):.1f} s", "dim")))
        if o.error:
            self.console.print(_plain(f"error: {o.error}"), style="red")
