"""Model-backed policies: ``openai`` (any OpenAI-compatible endpoint, e.g. ``vllm serve``), ``hf`` (a local
transformers model, optionally with a LoRA adapter) and ``vllm`` (the in-process vLLM engine).

All three share the prompts and the tool-call parser (``prompting``) and the step logic (``chat.ChatPolicy``); only
how a reply is produced differs. torch, transformers and vLLM are imported when such a policy is built, never here.
"""

from __future__ import annotations

import os
from typing import Any

from observer.llm.chat import ChatConfig, ChatPolicy, ModelError, UnreadableReplies

MODEL_POLICIES = ("openai", "hf", "vllm")

__all__ = ["MODEL_POLICIES", "ChatConfig", "ChatPolicy", "ModelError", "UnreadableReplies", "build_policy",
           "make_policy"]


def build_policy(kind: str, *, model: str | None = None, base_url: str | None = None, api_key: str | None = None,
                 adapter: str | None = None, device: str = "auto", tool_mode: str = "auto",
                 context_tokens: int = 16384, max_tokens: int = 768, temperature: float = 0.0,
                 max_parse_retries: int = 2, guidance: str | None = None, guidance_tokens: int = 400,
                 **backend_kw: Any) -> ChatPolicy:
    """A model policy by name, as ``aoi observe --policy KIND --model M`` builds it. Raises ModelError with what to
    install or start when the back-end cannot be used. ``guidance``: a guidance file (``aoi evolve lessons``)
    whose matching lessons go into each step's message. ``adapter`` defaults to ``AOI_ADAPTER`` (a LoRA adapter
    directory, for hf and vllm); the openai policy reads ``AOI_OPENAI_BASE_URL``/``_MODEL``/``_API_KEY``."""
    adapter = adapter or os.environ.get("AOI_ADAPTER") or None
    from observer.guidance import load_guidance

    # Read the guidance before a back-end loads a model, so a bad file fails fast.
    config = ChatConfig(context_tokens=context_tokens, max_tokens=max_tokens, max_parse_retries=max_parse_retries,
                        guidance=load_guidance(guidance), guidance_tokens=guidance_tokens)
    if kind == "openai":
        from observer.llm.openai_policy import OpenAIPolicy

        return OpenAIPolicy(base_url, model, api_key, config=config, tool_mode=tool_mode, temperature=temperature,
                            **backend_kw)
    if kind == "hf":
        if not model:
            raise ModelError("the hf policy needs --model: a local model directory or a hub id")
        from observer.llm.hf_policy import HFPolicy

        return HFPolicy(model, adapter, config=config, device=device, tool_mode=tool_mode, temperature=temperature,
                        **backend_kw)
    if kind == "vllm":
        if not model:
            raise ModelError("the vllm policy needs --model: a model directory or a hub id")
        from observer.llm.vllm_policy import VLLMPolicy

        return VLLMPolicy(model, adapter, config=config, tool_mode=tool_mode, temperature=temperature, **backend_kw)
    raise ValueError(f"unknown model policy {kind!r}; choose one of {', '.join(MODEL_POLICIES)}")


def make_policy(kind: str, model: str | None = None, **options: Any) -> ChatPolicy:
    """``observer.policies``' factory for the model back-ends: as :func:`build_policy`, with a back-end that cannot
    be used reported as ``PolicyUnavailable`` (the CLI prints it and exits 2)."""
    from observer.policies import PolicyUnavailable

    try:
        return build_policy(kind, model=model, **options)
    except ModelError as e:
        raise PolicyUnavailable(str(e)) from None
