"""A tiny model of a real architecture (Qwen2 or Qwen3), built offline: a random-init model from a config, a
byte-level BPE tokenizer trained here on the transcripts' texts, and a tool-aware chat template.

The template is TRL's copy of Qwen2.5's (hermes ``<tool_call>`` JSON, ``tool`` role as ``<tool_response>``), taken
as the exact string so TRL recognises it: ``add_response_schema`` can then parse tool calls in GRPO, and SFT's
``assistant_only_loss`` swaps in TRL's training variant with ``{% generation %}`` markers. When that copy is not
installed a ChatML template of the same shape is used. Nothing is downloaded: this is what tests, CPU runs and
``aoi train demo`` train.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

ARCHS = ("qwen2", "qwen3")
LOGIT_REACH = 16.0  # the largest logit a hidden state aligned with one token's embedding gives (see build_tiny)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Added (not special) tokens, as in Qwen2.5: decoding keeps them, so the hf policy and TRL's parser see the tags.
TOOL_TOKENS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>"]
# The hermes template writes "<tool_call>\n{json}\n</tool_call>". With newlines as tokens of their own, what follows
# a "\n" (the tag, the JSON, the closing tag) depends on the token before it, which a tiny model from a random init
# does not learn to look at within a CPU budget: the demo's SFT model wrote "<tool_call>\n<tool_call>\n..." and never
# the JSON. The tags with their newline as single added tokens (matched before the tags alone, longest first) make
# every next token of a call follow from the one before it. Decoding gives back the same text.
TAG_TOKENS = ["<tool_call>\n", "\n</tool_call>"]

# The shape of Qwen2.5's template, for when TRL's copy is not importable (the same one tests/observer uses).
CHATML_TOOLS = (
    "{%- if tools %}<|im_start|>system\n{{ messages[0]['content'] if messages[0]['role'] == 'system' else '' }}"
    "\n\n# Tools\n<tools>{% for t in tools %}\n{{ t | tojson }}{% endfor %}\n</tools><|im_end|>\n"
    "{%- elif messages[0]['role'] == 'system' %}<|im_start|>system\n{{ messages[0]['content'] }}<|im_end|>\n"
    "{%- endif %}"
    "{%- for m in messages %}{%- if m['role'] == 'system' %}{%- elif m['role'] == 'tool' %}"
    "<|im_start|>user\n<tool_response>\n{{ m['content'] }}\n</tool_response><|im_end|>\n"
    "{%- else %}<|im_start|>{{ m['role'] }}\n{{ m['content'] or '' }}"
    "{%- for c in m.get('tool_calls') or [] %}\n<tool_call>\n{{ {'name': c['function']['name'], "
    "'arguments': c['function']['arguments']} | tojson }}\n</tool_call>{%- endfor %}<|im_end|>\n"
    "{%- endif %}{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}"
)

# A few lines every corpus gets, so the merges cover the template's boilerplate, JSON syntax and the Observer's
# status lines even when the transcripts are few.
SEED_CORPUS = [
    "You are a helpful assistant. # Tools You may call one or more functions to assist with the user query.",
    'You are provided with function signatures within <tools></tools> XML tags: {"type": "function", "function": '
    '{"name": "describe", "description": "Describe one object.", "parameters": {"type": "object", "properties": '
    '{"kind": {"type": "string"}, "name": {"type": "string"}}, "required": ["kind", "name"]}}}',
    'For each function call, return a json object with function name and arguments within <tool_call></tool_call> '
    'XML tags: <tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>',
    "SUMMARY: PHASE: surface_scan point_investigation depth_analysis ready_to_fix verification ready_to_submit "
    "HYPOTHESIS: CONFIDENCE: 0 10 50 90 100",
    'submit("Yes") submit("No") submit(["user-service"]) submit(system_level="Application", '
    'fault_type="Misconfiguration") submit() plan wait',
    "namespace deployment service pod node replicas logs events metrics traces errors endpoints targetPort",
]


class TinySpec(BaseModel):
    """What was built (written next to the model as ``tiny.json``)."""

    arch: Literal["qwen2", "qwen3"]
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    max_positions: int
    parameters: int
    template: str
    corpus_lines: int
    seed: int


def chat_template(kind: str = "qwen2_5") -> tuple[str, str]:
    """(template, name): TRL's exact Qwen2.5 (or Qwen3) template when installed, else ChatML with tools."""
    try:
        from trl import chat_template_utils as ctu
    except ImportError:
        return CHATML_TOOLS, "chatml-tools"
    name = {"qwen2_5": "qwen2_5_chat_template", "qwen3": "qwen3_chat_template"}.get(kind)
    if name is None:
        raise ValueError(f"template is qwen2_5 or qwen3, not {kind!r}")
    tpl = getattr(ctu, name, None)
    return (tpl, kind) if isinstance(tpl, str) else (CHATML_TOOLS, "chatml-tools")


def _lines(corpus: Iterable[str], extra: Iterable[str]) -> Iterator[str]:
    for text in [*extra, *corpus]:
        if text:
            yield str(text)


# Qwen2's pre-tokenizer regex: transformers' Qwen2Tokenizer installs it (and an NFC normalizer) whenever a qwen2
# model's tokenizer loads, whatever tokenizer.json says; training with it keeps trained and loaded merges the same.
QWEN2_PRETOKENIZE_REGEX = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
                           r"""\s*[\r\n]+|\s+(?!\S)|\s+""")


def build_tokenizer(corpus: Iterable[str], *, vocab: int = 1024, template: str = "qwen2_5",
                    pretokenizer: Literal["cross_word", "qwen2"] = "cross_word", max_token_chars: int = 64) -> Any:
    """A byte-level BPE tokenizer (left padding, ``<|im_end|>`` as eos) with a tool-aware chat template.

    ``cross_word``: merges may span spaces and punctuation, not newlines (so what the model writes after the
    generation prompt's newline tokenizes as it did in training). The Observer's prompts repeat
    the same tool schemas and phrases every step, so such merges shorten them several times over (under 1,000
    instead of 6,500 tokens a step with 8k merges), which is what makes CPU training of a tiny model affordable;
    tokens stay under ``max_token_chars`` bytes. ``qwen2``: Qwen2's own word split, which transformers imposes on
    every qwen2 model's tokenizer at load time (Qwen3 models load the tokenizer as saved). Byte-level either way:
    any text encodes and decodes losslessly."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab < 300:
        raise ValueError(f"vocab must be at least 300 (256 bytes + specials + some merges), not {vocab}")
    if pretokenizer not in ("cross_word", "qwen2"):
        raise ValueError(f"pretokenizer is cross_word or qwen2, not {pretokenizer!r}")
    tpl, _ = chat_template(template)
    lines = list(_lines(corpus, [*SEED_CORPUS, tpl]))
    tk = Tokenizer(models.BPE(unk_token=None))
    if pretokenizer == "qwen2":
        tk.normalizer = normalizers.NFC()
        tk.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:  # newlines stand alone: a turn's text then tokenizes the same after the generation prompt's "\n"
        tk.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(r"\n"), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=vocab, show_progress=False,
                                                      max_token_length=max_token_chars,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                      special_tokens=SPECIALS))
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  bos_token=None, padding_side="left")
    tok.add_tokens([*TAG_TOKENS, *TOOL_TOKENS])
    tok.chat_template = tpl
    return tok


def build_tiny(out_dir: str | Path, corpus: Iterable[str], *, arch: str = "qwen2", hidden: int = 64,
               layers: int = 2, vocab: int = 1024, heads: int = 4, kv_heads: int = 2, intermediate: int | None = None,
               max_positions: int = 16384, template: str = "qwen2_5", seed: int = 0) -> Path:
    """Build and save (``save_pretrained``) a random tiny ``arch`` model with a tokenizer trained on ``corpus``.

    ``corpus``: texts to learn merges from (transcript messages, tool results, schemas). Returns ``out_dir``, which
    ``AutoModelForCausalLM``/``AutoTokenizer``, the Observer's ``hf`` policy and TRL's trainers all load."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers

    if arch not in ARCHS:
        raise ValueError(f"arch is one of {', '.join(ARCHS)}, not {arch!r}")
    if hidden % heads or heads % kv_heads:
        raise ValueError(f"hidden ({hidden}) must be a multiple of heads ({heads}), and heads of kv_heads ({kv_heads})")
    lines = [str(t) for t in corpus if t]
    tok = build_tokenizer(lines, vocab=vocab, template=template,
                          pretokenizer="qwen2" if arch == "qwen2" else "cross_word")
    _, template_name = chat_template(template)
    common: dict[str, Any] = dict(vocab_size=len(tok), hidden_size=hidden, intermediate_size=intermediate or 2 * hidden,
                                  num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                                  max_position_embeddings=max_positions, tie_word_embeddings=True,
                                  eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None)
    if arch == "qwen3":  # Qwen3's default head_dim is 128 whatever the width; a tiny model needs hidden/heads
        cfg: Any = transformers.Qwen3Config(head_dim=hidden // heads, **common)
        cls: Any = transformers.Qwen3ForCausalLM
    else:
        cfg = transformers.Qwen2Config(**common)
        cls = transformers.Qwen2ForCausalLM
    torch.manual_seed(seed)
    model = cls(cfg)
    # A random model's logits are nearly flat: the final norm gives the hidden state an RMS of 1 and the tied
    # embeddings have std initializer_range, so no direction of the hidden state can lift one token's logit more than
    # about 2.5 above the rest at hidden 128, and an adapter (which trains neither the norm nor the embeddings) could
    # never make a confident prediction. Scaling the final norm lets the best-aligned token reach a logit of
    # LOGIT_REACH; the scale is part of the saved weights, so every loader sees the same model.
    with torch.no_grad():
        model.model.norm.weight.fill_(LOGIT_REACH / (cfg.initializer_range * hidden))
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(out)
    model.save_pretrained(out)
    spec = TinySpec(arch=arch, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,  # type: ignore[arg-type]
                    intermediate=cfg.intermediate_size, vocab=len(tok), max_positions=max_positions,
                    parameters=sum(p.numel() for p in model.parameters()), template=template_name,
                    corpus_lines=len(lines), seed=seed)
    (out / "tiny.json").write_text(json.dumps(spec.model_dump(), indent=2) + "\n")
    return out


def dataset_corpus(dataset: str | Path, *, limit: int | None = None) -> list[str]:
    """Texts of a conversational dataset (``aoi train data``'s sft): each tool schema as the chat template writes
    it, each message, each tool call as hermes JSON. Close to what the model will read, so merges fit it."""
    import datasets

    ds = datasets.load_from_disk(str(dataset))
    out: list[str] = []
    for i, row in enumerate(ds):
        if limit is not None and i >= limit:
            break
        tools = row.get("tools") or []
        tools = json.loads(tools) if isinstance(tools, str) else tools
        out.extend(json.dumps(t) for t in tools)  # every row, as in every prompt: the merges' counts follow use
        msgs = row.get("messages") or row.get("prompt") or []
        msgs = json.loads(msgs) if isinstance(msgs, str) else msgs
        for m in msgs:
            if m.get("content"):
                out.append(str(m["content"]))
            for c in m.get("tool_calls") or []:
                fn = c.get("function", c)
                out.append(json.dumps({"name": fn.get("name"), "arguments": fn.get("arguments")}))
    return out


def transcript_corpus(store_path: str | Path, *, limit: int | None = None) -> list[str]:
    """Texts of a transcript store (messages, tool arguments and results, tool schemas): the tokenizer's corpus."""
    from transcripts import TranscriptStore

    out: list[str] = []
    with TranscriptStore(store_path, create=False) as store:
        for i, summary in enumerate(store.episodes(limit=None)):
            if limit is not None and i >= limit:
                break
            ep = store.episode(summary.id)
            for t in ep.tools or []:
                out.append(json.dumps(t))
            for s in ep.steps:
                out.extend(x for x in (s.text, s.result) if x)
                if s.tool:
                    out.append(json.dumps({"name": s.tool, "arguments": s.arguments or {}}))
    return out
