"""Output budgets: results that fit a small model's context, with a continuation handle instead of silent cuts.

Tokens are estimated at 3 characters each (conservative for BPE tokenizers on logs, tables and YAML; exact
counts would need the agent's tokenizer, which the probe does not know). A tool renders a header and a list of
items (rows, lines, series); ``fit`` keeps as many items as the budget allows and parks the rest under a handle
that the next call passes back as ``cursor``.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

CHARS_PER_TOKEN = 3  # measured 2.5-3 characters per token on kubectl-like text (GPT-4o tokenizer)


def estimate_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


@dataclass
class Page:
    items: list[str]
    omitted: int
    cursor: str | None


@dataclass
class _Parked:
    header: str
    items: list[str]
    created: float = field(default_factory=time.monotonic)


class ContinuationStore:
    """Remaining items of truncated results, per server instance, bounded in count and age."""

    def __init__(self, capacity: int = 256, ttl_seconds: float = 1800.0):
        self.capacity = capacity
        self.ttl = ttl_seconds
        self._data: OrderedDict[str, _Parked] = OrderedDict()

    def park(self, header: str, items: list[str]) -> str:
        handle = "c_" + secrets.token_urlsafe(9)
        self._data[handle] = _Parked(header, items)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)
        return handle

    def take(self, handle: str) -> tuple[str, list[str]]:
        self._expire()
        parked = self._data.pop(handle, None)
        if parked is None:
            raise KeyError(f"cursor {handle!r} is unknown or expired (cursors live {int(self.ttl // 60)} minutes and "
                           "are single-use); repeat the original call")
        return parked.header, parked.items

    def _expire(self) -> None:
        now = time.monotonic()
        for k in [k for k, v in self._data.items() if now - v.created > self.ttl]:
            del self._data[k]


def fit(header: str, items: list[str], budget_tokens: int, store: ContinuationStore) -> Page:
    """Keep items in order while header + items + the continuation note fit the budget."""
    used = estimate_tokens(header) + 40  # room for the "N more ... cursor=..." note
    kept: list[str] = []
    for i, item in enumerate(items):
        cost = estimate_tokens(item) + 1
        if used + cost > budget_tokens and kept:
            rest = items[i:]
            return Page(kept, len(rest), store.park(header, rest))
        if used + cost > budget_tokens:  # a single item larger than the budget: cut it, park its tail
            room = max((budget_tokens - used) * CHARS_PER_TOKEN, 80)
            rest = [item[room:], *items[i + 1:]]
            return Page([item[:room] + " …"], len(rest), store.park(header, rest))
        kept.append(item)
        used += cost
    return Page(kept, 0, None)


def continuation_note(page: Page, unit: str = "items") -> str:
    if not page.cursor:
        return ""
    return f"… {page.omitted} more {unit} not shown (budget); call again with cursor=\"{page.cursor}\" to continue"
