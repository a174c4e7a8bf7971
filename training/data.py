"""Training datasets from a transcript store: ``aoi train data --transcripts PATH [--split FILE] --out DIR``.

Three Hugging Face datasets (``save_to_disk``) and a card:

- ``sft``: the decisions of successful episodes (benchmark runs, evolver corrections, graded imports), each row
  the messages the Observer's chat policy sent at that decision followed by the verified reply (status lines and
  one tool call), with ``tools``: the function schemas the policy passes to the chat template
  (``training.dataset_render`` says why per decision rather than whole conversations). ``sft_format="episode"``
  writes whole conversations instead, as ``aoi transcripts export`` does.
- ``steps``: the same contexts as prompts for GRPO, one per decision n of every verified episode, with the
  decision as ``reference`` and the decisions before it as ``prefix`` (what ``training.rewards.step_reward``
  replays in the simulator), balanced across task types.
- ``episodes``: one prompt per distinct problem and seed (system prompt and first step header), for multi-turn
  rollouts in ``training.env.ClusterEnv``.

Only episodes of a problem whose fault family the split lets training learn from (``FamilySplit.may_learn_from``)
reach any dataset: held-out and unknown families never do. Columns holding messages, schemas and calls use
``datasets.Json``, so differently shaped tool arguments and schemas round-trip exactly (Arrow structs would merge
them, filling every missing key with null).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import typer

from bench.problems import BenchProblem, ProblemSet
from bench.split import DEFAULT_SPLIT, FamilySplit, load_split
from observer.policy import TaskSpec
from training.dataset_card import DataCard, DatasetCounts
from training.dataset_render import (
    RenderError,
    decision_steps,
    first_prompt,
    render_episode,
    task_text,
    tool_infos,
)
from transcripts import TranscriptStore
from transcripts.export import episode_to_record
from transcripts.models import Episode, EpisodeSummary

SftFormat = Literal["step", "episode"]
SFT_ONLY_SOURCES = ("calllog",)  # external agents' sessions: no decisions to replay, so SFT only
EXAMPLES_PER_REASON = 5


class DataError(ValueError):
    """The inputs cannot make datasets (missing store, bad split file, ...); the message says what to do."""


def source_of(ep: Episode) -> str:
    """Where an episode came from: the evolver's corrections say so in their meta (``meta["source"]`` or an
    ``evolver`` lineage record) or their policy name; otherwise the store's source (observer, calllog, jsonl)."""
    meta = ep.meta or {}
    if isinstance(meta.get("source"), str) and meta["source"]:
        return meta["source"]
    if "evolver" in meta or (ep.policy or "").startswith("evolver"):
        return "evolver"
    return ep.source


def _features(kind: str) -> Any:
    from datasets import Features, Json, Value

    # A whole list as one Json value (not List(Json)): a map that renders it to text then stores the text as is.
    meta = {"episode_id": Value("string"), "problem_id": Value("string"), "task": Value("string"),
            "family": Value("string"), "source": Value("string"), "seed": Value("int64")}
    if kind == "sft":
        return Features({"messages": Json(), "tools": Json(), "step": Value("int64"), **meta})
    if kind == "steps":
        return Features({"prompt": Json(), "tools": Json(), "reference": Json(), "prefix": Json(),
                         "step": Value("int64"), **meta})
    return Features({"prompt": Json(), "tools": Json(), "problem_id": Value("string"), "seed": Value("int64"),
                     "task": Value("string"), "family": Value("string")})


def _approx_tokens(row: dict[str, Any], key: str) -> int:
    return (len(json.dumps(row[key], ensure_ascii=False)) + len(json.dumps(row["tools"], ensure_ascii=False))) // 3


def balance_rows(rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Every task type as many rows as the largest: the smaller ones repeat, each row once per round, in a
    seeded order (no row repeats before every row of its type has been used)."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_task[r["task"]].append(r)
    if len(by_task) < 2:
        return rows
    target = max(len(v) for v in by_task.values())
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for task in sorted(by_task):
        group = by_task[task]
        out += group
        order: list[dict[str, Any]] = []
        for _ in range(target - len(group)):
            if not order:
                order = group[:]
                rng.shuffle(order)
            out.append(order.pop())
    return out


class _Selection:
    """Decides, per episode, which datasets it may feed, and keeps the reasons for what it leaves out."""

    def __init__(self, split: FamilySplit, problems: ProblemSet):
        self.split = split
        self.problems = problems
        self.excluded: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = defaultdict(list)

    def exclude(self, episode_id: str, reason: str) -> None:
        self.excluded[reason] += 1
        if len(self.examples[reason]) < EXAMPLES_PER_REASON:
            self.examples[reason].append(episode_id)

    def problem(self, s: EpisodeSummary) -> BenchProblem | None:
        """The episode's problem if its family may be learnt from; otherwise None (and the reason is kept)."""
        if not s.problem_id:
            self.exclude(s.id, "no problem id, so no fault family")
            return None
        if s.problem_id not in self.problems:
            self.exclude(s.id, "unknown problem id (not in the problem set; pass its problem file)")
            return None
        p = self.problems.get(s.problem_id)
        if self.split.is_held_out(p.family):
            self.exclude(s.id, "held-out fault family")
            return None
        if not self.split.may_learn_from(p.family):
            self.exclude(s.id, "fault family not in the split")
            return None
        return p

    def verified(self, s: EpisodeSummary) -> bool:
        if s.success is None:
            self.exclude(s.id, "not graded")
            return False
        if not s.success:
            self.exclude(s.id, "graded as failed")
            return False
        if s.status != "completed":
            self.exclude(s.id, f"episode {s.status}")
            return False
        return True


def _sibling_tools(store: TranscriptStore, summaries: list[EpisodeSummary]) -> dict[str, list[dict[str, Any]]]:
    """Per task type, the tool schemas an observer episode recorded: what an imported session that recorded none
    (a probe call log) is rendered with, the probe's tools being the same for every agent."""
    out: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        if s.task and s.task not in out and s.source == "observer":
            ep = store.episode(s.id)
            if ep.tools:
                out[s.task] = ep.tools
    return out


def build_datasets(store_path: Path, out: Path, split: Path | None = None, *, balance: bool = True, seed: int = 0,
                   sft_format: SftFormat = "step", problem_files: Sequence[Path] = (),
                   progress: Callable[[int, int], None] | None = None) -> DataCard:
    """Build ``out/sft``, ``out/steps``, ``out/episodes`` and ``out/card.{json,md}`` from a transcript store (see
    the module docstring). ``split``: the family split file (default ``bench/data/family_split.yaml``);
    ``problem_files``: problem files whose ids the store's episodes use; ``progress(done, total)`` per episode.
    The datasets are written next to ``out`` first and moved in at the end, so an interrupted build leaves any
    earlier one intact."""
    from datasets import Dataset

    store_path, out = Path(store_path), Path(out)
    if not store_path.is_file():
        raise DataError(f"no transcript store at {store_path}: run `aoi bench` (or `aoi transcripts import`) first")
    if sft_format not in ("step", "episode"):
        raise DataError(f"sft_format is 'step' or 'episode', not {sft_format!r}")
    try:
        fsplit = load_split(split)
    except ValueError as e:
        raise DataError(str(e)) from None
    problems = ProblemSet.builtin()
    for f in problem_files:
        try:
            problems.load_file(Path(f))
        except ValueError as e:
            raise DataError(str(e)) from None
    sel = _Selection(fsplit, problems)
    sft: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    episodes: dict[tuple[str, int], dict[str, Any]] = {}
    notes: list[str] = []
    with TranscriptStore(store_path, create=False, recover=False) as store:
        summaries = sorted(store.episodes(limit=None), key=lambda s: (s.started_at, s.id))
        fallback_tools = _sibling_tools(store, summaries)
        for i, s in enumerate(summaries):
            if progress:
                progress(i, len(summaries))
            problem = sel.problem(s)
            if problem is None:
                continue
            ep = store.episode(s.id)
            source = source_of(ep)
            base = {"episode_id": ep.id, "problem_id": problem.id, "task": problem.task, "family": problem.family,
                    "source": source, "seed": int(ep.seed or 0)}
            schemas = ep.tools or fallback_tools.get(problem.task)
            task = TaskSpec(task=problem.task, namespace=ep.namespace or problem.namespace,
                            text=task_text(ep) or problem.task_text())
            if source not in SFT_ONLY_SOURCES:
                key = (problem.id, base["seed"])
                if key not in episodes and schemas:
                    prompt, tools = first_prompt(task, tool_infos(schemas))
                    episodes[key] = {"prompt": prompt, "tools": tools, "problem_id": problem.id,
                                     "seed": base["seed"], "task": problem.task, "family": problem.family}
            if not sel.verified(s):
                continue
            if not decision_steps(ep):
                sel.exclude(ep.id, "no tool calls")
                continue
            if not schemas:
                sel.exclude(ep.id, "no tool schemas recorded")
                continue
            try:
                rendered = render_episode(ep, task, tool_infos(schemas))
            except RenderError as e:
                sel.exclude(ep.id, "a step is not a valid decision")
                notes.append(f"{ep.id[:8]}: {e}")
                continue
            if sft_format == "episode":
                record = episode_to_record(ep, arguments_as_object=True, include_aoi=False)
                sft.append({"messages": record["messages"], "tools": rendered.tools, "step": -1, **base})
            for st in rendered.steps:
                if sft_format == "step":
                    sft.append({"messages": [*st.prompt, st.reply], "tools": rendered.tools, "step": st.step,
                                **base})
                if source not in SFT_ONLY_SOURCES:
                    prefix = [r.action for r in rendered.steps[:st.step]]
                    steps.append({"prompt": st.prompt, "tools": rendered.tools, "reference": st.reference,
                                  "prefix": prefix, "step": st.step, **base})
        if progress:
            progress(len(summaries), len(summaries))
    unique = dict(sorted(Counter(r["task"] for r in steps).items()))
    if balance:
        steps = balance_rows(steps, seed)
    ep_rows = sorted(episodes.values(), key=lambda r: (r["task"], r["problem_id"], r["seed"]))
    card = DataCard(
        store=str(store_path), split_name=fsplit.name, split_file=str(split or DEFAULT_SPLIT),
        evolving=list(fsplit.evolving), held_out=list(fsplit.held_out), seed=seed, balance=balance,
        sft_format=sft_format,
        sft=DatasetCounts.of(sft, tokens=[_approx_tokens(r, "messages") for r in sft]),
        steps=DatasetCounts.of(steps, tokens=[_approx_tokens(r, "prompt") for r in steps]),
        episodes=DatasetCounts.of([{**r, "source": None, "key": f"{r['problem_id']}#{r['seed']}"} for r in ep_rows],
                                  key="key"),
        steps_before_balance=unique if balance else {}, excluded=dict(sel.excluded),
        excluded_examples={k: v for k, v in sel.examples.items()}, notes=notes[:50])
    _write(out, {"sft": Dataset.from_list(sft, features=_features("sft")),
                 "steps": Dataset.from_list(steps, features=_features("steps")),
                 "episodes": Dataset.from_list(ep_rows, features=_features("episodes"))}, card)
    return card


def _write(out: Path, datasets: dict[str, Any], card: DataCard) -> None:
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for name, ds in datasets.items():
            ds.save_to_disk(str(staging / name))
        (staging / "card.json").write_text(card.model_dump_json(indent=2) + "\n")
        (staging / "card.md").write_text(card.markdown())
        out.mkdir(parents=True, exist_ok=True)
        for entry in sorted(staging.iterdir()):
            target = out / entry.name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            entry.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def data_command(
    transcripts: Path = typer.Option(..., "--transcripts", help="The transcript store (SQLite) to build from."),
    out: Path = typer.Option(..., "--out", help="Directory for sft/, steps/, episodes/ and card.{md,json}."),
    split: Path | None = typer.Option(None, "--split", help="Fault-family split file (default: the built-in "
                                      "bench/data/family_split.yaml, the one the evolver uses)."),
    problems: list[Path] = typer.Option([], "--problems", help="Problem files whose ids the episodes use."),
    balance: bool = typer.Option(True, "--balance/--no-balance", help="Balance step prompts across task types."),
    sft_format: str = typer.Option("step", "--sft-format",
                                   help="step: one row per decision, as the Observer's chat policy prompts; "
                                        "episode: whole conversations."),
    seed: int = typer.Option(0, "--seed", help="Seed for balancing."),
) -> None:
    """Build SFT, step-level and episode-level datasets (and a card) from transcripts; held-out families never
    reach them."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    console = Console()
    with Progress(TextColumn("reading episodes"), BarColumn(), MofNCompleteColumn(), console=console,
                  transient=True) as bar:
        job = bar.add_task("episodes", total=None)
        try:
            card = build_datasets(transcripts, out, split, balance=balance, seed=seed,
                                  sft_format=sft_format,  # type: ignore[arg-type]
                                  problem_files=problems,
                                  progress=lambda done, total: bar.update(job, completed=done, total=total))
        except DataError as e:
            console.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2) from None
    table = Table(title=f"training data in {out} (split {card.split_name})")
    for col in ("dataset", "rows", "episodes", "by task type", "by source"):
        table.add_column(col)
    for name, c in (("sft", card.sft), ("steps", card.steps), ("episodes", card.episodes)):
        table.add_row(name, str(c.rows), str(c.episodes), ", ".join(f"{k} {v}" for k, v in c.by_task.items()),
                      ", ".join(f"{k} {v}" for k, v in c.by_source.items()))
    console.print(table)
    if card.excluded:
        console.print("excluded: " + "; ".join(f"{k}: {v}" for k, v in card.excluded.items()))
    if card.sft.rows == 0:
        console.print("[yellow]no successful episode of an evolving family: the SFT dataset is empty[/yellow]")
    console.print(f"card: {out / 'card.md'}")
