"""A stored episode as the evolver reads it: the policy's calls in order, each with its result and decision.

The observer's loop writes one assistant step per decision with the result on the same step; imported episodes may
carry results on a following ``tool`` step (linked by ``call_id``, else by order). Both read the same here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transcripts.models import Episode

OBSERVER = "observer"
READ_SERVERS = ("probe", "executor")
WRITE_TOOLS = ("execute_plan", "check_plan")  # a policy may reach them only through a plan
SURFACE_TOOLS = ("cluster_overview", "topology", "traces", "metrics_overview")


@dataclass
class Call:
    idx: int  # the step's index in the episode
    n: int  # the decision's number (0-based)
    server: str
    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    result: str = ""
    is_error: bool = False
    decision: dict[str, Any] = field(default_factory=dict)

    @property
    def is_read(self) -> bool:
        return self.server in READ_SERVERS and self.tool not in WRITE_TOOLS

    @property
    def hypothesis(self) -> str:
        return str(self.decision.get("hypothesis") or "")

    def key(self) -> str:
        """The call without its namespace (the same read in another namespace is the same kind of read)."""
        args = {k: v for k, v in sorted(self.arguments.items()) if k != "namespace"}
        return f"{self.server}.{self.tool}:{args}"

    def label(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.arguments.items() if k != "namespace")
        return f"{self.tool}({args[:120]})"


def calls(ep: Episode) -> list[Call]:
    out: list[Call] = []
    pending: dict[str, Call] = {}
    for s in ep.steps:
        if s.role == "assistant" and s.tool:
            c = Call(idx=s.idx, n=len(out), server=s.server or OBSERVER, tool=s.tool, arguments=dict(s.arguments or {}),
                     result=s.result or "", is_error=s.is_error, decision=dict(s.decision or {}))
            out.append(c)
            if s.result is None:
                pending[s.call_id or f"#{len(out)}"] = c
        elif s.role == "tool" and pending:
            key = s.call_id if s.call_id in pending else next(iter(pending))
            c = pending.pop(key)
            c.result, c.is_error = s.text or s.result or "", s.is_error
    return out


def final_call(cs: list[Call]) -> Call | None:
    return next((c for c in reversed(cs) if c.tool == "submit" and c.server == OBSERVER), None)


def submission(ep: Episode) -> Any:
    sub = ep.submission
    return sub.get("answer") if isinstance(sub, dict) and "answer" in sub else sub


def max_steps(ep: Episode) -> int | None:
    v = (ep.meta or {}).get("max_steps")
    return int(v) if isinstance(v, int) else None
