"""How often a model's reply to a step prompt is a valid Observer decision: the format reward, measured greedily.

A cheaper and finer signal than avg@1 for a small model: each of ``n`` step prompts (``aoi train data``'s ``steps``,
spread across task types) goes through the hf policy's backend (same template, tools and greedy decoding as an
evaluation episode) and the reply is judged as the Observer reads it (``training.rewards.judge``): valid (a call to
an offered tool with valid arguments, or a valid answer), readable but invalid, or unreadable. The prompts come from
the training families (held-out families have no transcripts), so this measures the format, not generalisation.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


class FormatScore(BaseModel):
    prompts: int = 0
    valid: int = 0  # a call the Observer would execute (or a valid answer)
    readable: int = 0  # a call it could read but not execute (unknown tool, bad arguments, invalid answer)
    valid_rate: float = 0.0
    tools: dict[str, int] = Field(default_factory=dict)  # which tools the valid calls named
    examples: list[str] = Field(default_factory=list)  # the first few replies, shortened


def pick_rows(ds: Any, n: int, seed: int = 0) -> list[int]:
    """``n`` row indices taking task types in turn (each type's rows in a seeded order)."""
    import random

    by_task: dict[str, list[int]] = {}
    for i, task in enumerate(ds["task"]):
        by_task.setdefault(task, []).append(i)
    rng = random.Random(seed)
    for rows in by_task.values():
        rng.shuffle(rows)
    order = [i for k in range(max(map(len, by_task.values()), default=0)) for rows in by_task.values()
             if k < len(rows) for i in [rows[k]]]
    return order[:n]


def _kind(d: Any) -> str:
    if d.call is not None:
        return d.call.tool
    return "plan" if d.plan is not None else "wait" if d.wait is not None else "submit"


def format_check(model: str, adapter: str | Path | None, steps: Path, *, n: int = 24, max_tokens: int = 128,
                 device: str = "cpu", seed: int = 0, examples: int = 3) -> FormatScore:
    """Greedy replies of ``model`` (+ ``adapter``) to ``n`` step prompts of the ``steps`` dataset, judged."""
    from observer.llm.hf_policy import HFBackend
    from training.grpo import _prompt_messages
    from training.modeling import load_dataset_dir
    from training.rewards import _Toolboxes, judge

    ds = load_dataset_dir(steps)
    backend = HFBackend(model, str(adapter) if adapter else None, device=device, max_new_tokens=max_tokens,
                        temperature=0.0, seed=seed)
    boxes = _Toolboxes()
    score = FormatScore()
    tools: Counter[str] = Counter()
    for i in pick_rows(ds, n, seed):
        row = ds[i]
        msgs, schemas = _prompt_messages(row)
        box = boxes.get(row.get("tools"), row.get("task"))
        if box is None:
            continue
        text = backend.complete(msgs, schemas).content
        j = judge(text, [], box)
        score.prompts += 1
        score.valid += j.level == 2
        score.readable += j.level == 1
        if j.decision is not None:
            tools[_kind(j.decision)] += 1
        if len(score.examples) < examples:
            score.examples.append(text[:200])
    score.valid_rate = score.valid / score.prompts if score.prompts else 0.0
    score.tools = dict(tools.most_common())
    return score
