"""The ``hf`` policy: a local transformers model with an optional LoRA adapter, see observer.llm.hf_policy."""

from __future__ import annotations

from typing import Any

from observer.llm import ChatPolicy
from observer.llm import make_policy as _make


def make_policy(model: str | None = None, **options: Any) -> ChatPolicy:
    return _make("hf", model, **options)
