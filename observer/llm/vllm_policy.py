"""The ``vllm`` policy: vLLM's in-process engine (``vllm.LLM``) on a GPU, optionally with a LoRA adapter.

vLLM is imported only when the policy is built, so everything else works without it. It does not share the CPU
environment (it pins a CUDA torch and an older transformers; see the ``serve`` extra and libraries.md section 3):
install it in its own GPU environment, or, usually simpler, run ``vllm serve`` there and use the ``openai`` policy.
The prompt goes through the model's chat template (with ``tools=`` where the template supports them) and the reply
is parsed by the shared text protocol, as for ``hf``.
"""

from __future__ import annotations

import time
from typing import Any

from observer.llm.chat import ChatConfig, ChatPolicy, Completion, ModelError, Usage
from observer.llm.hf_policy import resolve_adapter, template_supports_tools
from observer.llm.prompting import approx_tokens

INSTALL_HINT = ("the vllm policy needs vLLM and a CUDA GPU: install it in its own GPU environment "
                "(pip install 'vllm==0.33.0', the `serve` extra), or run `vllm serve MODEL --enable-auto-tool-choice "
                "--tool-call-parser hermes` there and use --policy openai with AOI_OPENAI_BASE_URL=http://HOST:8000/v1")


def import_vllm() -> Any:
    try:
        import vllm
    except ImportError as e:
        raise ModelError(f"{INSTALL_HINT} ({e})") from None
    try:
        import torch

        gpu = bool(torch.cuda.is_available())
    except ImportError:
        gpu = False
    if not gpu:
        raise ModelError(f"vLLM is installed but no CUDA GPU is visible; {INSTALL_HINT}")
    return vllm


class VLLMBackend:
    name = "vllm"
    arguments_as_text = False

    def __init__(self, model: str, adapter: str | None = None, *, max_model_len: int = 8192,
                 gpu_memory_utilization: float = 0.85, tensor_parallel_size: int = 1, max_tokens: int = 768,
                 temperature: float = 0.0, seed: int | None = 0, tool_mode: str = "auto",
                 llm_kwargs: dict[str, Any] | None = None):
        adapter = resolve_adapter(adapter) if adapter else None
        vllm = import_vllm()
        self.vllm = vllm
        self.model = model if not adapter else f"{model}+{adapter}"
        self.adapter = adapter
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        kw: dict[str, Any] = {"model": model, "max_model_len": max_model_len,
                              "gpu_memory_utilization": gpu_memory_utilization,
                              "tensor_parallel_size": tensor_parallel_size, **(llm_kwargs or {})}
        if adapter:
            kw.setdefault("enable_lora", True)
            kw.setdefault("max_lora_rank", 64)
        if seed is not None:
            kw.setdefault("seed", seed)
        try:
            self.llm = vllm.LLM(**kw)
        except Exception as e:  # engine start-up fails in many ways (memory, model, CUDA): say which
            raise ModelError(f"vLLM could not start {model!r}: {type(e).__name__}: {e}") from None
        self.tokenizer = self.llm.get_tokenizer()
        if tool_mode in ("auto", "native"):
            tool_mode = "template" if template_supports_tools(self.tokenizer) else "text"
        if tool_mode not in ("template", "text"):
            raise ValueError(f"tool_mode for vllm is auto, template or text, not {tool_mode!r}")
        self.tool_mode = tool_mode
        self.context_limit = max_model_len
        self._lora = None
        if adapter:
            from vllm.lora.request import LoRARequest

            self._lora = LoRARequest("aoi-adapter", 1, adapter)

    def count_tokens(self, text: str) -> int:
        try:
            return len(self.tokenizer.encode(text, add_special_tokens=False))
        except Exception:
            return approx_tokens(text)

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Completion:
        params = self.vllm.SamplingParams(temperature=self.temperature, max_tokens=self.max_tokens, seed=self.seed,
                                          skip_special_tokens=False)
        kw: dict[str, Any] = {"sampling_params": params, "use_tqdm": False}
        if self._lora is not None:
            kw["lora_request"] = self._lora
        if tools and self.tool_mode == "template":
            kw["tools"] = tools
        started = time.perf_counter()
        try:
            outs = self.llm.chat(messages, **kw)
        except Exception as e:
            raise ModelError(f"vLLM generation failed: {type(e).__name__}: {e}") from None
        out = outs[0]
        gen = out.outputs[0]
        text = gen.text or ""
        for t in ("<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>"):
            text = text.replace(t, "")
        usage = Usage(prompt_tokens=len(out.prompt_token_ids or []), completion_tokens=len(gen.token_ids or []))
        return Completion(content=text.strip(), usage=usage, finish_reason=gen.finish_reason,
                          latency_ms=(time.perf_counter() - started) * 1000, model=self.model)


class VLLMPolicy(ChatPolicy):
    """The ``vllm`` policy: :class:`ChatPolicy` over an in-process vLLM engine."""

    def __init__(self, model: str, adapter: str | None = None, *, config: ChatConfig | None = None,
                 **backend_kw: Any):
        config = config or ChatConfig()
        backend_kw.setdefault("max_tokens", config.max_tokens)
        backend_kw.setdefault("max_model_len", config.context_tokens)
        super().__init__(VLLMBackend(model, adapter, **backend_kw), config)
