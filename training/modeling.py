"""What SFT and GRPO share: loading the model, tokenizer and dataset; the LoRA setup (a fresh adapter, or one to
continue); running the trainer with Ctrl-C and resume handled; and finishing a run (adapter, curves, run card)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from rich.console import Console

from training.config import RunSettings
from training.tracking import CURVES_FILE, data_card, install_callbacks, plot_curves, read_metrics, write_run_card

ADAPTER_DIR = "adapter"


class TrainingError(RuntimeError):
    """A run that cannot start or finish; the message says what to fix."""


class TrainResult(BaseModel):
    kind: str
    output_dir: Path
    adapter: Path | None = None
    metrics: Path
    curves: Path | None = None
    run_card: Path | None = None
    steps: int = 0
    examples: int = 0
    wall_s: float = 0.0
    interrupted: bool = False
    final: dict[str, float] = Field(default_factory=dict)  # the last logged value of each metric
    notes: list[str] = Field(default_factory=list)


def offline_if_local(model: str) -> None:
    """A local directory must never trigger hub lookups (tests and CPU runs are offline)."""
    if Path(model).expanduser().exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def looks_local(model: str) -> bool:
    """A path, not a hub id: absolute, relative with ./ or ../, or under ~."""
    return model.startswith(("/", "./", "../", "~"))


def load_tokenizer(model: str) -> Any:
    from transformers import AutoTokenizer

    if looks_local(model) and not Path(model).expanduser().is_dir():
        raise TrainingError(f"no model directory at {model}: give a local model directory (for example one built "
                            "by `aoi train tiny`) or a hub id such as Qwen/Qwen2.5-0.5B-Instruct")
    offline_if_local(model)
    try:
        tok = AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError) as e:
        raise TrainingError(f"cannot load the tokenizer of {model!r}: {e}") from None
    if tok.pad_token is None:  # TRL needs a pad token; eos is the usual stand-in
        tok.pad_token = tok.eos_token
    if not getattr(tok, "chat_template", None):
        raise TrainingError(f"{model!r} has no chat template; the Observer's data is conversational. Use an "
                            "instruct model, or build a tiny one with `aoi train demo`/training.tiny.build_tiny")
    return tok


def load_model(settings: RunSettings) -> tuple[Any, Any]:
    """(model, peft_config): the base model, wrapped in the adapter to continue when ``init_adapter`` is set (then
    peft_config is None: the trainer trains that adapter), else a fresh LoRA config for the trainer to apply."""
    import torch
    from transformers import AutoModelForCausalLM

    offline_if_local(settings.model)
    dtype = torch.bfloat16 if settings.use_bf16() else torch.float32
    try:
        model = AutoModelForCausalLM.from_pretrained(settings.model, dtype=dtype)
    except (OSError, ValueError) as e:
        raise TrainingError(f"cannot load the model {settings.model!r}: {e}") from None
    if settings.init_adapter is None:
        return model, settings.lora.to_peft()
    from peft import PeftModel

    if not (Path(settings.init_adapter) / "adapter_config.json").exists():
        raise TrainingError(f"--init-adapter {settings.init_adapter}: no adapter_config.json there (expected the "
                            "`adapter/` directory of an earlier `aoi train sft` run)")
    return PeftModel.from_pretrained(model, str(settings.init_adapter), is_trainable=True), None


def load_dataset_dir(path: Path, *, split: str = "train", limit: int | None = None) -> Any:
    """A dataset written by ``aoi train data`` (``save_to_disk`` directory, a DatasetDict's ``split``), or a
    JSON/JSONL file or a directory holding one."""
    import datasets

    path = Path(path)
    if not path.exists():
        raise TrainingError(f"dataset {path} does not exist; build it with `aoi train data --transcripts DB --out DIR`")
    ds: Any
    if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()
                          or (path / "state.json").exists()):
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise TrainingError(f"dataset {path} has splits {list(ds)}, not {split!r}")
            ds = ds[split]
    else:
        files = [path] if path.is_file() else sorted([*path.glob("*.jsonl"), *path.glob("*.json")])
        files = [f for f in files if f.name not in ("card.json", "dataset_info.json", "state.json")]
        if not files:
            raise TrainingError(f"no dataset in {path}: expected a `save_to_disk` directory or .jsonl files")
        ds = datasets.load_dataset("json", data_files=[str(f) for f in files], split="train")
    if len(ds) == 0:
        raise TrainingError(f"dataset {path} is empty: the transcripts gave no usable examples")
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    return ds


def checkpoint_to_resume(settings: RunSettings, resume: bool | str | Path | None) -> str | None:
    """The checkpoint ``--resume`` means: the latest one under the run's checkpoints, or the given directory."""
    if not resume:
        return None
    if isinstance(resume, str | Path) and not isinstance(resume, bool):
        p = Path(resume)
        if not (p / "trainer_state.json").exists():
            raise TrainingError(f"--resume {p}: not a checkpoint (no trainer_state.json)")
        return str(p)
    from transformers.trainer_utils import get_last_checkpoint

    ckpts = settings.output_dir / "checkpoints"
    last = get_last_checkpoint(str(ckpts)) if ckpts.is_dir() else None
    if last is None:
        raise TrainingError(f"--resume: no checkpoint under {ckpts}; run without --resume to start fresh")
    return last


def apply_threads(settings: RunSettings) -> None:
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)


def train(trainer: Any, settings: RunSettings, resume: str | None, console: Console | None, label: str,
          callbacks: Sequence[Any] = ()) -> bool:
    """Run the trainer with our progress and metrics (and ``callbacks``). Returns True if Ctrl-C stopped it; then a
    checkpoint of the state reached is saved first, so ``--resume`` continues from there."""
    install_callbacks(trainer, settings.output_dir, console, label, callbacks)
    try:
        trainer.train(resume_from_checkpoint=resume)
    except KeyboardInterrupt:
        try:
            trainer._save_checkpoint(trainer.model, trial=None)  # model, optimizer, scheduler, RNG, trainer state
        except Exception as e:  # the interrupt itself matters more than a failed save
            (console or Console(stderr=True)).print(f"[yellow]could not save a checkpoint: {e}[/yellow]")
        return True
    return False


def finish(trainer: Any, settings: RunSettings, *, kind: str, examples: int, started: float, interrupted: bool,
           notes: list[str], extra: dict[str, Any] | None = None) -> TrainResult:
    """Save the adapter (and the tokenizer next to it), plot the curves, write the run card."""
    out = settings.output_dir
    adapter = out / ADAPTER_DIR
    model = trainer.model
    kw: dict[str, Any] = {}
    if getattr(model, "peft_config", None) and len(model.peft_config) > 1:  # GRPO's frozen "ref" copy stays out
        kw["selected_adapters"] = [model.active_adapter]
    model.save_pretrained(str(adapter), **kw)  # PEFT: adapter_config.json + adapter_model.safetensors
    tok = getattr(trainer, "processing_class", None)
    if tok is not None:
        tok.save_pretrained(str(adapter))
    _fix_base_path(adapter, settings.model)
    metrics = out / "metrics.jsonl"
    rows = read_metrics(metrics)
    curves = plot_curves(rows, out / CURVES_FILE, title=f"{kind} on {Path(settings.model).name}")
    final: dict[str, float] = {}
    for r in rows:
        for k, v in r.items():
            if isinstance(v, int | float) and not isinstance(v, bool) and k not in ("epoch",):
                final[k] = float(v)
    result = TrainResult(kind=kind, output_dir=out, adapter=adapter, metrics=metrics, curves=curves,
                         steps=int(trainer.state.global_step), examples=examples,
                         wall_s=round(time.perf_counter() - started, 2), interrupted=interrupted, final=final,
                         notes=notes)
    card_results = {"adapter": str(adapter), "steps": result.steps, "examples": examples, "wall_s": result.wall_s,
                    "interrupted": interrupted, "final_metrics": final, **(extra or {})}
    result.run_card = write_run_card(out, kind=kind, config=settings, results=card_results,
                                     data=data_card(Path(settings.dataset)), notes=notes)
    return result


def _fix_base_path(adapter: Path, model: str) -> None:
    """The adapter names its base as given (a local path stays absolute), so vLLM and the hf policy find it."""
    cfg_path = adapter / "adapter_config.json"
    if not cfg_path.exists():
        return
    cfg = json.loads(cfg_path.read_text())
    local = Path(model).expanduser()
    cfg["base_model_name_or_path"] = str(local.resolve()) if local.exists() else model
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def lora_b_norms(model_or_adapter: Any) -> dict[str, float]:
    """The norm of every LoRA B matrix (zero at init): how far an adapter has moved. Takes a PeftModel or an
    adapter directory."""
    import torch

    if isinstance(model_or_adapter, str | Path):
        from safetensors.torch import load_file

        tensors = load_file(str(Path(model_or_adapter) / "adapter_model.safetensors"))
    else:
        tensors = {k: v for k, v in model_or_adapter.state_dict().items()}
    return {k: float(torch.linalg.vector_norm(v.float())) for k, v in tensors.items() if "lora_B" in k}

