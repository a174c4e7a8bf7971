"""What a training run leaves behind besides the adapter: metrics as JSONL (every ``on_log`` of the trainer), PNG
curves of them (matplotlib, Agg), a rich progress display, and a run card (data card, config, code version,
library versions, results) as JSON and Markdown.

The callbacks are plain ``transformers.TrainerCallback`` subclasses built on demand, so this module imports without
the ``train`` extra.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console

METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"
# The curves worth a panel, in order: losses, KL, rewards (total, then each dimension), lengths, tool use.
CURVE_KEYS = ("loss", "kl", "reward", "completions/mean_length", "mean_token_accuracy", "entropy",
              "tools/call_frequency", "grad_norm")
LIBRARIES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "vllm")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a kill: the rest is still good
                continue
    return rows


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(float(v)) else None


def metrics_callback(path: Path) -> Any:
    """A TrainerCallback appending every log (step, time, loss, rewards, KL, lengths...) to ``path`` as JSONL. On a
    resumed run the lines after the checkpoint's step are dropped first, so the file stays one consistent history."""
    from transformers import TrainerCallback

    class MetricsJSONL(TrainerCallback):
        def __init__(self) -> None:
            self.path = path
            self.t0 = time.time()

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.t0 = time.time()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # a resumed run: keep the history up to the checkpoint, without the earlier run's closing summary
            keep = [r for r in read_metrics(self.path)
                    if int(r.get("step", 0)) <= state.global_step and "train_runtime" not in r]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in keep))

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kw: Any) -> None:
            if not logs:
                return
            row = {"step": state.global_step, "epoch": state.epoch, "elapsed_s": round(time.time() - self.t0, 3)}
            row.update({k: v for k, v in logs.items() if _num(v) is not None or isinstance(v, str)})
            with self.path.open("a") as f:
                f.write(json.dumps(row) + "\n")

    return MetricsJSONL()


def progress_callback(console: Console | None = None, label: str = "train") -> Any:
    """A rich progress bar over optimizer steps, showing the latest loss and reward."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from transformers import TrainerCallback

    class RichProgress(TrainerCallback):
        def __init__(self) -> None:
            self.progress: Progress | None = None
            self.task: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
                                     console=console or Console(stderr=True), transient=False)
            self.progress.start()
            self.task = self.progress.add_task(label, total=state.max_steps, completed=state.global_step, info="")

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.progress is not None:
                self.progress.update(self.task, completed=state.global_step)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kw: Any) -> None:
            if self.progress is None or not logs:
                return
            parts = [f"{k} {logs[k]:.4g}" for k in ("loss", "reward", "kl") if _num(logs.get(k)) is not None]
            self.progress.update(self.task, info="  ".join(parts))

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.progress is not None:
                self.progress.update(self.task, completed=state.global_step)
                self.progress.stop()
                self.progress = None

    return RichProgress()


def install_callbacks(trainer: Any, out_dir: Path, console: Console | None, label: str,
                      extra: Iterable[Any] = ()) -> Path:
    """Replace the trainer's printer/tqdm callbacks with ours; returns the metrics file."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)
    path = out_dir / METRICS_FILE
    trainer.add_callback(metrics_callback(path))
    trainer.add_callback(progress_callback(console, label))
    for cb in extra:
        trainer.add_callback(cb)
    return path


def curve_series(rows: list[dict[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    """Every numeric training metric by step (the final summary line, with ``train_`` keys, is left out)."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    for r in rows:
        if "train_runtime" in r:
            continue
        for k, v in r.items():
            if k in ("step", "epoch", "elapsed_s"):
                continue
            x = _num(v)
            if x is None:
                continue
            xs, ys = series.setdefault(k, ([], []))
            xs.append(int(r.get("step", 0)))
            ys.append(x)
    return series


def plot_curves(metrics: Path | list[dict[str, Any]], out: Path, title: str = "") -> Path | None:
    """One PNG with a panel per curve: loss, KL, total reward and each reward dimension (rewards/*/mean),
    completion length, tool-call frequency. None when there is nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(metrics) if isinstance(metrics, Path) else metrics
    series = curve_series(rows)
    rewards = sorted(k for k in series if k.startswith("rewards/") and k.endswith("/mean"))
    keys = [k for k in CURVE_KEYS if k in series and k != "reward"]
    panels: list[tuple[str, list[str]]] = [(k, [k]) for k in keys[:1]]
    if "kl" in series:
        panels.append(("kl", ["kl"]))
    if "reward" in series or rewards:
        panels.append(("reward (total)", ["reward"] if "reward" in series else []))
        panels.append(("reward dimensions (mean)", rewards))
    panels += [(k, [k]) for k in keys[1:] if k != "kl"]
    panels = [(t, ks) for t, ks in panels if ks]
    if not panels:
        return None
    cols = min(3, len(panels))
    nrows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 2.8 * nrows), squeeze=False)
    for ax, (name, ks) in zip(axes.flat, panels, strict=False):
        for k in ks:
            xs, ys = series[k]
            label = k.removeprefix("rewards/").removesuffix("/mean")
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        if len(ks) > 1 or name.startswith("reward dim"):
            ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def git_commit(start: Path | None = None) -> str | None:
    """The checked-out commit, read from ``.git`` (no git process, nothing changed)."""
    here = (start or Path(__file__)).resolve()
    for d in [here, *here.parents]:
        git = d / ".git"
        if git.is_file():  # a worktree: "gitdir: PATH"
            text = git.read_text().strip()
            if text.startswith("gitdir:"):
                git = (d / text.split(":", 1)[1].strip()).resolve()
        if not git.is_dir():
            continue
        try:
            head = (git / "HEAD").read_text().strip()
        except OSError:
            return None
        if not head.startswith("ref:"):
            return head
        ref = head.split(":", 1)[1].strip()
        common = git
        if (git / "commondir").exists():
            common = (git / (git / "commondir").read_text().strip()).resolve()
        for base in (git, common):
            if (base / ref).exists():
                return (base / ref).read_text().strip()
        packed = common / "packed-refs"
        if packed.exists():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0]
        return None
    return None


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def data_card(dataset: Path) -> dict[str, Any] | None:
    """The dataset card ``aoi train data`` wrote next to the dataset (``card.json`` in it or its parent)."""
    for d in (dataset, dataset.parent):
        f = d / "card.json"
        if f.is_file():
            try:
                loaded = json.loads(f.read_text())
            except (OSError, json.JSONDecodeError):
                return None
            return loaded if isinstance(loaded, dict) else {"card": loaded}
    return None


def _jsonable(v: Any) -> Any:
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if hasattr(v, "model_dump"):
        return _jsonable(v.model_dump())
    return v


def write_run_card(out_dir: Path, *, kind: str, config: Any, results: dict[str, Any],
                   data: dict[str, Any] | None = None, notes: Iterable[str] = ()) -> Path:
    """``run_card.json`` and ``run_card.md`` in ``out_dir``: what was trained, on what, with which code."""
    card = {"kind": kind, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git_commit": git_commit(),
            "libraries": library_versions(), "config": _jsonable(config), "data": _jsonable(data),
            "results": _jsonable(results), "notes": list(notes)}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "run_card.json").write_text(json.dumps(card, indent=2, default=str) + "\n")
    lines = [f"# Run card: {kind}", "", f"- created: {card['created']}", f"- code: git commit `{card['git_commit']}`",
             "- libraries: " + ", ".join(f"{k} {v}" for k, v in card["libraries"].items() if v), ""]
    if card["notes"]:
        lines += ["## Notes", "", *[f"- {n}" for n in card["notes"]], ""]
    lines += ["## Results", "", "```json", json.dumps(card["results"], indent=2, default=str), "```", "",
              "## Configuration", "", "```json", json.dumps(card["config"], indent=2, default=str), "```", ""]
    if data:
        lines += ["## Data", "", "```json", json.dumps(card["data"], indent=2, default=str)[:20000], "```", ""]
    if (out_dir / CURVES_FILE).exists():
        lines += ["## Curves", "", f"![curves]({CURVES_FILE})", ""]
    (out_dir / "run_card.md").write_text("\n".join(lines))
    return out_dir / "run_card.json"
