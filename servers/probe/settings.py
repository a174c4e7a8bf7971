"""The probe's configuration: one pydantic model, passed in explicitly."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class ProbeSettings(BaseModel):
    kubeconfig: str | None = None
    context: str | None = None
    prometheus_url: str | None = None
    jaeger_url: str | None = None
    budget_tokens: int = Field(2000, ge=200, le=100_000,
                               description="default per-call output budget, in (estimated) tokens")
    redact: bool = True
    transcripts: Path | None = Field(None, description="SQLite file where every tool call is logged (redacted)")
    request_timeout: float = 15.0
