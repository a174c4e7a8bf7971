"""The dataset card ``aoi train data`` writes next to the datasets (``card.json`` and ``card.md``): what went in
(rows and episodes by task type, fault family and source), the family split it honoured, and what was left out
and why, so a training run's results can be traced back to its data."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, Field


class DatasetCounts(BaseModel):
    rows: int = 0
    episodes: int = 0  # distinct source episodes (episode-level prompts: distinct problems and seeds)
    by_task: dict[str, int] = Field(default_factory=dict)
    by_family: dict[str, int] = Field(default_factory=dict)
    by_source: dict[str, int] = Field(default_factory=dict)
    approx_tokens: dict[str, int] = Field(default_factory=dict)  # max / mean of a row with its tool schemas

    @classmethod
    def of(cls, rows: list[dict[str, Any]], *, key: str = "episode_id", tokens: list[int] | None = None
           ) -> DatasetCounts:
        def count(col: str) -> dict[str, int]:
            return dict(sorted(Counter(str(r.get(col)) for r in rows if r.get(col) is not None).items()))

        out = cls(rows=len(rows), episodes=len({r[key] for r in rows if r.get(key) is not None}),
                  by_task=count("task"), by_family=count("family"), by_source=count("source"))
        if tokens:
            out.approx_tokens = {"max": max(tokens), "mean": round(sum(tokens) / len(tokens))}
        return out


class DataCard(BaseModel):
    store: str
    split_name: str
    split_file: str
    evolving: list[str]
    held_out: list[str]
    seed: int
    balance: bool
    sft_format: str
    sft: DatasetCounts
    steps: DatasetCounts
    episodes: DatasetCounts
    steps_before_balance: dict[str, int] = Field(default_factory=dict)  # unique step prompts per task type
    excluded: dict[str, int] = Field(default_factory=dict)  # reason -> episodes
    excluded_examples: dict[str, list[str]] = Field(default_factory=dict)  # reason -> a few episode ids
    notes: list[str] = Field(default_factory=list)

    def markdown(self) -> str:
        lines = ["# AOI training data", "",
                 f"- transcripts: `{self.store}`",
                 f"- family split: **{self.split_name}** (`{self.split_file}`): learn from {len(self.evolving)} "
                 f"evolving families; {len(self.held_out)} held out (none of them is in these datasets)",
                 f"- SFT format: {self.sft_format}; step prompts balanced across task types: "
                 f"{'yes' if self.balance else 'no'}; seed {self.seed}", ""]
        lines += ["| dataset | rows | episodes | by task type | by source |", "|---|---|---|---|---|"]
        for name, c in (("sft", self.sft), ("steps", self.steps), ("episodes", self.episodes)):
            lines.append(f"| {name} | {c.rows} | {c.episodes} | {_fmt(c.by_task)} | {_fmt(c.by_source)} |")
        lines += ["", "## By fault family (rows)", "", "| family | sft | steps | episodes |", "|---|---|---|---|"]
        families = sorted(set(self.sft.by_family) | set(self.steps.by_family) | set(self.episodes.by_family))
        for f in families:
            lines.append(f"| {f} | {self.sft.by_family.get(f, 0)} | {self.steps.by_family.get(f, 0)} | "
                         f"{self.episodes.by_family.get(f, 0)} |")
        if self.steps_before_balance:
            lines += ["", f"Unique step prompts per task type before balancing: {_fmt(self.steps_before_balance)}."]
        tok = {n: c.approx_tokens for n, c in (("sft", self.sft), ("steps", self.steps)) if c.approx_tokens}
        if tok:
            lines += ["", "Approximate tokens per row with its tool schemas (3 characters a token): "
                      + "; ".join(f"{n} max {t['max']}, mean {t['mean']}" for n, t in tok.items()) + "."]
        lines += ["", "## Excluded episodes", ""]
        if not self.excluded:
            lines.append("None.")
        for reason, n in sorted(self.excluded.items(), key=lambda kv: -kv[1]):
            ex = ", ".join(f"`{e[:8]}`" for e in self.excluded_examples.get(reason, []))
            lines.append(f"- {reason}: {n}" + (f" (e.g. {ex})" if ex else ""))
        if self.notes:
            lines += ["", "## Notes", "", *(f"- {n}" for n in self.notes)]
        return "\n".join(lines) + "\n"


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"
