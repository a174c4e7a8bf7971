"""The tiny model builder: a real architecture from a config, a tokenizer trained here, and a chat template that
renders tools, tool calls and tool results, which TRL recognises (tool-call parsing for GRPO, generation markers for
SFT's assistant-only loss)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.fixtures import NS, TOOLS, conversation


def test_the_template_renders_tools_calls_and_results(tiny_model: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    cfg = AutoConfig.from_pretrained(tiny_model)
    assert cfg.model_type == "qwen3" and cfg.hidden_size == 64 and cfg.num_hidden_layers == 2
    tok = AutoTokenizer.from_pretrained(tiny_model)
    spec = json.loads((tiny_model / "tiny.json").read_text())
    assert spec["vocab"] == len(tok) and 50_000 < spec["parameters"] < 500_000
    text = tok.apply_chat_template(conversation(True), tools=TOOLS, tokenize=False)
    assert '"name": "describe"' in text and "<tools>" in text  # the schemas
    assert f'<tool_call>\n{{"name": "cluster_overview", "arguments": {{"namespace": "{NS}"}}}}\n</tool_call>' in text
    assert "<tool_response>\nservice user-service: 0 ready endpoints" in text  # the tool role
    assert text.count("<|im_start|>assistant") == 2
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text  # byte-level BPE: lossless
    assert tok.convert_tokens_to_ids("<tool_call>") != tok.unk_token_id
    # the tags with their newlines are single tokens, so each token of a call follows from the one before it
    call = '<tool_call>\n{"name": "submit", "arguments": {}}\n</tool_call>'
    pieces = [tok.decode([i]) for i in tok(call, add_special_tokens=False)["input_ids"]]
    assert pieces[0] == "<tool_call>\n" and pieces[-1] == "\n</tool_call>"


def test_trl_parses_its_tool_calls_and_masks_assistant_turns(tiny_model: Path) -> None:
    from transformers import AutoTokenizer
    from trl.chat_template_utils import (
        add_response_schema,
        get_training_chat_template,
        parse_response,
        supports_tool_calling,
    )

    tok = AutoTokenizer.from_pretrained(tiny_model)
    assert supports_tool_calling(tok)
    tok = add_response_schema(tok)  # recognised: the exact Qwen2.5 template
    prompt = tok.apply_chat_template(conversation(False), tools=TOOLS, add_generation_prompt=True, tokenize=False)
    reply = '<tool_call>\n{"name": "submit", "arguments": {"answer": "Yes"}}\n</tool_call><|im_end|>'
    prefix = tok(prompt, add_special_tokens=False)["input_ids"]
    ids = tok(reply, add_special_tokens=False)["input_ids"]
    msg = parse_response(tok, ids, prefix=prefix)
    assert msg["tool_calls"][0]["function"] == {"name": "submit", "arguments": {"answer": "Yes"}}
    out = tok.apply_chat_template(conversation(True), tools=TOOLS, chat_template=get_training_chat_template(tok),
                                  tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    learned = tok.decode([i for i, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m])
    assert '"answer": "Yes"' in learned and "<|im_end|>" in learned  # the decision and its stop token
    assert "targetPort 9999" not in learned and SYSTEM_START not in learned  # never the tool output or system


SYSTEM_START = "You are the Observer"


@pytest.mark.parametrize("arch", ["qwen2", "qwen3"])
def test_the_tokenizer_loads_as_it_was_trained(arch: str, tmp_path: Path) -> None:
    """transformers imposes Qwen2's own pre-tokenizer on every qwen2 model's tokenizer at load time; the builder
    trains with it for qwen2 (and merges across words for qwen3), so what loads encodes exactly as trained."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.tiny import build_tiny, build_tokenizer

    corpus = [json.dumps(conversation(True)), json.dumps(TOOLS)] * 3
    path = build_tiny(tmp_path / arch, corpus, arch=arch, hidden=32, layers=1, heads=2, kv_heads=1, vocab=600)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.model_type == arch and model.config.hidden_size == 32
    loaded = AutoTokenizer.from_pretrained(path)
    trained = build_tokenizer(corpus, vocab=600, pretokenizer="qwen2" if arch == "qwen2" else "cross_word")
    text = loaded.apply_chat_template(conversation(True), tools=TOOLS, tokenize=False)
    assert loaded(text)["input_ids"] == trained(text)["input_ids"]
    assert loaded.decode(loaded(text)["input_ids"]) == text
    if arch == "qwen3":  # merges across words: the repeated schemas take fewer tokens than with word splits
        words = build_tokenizer(corpus, vocab=600, pretokenizer="qwen2")
        assert len(loaded(text)["input_ids"]) < len(words(text)["input_ids"])


def test_a_reply_tokenizes_the_same_after_the_generation_prompt(tiny_model: Path) -> None:
    """What the model writes after ``<|im_start|>assistant\n`` must be the tokens it was trained on there: a merge
    across that newline would teach tokens the model can never produce at inference."""
    from transformers import AutoTokenizer
    from trl.chat_template_utils import get_training_chat_template

    tok = AutoTokenizer.from_pretrained(tiny_model)
    msgs = conversation(True)
    prompt = tok.apply_chat_template(msgs[:-1], tools=TOOLS, add_generation_prompt=True, tokenize=True,
                                     return_dict=True)["input_ids"]
    full = tok.apply_chat_template(msgs, tools=TOOLS, chat_template=get_training_chat_template(tok), tokenize=True,
                                   return_dict=True, return_assistant_tokens_mask=True)
    assert full["input_ids"][:len(prompt)] == prompt  # the prompt is a prefix of the training sequence
    first = full["assistant_masks"].index(1, len(prompt) - 2)  # the decision's first trained token
    assert first <= len(prompt)


def test_bad_sizes_are_refused(tmp_path: Path) -> None:
    from training.tiny import build_tiny

    with pytest.raises(ValueError, match="arch is one of"):
        build_tiny(tmp_path / "x", [], arch="llama")
    with pytest.raises(ValueError, match="multiple of heads"):
        build_tiny(tmp_path / "x", [], hidden=30, heads=4)
    with pytest.raises(ValueError, match="vocab must be at least"):
        build_tiny(tmp_path / "x", [], vocab=100)


def test_transcript_corpus_reads_a_store(tmp_path: Path) -> None:
    from training.tiny import transcript_corpus
    from transcripts import TranscriptStore

    with TranscriptStore(tmp_path / "t.db") as store:
        eid = store.start_episode(target="sim:x", policy="baseline")
        store.set_tools(eid, TOOLS)
        store.add_step(eid, role="assistant", text="PHASE: surface_scan", tool="cluster_overview",
                       arguments={"namespace": NS})
        store.finish(eid)
    corpus = transcript_corpus(tmp_path / "t.db")
    assert "PHASE: surface_scan" in corpus and any('"cluster_overview"' in c for c in corpus)
