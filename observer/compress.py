"""Context discipline for small models: compressed observations and a two-timescale memory.

What the AOI paper found carries much of the gain: the policy never reads raw output. Each step it gets the last
result compressed (repeated lines folded, lines it has already seen elided, cut to a budget with a note saying what
was cut) and a long-term memory of one short line per earlier step. Budgets are in estimated tokens (3 characters
per token, the probe's estimate).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

CHARS_PER_TOKEN = 3
MIN_SEEN_LEN = 40  # shorter lines ("Warning events: none") are kept even when seen before


def estimate_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def fold_repeats(lines: list[str]) -> list[str]:
    """Consecutive identical lines become one line with a count."""
    out: list[str] = []
    run = 0
    for i, line in enumerate(lines):
        run += 1
        if i + 1 < len(lines) and lines[i + 1] == line:
            continue
        out.append(line if run == 1 else f"{line}  [x{run}]")
        run = 0
    return out


def cut_to_budget(lines: list[str], budget_tokens: int) -> list[str]:
    """Keep the head (two thirds) and the tail (one third) within the budget; say what was cut."""
    limit = budget_tokens * CHARS_PER_TOKEN
    if sum(len(x) + 1 for x in lines) <= limit:
        return lines
    head_room, tail_room = limit * 2 // 3, limit // 3
    head: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > head_room:
            break
        head.append(line)
        used += len(line) + 1
    tail: list[str] = []
    used = 0
    for line in reversed(lines[len(head):]):
        if used + len(line) + 1 > tail_room:
            break
        tail.insert(0, line)
        used += len(line) + 1
    cut = lines[len(head):len(lines) - len(tail)]
    if not head and not tail:  # one enormous line
        text = lines[0]
        return [text[:head_room], f"[... {len(text) - head_room} characters cut by the observer's context budget]"]
    note = (f"[... {len(cut)} lines ({sum(len(x) + 1 for x in cut)} characters) cut by the observer's context "
            "budget; call the tool again with narrower arguments (or its cursor) to see them]")
    return [*head, note, *tail]


@dataclass
class Compressor:
    """Per-episode compressor: remembers the lines it has shown, so a repeated line is not shown twice."""

    budget_tokens: int = 1500
    seen: dict[str, int] = field(default_factory=dict)  # line -> step it was first shown

    def compress(self, text: str, step: int) -> str:
        lines = [ln.rstrip() for ln in (text or "").splitlines()]
        lines = [ln for i, ln in enumerate(lines) if ln or (i and lines[i - 1])]  # no blank runs
        lines = fold_repeats(lines)
        out: list[str] = []
        elided: dict[int, int] = {}
        for line in lines:
            first = self.seen.get(line)
            if first is not None and first != step and len(line) >= MIN_SEEN_LEN and not line.startswith("<<"):
                elided[first] = elided.get(first, 0) + 1
                continue
            self.seen.setdefault(line, step)
            out.append(line)
        if elided:
            out.append("(" + "; ".join(f"{n} line{'s' if n != 1 else ''} already shown at step {s + 1}"
                                       for s, n in sorted(elided.items())) + ")")
        return "\n".join(cut_to_budget(out, self.budget_tokens))


def short_args(arguments: dict[str, Any] | None, limit: int = 120) -> str:
    parts = []
    for k, v in (arguments or {}).items():
        if v is None or v is False:
            continue
        shown = v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
        parts.append(f"{k}={shown}")
    text = ", ".join(parts)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def first_line(text: str, limit: int = 180) -> str:
    for line in (text or "").splitlines():
        line = line.strip()
        if line and not line.startswith("<<"):
            return line if len(line) <= limit else line[:limit - 1] + "…"
    return "(empty)"


@dataclass
class Memory:
    """The long-term memory: one line per step (what was done, what it showed, what the policy concluded)."""

    budget_tokens: int = 1200
    lines: list[str] = field(default_factory=list)

    def add(self, step: int, action: str, arguments: dict[str, Any] | None, outcome: str, summary: str = "") -> None:
        line = f"[{step + 1}] {action}({short_args(arguments)}) -> {outcome}"
        if summary:
            line += f" | noted: {summary[:200]}"
        self.lines.append(line)

    def view(self) -> list[str]:
        """The newest lines that fit the budget; older ones are folded into a count."""
        limit = self.budget_tokens * CHARS_PER_TOKEN
        out: list[str] = []
        used = 0
        for line in reversed(self.lines):
            if used + len(line) + 1 > limit and out:
                break
            out.insert(0, line)
            used += len(line) + 1
        folded = len(self.lines) - len(out)
        return ([f"({folded} earlier step{'s' if folded != 1 else ''} folded)"] if folded else []) + out
