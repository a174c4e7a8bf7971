"""``aoi train demo``: the whole training loop offline on CPU, in minutes.

1. the rule-based baseline runs the AOI-86 problems of the evolving families (``bench/data/family_split.yaml``)
   on the simulator: graded transcripts; the same baseline with a 6-step budget fails some, and the evolver's
   replay-verified corrections of those failures join the store;
2. ``training.data`` turns them into the SFT, step-level and episode-level datasets (no held-out family);
3. a tiny Qwen3 with a tokenizer trained on those transcripts (``training.tiny``);
4. SFT (by default on the tool call alone, ``sft_reply``), then GRPO on the step prompts continuing the SFT adapter
   (rewards from the simulator and the grader);
5. the hf policy on held-out problems (a small subset by default, ``--all`` for every one): avg@1 of the base,
   after SFT and after GRPO; and the format check (``training.format_check``): the share of greedy replies to step
   prompts that are valid decisions, per arm.

Each stage's output stays under ``--out`` and is reused on the next run unless ``--fresh``; the run card
(``run_card.md``) has the counts, sizes, steps, times, reward curves and scores.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console

from training.config import ConfigError, GRPOSettings, LoraSettings, SFTSettings
from training.tracking import git_commit, library_versions, read_metrics

STAGES = ("baseline", "evolve", "data", "model", "sft", "grpo", "eval")


class DemoSettings(BaseModel):
    """Sized for two CPU cores: a few minutes end to end."""

    model_config = ConfigDict(extra="forbid")
    out: Path = Path(".aoi/train-demo")
    seed: int = 0
    split: Path | None = None
    # 1. transcripts: the baseline on the evolving side of AOI's 86, this many runs (seeds) each; then the same
    # baseline weakened to `weak_steps` steps (it fails by running out of budget) and the evolver's replay-verified
    # corrections of its failures (0: skip that part)
    train_problems: str = "aoi86"
    train_runs: int = Field(1, ge=1)
    weak_steps: int = Field(6, ge=0)
    evolve_candidates: int = Field(3, ge=1)
    # 3. the tiny model: Qwen3, whose tokenizer loads as trained (merges across words: short prompts)
    arch: str = "qwen3"
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    vocab: int = 8192
    max_positions: int = 4096  # the hf policy budgets its prompts to this context
    # 4. training (LoRA on every linear layer: the base is random, attention alone learns little)
    lora: LoraSettings = Field(default_factory=lambda: LoraSettings(rank=32, alpha=64, dropout=0.0,
                                                                    target_modules="all-linear"))
    sft_steps: int = 150
    sft_lr: float = 2e-3
    sft_batch: int = 2
    sft_max_length: int = 4096
    sft_reply: Literal["full", "call"] = "call"  # SFTSettings.reply: learn the tool call alone (status lines optional)
    grpo_steps: int = 12
    grpo_lr: float = 2e-4
    grpo_batch: int = 4
    num_generations: int = 4
    max_completion_length: int = 96
    max_prompt_tokens: int = 3584
    beta: float = 0.04  # a KL term against the SFT adapter, so the curves show how far GRPO moved
    rewards: dict[str, Any] = Field(default_factory=dict)
    # 5. evaluation on the held-out side
    eval_limit: int | None = 6
    eval_all: bool = False
    eval_max_steps: int = 8
    eval_max_tokens: int = 128
    # the format check: greedy replies to this many step prompts (training families) judged as the Observer reads
    # them, per arm: the share that are valid decisions (0: skip)
    format_prompts: int = Field(24, ge=0)
    device: str = "cpu"
    # torch CPU threads: the tiny model's matrices gain nothing from two threads on a shared 2-core machine (an SFT
    # step took 2.8 s on one thread against 8.5 s on two at load 7); None: torch's default
    threads: int | None = 1

    @classmethod
    def load(cls, path: Path | None, overrides: dict[str, Any]) -> DemoSettings:
        data: dict[str, Any] = {}
        if path is not None:
            try:
                loaded = yaml.safe_load(Path(path).read_text()) or {}
            except (OSError, yaml.YAMLError) as e:
                raise ConfigError(f"cannot read {path}: {e}") from None
            if not isinstance(loaded, dict):
                raise ConfigError(f"{path}: expected a mapping of demo settings")
            data.update(loaded)
        data.update(overrides)
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise ConfigError(f"invalid demo settings: {e}") from None


class DemoResult(BaseModel):
    out: Path
    stages: dict[str, dict[str, Any]] = Field(default_factory=dict)
    card: Path | None = None


def stage_baseline(s: DemoSettings, console: Console) -> dict[str, Any]:
    """Graded baseline transcripts on the evolving families."""
    from bench.report import write_report
    from bench.runner import BenchConfig, PolicySpec, run_bench, select_problems
    from bench.scores import score
    from bench.split import load_split

    split = load_split(s.split)
    problems = [p for p in select_problems(s.train_problems) if split.may_learn_from(p.family)]
    if not problems:
        raise ConfigError(f"no {s.train_problems} problem is on the evolving side of the split")
    cfg = BenchConfig(policy=PolicySpec(name="baseline"), problems=problems, runs=s.train_runs, seed=s.seed,
                      transcripts=s.out / "transcripts.db")
    console.print(f"[bold]1/6 transcripts[/bold]: the baseline on {len(problems)} evolving-family problems "
                  f"x {s.train_runs} run(s)")
    outcome = run_bench(cfg)
    sc = score(outcome.rows)
    write_report(s.out / "baseline", outcome, sc, command=None)
    return {"problems": len(problems), "episodes": len(outcome.rows), "solved": sum(r.success for r in outcome.rows),
            "avg_at_1": sc.overall.avg_at_1, "wall_s": outcome.wall_s,
            "families": sorted({p.family for p in problems})}


def stage_evolve(s: DemoSettings, console: Console) -> dict[str, Any]:
    """The weakened baseline's failures, corrected by the evolver (replay-verified) into the same store."""
    if not s.weak_steps:
        return {"skipped": True}
    if importlib.util.find_spec("evolver") is None:
        console.print("[yellow]no evolver package: the data are the baseline's transcripts only[/yellow]")
        return {"skipped": True, "reason": "no evolver package"}
    from bench.runner import BenchConfig, PolicySpec, run_bench, select_problems
    from bench.split import load_split
    from evolver.engine import EvolveSettings, evolve
    from transcripts import TranscriptStore

    split = load_split(s.split)
    problems = [p for p in select_problems(s.train_problems) if split.may_learn_from(p.family)]
    console.print(f"[bold]1b/6 corrections[/bold]: the baseline with {s.weak_steps} steps on the same problems, "
                  "then `aoi evolve` on its failures")
    weak = run_bench(BenchConfig(policy=PolicySpec(name="baseline"), problems=problems, runs=s.train_runs,
                                 seed=s.seed, max_steps=s.weak_steps, transcripts=s.out / "transcripts.db"))
    with TranscriptStore(s.out / "transcripts.db") as store:
        report = evolve(store, EvolveSettings(generator="search", candidates=s.evolve_candidates, seed=s.seed))
    return {"weak_steps": s.weak_steps, "weak_episodes": len(weak.rows),
            "weak_solved": sum(r.success for r in weak.rows), "failed": len(report.results),
            "corrected": sum(r.corrected for r in report.results), "evolve_wall_s": round(report.wall_s, 1)}


def stage_data(s: DemoSettings, console: Console) -> dict[str, Any]:
    from training.data import build_datasets

    console.print("[bold]2/6 datasets[/bold]: SFT conversations, step prompts, episode prompts")
    card = build_datasets(s.out / "transcripts.db", s.out / "data", split=s.split, balance=True, seed=s.seed)
    return card.model_dump(mode="json") if hasattr(card, "model_dump") else dict(card)


def stage_model(s: DemoSettings, console: Console) -> dict[str, Any]:
    from training.tiny import build_tiny, dataset_corpus

    console.print(f"[bold]3/6 tiny model[/bold]: {s.arch}, hidden {s.hidden}, {s.layers} layers, tokenizer "
                  "trained on the training conversations")
    path = build_tiny(s.out / "model", dataset_corpus(s.out / "data" / "sft"), arch=s.arch, hidden=s.hidden,
                      layers=s.layers, heads=s.heads, kv_heads=s.kv_heads, vocab=s.vocab,
                      max_positions=s.max_positions, seed=s.seed)
    return json.loads((path / "tiny.json").read_text())


def _train_summary(result: Any) -> dict[str, Any]:
    from training.grpo import reward_summary

    rows = read_metrics(result.metrics)
    losses = [r["loss"] for r in rows if isinstance(r.get("loss"), int | float)]
    return {"steps": result.steps, "examples": result.examples, "wall_s": result.wall_s,
            "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
            "rewards": reward_summary(rows), "final": result.final, "adapter": str(result.adapter),
            "curves": str(result.curves) if result.curves else None, "notes": result.notes}


def stage_sft(s: DemoSettings, console: Console) -> dict[str, Any]:
    from training.sft import run_sft

    console.print(f"[bold]4/6 SFT[/bold]: {s.sft_steps} steps")
    settings = SFTSettings(model=str(s.out / "model"), dataset=s.out / "data" / "sft", output_dir=s.out / "sft",
                           seed=s.seed, device=s.device, learning_rate=s.sft_lr, max_steps=s.sft_steps,
                           batch_size=s.sft_batch, max_length=s.sft_max_length, save_steps=max(10, s.sft_steps // 2),
                           lora=s.lora, threads=s.threads, reply=s.sft_reply)
    return _train_summary(run_sft(settings, console=console))


def stage_grpo(s: DemoSettings, console: Console) -> dict[str, Any]:
    from training.grpo import run_grpo

    console.print(f"[bold]5/6 GRPO[/bold]: {s.grpo_steps} steps on step prompts, continuing the SFT adapter")
    settings = GRPOSettings(model=str(s.out / "model"), dataset=s.out / "data" / "steps", output_dir=s.out / "grpo",
                            seed=s.seed, device=s.device, learning_rate=s.grpo_lr, max_steps=s.grpo_steps,
                            batch_size=s.grpo_batch, num_generations=s.num_generations,
                            max_completion_length=s.max_completion_length, max_prompt_tokens=s.max_prompt_tokens,
                            beta=s.beta, rewards=s.rewards, init_adapter=s.out / "sft" / "adapter",
                            save_steps=max(5, s.grpo_steps // 2), lora=s.lora, threads=s.threads)
    return _train_summary(run_grpo(settings, console=console))


def stage_eval(s: DemoSettings, console: Console) -> dict[str, Any]:
    from training.evaluate import eval_problems, evaluate, print_comparison

    problems = eval_problems("aoi86", "held_out", s.split, None if s.eval_all else s.eval_limit)
    console.print(f"[bold]6/6 evaluation[/bold]: base, SFT and GRPO on {len(problems)} held-out problems "
                  f"(max {s.eval_max_steps} steps)")
    comp = evaluate(str(s.out / "model"), {"base": None, "sft": s.out / "sft" / "adapter",
                                           "grpo": s.out / "grpo" / "adapter"},
                    problems, seed=s.seed, max_steps=s.eval_max_steps, out=s.out / "eval", device=s.device,
                    max_tokens=s.eval_max_tokens)
    print_comparison(console, comp)
    summary = comp.model_dump(mode="json")
    if s.format_prompts:
        from training.format_check import format_check

        arms = {"base": None, "sft": s.out / "sft" / "adapter", "grpo": s.out / "grpo" / "adapter"}
        console.print(f"format check: greedy replies to {s.format_prompts} step prompts per arm")
        summary["format"] = {label: format_check(str(s.out / "model"), adapter, s.out / "data" / "steps",
                                                 n=s.format_prompts, max_tokens=s.eval_max_tokens, device=s.device,
                                                 seed=s.seed).model_dump(mode="json")
                             for label, adapter in arms.items()}
        for label, f in summary["format"].items():
            console.print(f"  {label}: {f['valid']}/{f['prompts']} valid decisions ({f['readable']} readable but "
                          f"invalid); tools {f['tools']}")
    return summary


RUNNERS = {"baseline": stage_baseline, "evolve": stage_evolve, "data": stage_data, "model": stage_model,
           "sft": stage_sft, "grpo": stage_grpo, "eval": stage_eval}


def run_demo(s: DemoSettings, *, console: Console | None = None, fresh: bool = False,
             command: str | None = None) -> DemoResult:
    """Run (or continue) the demo; every stage's summary goes to ``OUT/stages/<stage>.json`` as it finishes."""
    console = console or Console()
    out = s.out
    if s.threads:
        import torch

        torch.set_num_threads(s.threads)
    if fresh:
        for name in [*STAGES, "stages", "transcripts.db", "transcripts.db-wal", "transcripts.db-shm", "model"]:
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    (out / "stages").mkdir(parents=True, exist_ok=True)
    (out / "demo_settings.json").write_text(s.model_dump_json(indent=2) + "\n")
    result = DemoResult(out=out)
    rerun = False  # once a stage runs, every later one runs too: its inputs changed
    for stage in STAGES:
        marker = out / "stages" / f"{stage}.json"
        if marker.exists() and not rerun:
            result.stages[stage] = json.loads(marker.read_text())
            console.print(f"[dim]{stage}: done before ({marker}); --fresh redoes it[/dim]")
            continue
        rerun = True
        t0 = time.perf_counter()
        summary = RUNNERS[stage](s, console)
        summary["stage_wall_s"] = round(time.perf_counter() - t0, 1)
        marker.write_text(json.dumps(summary, indent=2, default=str) + "\n")
        result.stages[stage] = summary
    result.card = write_demo_card(s, result, command)
    console.print(f"run card: {result.card}")
    return result


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def write_demo_card(s: DemoSettings, result: DemoResult, command: str | None) -> Path:
    st = result.stages
    notes = []
    if st.get("evolve", {}).get("skipped"):
        notes.append("no evolver corrections: the data are the baseline's transcripts only")
    card = {"command": command, "git_commit": git_commit(), "libraries": library_versions(),
            "settings": json.loads(s.model_dump_json()), "stages": st, "notes": notes}
    (s.out / "run_card.json").write_text(json.dumps(card, indent=2, default=str) + "\n")
    m = st.get("model", {})
    lines = ["# aoi train demo: run card", "", f"- command: `{command or 'aoi train demo'}`",
             f"- code: git commit `{card['git_commit']}`", *[f"- note: {n}" for n in notes], "",
             "## Stages", "", "| stage | wall s | what |", "|---|---:|---|"]
    b = st.get("baseline", {})
    lines.append(f"| transcripts | {b.get('stage_wall_s')} | baseline on {b.get('problems')} evolving-family problems:"
                 f" {b.get('solved')}/{b.get('episodes')} solved |")
    e = st.get("evolve", {})
    if not e.get("skipped"):
        lines.append(f"| corrections | {e.get('stage_wall_s')} | baseline at {e.get('weak_steps')} steps: "
                     f"{e.get('weak_solved')}/{e.get('weak_episodes')} solved; `aoi evolve` corrected "
                     f"{e.get('corrected')} of {e.get('failed')} failures |")
    d = st.get("data", {})
    counts = ", ".join(f"{k} {(d.get(k) or {}).get('rows')} rows ({(d.get(k) or {}).get('by_task')})"
                       for k in ("sft", "steps", "episodes"))
    seen = {f for k in ("sft", "steps", "episodes") for f in ((d.get(k) or {}).get("by_family") or {})}
    leaked = sorted(seen & set(d.get("held_out") or []))
    lines.append(f"| data | {d.get('stage_wall_s')} | {counts}; held-out families in the data: "
                 f"{', '.join(leaked) or 'none'} (split {d.get('split_name')}) |")
    lines.append(f"| model | {m.get('stage_wall_s')} | {m.get('arch')} {m.get('parameters')} parameters, "
                 f"vocab {m.get('vocab')}, hidden {m.get('hidden')}, {m.get('layers')} layers |")
    for name in ("sft", "grpo"):
        t = st.get(name, {})
        rewards = "; ".join(f"{k} {v['first']:.3f}->{v.get('last', v['first']):.3f} (max {v.get('max', 0):.3f})"
                            for k, v in (t.get("rewards") or {}).items())
        loss = (f"loss {t['loss_first']:.3f}->{t['loss_last']:.3f}" if t.get("loss_first") is not None
                and t.get("loss_last") is not None else "")
        lines.append(f"| {name} | {t.get('stage_wall_s')} | {t.get('steps')} steps on {t.get('examples')} examples; "
                     f"{loss} {rewards} |")
    ev = st.get("eval", {})
    lines.append(f"| eval | {ev.get('stage_wall_s') if ev else None} | {len(ev.get('problems', []))} held-out "
                 f"problems, max {ev.get('max_steps')} steps |")
    if ev:
        lines += ["", "## Held-out avg@1", "", "| policy | avg@1 | errors | mean steps |", "|---|---:|---:|---:|"]
        for a in ev.get("arms", []):
            lines.append(f"| {a['label']} | {_pct(a.get('avg_at_1'))} | {a.get('failed')} | {a.get('mean_steps')} |")
        lines += ["", "Problems: " + ", ".join(ev.get("problems", []))]
    if ev.get("format"):
        lines += ["", "## Format check (greedy replies to step prompts of the training families)", "",
                  "| policy | valid decisions | readable, invalid | tools called |", "|---|---:|---:|---|"]
        for label, f in ev["format"].items():
            lines.append(f"| {label} | {f['valid']}/{f['prompts']} | {f['readable']} | "
                         f"{', '.join(f'{k} {v}' for k, v in f['tools'].items()) or '-'} |")
    lines += ["", "## Curves", "", "![sft](sft/curves.png)", "", "![grpo](grpo/curves.png)", ""]
    (s.out / "run_card.md").write_text("\n".join(lines))
    return s.out / "run_card.md"

