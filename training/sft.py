"""Supervised fine-tuning: TRL's ``SFTTrainer`` with a PEFT LoRA adapter on the conversational SFT dataset (the
Observer's successful and corrected episodes: ``messages`` with tool calls, and the ``tools`` the policy saw).

The loss is on the assistant's turns only by default (``assistant_only_loss``): the model learns what to call and
what to submit, not to predict the cluster's output. TRL swaps in a training copy of known templates with
``{% generation %}`` markers (Qwen2.5's included, which the tiny model uses); a template it does not know and that
has no markers fails with TRL's message, and ``--no-assistant-only-loss`` trains on the whole conversation.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from training.config import SFTSettings
from training.modeling import (
    TrainingError,
    TrainResult,
    apply_threads,
    checkpoint_to_resume,
    finish,
    load_dataset_dir,
    load_model,
    load_tokenizer,
    train,
)


def _strip_nones(v: Any) -> Any:
    """Arrow unifies the schemas of differently-shaped dicts by adding null fields; drop them again."""
    if isinstance(v, dict):
        return {k: _strip_nones(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_strip_nones(x) for x in v]
    return v


def conversation(row: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """(messages, tools) of one SFT row, whether stored as JSON text or as Arrow structs (whose null fields, added
    when Arrow unifies differently-shaped dicts, are dropped); tool-call arguments as objects, as templates want."""
    msgs = row["messages"]
    msgs = json.loads(msgs) if isinstance(msgs, str) else _strip_nones(msgs)
    for m in msgs:
        if m.get("content") is None:
            m["content"] = ""
        for c in m.get("tool_calls") or []:
            fn = c.get("function", c)
            if isinstance(fn.get("arguments"), str):  # the OpenAI wire shape
                with contextlib.suppress(json.JSONDecodeError):
                    fn["arguments"] = json.loads(fn["arguments"])
    tools = row.get("tools")
    tools = json.loads(tools) if isinstance(tools, str) else _strip_nones(tools)
    return msgs, (tools or None)


def _is_step(row: dict[str, Any]) -> bool:
    step = row.get("step", -1)
    return step is not None and step >= 0


def tokenize_sft(ds: Any, tok: Any, *, assistant_only_loss: bool = True, max_length: int | None = None,
                 reply: str = "full") -> tuple[Any, int]:
    """Render and tokenize each conversation with its tools: ``input_ids`` and, for assistant-only loss,
    ``assistant_masks`` from the template's ``{% generation %}`` markers (TRL's training copy of a known template
    when the tokenizer's own has none). TRL builds the labels from these.

    Step rows (``step`` >= 0, ``aoi train data``'s default) learn only their last turn, the decision; whole
    conversations (``step`` -1 or no column) learn every assistant turn. Conversations over ``max_length`` tokens are
    left out rather than cut: TRL keeps the start, and the decision
    to learn is at the end of each Observer step. ``reply="call"``: a step row's decision keeps only its tool call
    (its status lines dropped). Returns (dataset, number left out)."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if "messages" not in ds.column_names:
        raise TrainingError(f"the SFT dataset needs a `messages` column (conversational); it has {ds.column_names}")
    template = None
    if assistant_only_loss and not has_generation_markers(tok.chat_template):
        try:
            template = get_training_chat_template(tok)
        except ValueError as e:
            raise TrainingError(f"assistant-only loss needs a chat template with {{% generation %}} markers: {e}; "
                                "use --no-assistant-only-loss to train on whole conversations") from None

    def encode(row: dict[str, Any]) -> dict[str, Any]:
        msgs, tools = conversation(row)
        if reply == "call" and _is_step(row) and msgs[-1].get("role") == "assistant" and msgs[-1].get("tool_calls"):
            msgs[-1] = {**msgs[-1], "content": ""}
        out = tok.apply_chat_template(msgs, tools=tools, chat_template=template, tokenize=True, return_dict=True,
                                      return_assistant_tokens_mask=assistant_only_loss)
        enc = {"input_ids": list(out["input_ids"])}
        if assistant_only_loss:
            mask = list(out["assistant_masks"])
            if _is_step(row) and msgs[-1].get("role") == "assistant":
                # A step row: the earlier assistant turn in it is the previous decision shown as context (trained
                # in its own row); only this step's decision is the target.
                prompt = tok.apply_chat_template(msgs[:-1], tools=tools, chat_template=template, tokenize=True,
                                                 return_dict=True, add_generation_prompt=True)["input_ids"]
                cut = len(prompt) - 1  # the generation prompt's newline is inside the marked span
                mask = [0] * cut + mask[cut:]
            enc["assistant_masks"] = mask
        return enc

    ds = ds.map(encode, remove_columns=ds.column_names, desc="Tokenizing SFT conversations")
    if assistant_only_loss:
        empty = sum(1 for m in ds["assistant_masks"] if 1 not in m)
        if empty == len(ds):
            raise TrainingError("no conversation has an assistant turn the template marks for the loss")
        if empty:
            ds = ds.filter(lambda r: 1 in r["assistant_masks"])
    before = len(ds)
    if max_length is not None:
        lengths = [len(x) for x in ds["input_ids"]]
        ds = ds.filter(lambda r: len(r["input_ids"]) <= max_length)
        if len(ds) == 0:
            raise TrainingError(f"every conversation is longer than max_length={max_length} tokens (they have "
                                f"{min(lengths)} to {max(lengths)}): raise --max-length, or use a tokenizer that "
                                "compresses the Observer's prompts better (a larger vocabulary)")
    return ds, before - len(ds)


def run_sft(settings: SFTSettings, *, resume: bool | str | Path | None = None, console: Console | None = None,
            callbacks: Sequence[Any] = ()) -> TrainResult:
    """Train a LoRA adapter with SFT. Returns where the adapter, metrics, curves and run card are. ``callbacks``:
    more ``transformers.TrainerCallback`` objects."""
    from trl import SFTConfig, SFTTrainer

    started = time.perf_counter()
    notes: list[str] = []
    apply_threads(settings)
    ckpt = checkpoint_to_resume(settings, resume)
    if ckpt:
        notes.append(f"resumed from {ckpt}")
    raw = load_dataset_dir(settings.dataset, limit=settings.limit)  # a wrong path fails before a model loads
    tok = load_tokenizer(settings.model)
    ds, dropped = tokenize_sft(raw, tok,
                               assistant_only_loss=settings.assistant_only_loss, max_length=settings.max_length,
                               reply=settings.reply)
    if dropped:
        notes.append(f"{dropped} conversations over {settings.max_length} tokens were left out")
    model, peft_config = load_model(settings)
    kw = settings.trainer_kwargs()
    if settings.epochs is not None:
        kw["num_train_epochs"] = settings.epochs
        kw["max_steps"] = -1
    # The dataset is tokenized here (assistant masks included), so TRL only builds labels and truncates.
    args = SFTConfig(max_length=settings.max_length, assistant_only_loss=False, **kw)
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=peft_config)
    interrupted = train(trainer, settings, ckpt, console, "sft", callbacks)
    if interrupted:
        notes.append("interrupted (Ctrl-C); a checkpoint was saved: rerun with --resume")
    return finish(trainer, settings, kind="sft", examples=len(ds), started=started, interrupted=interrupted,
                  notes=notes)
