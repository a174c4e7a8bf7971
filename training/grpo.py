"""GRPO: TRL's ``GRPOTrainer`` with a PEFT LoRA adapter, rewarded by the simulator and the benchmark's grader
(``training.rewards``), never by a judge.

Two modes:

- ``step`` (default): the step-level dataset. Each prompt is a verified episode's context up to decision n; the
  model writes one action, which the rewards score (format, step, cost and safety). The prompt is rendered here with
  its own tool schemas (they differ by task type: mitigation has plan and wait) exactly as the Observer's ``hf``
  policy renders it, so the model is trained on what it will read.
- ``episode``: multi-turn rollouts on a fresh seeded simulator per prompt. ``training.env.ClusterEnv`` is TRL's
  ``environment_factory``: its ``reset`` starts the problem, its public methods are the probe's tools, and its
  ``get_reward`` (the benchmark grade) becomes the outcome reward column.

A run continues an SFT adapter with ``init_adapter`` (the usual order: SFT, then GRPO). With ``beta > 0`` the
reference is then the SFT adapter itself (TRL copies it into a ``ref`` adapter), so KL measures drift from SFT.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from training.config import ConfigError, GRPOSettings
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
from training.sft import conversation

RewardFuncs = tuple[Sequence[Callable[..., list[float | None]]], Sequence[float]]


def _prompt_messages(row: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    return conversation({"messages": row["prompt"], "tools": row.get("tools")})


def render_step_prompts(ds: Any, tok: Any, max_prompt_tokens: int | None) -> tuple[Any, int]:
    """Each conversational ``prompt`` rendered with its own ``tools`` into the text the model continues (the
    generation prompt included). Prompts over ``max_prompt_tokens`` are left out (TRL 1.16 has no prompt truncation,
    and cutting a chat from the left loses its system prompt). Returns (dataset, number left out)."""
    if "prompt" not in ds.column_names:
        raise TrainingError(f"the step dataset needs a `prompt` column; it has {ds.column_names}")

    def render(row: dict[str, Any]) -> dict[str, Any]:
        if isinstance(row["prompt"], str) and not row["prompt"].lstrip().startswith("["):
            text = row["prompt"]  # already rendered
        else:
            msgs, tools = _prompt_messages(row)
            text = tok.apply_chat_template(msgs, tools=tools, add_generation_prompt=True, tokenize=False)
        return {"prompt": text, "prompt_tokens": len(tok(text, add_special_tokens=False)["input_ids"])}

    # the rendered text replaces the column; its features are given, or the column's Json type would be kept
    from datasets import Value

    features = ds.features.copy()
    features["prompt"] = Value("string")
    features["prompt_tokens"] = Value("int64")
    ds = ds.map(render, features=features, desc="Rendering step prompts")
    before = len(ds)
    if max_prompt_tokens is not None:
        ds = ds.filter(lambda r: r["prompt_tokens"] <= max_prompt_tokens)
    if len(ds) == 0:
        raise TrainingError(f"every step prompt is longer than max_prompt_tokens={max_prompt_tokens}; raise it "
                            "(--max-prompt-tokens) or use a model with a longer context")
    return ds, before - len(ds)


def default_rewards(settings: GRPOSettings) -> RewardFuncs:
    """The data helper's verifiable rewards, weighted by the run's configuration."""
    try:
        from training.rewards import RewardConfig, make_reward_funcs
    except ImportError as e:
        raise TrainingError(f"training.rewards is not available ({e})") from None
    # Each mode's own signal: step rows have no episode grade, and in episode mode ClusterEnv's get_reward is the
    # grade (TRL adds it as a column) while no step reference exists. Explicit settings win.
    mode_defaults = {"outcome_weight": 0.0} if settings.mode == "step" else {"step_weight": 0.0}
    try:
        config = RewardConfig(**{**mode_defaults, **settings.rewards})
    except (TypeError, ValueError) as e:
        raise ConfigError(f"invalid rewards settings {settings.rewards}: {e}") from None
    funcs, weights = make_reward_funcs(config)
    return list(funcs), list(weights)


def run_grpo(settings: GRPOSettings, *, resume: bool | str | Path | None = None, console: Console | None = None,
             rewards: RewardFuncs | None = None, environment_factory: Callable[[], Any] | None = None,
             callbacks: Sequence[Any] = ()) -> TrainResult:
    """Train (or continue) a LoRA adapter with GRPO. ``rewards`` and ``environment_factory`` replace the defaults
    (``training.rewards`` and ``training.env.ClusterEnv``); ``callbacks``: more TrainerCallbacks."""
    from trl import GRPOConfig, GRPOTrainer

    started = time.perf_counter()
    notes: list[str] = []
    apply_threads(settings)
    ckpt = checkpoint_to_resume(settings, resume)
    if ckpt:
        notes.append(f"resumed from {ckpt}")
    per_step = settings.batch_size * settings.grad_accum
    if per_step % settings.num_generations:
        raise ConfigError(f"batch_size x grad_accum ({per_step}) must be a multiple of num_generations "
                          f"({settings.num_generations}): each prompt's group of completions goes in one step")
    ds = load_dataset_dir(settings.dataset, limit=settings.limit)  # a wrong path fails before a model loads
    tok = load_tokenizer(settings.model)
    tok.padding_side = "left"  # GRPO generates from a batch of prompts: they must end together
    funcs, weights = rewards if rewards is not None else default_rewards(settings)
    extra: dict[str, Any] = {"mode": settings.mode}
    kw = settings.trainer_kwargs()
    vllm_kw, vllm_note = settings.vllm_kwargs()
    if vllm_note:
        notes.append(vllm_note)
        (console or Console(stderr=True)).print(f"[yellow]note:[/yellow] {vllm_note}")
    env = None
    if settings.mode == "step":
        ds, dropped = render_step_prompts(ds, tok, settings.max_prompt_tokens)
        if dropped:
            notes.append(f"{dropped} step prompts over {settings.max_prompt_tokens} tokens were left out")
        extra["prompts_left_out"] = dropped
    else:
        if environment_factory is None:
            try:
                from training.env import ClusterEnv
            except ImportError as e:
                raise TrainingError(f"episode mode needs training.env.ClusterEnv ({e})") from None
            environment_factory = ClusterEnv
        env = environment_factory
        kw["max_tool_calling_iterations"] = settings.max_tool_calling_iterations
    model, peft_config = load_model(settings)
    args = GRPOConfig(num_generations=settings.num_generations, max_completion_length=settings.max_completion_length,
                      temperature=settings.temperature, beta=settings.beta, loss_type=settings.loss_type,
                      scale_rewards=settings.scale_rewards, reward_weights=list(weights) or None,
                      remove_unused_columns=False, **vllm_kw, **kw)
    trainer = GRPOTrainer(model=model, reward_funcs=list(funcs), args=args, train_dataset=ds, processing_class=tok,
                          peft_config=peft_config, environment_factory=env)
    extra["reward_functions"] = list(trainer.reward_func_names)
    extra["reward_weights"] = [float(w) for w in trainer.reward_weights]
    interrupted = train(trainer, settings, ckpt, console, f"grpo ({settings.mode})", callbacks)
    if interrupted:
        notes.append("interrupted (Ctrl-C); a checkpoint was saved: rerun with --resume")
    return finish(trainer, settings, kind="grpo", examples=len(ds), started=started, interrupted=interrupted,
                  notes=notes, extra=extra)


def reward_summary(metrics: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """First, last and highest logged mean of each reward dimension (and the total): the curves, in numbers."""
    out: dict[str, dict[str, float]] = {}
    for row in metrics:
        for k, v in row.items():
            if (k == "reward" or (k.startswith("rewards/") and k.endswith("/mean"))) and isinstance(v, int | float):
                name = k.removeprefix("rewards/").removesuffix("/mean")
                d = out.setdefault(name, {"first": float(v), "max": float(v)})
                d["last"] = float(v)
                d["max"] = max(d["max"], float(v))
    return out

