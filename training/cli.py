"""``aoi train``: data, tiny, sft, grpo, eval and demo. Each command takes a YAML config (``--config``) and flags on
top of it; torch, transformers, trl and peft load only when a command runs."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from training.config import ConfigError, GRPOSettings, SFTSettings, load_settings

app = typer.Typer(help="Train the Observer's model from transcripts: datasets, SFT, GRPO, evaluation, demo.",
                  no_args_is_help=True)
console = Console()
err = Console(stderr=True)

TRAIN_HINT = "training needs the train extra (torch, transformers, trl, peft, datasets): run `make install-train`"


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _need_train_stack() -> None:
    try:
        import datasets  # noqa: F401
        import peft  # noqa: F401
        import torch  # noqa: F401
        import trl  # noqa: F401
    except ImportError as e:
        raise _fail(f"{TRAIN_HINT} ({e})") from None
    import datasets as ds

    ds.disable_progress_bars()  # our own progress bar is enough


def _coerce(value: str) -> Any:
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, Any]:
    """``KEY=VALUE`` options (repeatable, or comma-separated) as a dict with numbers and booleans parsed."""
    out: dict[str, Any] = {}
    for item in pairs or []:
        for part in (p.strip() for p in item.split(",") if p.strip()):
            if "=" not in part:
                raise _fail(f"{what} takes KEY=VALUE (e.g. format=1.0), not {part!r}")
            k, v = part.split("=", 1)
            out[k.strip()] = _coerce(v.strip())
    return out


def _modules(value: str | None) -> list[str] | str | None:
    if value in ("all-linear", "all"):
        return "all-linear"
    return [m.strip() for m in value.split(",") if m.strip()] if value else None


def _report(result: Any) -> None:
    from training.grpo import reward_summary
    from training.tracking import read_metrics

    style = "yellow" if result.interrupted else "green"
    console.print(f"[{style}]{result.kind}: {result.steps} steps on {result.examples} examples in "
                  f"{result.wall_s:.1f} s{' (interrupted)' if result.interrupted else ''}[/{style}]")
    f = result.final
    shown = {k: f[k] for k in ("train_loss", "loss", "reward", "kl", "completions/mean_length") if k in f}
    if shown:
        console.print("  " + "  ".join(f"{k} {v:.4g}" for k, v in shown.items()))
    for name, d in reward_summary(read_metrics(result.metrics)).items():
        console.print(f"  reward {name}: {d['first']:.3f} -> {d.get('last', d['first']):.3f} (max {d['max']:.3f})")
    for n in result.notes:
        console.print(f"  note: {n}", style="dim")
    console.print(f"adapter: {result.adapter}")
    console.print(f"metrics: {result.metrics}  curves: {result.curves}  run card: {result.run_card}", style="dim")
    base, adapter = shlex.quote(_base(result)), shlex.quote(str(result.adapter))
    console.print(f"  aoi train eval --model {base} --adapter {adapter}", style="dim")
    console.print(f"  AOI_ADAPTER={adapter} aoi observe --policy hf --model {base} --problem PROBLEM", style="dim")


def _base(result: Any) -> str:
    try:
        return json.loads((Path(result.adapter) / "adapter_config.json").read_text())["base_model_name_or_path"]
    except (OSError, KeyError, json.JSONDecodeError):
        return "MODEL"


def _run(fn: Any, settings: Any, resume: Any) -> None:
    from training.modeling import TrainingError

    try:
        result = fn(settings, resume=resume, console=err)
    except (TrainingError, ConfigError) as e:
        raise _fail(str(e)) from None
    _report(result)
    if result.interrupted:
        raise typer.Exit(130)


# ------------------------------------------------------------------------------------------------ data
def _register_data() -> None:
    """``aoi train data``: the data helper's command when training.data provides one, else a thin wrapper."""
    try:
        from training.data import data_command  # type: ignore[attr-defined]
    except ImportError:
        data_command = None
    if data_command is not None:
        app.command("data")(data_command)
        return

    @app.command("data")
    def data(transcripts: Path = typer.Option(..., exists=True, help="The transcript store (SQLite)."),
             out: Path = typer.Option(..., help="Where the datasets and the card go."),
             split: Path | None = typer.Option(None, exists=True, help="The family split (default: the bench's)."),
             balance: bool = typer.Option(True, help="Balance step prompts across task types."),
             seed: int = typer.Option(0)) -> None:
        """Build the SFT, step-level and episode-level datasets (and their card) from a transcript store."""
        try:
            from training.data import build_datasets
        except ImportError as e:
            raise _fail(f"training.data is not available: {e}") from None
        card = build_datasets(transcripts, out, split=split, balance=balance, seed=seed)
        console.print(card)


# ------------------------------------------------------------------------------------------------ tiny
@app.command("tiny")
def tiny(out: Path = typer.Option(..., help="Where the model and tokenizer go."),
         data: Path | None = typer.Option(None, "--data", exists=True, help="Train the tokenizer on this "
                                          "conversational dataset (`aoi train data` OUT/sft): closest to the prompts."),
         transcripts: Path | None = typer.Option(None, exists=True, help="Or on this transcript store's texts."),
         arch: str = typer.Option("qwen3", help="qwen3 (tokenizer loads as trained, merges across words) or "
                                  "qwen2 (transformers imposes Qwen2's word split)."),
         hidden: int = typer.Option(128, min=8), layers: int = typer.Option(4, min=1),
         heads: int = typer.Option(4, min=1), kv_heads: int = typer.Option(2, min=1),
         vocab: int = typer.Option(8192, min=300), max_positions: int = typer.Option(4096, min=256),
         seed: int = typer.Option(0)) -> None:
    """Build a tiny random model of a real architecture with a tokenizer trained locally (no downloads)."""
    _need_train_stack()
    from training.tiny import build_tiny, dataset_corpus, transcript_corpus

    corpus = dataset_corpus(data) if data else transcript_corpus(transcripts) if transcripts else []
    try:
        path = build_tiny(out, corpus, arch=arch, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
                          vocab=vocab, max_positions=max_positions, seed=seed)
    except ValueError as e:
        raise _fail(str(e)) from None
    console.print(f"tiny model: {path}  {(path / 'tiny.json').read_text()}")


# ------------------------------------------------------------------------------------------------ sft / grpo
COMMON_HELP = {
    "config": "A YAML file of settings (the flags below override it).",
    "resume": "Continue from the latest checkpoint under OUT/checkpoints.",
    "resume_from": "Continue from this checkpoint directory.",
}


@app.command("sft")
def sft(model: str | None = typer.Option(None, help="Base model: a hub id or a local directory."),
        data: Path | None = typer.Option(None, "--data", "--dataset", help="The SFT dataset (`aoi train data` "
                                         "OUT/sft)."),
        out: Path | None = typer.Option(None, help="Output directory (adapter/, checkpoints/, metrics, card)."),
        config: Path | None = typer.Option(None, exists=True, help=COMMON_HELP["config"]),
        steps: int | None = typer.Option(None, "--steps", min=1, help="Optimizer steps."),
        epochs: float | None = typer.Option(None, help="Train this many epochs instead of --steps."),
        lr: float | None = typer.Option(None, "--lr", help="Learning rate."),
        batch_size: int | None = typer.Option(None, min=1), grad_accum: int | None = typer.Option(None, min=1),
        max_length: int | None = typer.Option(None, min=16, help="Tokens per conversation (longer: cut)."),
        assistant_only_loss: bool | None = typer.Option(None, "--assistant-only-loss/--no-assistant-only-loss",
                                                        help="Loss on the assistant's turns only (default)."),
        reply: str | None = typer.Option(None, help="What a step row teaches: full (status lines and the call, "
                                         "default) or call (the tool call alone)."),
        lora_rank: int | None = typer.Option(None, min=1), lora_alpha: int | None = typer.Option(None, min=1),
        lora_dropout: float | None = typer.Option(None, min=0.0, max=0.99),
        target_modules: str | None = typer.Option(None, help="Comma-separated (q_proj,v_proj) or all-linear."),
        init_adapter: Path | None = typer.Option(None, exists=True, help="Continue training this adapter."),
        device: str | None = typer.Option(None, help="cpu, cuda or auto."),
        bf16: bool | None = typer.Option(None, "--bf16/--no-bf16", help="Default: on for cuda."),
        seed: int | None = typer.Option(None), save_steps: int | None = typer.Option(None, min=1),
        threads: int | None = typer.Option(None, min=1, help="torch CPU threads."),
        limit: int | None = typer.Option(None, min=1, help="Use only the first N examples."),
        resume: bool = typer.Option(False, help=COMMON_HELP["resume"]),
        resume_from: Path | None = typer.Option(None, exists=True, help=COMMON_HELP["resume_from"])) -> None:
    """Supervised fine-tuning with a LoRA adapter on the Observer's successful and corrected episodes."""
    _need_train_stack()
    from training.sft import run_sft

    try:
        settings = load_settings(SFTSettings, config, dict(
            model=model, dataset=data, output_dir=out, max_steps=steps, epochs=epochs, learning_rate=lr,
            batch_size=batch_size, grad_accum=grad_accum, max_length=max_length,
            assistant_only_loss=assistant_only_loss, reply=reply, lora_rank=lora_rank, lora_alpha=lora_alpha,
            lora_dropout=lora_dropout, lora_target_modules=_modules(target_modules), init_adapter=init_adapter,
            device=device, bf16=bf16, seed=seed, save_steps=save_steps, limit=limit, threads=threads))
    except ConfigError as e:
        raise _fail(str(e)) from None
    _run(run_sft, settings, resume_from or resume)


@app.command("grpo")
def grpo(model: str | None = typer.Option(None, help="Base model: a hub id or a local directory."),
         data: Path | None = typer.Option(None, "--data", "--dataset", help="Step prompts (`aoi train data` "
                                          "OUT/steps) or, with --mode episode, OUT/episodes."),
         out: Path | None = typer.Option(None, help="Output directory (adapter/, checkpoints/, metrics, card)."),
         config: Path | None = typer.Option(None, exists=True, help=COMMON_HELP["config"]),
         mode: str | None = typer.Option(None, help="step (one action per prompt, default) or episode "
                                         "(multi-turn rollouts in the simulator)."),
         steps: int | None = typer.Option(None, "--steps", min=1, help="Optimizer steps."),
         lr: float | None = typer.Option(None, "--lr", help="Learning rate."),
         batch_size: int | None = typer.Option(None, min=1), grad_accum: int | None = typer.Option(None, min=1),
         num_generations: int | None = typer.Option(None, min=2, help="Completions per prompt (G)."),
         max_completion_length: int | None = typer.Option(None, min=1),
         max_prompt_tokens: int | None = typer.Option(None, min=16, help="Leave out longer step prompts."),
         temperature: float | None = typer.Option(None), beta: float | None = typer.Option(None, min=0.0,
                                                                                          help="KL coefficient."),
         loss_type: str | None = typer.Option(None, help="dapo (default), grpo, dr_grpo, bnpo, ..."),
         reward: list[str] | None = typer.Option(None, "--reward", help="Reward settings KEY=VALUE (weights, "
                                                 "budgets; see training.rewards.RewardConfig); repeatable."),
         max_tool_calling_iterations: int | None = typer.Option(None, min=1, help="Episode mode: tool turns."),
         use_vllm: bool | None = typer.Option(None, "--use-vllm/--no-vllm", help="Generate with vLLM where the "
                                              "installed TRL supports the installed vLLM; else transformers."),
         vllm_mode: str | None = typer.Option(None, help="colocate or server."),
         vllm_server_base_url: str | None = typer.Option(None),
         lora_rank: int | None = typer.Option(None, min=1), lora_alpha: int | None = typer.Option(None, min=1),
         lora_dropout: float | None = typer.Option(None, min=0.0, max=0.99),
         target_modules: str | None = typer.Option(None, help="Comma-separated module names, or all-linear."),
         init_adapter: Path | None = typer.Option(None, exists=True, help="Continue this adapter (e.g. SFT's)."),
         device: str | None = typer.Option(None, help="cpu, cuda or auto."),
         bf16: bool | None = typer.Option(None, "--bf16/--no-bf16", help="Default: on for cuda."),
         seed: int | None = typer.Option(None), save_steps: int | None = typer.Option(None, min=1),
         threads: int | None = typer.Option(None, min=1, help="torch CPU threads."),
         limit: int | None = typer.Option(None, min=1, help="Use only the first N prompts."),
         resume: bool = typer.Option(False, help=COMMON_HELP["resume"]),
         resume_from: Path | None = typer.Option(None, exists=True, help=COMMON_HELP["resume_from"])) -> None:
    """GRPO with a LoRA adapter, rewarded by the simulator and the grader (format, step, cost, safety; outcome in
    episode mode)."""
    _need_train_stack()
    from training.grpo import run_grpo

    rewards = parse_pairs(reward, "--reward") or None
    if config and rewards:  # flags add to the file's reward settings instead of replacing them
        import yaml

        base = (yaml.safe_load(config.read_text()) or {}).get("rewards") or {}
        rewards = {**base, **rewards}
    try:
        settings = load_settings(GRPOSettings, config, dict(
            model=model, dataset=data, output_dir=out, mode=mode, max_steps=steps, learning_rate=lr,
            batch_size=batch_size, grad_accum=grad_accum, num_generations=num_generations,
            max_completion_length=max_completion_length, max_prompt_tokens=max_prompt_tokens,
            temperature=temperature, beta=beta, loss_type=loss_type, rewards=rewards,
            max_tool_calling_iterations=max_tool_calling_iterations, use_vllm=use_vllm, vllm_mode=vllm_mode,
            vllm_server_base_url=vllm_server_base_url, lora_rank=lora_rank, lora_alpha=lora_alpha,
            lora_dropout=lora_dropout, lora_target_modules=_modules(target_modules), init_adapter=init_adapter,
            device=device, bf16=bf16, seed=seed, save_steps=save_steps, limit=limit, threads=threads))
    except ConfigError as e:
        raise _fail(str(e)) from None
    _run(run_grpo, settings, resume_from or resume)


# ------------------------------------------------------------------------------------------------ eval
@app.command("eval")
def eval_cmd(model: str = typer.Option(..., help="The base model the adapters were trained on."),
             adapter: list[str] | None = typer.Option(None, "--adapter", help="An adapter directory, or "
                                                      "LABEL=DIR; repeatable. The base runs too."),
             problems: str | None = typer.Option(None, help="Problems (bench syntax: ids, globs, aoi86, all); "
                                                 "default: AOI's 86."),
             side: str = typer.Option("held_out", help="held_out (default), evolving or all: which side of the "
                                      "family split."),
             split: Path | None = typer.Option(None, exists=True, help="The family split file."),
             limit: int | None = typer.Option(None, min=1, help="At most N problems (spread over task types)."),
             runs: int = typer.Option(1, min=1), seed: int = typer.Option(0),
             max_steps: int = typer.Option(30, min=2, max=200),
             max_tokens: int = typer.Option(512, min=8, help="Reply budget per step."),
             device: str = typer.Option("auto", help="cpu, cuda or auto."),
             parallel: int = typer.Option(1, min=1, max=64, help="Worker processes per policy."),
             out: Path = typer.Option(Path(".aoi/train-eval"), help="Reports and comparison go here."),
             no_base: bool = typer.Option(False, "--no-base", help="Skip the base model.")) -> None:
    """Run the benchmark with the hf policy: the base model, then base + each adapter; print the comparison."""
    _need_train_stack()
    from training.evaluate import eval_problems, evaluate, print_comparison

    if side not in ("held_out", "evolving", "all"):
        raise _fail("--side is held_out, evolving or all")
    arms: dict[str, str | None] = {} if no_base else {"base": None}
    for item in adapter or []:
        label, _, path = item.rpartition("=") if "=" in item else ("", "", item)
        if not (Path(path) / "adapter_config.json").exists():
            raise _fail(f"--adapter {path}: no adapter_config.json there (the adapter/ directory of a training run)")
        arms[label or Path(path).resolve().parent.name or "adapter"] = path
    if not arms:
        raise _fail("nothing to evaluate: give --adapter or drop --no-base")
    try:
        chosen = eval_problems(problems, side, split, limit)
    except (KeyError, ValueError) as e:
        raise _fail(str(e.args[0] if e.args else e)) from None
    if not chosen:
        raise _fail(f"no problems left on the {side} side of the split; check --problems/--side")
    console.print(f"[bold]aoi train eval[/bold]: {', '.join(arms)} on {len(chosen)} problems x {runs} run(s)")
    comp = evaluate(model, arms, chosen, runs=runs, seed=seed, max_steps=max_steps, out=out, device=device,
                    max_tokens=max_tokens, parallel=parallel,
                    on_result=lambda label, row: err.print(f"  {label}: {row.problem_id} "
                                                           f"{'solved' if row.success else row.status}",
                                                           style="dim"))
    print_comparison(console, comp)
    console.print(f"comparison: {out / 'comparison.md'}  reports: {out}/<policy>/summary.md")


# ------------------------------------------------------------------------------------------------ demo
@app.command("demo")
def demo(out: Path = typer.Option(Path(".aoi/train-demo"), help="Everything goes here."),
         config: Path | None = typer.Option(None, exists=True, help="A YAML file of DemoSettings."),
         eval_all: bool = typer.Option(False, "--all", help="Evaluate on every held-out problem (default: a "
                                       "small subset)."),
         eval_limit: int | None = typer.Option(None, min=1, help="Held-out problems to evaluate on."),
         sft_steps: int | None = typer.Option(None, min=1), grpo_steps: int | None = typer.Option(None, min=1),
         fresh: bool = typer.Option(False, help="Redo every stage (default: reuse the stages already done)."),
         seed: int | None = typer.Option(None)) -> None:
    """The whole pipeline offline on CPU: baseline transcripts on the evolving families -> datasets -> tiny
    model -> SFT -> GRPO -> avg@1 of base/SFT/GRPO on held-out problems, with curves and a run card."""
    _need_train_stack()
    from training.demo import DemoSettings, run_demo

    overrides = dict(out=out, eval_limit=None if eval_all else eval_limit, eval_all=eval_all or None,
                     sft_steps=sft_steps, grpo_steps=grpo_steps, seed=seed)
    try:
        settings = DemoSettings.load(config, {k: v for k, v in overrides.items() if v is not None})
    except ConfigError as e:
        raise _fail(str(e)) from None
    from training.modeling import TrainingError

    try:
        run_demo(settings, console=console, fresh=fresh, command=shlex.join(["aoi", "train", *sys.argv[2:]]))
    except (TrainingError, ConfigError) as e:
        raise _fail(str(e)) from None


_register_data()
