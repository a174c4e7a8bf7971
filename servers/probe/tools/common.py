"""Helpers shared by the probe's tools: ages, compact tables, object cleaning."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field

# Parameters most tools share, described for the model.
Namespace = Annotated[str | None, Field(description="Namespace; omit for all namespaces (or cluster-scoped kinds).")]
Budget = Annotated[int | None, Field(description="Max output tokens for this call (default: the server's budget).",
                                     ge=100, le=50_000)]
Cursor = Annotated[str | None, Field(description="Continue a previous truncated result: pass the cursor it gave. "
                                                 "Other arguments are then ignored.")]

DROP_METADATA = ("managedFields", "selfLink")
DROP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def parse_time(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(stamp: str | None, now: datetime | None = None) -> str:
    """kubectl-style age: 45s, 3m, 2h, 5d."""
    t = parse_time(stamp)
    if t is None:
        return "?"
    secs = max(int(((now or datetime.now(UTC)) - t).total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Aligned columns; returns header line + row lines (so the budget can page rows)."""
    widths = [len(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = min(max(widths[i], len(cell)), 60)
    def fmt(r: list[str]) -> str:
        return "  ".join((c if len(c) <= 60 else c[:57] + "...").ljust(widths[i]) for i, c in enumerate(r)).rstrip()
    return [fmt(headers), *(fmt(r) for r in rows)]


def clean(obj: dict) -> dict:
    """An object as an investigator wants it: no managedFields, no last-applied annotation."""
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    for k in DROP_METADATA:
        meta.pop(k, None)
    ann = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in DROP_ANNOTATIONS}
    if ann:
        meta["annotations"] = ann
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    return out
