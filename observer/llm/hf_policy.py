"""The ``hf`` policy: a local transformers model, optionally with a PEFT LoRA adapter (what ``training/``
produces), on CPU or GPU.

The prompt goes through the model's own chat template; when the template knows about tools (Qwen2.5/Qwen3 and
most recent instruct models do) the tool schemas go in with ``apply_chat_template(..., tools=...)`` and the model
answers with hermes ``<tool_call>`` text, which the shared parser reads. A template without tool support gets the
tool table in the system prompt (the text protocol). A tokenizer without any chat template gets a plain ChatML
rendering.

torch, transformers and peft are imported lazily: without the ``train`` extra this module still imports, and
building the policy says how to install it (``make install-train``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from observer.llm.chat import ChatConfig, ChatPolicy, Completion, ModelError, Usage
from observer.llm.prompting import approx_tokens

INSTALL_HINT = ("the hf policy needs torch and transformers (and peft for a LoRA adapter): run `make install-train`, "
                "which installs the CPU build torch==2.13.0 first and then the `train` extra "
                "(pip install -e '.[train]')")


def import_train_stack(peft: bool = False) -> tuple[Any, Any, Any]:
    """(torch, transformers, peft or None), or a ModelError that says how to install them."""
    try:
        import torch
        import transformers
    except ImportError as e:
        raise ModelError(f"{INSTALL_HINT} ({e})") from None
    peft_mod = None
    if peft:
        try:
            import peft as peft_mod
        except ImportError as e:
            raise ModelError(f"a LoRA adapter needs peft; {INSTALL_HINT} ({e})") from None
    return torch, transformers, peft_mod


def template_supports_tools(tokenizer: Any) -> bool:
    """Whether the tokenizer's chat template renders a ``tools`` list."""
    tpl = getattr(tokenizer, "chat_template", None)
    if isinstance(tpl, dict):
        tpl = tpl.get("tool_use") or tpl.get("default") or ""
    return isinstance(tpl, str) and "tools" in tpl


def chatml(messages: list[dict[str, Any]]) -> str:
    """A plain ChatML rendering for tokenizers without a chat template (tool calls already are text here)."""
    out = []
    for m in messages:
        role = m.get("role", "user")
        content = m.get("content") or ""
        if role == "tool":
            role, content = "user", f"<tool_response>\n{content}\n</tool_response>"
        out.append(f"<|im_start|>{role}\n{content}<|im_end|>\n")
    return "".join(out) + "<|im_start|>assistant\n"


def _resolve_device(torch: Any, device: str) -> str:
    if device != "auto":
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError(f"device {device!r} was asked for but torch sees no CUDA GPU (torch {torch.__version__});"
                             " use --device cpu")
        return device
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_adapter(path: str) -> str:
    """A PEFT adapter directory, or the output directory of ``aoi train sft|grpo`` (which keeps it in ``adapter/``)."""
    p = Path(path).expanduser()
    if (p / "adapter_config.json").is_file():
        return str(p)
    if (p / "adapter" / "adapter_config.json").is_file():
        return str(p / "adapter")
    if p.exists():
        raise ModelError(f"no LoRA adapter in {path}: expected adapter_config.json there or in {path}/adapter "
                         "(what `aoi train sft|grpo --out DIR` writes)")
    return path  # a hub id of an adapter


class HFBackend:
    name = "hf"
    arguments_as_text = False

    def __init__(self, model_path: str, adapter: str | None = None, *, device: str = "auto", dtype: str = "auto",
                 max_new_tokens: int = 768, temperature: float = 0.0, seed: int | None = 0,
                 trust_remote_code: bool = False, tool_mode: str = "auto", offline: bool | None = None):
        local = Path(model_path).expanduser()
        if model_path.startswith(("/", "./", "../", "~")) and not local.exists():
            raise ModelError(f"cannot load the model {model_path!r}: no such directory")
        if local.exists():
            model_path = str(local)
        if offline or (offline is None and local.exists()):
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local directory must not trigger hub lookups
        adapter = resolve_adapter(adapter) if adapter else None
        torch, transformers, peft = import_train_stack(peft=bool(adapter))
        self.torch = torch
        self.model_path = model_path
        self.adapter = adapter
        self.model = model_path if not adapter else f"{model_path}+{adapter}"
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.seed = seed
        self.device = _resolve_device(torch, device)
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(model_path,
                                                                        trust_remote_code=trust_remote_code)
            if dtype == "auto":
                torch_dtype: Any = torch.float32 if self.device == "cpu" else "auto"
            else:
                torch_dtype = getattr(torch, dtype)
            lm = transformers.AutoModelForCausalLM.from_pretrained(model_path, dtype=torch_dtype,
                                                                   trust_remote_code=trust_remote_code)
            if adapter:
                assert peft is not None
                lm = peft.PeftModel.from_pretrained(lm, adapter)
        except (OSError, ValueError) as e:
            raise ModelError(f"cannot load the model {self.model!r}: {e}") from None
        self.lm = lm.to(self.device)
        self.lm.eval()
        if tool_mode in ("auto", "native"):
            tool_mode = "template" if template_supports_tools(self.tokenizer) else "text"
        if tool_mode not in ("template", "text"):
            raise ValueError(f"tool_mode for hf is auto, template or text, not {tool_mode!r}")
        self.tool_mode = tool_mode
        cfg = getattr(self.lm, "config", None)
        self.context_limit: int | None = getattr(cfg, "max_position_embeddings", None)
        specials = set(getattr(self.tokenizer, "all_special_tokens", []) or [])
        self._strip = [t for t in specials if t and "tool_call" not in t]

    def count_tokens(self, text: str) -> int:
        try:
            return len(self.tokenizer.encode(text, add_special_tokens=False))
        except Exception:
            return approx_tokens(text)

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            return chatml(messages)
        kw: dict[str, Any] = {"tokenize": False, "add_generation_prompt": True}
        if tools and self.tool_mode == "template":
            kw["tools"] = tools
        return self.tokenizer.apply_chat_template(messages, **kw)

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Completion:
        torch = self.torch
        started = time.perf_counter()
        try:
            prompt = self.render(messages, tools)
        except Exception as e:  # a template that chokes on these messages: plain ChatML instead
            prompt = chatml(messages)
            self.template_error = str(e)
        ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        limit = self.context_limit
        if limit and ids.shape[1] > limit - 16:  # keep the newest tokens; the policy budgets, this is the backstop
            keep = max(16, limit - min(self.max_new_tokens, limit // 2))
            ids = ids[:, -keep:]
        max_new = self.max_new_tokens if not limit else max(1, min(self.max_new_tokens, limit - ids.shape[1]))
        ids = ids.to(self.device)
        gen_kw: dict[str, Any] = {"max_new_tokens": max_new, "attention_mask": torch.ones_like(ids)}
        if self.temperature > 0:
            gen_kw.update(do_sample=True, temperature=self.temperature)
        else:
            gen_kw.update(do_sample=False)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        if pad is not None:
            gen_kw["pad_token_id"] = pad
        if self.seed is not None:
            torch.manual_seed(self.seed)
        try:
            with torch.no_grad():
                out = self.lm.generate(ids, **gen_kw)
        except (RuntimeError, ValueError, IndexError) as e:
            raise ModelError(f"generation failed with {self.model!r}: {type(e).__name__}: {e}") from None
        new = out[0, ids.shape[1]:]
        text = self.tokenizer.decode(new, skip_special_tokens=False)
        for t in self._strip:
            text = text.replace(t, "")
        finish = "length" if len(new) >= max_new else "stop"
        return Completion(content=text.strip(), usage=Usage(prompt_tokens=int(ids.shape[1]),
                                                            completion_tokens=len(new)),
                          finish_reason=finish, latency_ms=(time.perf_counter() - started) * 1000, model=self.model)


class HFPolicy(ChatPolicy):
    """The ``hf`` policy: :class:`ChatPolicy` over a local transformers model (and LoRA adapter)."""

    def __init__(self, model_path: str, adapter: str | None = None, *, config: ChatConfig | None = None,
                 **backend_kw: Any):
        config = config or ChatConfig()
        backend_kw.setdefault("max_new_tokens", config.max_tokens)
        backend = HFBackend(model_path, adapter, **backend_kw)
        if backend.context_limit and backend.context_limit < config.context_tokens:
            config.context_tokens = backend.context_limit
            config.max_tokens = min(config.max_tokens, max(16, backend.context_limit // 4))
            backend.max_new_tokens = config.max_tokens
        super().__init__(backend, config)
