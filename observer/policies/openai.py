"""The ``openai`` policy: any OpenAI-compatible chat endpoint (`vllm serve`), see observer.llm.openai_policy."""

from __future__ import annotations

from typing import Any

from observer.llm import ChatPolicy
from observer.llm import make_policy as _make


def make_policy(model: str | None = None, **options: Any) -> ChatPolicy:
    return _make("openai", model, **options)
