"""The ``vllm`` policy: the in-process vLLM engine (GPU), see observer.llm.vllm_policy."""

from __future__ import annotations

from typing import Any

from observer.llm import ChatPolicy
from observer.llm import make_policy as _make


def make_policy(model: str | None = None, **options: Any) -> ChatPolicy:
    return _make("vllm", model, **options)
